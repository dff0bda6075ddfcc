package local

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

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

// testAccessLog, when set (by this package's tests), records the
// requests of every stack StartTest starts, for the permission proof.
var testAccessLog io.Writer

// StartTest starts a local stack for a test, on free ports unless o names
// them, logging to the test's log unless o.Out is set, and closes it when
// the test ends. A machine without moto_server fails the test (with the
// install hint): end-to-end tests never skip.
func StartTest(t testing.TB, o Options) *Stack {
	t.Helper()
	if o.AccessLog == nil {
		o.AccessLog = testAccessLog
	}
	var tw *testWriter
	if o.Out == nil {
		tw = &testWriter{t: t}
		o.Out = tw
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := Start(ctx, o)
	if err != nil {
		t.Fatalf("start the local stack: %v", err)
	}
	t.Cleanup(func() {
		s.Close()
		if tw != nil {
			tw.stop()
		}
	})
	return s
}

// testWriter sends a stack's log lines to t.Log until the stack is closed:
// t.Log after the test has ended panics, and a function invocation that
// outlived its deadline may still log then.
type testWriter struct {
	mu      sync.Mutex
	t       testing.TB
	stopped bool
}

func (w *testWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.stopped {
		w.t.Log(strings.TrimRight(string(b), "\n"))
	}
	return len(b), nil
}

func (w *testWriter) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopped = true
}

// Delivered waits until the webhook queue is empty (so every notification
// published so far has been delivered or dead-lettered), and returns the
// notifications received.
func (s *Stack) Delivered(ctx context.Context) ([]Notification, error) {
	for {
		n, err := s.QueueDepth(ctx, s.Resources.WebhookQueueURL)
		if err == nil && n == 0 {
			return s.Notifications(), nil
		}
		select {
		case <-ctx.Done():
			return s.Notifications(), fmt.Errorf("wait for the webhook queue to empty: %w", cmp.Or(err, ctx.Err()))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// QueueDepth counts a queue's messages: visible, in flight and delayed.
func (s *Stack) QueueDepth(ctx context.Context, url string) (int, error) {
	out, err := sqs.NewFromConfig(s.AWSConfig()).GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameAll}})
	if err != nil {
		return 0, fmt.Errorf("read the depth of %s: %w", url, err)
	}
	n := 0
	for _, k := range []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages,
		sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible, sqstypes.QueueAttributeNameApproximateNumberOfMessagesDelayed} {
		v, _ := strconv.Atoi(out.Attributes[string(k)])
		n += v
	}
	return n, nil
}
