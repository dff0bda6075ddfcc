package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// MaxResponseBytes is as much of a receiver's answer as is read: enough
// to log why it refused, never a stream that holds the function.
const MaxResponseBytes = 64 << 10

// maxParallel bounds the deliveries in flight at once, for a batch larger
// than the recommended 10.
const maxParallel = 10

// Queue is the part of the SQS client the handler uses.
type Queue interface {
	ChangeMessageVisibility(ctx context.Context, in *sqs.ChangeMessageVisibilityInput, opts ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error)
}

// Handler delivers SQS records to the webhook.
type Handler struct {
	// Schedule is the wait before each retry. New sets DefaultSchedule;
	// tests and the local stack may shorten it before the first Handle.
	// The queue's maxReceiveCount must equal its Attempts.
	Schedule Schedule

	url      string
	queueURL string
	queue    Queue
	secret   *secretCache
	client   *http.Client
	log      *slog.Logger
	now      func() time.Time
}

// Handle is the Lambda handler. It delivers the batch's records
// concurrently, so a slow receiver costs each of them one timeout at
// most, and reports those to retry; it returns no error, since a batch
// failure would retry the deliveries that succeeded.
func (h *Handler) Handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	keys, keyErr := h.secret.get(ctx, h.now())
	if keyErr != nil && keys != nil {
		h.log.WarnContext(ctx, "webhook: could not read the signing secret again; signing with the one read before", "error", keyErr)
		keyErr = nil
	}
	done := make([]bool, len(ev.Records))
	sem := make(chan struct{}, maxParallel)
	var wg sync.WaitGroup
	for i, m := range ev.Records {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			done[i] = h.deliver(ctx, m, keys, keyErr)
		})
	}
	wg.Wait()
	var out events.SQSEventResponse
	for i, ok := range done {
		if !ok {
			out.BatchItemFailures = append(out.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: ev.Records[i].MessageId})
		}
	}
	return out, nil
}

// deliver makes one attempt at a record and reports whether its message
// is done with: delivered, gone or undeliverable.
func (h *Handler) deliver(ctx context.Context, m events.SQSMessage, keys [][]byte, keyErr error) bool {
	id, buildID, ok := parseEvent(m.Body)
	if !ok {
		h.log.WarnContext(ctx, "webhook: dropped a message that is not a JSON event with a string id; retrying cannot mend it",
			"message_id", m.MessageId, "bytes", len(m.Body))
		return true
	}
	attempt := receiveCount(m)
	log := h.log.With("event_id", id, "build_id", buildID, "message_id", m.MessageId, "attempt", attempt)
	err := keyErr
	if err == nil {
		start := time.Now()
		err = h.post(ctx, id, []byte(m.Body), keys)
		log = log.With("duration_ms", time.Since(start).Milliseconds())
	}
	if err == nil {
		log.InfoContext(ctx, "webhook: delivered")
		return true
	}
	var se *StatusError
	if errors.As(err, &se) && se.StatusCode == http.StatusGone {
		log.WarnContext(ctx, "webhook: the receiver answered 410 Gone; this event is not sent again", "error", err)
		return true
	}
	h.retryLater(ctx, log, m, attempt, err)
	return false
}

// post makes one signed POST of body, with a timestamp of now.
func (h *Handler) post(ctx context.Context, id string, body []byte, keys [][]byte) error {
	ts := h.now()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("webhook request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(HeaderID, id)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	req.Header.Set(HeaderSignature, sign(keys, id, ts, body))
	resp, err := h.client.Do(req)
	if err != nil {
		return err // names the URL (without a password) and the cause
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	return &StatusError{StatusCode: resp.StatusCode, Location: resp.Header.Get("Location"), Body: excerpt(answer)}
}

// retryLater hides the message for the schedule's next wait, after which
// SQS hands it out again; after the last attempt it makes the message
// visible at once, for the queue's redrive policy to move it.
func (h *Handler) retryLater(ctx context.Context, log *slog.Logger, m events.SQSMessage, attempt int, cause error) {
	delay, ok := h.Schedule.Delay(attempt)
	if !ok {
		log.ErrorContext(ctx, "webhook: delivery failed on the last attempt; the queue moves the event to its dead-letter queue",
			"error", cause, "attempts", h.Schedule.Attempts())
		// Visible again at once, the message goes to the dead-letter queue
		// at the next receive rather than after the visibility timeout.
		delay = 0
	}
	_, err := h.queue.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
		QueueUrl:          aws.String(h.queueURL),
		ReceiptHandle:     aws.String(m.ReceiptHandle),
		VisibilityTimeout: int32(delay / time.Second),
	})
	if err != nil {
		log.WarnContext(ctx, "webhook: delivery failed, and its retry could not be delayed; it comes back after the queue's visibility timeout",
			"error", cause, "visibility_error", err)
		return
	}
	if !ok {
		return
	}
	log.WarnContext(ctx, "webhook: delivery failed; retrying later", "error", cause, "retry_in", delay.String())
}

// StatusError is a receiver's answer other than 2xx.
type StatusError struct {
	StatusCode int
	Location   string // where a redirect pointed, which is not followed
	Body       string // the start of the answer
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("receiver answered %d %s", e.StatusCode, http.StatusText(e.StatusCode))
	if e.Location != "" {
		msg += "; redirects are not followed, set the webhook URL to " + e.Location + " if that is the receiver"
	}
	if e.Body != "" {
		msg += ": " + e.Body
	}
	return msg
}

// excerpt is the start of an answer, enough for a log line.
func excerpt(b []byte) string {
	s := strings.TrimSpace(strings.ToValidUTF8(string(b), "?"))
	if len(s) > 200 {
		s = strings.ToValidUTF8(s[:200], "") + "…"
	}
	return s
}

// parseEvent reads what delivery needs from the body: the event id,
// which must be a string fit for a header, and the build id for logs.
func parseEvent(body string) (id, buildID string, ok bool) {
	var ev struct {
		ID    *string         `json:"id"`
		Build json.RawMessage `json:"build"`
	}
	if json.Unmarshal([]byte(body), &ev) != nil || ev.ID == nil || *ev.ID == "" ||
		strings.ContainsFunc(*ev.ID, unicode.IsControl) {
		return "", "", false
	}
	var b struct {
		BuildID string `json:"build_id"`
	}
	_ = json.Unmarshal(ev.Build, &b) // the build id only labels log lines
	return *ev.ID, b.BuildID, true
}

// receiveCount is the attempt number: how many times SQS has handed out
// the message, this time included.
func receiveCount(m events.SQSMessage) int {
	n, err := strconv.Atoi(m.Attributes["ApproximateReceiveCount"])
	if err != nil || n < 1 {
		return 1
	}
	return n
}
