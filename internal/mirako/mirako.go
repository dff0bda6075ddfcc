// Package mirako is a client, shaped like google/go-github, for the part of the Mirako API
// (https://mirako.co) the pipeline uses; its contract is Mirako's OpenAPI spec, vendored in openapi/.
//
// It never retries: async_build has no idempotency key, so a second POST may bill a second avatar,
// and that choice belongs to the state machine. The token is sent only in the Authorization header,
// never in an error or the client's String.
package mirako

import (
	"cmp"
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
	userAgent            = "avatar-pipeline-mirako/1"
	maxErrorBody         = 64 << 10 // problem+json is small; a proxy's error page is not worth buffering
	maxResponseBody      = 8 << 20  // the list, with presigned theme URLs, is the largest answer
)

// Client calls the Mirako API. Create it with NewClient; it is safe for concurrent use.
type Client struct {
	httpClient             *http.Client
	baseURL                string // without trailing slash
	timeout, uploadTimeout time.Duration
	source                 func(context.Context) (string, error) // see WithTokenSource

	mu    sync.Mutex
	token string
}

// Option configures a Client in NewClient.
type Option func(*Client)

// NewClient returns a client for the API at baseURL (DefaultBaseURL when empty) that sends token as
// a Bearer token.
func NewClient(baseURL, token string, opts ...Option) *Client {
	c := &Client{httpClient: &http.Client{}, baseURL: strings.TrimRight(cmp.Or(baseURL, DefaultBaseURL), "/"), token: token,
		timeout: defaultTimeout, uploadTimeout: defaultUploadTimeout}
	for _, opt := range opts {
		opt(c)
	}
	return c
}

// WithHTTPClient sends requests through hc (nil keeps the default); hc.Timeout may stay zero.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) {
		if hc != nil {
			c.httpClient = hc
		}
	}
}

// WithTimeout sets the deadline of each Get, List and Delete call, answer included (default 15s);
// zero or less leaves only the caller's context.
func WithTimeout(d time.Duration) Option { return func(c *Client) { c.timeout = d } }

// WithUploadTimeout sets the deadline of a Build call (default 4m). Set it shorter than the Lambda
// function's timeout, so that a slow upload ends as a *TransportError rather than a killed invocation.
func WithUploadTimeout(d time.Duration) Option { return func(c *Client) { c.uploadTimeout = d } }

// WithTokenSource reads the token from source when first needed and again after Mirako refuses it
// (401), so a rotated token takes effect at once. Get, List and Delete are sent once more after a 401;
// Build is not, as its body cannot be replayed. An error of source is returned as it is.
func WithTokenSource(source func(context.Context) (string, error)) Option {
	return func(c *Client) { c.source = source }
}

// Authenticate makes sure the client has a token, reading it from its source if need be.
func (c *Client) Authenticate(ctx context.Context) error {
	_, err := c.currentToken(ctx)
	return err
}

func (c *Client) currentToken(ctx context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
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
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.source != nil && c.token == token {
		c.token = ""
	}
}

// String describes the client without its token, so that printing it cannot leak the token.
func (c *Client) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	token := "(none)"
	if c.token != "" {
		token = "(redacted)"
	}
	return fmt.Sprintf("mirako.Client{baseURL: %q, token: %s}", c.baseURL, token)
}

// GoString is String for %#v.
func (c *Client) GoString() string { return c.String() }

// do sends one request and returns the response checkResponse accepted. A body goes with its
// declared length and no GetBody, so net/http never replays it.
func (c *Client) do(ctx context.Context, method, path string, body io.Reader, length int64) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.baseURL+path, body)
	if err != nil {
		return nil, fmt.Errorf("mirako: %s %s: new request: %w", method, path, err)
	}
	token, err := c.currentToken(ctx)
	if err != nil {
		return nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Accept", "application/json, application/problem+json")
	req.Header.Set("User-Agent", userAgent)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
		req.ContentLength = length
	}
	resp, err := c.httpClient.Do(req)
	if err != nil {
		return nil, newTransportError(method, path, err)
	}
	if err := checkResponse(resp, method, path, token); err != nil {
		resp.Body.Close()
		if isStatus(err, http.StatusUnauthorized) {
			c.refused(token)
		}
		return nil, err
	}
	return resp, nil
}

// call makes a call without a body and decodes the answer's "data" into v (nil: discarded). After a
// 401 it tries once more if there is a token source.
func (c *Client) call(ctx context.Context, method, path string, v any) error {
	ctx, cancel := withTimeout(ctx, c.timeout)
	defer cancel()
	resp, err := c.do(ctx, method, path, nil, 0)
	if c.source != nil && isStatus(err, http.StatusUnauthorized) {
		resp, err = c.do(ctx, method, path, nil, 0)
	}
	if err != nil {
		return err
	}
	if v == nil {
		discard(resp)
		return nil
	}
	return decodeData(resp, method, path, v)
}

func withTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}

func isStatus(err error, status int) bool {
	var api *APIError
	return errors.As(err, &api) && api.StatusCode == status
}

// decodeData reads a 2xx answer {"data": …} into v. A body that is empty, cut, too large or not that
// JSON is a *TransportError: the call may have had its effect, but its answer was lost.
func decodeData(resp *http.Response, method, path string, v any) error {
	defer resp.Body.Close()
	var envelope struct {
		Data json.RawMessage `json:"data"`
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody+1))
	if err == nil && len(raw) > maxResponseBody {
		err = fmt.Errorf("larger than %d bytes", maxResponseBody)
	}
	if err == nil {
		err = json.Unmarshal(raw, &envelope) // an empty body is "unexpected end of JSON input"
	}
	if err == nil && envelope.Data == nil {
		err = errors.New(`no "data" member`)
	}
	if err == nil {
		err = json.Unmarshal(envelope.Data, v)
	}
	if err != nil {
		return newTransportError(method, path, fmt.Errorf("response: %w", err))
	}
	return nil
}

// discard drains and closes a body we do not read, so the connection can be reused.
func discard(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
	resp.Body.Close()
}
