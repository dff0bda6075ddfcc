package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/avatar-pipeline/avatar-pipeline/internal/local"
	"github.com/avatar-pipeline/avatar-pipeline/internal/records"
)

// The end-to-end tests run avatarctl against one local stack for the
// package: moto behind the gateway, the functions in-process, the Mirako
// simulator with one-second builds, one-second polls and an eight-second
// deadline (so that a stuck build reaches TIMED_OUT quickly).

var e2e struct {
	once  sync.Once
	stack *local.Stack
	err   error
	log   local.LogBuffer // the stack's log, shown when a test fails
}

func TestMain(m *testing.M) {
	code := m.Run()
	if e2e.stack != nil {
		e2e.stack.Close()
	}
	os.Exit(code)
}

// localStack starts the package's local stack on first use. Without
// moto_server the test fails with the install hint.
func localStack(t *testing.T) *local.Stack {
	t.Helper()
	e2e.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		e2e.stack, e2e.err = local.Start(ctx, local.Options{
			Addr: "127.0.0.1:0", SimAddr: "127.0.0.1:0",
			BuildTime: time.Second, PollSeconds: 1, DeadlineSeconds: 8,
			Out: &e2e.log,
		})
	})
	if e2e.err != nil {
		t.Fatalf("start the local stack: %v", e2e.err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("local stack log:\n%s", e2e.log.String())
		}
	})
	return e2e.stack
}

// onLocal runs avatarctl against the test's local stack.
func onLocal(t *testing.T, s *local.Stack, args ...string) result {
	t.Helper()
	return avatarctl(t, append([]string{"--local", "--endpoint", s.Endpoint}, args...)...)
}

var buildLine = regexp.MustCompile(`(?m)^Build ([0-9a-f]{32})$`)

// buildID is the id `build` printed.
func buildID(t *testing.T, r result) string {
	t.Helper()
	m := buildLine.FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("no build id in %q", r.stdout)
	}
	return m[1]
}

func decodeRecord(t *testing.T, r result) records.Record {
	t.Helper()
	var rec records.Record
	if err := json.Unmarshal([]byte(r.stdout), &rec); err != nil {
		t.Fatalf("want one JSON record, got %q: %v", r.stdout, err)
	}
	return rec
}

func decodeRecords(t *testing.T, r result) []records.Record {
	t.Helper()
	var recs []records.Record
	if err := json.Unmarshal([]byte(r.stdout), &recs); err != nil || recs == nil {
		t.Fatalf("want a JSON array of records, got %q: %v", r.stdout, err)
	}
	return recs
}

const waitFlags = "--interval=200ms"

// TestE2EBuildViewListRetry: build --wait uploads a portrait and follows it
// to READY under the id it printed at once; view finds the build by id,
// prefix and avatar id; list shows it; retry builds the object again as a
// new build that names the first.
func TestE2EBuildViewListRetry(t *testing.T) {
	s := localStack(t)
	t.Parallel()
	img := writeJPEG(t, t.TempDir(), "ada lovelace.jpg", 640, 640)

	r := onLocal(t, s, "build", "-i", img, "--name", "Ada Lovelace", "--wait", waitFlags, "--timeout=60s")
	if r.code != exitOK {
		t.Fatalf("build --wait: got exit %d, want 0 (READY)", r.code)
	}
	id := buildID(t, r)
	for _, want := range []string{": accept (jpeg, 640×640", "Uploaded s3://avatar-portraits/portraits/ada-lovelace.jpg (version ", "READY      avatar "} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("build --wait output lacks %q", want)
		}
	}

	// The id is the one the pipeline derives from the object version.
	ctx := context.Background()
	head, err := s3.NewFromConfig(s.AWSConfig(), func(o *s3.Options) { o.UsePathStyle = true }).HeadObject(ctx,
		&s3.HeadObjectInput{Bucket: aws.String(local.BucketName), Key: aws.String("portraits/ada-lovelace.jpg")})
	if err != nil {
		t.Fatal(err)
	}
	if want := records.BuildID(local.BucketName, "portraits/ada-lovelace.jpg", aws.ToString(head.VersionId), ""); id != want {
		t.Errorf("got build id %s, want %s from the object's version", id, want)
	}
	if got := head.Metadata["avatar-name"]; got != "Ada Lovelace" {
		t.Errorf("got avatar-name metadata %q, want %q", got, "Ada Lovelace")
	}

	// view: by id, prefix and avatar id.
	rec := decodeRecord(t, onLocal(t, s, "view", "--json", id))
	if rec.BuildID != id || rec.Status != records.StatusReady || rec.Name != "Ada Lovelace" || rec.AvatarID == "" || len(rec.Themes) == 0 {
		t.Fatalf("view --json: got %+v, want READY build %s of Ada Lovelace with avatar and themes", rec, id)
	}
	v := onLocal(t, s, "view", id[:8])
	for _, want := range []string{"Build:       " + id, "Status:      READY", "Themes:      " + rec.Themes[0], "Avatar:      " + rec.AvatarID} {
		if v.code != 0 || !strings.Contains(v.stdout, want) {
			t.Errorf("view PREFIX: got exit %d, no %q", v.code, want)
		}
	}
	if got := decodeRecord(t, onLocal(t, s, "view", "--json", rec.AvatarID)); got.BuildID != id {
		t.Errorf("view AVATAR-ID: got build %s, want %s", got.BuildID, id)
	}
	if r := onLocal(t, s, "view", "ffffffffffffffffffffffffffffffff"); r.code != exitError || !strings.Contains(r.stderr, "avatarctl list") {
		t.Errorf("view of an unknown id: got exit %d stderr %q, want 1 and a hint", r.code, r.stderr)
	}

	// list: newest first, by status, as JSON and as lines.
	all := decodeRecords(t, onLocal(t, s, "list", "--json", "--limit=0"))
	if !slices.ContainsFunc(all, func(r records.Record) bool { return r.BuildID == id }) {
		t.Errorf("list --json: build %s missing", id)
	}
	if !slices.IsSortedFunc(all, func(a, b records.Record) int { return strings.Compare(b.CreatedAt, a.CreatedAt) }) {
		t.Errorf("list --json: not newest first")
	}
	ready := decodeRecords(t, onLocal(t, s, "list", "--json", "--status", "READY", "--since", "1h"))
	if !slices.ContainsFunc(ready, func(r records.Record) bool { return r.BuildID == id }) || slices.ContainsFunc(ready, func(r records.Record) bool { return r.Status != records.StatusReady }) {
		t.Errorf("list --status READY: got %v, want READY builds including %s", ready, id)
	}
	if got := decodeRecords(t, onLocal(t, s, "list", "--json", "--limit", "1")); len(got) != 1 {
		t.Errorf("list --limit 1: got %d builds", len(got))
	}
	if l := onLocal(t, s, "list", "--status", "ready"); !strings.Contains(l.stdout, id+"\tREADY\tAda Lovelace\t"+rec.AvatarID+"\t") {
		t.Errorf("list: no tab-separated line for %s in %q", id, l.stdout)
	}

	// retry: a new build of the same object, naming the first.
	rr := onLocal(t, s, "retry", "--wait", "--json", waitFlags, "--timeout=60s", id[:10])
	if rr.code != exitOK {
		t.Fatalf("retry --wait: got exit %d, want 0", rr.code)
	}
	retry := decodeRecord(t, rr)
	if retry.RetryOf != id || retry.BuildID == id || retry.BuildID != records.RetryBuildID(id, retry.ExecutionARN) ||
		retry.Status != records.StatusReady || retry.Key != rec.Key || retry.VersionID != rec.VersionID || retry.AvatarID == rec.AvatarID {
		t.Errorf("retry: got %+v, want a new READY build of %s/%s with retry_of %s and a new avatar", retry, retry.Key, retry.VersionID, id)
	}
	if v := onLocal(t, s, "view", retry.BuildID); !strings.Contains(v.stdout, "Retry of:    "+id) {
		t.Errorf("view of the retry: no \"Retry of\" %s in %q", id, v.stdout)
	}
}

// TestE2EWaitRejected: a portrait uploaded around the CLI that the
// pipeline rejects makes wait exit 2 with the reason.
func TestE2EWaitRejected(t *testing.T) {
	s := localStack(t)
	t.Parallel()
	small := writePNG(t, t.TempDir(), "small.png", 300, 300)
	data, err := os.ReadFile(small)
	if err != nil {
		t.Fatal(err)
	}
	out, err := s3.NewFromConfig(s.AWSConfig(), func(o *s3.Options) { o.UsePathStyle = true }).PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: aws.String(local.BucketName), Key: aws.String("portraits/small.png"), Body: bytes.NewReader(data),
		Metadata: map[string]string{"avatar-name": "Small"},
	})
	if err != nil {
		t.Fatal(err)
	}
	id := records.BuildID(local.BucketName, "portraits/small.png", aws.ToString(out.VersionId), aws.ToString(out.ETag))

	// The build may not be registered yet: a whole id is waited for.
	r := onLocal(t, s, "wait", waitFlags, "--timeout=60s", id)
	if r.code != exitRejected || !strings.Contains(r.stdout, "REJECTED") || !strings.Contains(r.stdout, "512×512") {
		t.Errorf("wait: got exit %d stdout %q, want 2 and the REJECTED line with its reason", r.code, r.stdout)
	}
	j := onLocal(t, s, "wait", "--json", id[:12])
	if rec := decodeRecord(t, j); j.code != exitRejected || rec.Status != records.StatusRejected || rec.Reason == "" {
		t.Errorf("wait --json: got exit %d record %+v, want 2 and the REJECTED record", j.code, rec)
	}
	if v := onLocal(t, s, "view", id); !strings.Contains(v.stdout, "Reason:      ") {
		t.Errorf("view: no reason in %q", v.stdout)
	}
}

// TestE2EOutcomes: build --wait exits with the code of the outcome the
// simulator is told to produce.
func TestE2EOutcomes(t *testing.T) {
	s := localStack(t)
	t.Parallel()
	dir := t.TempDir()
	tests := []struct {
		name       string
		wantCode   int
		wantStatus records.Status
	}{
		{"Error [error]", exitBuildError, records.StatusError},
		{"Broke [credits]", exitFailed, records.StatusFailed},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			img := writeJPEG(t, dir, fmt.Sprintf("outcome-%d.jpg", i), 640, 640)
			r := onLocal(t, s, "build", "-i", img, "--name", tc.name, "--wait", "--json", waitFlags, "--timeout=60s")
			rec := decodeRecord(t, r)
			if r.code != tc.wantCode || rec.Status != tc.wantStatus || rec.Reason == "" {
				t.Errorf("got exit %d status %s reason %q, want %d %s with a reason", r.code, rec.Status, rec.Reason, tc.wantCode, tc.wantStatus)
			}
		})
	}
}

// TestE2EWaitTimeout: wait --timeout on a build that does not end exits 6
// and leaves the build running; retry refuses it; the pipeline's own
// deadline later ends it TIMED_OUT, exit 4.
func TestE2EWaitTimeout(t *testing.T) {
	s := localStack(t)
	t.Parallel()
	img := writeJPEG(t, t.TempDir(), "stuck.jpg", 640, 640)
	r := onLocal(t, s, "build", "-i", img, "--name", "Stuck [stuck]", "--json")
	if r.code != exitOK {
		t.Fatalf("build: got exit %d", r.code)
	}
	var up upload
	if err := json.Unmarshal([]byte(r.stdout), &up); err != nil || up.BuildID == "" || up.Key != "portraits/stuck.jpg" || up.Name != "Stuck [stuck]" {
		t.Fatalf("build --json: got %q (%v), want the upload", r.stdout, err)
	}

	w := onLocal(t, s, "wait", waitFlags, "--timeout=2s", up.BuildID)
	if w.code != exitWaitTimeout || !strings.Contains(w.stderr, "at --timeout; it goes on") {
		t.Errorf("wait --timeout: got exit %d stderr %q, want 6 and a hint", w.code, w.stderr)
	}
	// On a loaded machine the build may not be registered yet; retry needs it.
	for start := time.Now(); onLocal(t, s, "view", up.BuildID).code != exitOK && time.Since(start) < time.Minute; {
		time.Sleep(500 * time.Millisecond)
	}
	if rr := onLocal(t, s, "retry", up.BuildID); rr.code != exitError || !strings.Contains(rr.stderr, "--force") {
		t.Errorf("retry of a running build: got exit %d stderr %q, want 1 and --force", rr.code, rr.stderr)
	}
	w = onLocal(t, s, "wait", waitFlags, "--timeout=60s", up.BuildID)
	if w.code != exitTimedOut || !strings.Contains(w.stdout, "TIMED_OUT") {
		t.Errorf("wait: got exit %d, want 4 (TIMED_OUT)", w.code)
	}
}

// TestE2EStack: with --stack, the resources come from the CloudFormation
// stack's outputs; AVATAR_STACK names the default stack; a missing stack, a
// stack without the outputs and a stack whose table is gone are explained.
func TestE2EStack(t *testing.T) {
	s := localStack(t)
	dir := t.TempDir()
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", dir+"/config")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", dir+"/credentials")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_REGION", local.Region)

	cf := cloudformation.NewFromConfig(s.AWSConfig())
	createStack := func(name string, outputs map[string]string) {
		t.Helper()
		tmpl := map[string]any{
			"Resources": map[string]any{"Queue": map[string]any{"Type": "AWS::SQS::Queue", "Properties": map[string]any{"QueueName": name + "-queue"}}},
			"Outputs":   map[string]any{},
		}
		for k, v := range outputs {
			tmpl["Outputs"].(map[string]any)[k] = map[string]any{"Value": v}
		}
		body, _ := json.Marshal(tmpl)
		if _, err := cf.CreateStack(context.Background(), &cloudformation.CreateStackInput{StackName: aws.String(name), TemplateBody: aws.String(string(body))}); err != nil {
			t.Fatalf("create stack %s: %v", name, err)
		}
	}
	good := localResources(local.Region)
	outputs := map[string]string{"BucketName": good.Bucket, "TableName": good.Table, "TopicArn": good.TopicARN, "StateMachineArn": good.StateMachineARN}
	createStack("avatar-e2e", outputs)
	outputs["TableName"] = "avatar-gone"
	createStack("avatar-gone", outputs)
	createStack("avatar-partial", map[string]string{"BucketName": good.Bucket})

	onStack := func(args ...string) result {
		return avatarctl(t, append([]string{"--endpoint", s.Endpoint}, args...)...)
	}
	if r := onStack("--stack", "avatar-e2e", "list", "--json"); r.code != exitOK {
		t.Errorf("--stack: got exit %d, want 0", r.code)
	} else {
		decodeRecords(t, r)
	}
	t.Setenv("AVATAR_STACK", "avatar-e2e")
	if r := onStack("list", "--json"); r.code != exitOK {
		t.Errorf("AVATAR_STACK: got exit %d, want 0", r.code)
	}
	t.Setenv("AVATAR_STACK", "")

	tests := []struct {
		stack string
		want  string
	}{
		{"avatar-pipeline", `CloudFormation stack "avatar-pipeline" not found in us-east-1: deploy it`},
		{"avatar-partial", "has no output TableName, TopicArn, StateMachineArn"},
		{"avatar-gone", "table avatar-gone (output TableName of stack avatar-gone in us-east-1"},
	}
	for _, tc := range tests {
		args := []string{"list"}
		if tc.stack != "avatar-pipeline" {
			args = append([]string{"--stack", tc.stack}, args...)
		}
		if r := onStack(args...); r.code != exitError || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("stack %s: got exit %d stderr %q, want 1 and %q", tc.stack, r.code, r.stderr, tc.want)
		}
	}
}
