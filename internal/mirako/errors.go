package mirako

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ErrorDetail is one entry of a problem's "errors" list (spec schema ErrorDetail), e.g. a field that
// failed validation. Error() never prints Value: for a build it may be part of the image.
type ErrorDetail struct {
	Location string `json:"location,omitempty"` // e.g. "body.image"
	Message  string `json:"message,omitempty"`
	Value    any    `json:"value,omitempty"`
}

// APIError is a non-2xx answer from Mirako. The problem fields come from its problem+json body (spec
// schema ErrorModel, RFC 9457) when it has one; otherwise Title is the status text.
type APIError struct {
	StatusCode                    int `json:"-"` // of the answer, trusted over the body's "status"
	Type, Title, Detail, Instance string
	Errors                        []ErrorDetail
	Method, Path                  string `json:"-"` // e.g. "POST" and "/v1/avatar/async_build"; never a URL
}

// Error reads like "mirako: POST /v1/avatar/async_build: 402 Payment Required: insufficient credits".
func (e *APIError) Error() string {
	s := fmt.Sprintf("mirako: %s %s: %d", e.Method, e.Path, e.StatusCode)
	if title := cmp.Or(e.Title, http.StatusText(e.StatusCode)); title != "" {
		s += " " + title
	}
	if e.Detail != "" && e.Detail != e.Title {
		s += ": " + e.Detail
	}
	var details []string
	for _, d := range e.Errors {
		if d.Location != "" && d.Message != "" {
			d.Location += ": "
		}
		if d.Location+d.Message != "" {
			details = append(details, d.Location+d.Message)
		}
	}
	if len(details) > 0 {
		s += " (" + strings.Join(details, "; ") + ")"
	}
	return s
}

// RateLimitError is a 429 answer; RetryAfter is its Retry-After header (seconds or HTTP-date), 0
// when absent or unreadable. It unwraps to its *APIError.
type RateLimitError struct {
	APIError
	RetryAfter time.Duration
}

// Error is the APIError text with the requested wait.
func (e *RateLimitError) Error() string {
	if e.RetryAfter > 0 {
		return fmt.Sprintf("%s (retry after %s)", e.APIError.Error(), e.RetryAfter)
	}
	return e.APIError.Error()
}

// Unwrap returns the embedded *APIError.
func (e *RateLimitError) Unwrap() error { return &e.APIError }

// TransportError means no usable answer came back: the connection failed, the call timed out or was
// cancelled, or a 2xx answer was empty, cut or not the documented JSON. After Build it does not prove
// that no avatar was created.
type TransportError struct {
	Method, Path string // the call, e.g. "GET" and "/v1/avatar/abc"
	Err          error  // for a timeout, errors.Is(Err, context.DeadlineExceeded)
}

// Error reads like "mirako: GET /v1/avatar/abc: connection reset by peer".
func (e *TransportError) Error() string {
	return fmt.Sprintf("mirako: %s %s: %v", e.Method, e.Path, e.Err)
}

// Unwrap returns the underlying failure.
func (e *TransportError) Unwrap() error { return e.Err }

// ErrImageSize is wrapped by Build's error when the image reader yields fewer or more bytes than the
// size it was given; the upload is aborted before the body is complete.
var ErrImageSize = errors.New("image size mismatch")

// newTransportError unwraps a *url.Error, whose text repeats the URL that Method and Path name.
func newTransportError(method, path string, err error) *TransportError {
	if ue := (*url.Error)(nil); errors.As(err, &ue) {
		err = ue.Err
	}
	return &TransportError{Method: method, Path: path, Err: err}
}

// IsTransient reports whether err is worth retrying later: a *TransportError or a 408, 429, 500,
// 502, 503 or 504 answer. Other answers will not change by waiting; errors from elsewhere are false.
func IsTransient(err error) bool {
	var te *TransportError
	var ae *APIError
	switch {
	case errors.As(err, &te):
		return true
	case errors.As(err, &ae):
		return slices.Contains([]int{408, 429, 500, 502, 503, 504}, ae.StatusCode)
	}
	return false
}

// checkResponse returns nil for a 2xx answer and otherwise an *APIError (*RateLimitError for 429)
// from the problem+json body, or from the status alone when the body is missing or unreadable. It
// reads at most maxErrorBody bytes and removes token from what the server echoed back.
func checkResponse(resp *http.Response, method, path, token string) error {
	if resp.StatusCode/100 == 2 {
		return nil
	}
	scrub := func(s string) string {
		if token == "" {
			return s
		}
		return strings.ReplaceAll(s, token, "(redacted)")
	}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	var e APIError
	if json.Unmarshal(raw, &e) != nil {
		e = APIError{} // a body that is not problem+json leaves only the status
	}
	e.StatusCode, e.Method, e.Path = resp.StatusCode, method, path
	e.Type, e.Title, e.Detail, e.Instance = scrub(e.Type), scrub(e.Title), scrub(e.Detail), scrub(e.Instance)
	for i := range e.Errors {
		d := &e.Errors[i]
		d.Location, d.Message = scrub(d.Location), scrub(d.Message)
		if s, ok := d.Value.(string); ok {
			d.Value = scrub(s)
		}
	}
	e.Title = cmp.Or(e.Title, http.StatusText(resp.StatusCode))
	if resp.StatusCode == http.StatusTooManyRequests {
		return &RateLimitError{APIError: e, RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())}
	}
	return &e
}

// parseRetryAfter reads delay-seconds or an HTTP-date (RFC 9110 §10.2.3) relative to now; 0 for an
// absent, unreadable or past value.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		const maxSecs = int64(1<<63-1) / int64(time.Second)
		return time.Duration(min(max(secs, 0), maxSecs)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
