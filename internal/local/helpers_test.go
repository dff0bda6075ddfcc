package local

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/avatar-pipeline/avatar-pipeline/internal/pipeline"
	"github.com/avatar-pipeline/avatar-pipeline/internal/records"
	"github.com/avatar-pipeline/avatar-pipeline/internal/records/store"
)

// e2eOptions are quick settings for end-to-end tests: builds of a second,
// a status check every second.
func e2eOptions() Options {
	return Options{BuildTime: time.Second, PollSeconds: 1}
}

// upload puts one portrait into the stack's bucket, with the avatar name
// as user metadata (none when name is empty), and returns the id its build
// will have.
func upload(ctx context.Context, t *testing.T, s *Stack, key string, body []byte, name string) string {
	t.Helper()
	return uploadAll(ctx, t, s, []object{{key: key, name: name, body: body}})[0]
}

// reader reads the stack's build records.
func reader(s *Stack) *store.Table {
	return &store.Table{DB: dynamodb.NewFromConfig(s.AWSConfig()), Name: s.Resources.Table}
}

// waitTerminal waits until the build's record has a terminal status.
func waitTerminal(ctx context.Context, t *testing.T, s *Stack, buildID string) records.Record {
	t.Helper()
	r := reader(s)
	for {
		rec, err := r.Load(ctx, buildID)
		switch {
		case err == nil && rec.Status.Terminal():
			return rec
		case err != nil && !errors.Is(err, store.ErrNotFound):
			t.Fatalf("read build %s: %v", buildID, err)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("build %s: no terminal status (last %q): %v", buildID, rec.Status, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// decodeEvents decodes notifications as the pipeline's JSON events,
// failing the test on any that is not one.
func decodeEvents(t *testing.T, ns []Notification) []pipeline.Event {
	t.Helper()
	out := make([]pipeline.Event, 0, len(ns))
	for _, n := range ns {
		var ev pipeline.Event
		if err := n.Event(&ev); err != nil {
			t.Errorf("notification is not a JSON event: %v: %s", err, n.Message)
			continue
		}
		out = append(out, ev)
	}
	return out
}

// eventsFor returns the notification events about one build.
func eventsFor(t *testing.T, ns []Notification, buildID string) []pipeline.Event {
	t.Helper()
	return slices.DeleteFunc(decodeEvents(t, ns), func(ev pipeline.Event) bool { return ev.Build.BuildID != buildID })
}

// waitEvent waits for a notification about the build and returns all of
// the build's events so far.
func waitEvent(ctx context.Context, t *testing.T, s *Stack, buildID, typ string) []pipeline.Event {
	t.Helper()
	var events []pipeline.Event
	_, err := s.Webhook.Wait(ctx, func(ns []Notification) bool {
		events = eventsFor(t, ns, buildID)
		for _, ev := range events {
			if ev.Type == typ {
				return true
			}
		}
		return false
	})
	if err != nil {
		t.Fatalf("build %s: no %s notification (got %v): %v", buildID, typ, events, err)
	}
	return events
}
