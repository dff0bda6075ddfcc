package submit

import (
	"context"
	"io"
	"log/slog"
	"sync"
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
	sm := secretsmanager.NewFromConfig(cfg)
	db := dynamodb.NewFromConfig(cfg)
	h := &Handler{
		Config:  c,
		Objects: s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = cfg.BaseEndpoint != nil }),
		Table:   db,
		Mirako: &mirakoOnFirstUse{open: func(ctx context.Context) (*mirako.Client, error) {
			token, err := secret.Read(ctx, sm, c.SecretID)
			if err != nil {
				return nil, err
			}
			return mirako.NewClient(c.MirakoURL, token, mirako.WithUploadTimeout(UploadTimeout), mirako.WithTimeout(ListTimeout)), nil
		}},
		Log:     log,
		Metrics: &metrics.Emitter{},
	}
	if c.LearnedHeadStart {
		h.HeadStart = &LearnedHeadStart{Table: db, TableName: c.Table, Schedule: c.Schedule, Log: log}
	}
	return h, nil
}

// mirakoOnFirstUse reads the Mirako token when Submit first calls Mirako,
// not at cold start: the admit step never calls Mirako, so a token that
// cannot be read fails a build after admission has recorded it, and the
// reason is recorded with the build (and the sweep can find it).
type mirakoOnFirstUse struct {
	open func(context.Context) (*mirako.Client, error)

	mu     sync.Mutex
	client *mirako.Client
}

// Ready reads the token if it has not been read yet.
func (m *mirakoOnFirstUse) Ready(ctx context.Context) error {
	_, err := m.get(ctx)
	return err
}

func (m *mirakoOnFirstUse) get(ctx context.Context) (*mirako.Client, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.client == nil {
		ctx, cancel := context.WithTimeout(ctx, pipeline.InitTimeout)
		defer cancel()
		c, err := m.open(ctx)
		if err != nil {
			return nil, pipeline.StartupFailure("submit", err)
		}
		m.client = c
	}
	return m.client, nil
}

func (m *mirakoOnFirstUse) Build(ctx context.Context, name string, image io.Reader, size int64) (string, error) {
	c, err := m.get(ctx)
	if err != nil {
		return "", err
	}
	return c.Build(ctx, name, image, size)
}

func (m *mirakoOnFirstUse) List(ctx context.Context) ([]mirako.Avatar, error) {
	c, err := m.get(ctx)
	if err != nil {
		return nil, err
	}
	return c.List(ctx)
}
