// Command checkstatus is the CheckStatus Lambda: one status poll of a build at
// Mirako. All logic is in internal/pipeline/checkstatus.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/avatar-pipeline/avatar-pipeline/internal/pipeline"
	"github.com/avatar-pipeline/avatar-pipeline/internal/pipeline/checkstatus"
)

func main() { lambda.Start(checkstatus.Lambda(pipeline.LambdaRuntime())) }
