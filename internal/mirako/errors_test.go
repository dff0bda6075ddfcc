package mirako

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestErrorStatuses runs every documented error status, with a problem+json body, an empty body and
// a garbled one, through every call.
func TestErrorStatuses(t *testing.T) {
	statuses := []struct {
		code      int
		transient bool
	}{
		{400, false}, {401, false}, {402, false}, {403, false}, {404, false}, {422, false},
		{429, true}, {500, true}, {502, true}, {503, true}, {504, true},
	}
	bodies := []struct {
		name        string
		contentType string
		body        func(code int) string
		problem     bool // whether the body's fields should appear in the error
	}{
		{"problem+json", "application/problem+json", func(code int) string {
			return fmt.Sprintf(`{"type":"https://mirako.co/errors/e%d","title":"Title %d","status":%d,"detail":"detail of %d","instance":"https://mirako.co/error-log/%d"}`, code, code, code, code, code)
		}, true},
		{"empty", "", func(int) string { return "" }, false},
		{"garbled", "text/html", func(int) string { return "<html><body>upstream error</body></html>" }, false},
		{"truncated problem", "application/problem+json", func(int) string { return `{"title":"cut` }, false},
	}
	for _, call := range calls {
		for _, st := range statuses {
			for _, b := range bodies {
				t.Run(fmt.Sprintf("%s/%d/%s", call.name, st.code, b.name), func(t *testing.T) {
					c, mux, _ := setup(t)
					mux.HandleFunc(call.method+" "+call.path, func(w http.ResponseWriter, r *http.Request) {
						_, _ = io.Copy(io.Discard, r.Body)
						if b.contentType != "" {
							w.Header().Set("Content-Type", b.contentType)
						}
						if st.code == 429 {
							w.Header().Set("Retry-After", "7")
						}
						w.WriteHeader(st.code)
						io.WriteString(w, b.body(st.code))
					})
					err := call.do(context.Background(), c)

					var ae *APIError
					if !errors.As(err, &ae) {
						t.Fatalf("err = %T %v, want *APIError", err, err)
					}
					want := APIError{StatusCode: st.code, Title: http.StatusText(st.code), Method: call.method, Path: call.path}
					if b.problem {
						want.Type = fmt.Sprintf("https://mirako.co/errors/e%d", st.code)
						want.Title = fmt.Sprintf("Title %d", st.code)
						want.Detail = fmt.Sprintf("detail of %d", st.code)
						want.Instance = fmt.Sprintf("https://mirako.co/error-log/%d", st.code)
					}
					if !reflect.DeepEqual(*ae, want) {
						t.Errorf("APIError = %+v, want %+v", *ae, want)
					}
					var rl *RateLimitError
					if got := errors.As(err, &rl); got != (st.code == 429) {
						t.Errorf("errors.As(*RateLimitError) = %v, want %v", got, st.code == 429)
					} else if got && rl.RetryAfter != 7*time.Second {
						t.Errorf("RetryAfter = %v, want 7s", rl.RetryAfter)
					}
					var te *TransportError
					if errors.As(err, &te) {
						t.Errorf("an API error is also a *TransportError: %v", te)
					}
					if got := IsTransient(err); got != st.transient {
						t.Errorf("IsTransient = %v, want %v", got, st.transient)
					}
					prefix := fmt.Sprintf("mirako: %s %s: %d %s", call.method, call.path, st.code, want.Title)
					if !strings.HasPrefix(err.Error(), prefix) {
						t.Errorf("err = %q, want prefix %q", err, prefix)
					}
					if b.problem && !strings.Contains(err.Error(), want.Detail) {
						t.Errorf("err = %q, want it to carry the detail %q", err, want.Detail)
					}
					checkNoSecret(t, err)
				})
			}
		}
	}
}

func TestErrorFromTestdata(t *testing.T) {
	tests := []struct {
		file    string
		code    int
		want    APIError
		wantMsg string
	}{
		{"problem_402.json", 402, APIError{
			StatusCode: 402, Type: "https://mirako.co/errors/insufficient-credits", Title: "Payment Required",
			Detail: "insufficient credits to build an avatar", Instance: "https://mirako.co/error-log/7f3a",
			Method: "POST", Path: "/v1/avatar/async_build",
		}, "mirako: POST /v1/avatar/async_build: 402 Payment Required: insufficient credits to build an avatar"},
		{"problem_422.json", 422, APIError{
			StatusCode: 422, Title: "Unprocessable Entity", Detail: "validation failed",
			Errors: []ErrorDetail{
				{Location: "body.image", Message: "expected a base64 encoded image", Value: "not base64"},
				{Location: "body.name", Message: "expected length <= 64"},
			},
			Method: "POST", Path: "/v1/avatar/async_build",
		}, "mirako: POST /v1/avatar/async_build: 422 Unprocessable Entity: validation failed (body.image: expected a base64 encoded image; body.name: expected length <= 64)"},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			c, mux, _ := setup(t)
			mux.HandleFunc("POST /v1/avatar/async_build", func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				w.Header().Set("Content-Type", "application/problem+json")
				w.WriteHeader(tc.code)
				w.Write(readTestdata(t, tc.file))
			})
			err := calls[0].do(context.Background(), c)
			var ae *APIError
			if !errors.As(err, &ae) {
				t.Fatalf("err = %T %v, want *APIError", err, err)
			}
			if !reflect.DeepEqual(*ae, tc.want) {
				t.Errorf("APIError = %+v, want %+v", *ae, tc.want)
			}
			if got := err.Error(); got != tc.wantMsg {
				t.Errorf("Error() = %q, want %q", got, tc.wantMsg)
			}
		})
	}
}

// TestErrorBodyLimit: an error body is read only up to the limit; a larger one still yields the
// status, and the call does not hang on an endless body.
func TestErrorBodyLimit(t *testing.T) {
	c, mux, _ := setup(t)
	mux.HandleFunc("GET /v1/avatar/list", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, `{"title":"Service Unavailable","detail":"`)
		chunk := strings.Repeat("x", 32<<10)
		for range 64 { // 2 MiB, far over the limit
			if _, err := io.WriteString(w, chunk); err != nil {
				return
			}
		}
		io.WriteString(w, `"}`)
	})
	_, err := c.List(context.Background())
	var ae *APIError
	if !errors.As(err, &ae) || ae.StatusCode != 503 || ae.Detail != "" {
		t.Fatalf("err = %v, want a 503 *APIError without detail", err)
	}
	if len(err.Error()) > 200 {
		t.Errorf("error text is %d bytes long, want a short one", len(err.Error()))
	}
}

// TestErrorScrubsEchoedToken: a server echoing the Authorization header does not put the token into
// the error.
func TestErrorScrubsEchoedToken(t *testing.T) {
	c, mux, _ := setup(t)
	mux.HandleFunc("GET /v1/avatar/{id}", func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprintf(w, `{"title":"Unauthorized %[1]s","detail":"token %[1]s is revoked","instance":"https://mirako.co/log?t=%[1]s","errors":[{"location":"header.Authorization","message":"bad %[1]s","value":%[1]q}]}`, auth)
	})
	_, err := c.Get(context.Background(), testAvatarID)
	var ae *APIError
	if !errors.As(err, &ae) || ae.StatusCode != 401 {
		t.Fatalf("err = %v, want a 401 *APIError", err)
	}
	checkNoSecret(t, err)
	if s := fmt.Sprintf("%+v", *ae); strings.Contains(s, testToken) {
		t.Errorf("APIError fields contain the token: %s", s)
	}
	if IsTransient(err) {
		t.Error("IsTransient(401) = true, want false")
	}
}

func TestRateLimitRetryAfter(t *testing.T) {
	tests := []struct {
		name       string
		header     string
		min, max   time.Duration
		setHeader  bool
		wantSuffix string
	}{
		{"seconds", "120", 120 * time.Second, 120 * time.Second, true, " (retry after 2m0s)"},
		{"HTTP-date", time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat), 60 * time.Second, 90 * time.Second, true, ""},
		{"absent", "", 0, 0, false, "429 Too Many Requests"},
		{"garbage", "soon", 0, 0, true, "429 Too Many Requests"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, mux, _ := setup(t)
			mux.HandleFunc("GET /v1/avatar/list", func(w http.ResponseWriter, r *http.Request) {
				if tc.setHeader {
					w.Header().Set("Retry-After", tc.header)
				}
				w.WriteHeader(http.StatusTooManyRequests)
			})
			_, err := c.List(context.Background())
			var rl *RateLimitError
			if !errors.As(err, &rl) {
				t.Fatalf("err = %T %v, want *RateLimitError", err, err)
			}
			if rl.RetryAfter < tc.min || rl.RetryAfter > tc.max {
				t.Errorf("RetryAfter = %v, want between %v and %v", rl.RetryAfter, tc.min, tc.max)
			}
			if !strings.HasSuffix(err.Error(), tc.wantSuffix) {
				t.Errorf("err = %q, want suffix %q", err, tc.wantSuffix)
			}
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"1", time.Second},
		{" 30 ", 30 * time.Second},
		{"-5", 0},
		{"1.5", 0},
		{"99999999999999999999", 0}, // does not fit an int64: unreadable
		{"9223372036854775807", time.Duration(1<<63-1) / time.Second * time.Second},
		{"Sun, 01 Mar 2026 12:01:30 GMT", 90 * time.Second},  // IMF-fixdate
		{"Sunday, 01-Mar-26 12:00:10 GMT", 10 * time.Second}, // RFC 850
		{"Sun Mar  1 12:00:05 2026", 5 * time.Second},        // asctime
		{"Sun, 01 Mar 2026 11:59:00 GMT", 0},                 // in the past
		{"tomorrow", 0},
	}
	for _, tc := range tests {
		if got := parseRetryAfter(tc.in, now); got != tc.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestIsTransient(t *testing.T) {
	apiErr := func(code int) error { return &APIError{StatusCode: code, Method: "GET", Path: "/v1/avatar/list"} }
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"plain error", errors.New("boom"), false},
		{"context deadline alone", context.DeadlineExceeded, false},
		{"image size", fmt.Errorf("mirako: POST /v1/avatar/async_build: %w", ErrImageSize), false},
		{"400", apiErr(400), false},
		{"401", apiErr(401), false},
		{"402", apiErr(402), false},
		{"403", apiErr(403), false},
		{"404", apiErr(404), false},
		{"409", apiErr(409), false},
		{"422", apiErr(422), false},
		{"501", apiErr(501), false},
		{"408", apiErr(408), true},
		{"429 as APIError", apiErr(429), true},
		{"429 as RateLimitError", &RateLimitError{APIError: APIError{StatusCode: 429}}, true},
		{"500", apiErr(500), true},
		{"502", apiErr(502), true},
		{"503", apiErr(503), true},
		{"504", apiErr(504), true},
		{"wrapped 503", fmt.Errorf("check status of b-1: %w", apiErr(503)), true},
		{"wrapped 402", fmt.Errorf("submit b-1: %w", apiErr(402)), false},
		{"transport", &TransportError{Method: "GET", Path: "/v1/avatar/list", Err: io.ErrUnexpectedEOF}, true},
		{"wrapped transport", fmt.Errorf("submit b-1: %w", &TransportError{Err: context.DeadlineExceeded}), true},
	}
	for _, tc := range tests {
		if got := IsTransient(tc.err); got != tc.want {
			t.Errorf("IsTransient(%s) = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestRateLimitErrorUnwrapsToAPIError(t *testing.T) {
	err := fmt.Errorf("poll: %w", &RateLimitError{APIError: APIError{StatusCode: 429, Method: "GET", Path: "/v1/avatar/x"}, RetryAfter: time.Second})
	var ae *APIError
	if !errors.As(err, &ae) || ae.StatusCode != 429 {
		t.Errorf("errors.As(*APIError) on a wrapped *RateLimitError = %v, want the 429", ae)
	}
}

func TestAPIErrorText(t *testing.T) {
	tests := []struct {
		err  APIError
		want string
	}{
		{APIError{StatusCode: 404, Method: "DELETE", Path: "/v1/avatar/x"}, "mirako: DELETE /v1/avatar/x: 404 Not Found"},
		{APIError{StatusCode: 403, Title: "Forbidden", Detail: "Forbidden", Method: "GET", Path: "/v1/avatar/list"}, "mirako: GET /v1/avatar/list: 403 Forbidden"},
		{APIError{StatusCode: 599, Method: "GET", Path: "/v1/avatar/list"}, "mirako: GET /v1/avatar/list: 599"},
		{APIError{StatusCode: 400, Title: "Bad Request", Errors: []ErrorDetail{{Location: "body.name"}, {Message: "too big", Value: strings.Repeat("A", 1000)}}, Method: "POST", Path: "/v1/avatar/async_build"},
			"mirako: POST /v1/avatar/async_build: 400 Bad Request (body.name; too big)"},
	}
	for _, tc := range tests {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
	}
}
