// Package mirako is a client for the part of the Mirako API (https://mirako.co) that the pipeline uses:
// building an avatar from a portrait, reading its status, listing and deleting avatars.
//
// The contract is Mirako's published OpenAPI 3.1 specification (vendored in openapi/,
// with its licence); each method names the operationId it calls. The client is shaped like google/go-github: a
// Client holding an *http.Client, a base URL and a token, methods that take a context first, and one
// checkResponse that turns every non-2xx answer into a typed error (*APIError, *RateLimitError) and
// every failure to get a well-formed answer into a *TransportError. IsTransient classifies those errors
// for the workflow's retry policy.
//
// The client never retries: async_build has no idempotency key, so a repeated POST may create a second,
// billed avatar, and that decision belongs to the state machine. (net/http itself may resend a GET or
// DELETE once when a reused connection breaks before any answer; the build request, whose body can be
// read only once, is never resent.) The build request streams the image
// (see BuildBody) instead of holding it, its base64 and a JSON copy in memory.
//
// The token is sent only in the Authorization header; it never appears in an error, a log line or the
// client's String output.
package mirako

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// DefaultBaseURL is Mirako's public API endpoint, used when NewClient is given an empty base URL.
const DefaultBaseURL = "https://mirako.co"

const (
	defaultTimeout       = 15 * time.Second
	defaultUploadTimeout = 4 * time.Minute
	defaultUserAgent     = "avatar-pipeline-mirako/1"

	// maxErrorBody bounds how much of an error answer is read: problem+json bodies are small, and a
	// misbehaving proxy must not make us buffer a large page.
	maxErrorBody = 64 << 10

	// maxResponseBody bounds a successful answer. The list endpoint is the largest; 8 MiB is room for
	// thousands of avatars with presigned theme URLs.
	maxResponseBody = 8 << 20

	acceptHeader = "application/json, application/problem+json"
)

// Client calls the Mirako API. Create it with NewClient; it is safe for concurrent use.
type Client struct {
	httpClient    *http.Client
	baseURL       string // without trailing slash
	token         string
	userAgent     string
	timeout       time.Duration
	uploadTimeout time.Duration

	source  func(context.Context) (string, error) // see WithTokenSource
	tokenMu sync.Mutex
}

// Option configures a Client in NewClient.
type Option func(*Client)

// NewClient returns a client for the API at baseURL (DefaultBaseURL when empty; a trailing slash is
// tolerated) that authenticates with token as a Bearer token.
func NewClient(baseURL, token string, opts ...Option) *Client {
	if baseURL == "" {
		baseURL = DefaultBaseURL
	}
	c := &Client{
		httpClient:    &http.Client{},
		baseURL:       strings.TrimRight(baseURL, "/"),
		token:         token,
		userAgent:     defaultUserAgent,
		timeout:       defaultTimeout,
		uploadTimeout: defaultUploadTimeout,
	}
	for _, opt := range opts {
		opt(c)
	}
	return c
}

// WithHTTPClient makes the client send its requests through hc (nil keeps the default). The client
// sets its own per-request deadlines (WithTimeout, WithUploadTimeout) through the request context, so
// hc.Timeout may stay zero.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) {
		if hc != nil {
			c.httpClient = hc
		}
	}
}

// WithTimeout sets the deadline of each Get, List and Delete call, reading the answer included
// (default 15s). Zero or less leaves only the caller's context.
func WithTimeout(d time.Duration) Option {
	return func(c *Client) { c.timeout = d }
}

// WithUploadTimeout sets the deadline of a Build call, upload and answer included (default 4m).
// Callers running in a Lambda function set it shorter than the function's timeout, so that a slow
// upload ends as a *TransportError the workflow can see instead of a killed invocation.
// Zero or less leaves only the caller's context.
func WithUploadTimeout(d time.Duration) Option {
	return func(c *Client) { c.uploadTimeout = d }
}

// WithTokenSource makes the client read its token from source when it first needs one, and again
// after Mirako refuses it (401): a rotated token then takes effect at once. A call without a body
// (Get, List, Delete) that meets a 401 is sent once more with the token read again; Build is not,
// since its body cannot be replayed: its caller may post again. An error of source is returned as
// it is.
func WithTokenSource(source func(context.Context) (string, error)) Option {
	return func(c *Client) { c.source = source }
}

// Authenticate makes sure the client has a token, reading it from its source if need be.
func (c *Client) Authenticate(ctx context.Context) error {
	_, err := c.currentToken(ctx)
	return err
}

func (c *Client) currentToken(ctx context.Context) (string, error) {
	c.tokenMu.Lock()
	defer c.tokenMu.Unlock()
	if c.token == "" && c.source != nil {
		t, err := c.source(ctx)
		if err != nil {
			return "", err
		}
		c.token = t
	}
	return c.token, nil
}

// refused forgets a token Mirako answered 401 to, if it came from the source.
func (c *Client) refused(token string) {
	c.tokenMu.Lock()
	defer c.tokenMu.Unlock()
	if c.source != nil && c.token == token {
		c.token = ""
	}
}

// WithUserAgent sets the User-Agent header of every request.
func WithUserAgent(ua string) Option {
	return func(c *Client) {
		if ua != "" {
			c.userAgent = ua
		}
	}
}

// String describes the client without its token, so that printing a Client (%v, %+v) cannot leak it.
func (c *Client) String() string {
	c.tokenMu.Lock()
	defer c.tokenMu.Unlock()
	return fmt.Sprintf("mirako.Client{baseURL: %q, token: %s}", c.baseURL, redactedToken(c.token))
}

// GoString is String for %#v.
func (c *Client) GoString() string { return c.String() }

func redactedToken(token string) string {
	if token == "" {
		return "(none)"
	}
	return "(redacted)"
}

// newRequest builds a request for path (which starts with "/") with the headers every call sends.
func (c *Client) newRequest(ctx context.Context, method, path string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.baseURL+path, body)
	if err != nil {
		// The error names the URL, which holds no secret: the token lives only in a header.
		return nil, fmt.Errorf("mirako: %s %s: new request: %w", method, path, err)
	}
	token, err := c.currentToken(ctx)
	if err != nil {
		return nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Accept", acceptHeader)
	req.Header.Set("User-Agent", c.userAgent)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req, nil
}

// withTimeout derives the context of one call.
func withTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}

// do sends req and returns the response after checkResponse accepted it; the caller reads and closes
// its body. A failure to send or to get an answer is a *TransportError.
func (c *Client) do(req *http.Request, path string) (*http.Response, error) {
	resp, err := c.httpClient.Do(req)
	if err != nil {
		return nil, newTransportError(req.Method, path, err)
	}
	if err := c.checkResponse(resp, req.Method, path); err != nil {
		resp.Body.Close()
		var api *APIError
		if errors.As(err, &api) && api.StatusCode == http.StatusUnauthorized {
			c.refused(strings.TrimPrefix(req.Header.Get("Authorization"), "Bearer "))
		}
		return nil, err
	}
	return resp, nil
}

// send makes a call without a body under the client's timeout; after a 401 to a token from the
// source it tries once more with the token read again. The caller reads the body and calls cancel.
func (c *Client) send(ctx context.Context, method, path string) (*http.Response, context.CancelFunc, error) {
	ctx, cancel := withTimeout(ctx, c.timeout)
	for attempt := 0; ; attempt++ {
		req, err := c.newRequest(ctx, method, path, nil)
		if err != nil {
			cancel()
			return nil, nil, err
		}
		resp, err := c.do(req, path)
		var api *APIError
		if attempt == 0 && c.source != nil && errors.As(err, &api) && api.StatusCode == http.StatusUnauthorized {
			continue
		}
		if err != nil {
			cancel()
			return nil, nil, err
		}
		return resp, cancel, nil
	}
}

// decodeData reads a 2xx JSON answer of the form {"data": …} into v. A body that is empty, truncated,
// larger than maxResponseBody or not that JSON is a *TransportError: the call may have had its effect,
// but the answer was lost on the way.
func decodeData(resp *http.Response, method, path string, v any) error {
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody+1))
	if err != nil {
		return newTransportError(method, path, fmt.Errorf("read response: %w", err))
	}
	if len(raw) > maxResponseBody {
		return newTransportError(method, path, fmt.Errorf("response larger than %d bytes", maxResponseBody))
	}
	if len(raw) == 0 {
		return newTransportError(method, path, errEmptyResponse)
	}
	var envelope struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(raw, &envelope); err != nil {
		return newTransportError(method, path, fmt.Errorf("decode response: %w", err))
	}
	if envelope.Data == nil {
		return newTransportError(method, path, fmt.Errorf("decode response: %w", errNoData))
	}
	if err := json.Unmarshal(envelope.Data, v); err != nil {
		return newTransportError(method, path, fmt.Errorf("decode response data: %w", err))
	}
	return nil
}

// discard drains and closes a body we do not read, so the connection can be reused.
func discard(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
	resp.Body.Close()
}
