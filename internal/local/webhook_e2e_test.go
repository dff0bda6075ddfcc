package local

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/avatar-pipeline/avatar-pipeline/internal/pipeline"
	"github.com/avatar-pipeline/avatar-pipeline/internal/pipeline/webhook"
	"github.com/avatar-pipeline/avatar-pipeline/internal/records"
)

// TestE2EWebhookRetries: deliveries go through the queue and the webhook
// function, signed, to a receiver that verifies them with the Standard
// Webhooks reference library. It refuses the first delivery of every event
// with a 500: each comes again with the same webhook-id, verifies again,
// and is accepted exactly once. A build whose every delivery is refused
// sees each event webhook.MaxAttempts times, and the events then wait in
// the dead-letter queue; nothing else is lost.
func TestE2EWebhookRetries(t *testing.T) {
	t.Parallel()
	o := e2eOptions()
	o.NotifyOnSubmit, o.WebhookRetrySeconds = true, 1
	s := StartTest(t, o)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	var mu sync.Mutex
	attempts := map[string]int{} // by webhook-id
	const refused = "Always refused"
	s.Webhook.SetAnswer(func(n Notification) int {
		var ev pipeline.Event
		n.Event(&ev)
		mu.Lock()
		defer mu.Unlock()
		attempts[n.MessageID]++
		if ev.Build.Name == refused || attempts[n.MessageID] == 1 {
			return http.StatusInternalServerError
		}
		return http.StatusNoContent
	})
	body := PortraitJPEG(512, 512)
	ok := upload(ctx, t, s, "hooks/ok.jpg", body, "Retried once")
	dead := upload(ctx, t, s, "hooks/dead.jpg", body, refused)
	waitTerminal(ctx, t, s, ok)
	waitTerminal(ctx, t, s, dead)
	ns, err := s.Delivered(ctx)
	if err != nil {
		t.Fatal(err)
	}

	want := map[newsKey]bool{{ok, records.StatusPending}: true, {ok, records.StatusReady}: true}
	checkExactlyOnce(t, newsOf(ctx, t, s, want, ok, dead), want)
	mu.Lock()
	for _, n := range ns {
		if attempts[n.MessageID] != 2 {
			t.Errorf("event %s: got %d deliveries, want 2 (refused, then accepted with the same id)", n.MessageID, attempts[n.MessageID])
		}
	}
	refusedIDs := 0
	for id, n := range attempts {
		if n == webhook.MaxAttempts {
			refusedIDs++
		} else if n != 2 {
			t.Errorf("event %s: got %d deliveries, want 2 or %d", id, n, webhook.MaxAttempts)
		}
	}
	mu.Unlock()
	if refusedIDs != 2 {
		t.Errorf("got %d events delivered %d times, want the refused build's 2", refusedIDs, webhook.MaxAttempts)
	}
	if s.Webhook.Refused() != 0 {
		t.Errorf("got %d deliveries that did not verify, want none", s.Webhook.Refused())
	}
	if n, err := s.QueueDepth(ctx, s.Resources.WebhookDeadURL); err != nil || n != 2 {
		t.Errorf("got %d events in the dead-letter queue (%v), want the refused build's 2", n, err)
	}
}
