package local

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// event is an S3 Object Created event as moto delivers it, with its
// constant id.
func event(key, version string) string {
	return `{"version":"0","id":"17793124-05d4-b198-2fde-7ededc63b103","detail-type":"Object Created","source":"aws.s3",` +
		`"detail":{"bucket":{"name":"avatar-portraits"},"object":{"key":"` + key + `","size":5,"eTag":"5d41","version-id":"` + version + `","sequencer":"617f"}}}`
}

// validName is what AWS accepts as an execution name, restricted to ASCII.
var validName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,80}$`)

func TestExecutionName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, a, b string
		same       bool
	}{
		{"the same event twice", event("a.jpg", "v1"), event("a.jpg", "v1"), true},
		{"another version of the key", event("a.jpg", "v1"), event("a.jpg", "v2"), false},
		{"another key, same (moto) event id", event("a.jpg", "v1"), event("b.jpg", "v1"), false},
		{"not JSON", "not an event", "not an event", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b := ExecutionName([]byte(tc.a)), ExecutionName([]byte(tc.b))
			if (a == b) != tc.same {
				t.Errorf("got names %q and %q, want same=%v", a, b, tc.same)
			}
			for _, n := range []string{a, b} {
				if !validName.MatchString(n) {
					t.Errorf("got name %q, not a valid execution name", n)
				}
			}
		})
	}

	prefixes := []struct{ key, want string }{
		{"portraits/Ada Lovelace.jpg", "Ada_Lovelace-"},
		{"ünï/日本語.png", "event-"},
		{"x/ö +x.jpeg", "x-"},
		{"deep/" + strings.Repeat("long", 30) + ".jpg", strings.Repeat("long", 10) + "-"},
	}
	for _, p := range prefixes {
		got := ExecutionName([]byte(event(p.key, "v1")))
		if !strings.HasPrefix(got, p.want) || !validName.MatchString(got) {
			t.Errorf("key %q: got name %q, want a valid name starting %q", p.key, got, p.want)
		}
	}
}

// fakeQueue serves one batch of messages, then blocks until the context
// is done, and records deletions.
type fakeQueue struct {
	mu       sync.Mutex
	batch    []sqstypes.Message
	received int
	deleted  []string
}

func (q *fakeQueue) ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, _ ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	q.mu.Lock()
	q.received++
	first := q.received == 1
	q.mu.Unlock()
	if first {
		return &sqs.ReceiveMessageOutput{Messages: q.batch}, nil
	}
	<-ctx.Done()
	return nil, ctx.Err()
}

func (q *fakeQueue) DeleteMessage(_ context.Context, in *sqs.DeleteMessageInput, _ ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.deleted = append(q.deleted, aws.ToString(in.ReceiptHandle))
	return &sqs.DeleteMessageOutput{}, nil
}

// fakeWorkflow answers StartExecution with the error scripted for the
// execution's input.
type fakeWorkflow struct {
	mu      sync.Mutex
	errs    map[string]error
	started []*sfn.StartExecutionInput
}

func (w *fakeWorkflow) StartExecution(_ context.Context, in *sfn.StartExecutionInput, _ ...func(*sfn.Options)) (*sfn.StartExecutionOutput, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.started = append(w.started, in)
	if err := w.errs[aws.ToString(in.Input)]; err != nil {
		return nil, err
	}
	return &sfn.StartExecutionOutput{ExecutionArn: aws.String("arn:exec:" + aws.ToString(in.Name))}, nil
}

func TestPump(t *testing.T) {
	t.Parallel()
	ok, dup, bad, down := event("ok.jpg", "1"), event("dup.jpg", "1"), "not json", event("down.jpg", "1")
	q := &fakeQueue{batch: []sqstypes.Message{
		{Body: aws.String(ok), ReceiptHandle: aws.String("ok")},
		{Body: aws.String(dup), ReceiptHandle: aws.String("dup")},
		{Body: aws.String(bad), ReceiptHandle: aws.String("bad")},
		{Body: aws.String(down), ReceiptHandle: aws.String("down")},
	}}
	w := &fakeWorkflow{errs: map[string]error{
		dup:  &sfntypes.ExecutionAlreadyExists{Message: aws.String("exists")},
		bad:  &sfntypes.InvalidExecutionInput{Message: aws.String("not JSON")},
		down: errors.New("connection refused"),
	}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		(&Pump{Queue: q, Workflow: w, QueueURL: "q", StateMachineARN: "sm", Logf: t.Logf}).Run(ctx)
	}()
	deadline := time.Now().Add(5 * time.Second)
	for {
		w.mu.Lock()
		n := len(w.started)
		w.mu.Unlock()
		if n == 4 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done

	if len(w.started) != 4 {
		t.Fatalf("got %d StartExecution calls, want 4", len(w.started))
	}
	for _, in := range w.started {
		if aws.ToString(in.StateMachineArn) != "sm" || aws.ToString(in.Name) != ExecutionName([]byte(aws.ToString(in.Input))) {
			t.Errorf("got StartExecution %s %s, want state machine sm named from the event", aws.ToString(in.StateMachineArn), aws.ToString(in.Name))
		}
	}
	if got, want := strings.Join(q.deleted, ","), "ok,dup,bad"; got != want {
		t.Errorf("got deleted %s, want %s (an event whose start failed stays queued)", got, want)
	}
}
