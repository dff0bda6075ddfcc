// Command checkstatus is the CheckStatus Lambda: one status poll of a build
// at Mirako. All logic is in internal/pipeline.
package main

import (
	"context"
	"os"

	"github.com/avatar-pipeline/avatar-pipeline/internal/awsconfig"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/avatar-pipeline/avatar-pipeline/internal/pipeline/checkstatus"
)

func main() {
	ctx := context.Background()
	log := lambdacontext.NewLogger()
	cfg, err := awsconfig.FromEnv(os.Getenv)
	if err != nil {
		log.Error("load AWS configuration", "error", err)
		os.Exit(1)
	}
	h, err := checkstatus.NewFromEnv(ctx, cfg, os.Getenv, log)
	if err != nil {
		log.Error("start checkstatus", "error", err)
		os.Exit(1)
	}
	lambda.Start(h.Handle)
}
