// Package lambdatest asks aws-lambda-go itself what Lambda reports for a
// handler's error, so that tests hold the functions to the library's rule
// instead of a copy of it. Only tests import it.
package lambdatest

import (
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambda/messages"
)

// ErrorType is the errorType aws-lambda-go reports for a handler that
// returns err: the name the state machine's Retry and Catch rules match.
// It is "<nil>" when err is nil.
func ErrorType(err error) string {
	if err == nil {
		return "<nil>"
	}
	var res messages.InvokeResponse
	//lint:ignore SA1019 the RPC entry point is the library's one exported way to run an invocation in-process.
	lambda.NewFunction(lambda.NewHandler(func() error { return err })).Invoke(&messages.InvokeRequest{}, &res)
	return res.Error.Type
}
