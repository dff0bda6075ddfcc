package pipeline

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"

	"github.com/avatar-pipeline/avatar-pipeline/internal/metrics"
	"github.com/avatar-pipeline/avatar-pipeline/internal/mirako"
)

// The errors below cross the Lambda boundary. aws-lambda-go reports an
// error's Go type name as its errorType, and the state machine's Retry and
// Catch rules match those names, so the names are part of the contract:
// rename one only together with statemachine/build.asl.json.

// RateLimitedError: Mirako answered 429. The state machine retries it with
// backoff and jitter.
type RateLimitedError struct {
	Op         string
	RetryAfter time.Duration
	Err        error
}

func (e *RateLimitedError) Error() string {
	if e.RetryAfter > 0 {
		return fmt.Sprintf("%s: Mirako rate limit, retry after %s: %v", e.Op, e.RetryAfter, e.Err)
	}
	return fmt.Sprintf("%s: Mirako rate limit: %v", e.Op, e.Err)
}
func (e *RateLimitedError) Unwrap() error { return e.Err }

// MirakoUnavailableError: Mirako could not be reached or answered with a
// server error or a garbled body. The state machine retries it.
type MirakoUnavailableError struct {
	Op  string
	Err error
}

func (e *MirakoUnavailableError) Error() string {
	return fmt.Sprintf("%s: Mirako unavailable: %v", e.Op, e.Err)
}
func (e *MirakoUnavailableError) Unwrap() error { return e.Err }

// MirakoRejectedError: Mirako refused the request for good (bad token, no
// credits, forbidden, invalid input, unknown avatar). The state machine
// records the build FAILED with this message as its reason.
type MirakoRejectedError struct {
	Op  string
	Err error
}

func (e *MirakoRejectedError) Error() string { return fmt.Sprintf("%s: %v", e.Op, e.Err) }
func (e *MirakoRejectedError) Unwrap() error { return e.Err }

// AWSUnavailableError: an AWS call failed in a way worth retrying
// (throttling, a server error, a network fault) after the SDK's own retries.
type AWSUnavailableError struct {
	Op  string
	Err error
}

func (e *AWSUnavailableError) Error() string { return fmt.Sprintf("%s: %v", e.Op, e.Err) }
func (e *AWSUnavailableError) Unwrap() error { return e.Err }

// SubmitInProgressError: another attempt of the same build has claimed the
// POST to Mirako and may still be running (the state machine retries a
// Lambda service error while the first invocation can still run). The
// state machine retries it for longer than the Submit function's timeout:
// by then the other attempt has recorded its avatar, or a retry adopts it,
// or the claim has lapsed and the retry posts.
type SubmitInProgressError struct {
	BuildID string
	Until   time.Time // when the claim lapses; zero if unknown
}

func (e *SubmitInProgressError) Error() string {
	if e.Until.IsZero() {
		return fmt.Sprintf("submit %s: another attempt of this build is posting it to Mirako; a retry adopts its avatar", e.BuildID)
	}
	return fmt.Sprintf("submit %s: another attempt of this build may be posting it to Mirako until %s; a retry adopts its avatar, or posts once that has passed",
		e.BuildID, e.Until.UTC().Format(time.RFC3339))
}

// PublishFailedError: SNS did not take the notification.
type PublishFailedError struct {
	BuildID string
	Err     error
}

func (e *PublishFailedError) Error() string {
	return fmt.Sprintf("publish notification for build %s: %v", e.BuildID, e.Err)
}
func (e *PublishFailedError) Unwrap() error { return e.Err }

// StartupError: the function could not start because of something a retry
// will not mend (a missing environment variable, the Mirako token's secret
// missing, empty or not readable by the function's role). The state
// machine records the build FAILED with this message, which names the fix.
type StartupError struct {
	Function string
	Err      error
}

func (e *StartupError) Error() string {
	return fmt.Sprintf("%s function setup failed: %v", e.Function, e.Err)
}
func (e *StartupError) Unwrap() error { return e.Err }

// MirakoError turns a Mirako client error into the boundary error the state
// machine expects, and counts it by HTTP status.
func MirakoError(m *metrics.Emitter, op string, err error) error {
	// The client could not be made (the token unreadable): not Mirako's
	// doing, and already a boundary error.
	var startup *StartupError
	var unavailable *AWSUnavailableError
	if errors.As(err, &startup) || errors.As(err, &unavailable) {
		return err
	}
	status := 0
	var api *mirako.APIError
	if errors.As(err, &api) {
		status = api.StatusCode
	}
	m.MirakoError(status, op)
	if errors.Is(err, mirako.ErrImageSize) {
		// The object yielded another size than S3 announced: reading it
		// again may work.
		return &AWSUnavailableError{Op: op, Err: err}
	}
	var rl *mirako.RateLimitError
	if errors.As(err, &rl) {
		return &RateLimitedError{Op: op, RetryAfter: rl.RetryAfter, Err: err}
	}
	if mirako.IsTransient(err) {
		return &MirakoUnavailableError{Op: op, Err: err}
	}
	return &MirakoRejectedError{Op: op, Err: err}
}

// AWSError marks transient AWS failures so the state machine retries them;
// anything else is returned wrapped with op, to be recorded as FAILED.
func AWSError(op string, err error) error {
	if isTransientAWS(err) {
		return &AWSUnavailableError{Op: op, Err: err}
	}
	return fmt.Errorf("%s: %w", op, err)
}

func isTransientAWS(err error) bool {
	if retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(err).Bool() {
		return true
	}
	if retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(err).Bool() {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "ProvisionedThroughputExceededException", "RequestLimitExceeded", "ThrottlingException",
			"InternalServerError", "ServiceUnavailable", "SlowDown":
			return true
		}
	}
	return false
}
