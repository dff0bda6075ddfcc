package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"strings"
	"testing"
	"time"

	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/smithy-go"

	"github.com/avatar-pipeline/avatar-pipeline/internal/pipeline"
	"github.com/avatar-pipeline/avatar-pipeline/internal/records"
	"github.com/avatar-pipeline/avatar-pipeline/internal/records/store"
)

// TestRetryEvent: the retry input is an "Object Created" event the
// pipeline parses back to the build's object, with retry_of set.
func TestRetryEvent(t *testing.T) {
	arn := "arn:aws:states:eu-west-1:210987654321:stateMachine:avatar-build-XYZ"
	for _, key := range []string{"portraits/ada.jpg", "portraits/red flower.jpg", "a+b/c%d ü.png"} {
		t.Run(key, func(t *testing.T) {
			rec := records.Record{BuildID: "3f2a9c1b7d0e4a5f8b6c2d1e0f9a8b7c", Bucket: "bucket", Key: key,
				VersionID: "v1", ETag: "abc", Size: 1234, Status: records.StatusReady}
			raw, err := retryEvent(rec, arn, time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC))
			if err != nil {
				t.Fatal(err)
			}
			ev, err := pipeline.ParseObjectCreated(raw)
			if err != nil {
				t.Fatalf("the pipeline cannot parse the retry event %s: %v", raw, err)
			}
			if got := ev.KeyCandidates()[0]; got != key {
				t.Errorf("got key %q first, want %q", got, key)
			}
			d := ev.Detail
			if d.Bucket.Name != "bucket" || d.Object.VersionID != "v1" || d.Object.ETag != "abc" || d.Object.Size != 1234 || ev.RetryOf != rec.BuildID {
				t.Errorf("got bucket %q version %q etag %q size %d retry_of %q, want the build's object and id",
					d.Bucket.Name, d.Object.VersionID, d.Object.ETag, d.Object.Size, ev.RetryOf)
			}
			var top map[string]any
			if err := json.Unmarshal(raw, &top); err != nil {
				t.Fatal(err)
			}
			if top["region"] != "eu-west-1" || top["account"] != "210987654321" || top["time"] != "2025-06-01T12:00:00Z" {
				t.Errorf("got region %v account %v time %v, want the state machine's region and account and the time", top["region"], top["account"], top["time"])
			}
		})
	}
	if _, err := retryEvent(records.Record{BuildID: "x"}, arn, time.Now()); err == nil {
		t.Error("a build without an object: got no error, want one")
	}
}

func TestExecutionName(t *testing.T) {
	a := executionName("3f2a9c1b7d0e4a5f8b6c2d1e0f9a8b7c", time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC))
	b := executionName("3f2a9c1b7d0e4a5f8b6c2d1e0f9a8b7c", time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC))
	if !strings.HasPrefix(a, "retry-3f2a9c1b7d0e-20250601T120000Z-") || a == b || len(a) > 80 {
		t.Errorf("got %q and %q, want distinct readable names of at most 80 characters", a, b)
	}
}

func TestDefaultKey(t *testing.T) {
	tests := map[string]string{
		"ada.jpg":                    "portraits/ada.jpg",
		"/home/me/Photos/Ada L.jpeg": "portraits/Ada-L.jpeg",
		"../a b  c?.png":             "portraits/a-b-c.png",
		"Zoë (2).jpg":                "portraits/Zo-2.jpg",
		"???":                        "portraits/portrait",
		".hidden.png":                "portraits/hidden.png",
	}
	for in, want := range tests {
		if got := defaultKey(in); got != want {
			t.Errorf("defaultKey(%q): got %q, want %q", in, got, want)
		}
	}
}

func TestMetadataValue(t *testing.T) {
	if got := metadataValue("Ada Lovelace"); got != "Ada Lovelace" {
		t.Errorf("got %q, want the ASCII name unchanged", got)
	}
	got := metadataValue("Zoë Ørsted")
	for i := 0; i < len(got); i++ {
		if got[i] >= 0x80 {
			t.Fatalf("got %q, want ASCII only", got)
		}
	}
	if dec, err := new(mime.WordDecoder).DecodeHeader(got); err != nil || dec != "Zoë Ørsted" {
		t.Errorf("got %q, decoding to %q (%v), want the name back", got, dec, err)
	}
}

func TestListOptions(t *testing.T) {
	at := time.Date(2025, 6, 10, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		in      listOptions
		want    store.ListOptions
		wantErr string
	}{
		{listOptions{limit: 20}, store.ListOptions{Limit: 20}, ""},
		{listOptions{status: "ready", limit: 0}, store.ListOptions{Status: records.StatusReady}, ""},
		{listOptions{since: "12h", limit: 5}, store.ListOptions{Limit: 5, Since: at.Add(-12 * time.Hour)}, ""},
		{listOptions{since: "7d"}, store.ListOptions{Since: at.Add(-7 * 24 * time.Hour)}, ""},
		{listOptions{since: "1.5d"}, store.ListOptions{Since: at.Add(-36 * time.Hour)}, ""},
		{listOptions{status: "DONE"}, store.ListOptions{}, "unknown status"},
		{listOptions{limit: -1}, store.ListOptions{}, "--limit"},
		{listOptions{since: "soon"}, store.ListOptions{}, "--since"},
		{listOptions{since: "-2h"}, store.ListOptions{}, "--since"},
	}
	for _, tc := range tests {
		got, err := tc.in.toListOptions(at)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%+v: got error %v, want one about %s", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%+v: got %+v, %v, want %+v", tc.in, got, err, tc.want)
		}
	}
}

// TestExplain: errors with a known usual cause say what to do.
func TestExplain(t *testing.T) {
	localConn := &conn{local: true, endpoint: localEndpoint, res: localResources("us-east-1")}
	stackConn := &conn{stackName: "prod", res: resources{Table: "prod-Builds", Bucket: "prod-bucket", StateMachineARN: "arn:sm"}}
	stackConn.cfg.Region = "eu-west-1"
	apiErr := func(code string) error { return &smithy.GenericAPIError{Code: code, Message: "m"} }
	tests := []struct {
		name string
		c    *conn
		err  error
		want string
	}{
		{"local table", localConn, &ddbtypes.ResourceNotFoundException{}, "is the local stack running? Start it with 'make local'"},
		{"stack table", stackConn, fmt.Errorf("read: %w", &ddbtypes.ResourceNotFoundException{}), "table prod-Builds (output TableName of stack prod in eu-west-1) not found"},
		{"local state machine", localConn, &sfntypes.StateMachineDoesNotExist{}, "is the local stack running?"},
		{"bucket", stackConn, apiErr("NoSuchBucket"), "bucket prod-bucket"},
		{"expired", stackConn, apiErr("ExpiredToken"), "AWS refused the credentials"},
		{"denied", stackConn, apiErr("AccessDeniedException"), "needs permission"},
		{"other", stackConn, errors.New("boom"), "boom"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.c.explain(tc.err)
			if !strings.Contains(got.Error(), tc.want) {
				t.Errorf("got %q, want it to contain %q", got, tc.want)
			}
			if !errors.Is(got, tc.err) {
				t.Errorf("the explained error does not wrap the original")
			}
		})
	}
}

// TestConnectErrors: what connect says when it cannot work, without
// touching the network.
func TestConnectErrors(t *testing.T) {
	dir := t.TempDir()
	// No credentials, no region, no profile: nothing from this machine.
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
		"AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
		"AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_WEB_IDENTITY_TOKEN_FILE", "AVATAR_STACK"} {
		t.Setenv(k, "")
	}
	t.Setenv("AWS_CONFIG_FILE", dir+"/config")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", dir+"/credentials")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")

	tests := []struct {
		name string
		g    globalOptions
		want string
	}{
		{"local and stack", globalOptions{local: true, stack: "s"}, "--local and --stack exclude each other"},
		{"no region", globalOptions{}, "no AWS region"},
		{"no credentials", globalOptions{region: "eu-west-1"}, "no usable AWS credentials: configure them with 'aws configure'"},
		{"no profile", globalOptions{region: "eu-west-1", profile: "nope"}, "nope"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.g.connect(context.Background())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}

	// --local needs no configuration at all: dummy credentials, us-east-1,
	// the local endpoint and names.
	g := globalOptions{local: true}
	c, err := g.connect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	creds, err := c.cfg.Credentials.Retrieve(context.Background())
	if err != nil || creds.AccessKeyID == "" {
		t.Errorf("got credentials %v, %v, want dummy ones", creds.AccessKeyID, err)
	}
	if c.cfg.Region != "us-east-1" || c.endpoint != "http://127.0.0.1:4566" || c.res.Table != "avatar-builds" || c.res.Bucket != "avatar-portraits" ||
		c.res.StateMachineARN != "arn:aws:states:us-east-1:123456789012:stateMachine:avatar-build" {
		t.Errorf("got region %s endpoint %s resources %+v, want the local stack's", c.cfg.Region, c.endpoint, c.res)
	}

	// AWS_ENDPOINT_URL is honoured, and --endpoint wins over it.
	t.Setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9999")
	g = globalOptions{local: true}
	if c, err := g.connect(context.Background()); err != nil || c.endpoint != "http://127.0.0.1:9999" {
		t.Errorf("with AWS_ENDPOINT_URL: got endpoint %v (%v), want http://127.0.0.1:9999", c, err)
	}
	g = globalOptions{local: true, endpoint: "http://127.0.0.1:8888"}
	if c, err := g.connect(context.Background()); err != nil || c.endpoint != "http://127.0.0.1:8888" {
		t.Errorf("with --endpoint: got endpoint %v (%v), want http://127.0.0.1:8888", c, err)
	}
}

// TestUnreachableLocalStack: a command on a local stack that is not running
// says how to start it.
func TestUnreachableLocalStack(t *testing.T) {
	r := avatarctl(t, "--local", "--endpoint", "http://127.0.0.1:1", "view", "3f2a9c1b")
	if r.code != exitError || !strings.Contains(r.stderr, "is it running? Start it with 'make local'") {
		t.Errorf("got exit %d stderr %q, want 1 and how to start the local stack", r.code, r.stderr)
	}
}

func TestVersion(t *testing.T) {
	r := avatarctl(t, "--version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "avatarctl version ") {
		t.Errorf("got exit %d stdout %q, want the version", r.code, r.stdout)
	}
	version = "v9.8.7"
	defer func() { version = "" }()
	if got := versionString(); got != "v9.8.7" {
		t.Errorf("with -X main.version: got %q, want v9.8.7", got)
	}
}

// TestHelpDocumentsExitCodes: the root help's exit code table, and the
// commands that end with a build's outcome, give each code the meaning its
// constant has.
func TestHelpDocumentsExitCodes(t *testing.T) {
	codes := []struct {
		code int
		word string
	}{
		{exitOK, "READY"},
		{exitRejected, "REJECTED"},
		{exitBuildError, "ERROR"},
		{exitTimedOut, "TIMED_OUT"},
		{exitFailed, "FAILED"},
		{exitWaitTimeout, "still running"},
	}
	root := avatarctl(t, "--help").stdout
	if !strings.Contains(root, "Exit codes:") {
		t.Errorf("root help lacks its exit codes:\n%s", root)
	}
	for _, c := range codes[1:] { // the table explains 0 in words
		if want := fmt.Sprintf("\n  %d  %s", c.code, c.word); !strings.Contains(root, want) {
			t.Errorf("root help lacks %q", want)
		}
	}
	for _, cmd := range []string{"build", "wait"} {
		help := avatarctl(t, cmd, "--help").stdout
		for _, c := range codes {
			if want := fmt.Sprintf("%d %s", c.code, c.word); !strings.Contains(strings.Join(strings.Fields(help), " "), want) {
				t.Errorf("%s help lacks %q", cmd, want)
			}
		}
	}
}

func TestCompletion(t *testing.T) {
	r := avatarctl(t, "completion", "bash")
	if r.code != 0 || !strings.Contains(r.stdout, "bash completion") {
		t.Errorf("got exit %d, want a bash completion script", r.code)
	}
	r = avatarctl(t, "__complete", "list", "--status", "")
	if !strings.Contains(r.stdout, "READY\n") || !strings.Contains(r.stdout, "TIMED_OUT\n") {
		t.Errorf("got %q, want the statuses as --status completions", r.stdout)
	}
}
