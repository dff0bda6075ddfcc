package pipeline

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/smithy-go"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// awsEnv is the environment the Lambda runtime gives a function.
var awsEnv = map[string]string{"AWS_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "secret", EnvTopicARN: "arn:topic"}

func TestServeRetriesAFailedColdStart(t *testing.T) {
	throttled := &smithy.GenericAPIError{Code: "ThrottlingException", Message: "Rate exceeded"}
	missing := &smithy.GenericAPIError{Code: "ResourceNotFoundException", Message: "Secrets Manager can't find the specified secret."}
	tests := []struct {
		name     string
		failures []error // what the builds fail with, in turn, before one succeeds
		want     []string
	}{
		{name: "starts at once", want: []string{"echo a", "echo b"}},
		{name: "throttled, then starts", failures: []error{throttled, throttled},
			want: []string{"AWSUnavailableError", "echo b", "echo c"}},
		{name: "never starts", failures: []error{missing, missing, missing, missing},
			want: []string{"StartupError", "StartupError", "StartupError"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			builds := 0
			build := func(ctx context.Context, cfg aws.Config, rt Runtime) (string, error) {
				builds++
				if deadline, ok := ctx.Deadline(); builds == 1 && (!ok || time.Until(deadline) > InitTimeout) {
					t.Errorf("the build at cold start has no deadline within %s", InitTimeout)
				}
				if cfg.Region != "eu-west-1" || rt.Getenv(EnvTopicARN) != "arn:topic" {
					t.Errorf("got region %q and topic %q, want the runtime's environment", cfg.Region, rt.Getenv(EnvTopicARN))
				}
				if builds <= len(tc.failures) {
					return "", tc.failures[builds-1]
				}
				return "echo", nil
			}
			rt := Runtime{Getenv: func(k string) string { return awsEnv[k] }, Log: quiet()}
			h := Serve("submit", rt, build, func(prefix string, _ context.Context, in string) (string, error) { return prefix + " " + in, nil })
			if builds != 1 {
				t.Fatalf("built %d times before any invocation, want once", builds)
			}
			for i, want := range tc.want {
				out, err := h(context.Background(), string(rune('a'+i)))
				var unavailable *AWSUnavailableError
				var startup *StartupError
				got := out
				switch {
				case errors.As(err, &unavailable):
					got = "AWSUnavailableError"
				case errors.As(err, &startup):
					got = "StartupError"
					if !strings.Contains(err.Error(), "submit function setup failed") || !strings.Contains(err.Error(), "can't find the specified secret") {
						t.Errorf("the error does not say what is wrong: %v", err)
					}
				case err != nil:
					t.Fatalf("invocation %d: untyped error %v", i, err)
				}
				if got != want {
					t.Errorf("invocation %d: got %q, want %q", i, got, want)
				}
			}
			if want := min(len(tc.failures)+1, 1+len(tc.want)); builds != want {
				t.Errorf("built %d times, want %d (until one succeeded)", builds, want)
			}
		})
	}
}

func TestServeNamesMissingAWSEnvironment(t *testing.T) {
	env := map[string]string{EnvTopicARN: "arn:topic"}
	rt := Runtime{Getenv: func(k string) string { return env[k] }, Log: quiet()}
	h := Serve("notify", rt, func(context.Context, aws.Config, Runtime) (string, error) { return "built", nil },
		func(s string, _ context.Context, in string) (string, error) { return s + " " + in, nil })
	_, err := h(context.Background(), "news")
	var startup *StartupError
	if !errors.As(err, &startup) || !strings.Contains(err.Error(), "AWS_REGION") {
		t.Fatalf("got %v, want a StartupError naming AWS_REGION", err)
	}
	// Once the environment is right, the next invocation builds and serves.
	for k, v := range awsEnv {
		env[k] = v
	}
	if got, err := h(context.Background(), "news"); err != nil || got != "built news" {
		t.Errorf("got %q, %v, want %q", got, err, "built news")
	}
}
