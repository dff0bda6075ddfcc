// Package submit is the Submit function: admission, which turns an S3
// upload into a registered build once however often its event arrives,
// and submission, which checks the portrait and posts it to Mirako once
// however often the state machine retries it.
package submit

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/avatar-pipeline/avatar-pipeline/internal/face"
	"github.com/avatar-pipeline/avatar-pipeline/internal/metrics"
	"github.com/avatar-pipeline/avatar-pipeline/internal/mirako"
	"github.com/avatar-pipeline/avatar-pipeline/internal/pipeline"
	"github.com/avatar-pipeline/avatar-pipeline/internal/portrait"
	"github.com/avatar-pipeline/avatar-pipeline/internal/records/store"
	"github.com/avatar-pipeline/avatar-pipeline/internal/secret"
)

// Timeouts of Mirako calls, shorter than the function's 300 s, so that a
// slow Mirako ends as a typed error the state machine retries rather than
// as a killed function.
const (
	UploadTimeout = 240 * time.Second
	ListTimeout   = 15 * time.Second
)

// Handler is the Submit function: one function, two steps of the workflow.
type Handler struct {
	Admission  *Admission
	Submission *Submission
}

// Handle is the Lambda handler.
func (h *Handler) Handle(ctx context.Context, in pipeline.SubmitInput) (pipeline.State, error) {
	switch in.Step {
	case pipeline.StepAdmit:
		return h.Admission.Admit(ctx, in.Event, in.ExecutionARN)
	case pipeline.StepSubmit:
		if in.Build == nil {
			return pipeline.State{}, errors.New("submit: input has no build")
		}
		return h.Submission.Submit(ctx, *in.Build)
	}
	return pipeline.State{}, fmt.Errorf("submit: unknown step %q, want %q or %q", in.Step, pipeline.StepAdmit, pipeline.StepSubmit)
}

// Lambda is the Submit function's handler, built from its runtime.
func Lambda(rt pipeline.Runtime) func(context.Context, pipeline.SubmitInput) (pipeline.State, error) {
	return pipeline.Serve("submit", rt, NewFromEnv, (*Handler).Handle)
}

// NewFromEnv builds the Submit function from its environment. The Mirako
// token is read when Submit first calls Mirako, not at cold start:
// admission never does, so an unreadable token fails a build after
// admission has recorded it, with the reason.
func NewFromEnv(ctx context.Context, cfg aws.Config, rt pipeline.Runtime) (*Handler, error) {
	c, err := pipeline.SubmitConfigFromEnv(rt.Getenv)
	if err != nil {
		return nil, err
	}
	sm := secretsmanager.NewFromConfig(cfg)
	table := &store.Table{DB: dynamodb.NewFromConfig(cfg), Name: c.Table}
	objects := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = cfg.BaseEndpoint != nil })
	token := func(ctx context.Context) (string, error) {
		ctx, cancel := context.WithTimeout(ctx, pipeline.InitTimeout)
		defer cancel()
		t, err := secret.Read(ctx, sm, c.SecretID)
		if err != nil {
			return "", pipeline.StartupFailure("submit", err)
		}
		return t, nil
	}
	sub := &Submission{
		Config:  c,
		Objects: objects,
		Records: table,
		Mirako: mirako.NewClient(c.MirakoURL, "", mirako.WithTokenSource(token),
			mirako.WithUploadTimeout(UploadTimeout), mirako.WithTimeout(ListTimeout)),
		Policy:  portrait.Policy{Strict: c.StrictChecks, FaceDetector: face.New()},
		Log:     rt.Log,
		Metrics: &metrics.Emitter{W: rt.Stdout},
	}
	if c.LearnedHeadStart {
		sub.HeadStart = &LearnedHeadStart{Table: table, Schedule: c.Schedule, Log: rt.Log}
	}
	adm := &Admission{Objects: objects, Records: table, Log: rt.Log,
		Resumed: func(st pipeline.State) pipeline.State { return sub.Polling(st, time.Second) }}
	return &Handler{Admission: adm, Submission: sub}, nil
}
