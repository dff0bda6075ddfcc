// Command notify is the Notify Lambda: it publishes a build's news to SNS.
// All logic is in internal/pipeline.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/avatar-pipeline/avatar-pipeline/internal/pipeline"
	"github.com/avatar-pipeline/avatar-pipeline/internal/pipeline/notify"
)

func main() {
	lambda.Start(pipeline.HandlerFromEnv("notify", notify.NewFromEnv,
		// The state machine discards Notify's result.
		func(h *notify.Handler, ctx context.Context, in pipeline.StepInput) (struct{}, error) {
			return struct{}{}, h.Handle(ctx, in)
		}))
}
