package local

import (
	"context"
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// startBaseT starts moto behind a gateway on free ports for one test. A
// machine without moto_server fails the test with the install hint.
func startBaseT(t *testing.T) *base {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b, err := startBase(ctx, "127.0.0.1:0", t.Logf, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.close)
	return b
}

// Error types named like the pipeline's, to prove that a Go type name
// reaches Retry and Catch.
type RateLimitedError struct{}

func (*RateLimitedError) Error() string { return "slow down" }

type MirakoRejectedError struct{ Reason string }

func (e MirakoRejectedError) Error() string { return "rejected: " + e.Reason }

// probeDefinition exercises what the pipeline's state machine relies on:
// a Lambda task with Payload.$, ResultSelector and ResultPath, a Retry on a
// typed error, a Catch on another (a value type) and on a panic.
const probeDefinition = `{
  "StartAt": "Echo",
  "States": {
    "Echo": {
      "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
      "Parameters": {"FunctionName": "${echo}", "Payload": {"key.$": "$.detail.object.key", "version.$": "$.detail.object.version-id"}},
      "ResultSelector": {"echo.$": "$.Payload"}, "ResultPath": "$.echo", "Next": "Flaky"
    },
    "Flaky": {
      "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
      "Parameters": {"FunctionName": "flaky", "Payload": {}},
      "Retry": [{"ErrorEquals": ["RateLimitedError"], "IntervalSeconds": 1, "MaxAttempts": 3, "BackoffRate": 1}],
      "ResultSelector": {"attempts.$": "$.Payload.attempts"}, "ResultPath": "$.flaky", "Next": "Reject"
    },
    "Reject": {
      "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
      "Parameters": {"FunctionName": "reject", "Payload": {}},
      "Catch": [{"ErrorEquals": ["MirakoRejectedError"], "ResultPath": "$.rejected", "Next": "Boom"}],
      "End": true
    },
    "Boom": {
      "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
      "Parameters": {"FunctionName": "boom", "Payload": {}},
      "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.boom", "Next": "Done"}],
      "End": true
    },
    "Done": {"Type": "Pass", "Parameters": {"echo.$": "$.echo.echo", "flaky.$": "$.flaky", "rejected.$": "$.rejected.Error", "boom.$": "$.boom.Error"}, "End": true}
  }
}`

// TestMotoThroughGateway proves the local stack's plumbing with a
// throwaway state machine: an S3 upload reaches the pump through
// EventBridge and SQS, the pump starts an execution with the event as
// input, Lambda tasks run in-process through the gateway, and error type
// names reach Retry and Catch.
func TestMotoThroughGateway(t *testing.T) {
	t.Parallel()
	began := time.Now()
	b := startBaseT(t)
	t.Logf("moto and gateway up in %s", time.Since(began).Round(time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	var flakyCalls atomic.Int32
	b.gw.Register(Function{Name: "echo", Timeout: time.Second, Handler: lambda.NewHandler(
		func(ctx context.Context, in map[string]string) (map[string]string, error) {
			in["seen"] = "yes"
			return in, nil
		})})
	b.gw.Register(Function{Name: "flaky", Timeout: time.Second, Handler: lambda.NewHandler(
		func() (map[string]int32, error) {
			n := flakyCalls.Add(1)
			if n < 3 {
				return nil, &RateLimitedError{}
			}
			return map[string]int32{"attempts": n}, nil
		})})
	b.gw.Register(Function{Name: "reject", Timeout: time.Second, Handler: lambda.NewHandler(
		func() error { return MirakoRejectedError{Reason: "too small"} })})
	b.gw.Register(Function{Name: "boom", Timeout: time.Second, Handler: lambda.NewHandler(
		func() error { panic("boom") })})

	cfg := Config(b.endpoint)
	def := strings.ReplaceAll(probeDefinition, "${echo}", functionARN("echo"))
	res, err := Provision(ctx, cfg, ProvisionInput{Definition: def, Token: "t", SecretID: "probe/token"})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("resources provisioned at %s", time.Since(began).Round(time.Millisecond))
	pumpCtx, stopPump := context.WithCancel(ctx)
	pumped := make(chan struct{})
	go func() {
		defer close(pumped)
		(&Pump{Queue: sqs.NewFromConfig(cfg), Workflow: sfn.NewFromConfig(cfg), QueueURL: res.EventQueueURL,
			StateMachineARN: res.StateMachineARN, Logf: t.Logf, Wait: 1}).Run(pumpCtx)
	}()
	defer func() { stopPump(); <-pumped }()

	key := "nested dir/a b+c ü.png"
	put, err := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true }).PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(res.Bucket), Key: aws.String(key), Body: strings.NewReader("portrait"),
	})
	if err != nil {
		t.Fatal(err)
	}

	t.Logf("uploaded at %s", time.Since(began).Round(time.Millisecond))
	sf := sfn.NewFromConfig(cfg)
	finished := waitExecutions(ctx, t, sf, res.StateMachineARN, 1, true)[0]
	exec, err := sf.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: finished.ExecutionArn})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("execution started %s, finished %s (at %s)", exec.StartDate.Format(time.StampMilli), exec.StopDate.Format(time.StampMilli), time.Since(began).Round(time.Millisecond))
	if exec.Status != sfntypes.ExecutionStatusSucceeded {
		t.Fatalf("got execution %s %s: %s %s, want SUCCEEDED", aws.ToString(exec.Name), exec.Status, aws.ToString(exec.Error), aws.ToString(exec.Cause))
	}
	var input struct {
		Source string `json:"source"`
		Detail struct {
			Object struct {
				Key string `json:"key"`
			} `json:"object"`
		} `json:"detail"`
	}
	if err := json.Unmarshal([]byte(aws.ToString(exec.Input)), &input); err != nil {
		t.Fatal(err)
	}
	if input.Source != "aws.s3" || input.Detail.Object.Key != key {
		t.Errorf("got input source %q key %q, want the S3 event for %q", input.Source, input.Detail.Object.Key, key)
	}

	var out struct {
		Echo     map[string]string      `json:"echo"`
		Flaky    struct{ Attempts int } `json:"flaky"`
		Rejected string                 `json:"rejected"`
		Boom     string                 `json:"boom"`
	}
	if err := json.Unmarshal([]byte(aws.ToString(exec.Output)), &out); err != nil {
		t.Fatalf("output %s: %v", aws.ToString(exec.Output), err)
	}
	if got, want := out.Echo["key"], key; got != want {
		t.Errorf("got echoed key %q, want %q", got, want)
	}
	if got, want := out.Echo["version"], aws.ToString(put.VersionId); got != want || got == "" {
		t.Errorf("got echoed version-id %q, want %q", got, want)
	}
	if out.Echo["seen"] != "yes" {
		t.Errorf("got echo %v, want the function's result", out.Echo)
	}
	if out.Flaky.Attempts != 3 {
		t.Errorf("got flaky succeeding on attempt %d, want 3 (two RateLimitedError retried)", out.Flaky.Attempts)
	}
	if out.Rejected != "MirakoRejectedError" {
		t.Errorf("got caught error %q, want MirakoRejectedError", out.Rejected)
	}
	if out.Boom != "string" {
		t.Errorf("got panic caught as %q, want string (the panic value's type, as the Go runtime reports it)", out.Boom)
	}

	stopPump()
	<-pumped
	b.close()
	if !groupGone(b.moto.cmd) {
		t.Error("moto_server's process group is still there after Close")
	}
}
