package local

import (
	"bytes"
	"cmp"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambda/messages"
)

// Function is a Lambda function the gateway runs in-process.
type Function struct {
	// Name is the function's name, the last part of its ARN.
	Name string
	// Handler runs one invocation, as the Lambda runtime would call it.
	Handler lambda.Handler
	// Timeout is the function's timeout (the template's Timeout); the
	// invocation's context has this deadline, and an invocation that has
	// not returned by then fails with Sandbox.Timedout, as on Lambda.
	// Zero means Lambda's default, three seconds.
	Timeout time.Duration
}

// defaultTimeout is Lambda's default function timeout.
const defaultTimeout = 3 * time.Second

// timeout is the function's Timeout, or Lambda's default.
func (fn Function) timeout() time.Duration {
	if fn.Timeout <= 0 {
		return defaultTimeout
	}
	return fn.Timeout
}

// maxPayload is Lambda's limit on a synchronous invocation's payload.
const maxPayload = 6 << 20

// invokePrefix and invokeSuffix frame the path of Lambda's Invoke API:
// POST /2015-03-31/functions/{FunctionName}/invocations.
const (
	invokePrefix = "/2015-03-31/functions/"
	invokeSuffix = "/invocations"
)

// invokeRef returns the FunctionName of a Lambda Invoke request.
func invokeRef(r *http.Request) (string, bool) {
	ref, prefixed := strings.CutPrefix(r.URL.Path, invokePrefix)
	ref, suffixed := strings.CutSuffix(ref, invokeSuffix)
	return ref, prefixed && suffixed && r.Method == http.MethodPost
}

// Gateway is the local stack's AWS endpoint, an http.Handler. Lambda Invoke
// requests for registered functions run in-process; everything else is
// passed to moto unchanged (method, path, query, Host header, body, streamed
// both ways), so clients may sign requests for the gateway's address.
type Gateway struct {
	log func(format string, args ...any)

	backend atomic.Pointer[url.URL]
	proxy   *httputil.ReverseProxy

	mu     sync.RWMutex
	funcs  map[string]Function
	mounts map[string]http.Handler

	faults faultInjector // set only by this package's tests, under mu

	access *accessLog // the requests of the functions, for the permission proof

	// items makes DynamoDB's item operations atomic, as DynamoDB's are.
	// Moto checks a write's condition and then applies it, one attribute
	// at a time, without a lock: two conditional writes at once can both
	// succeed, and a read can see half a write. Every item operation
	// passes through here, so a write holds this exclusively, and a read
	// shared, while moto answers.
	items sync.RWMutex
}

// NewGateway returns a gateway with no functions and no backend yet: the
// gateway must be listening before moto starts (moto needs its port), and
// the functions are built once the resources they read exist. logf reports
// failed invocations; nil discards them.
func NewGateway(logf func(format string, args ...any)) *Gateway {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	g := &Gateway{log: logf, funcs: map[string]Function{}, mounts: map[string]http.Handler{}}
	g.proxy = &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(g.backend.Load())
			// SigV4 signs Host, and moto routes S3 virtual-hosted requests
			// by it: keep the client's.
			r.Out.Host = r.In.Host
		},
		FlushInterval: -1,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if r.Context().Err() == nil {
				logf("gateway: %s %s: %v", r.Method, r.URL.Path, err)
			}
			http.Error(w, "local gateway: moto did not answer: "+err.Error(), http.StatusBadGateway)
		},
	}
	return g
}

// SetBackend sets the moto server that requests other than Lambda Invoke go
// to. Until it is set they get 503.
func (g *Gateway) SetBackend(u *url.URL) { g.backend.Store(u) }

// Register makes fn answer Invoke requests for its name or ARN.
func (g *Gateway) Register(fn Function) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.funcs[fn.Name] = fn
}

// Mount serves h at the exact path p, which must start with "/_local/": no
// AWS API and no S3 bucket (names cannot start with "_") uses such a path.
func (g *Gateway) Mount(p string, h http.Handler) {
	if !strings.HasPrefix(p, "/_local/") {
		panic("local: Mount path must start with /_local/: " + p)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.mounts[p] = h
}

// functionARN returns the ARN of the local function named name.
func functionARN(name string) string { return arn("lambda", "function:"+name) }

// ServeHTTP routes a request to a function, a mount or moto.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	if ref, ok := invokeRef(r); ok {
		if fn, ok := g.function(ref); ok {
			g.invoke(w, r, fn)
			return
		}
		writeLambdaError(w, http.StatusNotFound, "ResourceNotFoundException",
			"Function not found: "+functionARN(functionName(ref)))
		return
	}
	if strings.HasPrefix(p, "/_local/") {
		g.mu.RLock()
		h, ok := g.mounts[p]
		g.mu.RUnlock()
		if ok {
			h.ServeHTTP(w, r)
			return
		}
	}
	if g.backend.Load() == nil {
		http.Error(w, "local gateway: moto is not running yet", http.StatusServiceUnavailable)
		return
	}
	g.record(r)
	if f := g.injector(); f != nil && f.answerAWS(w, r) {
		return
	}
	if r.Header.Get("X-Amz-Target") == "AWSStepFunctions.StartExecution" {
		nameExecution(r)
	}
	switch dynamoDBItemOps[r.Header.Get("X-Amz-Target")] {
	case itemWrite:
		g.items.Lock()
		defer g.items.Unlock()
	case itemRead:
		g.items.RLock()
		defer g.items.RUnlock()
	}
	g.proxy.ServeHTTP(w, r)
}

// nameExecution gives a StartExecution without a name a unique one, a
// UUID, as Step Functions does; moto names every such execution "None", so
// two nameless starts would share one name and ARN.
func nameExecution(r *http.Request) {
	body, err := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	var in map[string]any
	if err != nil || json.Unmarshal(body, &in) != nil {
		return // moto answers the malformed request
	}
	if name, _ := in["name"].(string); name != "" {
		return
	}
	in["name"] = newRequestID()
	body, _ = json.Marshal(in)
	r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	r.Header.Set("Content-Length", strconv.Itoa(len(body)))
}

// accessLog writes every request a function makes, as IAM sees it, one
// JSON line per resource: the input of tools/permissions.
type accessLog struct {
	mu      sync.Mutex
	w       io.Writer
	callers map[string]bool   // the principals to record: the functions' logical ids
	secrets map[string]string // secret name → ARN, for requests that name a secret by name
}

// RecordAccess makes the gateway write the requests signed by these
// principals to w (see accessLog). secrets resolves secret names to ARNs.
func (g *Gateway) RecordAccess(w io.Writer, principals []string, secrets map[string]string) {
	callers := map[string]bool{}
	for _, p := range principals {
		callers[p] = true
	}
	g.access = &accessLog{w: w, callers: callers, secrets: secrets}
}

func (g *Gateway) record(r *http.Request) {
	l := g.access
	if l == nil {
		return
	}
	if principal, _ := signerOf(r); !l.callers[principal] {
		return
	}
	var body []byte
	if ct := r.Header.Get("Content-Type"); strings.HasPrefix(ct, "application/x-amz-json") || strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		body, _ = io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	acc, ok := accessOf(r, body)
	if !ok { // recorded all the same, so that the proof fails on it rather than skip it
		principal, _ := signerOf(r)
		acc = []Access{{Principal: principal, Action: "unrecognised:" + r.Method, Resources: []string{r.URL.Path}}}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, a := range acc {
		for _, res := range a.Resources {
			if a.FromName {
				name := strings.TrimPrefix(res, arn("secretsmanager", "secret:"))
				res = cmp.Or(l.secrets[name], res)
			}
			line, _ := json.Marshal(map[string]string{"principal": a.Principal, "action": a.Action, "resource": res})
			l.w.Write(append(line, '\n'))
		}
	}
}

type itemOp int

const (
	itemRead itemOp = iota + 1
	itemWrite
)

// dynamoDBItemOps are DynamoDB's item operations, by X-Amz-Target.
var dynamoDBItemOps = map[string]itemOp{
	"DynamoDB_20120810.PutItem":            itemWrite,
	"DynamoDB_20120810.UpdateItem":         itemWrite,
	"DynamoDB_20120810.DeleteItem":         itemWrite,
	"DynamoDB_20120810.BatchWriteItem":     itemWrite,
	"DynamoDB_20120810.TransactWriteItems": itemWrite,
	"DynamoDB_20120810.GetItem":            itemRead,
	"DynamoDB_20120810.BatchGetItem":       itemRead,
	"DynamoDB_20120810.TransactGetItems":   itemRead,
	"DynamoDB_20120810.Query":              itemRead,
	"DynamoDB_20120810.Scan":               itemRead,
}

// function looks a function up by any of the forms Invoke accepts: name,
// name:qualifier, partial ARN (123456789012:function:name) or full ARN.
func (g *Gateway) function(ref string) (Function, bool) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	fn, ok := g.funcs[functionName(ref)]
	return fn, ok
}

// functionName extracts the name from a FunctionName parameter.
func functionName(ref string) string {
	parts := strings.Split(ref, ":")
	switch {
	case len(parts) >= 7 && parts[0] == "arn": // arn:aws:lambda:region:account:function:name[:qualifier]
		return parts[6]
	case len(parts) >= 3 && parts[1] == "function": // account:function:name[:qualifier]
		return parts[2]
	default: // name[:qualifier]
		return parts[0]
	}
}

// invoke runs one invocation and answers like Lambda's Invoke API.
func (g *Gateway) invoke(w http.ResponseWriter, r *http.Request, fn Function) {
	payload, err := io.ReadAll(io.LimitReader(r.Body, maxPayload+1))
	if err != nil {
		writeLambdaError(w, http.StatusBadRequest, "InvalidRequestContentException", "read the payload: "+err.Error())
		return
	}
	if len(payload) > maxPayload {
		writeLambdaError(w, http.StatusRequestEntityTooLarge, "RequestTooLargeException",
			fmt.Sprintf("Request must be smaller than %d bytes for the InvokeFunction operation", maxPayload))
		return
	}
	arn := functionARN(fn.Name)
	requestID := newRequestID()
	h := w.Header()
	h.Set("X-Amzn-Requestid", requestID)
	h.Set("X-Amz-Executed-Version", "$LATEST")

	switch typ := r.Header.Get("X-Amz-Invocation-Type"); typ {
	case "", "RequestResponse":
	case "Event":
		go func() {
			if _, fail := g.run(fn, arn, requestID, payload); fail != nil {
				g.log("%s failed (%s): %s: %s", fn.Name, requestID, fail.Type, fail.Message)
			}
		}()
		w.WriteHeader(http.StatusAccepted)
		return
	case "DryRun":
		w.WriteHeader(http.StatusNoContent)
		return
	default:
		writeLambdaError(w, http.StatusBadRequest, "InvalidParameterValueException", "unknown InvocationType "+typ)
		return
	}

	out, fail := g.run(fn, arn, requestID, payload)
	if fail != nil {
		g.log("%s failed (%s): %s: %s", fn.Name, requestID, fail.Type, fail.Message)
		out, _ = json.Marshal(fail)
		h.Set("X-Amz-Function-Error", "Unhandled")
	}
	h.Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.Write(out)
}

// Run runs one invocation of fn through aws-lambda-go's own invocation code
// (lambda.Function), which gives the context its LambdaContext and deadline
// and reports a returned error or a panic exactly as the Runtime API loop
// does. An invocation still running at the deadline fails with
// Sandbox.Timedout; its goroutine is left to finish, as a process cannot
// stop one.
func Run(fn Function, arn, requestID string, payload []byte) ([]byte, *messages.InvokeResponse_Error) {
	timeout := fn.timeout()
	deadline := time.Now().Add(timeout)
	req := &messages.InvokeRequest{Payload: payload, RequestId: requestID, InvokedFunctionArn: arn,
		Deadline: messages.InvokeRequest_Timestamp{Seconds: deadline.Unix(), Nanos: int64(deadline.Nanosecond())}}
	done := make(chan messages.InvokeResponse, 1)
	go func() {
		var res messages.InvokeResponse
		//lint:ignore SA1019 the RPC entry point is the library's one exported way to run an invocation in-process.
		lambda.NewFunction(fn.Handler).Invoke(req, &res)
		done <- res
	}()
	select {
	case res := <-done:
		return res.Payload, res.Error
	case <-time.After(timeout):
		return nil, timedOut(requestID, timeout)
	}
}

// timedOut is Lambda's report of an invocation that outlived its timeout.
func timedOut(requestID string, timeout time.Duration) *messages.InvokeResponse_Error {
	return &messages.InvokeResponse_Error{
		Type:    "Sandbox.Timedout",
		Message: fmt.Sprintf("RequestId: %s Error: Task timed out after %.2f seconds", requestID, timeout.Seconds()),
	}
}

// writeLambdaError writes an error of the Lambda API itself (not of the
// function), as the service does: x-amzn-ErrorType and a JSON body.
func writeLambdaError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-Errortype", typ)
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"Type": "User", "Message": msg, "message": msg})
}

// newRequestID returns a random UUID, the form of Lambda's request ids.
func newRequestID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// faultInjector fails chosen invocations and AWS requests, for tests of how
// the workflow copes with failures of the platform rather than of Mirako.
// Only this package's tests set one (gateway_faults_test.go).
type faultInjector interface {
	// run runs one invocation, or fails it.
	run(fn Function, arn, requestID string, payload []byte) ([]byte, *messages.InvokeResponse_Error)
	// answerAWS answers r with an error and reports whether it did.
	answerAWS(w http.ResponseWriter, r *http.Request) bool
}

func (g *Gateway) injector() faultInjector {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.faults
}

// run runs one invocation, through the fault injector when a test set one.
func (g *Gateway) run(fn Function, arn, requestID string, payload []byte) ([]byte, *messages.InvokeResponse_Error) {
	if f := g.injector(); f != nil {
		return f.run(fn, arn, requestID, payload)
	}
	return Run(fn, arn, requestID, payload)
}
