package local

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambda/messages"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/smithy-go"
)

// Fault injection, for tests of how the workflow copes with failures of the
// platform rather than of Mirako: a function that panics or outlives its
// timeout, an AWS API that throttles or fails. It is the gateway's
// faultInjector; `avatarctl local` never sets one.

// InvokeFaultKind is how an injected invocation fault fails.
type InvokeFaultKind string

// Invocation fault kinds.
const (
	// InvokePanic: the invocation panics before the handler runs, and is
	// reported as the Go runtime reports a panic (errorType "string", with
	// its stack trace).
	InvokePanic InvokeFaultKind = "panic"
	// InvokeTimeout: the handler runs to the end, so its effects happen,
	// but the invocation is reported as Lambda reports one that outlived
	// its timeout (Sandbox.Timedout), at once rather than after the
	// function's Timeout: the worst case, work done and answer lost.
	InvokeTimeout InvokeFaultKind = "timeout"
)

// InvokeFault makes invocations of a function fail.
type InvokeFault struct {
	// Function is the function's name.
	Function string
	// PayloadContains limits the fault to invocations whose payload
	// contains every one of these strings (a build id, an avatar name).
	PayloadContains []string
	Kind            InvokeFaultKind
	// Times is how many matching invocations fail; later ones run normally.
	Times int
}

// AWSFault makes the gateway answer matching AWS API requests with an error
// instead of passing them to moto, as the service does when it throttles or
// fails. The state machine's own DynamoDB calls come through the gateway
// too (moto's engine calls back at its MOTO_PORT), so they can be matched.
type AWSFault struct {
	// Operation is the API operation: for JSON protocols the X-Amz-Target
	// ("DynamoDB_20120810.UpdateItem"), for query protocols the Action
	// ("Publish").
	Operation string
	// BodyContains limits the fault to requests whose body contains every
	// one of these strings (a build id, a condition only the state
	// machine's writes use).
	BodyContains []string
	// Status is the answer's HTTP status (400 when zero).
	Status int
	// Code and Message are the error's code ("ProvisionedThroughputExceededException",
	// "InternalError") and message.
	Code, Message string
	// Times is how many matching requests fail; later ones go to moto.
	Times int
}

// InjectInvokeFault arms f. Faults armed for the same invocation apply in
// the order they were armed.
func (g *Gateway) InjectInvokeFault(f InvokeFault) {
	fs := g.armed()
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if f.Times > 0 {
		fs.invoke = append(fs.invoke, &f)
	}
}

// InjectAWSFault arms f.
func (g *Gateway) InjectAWSFault(f AWSFault) {
	fs := g.armed()
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if f.Times > 0 {
		fs.aws = append(fs.aws, &f)
	}
}

// FaultsLeft returns how many injected failures have not happened yet.
func (g *Gateway) FaultsLeft() int {
	fs := g.armed()
	fs.mu.Lock()
	defer fs.mu.Unlock()
	n := 0
	for _, f := range fs.invoke {
		n += f.Times
	}
	for _, f := range fs.aws {
		n += f.Times
	}
	return n
}

// armed returns the gateway's faults, installing them on first use.
func (g *Gateway) armed() *faults {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.faults == nil {
		g.faults = &faults{}
	}
	return g.faults.(*faults)
}

// run runs one invocation, failing it as an armed fault says.
func (fs *faults) run(fn Function, arn, requestID string, payload []byte) ([]byte, *messages.InvokeResponse_Error) {
	switch fs.takeInvoke(fn.Name, payload) {
	case InvokePanic:
		fn.Handler = panicking{}
	case InvokeTimeout:
		Run(fn, arn, requestID, payload) // the work is done; its answer is lost
		return nil, timedOut(requestID, fn.timeout())
	}
	return Run(fn, arn, requestID, payload)
}

// panicking is a handler that panics, as a buggy one would.
type panicking struct{}

func (panicking) Invoke(context.Context, []byte) ([]byte, error) {
	panic("local gateway: injected panic")
}

// faults are the armed faults of a gateway.
type faults struct {
	mu     sync.Mutex
	invoke []*InvokeFault
	aws    []*AWSFault
}

// takeInvoke uses up one matching invocation fault and returns its kind,
// or "" when none matches.
func (fs *faults) takeInvoke(name string, payload []byte) InvokeFaultKind {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for i, f := range fs.invoke {
		if f.Function != name || !containsAll(payload, f.PayloadContains) {
			continue
		}
		if f.Times--; f.Times == 0 {
			fs.invoke = append(fs.invoke[:i:i], fs.invoke[i+1:]...)
		}
		return f.Kind
	}
	return ""
}

// answerAWS answers r with an armed AWS fault's error and reports whether
// it did. Only requests of the JSON and query protocols are looked at (S3
// requests, whose bodies may be large, never are).
func (fs *faults) answerAWS(w http.ResponseWriter, r *http.Request) bool {
	fs.mu.Lock()
	armed := len(fs.aws) > 0
	fs.mu.Unlock()
	if !armed {
		return false
	}
	ct := r.Header.Get("Content-Type")
	query := strings.HasPrefix(ct, "application/x-www-form-urlencoded")
	if !query && !strings.HasPrefix(ct, "application/x-amz-json") {
		return false
	}
	body, err := io.ReadAll(r.Body)
	r.Body.Close()
	r.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		return false
	}
	op := r.Header.Get("X-Amz-Target")
	if query {
		if v, err := url.ParseQuery(string(body)); err == nil {
			op = v.Get("Action")
		}
	}

	fs.mu.Lock()
	var hit *AWSFault
	for i, f := range fs.aws {
		if f.Operation == op && containsAll(body, f.BodyContains) {
			copied := *f
			hit = &copied
			if f.Times--; f.Times == 0 {
				fs.aws = append(fs.aws[:i:i], fs.aws[i+1:]...)
			}
			break
		}
	}
	fs.mu.Unlock()
	if hit == nil {
		return false
	}
	status := hit.Status
	if status == 0 {
		status = http.StatusBadRequest
	}
	w.Header().Set("X-Amzn-Requestid", newRequestID())
	if query {
		// The query protocol's error document (SNS, SQS's old protocol).
		typ := "Sender"
		if status >= 500 {
			typ = "Receiver"
		}
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(status)
		fmt.Fprintf(w, `<ErrorResponse><Error><Type>%s</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>%s</RequestId></ErrorResponse>`,
			typ, xmlText(hit.Code), xmlText(hit.Message), newRequestID())
		return true
	}
	// The JSON protocols' error document (DynamoDB and the like).
	w.Header().Set("Content-Type", ct)
	w.Header().Set("X-Amzn-Errortype", hit.Code)
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"__type": hit.Code, "message": hit.Message})
	return true
}

// containsAll reports whether b contains every one of subs.
func containsAll(b []byte, subs []string) bool {
	for _, sub := range subs {
		if !bytes.Contains(b, []byte(sub)) {
			return false
		}
	}
	return true
}

// xmlText escapes s for an XML text node.
func xmlText(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

func TestGatewayInvokeFaults(t *testing.T) {
	t.Parallel()
	var ran atomic.Int32
	gw, srv := newTestGateway(t, Function{Name: "work", Handler: lambda.NewHandler(func(in map[string]string) (string, error) {
		ran.Add(1)
		return "done " + in["step"], nil
	})})
	gw.InjectInvokeFault(InvokeFault{Function: "work", PayloadContains: []string{`"submit"`}, Kind: InvokePanic, Times: 1})
	gw.InjectInvokeFault(InvokeFault{Function: "work", PayloadContains: []string{`"submit"`}, Kind: InvokeTimeout, Times: 1})
	if got := gw.FaultsLeft(); got != 2 {
		t.Fatalf("got %d faults armed, want 2", got)
	}

	tests := []struct {
		payload     string
		wantErrType string // "" for success
		wantRuns    int32  // handler runs so far
	}{
		{`{"step":"admit"}`, "", 1},                  // no fault matches
		{`{"step":"submit"}`, "string", 1},           // the panic: the handler never ran
		{`{"step":"submit"}`, "Sandbox.Timedout", 2}, // the timeout: it ran, its answer is lost
		{`{"step":"submit"}`, "", 3},                 // the faults are spent
	}
	for i, tc := range tests {
		resp, body := invoke(t, srv, "work", tc.payload, nil)
		if tc.wantErrType == "" {
			if resp.Header.Get("X-Amz-Function-Error") != "" || !strings.HasPrefix(body, `"done`) {
				t.Errorf("invocation %d: got %s, want success", i, body)
			}
		} else {
			var doc messages.InvokeResponse_Error
			if err := json.Unmarshal([]byte(body), &doc); err != nil {
				t.Fatalf("invocation %d: error body %s: %v", i, body, err)
			}
			if resp.Header.Get("X-Amz-Function-Error") != "Unhandled" || doc.Type != tc.wantErrType {
				t.Errorf("invocation %d: got errorType %q (%s), want %s", i, doc.Type, body, tc.wantErrType)
			}
			if tc.wantErrType == "string" && len(doc.StackTrace) == 0 {
				t.Errorf("invocation %d: the panic has no stack trace", i)
			}
		}
		if got := ran.Load(); got != tc.wantRuns {
			t.Errorf("invocation %d: the handler ran %d times, want %d", i, got, tc.wantRuns)
		}
	}
	if got := gw.FaultsLeft(); got != 0 {
		t.Errorf("got %d faults left, want 0", got)
	}
}

// TestGatewayAWSFaults: an armed AWS fault answers the matching request
// with an error the AWS SDK decodes as the service's own, and passes every
// other request to moto.
func TestGatewayAWSFaults(t *testing.T) {
	t.Parallel()
	var proxied atomic.Int32
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proxied.Add(1)
		io.Copy(io.Discard, r.Body)
		if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
			w.Header().Set("Content-Type", "text/xml")
			io.WriteString(w, `<PublishResponse><PublishResult><MessageId>m-1</MessageId></PublishResult></PublishResponse>`)
			return
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		io.WriteString(w, `{}`)
	}))
	t.Cleanup(backend.Close)
	gw, srv := newTestGateway(t)
	u, _ := url.Parse(backend.URL)
	gw.SetBackend(u)

	gw.InjectAWSFault(AWSFault{Operation: "DynamoDB_20120810.UpdateItem", BodyContains: []string{"build-1", "SET a"},
		Code: "ProvisionedThroughputExceededException", Message: "slow down", Times: 1})
	gw.InjectAWSFault(AWSFault{Operation: "Publish", Status: http.StatusInternalServerError,
		Code: "InternalError", Message: "<broken> & gone", Times: 1})

	cfg := Config(srv.URL)
	noRetry := func(o *dynamodb.Options) { o.RetryMaxAttempts = 1 }
	db := dynamodb.NewFromConfig(cfg, noRetry)
	update := func(id string) error {
		_, err := db.UpdateItem(context.Background(), &dynamodb.UpdateItemInput{
			TableName:        aws.String("t"),
			Key:              map[string]ddbtypes.AttributeValue{"build_id": &ddbtypes.AttributeValueMemberS{Value: id}},
			UpdateExpression: aws.String("SET a = :a"),
			ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{
				":a": &ddbtypes.AttributeValueMemberS{Value: "x"}},
		})
		return err
	}
	if err := update("build-2"); err != nil {
		t.Errorf("another build's update: got %v, want it passed to moto", err)
	}
	err := update("build-1")
	var pte *ddbtypes.ProvisionedThroughputExceededException
	if !errors.As(err, &pte) || !strings.Contains(err.Error(), "slow down") {
		t.Errorf("got %v, want ProvisionedThroughputExceededException", err)
	}
	if err := update("build-1"); err != nil {
		t.Errorf("after the fault is spent: got %v, want it passed to moto", err)
	}

	pub := sns.NewFromConfig(cfg, func(o *sns.Options) { o.RetryMaxAttempts = 1 })
	publish := func() error {
		_, err := pub.Publish(context.Background(), &sns.PublishInput{TopicArn: aws.String("arn:aws:sns:us-east-1:123456789012:t"), Message: aws.String("hi")})
		return err
	}
	var ae smithy.APIError
	if err := publish(); !errors.As(err, &ae) || ae.ErrorCode() != "InternalError" || ae.ErrorMessage() != "<broken> & gone" {
		t.Errorf("got %v, want the SNS error InternalError", err)
	}
	if err := publish(); err != nil {
		t.Errorf("after the fault is spent: got %v, want it passed to moto", err)
	}
	if got := proxied.Load(); got != 3 {
		t.Errorf("got %d requests passed to moto, want 3", got)
	}
	if got := gw.FaultsLeft(); got != 0 {
		t.Errorf("got %d faults left, want 0", got)
	}
}
