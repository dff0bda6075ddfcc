package pipeline

import (
	"context"
	"log/slog"
	"sync"
	"time"
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

// StartupFailure is the boundary error for a function that could not get
// ready to serve: AWSUnavailableError when the cause is a transient AWS
// fault, StartupError otherwise.
func StartupFailure(function string, err error) error {
	if isTransientAWS(err) {
		return &AWSUnavailableError{Op: "start the " + function + " function", Err: err}
	}
	return &StartupError{Function: function, Err: err}
}
