package mirako

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// ErrorDetail is one entry of a problem's "errors" list (spec schema ErrorDetail), e.g. a field that
// failed validation.
type ErrorDetail struct {
	// Location is where the error occurred, e.g. "body.image".
	Location string `json:"location,omitempty"`
	// Message is the error text.
	Message string `json:"message,omitempty"`
	// Value is the offending value as the server echoed it. Error() never prints it: for the build
	// request it may be (part of) the image.
	Value any `json:"value,omitempty"`
}

// APIError is any non-2xx answer from Mirako. Its fields come from the application/problem+json body
// (spec schema ErrorModel, RFC 9457) when there is one; otherwise Title is the status text and the
// other problem fields are empty. Not every Mirako error has a body.
type APIError struct {
	// StatusCode is the HTTP status of the answer (the body's "status" member is not trusted over it).
	StatusCode int
	// Type, Title, Detail and Instance are the problem members of the same names.
	Type, Title, Detail, Instance string
	// Errors lists individual problems, e.g. per request field.
	Errors []ErrorDetail
	// Method and Path name the call, e.g. "POST" and "/v1/avatar/async_build"; never a full URL.
	Method, Path string
}

// Error reads like "mirako: POST /v1/avatar/async_build: 402 Payment Required: insufficient credits".
func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "mirako: %s %s: %d", e.Method, e.Path, e.StatusCode)
	if title := e.title(); title != "" {
		b.WriteString(" " + title)
	}
	if e.Detail != "" && e.Detail != e.Title {
		b.WriteString(": " + e.Detail)
	}
	var details []string
	for _, d := range e.Errors {
		switch {
		case d.Location != "" && d.Message != "":
			details = append(details, d.Location+": "+d.Message)
		case d.Location != "" || d.Message != "":
			details = append(details, d.Location+d.Message)
		}
	}
	if len(details) > 0 {
		b.WriteString(" (" + strings.Join(details, "; ") + ")")
	}
	return b.String()
}

func (e *APIError) title() string {
	if e.Title != "" {
		return e.Title
	}
	return http.StatusText(e.StatusCode)
}

// RateLimitError is a 429 answer. RetryAfter is the wait the server asked for in its Retry-After
// header (delay-seconds or HTTP-date), 0 when absent or unreadable. Mirako publishes no rate limits.
// It unwraps to its *APIError, so errors.As(err, &apiErr) also matches a 429.
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

// TransportError means no usable answer came back: the connection was refused or reset, the call
// timed out or was cancelled, or a 2xx answer was empty, truncated or not the documented JSON
// ("garbled"). A TransportError from Build does not prove that no avatar was created.
type TransportError struct {
	// Method and Path name the call, e.g. "GET" and "/v1/avatar/{id}" with the id filled in.
	Method, Path string
	// Err is the underlying failure (for a timeout, errors.Is(err, context.DeadlineExceeded) holds).
	Err error
}

// Error reads like "mirako: GET /v1/avatar/abc: connection reset by peer".
func (e *TransportError) Error() string {
	return fmt.Sprintf("mirako: %s %s: %v", e.Method, e.Path, e.Err)
}

// Unwrap returns the underlying failure.
func (e *TransportError) Unwrap() error { return e.Err }

// ErrImageSize is wrapped by the error Build returns when the image reader yields fewer or more bytes
// than the size it was given. The request is aborted before a complete body is sent.
var ErrImageSize = errors.New("image size mismatch")

var (
	errEmptyResponse = errors.New("empty response body")
	errNoData        = errors.New(`no "data" member`)
)

// newTransportError wraps err; a *url.Error is unwrapped first, because its text repeats the URL
// that Method and Path already name.
func newTransportError(method, path string, err error) *TransportError {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return &TransportError{Method: method, Path: path, Err: err}
}

// IsTransient reports whether err is worth retrying later: a 408, 429, 500, 502, 503 or 504 answer,
// or a *TransportError. Other API errors (400, 401, 402, 403, 404, 422, …) will not change by
// waiting, and an error that did not come from this package is not judged here (false).
func IsTransient(err error) bool {
	var te *TransportError
	if errors.As(err, &te) {
		return true
	}
	var ae *APIError
	if errors.As(err, &ae) {
		switch ae.StatusCode {
		case http.StatusRequestTimeout, http.StatusTooManyRequests,
			http.StatusInternalServerError, http.StatusBadGateway,
			http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			return true
		}
	}
	return false
}

// problem is the ErrorModel schema as it arrives on the wire.
type problem struct {
	Type     string        `json:"type"`
	Title    string        `json:"title"`
	Detail   string        `json:"detail"`
	Instance string        `json:"instance"`
	Errors   []ErrorDetail `json:"errors"`
}

// checkResponse returns nil for a 2xx answer and otherwise an *APIError (a *RateLimitError for 429)
// built from the problem+json body when it has one and from the status line when it has none or an
// unreadable one. It reads at most maxErrorBody bytes of the body and leaves closing it to the caller.
func (c *Client) checkResponse(resp *http.Response, method, path string) error {
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		return nil
	}
	apiErr := APIError{StatusCode: resp.StatusCode, Method: method, Path: path}
	// A read error or a body cut at the limit just leaves the problem fields empty: the status alone
	// classifies the error.
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	var p problem
	if len(raw) > 0 && json.Unmarshal(raw, &p) == nil {
		apiErr.Type = c.scrub(p.Type)
		apiErr.Title = c.scrub(p.Title)
		apiErr.Detail = c.scrub(p.Detail)
		apiErr.Instance = c.scrub(p.Instance)
		for _, d := range p.Errors {
			d.Location = c.scrub(d.Location)
			d.Message = c.scrub(d.Message)
			if s, ok := d.Value.(string); ok {
				d.Value = c.scrub(s)
			}
			apiErr.Errors = append(apiErr.Errors, d)
		}
	}
	if apiErr.Title == "" {
		apiErr.Title = http.StatusText(resp.StatusCode)
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		return &RateLimitError{
			APIError:   apiErr,
			RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()),
		}
	}
	return &apiErr
}

// scrub removes the token from text the server sent back, in case it echoes request headers.
func (c *Client) scrub(s string) string {
	if c.token == "" || !strings.Contains(s, c.token) {
		return s
	}
	return strings.ReplaceAll(s, c.token, "(redacted)")
}

// parseRetryAfter reads a Retry-After value, delay-seconds or HTTP-date (RFC 9110 §10.2.3), relative
// to now. It returns 0 for an absent, unreadable or past value.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		const maxSecs = int64(1<<63-1) / int64(time.Second)
		if secs > maxSecs {
			secs = maxSecs
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}
