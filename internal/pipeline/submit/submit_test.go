package submit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"log/slog"
	"mime"
	"net/url"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/avatar-pipeline/avatar-pipeline/internal/local"
	"github.com/avatar-pipeline/avatar-pipeline/internal/mirako"
	"github.com/avatar-pipeline/avatar-pipeline/internal/mirako/mirakotest"
	"github.com/avatar-pipeline/avatar-pipeline/internal/pipeline"
	"github.com/avatar-pipeline/avatar-pipeline/internal/pipeline/submit"
	"github.com/avatar-pipeline/avatar-pipeline/internal/records"
)

// The Submit tests run the handler against real S3 and DynamoDB APIs (moto,
// through the local stack's gateway) and the Mirako simulator. They use a
// bucket of their own, without event notifications, so that no workflow
// runs beside them.

var (
	stackOnce sync.Once
	stack     *local.Stack
)

type env struct {
	stack  *local.Stack
	s3     *s3.Client
	db     *dynamodb.Client
	bucket string
	sim    *mirakotest.Simulator
	simURL string
	h      *submit.Handler
}

// setup starts (once per package run) a local stack and gives each test a
// fresh bucket and simulator, so tests can run in parallel.
func setup(t *testing.T) *env {
	t.Helper()
	stackOnce.Do(func() { stack = local.StartTest(&onceTB{TB: t}, local.Options{Out: &stackLog}) })
	if stack == nil {
		t.Fatal("the local stack did not start (see the first test's log)")
	}
	cfg := stack.AWSConfig()
	e := &env{
		stack:  stack,
		s3:     s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true }),
		db:     dynamodb.NewFromConfig(cfg),
		bucket: strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace("t-" + t.Name())),
	}
	if len(e.bucket) > 60 {
		e.bucket = e.bucket[:60]
	}
	ctx := context.Background()
	if _, err := e.s3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &e.bucket}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s3.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: &e.bucket,
		VersioningConfiguration: &s3types.VersioningConfiguration{Status: s3types.BucketVersioningStatusEnabled}}); err != nil {
		t.Fatal(err)
	}
	e.sim, e.simURL = newSim(t)
	e.h = &submit.Handler{
		Config:  pipeline.SubmitConfig{Table: stack.Resources.Table, Schedule: pipeline.DefaultSchedule},
		Objects: e.s3,
		Table:   e.db,
		Mirako:  mirako.NewClient(e.simURL, mirakotest.DefaultToken),
		Log:     slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	return e
}

// onceTB keeps the shared stack alive past the first test: its cleanup runs
// when the package's tests are done, not when that test ends.
type onceTB struct{ testing.TB }

func (o *onceTB) Cleanup(f func()) { cleanups = append(cleanups, f) }

var cleanups []func()

// stackLog keeps the shared stack's log, which outlives any one test; it
// is printed if a test fails.
var stackLog local.LogBuffer

func TestMain(m *testing.M) {
	code := m.Run()
	for _, f := range cleanups {
		f()
	}
	if code != 0 {
		fmt.Fprintf(os.Stderr, "the local stack's log:\n%s", stackLog.String())
	}
	os.Exit(code)
}

// newSim starts a simulator of the test's own. Its seed differs per test:
// avatar ids come from the seed, and the tests share one table, where the
// by-avatar index must not see one test's avatar as another's.
func newSim(t *testing.T) (*mirakotest.Simulator, string) {
	seed := fnv.New64a()
	seed.Write([]byte(t.Name()))
	sim, srv := mirakotest.NewServer(t, mirakotest.Config{Seed: int64(seed.Sum64())})
	return sim, srv.URL
}

// portraitJPEG is a 1024×1024 JPEG with enough texture to pass the checks.
func portraitJPEG(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			v := uint8((x*7 + y*3 + (x*y)%37) % 256)
			img.Set(x, y, color.RGBA{v, uint8((int(v) + 60) % 256), uint8(255 - v), 255})
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func smallPNG(t *testing.T) []byte {
	var buf bytes.Buffer
	png.Encode(&buf, image.NewGray(image.Rect(0, 0, 100, 100)))
	return buf.Bytes()
}

// put uploads an object and returns the event S3 would send for it, with
// the key encoded the way S3 notifications encode keys.
func (e *env) put(t *testing.T, key string, body []byte, name *string) (json.RawMessage, *s3.PutObjectOutput) {
	t.Helper()
	in := &s3.PutObjectInput{Bucket: &e.bucket, Key: &key, Body: bytes.NewReader(body)}
	if name != nil {
		in.Metadata = map[string]string{pipeline.NameMetadata: *name}
	}
	out, err := e.s3.PutObject(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	return e.event(key, int64(len(body)), out), out
}

func (e *env) event(key string, size int64, out *s3.PutObjectOutput) json.RawMessage {
	ev := map[string]any{
		"version": "0", "id": "ev-" + key, "detail-type": "Object Created", "source": "aws.s3",
		"detail": map[string]any{
			"version": "0",
			"bucket":  map[string]any{"name": e.bucket},
			"object": map[string]any{"key": url.QueryEscape(key), "size": size,
				"etag": strings.Trim(aws.ToString(out.ETag), `"`), "version-id": aws.ToString(out.VersionId)},
			"reason": "PutObject",
		},
	}
	b, _ := json.Marshal(ev)
	return b
}

func (e *env) invoke(t *testing.T, in any) (pipeline.State, error) {
	t.Helper()
	payload, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := lambda.NewHandler(e.h.Handle).Invoke(context.Background(), payload)
	if err != nil {
		return pipeline.State{}, err
	}
	var st pipeline.State
	if err := json.Unmarshal(out, &st); err != nil {
		t.Fatal(err)
	}
	return st, nil
}

func (e *env) admit(t *testing.T, event json.RawMessage, execution string) pipeline.State {
	t.Helper()
	st, err := e.invoke(t, map[string]any{"step": "admit", "event": event, "execution_arn": execution})
	if err != nil {
		t.Fatalf("admit: %v", err)
	}
	return st
}

func (e *env) submit(st pipeline.State, t *testing.T) (pipeline.State, error) {
	return e.invoke(t, map[string]any{"step": "submit", "build": st})
}

func (e *env) record(t *testing.T, id string) records.Record {
	t.Helper()
	out, err := e.db.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: &e.stack.Resources.Table,
		Key: map[string]types.AttributeValue{"build_id": &types.AttributeValueMemberS{Value: id}}, ConsistentRead: aws.Bool(true)})
	if err != nil || out.Item == nil {
		t.Fatalf("read record %s: %v (found %v)", id, err, out != nil && out.Item != nil)
	}
	var r records.Record
	if err := attributevalue.UnmarshalMap(out.Item, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func errType(err error) string {
	if err == nil {
		return "<nil>"
	}
	ty := reflect.TypeOf(err)
	if ty.Kind() == reflect.Pointer {
		return ty.Elem().Name()
	}
	return ty.Name()
}

func TestSubmitHappyPathWithAwkwardKey(t *testing.T) {
	t.Parallel()
	e := setup(t)
	name := "Zoë Doe 李"
	key := "portraits/2026/Jane Doe +1 é.jpg"
	encoded := mime.QEncoding.Encode("utf-8", name) // S3 metadata is ASCII
	ev, put := e.put(t, key, portraitJPEG(t, 1024, 1024), &encoded)

	st := e.admit(t, ev, "exec-1")
	wantID := records.BuildID(e.bucket, key, aws.ToString(put.VersionId), aws.ToString(put.ETag))
	if st.Outcome != pipeline.OutcomeAdmitted || st.BuildID != wantID || st.Key != key || st.Name != name {
		t.Fatalf("admit: got outcome %s id %s key %q name %q, want ADMITTED %s %q %q", st.Outcome, st.BuildID, st.Key, st.Name, wantID, key, name)
	}
	if got := e.record(t, st.BuildID); got.Status != records.StatusReceived || got.ExecutionARN != "exec-1" {
		t.Errorf("record after admit: got %s owned by %s", got.Status, got.ExecutionARN)
	}

	st, err := e.submit(st, t)
	if err != nil {
		t.Fatal(err)
	}
	if st.Outcome != pipeline.OutcomeSubmitted || st.AvatarID == "" || st.WaitSeconds != 120 || st.Deadline == "" {
		t.Fatalf("submit: got %+v", st)
	}
	rec := e.record(t, st.BuildID)
	if rec.AvatarID != st.AvatarID || rec.Status != records.StatusPending || rec.Image == nil || rec.Image.Width != 1024 {
		t.Errorf("record after submit: got %+v", rec)
	}
	if s := e.sim.Stats(); s.BuildsCreated != 1 || s.BuildsByName[name] != 1 {
		t.Errorf("simulator: got %d builds %v, want 1 named %q", s.BuildsCreated, s.BuildsByName, name)
	}

	// A retry of Submit after it succeeded returns the same avatar and posts nothing.
	again, err := e.submit(st, t)
	if err != nil || again.AvatarID != st.AvatarID {
		t.Fatalf("retried submit: got %v, %v, want avatar %s", again.AvatarID, err, st.AvatarID)
	}
	if got := e.sim.Stats().BuildsCreated; got != 1 {
		t.Errorf("retried submit posted again: %d builds", got)
	}
}

func TestAdmitDeduplicates(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ev, _ := e.put(t, "dup.jpg", portraitJPEG(t, 512, 512), nil)
	first := e.admit(t, ev, "exec-1")
	if first.Outcome != pipeline.OutcomeAdmitted || first.Name != "dup" {
		t.Fatalf("got %s name %q, want ADMITTED named after the key", first.Outcome, first.Name)
	}
	// Concurrent duplicate deliveries: exactly the owner's retry is admitted.
	var wg sync.WaitGroup
	outcomes := make([]pipeline.Outcome, 8)
	for i := range outcomes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			outcomes[i] = e.admit(t, ev, fmt.Sprintf("exec-dup-%d", i)).Outcome
		}()
	}
	wg.Wait()
	for i, o := range outcomes {
		if o != pipeline.OutcomeDuplicate {
			t.Errorf("delivery %d: got %s, want DUPLICATE", i, o)
		}
	}
	if retry := e.admit(t, ev, "exec-1"); retry.Outcome != pipeline.OutcomeAdmitted || retry.BuildID != first.BuildID {
		t.Errorf("the owner's own retry: got %s %s, want ADMITTED %s", retry.Outcome, retry.BuildID, first.BuildID)
	}
	// A new upload of the same key is a new build.
	ev2, _ := e.put(t, "dup.jpg", portraitJPEG(t, 512, 512), nil)
	if second := e.admit(t, ev2, "exec-2"); second.Outcome != pipeline.OutcomeAdmitted || second.BuildID == first.BuildID {
		t.Errorf("new version: got %s %s, want a new ADMITTED build", second.Outcome, second.BuildID)
	}
}

func TestRejections(t *testing.T) {
	t.Parallel()
	e := setup(t)
	blank := "   "
	tests := []struct {
		name, key, wantReason string
		body                  []byte
		meta                  *string
		atAdmit               bool
	}{
		{name: "too small", key: "small.png", body: smallPNG(t), wantReason: "512"},
		{name: "not an image", key: "notes.jpg", body: []byte("hello, this is text"), wantReason: "JPEG"},
		{name: "wrong aspect", key: "wide.jpg", body: portraitJPEG(t, 1200, 600), wantReason: "16:9"},
		{name: "blank name", key: "ok.jpg", body: portraitJPEG(t, 512, 512), meta: &blank, wantReason: "name is empty", atAdmit: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev, _ := e.put(t, tc.key, tc.body, tc.meta)
			st := e.admit(t, ev, "exec-"+tc.name)
			if !tc.atAdmit {
				var err error
				if st, err = e.submit(st, t); err != nil {
					t.Fatal(err)
				}
			}
			if st.Outcome != pipeline.OutcomeRejected || st.Status != records.StatusRejected || !strings.Contains(st.Reason, tc.wantReason) || st.FinishedAt == "" {
				t.Errorf("got %s %s reason %q, want REJECTED with a reason naming %q", st.Outcome, st.Status, st.Reason, tc.wantReason)
			}
		})
	}
	if got := e.sim.Stats().Requests[mirakotest.EndpointBuild]; got != 0 {
		t.Errorf("rejected portraits reached Mirako: %d build requests", got)
	}
}

func TestAdmitObjectGone(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ev := e.event("never-uploaded.jpg", 10, &s3.PutObjectOutput{ETag: aws.String(`"abc"`)})
	st := e.admit(t, ev, "exec-gone")
	if st.Outcome != pipeline.OutcomeRejected || !strings.Contains(st.Reason, "deleted") || st.BuildID == "" {
		t.Errorf("got %s %q, want REJECTED saying the object is gone", st.Outcome, st.Reason)
	}
}

// TestLostAnswerIsAdopted: Mirako creates the avatar and the connection
// drops before the answer. Submit finds the avatar it created and goes on
// in the same invocation; if it cannot look (the list fails too), the
// state machine's retry adopts it. Either way Mirako is posted to once.
func TestLostAnswerIsAdopted(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		listFails  bool
		wantErrors []string // the error types of the attempts before the one that succeeds
	}{
		{name: "in the same invocation"},
		{name: "by the retry", listFails: true, wantErrors: []string{"MirakoUnavailableError"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := setup(t)
			name := "Adopt Me " + tc.name
			ev, _ := e.put(t, "adopt.jpg", portraitJPEG(t, 512, 512), &name)
			st := e.admit(t, ev, "exec-adopt-"+tc.name)
			e.sim.ScriptFor(mirakotest.EndpointBuild, mirakotest.FaultAcceptThenReset, 1)
			if tc.listFails {
				e.sim.ScriptFor(mirakotest.EndpointList, mirakotest.Fault503, 1)
			}
			var done pipeline.State
			var errs []string
			for range 3 {
				var err error
				if done, err = e.submit(st, t); err == nil {
					break
				}
				errs = append(errs, errType(err))
			}
			if !slices.Equal(errs, tc.wantErrors) {
				t.Errorf("failed attempts: got %v, want %v", errs, tc.wantErrors)
			}
			avatars, _ := mirako.NewClient(e.simURL, mirakotest.DefaultToken).List(context.Background())
			if len(avatars) != 1 || done.AvatarID != avatars[0].ID || e.record(t, st.BuildID).AvatarID != done.AvatarID {
				t.Errorf("got avatar %s, want the one avatar Mirako has (%v), recorded", done.AvatarID, avatars)
			}
			if s := e.sim.Stats(); s.BuildsCreated != 1 || s.Requests[mirakotest.EndpointBuild] != 1 {
				t.Errorf("got %d POSTs and %d builds, want 1 of each", s.Requests[mirakotest.EndpointBuild], s.BuildsCreated)
			}
		})
	}
}

func TestSubmitMirakoErrorsAreTyped(t *testing.T) {
	t.Parallel()
	e := setup(t)
	tests := []struct {
		name, avatarName string
		fault            mirakotest.Fault
		faults           int
		want             string
	}{
		{name: "no credits", avatarName: "Broke [credits]", want: "MirakoRejectedError"},
		{name: "rate limited past the inline retries", avatarName: "Busy", fault: mirakotest.Fault429, faults: 3, want: "RateLimitedError"},
		{name: "server error", avatarName: "Down", fault: mirakotest.Fault503, want: "MirakoUnavailableError"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev, _ := e.put(t, tc.name+".jpg", portraitJPEG(t, 512, 512), &tc.avatarName)
			st := e.admit(t, ev, "exec-"+tc.name)
			if tc.fault != "" {
				e.sim.ScriptFor(mirakotest.EndpointBuild, tc.fault, max(tc.faults, 1))
			}
			_, err := e.submit(st, t)
			if errType(err) != tc.want {
				t.Fatalf("got %v (%s), want %s", err, errType(err), tc.want)
			}
			if strings.Contains(err.Error(), mirakotest.DefaultToken) {
				t.Errorf("the error carries the token: %v", err)
			}
		})
	}
	var rejected *pipeline.MirakoRejectedError
	ev, _ := e.put(t, "again.jpg", portraitJPEG(t, 512, 512), aws.String("Broke [credits]"))
	_, err := e.submit(e.admit(t, ev, "exec-again"), t)
	if !errors.As(err, &rejected) || !strings.Contains(err.Error(), "402") {
		t.Errorf("got %v, want a MirakoRejectedError naming 402", err)
	}
}

func TestSubmitWaitsOutAShortRateLimit(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ev, _ := e.put(t, "limited.jpg", portraitJPEG(t, 512, 512), nil)
	st := e.admit(t, ev, "exec-limited")
	e.sim.ScriptFor(mirakotest.EndpointBuild, mirakotest.Fault429, 1)
	done, err := e.submit(st, t)
	if err != nil || done.AvatarID == "" {
		t.Fatalf("got %v, %v, want the build submitted after waiting out Retry-After", done.AvatarID, err)
	}
	s := e.sim.Stats()
	if s.Requests[mirakotest.EndpointBuild] != 2 || s.BuildsCreated != 1 {
		t.Errorf("got %d POSTs and %d builds, want 2 and 1", s.Requests[mirakotest.EndpointBuild], s.BuildsCreated)
	}
}

func TestResumeTakesOverAStaleBuildOnce(t *testing.T) {
	t.Parallel()
	e := setup(t)
	resume := func(id, previous, execution string) pipeline.State {
		event, _ := json.Marshal(pipeline.ResumeInput{ResumeBuildID: id, PreviousExecution: previous})
		st, err := e.invoke(t, map[string]any{"step": "admit", "event": json.RawMessage(event), "execution_arn": execution})
		if err != nil {
			t.Fatalf("resume: %v", err)
		}
		return st
	}

	// Admitted, then its execution died before Submit.
	ev, _ := e.put(t, "stale.jpg", portraitJPEG(t, 512, 512), nil)
	stale := e.admit(t, ev, "exec-dead")
	got := resume(stale.BuildID, "exec-dead", "exec-sweep-1")
	if got.Outcome != pipeline.OutcomeAdmitted || e.record(t, stale.BuildID).ExecutionARN != "exec-sweep-1" {
		t.Fatalf("got %s, owner %s; want ADMITTED and the record taken over", got.Outcome, e.record(t, stale.BuildID).ExecutionARN)
	}
	if again := resume(stale.BuildID, "exec-dead", "exec-sweep-2"); again.Outcome != pipeline.OutcomeDuplicate {
		t.Errorf("a second sweep of the same build: got %s, want DUPLICATE", again.Outcome)
	}

	// Submitted, then its execution died while polling: back to polling, no new POST.
	ev2, _ := e.put(t, "stale2.jpg", portraitJPEG(t, 512, 512), nil)
	submitted, err := e.submit(e.admit(t, ev2, "exec-dead-2"), t)
	if err != nil {
		t.Fatal(err)
	}
	got = resume(submitted.BuildID, "exec-dead-2", "exec-sweep-3")
	if got.Outcome != pipeline.OutcomeSubmitted || got.AvatarID != submitted.AvatarID || got.WaitSeconds != 1 || got.Deadline == "" {
		t.Errorf("got %+v, want SUBMITTED with the same avatar and a short first wait", got)
	}
	if n := e.sim.Stats().BuildsCreated; n != 1 {
		t.Errorf("resuming posted again: %d builds", n)
	}
}

// TestConcurrentAttemptsPostOnce: the state machine may retry Submit
// while the first invocation still runs; the two must not both post.
func TestConcurrentAttemptsPostOnce(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ev, _ := e.put(t, "race.jpg", portraitJPEG(t, 512, 512), aws.String("Race"))
	st := e.admit(t, ev, "exec-race")
	type result struct {
		st  pipeline.State
		err error
	}
	results := make(chan result, 2)
	for range 2 {
		go func() {
			s, err := e.submit(st, t)
			results <- result{s, err}
		}()
	}
	var avatars []string
	for range 2 {
		r := <-results
		switch {
		case r.err == nil:
			avatars = append(avatars, r.st.AvatarID)
		case errType(r.err) != "SubmitInProgressError":
			t.Errorf("the losing attempt: got %v (%s), want a retryable SubmitInProgressError", r.err, errType(r.err))
		}
	}
	if n := e.sim.Stats().BuildsCreated; n != 1 {
		t.Errorf("two attempts at once made %d avatars, want 1", n)
	}
	// Whatever the loser saw, its retry ends with the one recorded avatar.
	again, err := e.submit(st, t)
	if err != nil || again.AvatarID == "" || again.AvatarID != e.record(t, st.BuildID).AvatarID {
		t.Fatalf("retry after the race: got %q, %v", again.AvatarID, err)
	}
	for _, a := range avatars {
		if a != again.AvatarID {
			t.Errorf("an attempt returned avatar %s, the record has %s", a, again.AvatarID)
		}
	}
}

// TestLiveClaimHoldsOffOtherAttempts: an attempt that claimed the POST and
// then vanished (its answer lost, the invocation possibly still running)
// keeps every other attempt from posting until its claim lapses; then a
// retry posts, once.
func TestLiveClaimHoldsOffOtherAttempts(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ev, _ := e.put(t, "claimed.jpg", portraitJPEG(t, 512, 512), aws.String("Claimed"))
	st := e.admit(t, ev, "exec-claimed")
	started := time.Now().Add(-time.Minute)
	e.setClaim(t, st.BuildID, started, time.Now().Add(time.Hour))

	_, err := e.submit(st, t)
	var busy *pipeline.SubmitInProgressError
	if !errors.As(err, &busy) || busy.Until.Before(time.Now()) {
		t.Fatalf("got %v, want a SubmitInProgressError naming when the claim lapses", err)
	}
	if n := e.sim.Stats().Requests[mirakotest.EndpointBuild]; n != 0 {
		t.Fatalf("posted %d times under another attempt's claim", n)
	}

	e.setClaim(t, st.BuildID, started, time.Now().Add(-time.Second))
	done, err := e.submit(st, t)
	if err != nil || done.AvatarID == "" {
		t.Fatalf("after the claim lapsed: got %q, %v, want the build posted", done.AvatarID, err)
	}
	if n := e.sim.Stats().BuildsCreated; n != 1 {
		t.Errorf("got %d builds, want 1", n)
	}
}

// TestFailedPostEndsClaim: an attempt whose post Mirako refused ends its
// claim, so the state machine's retry posts at once. One whose post's
// outcome is unknown (the connection dropped before any answer, a 500) keeps it
// for ClaimMargin, in case Mirako creates the avatar a little later: a
// retry within that time waits, and one after it posts.
func TestFailedPostEndsClaim(t *testing.T) {
	t.Parallel()
	tests := []struct {
		fault   mirakotest.Fault
		times   int // faults scripted: a 429 past Submit's inline retries
		wantErr string
		margin  bool
	}{
		{fault: mirakotest.Fault503, times: 1, wantErr: "MirakoUnavailableError"},
		{fault: mirakotest.FaultReset, times: 1, wantErr: "MirakoUnavailableError", margin: true},
		{fault: mirakotest.Fault500, times: 1, wantErr: "MirakoUnavailableError", margin: true}, // may come after Mirako acted
		{fault: mirakotest.Fault429, times: 3, wantErr: "RateLimitedError"},
	}
	for _, tc := range tests {
		t.Run(string(tc.fault), func(t *testing.T) {
			e := setup(t)
			ev, _ := e.put(t, "ended.jpg", portraitJPEG(t, 512, 512), aws.String("Ended "+string(tc.fault)))
			st := e.admit(t, ev, "exec-ended-"+string(tc.fault))
			e.sim.ScriptFor(mirakotest.EndpointBuild, tc.fault, tc.times)
			failed := time.Now()
			if _, err := e.submit(st, t); errType(err) != tc.wantErr {
				t.Fatalf("got %v (%s), want %s", err, errType(err), tc.wantErr)
			}
			rec := e.record(t, st.BuildID)
			until, err := records.ParseTime(rec.SubmitClaimedUntil)
			if rec.SubmitStartedAt == "" || err != nil {
				t.Fatalf("the record has no claim: %+v", rec)
			}
			if tc.margin {
				if until.Before(failed.Add(submit.ClaimMargin - time.Second)) {
					t.Errorf("the claim ends at %s, want it kept for %s after the failure", rec.SubmitClaimedUntil, submit.ClaimMargin)
				}
				if _, err := e.submit(st, t); errType(err) != "SubmitInProgressError" {
					t.Fatalf("a retry within the margin: got %v (%s), want SubmitInProgressError", err, errType(err))
				}
				started, _ := records.ParseTime(rec.SubmitStartedAt)
				e.setClaim(t, st.BuildID, started, time.Now().Add(-time.Second))
			} else if until.After(time.Now()) {
				t.Errorf("the claim still runs until %s after Mirako refused the post", rec.SubmitClaimedUntil)
			}
			done, err := e.submit(st, t)
			if err != nil || done.AvatarID == "" {
				t.Fatalf("the retry: got %q, %v, want the build posted", done.AvatarID, err)
			}
			if n := e.sim.Stats().BuildsCreated; n != 1 {
				t.Errorf("got %d builds, want 1", n)
			}
		})
	}
}

// setClaim writes a claim on the POST as an earlier attempt would have.
func (e *env) setClaim(t *testing.T, buildID string, started, until time.Time) {
	t.Helper()
	_, err := e.db.UpdateItem(context.Background(), &dynamodb.UpdateItemInput{
		TableName:                &e.stack.Resources.Table,
		Key:                      map[string]types.AttributeValue{records.AttrBuildID: &types.AttributeValueMemberS{Value: buildID}},
		UpdateExpression:         aws.String("SET #s = :s, #u = :u"),
		ExpressionAttributeNames: map[string]string{"#s": records.AttrSubmitting, "#u": records.AttrClaimedUntil},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":s": &types.AttributeValueMemberS{Value: records.FormatTime(started)},
			":u": &types.AttributeValueMemberS{Value: records.FormatTime(until)},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestUnreadableTokenFailsAfterAdmission: Submit reads the Mirako token
// when it first calls Mirako, so a token it cannot read fails the build
// after admission has recorded it, with a reason that names the secret and
// the fix, and nothing is posted.
func TestUnreadableTokenFailsAfterAdmission(t *testing.T) {
	t.Parallel()
	e := setup(t)
	env := map[string]string{
		pipeline.EnvBuildsTable:      e.stack.Resources.Table,
		pipeline.EnvMirakoURL:        e.simURL,
		pipeline.EnvMirakoSecretID:   "avatar-pipeline/no-such-token",
		pipeline.EnvHeadStart:        "120",
		pipeline.EnvPollInterval:     "30",
		pipeline.EnvDeadline:         "10800",
		pipeline.EnvNotifyOnSubmit:   "false",
		pipeline.EnvLearnedHeadStart: "false",
	}
	h, err := submit.NewFromEnv(context.Background(), e.stack.AWSConfig(), func(k string) string { return env[k] },
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatalf("Submit must start without reading the token: %v", err)
	}
	e.h = h

	ev, _ := e.put(t, "tokenless.jpg", portraitJPEG(t, 512, 512), aws.String("Tokenless"))
	st := e.admit(t, ev, "exec-tokenless")
	if st.Outcome != pipeline.OutcomeAdmitted || st.BuildID == "" {
		t.Fatalf("admission: got %s, want ADMITTED with a build id", st.Outcome)
	}
	_, err = e.submit(st, t)
	var startup *pipeline.StartupError
	if !errors.As(err, &startup) || !strings.Contains(err.Error(), "avatar-pipeline/no-such-token") || !strings.Contains(err.Error(), "create-secret") {
		t.Fatalf("got %v (%s), want a StartupError naming the secret and how to create it", err, errType(err))
	}
	if rec := e.record(t, st.BuildID); rec.AvatarID != "" || rec.SubmitStartedAt != "" {
		t.Errorf("the record has avatar %q and a claim from %q; want neither: the token is read before claiming", rec.AvatarID, rec.SubmitStartedAt)
	}
	if n := e.sim.Stats().Requests[mirakotest.EndpointBuild]; n != 0 {
		t.Errorf("posted %d times without a token", n)
	}
}
