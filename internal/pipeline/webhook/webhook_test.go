package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/avatar-pipeline/avatar-pipeline/internal/pipeline"
)

const testQueueURL = "https://sqs.us-east-1.amazonaws.com/123456789012/avatar-webhook"

// queue records the visibility timeouts the handler sets, by receipt handle.
type queue struct {
	mu  sync.Mutex
	got map[string]int32
	err error
}

func (q *queue) ChangeMessageVisibility(_ context.Context, in *sqs.ChangeMessageVisibilityInput, _ ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if aws.ToString(in.QueueUrl) != testQueueURL {
		return nil, errors.New("unknown queue " + aws.ToString(in.QueueUrl))
	}
	if q.got == nil {
		q.got = map[string]int32{}
	}
	q.got[aws.ToString(in.ReceiptHandle)] = in.VisibilityTimeout
	return &sqs.ChangeMessageVisibilityOutput{}, q.err
}

// secrets serves one secret string, or an error, and counts the reads.
type secrets struct {
	mu    sync.Mutex
	value string
	err   error
	reads int
}

func (s *secrets) GetSecretValue(_ context.Context, _ *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads++
	if s.err != nil {
		return nil, s.err
	}
	return &secretsmanager.GetSecretValueOutput{SecretString: aws.String(s.value)}, nil
}

// delivery is one request a receiver got.
type delivery struct {
	header http.Header
	body   []byte
}

// receiver is a webhook endpoint that keeps what it gets.
type receiver struct {
	url string
	mu  sync.Mutex
	got []delivery
}

func newReceiver(t *testing.T, respond http.HandlerFunc) *receiver {
	t.Helper()
	r := &receiver{}
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, delivery{req.Header.Clone(), body})
		r.mu.Unlock()
		respond(w, req)
	}))
	t.Cleanup(server.Close)
	r.url = server.URL + "/hooks/avatars"
	return r
}

func (r *receiver) deliveries() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivery(nil), r.got...)
}

func answer(status int) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(status) }
}

// hang answers only once the client has given up.
func hang(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() }

// newHandler builds a handler for url with the given secret string, a
// schedule without jitter, a short attempt timeout and a log in logs.
func newHandler(t *testing.T, url, secret string) (*Handler, *queue, *bytes.Buffer) {
	t.Helper()
	q, logs := &queue{}, &bytes.Buffer{}
	h, err := New(Config{URL: url, SecretID: "avatar-webhook-secret", QueueURL: testQueueURL}, q,
		&secrets{value: secret}, slog.New(slog.NewJSONHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	h.Schedule.Jitter = 0
	h.client.Timeout = 300 * time.Millisecond
	return h, q, logs
}

const testBody = `{"id":"evt-1","type":"avatar.build.ready","time":"2026-11-23T10:44:15.000Z","build":{"build_id":"b-1","status":"READY"}}`

func message(n int, body string, receiveCount int) events.SQSMessage {
	return events.SQSMessage{
		MessageId: "m-" + strconv.Itoa(n), ReceiptHandle: "rh-" + strconv.Itoa(n), Body: body,
		Attributes: map[string]string{"ApproximateReceiveCount": strconv.Itoa(receiveCount)},
	}
}

func failures(resp events.SQSEventResponse) []string {
	var ids []string
	for _, f := range resp.BatchItemFailures {
		ids = append(ids, f.ItemIdentifier)
	}
	return ids
}

func TestHandleOutcomes(t *testing.T) {
	elsewhere := newReceiver(t, answer(http.StatusOK))
	redirect := func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, elsewhere.url, http.StatusFound) }
	tests := []struct {
		name       string
		respond    http.HandlerFunc // nil: nothing listens
		attempt    int
		wantRetry  bool
		wantDelay  int32 // the visibility timeout set, -1 for none
		wantInLogs string
	}{
		{"200 delivered", answer(200), 1, false, -1, `"msg":"webhook: delivered"`},
		{"204 delivered", answer(204), 1, false, -1, `"msg":"webhook: delivered"`},
		{"500 retried in 5 s", answer(500), 1, true, 5, "receiver answered 500 Internal Server Error"},
		{"503 on the third attempt waits 30 min", answer(503), 3, true, 1800, "retrying later"},
		{"401 is a failed attempt like any other", answer(401), 1, true, 5, "receiver answered 401"},
		{"410 ends the retries", answer(410), 2, false, -1, "410 Gone; this event is not sent again"},
		{"redirect not followed", redirect, 1, true, 5, "redirects are not followed"},
		{"hanging receiver times out", hang, 1, true, 5, "Client.Timeout exceeded"},
		{"nothing listening", nil, 2, true, 300, "connection refused"},
		{"last attempt goes to the dead-letter queue at once", answer(500), MaxAttempts, true, 0, "dead-letter queue"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			url := "http://127.0.0.1:1/hooks/avatars" // port 1: nothing listens
			var r *receiver
			if tc.respond != nil {
				r = newReceiver(t, tc.respond)
				url = r.url
			}
			h, q, logs := newHandler(t, url, oldSecret)
			start := time.Now()
			resp, err := h.Handle(context.Background(), events.SQSEvent{Records: []events.SQSMessage{message(1, testBody, tc.attempt)}})
			if err != nil {
				t.Fatal(err)
			}
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("took %s, want one attempt timeout at most", took)
			}
			if got := len(resp.BatchItemFailures) == 1; got != tc.wantRetry {
				t.Errorf("got batch item failures %v, want a retry %v", failures(resp), tc.wantRetry)
			}
			delay, set := q.got["rh-1"]
			if !set {
				delay = -1
			}
			if delay != tc.wantDelay {
				t.Errorf("got visibility timeout %d s, want %d s", delay, tc.wantDelay)
			}
			if !strings.Contains(logs.String(), tc.wantInLogs) {
				t.Errorf("got logs %s, want them to contain %q", logs, tc.wantInLogs)
			}
			if r == nil {
				return
			}
			got := r.deliveries()
			if len(got) != 1 {
				t.Fatalf("got %d deliveries, want 1", len(got))
			}
			if err := verify(t, oldSecret, got[0].header, got[0].body); err != nil {
				t.Errorf("the delivery does not verify: %v", err)
			}
			if ct := got[0].header.Get("Content-Type"); ct != "application/json" || string(got[0].body) != testBody {
				t.Errorf("got Content-Type %q body %s, want application/json and the event as queued", ct, got[0].body)
			}
		})
	}
	if n := len(elsewhere.deliveries()); n != 0 {
		t.Errorf("the redirect's target got %d deliveries, want 0", n)
	}
}

func TestRetryCarriesSameEvent(t *testing.T) {
	var mu sync.Mutex
	statuses := []int{http.StatusInternalServerError, http.StatusOK}
	r := newReceiver(t, func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		w.WriteHeader(statuses[0])
		statuses = statuses[1:]
	})
	h, q, _ := newHandler(t, r.url, oldSecret)
	t0 := time.Now()
	for attempt, wantFailures := range []int{1, 0} {
		h.now = func() time.Time { return t0.Add(time.Duration(attempt) * 7 * time.Second) }
		resp, _ := h.Handle(context.Background(), events.SQSEvent{Records: []events.SQSMessage{message(1, testBody, attempt+1)}})
		if len(resp.BatchItemFailures) != wantFailures {
			t.Fatalf("attempt %d: got failures %v, want %d", attempt+1, failures(resp), wantFailures)
		}
	}
	if q.got["rh-1"] != 5 {
		t.Errorf("got visibility %d s after the 500, want 5 s", q.got["rh-1"])
	}
	got := r.deliveries()
	if len(got) != 2 {
		t.Fatalf("got %d deliveries, want 2", len(got))
	}
	first, retry := got[0].header, got[1].header
	if first.Get(HeaderID) != "evt-1" || retry.Get(HeaderID) != "evt-1" || !bytes.Equal(got[0].body, got[1].body) {
		t.Errorf("got ids %q, %q, want the event id evt-1 twice with the same body", first.Get(HeaderID), retry.Get(HeaderID))
	}
	ts0, _ := strconv.ParseInt(first.Get(HeaderTimestamp), 10, 64)
	ts1, _ := strconv.ParseInt(retry.Get(HeaderTimestamp), 10, 64)
	if ts1-ts0 != 7 || first.Get(HeaderSignature) == retry.Get(HeaderSignature) {
		t.Errorf("got timestamps %d, %d and signatures %s, %s, want a fresh timestamp and signature", ts0, ts1,
			first.Get(HeaderSignature), retry.Get(HeaderSignature))
	}
	for i, d := range got {
		if err := verify(t, oldSecret, d.header, d.body); err != nil {
			t.Errorf("delivery %d does not verify: %v", i+1, err)
		}
	}
	tampered := bytes.Replace(got[1].body, []byte("READY"), []byte("ERROR"), 1)
	if err := verify(t, oldSecret, got[1].header, tampered); err == nil {
		t.Error("a tampered body verifies")
	}
}

func TestRotationDeliveriesVerifyWithEitherSecret(t *testing.T) {
	r := newReceiver(t, answer(http.StatusOK))
	h, _, _ := newHandler(t, r.url, oldSecret+" "+newSecret)
	h.Handle(context.Background(), events.SQSEvent{Records: []events.SQSMessage{message(1, testBody, 1)}})
	got := r.deliveries()
	if len(got) != 1 {
		t.Fatalf("got %d deliveries, want 1", len(got))
	}
	for _, secret := range []string{oldSecret, newSecret} {
		if err := verify(t, secret, got[0].header, got[0].body); err != nil {
			t.Errorf("a receiver knowing one secret of two: %v", err)
		}
	}
}

func TestSlowDeliveryHoldsUpNoOther(t *testing.T) {
	r := newReceiver(t, func(w http.ResponseWriter, req *http.Request) {
		if req.Header.Get(HeaderID) != "evt-fast" {
			hang(w, req)
		}
	})
	h, _, _ := newHandler(t, r.url, oldSecret)
	var records []events.SQSMessage
	for i := range 8 {
		id := "evt-slow-" + strconv.Itoa(i)
		if i == 7 {
			id = "evt-fast"
		}
		records = append(records, message(i, `{"id":"`+id+`"}`, 1))
	}
	start := time.Now()
	resp, _ := h.Handle(context.Background(), events.SQSEvent{Records: records})
	if took := time.Since(start); took > 3*h.client.Timeout {
		t.Errorf("8 deliveries, 7 of them hanging, took %s, want about one timeout (%s)", took, h.client.Timeout)
	}
	if got := failures(resp); len(got) != 7 || strings.Contains(strings.Join(got, " "), "m-7") {
		t.Errorf("got failures %v, want the 7 slow ones", got)
	}
}

// countingTransport counts the bytes of answers their reader consumed.
type countingTransport struct {
	mu sync.Mutex
	n  int
}

func (c *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err == nil {
		resp.Body = &countingBody{resp.Body, c}
	}
	return resp, err
}

type countingBody struct {
	io.ReadCloser
	c *countingTransport
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.c.mu.Lock()
	b.c.n += n
	b.c.mu.Unlock()
	return n, err
}

func TestAnswerReadAtMost64KB(t *testing.T) {
	r := newReceiver(t, func(w http.ResponseWriter, req *http.Request) {
		chunk := bytes.Repeat([]byte("x"), 32<<10)
		for req.Context().Err() == nil { // an endless answer
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	h, _, _ := newHandler(t, r.url, oldSecret)
	counter := &countingTransport{}
	h.client.Transport = counter
	h.client.Timeout = 5 * time.Second
	resp, _ := h.Handle(context.Background(), events.SQSEvent{Records: []events.SQSMessage{message(1, testBody, 1)}})
	if len(resp.BatchItemFailures) != 0 {
		t.Errorf("got failures %v, want the 200 acknowledged", failures(resp))
	}
	if counter.n != MaxResponseBytes {
		t.Errorf("read %d bytes of the answer, want %d", counter.n, MaxResponseBytes)
	}
}

func TestUndeliverableBodiesDropped(t *testing.T) {
	r := newReceiver(t, answer(http.StatusOK))
	bodies := []string{"not json", "", "null", "[]", `"evt-1"`, `{"type":"avatar.build.ready"}`,
		`{"id":17}`, `{"id":""}`, "{\"id\":\"evt\\r\\nX-Injected: 1\"}", `{"id":"evt-1"} trailing`}
	for i, body := range bodies {
		t.Run(body, func(t *testing.T) {
			h, q, logs := newHandler(t, r.url, oldSecret)
			resp, _ := h.Handle(context.Background(), events.SQSEvent{Records: []events.SQSMessage{message(i, body, 1)}})
			if len(resp.BatchItemFailures) != 0 || len(q.got) != 0 {
				t.Errorf("got failures %v visibility %v, want the message acknowledged", failures(resp), q.got)
			}
			if !strings.Contains(logs.String(), "dropped") {
				t.Errorf("got logs %s, want the drop logged", logs)
			}
		})
	}
	if n := len(r.deliveries()); n != 0 {
		t.Errorf("got %d deliveries, want none", n)
	}
}

// invocationLog counts the log records not made with the invocation's
// context, from which lambdacontext's logger takes the request id.
type invocationLog struct {
	slog.Handler
	outside *atomic.Int32
}

type invocationKey struct{}

func (l invocationLog) Handle(ctx context.Context, r slog.Record) error {
	if ctx.Value(invocationKey{}) == nil {
		l.outside.Add(1)
	}
	return l.Handler.Handle(ctx, r)
}

func (l invocationLog) WithAttrs(attrs []slog.Attr) slog.Handler {
	return invocationLog{l.Handler.WithAttrs(attrs), l.outside}
}

func TestGoldenSQSEvent(t *testing.T) {
	payload, err := os.ReadFile("testdata/sqs_event.json")
	if err != nil {
		t.Fatal(err)
	}
	var golden events.SQSEvent
	if err := json.Unmarshal(payload, &golden); err != nil {
		t.Fatal(err)
	}
	// The bodies are what Notify publishes: the event, byte for byte.
	for _, m := range golden.Records[:2] {
		var ev pipeline.Event
		if err := json.Unmarshal([]byte(m.Body), &ev); err != nil || ev.ID == "" || ev.Build.BuildID == "" {
			t.Fatalf("golden body is not a notification event (%v): %s", err, m.Body)
		}
	}
	r := newReceiver(t, func(w http.ResponseWriter, req *http.Request) {
		if strings.Contains(req.Header.Get(HeaderID), "3b9d") { // the ERROR event, on its third attempt
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	h, q, logs := newHandler(t, r.url, oldSecret)
	var outside atomic.Int32
	h.log = slog.New(invocationLog{slog.NewJSONHandler(logs, nil), &outside})
	ctx := context.WithValue(context.Background(), invocationKey{}, "req-1")
	out, err := lambda.NewHandler(h.Handle).Invoke(ctx, payload)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"batchItemFailures":[{"itemIdentifier":"9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d"}]}`; string(out) != want {
		t.Errorf("got %s, want %s", out, want)
	}
	if got := q.got[golden.Records[1].ReceiptHandle]; got != 1800 || len(q.got) != 1 {
		t.Errorf("got visibility timeouts %v, want 1800 s for the failed record only", q.got)
	}
	got := r.deliveries()
	if len(got) != 2 {
		t.Fatalf("got %d deliveries, want 2 (the third record is not an event)", len(got))
	}
	for _, d := range got {
		id := d.header.Get(HeaderID)
		if id == "evt-e5f1d1d1439b74542e26da390f2f7b30" && string(d.body) != golden.Records[0].Body {
			t.Errorf("got body %s, want the queued event byte for byte", d.body)
		}
		if err := verify(t, oldSecret, d.header, d.body); err != nil {
			t.Errorf("delivery of %s does not verify: %v", id, err)
		}
	}
	if n := outside.Load(); n > 0 {
		t.Errorf("%d log lines without the invocation's context, which carries the request id", n)
	}
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if !strings.Contains(line, "dropped") && (!strings.Contains(line, `"event_id":"evt-`) || !strings.Contains(line, `"build_id":"`)) {
			t.Errorf("log line without event and build ids: %s", line)
		}
	}
	for _, want := range []string{`"build_id":"0f1e2d3c4b5a69788796a5b4c3d2e1f0"`, `"build_id":"7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a29"`,
		`"event_id":"evt-3b9d0c7e21a54f6886e0d4c2b1a09f37"`, `"attempt":3`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("logs lack %s:\n%s", want, logs)
		}
	}
}
