package notify

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/avatar-pipeline/avatar-pipeline/internal/lambdatest"
	"github.com/avatar-pipeline/avatar-pipeline/internal/pipeline"
	"github.com/avatar-pipeline/avatar-pipeline/internal/records"
)

// publisher records what Notify publishes.
type publisher struct {
	got []*sns.PublishInput
	err error
}

func (p *publisher) Publish(_ context.Context, in *sns.PublishInput, _ ...func(*sns.Options)) (*sns.PublishOutput, error) {
	p.got = append(p.got, in)
	return &sns.PublishOutput{MessageId: aws.String("m1")}, p.err
}

func notifyOnce(t *testing.T, golden string) (*sns.PublishInput, map[string]string, pipeline.Event) {
	t.Helper()
	p := &publisher{}
	h := &Handler{Config: pipeline.NotifyConfig{TopicARN: "arn:aws:sns:us-east-1:123456789012:avatar-build-events"}, SNS: p, Log: quietLog,
		Now: func() time.Time { return time.Date(2026, 11, 23, 10, 44, 15, 0, time.UTC) }}
	if _, err := lambda.NewHandler(h.Handle).Invoke(context.Background(), goldenInput(t, golden)); err != nil {
		t.Fatal(err)
	}
	if len(p.got) != 1 {
		t.Fatalf("got %d publishes, want 1", len(p.got))
	}
	in := p.got[0]
	var msg map[string]string
	if err := json.Unmarshal([]byte(aws.ToString(in.Message)), &msg); err != nil {
		t.Fatalf("message is not the JSON MessageStructure wants: %v", err)
	}
	var ev pipeline.Event
	if err := json.Unmarshal([]byte(msg["default"]), &ev); err != nil {
		t.Fatalf("default message is not the JSON event: %v", err)
	}
	return in, msg, ev
}

func TestNotifyReady(t *testing.T) {
	in, msg, ev := notifyOnce(t, "notify_ready.json")
	if aws.ToString(in.MessageStructure) != "json" {
		t.Errorf("got MessageStructure %q, want json", aws.ToString(in.MessageStructure))
	}
	for _, proto := range []string{"http", "https"} {
		if msg[proto] != msg["default"] {
			t.Errorf("%s message differs from the default JSON event", proto)
		}
	}
	if ev.Type != "avatar.build.ready" || ev.Build.Status != records.StatusReady || ev.Build.AvatarID != testAvatarID {
		t.Errorf("got event %+v, want a READY event for %s", ev, testAvatarID)
	}
	if !strings.HasPrefix(ev.ID, "evt-") || ev.Time != "2026-11-23T10:44:15.000Z" {
		t.Errorf("got id %q time %q", ev.ID, ev.Time)
	}
	if ev.Build.ExecutionARN != "" || ev.Build.SubmitStartedAt != "" {
		t.Errorf("the event carries pipeline-internal fields: %+v", ev.Build)
	}
	if strings.Contains(msg["default"], "themes_attr") || strings.Contains(msg["default"], "outcome") {
		t.Errorf("the event carries workflow fields: %s", msg["default"])
	}
	wantAttrs := map[string]string{"status": "READY", "build_id": "0f1e2d3c4b5a69788796a5b4c3d2e1f0", "avatar_id": testAvatarID}
	for k, v := range wantAttrs {
		if got := aws.ToString(in.MessageAttributes[k].StringValue); got != v {
			t.Errorf("attribute %s: got %q, want %q", k, got, v)
		}
	}
	for _, want := range []string{`"Jane Doe" is READY`, "Themes:    Default, Casual", "44m12s (52 status checks)", "s3://avatar-portraits/portraits/jane doe.jpg (JPEG 1024×1024, 482113 bytes)"} {
		if !strings.Contains(msg["email"], want) {
			t.Errorf("email text lacks %q:\n%s", want, msg["email"])
		}
	}
	if got := aws.ToString(in.Subject); got != "Avatar build READY: Jane Doe" {
		t.Errorf("got subject %q", got)
	}

	// A retried Notify for the same news sends the same event id.
	_, _, again := notifyOnce(t, "notify_ready.json")
	if again.ID != ev.ID {
		t.Errorf("retry changed the event id: %s then %s", ev.ID, again.ID)
	}
}

func TestNotifyWithoutRecord(t *testing.T) {
	in, msg, ev := notifyOnce(t, "notify_admit_failed.json")
	if ev.Type != "avatar.build.failed" || ev.Build.Bucket != "avatar-portraits" || ev.Build.Key != "portraits/jane+doe.jpg" {
		t.Errorf("got %+v, want a FAILED event naming the object", ev)
	}
	if _, ok := in.MessageAttributes["avatar_id"]; ok {
		t.Error("empty avatar_id published as an attribute; SNS refuses empty attribute values")
	}
	if !strings.Contains(msg["email"], "Reason: register: throttled") {
		t.Errorf("email lacks the reason:\n%s", msg["email"])
	}
}

func TestNotifyPublishFailure(t *testing.T) {
	h := &Handler{Config: pipeline.NotifyConfig{TopicARN: "t"}, SNS: &publisher{err: errors.New("boom")}, Log: quietLog}
	_, err := lambda.NewHandler(h.Handle).Invoke(context.Background(), goldenInput(t, "notify_ready.json"))
	if lambdatest.ErrorType(err) != "PublishFailedError" {
		t.Fatalf("got %v (type %s), want PublishFailedError", err, lambdatest.ErrorType(err))
	}
}

func TestSubject(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"ascii", "Jane", "Avatar build READY: Jane"},
		{"unicode dropped", "Zoë 李", "Avatar build READY: Zo"},
		{"only unicode", "李", "Avatar build READY"},
		{"long", strings.Repeat("x", 200), "Avatar build READY: " + strings.Repeat("x", 76) + "..."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Subject(records.Record{Name: tc.in, Status: records.StatusReady})
			if got != tc.want || len(got) >= 100 {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

const testAvatarID = "a1b2c3d4-e5f6-7890-1234-567890abcdef"

var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

func goldenInput(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestAdmissionFailuresHaveDistinctEventIDs(t *testing.T) {
	ids := map[string]bool{}
	for _, exec := range []string{"arn:exec-1", "arn:exec-2"} {
		var in pipeline.StepInput
		json.Unmarshal(goldenInput(t, "notify_admit_failed.json"), &in)
		in.ExecutionARN = exec
		p := &publisher{}
		h := &Handler{Config: pipeline.NotifyConfig{TopicARN: "t"}, SNS: p, Log: quietLog}
		if _, err := h.Handle(context.Background(), in); err != nil {
			t.Fatal(err)
		}
		var msg map[string]string
		json.Unmarshal([]byte(aws.ToString(p.got[0].Message)), &msg)
		var ev pipeline.Event
		json.Unmarshal([]byte(msg["default"]), &ev)
		ids[ev.ID] = true
	}
	if len(ids) != 2 {
		t.Errorf("two failed admissions share an event id %v: receivers deduplicating on it would drop one", ids)
	}
}

func TestDescribe(t *testing.T) {
	long := strings.Repeat("x", 40000)
	tests := []struct {
		name       string
		err        *pipeline.StepError
		wantReason string
	}{
		{"a Lambda error", &pipeline.StepError{Error: "MirakoRejectedError", Cause: `{"errorMessage":"build avatar b1: 402 no credits","errorType":"MirakoRejectedError"}`}, "build avatar b1: 402 no credits"},
		{"a service error", &pipeline.StepError{Error: "DynamoDB.AmazonDynamoDBException", Cause: "Validation failed"}, "Validation failed"},
		{"a cause that looks like JSON and is not", &pipeline.StepError{Error: "States.TaskFailed", Cause: `{"errorMessage":"cut`}, `{"errorMessage":"cut`},
		{"a truncated cause", &pipeline.StepError{Error: "X", Cause: `{"errorMessage":"` + long}, `{"errorMessage":"` + long},
		{"no cause", &pipeline.StepError{Error: "States.Timeout"}, "States.Timeout"},
		{"no error at all", nil, "the pipeline failed without saying why"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Describe(pipeline.State{Error: tc.err})
			if got.Status != records.StatusFailed || got.Reason != tc.wantReason || got.ErrorName == "" {
				t.Errorf("got %s %q (error %q), want FAILED %q", got.Status, got.Reason, got.ErrorName, tc.wantReason)
			}
		})
	}
}
