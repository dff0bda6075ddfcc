// Command emptylambda is the smallest Go Lambda function: it reads nothing
// and answers every invocation with nothing. benchreport measures its cold
// start beside the pipeline's functions, so that their init times can be
// read against what exec, the Go runtime and the Lambda client library
// cost on the same machine.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	lambda.Start(func(context.Context) error { return nil })
}
