// Command submit is the Submit Lambda: it admits an S3 upload as a build and
// streams the portrait to Mirako. All logic is in internal/pipeline.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/avatar-pipeline/avatar-pipeline/internal/awsconfig"
	"github.com/avatar-pipeline/avatar-pipeline/internal/pipeline"
	"github.com/avatar-pipeline/avatar-pipeline/internal/pipeline/submit"
)

func main() {
	log := lambdacontext.NewLogger()
	lambda.Start(pipeline.ColdStart(context.Background(), "submit", log,
		func(ctx context.Context) (func(context.Context, pipeline.SubmitInput) (pipeline.State, error), error) {
			cfg, err := awsconfig.FromEnv(os.Getenv)
			if err != nil {
				return nil, err
			}
			h, err := submit.NewFromEnv(ctx, cfg, os.Getenv, log)
			if err != nil {
				return nil, err
			}
			return h.Handle, nil
		}))
}
