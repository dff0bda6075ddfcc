package sweep

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/avatar-pipeline/avatar-pipeline/internal/metrics"
	"github.com/avatar-pipeline/avatar-pipeline/internal/pipeline"
	"github.com/avatar-pipeline/avatar-pipeline/internal/records/store"
)

// Summary is the scheduled run's result: how many builds it acted on.
type Summary struct {
	Resumed  int `json:"resumed"`
	Released int `json:"released_slots"`
}

// Handler is the Sweep function, run by a schedule.
type Handler struct {
	Sweeper *Sweeper
	After   time.Duration // a build is stale once this long without an update
}

// Handle sweeps; the schedule's event carries nothing it needs.
func (h *Handler) Handle(ctx context.Context, _ any) (Summary, error) {
	results, err := h.Sweeper.Sweep(ctx, time.Now().Add(-h.After), false)
	var sum Summary
	for _, r := range results {
		switch r.Action {
		case ActionResumed:
			sum.Resumed++
		case ActionReleased:
			sum.Released++
		}
	}
	if err != nil {
		return sum, pipeline.AWSError("sweep", err)
	}
	return sum, nil
}

// Lambda is the Sweep function's handler, built from its runtime.
func Lambda(rt pipeline.Runtime) func(context.Context, any) (Summary, error) {
	return pipeline.Serve("sweep", rt, NewFromEnv, (*Handler).Handle)
}

// NewFromEnv builds the Sweep function from its environment.
func NewFromEnv(_ context.Context, cfg aws.Config, rt pipeline.Runtime) (*Handler, error) {
	c, err := pipeline.SweepConfigFromEnv(rt.Getenv)
	if err != nil {
		return nil, err
	}
	return &Handler{After: c.After, Sweeper: &Sweeper{
		Records:         &store.Table{DB: dynamodb.NewFromConfig(cfg), Name: c.Table},
		Workflow:        sfn.NewFromConfig(cfg),
		StateMachineARN: c.StateMachineARN,
		Log:             rt.Log,
		Metrics:         &metrics.Emitter{W: rt.Stdout},
	}}, nil
}
