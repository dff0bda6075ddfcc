package local

import (
	"cmp"
	"context"
	"io"
	"log/slog"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/avatar-pipeline/avatar-pipeline/internal/pipeline"
	"github.com/avatar-pipeline/avatar-pipeline/internal/pipeline/checkstatus"
	"github.com/avatar-pipeline/avatar-pipeline/internal/pipeline/notify"
	"github.com/avatar-pipeline/avatar-pipeline/internal/pipeline/submit"
	"github.com/avatar-pipeline/avatar-pipeline/internal/pipeline/sweep"
	"github.com/avatar-pipeline/avatar-pipeline/internal/pipeline/webhook"
)

// function is one of template.yaml's Lambda functions as the local stack
// runs it: with the handler its main runs, built the same way (from its
// environment, through pipeline.Serve), and the template's timeout. The
// parity test checks these against the SAM transform of the template.
type function struct {
	LogicalID string
	Name      string // the local function name, the last part of its ARN
	Timeout   time.Duration
	Env       []string // the variables the template sets
	Handler   func(pipeline.Runtime) lambda.Handler
}

var functions = []function{
	{"SubmitFunction", SubmitFunctionName, 300 * time.Second, pipeline.SubmitEnv, func(rt pipeline.Runtime) lambda.Handler { return lambda.NewHandler(submit.Lambda(rt)) }},
	{"CheckStatusFunction", CheckFunctionName, 30 * time.Second, pipeline.CheckStatusEnv, func(rt pipeline.Runtime) lambda.Handler { return lambda.NewHandler(checkstatus.Lambda(rt)) }},
	{"NotifyFunction", NotifyFunctionName, 30 * time.Second, pipeline.NotifyEnv, func(rt pipeline.Runtime) lambda.Handler { return lambda.NewHandler(notify.Lambda(rt)) }},
	{"SweepFunction", SweepFunctionName, 120 * time.Second, pipeline.SweepEnv, func(rt pipeline.Runtime) lambda.Handler { return lambda.NewHandler(sweep.Lambda(rt)) }},
	{"WebhookFunction", WebhookFunctionName, 30 * time.Second, webhook.Env, func(rt pipeline.Runtime) lambda.Handler { return lambda.NewHandler(webhook.Lambda(rt)) }},
}

// The template's parameter defaults that reach the functions' environment.
const (
	defaultSecretName       = "avatar-pipeline/mirako-token"
	defaultLearnedHeadStart = "true"
)

// environment is each function's environment, by local name: the
// variables the template sets, at the template's defaults with the local
// resources, the local overrides from o, and the AWS variables the Lambda
// runtime sets (the local endpoint, and credentials whose access key names
// the function, so that every request it signs names its caller).
func environment(o Options, endpoint, mirakoURL string, r Resources) map[string]map[string]string {
	s := pipeline.DefaultSchedule
	headStart, interval, deadline := int(s.HeadStart/time.Second), int(s.Interval/time.Second), int(s.Deadline/time.Second)
	if o.PollSeconds > 0 {
		headStart, interval = o.PollSeconds, o.PollSeconds
		// Polling more often than the template allows needs a shorter
		// deadline to stay within the workflow's check bound.
		deadline = min(deadline, o.PollSeconds*(pipeline.MaxChecks-1))
	}
	if o.DeadlineSeconds > 0 {
		deadline = o.DeadlineSeconds
	}
	values := map[string]string{
		pipeline.EnvBuildsTable:      TableName,
		pipeline.EnvMirakoURL:        mirakoURL,
		pipeline.EnvMirakoSecretID:   defaultSecretName,
		pipeline.EnvHeadStart:        strconv.Itoa(headStart),
		pipeline.EnvPollInterval:     strconv.Itoa(interval),
		pipeline.EnvDeadline:         strconv.Itoa(deadline),
		pipeline.EnvNotifyOnSubmit:   strconv.FormatBool(o.NotifyOnSubmit),
		pipeline.EnvLearnedHeadStart: defaultLearnedHeadStart,
		pipeline.EnvStrictChecks:     strconv.FormatBool(o.StrictChecks),
		pipeline.EnvQueueDeadline:    strconv.Itoa(int(pipeline.DefaultQueueDeadline / time.Second)),
		pipeline.EnvMaxInFlight:      strconv.Itoa(o.MaxInFlight),
		pipeline.EnvTopicARN:         r.TopicARN,
		pipeline.EnvStateMachineARN:  r.StateMachineARN,
		pipeline.EnvSweepAfter:       strconv.Itoa(int(pipeline.DefaultSweepAfter / time.Second)),
		webhook.EnvURL:               cmp.Or(o.WebhookURL, endpoint+WebhookPath),
		webhook.EnvSecretID:          WebhookSecretName,
		webhook.EnvQueueURL:          r.WebhookQueueURL,
	}
	out := map[string]map[string]string{}
	for _, fn := range functions {
		env := map[string]string{"AWS_REGION": Region, "AWS_ENDPOINT_URL": endpoint,
			"AWS_ACCESS_KEY_ID": fn.LogicalID, "AWS_SECRET_ACCESS_KEY": "local"}
		for _, k := range fn.Env {
			env[k] = values[k]
		}
		if fn.Name == WebhookFunctionName && o.WebhookRetrySeconds > 0 {
			env[webhook.EnvRetrySeconds] = strconv.Itoa(o.WebhookRetrySeconds)
		}
		out[fn.Name] = env
	}
	return out
}

// runtimeOf is a function's runtime in the local stack: its environment,
// its log lines (with the request id, as Lambda's logger adds it) to log,
// and its standard output (metric lines) to stdout.
func runtimeOf(env map[string]string, log, stdout io.Writer) pipeline.Runtime {
	return pipeline.Runtime{
		Getenv: func(k string) string { return env[k] },
		Log:    slog.New(requestIDHandler{slog.NewTextHandler(log, nil)}),
		Stdout: stdout,
	}
}

// requestIDHandler adds the invocation's request id to every record logged
// with its context, as lambdacontext's handler does in Lambda.
type requestIDHandler struct{ slog.Handler }

func (h requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		r.AddAttrs(slog.String("requestId", lc.AwsRequestID))
	}
	return h.Handler.Handle(ctx, r)
}

func (h requestIDHandler) WithAttrs(a []slog.Attr) slog.Handler {
	return requestIDHandler{h.Handler.WithAttrs(a)}
}

func (h requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{h.Handler.WithGroup(name)}
}
