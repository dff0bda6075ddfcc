// Command submit is the Submit Lambda: it admits an S3 upload as a build and
// streams the portrait to Mirako. All logic is in internal/pipeline.
package main

import (
	"context"
	"os"

	"github.com/avatar-pipeline/avatar-pipeline/internal/awsconfig"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/avatar-pipeline/avatar-pipeline/internal/pipeline/submit"
)

func main() {
	ctx := context.Background()
	log := lambdacontext.NewLogger()
	cfg, err := awsconfig.FromEnv(os.Getenv)
	if err != nil {
		log.Error("load AWS configuration", "error", err)
		os.Exit(1)
	}
	h, err := submit.NewFromEnv(ctx, cfg, os.Getenv, log)
	if err != nil {
		log.Error("start submit", "error", err)
		os.Exit(1)
	}
	lambda.Start(h.Handle)
}
