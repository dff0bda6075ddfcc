package checkstatus

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/avatar-pipeline/avatar-pipeline/internal/metrics"
	"github.com/avatar-pipeline/avatar-pipeline/internal/mirako"
	"github.com/avatar-pipeline/avatar-pipeline/internal/pipeline"
	"github.com/avatar-pipeline/avatar-pipeline/internal/secret"
)

// StatusTimeout bounds one GET of the avatar, well inside the function's
// 30 s timeout.
const StatusTimeout = 15 * time.Second

// Lambda is the CheckStatus function's handler, built from its runtime.
func Lambda(rt pipeline.Runtime) func(context.Context, pipeline.StepInput) (pipeline.State, error) {
	return pipeline.Serve("checkstatus", rt, NewFromEnv, (*Handler).Handle)
}

// NewFromEnv builds the CheckStatus function from its environment. It
// reads the Mirako token at cold start (every invocation needs it), and
// again when Mirako refuses it (a rotated token).
func NewFromEnv(ctx context.Context, cfg aws.Config, rt pipeline.Runtime) (*Handler, error) {
	c, err := pipeline.CheckStatusConfigFromEnv(rt.Getenv)
	if err != nil {
		return nil, err
	}
	sm := secretsmanager.NewFromConfig(cfg)
	client := mirako.NewClient(c.MirakoURL, "", mirako.WithTimeout(StatusTimeout),
		mirako.WithTokenSource(func(ctx context.Context) (string, error) {
			token, err := secret.Read(ctx, sm, c.SecretID)
			if err != nil {
				return "", pipeline.StartupFailure("checkstatus", err)
			}
			return token, nil
		}))
	if err := client.Authenticate(ctx); err != nil {
		return nil, err
	}
	return &Handler{Config: c, Mirako: client, Log: rt.Log, Metrics: &metrics.Emitter{W: rt.Stdout}}, nil
}
