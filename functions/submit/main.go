// Command submit is the Submit Lambda: it admits an S3 upload as a build and
// streams the portrait to Mirako. All logic is in internal/pipeline/submit.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/avatar-pipeline/avatar-pipeline/internal/pipeline"
	"github.com/avatar-pipeline/avatar-pipeline/internal/pipeline/submit"
)

func main() { lambda.Start(submit.Lambda(pipeline.LambdaRuntime())) }
