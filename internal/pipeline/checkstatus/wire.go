package checkstatus

import (
	"context"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/avatar-pipeline/avatar-pipeline/internal/metrics"
	"github.com/avatar-pipeline/avatar-pipeline/internal/mirako"
	"github.com/avatar-pipeline/avatar-pipeline/internal/pipeline"
	"github.com/avatar-pipeline/avatar-pipeline/internal/secret"
)

// StatusTimeout bounds one GET of the avatar, well inside the CheckStatus
// function's 30 s.
const StatusTimeout = 15 * time.Second

// NewFromEnv builds the CheckStatus function from its environment.
func NewFromEnv(ctx context.Context, cfg aws.Config, getenv func(string) string, log *slog.Logger) (*Handler, error) {
	c, err := pipeline.CheckStatusConfigFromEnv(getenv)
	if err != nil {
		return nil, err
	}
	token, err := secret.Read(ctx, secretsmanager.NewFromConfig(cfg), c.SecretID)
	if err != nil {
		return nil, err
	}
	return &Handler{
		Config:  c,
		Mirako:  mirako.NewClient(c.MirakoURL, token, mirako.WithTimeout(StatusTimeout)),
		Log:     log,
		Metrics: &metrics.Emitter{},
	}, nil
}
