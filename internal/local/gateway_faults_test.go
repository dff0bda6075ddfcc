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
