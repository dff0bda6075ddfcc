package local

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// WebhookPath is where the gateway serves the stack's own webhook.
const WebhookPath = "/_local/webhook"

// Notification is one message the webhook received from the topic.
type Notification struct {
	// MessageID is SNS's id of the message.
	MessageID string `json:"message_id"`
	// Subject is the message's subject, if it has one.
	Subject string `json:"subject,omitempty"`
	// Message is the message as delivered to an HTTP subscriber: with
	// MessageStructure json, its "http" member, else its "default".
	Message string `json:"message"`
	// Received is when the webhook got it.
	Received time.Time `json:"received"`
}

// Event decodes the message as JSON into v.
func (n Notification) Event(v any) error {
	if err := json.Unmarshal([]byte(n.Message), v); err != nil {
		return fmt.Errorf("notification %s: %w", n.MessageID, err)
	}
	return nil
}

// snsEnvelope is the body SNS posts to an HTTP subscription.
type snsEnvelope struct {
	Type         string `json:"Type"`
	MessageID    string `json:"MessageId"`
	TopicArn     string `json:"TopicArn"`
	Subject      string `json:"Subject"`
	Message      string `json:"Message"`
	SubscribeURL string `json:"SubscribeURL"`
}

// Webhook is the stack's HTTP subscriber to the notification topic, an
// http.Handler: it prints each notification as it arrives and keeps them
// all for tests.
type Webhook struct {
	// Print writes a notification for people; nil prints nothing.
	Print func(Notification)

	mu      sync.Mutex
	got     []Notification
	changed chan struct{} // closed and replaced on every arrival
}

// NewWebhook returns an empty webhook.
func NewWebhook(print func(Notification)) *Webhook {
	return &Webhook{Print: print, changed: make(chan struct{})}
}

// ServeHTTP receives one SNS delivery.
func (w *Webhook) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(rw, "POST only", http.StatusMethodNotAllowed)
		return
	}
	var env snsEnvelope
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&env); err != nil {
		http.Error(rw, "not an SNS message: "+err.Error(), http.StatusBadRequest)
		return
	}
	switch env.Type {
	case "Notification":
	case "SubscriptionConfirmation":
		// SNS in AWS asks an HTTP endpoint to confirm; moto does not. A
		// local receiver has no reason to refuse, so confirm.
		go confirm(env.SubscribeURL)
		rw.WriteHeader(http.StatusOK)
		return
	default:
		rw.WriteHeader(http.StatusOK)
		return
	}
	n := Notification{MessageID: env.MessageID, Subject: env.Subject, Message: env.Message, Received: time.Now()}
	w.mu.Lock()
	w.got = append(w.got, n)
	close(w.changed)
	w.changed = make(chan struct{})
	w.mu.Unlock()
	if w.Print != nil {
		w.Print(n)
	}
	rw.WriteHeader(http.StatusOK)
}

// confirm visits a subscription's confirmation URL.
func confirm(u string) {
	if u == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return
	}
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
	}
}

// Notifications returns every notification received so far, oldest first.
func (w *Webhook) Notifications() []Notification {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]Notification(nil), w.got...)
}

// Wait returns the notifications received so far once match accepts them
// (for example, "one READY event for build X"), or ctx's error.
func (w *Webhook) Wait(ctx context.Context, match func([]Notification) bool) ([]Notification, error) {
	for {
		w.mu.Lock()
		got := append([]Notification(nil), w.got...)
		changed := w.changed
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
