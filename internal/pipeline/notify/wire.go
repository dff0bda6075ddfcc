package notify

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/avatar-pipeline/avatar-pipeline/internal/metrics"
	"github.com/avatar-pipeline/avatar-pipeline/internal/pipeline"
)

// Lambda is the Notify function's handler, built from its runtime.
func Lambda(rt pipeline.Runtime) func(context.Context, pipeline.StepInput) (pipeline.State, error) {
	return pipeline.Serve("notify", rt, NewFromEnv, (*Handler).Handle)
}

// NewFromEnv builds the Notify function from its environment.
func NewFromEnv(_ context.Context, cfg aws.Config, rt pipeline.Runtime) (*Handler, error) {
	c, err := pipeline.NotifyConfigFromEnv(rt.Getenv)
	if err != nil {
		return nil, err
	}
	return &Handler{Config: c, SNS: sns.NewFromConfig(cfg), Log: rt.Log, Metrics: &metrics.Emitter{W: rt.Stdout}}, nil
}
