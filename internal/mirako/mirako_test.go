package mirako

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// testToken is the token every test client sends; no error text may contain it.
const testToken = "mi-TestSecretToken-0123456789abcdef"

// setup starts a test server with a ServeMux and returns a client for it (go-github's setup).
func setup(t *testing.T, opts ...Option) (*Client, *http.ServeMux, *httptest.Server) {
	t.Helper()
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	opts = append([]Option{WithHTTPClient(srv.Client())}, opts...)
	// The trailing slash is deliberate: NewClient must tolerate it.
	return NewClient(srv.URL+"/", testToken, opts...), mux, srv
}

// call is one client method with fixed arguments, so that a test can run against all four.
type call struct {
	name         string
	method, path string // the route the call requests, as a ServeMux pattern matches it
	do           func(ctx context.Context, c *Client) error
}

const testAvatarID = "a1b2c3d4-e5f6-7890-1234-567890abcdef"

var calls = []call{
	{"Build", http.MethodPost, "/v1/avatar/async_build", func(ctx context.Context, c *Client) error {
		_, err := c.Build(ctx, "Ada", bytes.NewReader([]byte("png")), 3)
		return err
	}},
	{"Get", http.MethodGet, "/v1/avatar/" + testAvatarID, func(ctx context.Context, c *Client) error {
		_, err := c.Get(ctx, testAvatarID)
		return err
	}},
	{"List", http.MethodGet, "/v1/avatar/list", func(ctx context.Context, c *Client) error {
		_, err := c.List(ctx)
		return err
	}},
	{"Delete", http.MethodDelete, "/v1/avatar/" + testAvatarID, func(ctx context.Context, c *Client) error {
		return c.Delete(ctx, testAvatarID)
	}},
}

// checkNoSecret fails if err's text, or its %+v and %#v forms, contain the token or a URL.
func checkNoSecret(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	for _, s := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
		if strings.Contains(s, testToken) {
			t.Errorf("error text contains the token: %s", s)
		}
	}
	if strings.Contains(err.Error(), "http://") {
		t.Errorf("error text contains a URL: %s", err)
	}
}

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestNewClientBaseURL(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"", DefaultBaseURL},
		{"https://mirako.co", "https://mirako.co"},
		{"https://mirako.co/", "https://mirako.co"},
		{"http://127.0.0.1:8080//", "http://127.0.0.1:8080"},
		{"http://localhost:9000/prefix/", "http://localhost:9000/prefix"},
	}
	for _, tc := range tests {
		if got := NewClient(tc.in, testToken).baseURL; got != tc.want {
			t.Errorf("NewClient(%q).baseURL = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestClientOptions(t *testing.T) {
	hc := &http.Client{}
	c := NewClient("", testToken, WithHTTPClient(hc), WithTimeout(3*time.Second), WithUploadTimeout(time.Minute))
	if c.httpClient != hc || c.timeout != 3*time.Second || c.uploadTimeout != time.Minute {
		t.Errorf("options not applied: %v", c)
	}
	d := NewClient("", testToken, WithHTTPClient(nil))
	if d.httpClient == nil || d.timeout != defaultTimeout || d.uploadTimeout != defaultUploadTimeout {
		t.Errorf("defaults not kept: %v", d)
	}
}

func TestClientStringHidesToken(t *testing.T) {
	c := NewClient("", testToken)
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		if got := fmt.Sprintf(format, c); strings.Contains(got, testToken) || !strings.Contains(got, DefaultBaseURL) {
			t.Errorf("Sprintf(%q, client) = %q; want the base URL and no token", format, got)
		}
	}
}

func TestRequestHeaders(t *testing.T) {
	for _, tc := range calls {
		t.Run(tc.name, func(t *testing.T) {
			c, mux, _ := setup(t)
			var got http.Header
			mux.HandleFunc(tc.method+" "+tc.path, func(w http.ResponseWriter, r *http.Request) {
				got = r.Header.Clone()
				_, _ = io.Copy(io.Discard, r.Body)
				writeSuccess(w, tc.name)
			})
			if err := tc.do(context.Background(), c); err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			want := map[string]string{
				"Authorization": "Bearer " + testToken,
				"Accept":        "application/json, application/problem+json",
				"User-Agent":    "avatar-pipeline-mirako/1",
			}
			if tc.method == http.MethodPost {
				want["Content-Type"] = "application/json"
			}
			for k, v := range want {
				if g := got.Get(k); g != v {
					t.Errorf("header %s = %q, want %q", k, g, v)
				}
			}
		})
	}
}

func TestRequestWithoutToken(t *testing.T) {
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	mux.HandleFunc("GET /v1/avatar/list", func(w http.ResponseWriter, r *http.Request) {
		if v, ok := r.Header["Authorization"]; ok {
			t.Errorf("Authorization header %q sent without a token", v)
		}
		writeSuccess(w, "List")
	})
	if _, err := NewClient(srv.URL, "").List(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// writeSuccess answers the named call the way the spec documents.
func writeSuccess(w http.ResponseWriter, call string) {
	w.Header().Set("Content-Type", "application/json")
	switch call {
	case "Build":
		io.WriteString(w, `{"data":{"avatar_id":"`+testAvatarID+`"}}`)
	case "Get":
		io.WriteString(w, `{"data":{"id":"`+testAvatarID+`","user_id":"u","name":"Ada","created_at":"2026-03-01T12:00:00Z","status":"PENDING","supported_interactive_models":null,"themes":null}}`)
	case "List":
		io.WriteString(w, `{"data":[]}`)
	case "Delete":
		w.WriteHeader(http.StatusNoContent)
	}
}

func TestConnectionReset(t *testing.T) {
	for _, tc := range calls {
		t.Run(tc.name, func(t *testing.T) {
			c, mux, _ := setup(t)
			mux.HandleFunc(tc.method+" "+tc.path, func(w http.ResponseWriter, r *http.Request) {
				conn, _, err := http.NewResponseController(w).Hijack()
				if err != nil {
					t.Errorf("hijack: %v", err)
					return
				}
				// Linger 0 makes Close send a TCP RST instead of a FIN.
				if tcp, ok := conn.(*net.TCPConn); ok {
					_ = tcp.SetLinger(0)
				}
				conn.Close()
			})
			err := tc.do(context.Background(), c)
			checkTransportError(t, err, tc.method, tc.path)
		})
	}
}

func TestConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := NewClient("http://"+addr, testToken)
	for _, tc := range calls {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.do(context.Background(), c)
			checkTransportError(t, err, tc.method, tc.path)
		})
	}
}

func TestTimeout(t *testing.T) {
	for _, tc := range calls {
		t.Run(tc.name, func(t *testing.T) {
			// The call under test gets a short deadline; the other kind a long one, which must not apply.
			opts := []Option{WithTimeout(50 * time.Millisecond), WithUploadTimeout(time.Minute)}
			if tc.name == "Build" {
				opts = []Option{WithTimeout(time.Minute), WithUploadTimeout(50 * time.Millisecond)}
			}
			c, mux, _ := setup(t, opts...)
			mux.HandleFunc(tc.method+" "+tc.path, func(w http.ResponseWriter, r *http.Request) {
				// Slower than any deadline: answer only when the client has gone (or after 10s). The
				// body is read first: the server notices a client going away only after that.
				_, _ = io.Copy(io.Discard, r.Body)
				select {
				case <-r.Context().Done():
				case <-time.After(10 * time.Second):
				}
			})
			err := tc.do(context.Background(), c)
			checkTransportError(t, err, tc.method, tc.path)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("err = %v, want one wrapping context.DeadlineExceeded", err)
			}
		})
	}
}

// TestTimeoutKinds shows which option governs which call: a deadline of 1ns fails a call at once, so
// a call that succeeds did not use it.
func TestTimeoutKinds(t *testing.T) {
	for _, tc := range calls {
		t.Run(tc.name, func(t *testing.T) {
			short, long := WithTimeout(time.Nanosecond), WithUploadTimeout(time.Minute)
			if tc.name != "Build" {
				short, long = WithUploadTimeout(time.Nanosecond), WithTimeout(time.Minute)
			}
			// Other calls' short deadline does not apply to this one.
			c, mux, _ := setup(t, short, long)
			mux.HandleFunc(tc.method+" "+tc.path, func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				writeSuccess(w, tc.name)
			})
			if err := tc.do(context.Background(), c); err != nil {
				t.Errorf("%s with its own deadline long: %v", tc.name, err)
			}
		})
	}
}

// TestSlowBodyTimeout: the deadline also covers reading the answer, not just its headers.
func TestSlowBodyTimeout(t *testing.T) {
	c, mux, _ := setup(t, WithTimeout(50*time.Millisecond))
	mux.HandleFunc("GET /v1/avatar/list", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"data":[`)
		http.NewResponseController(w).Flush()
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	})
	_, err := c.List(context.Background())
	checkTransportError(t, err, http.MethodGet, "/v1/avatar/list")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want one wrapping context.DeadlineExceeded", err)
	}
}

func TestCallerCancel(t *testing.T) {
	c, mux, _ := setup(t)
	mux.HandleFunc("GET /v1/avatar/{id}", func(w http.ResponseWriter, r *http.Request) {
		t.Error("request sent despite a cancelled context")
	})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.Get(ctx, testAvatarID)
	checkTransportError(t, err, http.MethodGet, "/v1/avatar/"+testAvatarID)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want one wrapping context.Canceled", err)
	}
}

// checkTransportError fails unless err is a *TransportError for method and path, transient, and
// free of secrets.
func checkTransportError(t *testing.T, err error, method, path string) {
	t.Helper()
	var te *TransportError
	if !errors.As(err, &te) {
		t.Fatalf("err = %T %v, want *TransportError", err, err)
	}
	if te.Method != method || te.Path != path {
		t.Errorf("TransportError names %s %s, want %s %s", te.Method, te.Path, method, path)
	}
	if te.Err == nil || !strings.HasPrefix(err.Error(), "mirako: "+method+" "+path+": ") {
		t.Errorf("err = %q, want \"mirako: %s %s: <cause>\"", err, method, path)
	}
	var ae *APIError
	if errors.As(err, &ae) {
		t.Errorf("a transport failure is also an *APIError: %v", ae)
	}
	if !IsTransient(err) {
		t.Errorf("IsTransient(%v) = false, want true", err)
	}
	checkNoSecret(t, err)
}

// TestTokenSourceRotation: a token read from the source that Mirako refuses
// (it was rotated) is read again: at once for a call without a body, on the
// next call for a build, whose body cannot be sent twice.
func TestTokenSourceRotation(t *testing.T) {
	var current atomic.Value
	current.Store("old")
	reads := 0
	source := func(context.Context) (string, error) { reads++; return current.Load().(string), nil }
	_, mux, srv := setup(t)
	c := NewClient(srv.URL, "", WithHTTPClient(srv.Client()), WithTokenSource(source))
	auth := func(w http.ResponseWriter, r *http.Request) bool {
		if r.Header.Get("Authorization") != "Bearer new" {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"title":"Unauthorized","status":401}`))
			return false
		}
		return true
	}
	mux.HandleFunc("GET /v1/avatar/list", func(w http.ResponseWriter, r *http.Request) {
		if auth(w, r) {
			w.Write([]byte(`{"data":[]}`))
		}
	})
	mux.HandleFunc("POST /v1/avatar/async_build", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if auth(w, r) {
			w.Write([]byte(`{"data":{"avatar_id":"av-1"}}`))
		}
	})
	ctx := context.Background()
	if err := c.Authenticate(ctx); err != nil || reads != 1 {
		t.Fatalf("Authenticate: %v after %d reads, want the token read once", err, reads)
	}
	current.Store("new")
	if _, err := c.List(ctx); err != nil || reads != 2 {
		t.Errorf("List after rotation: %v after %d reads, want success after reading the token again", err, reads)
	}
	current.Store("old") // rotated back: the client holds "new" until Mirako refuses it
	c.refused("new")
	_, err := c.Build(ctx, "Ada", strings.NewReader("x"), 1)
	var api *APIError
	if !errors.As(err, &api) || api.StatusCode != http.StatusUnauthorized {
		t.Fatalf("Build with a refused token: got %v, want the 401", err)
	}
	current.Store("new")
	if id, err := c.Build(ctx, "Ada", strings.NewReader("x"), 1); err != nil || id != "av-1" {
		t.Errorf("Build after the 401: got %q, %v, want av-1 with the token read again", id, err)
	}
	if reads != 4 {
		t.Errorf("read the token %d times, want 4", reads)
	}
	if strings.Contains(c.String(), "new") {
		t.Errorf("String leaks the token: %s", c)
	}
}
