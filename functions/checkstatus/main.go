// Command checkstatus is the CheckStatus Lambda: one status poll of a build
// at Mirako. All logic is in internal/pipeline.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/avatar-pipeline/avatar-pipeline/internal/awsconfig"
	"github.com/avatar-pipeline/avatar-pipeline/internal/pipeline"
	"github.com/avatar-pipeline/avatar-pipeline/internal/pipeline/checkstatus"
)

func main() {
	log := lambdacontext.NewLogger()
	lambda.Start(pipeline.ColdStart(context.Background(), "checkstatus", log,
		func(ctx context.Context) (func(context.Context, pipeline.StepInput) (pipeline.State, error), error) {
			cfg, err := awsconfig.FromEnv(os.Getenv)
			if err != nil {
				return nil, err
			}
			h, err := checkstatus.NewFromEnv(ctx, cfg, os.Getenv, log)
			if err != nil {
				return nil, err
			}
			return h.Handle, nil
		}))
}
