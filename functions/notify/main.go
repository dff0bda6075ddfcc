// Command notify is the Notify Lambda: it publishes a build's news to SNS.
// All logic is in internal/pipeline.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/avatar-pipeline/avatar-pipeline/internal/awsconfig"
	"github.com/avatar-pipeline/avatar-pipeline/internal/pipeline"
	"github.com/avatar-pipeline/avatar-pipeline/internal/pipeline/notify"
)

func main() {
	log := lambdacontext.NewLogger()
	lambda.Start(pipeline.ColdStart(context.Background(), "notify", log,
		func(ctx context.Context) (func(context.Context, pipeline.StepInput) (struct{}, error), error) {
			cfg, err := awsconfig.FromEnv(os.Getenv)
			if err != nil {
				return nil, err
			}
			h, err := notify.NewFromEnv(ctx, cfg, os.Getenv, log)
			if err != nil {
				return nil, err
			}
			// The state machine discards Notify's result.
			return func(ctx context.Context, in pipeline.StepInput) (struct{}, error) {
				return struct{}{}, h.Handle(ctx, in)
			}, nil
		}))
}
