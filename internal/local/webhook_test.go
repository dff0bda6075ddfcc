package local

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

const testSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// deliver posts body to w signed with secret (tampered after signing when
// tamper is set) and returns the status.
func deliver(t *testing.T, w http.Handler, secret, id, body string, tamper bool) int {
	t.Helper()
	signer, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	sig, err := signer.Sign(id, now, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if tamper {
		body = strings.Replace(body, "ready", "error", 1)
	}
	r := httptest.NewRequest(http.MethodPost, WebhookPath, strings.NewReader(body))
	r.Header.Set("webhook-id", id)
	r.Header.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
	r.Header.Set("webhook-signature", sig)
	rec := httptest.NewRecorder()
	w.ServeHTTP(rec, r)
	return rec.Code
}

func TestWebhook(t *testing.T) {
	t.Parallel()
	var printed []Notification
	w, err := NewWebhook(testSecret, func(n Notification) { printed = append(printed, n) })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewWebhook("not a secret", nil); err == nil {
		t.Error("NewWebhook accepted a secret that is not base64")
	}
	w.Answer = func(n Notification) int {
		if n.MessageID == "evt-fails" {
			return http.StatusInternalServerError
		}
		return http.StatusNoContent
	}
	ready := `{"id":"evt-1","type":"avatar.build.ready"}`
	tests := []struct {
		name, secret, id, body string
		tamper                 bool
		want                   int
	}{
		{"signed", testSecret, "evt-1", ready, false, http.StatusNoContent},
		{"tampered body", testSecret, "evt-2", ready, true, http.StatusUnauthorized},
		{"another secret", "whsec_" + "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "evt-3", ready, false, http.StatusUnauthorized},
		{"answered 500", testSecret, "evt-fails", ready, false, http.StatusInternalServerError},
	}
	for _, tc := range tests {
		if got := deliver(t, w, tc.secret, tc.id, tc.body, tc.tamper); got != tc.want {
			t.Errorf("%s: got %d, want %d", tc.name, got, tc.want)
		}
	}
	rec := httptest.NewRecorder()
	w.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, WebhookPath, nil))
	if rec.Code != http.StatusBadRequest {
		t.Errorf("GET: got %d, want 400", rec.Code)
	}
	if w.Refused() != 2 {
		t.Errorf("got %d refused, want the tampered and the foreign delivery", w.Refused())
	}

	if got := deliver(t, w, testSecret, "evt-1", ready, false); got != http.StatusNoContent || w.Repeats() != 1 {
		t.Errorf("evt-1 again: got %d with %d repeats, want 204 and the repeat counted", got, w.Repeats())
	}
	got := w.Notifications()
	if len(got) != 1 || got[0].MessageID != "evt-1" || len(printed) != 1 {
		t.Fatalf("got notifications %+v (printed %d), want evt-1 once", got, len(printed))
	}
	var ev struct{ Type string }
	if err := got[0].Event(&ev); err != nil || ev.Type != "avatar.build.ready" {
		t.Errorf("got event %+v, %v, want avatar.build.ready", ev, err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	go func() {
		time.Sleep(50 * time.Millisecond)
		deliver(t, w, testSecret, "evt-4", `{}`, false)
	}()
	all, err := w.Wait(ctx, func(ns []Notification) bool { return len(ns) == 2 })
	if err != nil || all[1].MessageID != "evt-4" {
		t.Errorf("Wait: got %+v, %v, want evt-4 second", all, err)
	}
	short, cancelShort := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancelShort()
	if _, err := w.Wait(short, func(ns []Notification) bool { return len(ns) == 3 }); err == nil {
		t.Error("Wait: got no error for a notification that never came")
	}
}
