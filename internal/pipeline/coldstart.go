package pipeline

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/avatar-pipeline/avatar-pipeline/internal/awsconfig"
)

// InitTimeout bounds the build at cold start, well inside the 10 s Lambda
// allows a function's init.
const InitTimeout = 5 * time.Second

// Runtime is what a function gets from the process it runs in: its
// environment, its logger and its standard output (where metric lines
// go). A function's main passes LambdaRuntime; the local stack passes one
// per in-process function, so both build handlers the same way.
type Runtime struct {
	Getenv func(string) string
	Log    *slog.Logger
	Stdout io.Writer
}

// LambdaRuntime is the runtime of a function on AWS Lambda: os.Getenv, and
// aws-lambda-go's logger, which honours AWS_LAMBDA_LOG_FORMAT and
// AWS_LAMBDA_LOG_LEVEL and adds the request id to every *Context call.
func LambdaRuntime() Runtime {
	return Runtime{Getenv: os.Getenv, Log: lambdacontext.NewLogger(), Stdout: os.Stdout}
}

// Serve returns the handler of a function: build makes it from the runtime
// and the AWS configuration in the runtime's environment, and handle serves
// an invocation with what build made. It is what each main passes to
// lambda.Start and what the local stack runs.
//
// If the build fails (a secret unreadable, say), the function does not exit,
// which Lambda would report as a bare Runtime.ExitError with no reason:
// each invocation builds again, and until a build succeeds it fails with
// AWSUnavailableError for a transient AWS fault (retried) or StartupError,
// whose message names the fix.
func Serve[H, In, Out any](function string, rt Runtime,
	build func(context.Context, aws.Config, Runtime) (H, error),
	handle func(H, context.Context, In) (Out, error)) func(context.Context, In) (Out, error) {
	newHandler := func(ctx context.Context) (H, error) {
		cfg, err := awsconfig.FromEnv(rt.Getenv)
		if err != nil {
			var zero H
			return zero, err
		}
		return build(ctx, cfg, rt)
	}
	var mu sync.Mutex
	ctx, cancel := context.WithTimeout(context.Background(), InitTimeout)
	h, err := newHandler(ctx)
	cancel()
	ready := err == nil
	if !ready {
		rt.Log.Error("cold start failed; each invocation will try again", "function", function, "error", err)
	}
	return func(ctx context.Context, in In) (Out, error) {
		mu.Lock()
		if !ready {
			if h, err = newHandler(ctx); err != nil {
				mu.Unlock()
				var zero Out
				return zero, StartupFailure(function, err)
			}
			ready = true
			rt.Log.InfoContext(ctx, "started on a later invocation", "function", function)
		}
		served := h
		mu.Unlock()
		return handle(served, ctx, in)
	}
}

// StartupFailure is the boundary error for a function that could not get
// ready to serve: AWSUnavailableError when the cause is a transient AWS
// fault, StartupError otherwise (err itself if it is one of them already).
func StartupFailure(function string, err error) error {
	var startup *StartupError
	var unavailable *AWSUnavailableError
	switch {
	case errors.As(err, &startup), errors.As(err, &unavailable):
		return err
	case isTransientAWS(err):
		return &AWSUnavailableError{Op: "start the " + function + " function", Err: err}
	}
	return &StartupError{Function: function, Err: err}
}
