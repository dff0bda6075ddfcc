package local

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambda/messages"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

// newTestGateway serves a gateway with the given functions.
func newTestGateway(t *testing.T, fns ...Function) (*Gateway, *httptest.Server) {
	t.Helper()
	gw := NewGateway(t.Logf)
	for _, fn := range fns {
		gw.Register(fn)
	}
	srv := httptest.NewServer(gw)
	t.Cleanup(srv.Close)
	return gw, srv
}

// invoke posts a Lambda Invoke request for ref.
func invoke(t *testing.T, srv *httptest.Server, ref, payload string, header http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.URL+invokePrefix+url.PathEscape(ref)+invokeSuffix, strings.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

type ValueError struct{}

func (ValueError) Error() string { return "a value error" }

type PointerError struct{ msg string }

func (e *PointerError) Error() string { return e.msg }

func TestGatewayInvokeResults(t *testing.T) {
	t.Parallel()
	_, srv := newTestGateway(t,
		Function{Name: "echo", Timeout: time.Second, Handler: lambda.NewHandler(func(in map[string]any) (map[string]any, error) { return in, nil })},
		Function{Name: "pointer", Handler: lambda.NewHandler(func() error { return &PointerError{"rate limited"} })},
		Function{Name: "value", Handler: lambda.NewHandler(func() error { return ValueError{} })},
		Function{Name: "plain", Handler: lambda.NewHandler(func() error { return errors.New("plain") })},
		Function{Name: "wrapped", Handler: lambda.NewHandler(func() error {
			return messages.InvokeResponse_Error{Type: "Custom.Type", Message: "as is"}
		})},
	)
	tests := []struct {
		name, ref   string
		wantBody    string
		wantErrType string // "" for success
	}{
		{"by name", "echo", `{"a":1}`, ""},
		{"by ARN", "arn:aws:lambda:us-east-1:123456789012:function:echo", `{"a":1}`, ""},
		{"by ARN with qualifier", "arn:aws:lambda:us-east-1:123456789012:function:echo:$LATEST", `{"a":1}`, ""},
		{"by partial ARN", "123456789012:function:echo", `{"a":1}`, ""},
		{"by name with qualifier", "echo:live", `{"a":1}`, ""},
		{"pointer error", "pointer", "rate limited", "PointerError"},
		{"value error", "value", "a value error", "ValueError"},
		{"errors.New", "plain", "plain", "errorString"},
		{"runtime error document", "wrapped", "as is", "Custom.Type"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			resp, body := invoke(t, srv, tc.ref, `{"a":1}`, nil)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("got %s %s, want 200", resp.Status, body)
			}
			if resp.Header.Get("X-Amzn-Requestid") == "" {
				t.Error("got no X-Amzn-Requestid")
			}
			if tc.wantErrType == "" {
				if got := resp.Header.Get("X-Amz-Function-Error"); got != "" {
					t.Errorf("got X-Amz-Function-Error %q, want none", got)
				}
				if body != tc.wantBody {
					t.Errorf("got body %s, want %s", body, tc.wantBody)
				}
				return
			}
			if got := resp.Header.Get("X-Amz-Function-Error"); got != "Unhandled" {
				t.Errorf("got X-Amz-Function-Error %q, want Unhandled", got)
			}
			var doc messages.InvokeResponse_Error
			if err := json.Unmarshal([]byte(body), &doc); err != nil {
				t.Fatalf("error body %s: %v", body, err)
			}
			if doc.Type != tc.wantErrType || doc.Message != tc.wantBody {
				t.Errorf("got errorType %q errorMessage %q, want %q %q", doc.Type, doc.Message, tc.wantErrType, tc.wantBody)
			}
		})
	}
}

func TestGatewayPanic(t *testing.T) {
	t.Parallel()
	_, srv := newTestGateway(t, Function{Name: "boom", Handler: lambda.NewHandler(func() error {
		var m map[string]int
		m["x"] = 1 // assignment to a nil map: a runtime.Error
		return nil
	})})
	resp, body := invoke(t, srv, "boom", `{}`, nil)
	if got := resp.Header.Get("X-Amz-Function-Error"); got != "Unhandled" {
		t.Errorf("got X-Amz-Function-Error %q, want Unhandled", got)
	}
	var doc messages.InvokeResponse_Error
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Type != "plainError" || !strings.Contains(doc.Message, "nil map") {
		t.Errorf("got errorType %q errorMessage %q, want plainError about the nil map (as the Go runtime reports it)", doc.Type, doc.Message)
	}
	if len(doc.StackTrace) == 0 || !strings.Contains(body, "gateway_test.go") {
		t.Errorf("got stack trace %s, want the panicking frame", body)
	}
}

func TestGatewayContextAndTimeout(t *testing.T) {
	t.Parallel()
	type seen struct {
		lc       *lambdacontext.LambdaContext
		deadline time.Duration
	}
	got := make(chan seen, 1)
	_, srv := newTestGateway(t,
		Function{Name: "ctx", Timeout: 30 * time.Second, Handler: lambda.NewHandler(func(ctx context.Context) error {
			lc, _ := lambdacontext.FromContext(ctx)
			d, _ := ctx.Deadline()
			got <- seen{lc, time.Until(d)}
			return nil
		})},
		Function{Name: "slow", Timeout: 100 * time.Millisecond, Handler: lambda.NewHandler(func(ctx context.Context) error {
			time.Sleep(time.Second) // ignores its context, like a stuck handler
			return nil
		})},
	)
	resp, _ := invoke(t, srv, "ctx", `{}`, nil)
	s := <-got
	if s.lc == nil || s.lc.AwsRequestID != resp.Header.Get("X-Amzn-Requestid") || s.lc.InvokedFunctionArn != "arn:aws:lambda:us-east-1:123456789012:function:ctx" {
		t.Errorf("got lambda context %+v, want the request id %s and the function's ARN", s.lc, resp.Header.Get("X-Amzn-Requestid"))
	}
	if s.deadline <= 29*time.Second || s.deadline > 30*time.Second {
		t.Errorf("got deadline in %s, want the function's 30s timeout", s.deadline)
	}

	began := time.Now()
	resp, body := invoke(t, srv, "slow", `{}`, nil)
	if took := time.Since(began); took > 900*time.Millisecond {
		t.Errorf("got an answer after %s, want it at the 100ms timeout", took)
	}
	if resp.Header.Get("X-Amz-Function-Error") != "Unhandled" || !strings.Contains(body, `"errorType":"Sandbox.Timedout"`) {
		t.Errorf("got %s, want a Sandbox.Timedout function error", body)
	}
}

func TestGatewayInvocationTypes(t *testing.T) {
	t.Parallel()
	ran := make(chan string, 1)
	_, srv := newTestGateway(t, Function{Name: "f", Handler: lambda.NewHandler(func(in string) error { ran <- in; return nil })})

	resp, _ := invoke(t, srv, "f", `"async"`, http.Header{"X-Amz-Invocation-Type": {"Event"}})
	if resp.StatusCode != http.StatusAccepted {
		t.Errorf("Event: got %s, want 202", resp.Status)
	}
	select {
	case got := <-ran:
		if got != "async" {
			t.Errorf("Event: got payload %q, want async", got)
		}
	case <-time.After(5 * time.Second):
		t.Error("Event: the function did not run")
	}

	resp, _ = invoke(t, srv, "f", `"dry"`, http.Header{"X-Amz-Invocation-Type": {"DryRun"}})
	if resp.StatusCode != http.StatusNoContent {
		t.Errorf("DryRun: got %s, want 204", resp.Status)
	}
	select {
	case <-ran:
		t.Error("DryRun: the function ran")
	case <-time.After(100 * time.Millisecond):
	}

	resp, body := invoke(t, srv, "missing", `{}`, nil)
	if resp.StatusCode != http.StatusNotFound || resp.Header.Get("X-Amzn-Errortype") != "ResourceNotFoundException" {
		t.Errorf("unknown function: got %s %s %s, want 404 ResourceNotFoundException", resp.Status, resp.Header.Get("X-Amzn-Errortype"), body)
	}
}

func TestGatewayProxiesEverythingElse(t *testing.T) {
	t.Parallel()
	type request struct {
		method, rawPath, query, host, body string
	}
	var mu sync.Mutex
	var got []request
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, request{r.Method, r.URL.EscapedPath(), r.URL.RawQuery, r.Host, string(b)})
		mu.Unlock()
		w.Header().Set("ETag", `"abc"`)
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, "from moto")
	}))
	t.Cleanup(backend.Close)

	gw, srv := newTestGateway(t)
	resp, err := srv.Client().Get(srv.URL + "/bucket/key")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("without moto: got %s, want 503", resp.Status)
	}

	u, _ := url.Parse(backend.URL)
	gw.SetBackend(u)
	gw.Mount("/_local/hook", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "mounted") }))

	// A path ServeMux would clean or redirect, as S3 keys may have.
	path := "/avatar-portraits/a%20b%2Bc/%C3%BC//x/../y.png"
	req, _ := http.NewRequest(http.MethodPut, srv.URL+path+"?versionId=1&x-id=PutObject", strings.NewReader("portrait bytes"))
	req.Host = "avatar-portraits.s3.localhost:4566"
	resp, err = srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || string(body) != "from moto" || resp.Header.Get("ETag") != `"abc"` {
		t.Errorf("got %s %q ETag %s, want moto's answer", resp.Status, body, resp.Header.Get("ETag"))
	}
	want := request{http.MethodPut, path, "versionId=1&x-id=PutObject", "avatar-portraits.s3.localhost:4566", "portrait bytes"}
	if len(got) != 1 || got[0] != want {
		t.Errorf("moto got %+v, want %+v", got, want)
	}

	// GET on an invocation path is not an Invoke: moto answers it.
	resp, err = srv.Client().Get(srv.URL + invokePrefix + "f" + invokeSuffix)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Errorf("GET invocations: got %s, want moto's 201", resp.Status)
	}

	resp, err = srv.Client().Post(srv.URL+"/_local/hook", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "mounted" {
		t.Errorf("mount: got %q, want the mounted handler", body)
	}
}

func TestFunctionName(t *testing.T) {
	t.Parallel()
	tests := []struct{ ref, want string }{
		{"avatar-submit", "avatar-submit"},
		{"avatar-submit:1", "avatar-submit"},
		{"123456789012:function:avatar-submit", "avatar-submit"},
		{"arn:aws:lambda:us-east-1:123456789012:function:avatar-submit", "avatar-submit"},
		{"arn:aws:lambda:us-east-1:123456789012:function:avatar-submit:$LATEST", "avatar-submit"},
	}
	for _, tc := range tests {
		if got := functionName(tc.ref); got != tc.want {
			t.Errorf("functionName(%q): got %q, want %q", tc.ref, got, tc.want)
		}
	}
}
