// Command sweep is the Sweep Lambda, run every 15 minutes: it re-drives
// builds whose execution died and gives back unneeded in-flight slots. All
// logic is in internal/pipeline/sweep.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/avatar-pipeline/avatar-pipeline/internal/pipeline"
	"github.com/avatar-pipeline/avatar-pipeline/internal/pipeline/sweep"
)

func main() { lambda.Start(sweep.Lambda(pipeline.LambdaRuntime())) }
