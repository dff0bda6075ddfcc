package local

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestWebhook(t *testing.T) {
	t.Parallel()
	var printed []Notification
	w := NewWebhook(func(n Notification) { printed = append(printed, n) })
	confirmed := make(chan struct{}, 1)
	sns := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) { confirmed <- struct{}{} }))
	t.Cleanup(sns.Close)

	tests := []struct {
		name, method, body string
		want               int
	}{
		{"notification", http.MethodPost, `{"Type":"Notification","MessageId":"m1","Message":"{\"type\":\"avatar.build.ready\"}"}`, http.StatusOK},
		{"confirmation", http.MethodPost, `{"Type":"SubscriptionConfirmation","SubscribeURL":"` + sns.URL + `"}`, http.StatusOK},
		{"not JSON", http.MethodPost, `garbage`, http.StatusBadRequest},
		{"GET", http.MethodGet, ``, http.StatusMethodNotAllowed},
	}
	for _, tc := range tests {
		rec := httptest.NewRecorder()
		w.ServeHTTP(rec, httptest.NewRequest(tc.method, WebhookPath, strings.NewReader(tc.body)))
		if rec.Code != tc.want {
			t.Errorf("%s: got %d, want %d", tc.name, rec.Code, tc.want)
		}
	}
	select {
	case <-confirmed:
	case <-time.After(5 * time.Second):
		t.Error("the subscription was not confirmed")
	}

	got := w.Notifications()
	if len(got) != 1 || got[0].MessageID != "m1" || len(printed) != 1 {
		t.Fatalf("got notifications %+v (printed %d), want m1 once", got, len(printed))
	}
	var ev struct{ Type string }
	if err := got[0].Event(&ev); err != nil || ev.Type != "avatar.build.ready" {
		t.Errorf("got event %+v, %v, want avatar.build.ready", ev, err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	go func() {
		time.Sleep(50 * time.Millisecond)
		w.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, WebhookPath,
			strings.NewReader(`{"Type":"Notification","MessageId":"m2","Message":"{}"}`)))
	}()
	all, err := w.Wait(ctx, func(ns []Notification) bool { return len(ns) == 2 })
	if err != nil || all[1].MessageID != "m2" {
		t.Errorf("Wait: got %+v, %v, want m2 second", all, err)
	}
	short, cancelShort := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancelShort()
	if _, err := w.Wait(short, func(ns []Notification) bool { return len(ns) == 3 }); err == nil {
		t.Error("Wait: got no error for a notification that never came")
	}
}
