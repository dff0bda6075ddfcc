package notify

import (
	"context"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/avatar-pipeline/avatar-pipeline/internal/metrics"
	"github.com/avatar-pipeline/avatar-pipeline/internal/pipeline"
)

// NewFromEnv builds the Notify function from its environment.
func NewFromEnv(_ context.Context, cfg aws.Config, getenv func(string) string, log *slog.Logger) (*Handler, error) {
	c, err := pipeline.NotifyConfigFromEnv(getenv)
	if err != nil {
		return nil, err
	}
	return &Handler{Config: c, SNS: sns.NewFromConfig(cfg), Log: log, Metrics: &metrics.Emitter{}}, nil
}
