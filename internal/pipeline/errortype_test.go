package pipeline_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambda/messages"

	"github.com/avatar-pipeline/avatar-pipeline/internal/local"
	"github.com/avatar-pipeline/avatar-pipeline/internal/pipeline"
	"github.com/avatar-pipeline/avatar-pipeline/statemachine"
)

// boundaryErrors are the errors the functions return, by case name.
var boundaryErrors = map[string]error{
	"rate limited":    &pipeline.RateLimitedError{Op: "build", RetryAfter: time.Second, Err: errors.New("429")},
	"unavailable":     &pipeline.MirakoUnavailableError{Op: "build", Err: errors.New("503")},
	"rejected":        &pipeline.MirakoRejectedError{Op: "build", Err: errors.New("402")},
	"aws unavailable": &pipeline.AWSUnavailableError{Op: "read", Err: errors.New("throttled")},
	"in progress":     &pipeline.SubmitInProgressError{BuildID: "b1"},
	"publish failed":  &pipeline.PublishFailedError{BuildID: "b1", Err: errors.New("sns down")},
	"startup":         &pipeline.StartupError{Function: "submit", Err: errors.New("secret missing")},
	"plain":           errors.New("an untyped error"),
}

// caseHandler returns the error a case names, or panics for "panic".
func caseHandler(_ context.Context, in struct{ Case string }) (string, error) {
	if in.Case == "panic" {
		panic("the handler panicked")
	}
	return "", boundaryErrors[in.Case]
}

// TestMain lets the test binary act as a Lambda function: with
// AVATAR_TEST_LAMBDA set it runs aws-lambda-go's own invoke loop
// (lambda.Start) against the Runtime API named in AWS_LAMBDA_RUNTIME_API.
func TestMain(m *testing.M) {
	if os.Getenv("AVATAR_TEST_LAMBDA") == "1" {
		lambda.Start(caseHandler)
		return
	}
	os.Exit(m.Run())
}

// runtimeAPI is a Lambda Runtime API that hands out the given payloads,
// one invocation each, and records what the function posts back.
type runtimeAPI struct {
	payloads chan []byte
	posted   chan messages.InvokeResponse_Error
}

func (api *runtimeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/2018-06-01/runtime/invocation/next":
		payload, ok := <-api.payloads
		if !ok {
			<-r.Context().Done() // no more work: the function waits, as in Lambda
			return
		}
		w.Header().Set("Lambda-Runtime-Aws-Request-Id", "req-"+strconv.Itoa(len(api.payloads)))
		w.Header().Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(time.Now().Add(time.Minute).UnixMilli(), 10))
		w.Header().Set("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:t")
		w.Write(payload)
	case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/error"):
		var e messages.InvokeResponse_Error
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &e); err != nil {
			e.Message = "undecodable error document: " + string(body)
		}
		api.posted <- e
		w.WriteHeader(http.StatusAccepted)
	case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/response"):
		api.posted <- messages.InvokeResponse_Error{Type: "(success)"}
		w.WriteHeader(http.StatusAccepted)
	default:
		http.Error(w, "unexpected "+r.Method+" "+r.URL.Path, http.StatusNotFound)
	}
}

// TestErrorTypesOnTheWire runs aws-lambda-go's invoke loop in a child
// process and reads the errorType it posts for each error the functions
// return: those are the names the state machine's Retry and Catch match.
// The local stack's in-process runner must report the same.
func TestErrorTypesOnTheWire(t *testing.T) {
	cases := slices.Sorted(func(yield func(string) bool) {
		for c := range boundaryErrors {
			if !yield(c) {
				return
			}
		}
	})
	cases = append(cases, "panic") // last: the loop exits after a panic
	api := &runtimeAPI{payloads: make(chan []byte, len(cases)), posted: make(chan messages.InvokeResponse_Error, len(cases))}
	for _, c := range cases {
		payload, _ := json.Marshal(map[string]string{"Case": c})
		api.payloads <- payload
	}
	close(api.payloads)
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "AVATAR_TEST_LAMBDA=1", "AWS_LAMBDA_RUNTIME_API="+strings.TrimPrefix(srv.URL, "http://"))
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })

	onTheWire := map[string]bool{}
	for _, c := range cases {
		var got messages.InvokeResponse_Error
		select {
		case got = <-api.posted:
		case <-time.After(20 * time.Second):
			t.Fatalf("case %q: the invoke loop posted nothing", c)
		}
		onTheWire[got.Type] = true
		payload, _ := json.Marshal(map[string]string{"Case": c})
		_, local := local.Run(local.Function{Name: "t", Handler: lambda.NewHandler(caseHandler), Timeout: time.Minute}, "arn", "req", payload)
		if local == nil || local.Type != got.Type || local.Message != got.Message {
			t.Errorf("case %q: aws-lambda-go posts %s %q, the local stack reports %+v", c, got.Type, got.Message, local)
		}
		if want := boundaryErrors[c]; want != nil && got.Message != want.Error() {
			t.Errorf("case %q: got message %q, want %q", c, got.Message, want.Error())
		}
	}
	for _, want := range []string{"errorString", "string"} {
		if !onTheWire[want] {
			t.Errorf("no case posted %s (errors.New, panic with a string)", want)
		}
	}
	// Every error name the definition matches that is not the platform's
	// is one the functions put on the wire.
	for name, s := range statemachine.Build().States {
		for _, r := range s.Retry {
			for _, e := range r.ErrorEquals {
				if !strings.Contains(e, ".") && !onTheWire[e] {
					t.Errorf("state %s retries %s, which no function error posts", name, e)
				}
			}
		}
	}
}
