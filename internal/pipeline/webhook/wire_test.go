package webhook

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/avatar-pipeline/avatar-pipeline/internal/pipeline"
	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/smithy-go"
)

func TestURLRule(t *testing.T) {
	tests := []struct{ url, wantErr string }{
		{"https://example.com/hooks/avatars", ""},
		{"https://user:pw@example.com:8443/h", ""},
		{"http://127.0.0.1:4567/_local/webhook", ""},
		{"http://127.0.0.2/h", ""},
		{"http://[::1]:8080/h", ""},
		{"http://localhost:8080/h", ""},
		{"", "WEBHOOK_URL is not set; set it to the receiver's https URL"},
		{"http://example.com/h", "uses plain http to example.com; use https"},
		{"http://localhost.example.com/h", "uses plain http"},
		{"http://127.0.0.1.nip.io/h", "uses plain http"},
		{"http://10.0.0.1/h", "uses plain http"},
		{"ftp://example.com/h", `has scheme "ftp"; use an https URL`},
		{"example.com/hooks", "has no host"},
		{"https:///hooks", "has no host"},
		{"https://user:pw@exa mple.com/h", "is not a URL"},
	}
	for _, tc := range tests {
		t.Run(tc.url, func(t *testing.T) {
			_, err := New(Config{URL: tc.url, SecretID: "s", QueueURL: testQueueURL}, &queue{}, &secrets{}, slog.Default())
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("got %v, want the URL accepted", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("got %v, want an error containing %q", err, tc.wantErr)
			case err != nil && strings.Contains(err.Error(), "pw"):
				t.Errorf("error %q shows the URL's password", err)
			}
		})
	}
}

func TestNewFromEnv(t *testing.T) {
	full := map[string]string{EnvURL: "https://example.com/h", EnvSecretID: "avatar-webhook-secret", EnvQueueURL: testQueueURL}
	for _, missing := range Env {
		env := map[string]string{}
		for k, v := range full {
			if k != missing {
				env[k] = v
			}
		}
		_, err := NewFromEnv(context.Background(), aws.Config{Region: "us-east-1"}, pipeline.Runtime{Getenv: func(k string) string { return env[k] }, Log: slog.Default()})
		if err == nil || !strings.Contains(err.Error(), missing) {
			t.Errorf("without %s: got %v, want an error naming it", missing, err)
		}
	}
	// No AWS call at construction: these credentials would fail one.
	h, err := NewFromEnv(context.Background(), aws.Config{Region: "us-east-1"}, pipeline.Runtime{Getenv: func(k string) string { return full[k] }, Log: slog.Default()})
	if err != nil {
		t.Fatal(err)
	}
	if h.Schedule.Attempts() != MaxAttempts || h.client.Timeout != AttemptTimeout {
		t.Errorf("got %d attempts and timeout %s, want %d and %s", h.Schedule.Attempts(), h.client.Timeout, MaxAttempts, AttemptTimeout)
	}
}

func TestSecretReadAgainAfterTTL(t *testing.T) {
	r := newReceiver(t, answer(http.StatusOK))
	h, _, logs := newHandler(t, r.url, "")
	sm := &secrets{value: oldSecret}
	h.secret.read = func(ctx context.Context) ([][]byte, error) { return readKeys(ctx, sm, "avatar-webhook-secret") }
	t0 := time.Now()
	steps := []struct {
		after     time.Duration
		secret    string // stored from this step on
		fail      error  // the read fails
		wantReads int
		wantKey   string // the secret the delivery verifies with
	}{
		{0, oldSecret, nil, 1, oldSecret},
		{4 * time.Minute, newSecret, nil, 1, oldSecret}, // rotated, not yet read
		{6 * time.Minute, newSecret, nil, 2, newSecret},
		{12 * time.Minute, newSecret, errors.New("throttled"), 3, newSecret}, // the last one read serves
		{13 * time.Minute, newSecret, nil, 4, newSecret},
	}
	for i, s := range steps {
		sm.value, sm.err = s.secret, s.fail
		h.now = func() time.Time { return t0.Add(s.after) }
		resp, _ := h.Handle(context.Background(), events.SQSEvent{Records: []events.SQSMessage{message(i, testBody, 1)}})
		got := r.deliveries()
		if sm.reads != s.wantReads || len(resp.BatchItemFailures) != 0 || len(got) != i+1 {
			t.Fatalf("after %s: got %d reads, failures %v, %d deliveries; want %d reads, a delivery", s.after, sm.reads,
				failures(resp), len(got), s.wantReads)
		}
		if err := verifySignature(t, s.wantKey, got[i].header, got[i].body); err != nil {
			t.Errorf("after %s: %v", s.after, err)
		}
	}
	if !strings.Contains(logs.String(), "signing with the one read before") {
		t.Errorf("got logs %s, want the failed re-read logged", logs)
	}
}

type apiError struct{ code string }

func (e apiError) Error() string                 { return "api error " + e.code }
func (e apiError) ErrorCode() string             { return e.code }
func (e apiError) ErrorMessage() string          { return e.code }
func (e apiError) ErrorFault() smithy.ErrorFault { return smithy.FaultClient }

func TestSecretUnreadable(t *testing.T) {
	sekrit := "whsec_" + "c2VrcmV0LWtleS1ieXRlcw==" // "sekret-key-bytes"
	tests := []struct {
		name    string
		sm      *secrets
		wantLog string
	}{
		{"missing", &secrets{err: apiError{"ResourceNotFoundException"}}, "does not exist; store the receiver's signing secret in it"},
		{"denied", &secrets{err: apiError{"AccessDeniedException"}}, "grant it secretsmanager:GetSecretValue"},
		{"empty", &secrets{value: "  "}, "no signing secret"},
		{"malformed second", &secrets{value: sekrit + " whsec_" + "sekret!*"}, "signing secret 2 of 2 is not whsec_"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newReceiver(t, answer(http.StatusOK))
			h, q, logs := newHandler(t, r.url, "")
			h.secret.read = func(ctx context.Context) ([][]byte, error) { return readKeys(ctx, tc.sm, "avatar-webhook-secret") }
			resp, _ := h.Handle(context.Background(), events.SQSEvent{Records: []events.SQSMessage{message(1, testBody, 1)}})
			if len(resp.BatchItemFailures) != 1 || q.got["rh-1"] != 5 || len(r.deliveries()) != 0 {
				t.Errorf("got failures %v visibility %v, want the event kept for a retry, unsent", failures(resp), q.got)
			}
			if !strings.Contains(logs.String(), tc.wantLog) || !strings.Contains(logs.String(), `"event_id":"evt-1"`) {
				t.Errorf("got logs %s, want %q for evt-1", logs, tc.wantLog)
			}
			for _, s := range []string{"sekret", "c2VrcmV0"} {
				if strings.Contains(logs.String(), s) {
					t.Errorf("logs show the secret: %s", logs)
				}
			}
		})
	}
}

// TestSecretNeverLogged runs every outcome with a secret in place and
// looks for it, in any form, in the logs.
func TestSecretNeverLogged(t *testing.T) {
	var all bytes.Buffer
	for _, status := range []int{200, 302, 410, 500} {
		r := newReceiver(t, func(w http.ResponseWriter, req *http.Request) {
			w.Header().Set("Location", "https://example.com/elsewhere")
			w.WriteHeader(status)
			w.Write([]byte("headers were: " + req.Header.Get(HeaderSignature)))
		})
		h, _, logs := newHandler(t, r.url, oldSecret+" "+newSecret)
		h.log = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		h.Handle(context.Background(), events.SQSEvent{Records: []events.SQSMessage{message(1, testBody, 1), message(2, "garbage", 1)}})
		all.Write(logs.Bytes())
	}
	for _, s := range []string{oldSecret, newSecret, oldSecret[6:], newSecret[6:], oldKey, newKey} {
		if strings.Contains(all.String(), s) {
			t.Errorf("the logs contain the secret %q", s)
		}
	}
	if !strings.Contains(all.String(), "delivered") || !strings.Contains(all.String(), "410") {
		t.Errorf("the outcomes did not run: %s", all.String())
	}
}
