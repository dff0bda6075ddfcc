package local

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// captured is what the fake endpoint received.
type captured struct {
	r    *http.Request
	body []byte
}

// accessServer starts an endpoint that records each request as it arrived
// and answers it with an error, which is all the SDK needs to have sent it.
func accessServer(t *testing.T) (*httptest.Server, func() []captured) {
	t.Helper()
	var mu sync.Mutex
	var got []captured
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, captured{r.Clone(context.Background()), body})
		mu.Unlock()
		http.Error(w, "recorded", http.StatusBadRequest)
	}))
	t.Cleanup(srv.Close)
	take := func() []captured {
		mu.Lock()
		defer mu.Unlock()
		out := got
		got = nil
		return out
	}
	return srv, take
}

// accessConfig is an SDK configuration signing as key and addressing the
// local endpoint, http://127.0.0.1:4566, whatever host a request names: every
// connection goes to srv. No retries, so one call sends one request.
func accessConfig(srv *httptest.Server, key string) aws.Config {
	dial := func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, srv.Listener.Addr().String())
	}
	return aws.Config{
		Region:       Region,
		Credentials:  credentials.NewStaticCredentialsProvider(key, "secret", ""),
		BaseEndpoint: aws.String("http://127.0.0.1:4566"),
		HTTPClient:   &http.Client{Transport: &http.Transport{DialContext: dial}},
		Retryer:      func() aws.Retryer { return aws.NopRetryer{} },
	}
}

// sendQuery sends a signed query-protocol request (form body) to path, as
// SDKs that still use that protocol for SQS do.
func sendQuery(ctx context.Context, cfg aws.Config, service, path string, form url.Values) {
	sendSigned(ctx, cfg, service, path, "application/x-www-form-urlencoded", form.Encode())
}

// sendSigned sends a POST of body to path, signed with SigV4 for service, as
// SDKs the Go module has no client for (moto's boto3) send one.
func sendSigned(ctx context.Context, cfg aws.Config, service, path, contentType, body string) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, *cfg.BaseEndpoint+path, strings.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	sum := sha256.Sum256([]byte(body))
	creds, _ := cfg.Credentials.Retrieve(ctx)
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), service, Region, time.Now()); err != nil {
		panic(err)
	}
	if resp, err := cfg.HTTPClient.Do(req); err == nil {
		resp.Body.Close()
	}
}

const (
	tableARN1   = "arn:aws:dynamodb:us-east-1:123456789012:table/avatar-builds"
	queueURL    = "http://127.0.0.1:4566/123456789012/avatar-upload-events"
	queueARN1   = "arn:aws:sqs:us-east-1:123456789012:avatar-upload-events"
	topicARN    = "arn:aws:sns:us-east-1:123456789012:avatar-build-events"
	machine     = "arn:aws:states:us-east-1:123456789012:stateMachine:avatar-build"
	execution   = "arn:aws:states:us-east-1:123456789012:execution:avatar-build:b1"
	portraitARN = "arn:aws:s3:::avatar-portraits/portraits/ada.jpg"
)

func access(action string, resources ...string) Access {
	return Access{Principal: "SubmitFunction", Action: action, Resources: resources}
}

func TestAccessOf(t *testing.T) {
	srv, take := accessServer(t)
	key := map[string]ddbtypes.AttributeValue{"build_id": &ddbtypes.AttributeValueMemberS{Value: "b1"}}
	table, bucket, object := aws.String("avatar-builds"), aws.String("avatar-portraits"), aws.String("portraits/ada.jpg")
	version := aws.String("3HL4kqtJlcpXroDTDmJ-rmSpXd3dIbrHY")
	virtual := func(endpoint string) func(*s3.Options) {
		return func(o *s3.Options) { o.BaseEndpoint = aws.String(endpoint) }
	}
	pathStyle := func(o *s3.Options) { o.UsePathStyle = true }

	tests := []struct {
		name string
		key  string // the access key id; "SubmitFunction" when empty
		call func(context.Context, aws.Config)
		want []Access // nil: not recognised
		host string   // the Host the request must have been sent to, when it matters
	}{
		// DynamoDB
		{name: "GetItem", call: func(ctx context.Context, cfg aws.Config) {
			dynamodb.NewFromConfig(cfg).GetItem(ctx, &dynamodb.GetItemInput{TableName: table, Key: key})
		}, want: []Access{access("dynamodb:GetItem", tableARN1)}},
		{name: "PutItem", call: func(ctx context.Context, cfg aws.Config) {
			dynamodb.NewFromConfig(cfg).PutItem(ctx, &dynamodb.PutItemInput{TableName: table, Item: key})
		}, want: []Access{access("dynamodb:PutItem", tableARN1)}},
		{name: "UpdateItem", call: func(ctx context.Context, cfg aws.Config) {
			dynamodb.NewFromConfig(cfg).UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: table, Key: key,
				UpdateExpression: aws.String("SET #s = :s"), ExpressionAttributeNames: map[string]string{"#s": "status"},
				ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":s": &ddbtypes.AttributeValueMemberS{Value: "QUEUED"}}})
		}, want: []Access{access("dynamodb:UpdateItem", tableARN1)}},
		{name: "DeleteItem", call: func(ctx context.Context, cfg aws.Config) {
			dynamodb.NewFromConfig(cfg).DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: table, Key: key})
		}, want: []Access{access("dynamodb:DeleteItem", tableARN1)}},
		{name: "Query on an index", call: func(ctx context.Context, cfg aws.Config) {
			dynamodb.NewFromConfig(cfg).Query(ctx, &dynamodb.QueryInput{TableName: table, IndexName: aws.String("by-status"),
				KeyConditionExpression: aws.String("#s = :s"), ExpressionAttributeNames: map[string]string{"#s": "status"},
				ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":s": &ddbtypes.AttributeValueMemberS{Value: "READY"}}})
		}, want: []Access{access("dynamodb:Query", tableARN1+"/index/by-status")}},
		{name: "Query on the table", call: func(ctx context.Context, cfg aws.Config) {
			dynamodb.NewFromConfig(cfg).Query(ctx, &dynamodb.QueryInput{TableName: table,
				KeyConditionExpression:    aws.String("build_id = :b"),
				ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":b": &ddbtypes.AttributeValueMemberS{Value: "b1"}}})
		}, want: []Access{access("dynamodb:Query", tableARN1)}},
		{name: "Scan on an index", call: func(ctx context.Context, cfg aws.Config) {
			dynamodb.NewFromConfig(cfg).Scan(ctx, &dynamodb.ScanInput{TableName: table, IndexName: aws.String("by-avatar")})
		}, want: []Access{access("dynamodb:Scan", tableARN1+"/index/by-avatar")}},
		{name: "TransactWriteItems", call: func(ctx context.Context, cfg aws.Config) {
			dynamodb.NewFromConfig(cfg).TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []ddbtypes.TransactWriteItem{
				{Put: &ddbtypes.Put{TableName: table, Item: key}},
				{Update: &ddbtypes.Update{TableName: table, Key: key, UpdateExpression: aws.String("SET n = :n"),
					ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":n": &ddbtypes.AttributeValueMemberN{Value: "1"}}}},
				{Delete: &ddbtypes.Delete{TableName: aws.String("avatar-claims"), Key: key}},
				{ConditionCheck: &ddbtypes.ConditionCheck{TableName: table, Key: key, ConditionExpression: aws.String("attribute_exists(build_id)")}},
			}})
		}, want: []Access{
			access("dynamodb:PutItem", tableARN1),
			access("dynamodb:UpdateItem", tableARN1),
			access("dynamodb:DeleteItem", "arn:aws:dynamodb:us-east-1:123456789012:table/avatar-claims"),
			access("dynamodb:ConditionCheckItem", tableARN1),
		}},
		{name: "TransactGetItems", call: func(ctx context.Context, cfg aws.Config) {
			dynamodb.NewFromConfig(cfg).TransactGetItems(ctx, &dynamodb.TransactGetItemsInput{TransactItems: []ddbtypes.TransactGetItem{
				{Get: &ddbtypes.Get{TableName: table, Key: key}},
			}})
		}, want: []Access{access("dynamodb:GetItem", tableARN1)}},
		{name: "BatchGetItem", call: func(ctx context.Context, cfg aws.Config) {
			dynamodb.NewFromConfig(cfg).BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]ddbtypes.KeysAndAttributes{
				"avatar-builds": {Keys: []map[string]ddbtypes.AttributeValue{key}},
				"avatar-claims": {Keys: []map[string]ddbtypes.AttributeValue{key}},
			}})
		}, want: []Access{access("dynamodb:BatchGetItem", tableARN1, "arn:aws:dynamodb:us-east-1:123456789012:table/avatar-claims")}},
		{name: "BatchWriteItem", call: func(ctx context.Context, cfg aws.Config) {
			dynamodb.NewFromConfig(cfg).BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]ddbtypes.WriteRequest{
				"avatar-builds": {{DeleteRequest: &ddbtypes.DeleteRequest{Key: key}}},
			}})
		}, want: []Access{access("dynamodb:BatchWriteItem", tableARN1)}},
		{name: "DescribeTable", call: func(ctx context.Context, cfg aws.Config) {
			dynamodb.NewFromConfig(cfg).DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: table})
		}, want: []Access{access("dynamodb:DescribeTable", tableARN1)}},

		// S3
		{name: "GetObject", call: func(ctx context.Context, cfg aws.Config) {
			s3.NewFromConfig(cfg).GetObject(ctx, &s3.GetObjectInput{Bucket: bucket, Key: object})
		}, want: []Access{access("s3:GetObject", portraitARN)}, host: "127.0.0.1:4566"},
		{name: "GetObject of a version", call: func(ctx context.Context, cfg aws.Config) {
			s3.NewFromConfig(cfg).GetObject(ctx, &s3.GetObjectInput{Bucket: bucket, Key: object, VersionId: version})
		}, want: []Access{access("s3:GetObjectVersion", portraitARN)}},
		{name: "HeadObject", call: func(ctx context.Context, cfg aws.Config) {
			s3.NewFromConfig(cfg).HeadObject(ctx, &s3.HeadObjectInput{Bucket: bucket, Key: object})
		}, want: []Access{access("s3:GetObject", portraitARN)}},
		{name: "HeadObject of a version", call: func(ctx context.Context, cfg aws.Config) {
			s3.NewFromConfig(cfg).HeadObject(ctx, &s3.HeadObjectInput{Bucket: bucket, Key: object, VersionId: version})
		}, want: []Access{access("s3:GetObjectVersion", portraitARN)}},
		{name: "GetObject, path-style, a key to escape", call: func(ctx context.Context, cfg aws.Config) {
			s3.NewFromConfig(cfg, pathStyle).GetObject(ctx, &s3.GetObjectInput{Bucket: bucket, Key: aws.String("portraits/Zoë O'Neil+1.jpg")})
		}, want: []Access{access("s3:GetObject", "arn:aws:s3:::avatar-portraits/portraits/Zoë O'Neil+1.jpg")}},
		{name: "GetObject, virtual-hosted on AWS's name", call: func(ctx context.Context, cfg aws.Config) {
			s3.NewFromConfig(cfg, virtual("http://s3.us-east-1.amazonaws.com")).GetObject(ctx, &s3.GetObjectInput{Bucket: bucket, Key: object})
		}, want: []Access{access("s3:GetObject", portraitARN)}, host: "avatar-portraits.s3.us-east-1.amazonaws.com"},
		{name: "GetObject, virtual-hosted on another name", call: func(ctx context.Context, cfg aws.Config) {
			s3.NewFromConfig(cfg, virtual("http://aws.example.test:4566")).GetObject(ctx, &s3.GetObjectInput{Bucket: bucket, Key: object})
		}, want: []Access{access("s3:GetObject", portraitARN)}, host: "avatar-portraits.aws.example.test:4566"},
		{name: "GetObject, presigned", call: func(ctx context.Context, cfg aws.Config) {
			req, err := s3.NewPresignClient(s3.NewFromConfig(cfg)).PresignGetObject(ctx, &s3.GetObjectInput{Bucket: bucket, Key: object})
			if err != nil {
				panic(err)
			}
			if resp, err := cfg.HTTPClient.(*http.Client).Get(req.URL); err == nil {
				resp.Body.Close()
			}
		}, want: []Access{access("s3:GetObject", portraitARN)}},
		{name: "PutObject", call: func(ctx context.Context, cfg aws.Config) {
			s3.NewFromConfig(cfg).PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: object, Body: bytes.NewReader([]byte("jpeg"))})
		}, want: []Access{access("s3:PutObject", portraitARN)}},
		{name: "CopyObject reads its source", call: func(ctx context.Context, cfg aws.Config) {
			s3.NewFromConfig(cfg).CopyObject(ctx, &s3.CopyObjectInput{Bucket: bucket, Key: aws.String("copies/ada.jpg"),
				CopySource: aws.String("avatar-portraits/portraits/ada.jpg?versionId=" + *version)})
		}, want: []Access{access("s3:PutObject", "arn:aws:s3:::avatar-portraits/copies/ada.jpg"), access("s3:GetObjectVersion", portraitARN)}},
		{name: "DeleteObject of a version", call: func(ctx context.Context, cfg aws.Config) {
			s3.NewFromConfig(cfg).DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: bucket, Key: object, VersionId: version})
		}, want: []Access{access("s3:DeleteObjectVersion", portraitARN)}},
		{name: "ListObjectsV2", call: func(ctx context.Context, cfg aws.Config) {
			s3.NewFromConfig(cfg).ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: bucket, Prefix: aws.String("portraits/")})
		}, want: []Access{access("s3:ListBucket", "arn:aws:s3:::avatar-portraits")}},
		{name: "ListObjectVersions", call: func(ctx context.Context, cfg aws.Config) {
			s3.NewFromConfig(cfg).ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: bucket})
		}, want: []Access{access("s3:ListBucketVersions", "arn:aws:s3:::avatar-portraits")}},
		{name: "HeadBucket", call: func(ctx context.Context, cfg aws.Config) {
			s3.NewFromConfig(cfg).HeadBucket(ctx, &s3.HeadBucketInput{Bucket: bucket})
		}, want: []Access{access("s3:ListBucket", "arn:aws:s3:::avatar-portraits")}},

		// SNS
		{name: "Publish", key: "NotifyFunction", call: func(ctx context.Context, cfg aws.Config) {
			sns.NewFromConfig(cfg).Publish(ctx, &sns.PublishInput{TopicArn: aws.String(topicARN), Message: aws.String("{}")})
		}, want: []Access{{Principal: "NotifyFunction", Action: "sns:Publish", Resources: []string{topicARN}}}},

		// SQS, JSON protocol (the Go SDK's) and query protocol
		{name: "ReceiveMessage", call: func(ctx context.Context, cfg aws.Config) {
			sqs.NewFromConfig(cfg).ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(queueURL)})
		}, want: []Access{access("sqs:ReceiveMessage", queueARN1)}},
		{name: "DeleteMessage", call: func(ctx context.Context, cfg aws.Config) {
			sqs.NewFromConfig(cfg).DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(queueURL), ReceiptHandle: aws.String("r")})
		}, want: []Access{access("sqs:DeleteMessage", queueARN1)}},
		{name: "ChangeMessageVisibility", call: func(ctx context.Context, cfg aws.Config) {
			sqs.NewFromConfig(cfg).ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(queueURL),
				ReceiptHandle: aws.String("r"), VisibilityTimeout: 10})
		}, want: []Access{access("sqs:ChangeMessageVisibility", queueARN1)}},
		{name: "SendMessage", call: func(ctx context.Context, cfg aws.Config) {
			sqs.NewFromConfig(cfg).SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(queueURL), MessageBody: aws.String("{}")})
		}, want: []Access{access("sqs:SendMessage", queueARN1)}},
		{name: "SendMessageBatch", call: func(ctx context.Context, cfg aws.Config) {
			sqs.NewFromConfig(cfg).SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(queueURL),
				Entries: []sqstypes.SendMessageBatchRequestEntry{{Id: aws.String("1"), MessageBody: aws.String("{}")}}})
		}, want: []Access{access("sqs:SendMessage", queueARN1)}},
		{name: "GetQueueUrl", call: func(ctx context.Context, cfg aws.Config) {
			sqs.NewFromConfig(cfg).GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("avatar-upload-events")})
		}, want: []Access{access("sqs:GetQueueUrl", queueARN1)}},
		{name: "ReceiveMessage, query protocol", call: func(ctx context.Context, cfg aws.Config) {
			sendQuery(ctx, cfg, "sqs", "/", url.Values{"Action": {"ReceiveMessage"}, "QueueUrl": {queueURL}, "Version": {"2012-11-05"}})
		}, want: []Access{access("sqs:ReceiveMessage", queueARN1)}},
		{name: "DeleteMessage, query protocol to the queue's URL", call: func(ctx context.Context, cfg aws.Config) {
			sendQuery(ctx, cfg, "sqs", "/123456789012/avatar-upload-events",
				url.Values{"Action": {"DeleteMessage"}, "ReceiptHandle": {"r"}, "Version": {"2012-11-05"}})
		}, want: []Access{access("sqs:DeleteMessage", queueARN1)}},

		// Secrets Manager
		{name: "GetSecretValue by name", call: func(ctx context.Context, cfg aws.Config) {
			secretsmanager.NewFromConfig(cfg).GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("avatar-pipeline/mirako-token")})
		}, want: []Access{{Principal: "SubmitFunction", Action: "secretsmanager:GetSecretValue", FromName: true,
			Resources: []string{"arn:aws:secretsmanager:us-east-1:123456789012:secret:avatar-pipeline/mirako-token"}}}},
		{name: "GetSecretValue by ARN", key: "CheckStatusFunction", call: func(ctx context.Context, cfg aws.Config) {
			secretsmanager.NewFromConfig(cfg).GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{
				SecretId: aws.String("arn:aws:secretsmanager:us-east-1:123456789012:secret:avatar-pipeline/mirako-token-Xy12Zw")})
		}, want: []Access{{Principal: "CheckStatusFunction", Action: "secretsmanager:GetSecretValue",
			Resources: []string{"arn:aws:secretsmanager:us-east-1:123456789012:secret:avatar-pipeline/mirako-token-Xy12Zw"}}}},

		// Step Functions
		{name: "StartExecution", call: func(ctx context.Context, cfg aws.Config) {
			sfn.NewFromConfig(cfg).StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: aws.String(machine), Name: aws.String("b1")})
		}, want: []Access{access("states:StartExecution", machine)}},
		{name: "DescribeExecution", call: func(ctx context.Context, cfg aws.Config) {
			sfn.NewFromConfig(cfg).DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(execution)})
		}, want: []Access{access("states:DescribeExecution", execution)}},
		{name: "ListExecutions", call: func(ctx context.Context, cfg aws.Config) {
			sfn.NewFromConfig(cfg).ListExecutions(ctx, &sfn.ListExecutionsInput{StateMachineArn: aws.String(machine)})
		}, want: []Access{access("states:ListExecutions", machine)}},

		// Lambda, as moto's Step Functions engine invokes the functions
		// (boto3, access key "ak"), by ARN and by name with a qualifier.
		{name: "Invoke by ARN", key: "ak", call: func(ctx context.Context, cfg aws.Config) {
			sendSigned(ctx, cfg, "lambda", "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Aavatar-submit/invocations",
				"application/json", "{}")
		}, want: []Access{{Principal: "ak", Action: "lambda:InvokeFunction",
			Resources: []string{"arn:aws:lambda:us-east-1:123456789012:function:avatar-submit"}}}},
		{name: "Invoke by name, qualified", key: "ak", call: func(ctx context.Context, cfg aws.Config) {
			sendSigned(ctx, cfg, "lambda", "/2015-03-31/functions/avatar-notify/invocations?Qualifier=live", "application/json", "{}")
		}, want: []Access{{Principal: "ak", Action: "lambda:InvokeFunction",
			Resources: []string{"arn:aws:lambda:us-east-1:123456789012:function:avatar-notify:live"}}}},

		// Not recognised: reported, not guessed.
		{name: "an S3 sub-resource it does not know", call: func(ctx context.Context, cfg aws.Config) {
			s3.NewFromConfig(cfg).GetBucketAcl(ctx, &s3.GetBucketAclInput{Bucket: bucket})
		}},
		{name: "a DynamoDB request naming no table", call: func(ctx context.Context, cfg aws.Config) {
			dynamodb.NewFromConfig(cfg).DescribeLimits(ctx, &dynamodb.DescribeLimitsInput{})
		}},
		{name: "a service it does not know", call: func(ctx context.Context, cfg aws.Config) {
			sendQuery(ctx, cfg, "monitoring", "/", url.Values{"Action": {"PutMetricData"}, "Namespace": {"AvatarPipeline"}})
		}},
		{name: "an unsigned request", call: func(ctx context.Context, cfg aws.Config) {
			if resp, err := cfg.HTTPClient.(*http.Client).Get("http://127.0.0.1:4566/avatar-portraits/portraits/ada.jpg"); err == nil {
				resp.Body.Close()
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key := tc.key
			if key == "" {
				key = "SubmitFunction"
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			tc.call(ctx, accessConfig(srv, key))
			reqs := take()
			if len(reqs) != 1 {
				t.Fatalf("the call sent %d requests, want 1", len(reqs))
			}
			if tc.host != "" && reqs[0].r.Host != tc.host {
				t.Fatalf("the call went to host %s, want %s", reqs[0].r.Host, tc.host)
			}
			got, ok := accessOf(reqs[0].r, reqs[0].body)
			if ok != (tc.want != nil) || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("accessOf(%s %s) = %+v, %v; want %+v, %v", reqs[0].r.Method, reqs[0].r.URL, got, ok, tc.want, tc.want != nil)
			}
		})
	}
}
