package local

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// WebhookPath is where the gateway serves the stack's own webhook receiver.
const WebhookPath = "/_local/webhook"

// Notification is one delivery the receiver accepted.
type Notification struct {
	// MessageID is the delivery's webhook-id: the event's id.
	MessageID string `json:"message_id"`
	// Message is the body, the JSON event.
	Message string `json:"message"`
	// Received is when the receiver got it.
	Received time.Time `json:"received"`
}

// Event decodes the message as JSON into v.
func (n Notification) Event(v any) error {
	if err := json.Unmarshal([]byte(n.Message), v); err != nil {
		return fmt.Errorf("notification %s: %w", n.MessageID, err)
	}
	return nil
}

// Webhook is the stack's receiver of the pipeline's signed deliveries, an
// http.Handler, as a user's would be: it verifies each with the Standard
// Webhooks reference library (refusing what does not verify), prints it and
// keeps it for tests. It deduplicates on webhook-id, as docs/webhooks.md
// asks of every receiver (SNS and SQS deliver at least once): a second
// accepted delivery of an id is answered 2xx and only counted. Answer, when set, decides the status of each
// verified delivery (tests use it to make deliveries fail; SetAnswer sets
// it while the stack runs).
type Webhook struct {
	Print  func(Notification) // nil prints nothing
	Answer func(Notification) int

	verifier *standardwebhooks.Webhook
	mu       sync.Mutex
	got      []Notification
	seen     map[string]bool // ids of got
	repeats  int
	refused  int
	changed  chan struct{} // closed and replaced on every arrival
}

// NewWebhook returns a receiver that verifies with secret (whsec_…).
func NewWebhook(secret string, print func(Notification)) (*Webhook, error) {
	v, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		return nil, fmt.Errorf("the webhook secret: %w", err)
	}
	return &Webhook{Print: print, verifier: v, seen: map[string]bool{}, changed: make(chan struct{})}, nil
}

// ServeHTTP receives one delivery.
func (w *Webhook) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil || r.Method != http.MethodPost {
		http.Error(rw, "POST a webhook delivery", http.StatusBadRequest)
		return
	}
	if err := w.verifier.Verify(body, r.Header); err != nil {
		w.mu.Lock()
		w.refused++
		w.mu.Unlock()
		http.Error(rw, "signature does not verify: "+err.Error(), http.StatusUnauthorized)
		return
	}
	n := Notification{MessageID: r.Header.Get("webhook-id"), Message: string(body), Received: time.Now()}
	status := http.StatusNoContent
	w.mu.Lock()
	answer := w.Answer
	w.mu.Unlock()
	if answer != nil {
		status = answer(n)
	}
	if status/100 == 2 {
		w.mu.Lock()
		first := !w.seen[n.MessageID]
		if first {
			w.seen[n.MessageID] = true
			w.got = append(w.got, n)
			close(w.changed)
			w.changed = make(chan struct{})
		} else {
			w.repeats++
		}
		w.mu.Unlock()
		if first && w.Print != nil {
			w.Print(n)
		}
	}
	rw.WriteHeader(status)
}

// SetAnswer sets Answer safely while deliveries arrive.
func (w *Webhook) SetAnswer(f func(Notification) int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.Answer = f
}

// Notifications returns every delivery accepted so far, oldest first.
func (w *Webhook) Notifications() []Notification {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]Notification(nil), w.got...)
}

// Repeats is how many accepted deliveries repeated an id already received.
func (w *Webhook) Repeats() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.repeats
}

// Refused is how many deliveries failed verification.
func (w *Webhook) Refused() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.refused
}

// Wait returns the notifications received so far once match accepts them,
// or ctx's error.
func (w *Webhook) Wait(ctx context.Context, match func([]Notification) bool) ([]Notification, error) {
	for {
		w.mu.Lock()
		got, changed := append([]Notification(nil), w.got...), w.changed
		w.mu.Unlock()
		if match(got) {
			return got, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return got, fmt.Errorf("wait for notifications (%d so far): %w", len(got), ctx.Err())
		}
	}
}
