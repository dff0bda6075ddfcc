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

func TestColdStart(t *testing.T) {
	throttled := &smithy.GenericAPIError{Code: "ThrottlingException", Message: "Rate exceeded"}
	missing := &smithy.GenericAPIError{Code: "ResourceNotFoundException", Message: "Secrets Manager can't find the specified secret."}
	echo := func(_ context.Context, in string) (string, error) { return "echo " + in, nil }
	log := slog.New(slog.NewTextHandler(io.Discard, nil))

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
			h := ColdStart(context.Background(), "submit", log, func(ctx context.Context) (func(context.Context, string) (string, error), error) {
				builds++
				if deadline, ok := ctx.Deadline(); builds == 1 && (!ok || time.Until(deadline) > InitTimeout) {
					t.Errorf("the build at cold start has no deadline within %s", InitTimeout)
				}
				if builds <= len(tc.failures) {
					return nil, tc.failures[builds-1]
				}
				return echo, nil
			})
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

func TestHandlerFromEnv(t *testing.T) {
	type handler struct {
		region, topic string
	}
	newFromEnv := func(_ context.Context, cfg aws.Config, getenv func(string) string, _ *slog.Logger) (*handler, error) {
		return &handler{region: cfg.Region, topic: getenv(EnvTopicARN)}, nil
	}
	handle := func(h *handler, _ context.Context, in string) (string, error) {
		return in + " in " + h.region + " to " + h.topic, nil
	}
	for _, k := range []string{"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"} {
		t.Setenv(k, "")
	}
	t.Setenv(EnvTopicARN, "arn:topic")

	// Without the AWS environment the function starts, and says what is missing.
	h := HandlerFromEnv("notify", newFromEnv, handle)
	_, err := h(context.Background(), "news")
	var startup *StartupError
	if !errors.As(err, &startup) || !strings.Contains(err.Error(), "AWS_REGION") {
		t.Fatalf("got %v, want a StartupError naming AWS_REGION", err)
	}

	// Once the environment is right, the next invocation builds and serves.
	t.Setenv("AWS_REGION", "eu-west-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKID")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	got, err := h(context.Background(), "news")
	if want := "news in eu-west-1 to arn:topic"; err != nil || got != want {
		t.Errorf("got %q, %v, want %q", got, err, want)
	}
}
