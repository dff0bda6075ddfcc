// Command webhook is the Webhook Lambda: it POSTs each notification from its
// queue to the user's URL, signed the Standard Webhooks way. All logic is in
// internal/pipeline/webhook.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/avatar-pipeline/avatar-pipeline/internal/pipeline"
	"github.com/avatar-pipeline/avatar-pipeline/internal/pipeline/webhook"
)

func main() { lambda.Start(webhook.Lambda(pipeline.LambdaRuntime())) }
