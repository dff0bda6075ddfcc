package submit

import (
	"context"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/avatar-pipeline/avatar-pipeline/internal/metrics"
	"github.com/avatar-pipeline/avatar-pipeline/internal/mirako"
	"github.com/avatar-pipeline/avatar-pipeline/internal/pipeline"
	"github.com/avatar-pipeline/avatar-pipeline/internal/secret"
)

// Timeouts of Mirako calls, shorter than the Submit function's 300 s so
// that a slow Mirako ends as a typed error the state machine retries, not
// as a killed function.
const (
	UploadTimeout = 240 * time.Second
	ListTimeout   = 15 * time.Second
)

// NewFromEnv builds the Submit function from its environment: what
// functions/submit does at cold start, and the local stack in-process.
func NewFromEnv(ctx context.Context, cfg aws.Config, getenv func(string) string, log *slog.Logger) (*Handler, error) {
	c, err := pipeline.SubmitConfigFromEnv(getenv)
	if err != nil {
		return nil, err
	}
	token, err := secret.Read(ctx, secretsmanager.NewFromConfig(cfg), c.SecretID)
	if err != nil {
		return nil, err
	}
	db := dynamodb.NewFromConfig(cfg)
	h := &Handler{
		Config:  c,
		Objects: s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = cfg.BaseEndpoint != nil }),
		Table:   db,
		Mirako:  mirako.NewClient(c.MirakoURL, token, mirako.WithUploadTimeout(UploadTimeout), mirako.WithTimeout(ListTimeout)),
		Log:     log,
		Metrics: &metrics.Emitter{},
	}
	if c.LearnedHeadStart {
		h.HeadStart = &LearnedHeadStart{Table: db, TableName: c.Table, Schedule: c.Schedule, Log: log}
	}
	return h, nil
}
