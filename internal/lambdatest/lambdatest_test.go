package lambdatest

import (
	"errors"
	"fmt"
	"testing"
)

type valueError struct{}

func (valueError) Error() string { return "value" }

type pointerError struct{}

func (*pointerError) Error() string { return "pointer" }

func TestErrorType(t *testing.T) {
	for err, want := range map[error]string{
		nil:                                     "<nil>",
		errors.New("plain"):                     "errorString",
		fmt.Errorf("wrapped: %w", valueError{}): "wrapError",
		valueError{}:                            "valueError",
		&pointerError{}:                         "pointerError",
	} {
		if got := ErrorType(err); got != want {
			t.Errorf("ErrorType(%v) = %q, want %q", err, got, want)
		}
	}
}
