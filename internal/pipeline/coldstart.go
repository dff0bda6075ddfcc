package pipeline

import (
	"context"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/avatar-pipeline/avatar-pipeline/internal/awsconfig"
)

// InitTimeout bounds the build at cold start, well inside the 10 s Lambda
// allows a function's init: past it, the first invocation builds again
// within its own deadline and fails with a typed error if it cannot.
const InitTimeout = 5 * time.Second

// ColdStart builds a function's handler at cold start and returns a
// handler that serves with it.
//
// If the build fails (the token's secret unreadable, say), the function
// starts all the same instead of exiting, which Lambda would report as a
// bare Runtime.ExitError with no reason: each invocation builds again, and
// until a build succeeds it fails with a typed error the state machine
// understands, AWSUnavailableError for a transient AWS fault (retried) and
// StartupError for anything else (the build recorded FAILED with the
// reason).
func ColdStart[In, Out any](ctx context.Context, function string, log *slog.Logger,
	build func(context.Context) (func(context.Context, In) (Out, error), error)) func(context.Context, In) (Out, error) {
	var mu sync.Mutex
	initCtx, cancel := context.WithTimeout(ctx, InitTimeout)
	handler, err := build(initCtx)
	cancel()
	if err != nil {
		log.Error("cold start failed; each invocation will try again", "function", function, "error", err)
	}
	return func(ctx context.Context, in In) (Out, error) {
		mu.Lock()
		if handler == nil {
			if handler, err = build(ctx); err != nil {
				mu.Unlock()
				var zero Out
				return zero, StartupFailure(function, err)
			}
			log.Info("started on a later invocation", "function", function)
		}
		h := handler
		mu.Unlock()
		return h(ctx, in)
	}
}

// HandlerFromEnv is what a function's main passes to lambda.Start: the
// handler ColdStart builds with newFromEnv from the Lambda environment (the
// AWS configuration from awsconfig.FromEnv, the function's own variables
// through os.Getenv), logging with lambdacontext.NewLogger. handle serves
// an invocation with what newFromEnv built, usually its Handle method.
//
// Each main passes its own step package's NewFromEnv, so each function
// still links only the AWS clients its step uses.
func HandlerFromEnv[H, In, Out any](function string,
	newFromEnv func(context.Context, aws.Config, func(string) string, *slog.Logger) (H, error),
	handle func(H, context.Context, In) (Out, error)) func(context.Context, In) (Out, error) {
	log := lambdacontext.NewLogger()
	return ColdStart(context.Background(), function, log, func(ctx context.Context) (func(context.Context, In) (Out, error), error) {
		cfg, err := awsconfig.FromEnv(os.Getenv)
		if err != nil {
			return nil, err
		}
		h, err := newFromEnv(ctx, cfg, os.Getenv, log)
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context, in In) (Out, error) { return handle(h, ctx, in) }, nil
	})
}

// StartupFailure is the boundary error for a function that could not get
// ready to serve: AWSUnavailableError when the cause is a transient AWS
// fault, StartupError otherwise.
func StartupFailure(function string, err error) error {
	if isTransientAWS(err) {
		return &AWSUnavailableError{Op: "start the " + function + " function", Err: err}
	}
	return &StartupError{Function: function, Err: err}
}
