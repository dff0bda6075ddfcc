package pipeline

import (
	"context"
	"log/slog"
	"sync"
)

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
	handler, err := build(ctx)
	if err != nil {
		log.Error("cold start failed; each invocation will try again", "function", function, "error", err)
	}
	return func(ctx context.Context, in In) (Out, error) {
		mu.Lock()
		if handler == nil {
			if handler, err = build(ctx); err != nil {
				mu.Unlock()
				var zero Out
				if isTransientAWS(err) {
					return zero, &AWSUnavailableError{Op: "start the " + function + " function", Err: err}
				}
				return zero, &StartupError{Function: function, Err: err}
			}
			log.Info("started on a later invocation", "function", function)
		}
		h := handler
		mu.Unlock()
		return h(ctx, in)
	}
}
