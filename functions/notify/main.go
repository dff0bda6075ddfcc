// Command notify is the Notify Lambda: it publishes a build's news to SNS. All logic is in internal/pipeline/notify.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/avatar-pipeline/avatar-pipeline/internal/pipeline"
	"github.com/avatar-pipeline/avatar-pipeline/internal/pipeline/notify"
)

func main() { lambda.Start(notify.Lambda(pipeline.LambdaRuntime())) }
