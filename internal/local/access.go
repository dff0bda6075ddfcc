package local

import (
	"cmp"
	"encoding/json"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// The permission proof records every request made to the local endpoint as
// IAM sees it and judges it against the roles the SAM transform makes of
// template.yaml (tools/permissions). accessOf is the recording side: it names
// the IAM action and resource ARNs of one request, and its principal from the
// signature, since each function's clients sign with their own access key id.

// Access is one AWS request as IAM sees it.
type Access struct {
	// Principal is the access key id the request was signed with: a
	// function's logical id ("SubmitFunction") for the functions' clients.
	Principal string
	// Action is the IAM action, as "dynamodb:PutItem".
	Action string
	// Resources are the ARNs the action is authorized against.
	Resources []string
	// FromName reports that the resource is a Secrets Manager ARN built from
	// a bare secret name. Real ARNs, moto's included, end in "-" and six
	// random characters, which the template's grants expect
	// (secret:NAME-??????): resolve the name to its ARN before checking.
	FromName bool
}

// accessOf names the IAM action(s) and resource ARN(s) of an AWS API request
// made to the local endpoint (region us-east-1, account 123456789012), and
// the principal from its SigV4 Authorization header's access key id (or a
// presigned URL's X-Amz-Credential). body is the request's body; S3 requests
// do not need it. A request it does not recognise returns ok false, so the
// caller can log it rather than skip it silently.
func accessOf(r *http.Request, body []byte) ([]Access, bool) {
	principal, service := signerOf(r)
	var acc []Access
	var ok bool
	prefix, op, _ := strings.Cut(r.Header.Get("X-Amz-Target"), ".")
	switch {
	case prefix == "DynamoDB_20120810":
		acc, ok = dynamoDBAccess(op, body)
	case prefix == "AmazonSQS":
		acc, ok = sqsAccess(op, jsonParams(body), "")
	case prefix == "secretsmanager":
		acc, ok = secretAccess(op, body)
	case prefix == "AWSStepFunctions":
		acc, ok = statesAccess(op, body)
	case prefix != "":
		return nil, false
	case service == "s3":
		acc, ok = s3Access(r)
	case service == "lambda":
		acc, ok = lambdaAccess(r)
	case service == "sns" || service == "sqs":
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, false
		}
		if service == "sns" {
			acc, ok = snsAccess(form.Get("Action"), form)
		} else {
			acc, ok = sqsAccess(form.Get("Action"), form.Get, r.URL.Path)
		}
	}
	if !ok {
		return nil, false
	}
	for i := range acc {
		acc[i].Principal = principal
	}
	return acc, true
}

// signerOf returns the access key id and the service of a request's SigV4
// credential scope, "AKID/20060102/us-east-1/s3/aws4_request".
func signerOf(r *http.Request) (key, service string) {
	scope := r.URL.Query().Get("X-Amz-Credential")
	if _, rest, ok := strings.Cut(r.Header.Get("Authorization"), "Credential="); ok {
		scope, _, _ = strings.Cut(rest, ",")
	}
	parts := strings.Split(strings.TrimSpace(scope), "/")
	if len(parts) != 5 {
		return "", ""
	}
	return parts[0], parts[3]
}

// arn builds an ARN of the local region and account.
func arn(service, resource string) string {
	return "arn:aws:" + service + ":" + Region + ":" + Account + ":" + resource
}

// one is a single Access on a single resource.
func one(action, resource string) []Access {
	return []Access{{Action: action, Resources: []string{resource}}}
}

// transactActions are the IAM actions that authorize each kind of item in
// TransactWriteItems and TransactGetItems.
var transactActions = map[string]string{
	"Put":            "dynamodb:PutItem",
	"Update":         "dynamodb:UpdateItem",
	"Delete":         "dynamodb:DeleteItem",
	"ConditionCheck": "dynamodb:ConditionCheckItem",
	"Get":            "dynamodb:GetItem",
}

// dynamoDBAccess reads a DynamoDB request: the table (and, for Query and
// Scan, the index) it names; a transaction's items one by one; a batch's
// tables together.
func dynamoDBAccess(op string, body []byte) ([]Access, bool) {
	var in struct {
		TableName, IndexName string
		TransactItems        []map[string]struct{ TableName string }
		RequestItems         map[string]json.RawMessage
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, false
	}
	switch op {
	case "TransactWriteItems", "TransactGetItems":
		var acc []Access
		for _, item := range in.TransactItems {
			for kind, target := range item {
				action, ok := transactActions[kind]
				if !ok || target.TableName == "" {
					return nil, false
				}
				acc = append(acc, one(action, tableARN(target.TableName))...)
			}
		}
		return acc, len(acc) > 0
	case "BatchGetItem", "BatchWriteItem":
		var tables []string
		for _, name := range slices.Sorted(maps.Keys(in.RequestItems)) {
			tables = append(tables, tableARN(name))
		}
		return []Access{{Action: "dynamodb:" + op, Resources: tables}}, len(tables) > 0
	case "ListTables":
		return one("dynamodb:ListTables", "*"), true
	}
	if in.TableName == "" {
		return nil, false
	}
	resource := tableARN(in.TableName)
	if in.IndexName != "" && (op == "Query" || op == "Scan") {
		resource += "/index/" + in.IndexName
	}
	return one("dynamodb:"+op, resource), true
}

// tableARN is the ARN of a table named by name or ARN (DynamoDB takes both).
func tableARN(name string) string {
	if strings.HasPrefix(name, "arn:") {
		return name
	}
	return arn("dynamodb", "table/"+name)
}

// sqsBatches are authorized by the action of their single-message form.
var sqsBatches = map[string]string{
	"SendMessageBatch":             "SendMessage",
	"DeleteMessageBatch":           "DeleteMessage",
	"ChangeMessageVisibilityBatch": "ChangeMessageVisibility",
}

// sqsAccess reads an SQS request of either protocol: the queue is its
// QueueUrl, its QueueName, or (the query protocol's older form) the path it
// was posted to.
func sqsAccess(op string, param func(string) string, path string) ([]Access, bool) {
	var resource string
	switch {
	case param("QueueUrl") != "":
		u, err := url.Parse(param("QueueUrl"))
		if err != nil {
			return nil, false
		}
		resource = queueARN(u.Path)
	case param("QueueName") != "":
		resource = queueARN("/" + cmp.Or(param("QueueOwnerAWSAccountId"), Account) + "/" + param("QueueName"))
	case op == "ListQueues":
		resource = "*"
	default:
		resource = queueARN(path)
	}
	if op == "" || resource == "" {
		return nil, false
	}
	if single, ok := sqsBatches[op]; ok {
		op = single
	}
	return one("sqs:"+op, resource), true
}

// queueARN turns a queue URL's path, /123456789012/name, into the queue's
// ARN, or "" when the path is not of that form.
func queueARN(path string) string {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	if len(parts) != 2 || parts[0] == "" || parts[1] == "" {
		return ""
	}
	return "arn:aws:sqs:" + Region + ":" + parts[0] + ":" + parts[1]
}

// snsAccess reads an SNS request (query protocol): the topic it names, or
// the one CreateTopic makes.
func snsAccess(op string, form url.Values) ([]Access, bool) {
	resource := cmp.Or(form.Get("TopicArn"), form.Get("TargetArn"))
	if resource == "" && op == "CreateTopic" && form.Get("Name") != "" {
		resource = arn("sns", form.Get("Name"))
	}
	if op == "" || resource == "" {
		return nil, false
	}
	if op == "PublishBatch" {
		op = "Publish"
	}
	return one("sns:"+op, resource), true
}

// secretAccess reads a Secrets Manager request: the secret its SecretId (or
// CreateSecret's Name) names.
func secretAccess(op string, body []byte) ([]Access, bool) {
	var in struct{ SecretId, Name string }
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, false
	}
	id := in.SecretId
	if op == "CreateSecret" {
		id = in.Name
	}
	if id == "" {
		return nil, false
	}
	a := Access{Action: "secretsmanager:" + op, Resources: []string{id}}
	if !strings.HasPrefix(id, "arn:") {
		a.Resources[0], a.FromName = arn("secretsmanager", "secret:"+id), true
	}
	return []Access{a}, true
}

// statesAccess reads a Step Functions request: the execution or state
// machine it names, or the one CreateStateMachine makes.
func statesAccess(op string, body []byte) ([]Access, bool) {
	var in struct {
		StateMachineARN string `json:"stateMachineArn"`
		ExecutionARN    string `json:"executionArn"`
		Name            string `json:"name"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, false
	}
	var resource string
	switch {
	case op == "CreateStateMachine" && in.Name != "":
		resource = arn("states", "stateMachine:"+in.Name)
	case in.ExecutionARN != "":
		resource = in.ExecutionARN
	case in.StateMachineARN != "":
		resource = in.StateMachineARN
	case op == "ListStateMachines":
		resource = "*"
	default:
		return nil, false
	}
	return one("states:"+op, resource), true
}

// lambdaAccess reads a Lambda Invoke request, POST
// /2015-03-31/functions/{FunctionName}/invocations, whose function may be
// named by name, name:qualifier, partial ARN or ARN.
func lambdaAccess(r *http.Request) ([]Access, bool) {
	ref, ok := invokeRef(r)
	if !ok || ref == "" {
		return nil, false
	}
	resource := arn("lambda", "function:"+ref)
	if parts := strings.Split(ref, ":"); parts[0] == "arn" {
		resource = ref
	} else if len(parts) >= 3 && parts[1] == "function" {
		resource = "arn:aws:lambda:" + Region + ":" + ref
	}
	if q := r.URL.Query().Get("Qualifier"); q != "" {
		resource += ":" + q
	}
	return one("lambda:InvokeFunction", resource), true
}

// jsonParams returns a lookup of a JSON body's top-level string fields.
func jsonParams(body []byte) func(string) string {
	var m map[string]any
	json.Unmarshal(body, &m)
	return func(key string) string {
		s, _ := m[key].(string)
		return s
	}
}

// S3 operations by method and subresource (the query parameter that names a
// bucket's or object's sub-resource; "" for none).
var (
	s3BucketOps = map[string]string{
		"GET ":                  "s3:ListBucket",
		"HEAD ":                 "s3:ListBucket", // HeadBucket
		"GET versions":          "s3:ListBucketVersions",
		"GET location":          "s3:GetBucketLocation",
		"GET versioning":        "s3:GetBucketVersioning",
		"GET uploads":           "s3:ListBucketMultipartUploads",
		"GET notification":      "s3:GetBucketNotification",
		"PUT ":                  "s3:CreateBucket",
		"PUT versioning":        "s3:PutBucketVersioning",
		"PUT notification":      "s3:PutBucketNotification",
		"PUT publicAccessBlock": "s3:PutBucketPublicAccessBlock",
		"PUT encryption":        "s3:PutEncryptionConfiguration",
		"PUT policy":            "s3:PutBucketPolicy",
		"DELETE ":               "s3:DeleteBucket",
	}
	s3ObjectOps = map[string]string{
		"GET ":            "s3:GetObject",
		"HEAD ":           "s3:GetObject",
		"PUT ":            "s3:PutObject", // PutObject, CopyObject
		"DELETE ":         "s3:DeleteObject",
		"GET tagging":     "s3:GetObjectTagging",
		"PUT tagging":     "s3:PutObjectTagging",
		"POST uploads":    "s3:PutObject", // CreateMultipartUpload
		"PUT uploadId":    "s3:PutObject", // UploadPart, UploadPartCopy
		"POST uploadId":   "s3:PutObject", // CompleteMultipartUpload
		"DELETE uploadId": "s3:AbortMultipartUpload",
		"GET uploadId":    "s3:ListMultipartUploadParts",
	}
	// s3Versioned are the actions that name a version when versionId is given.
	s3Versioned = map[string]string{
		"s3:GetObject":        "s3:GetObjectVersion",
		"s3:DeleteObject":     "s3:DeleteObjectVersion",
		"s3:GetObjectTagging": "s3:GetObjectVersionTagging",
		"s3:PutObjectTagging": "s3:PutObjectVersionTagging",
	}
	// s3Params are query parameters that are not sub-resources: listing
	// parameters, versionId, the SDK's x-id (and, in s3Access, response
	// header overrides and a presigned URL's X-Amz-* signature).
	s3Params = map[string]bool{
		"list-type": true, "prefix": true, "delimiter": true, "max-keys": true, "continuation-token": true,
		"start-after": true, "encoding-type": true, "marker": true, "fetch-owner": true, "key-marker": true,
		"version-id-marker": true, "upload-id-marker": true, "max-uploads": true, "max-parts": true,
		"part-number-marker": true, "partNumber": true, "versionId": true, "x-id": true,
	}
)

// s3Access reads an S3 REST request: GET or HEAD of an object is GetObject
// (GetObjectVersion with a versionId), PUT is PutObject (a copy also reads its
// source), GET of a bucket with only listing parameters is ListBucket on the
// bucket's ARN. A sub-resource it does not know makes the request unknown.
func s3Access(r *http.Request) ([]Access, bool) {
	bucket, key := s3Location(r)
	q := r.URL.Query()
	sub := ""
	for name := range q {
		if s3Params[name] || strings.HasPrefix(name, "response-") || strings.HasPrefix(strings.ToLower(name), "x-amz-") {
			continue
		}
		if sub != "" {
			return nil, false
		}
		sub = name
	}
	ops, resource := s3BucketOps, "arn:aws:s3:::"+bucket
	if key != "" {
		ops, resource = s3ObjectOps, resource+"/"+key
	}
	action, ok := ops[r.Method+" "+sub]
	if bucket == "" || !ok {
		return nil, false
	}
	if q.Has("versionId") && s3Versioned[action] != "" {
		action = s3Versioned[action]
	}
	acc := one(action, resource)
	if src := r.Header.Get("X-Amz-Copy-Source"); src != "" && r.Method == http.MethodPut && key != "" {
		src, err := url.PathUnescape(src)
		if err != nil {
			return nil, false
		}
		path, version, _ := strings.Cut(strings.TrimPrefix(src, "/"), "?versionId=")
		read := "s3:GetObject"
		if version != "" {
			read = "s3:GetObjectVersion"
		}
		acc = append(acc, one(read, "arn:aws:s3:::"+path)...)
	}
	return acc, true
}

// s3Location returns the bucket and key a request addresses, virtual-hosted
// (bucket.s3.example.com/key) or path-style (/bucket/key). Like moto, it
// takes a host to name the bucket unless the host is an IP address, starts
// with localhost, has no dot, or is an S3 endpoint itself (s3.…, s3-…).
func s3Location(r *http.Request) (bucket, key string) {
	path := strings.TrimPrefix(r.URL.Path, "/")
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	virtual := net.ParseIP(strings.Trim(host, "[]")) == nil && strings.Contains(host, ".") &&
		!strings.HasPrefix(host, "localhost") && !strings.HasPrefix(host, "s3.") && !strings.HasPrefix(host, "s3-")
	if !virtual {
		bucket, key, _ = strings.Cut(path, "/")
		return bucket, key
	}
	for _, sep := range []string{".s3.", ".s3-"} {
		if i := strings.Index(host, sep); i > 0 {
			return host[:i], path
		}
	}
	bucket, _, _ = strings.Cut(host, ".")
	return bucket, path
}
