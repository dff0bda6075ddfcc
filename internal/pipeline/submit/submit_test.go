package submit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"log/slog"
	"maps"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/avatar-pipeline/avatar-pipeline/internal/dynamotest"
	"github.com/avatar-pipeline/avatar-pipeline/internal/face/sample"
	"github.com/avatar-pipeline/avatar-pipeline/internal/lambdatest"
	"github.com/avatar-pipeline/avatar-pipeline/internal/mirako"
	"github.com/avatar-pipeline/avatar-pipeline/internal/mirako/mirakotest"
	"github.com/avatar-pipeline/avatar-pipeline/internal/pipeline"
	"github.com/avatar-pipeline/avatar-pipeline/internal/pipeline/submit"
	"github.com/avatar-pipeline/avatar-pipeline/internal/records"
	"github.com/avatar-pipeline/avatar-pipeline/internal/records/store"
)

// The Submit tests are hermetic: the build store runs on an in-memory
// DynamoDB with the service's semantics (atomic conditions, lagging
// indexes), S3 is a map of object versions, and Mirako is the simulator on
// an httptest server.

type env struct {
	clock   *clock
	objects *objects
	db      *dynamotest.DB
	table   *store.Table
	sim     *mirakotest.Simulator
	simURL  string
	h       *submit.Handler
}

const bucket = "portraits"

func setup(t *testing.T) *env {
	t.Helper()
	e := &env{clock: &clock{now: time.Now()}, objects: &objects{m: map[string]*object{}}, db: dynamotest.New(dynamotest.Builds("builds"))}
	e.table = &store.Table{DB: e.db, Name: "builds"}
	e.sim, e.simURL = newSim(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	sub := &submit.Submission{
		Config:  pipeline.SubmitConfig{Schedule: pipeline.DefaultSchedule},
		Objects: e.objects,
		Records: e.table,
		Mirako:  mirako.NewClient(e.simURL, mirakotest.DefaultToken, mirako.WithTimeout(2*time.Second), mirako.WithUploadTimeout(2*time.Second)),
		Log:     log,
		Now:     e.clock.Now,
	}
	sub.Config.QueueDeadline = pipeline.DefaultQueueDeadline
	e.h = &submit.Handler{Submission: sub, Admission: &submit.Admission{Objects: e.objects, Records: e.table, Log: log, Now: e.clock.Now,
		Resumed: func(st pipeline.State) pipeline.State { return sub.Polling(st, time.Second) }}}
	return e
}

func newSim(t *testing.T) (*mirakotest.Simulator, string) {
	sim, srv := mirakotest.NewServer(t, mirakotest.Config{SlowDelay: 3 * time.Second})
	return sim, srv.URL
}

// objects is S3 for the tests: versioned objects with metadata.
type objects struct {
	mu sync.Mutex
	m  map[string]*object // by key and version id
	n  int
}

type object struct {
	body []byte
	meta map[string]string
}

func (o *objects) put(key string, body []byte, meta map[string]string) (version, etag string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.n++
	version, etag = fmt.Sprintf("v%d", o.n), fmt.Sprintf("etag%d", o.n)
	o.m[key+"\x00"+version] = &object{body: body, meta: meta}
	return version, etag
}

func (o *objects) get(b, key, version *string) (*object, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	obj := o.m[aws.ToString(key)+"\x00"+aws.ToString(version)]
	if obj == nil || aws.ToString(b) != bucket {
		return nil, &s3types.NoSuchKey{Message: aws.String("The specified key does not exist.")}
	}
	return obj, nil
}

func (o *objects) HeadObject(_ context.Context, in *s3.HeadObjectInput, _ ...func(*s3.Options)) (*s3.HeadObjectOutput, error) {
	obj, err := o.get(in.Bucket, in.Key, in.VersionId)
	if err != nil {
		return nil, &s3types.NotFound{}
	}
	return &s3.HeadObjectOutput{ContentLength: aws.Int64(int64(len(obj.body))), Metadata: obj.meta, VersionId: in.VersionId}, nil
}

func (o *objects) GetObject(_ context.Context, in *s3.GetObjectInput, _ ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	obj, err := o.get(in.Bucket, in.Key, in.VersionId)
	if err != nil {
		return nil, err
	}
	return &s3.GetObjectOutput{Body: io.NopCloser(bytes.NewReader(obj.body)), ContentLength: aws.Int64(int64(len(obj.body)))}, nil
}

// portraitJPEG is a w×h JPEG with enough texture to pass the checks.
func portraitJPEG(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
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

// upload stores an object and returns the event S3 sends for it, its key
// encoded the way S3 notifications encode keys.
func (e *env) upload(t *testing.T, key string, body []byte, name *string) json.RawMessage {
	t.Helper()
	var meta map[string]string
	if name != nil {
		meta = map[string]string{pipeline.NameMetadata: *name}
	}
	version, etag := e.objects.put(key, body, meta)
	return event(key, int64(len(body)), version, etag)
}

func event(key string, size int64, version, etag string) json.RawMessage {
	b, _ := json.Marshal(map[string]any{
		"version": "0", "id": "ev-" + key, "detail-type": "Object Created", "source": "aws.s3",
		"detail": map[string]any{"bucket": map[string]any{"name": bucket},
			"object": map[string]any{"key": url.QueryEscape(key), "size": size, "etag": etag, "version-id": version}},
	})
	return b
}

// invoke runs the handler through aws-lambda-go, as Lambda would: the
// JSON in and out is the state machine's contract.
func (e *env) invoke(ctx context.Context, t *testing.T, in any) (pipeline.State, error) {
	payload, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := lambda.NewHandler(e.h.Handle).Invoke(ctx, payload)
	if err != nil {
		return pipeline.State{}, err
	}
	var st pipeline.State
	if err := json.Unmarshal(out, &st); err != nil {
		t.Error(err)
	}
	return st, nil
}

func (e *env) admit(t *testing.T, ev json.RawMessage, execution string) pipeline.State {
	t.Helper()
	st, err := e.invoke(context.Background(), t, map[string]any{"step": "admit", "event": ev, "execution_arn": execution})
	if err != nil {
		t.Fatalf("admit: %v", err)
	}
	return st
}

func (e *env) submit(t *testing.T, st pipeline.State) (pipeline.State, error) {
	return e.invoke(context.Background(), t, map[string]any{"step": "submit", "build": st})
}

func (e *env) record(t *testing.T, id string) records.Record {
	t.Helper()
	rec, err := e.table.Load(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// setClaim writes a claim on the POST as an earlier attempt would have.
func (e *env) setClaim(t *testing.T, st pipeline.State, started, until time.Time) {
	t.Helper()
	rec := e.record(t, st.BuildID)
	if err := e.table.Claim(context.Background(), rec, rec.SubmitStartedAt, started, until); err != nil {
		t.Fatal(err)
	}
}

func (e *env) avatars(t *testing.T) []mirako.Avatar {
	avatars, err := mirako.NewClient(e.simURL, mirakotest.DefaultToken).List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return avatars
}

func TestSubmitHappyPathWithAwkwardKey(t *testing.T) {
	t.Parallel()
	e := setup(t)
	name := "Zoë Doe 李"
	key := "portraits/2026/Jane Doe +1 é.jpg"
	encoded := mime.QEncoding.Encode("utf-8", name) // S3 metadata is ASCII
	ev := e.upload(t, key, portraitJPEG(t, 1024, 1024), &encoded)

	st := e.admit(t, ev, "exec-1")
	wantID := records.BuildID(bucket, key, "v1", "etag1")
	if st.Outcome != pipeline.OutcomeAdmitted || st.BuildID != wantID || st.Key != key || st.Name != name {
		t.Fatalf("admit: got outcome %s id %s key %q name %q, want ADMITTED %s %q %q", st.Outcome, st.BuildID, st.Key, st.Name, wantID, key, name)
	}
	if got := e.record(t, st.BuildID); got.Status != records.StatusReceived || got.ExecutionARN != "exec-1" {
		t.Errorf("record after admit: got %s owned by %s", got.Status, got.ExecutionARN)
	}
	st, err := e.submit(t, st)
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
	if owner, _ := e.table.OwnerOf(context.Background(), st.AvatarID); owner != st.BuildID {
		t.Errorf("the avatar's owner: got %q, want %s", owner, st.BuildID)
	}
	if s := e.sim.Stats(); s.BuildsCreated != 1 || s.BuildsByName[name] != 1 {
		t.Errorf("simulator: got %d builds %v, want 1 named %q", s.BuildsCreated, s.BuildsByName, name)
	}
	// A retry after success returns the same avatar and posts nothing.
	again, err := e.submit(t, st)
	if err != nil || again.AvatarID != st.AvatarID || e.sim.Stats().BuildsCreated != 1 {
		t.Errorf("retried submit: got %v, %v and %d builds, want avatar %s and 1 build", again.AvatarID, err, e.sim.Stats().BuildsCreated, st.AvatarID)
	}
}

// TestDuplicateAdmission: deliveries of one upload's event at once, to
// several executions: one build, and every other delivery DUPLICATE.
func TestDuplicateAdmission(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ev := e.upload(t, "dup.jpg", portraitJPEG(t, 512, 512), nil)
	var wg sync.WaitGroup
	outcomes := make([]pipeline.Outcome, 8)
	for i := range outcomes {
		wg.Go(func() { outcomes[i] = e.admit(t, ev, fmt.Sprintf("exec-%d", i)).Outcome })
	}
	wg.Wait()
	if n := slices.IndexFunc(outcomes, func(o pipeline.Outcome) bool { return o == pipeline.OutcomeAdmitted }); n < 0 ||
		len(slices.DeleteFunc(slices.Clone(outcomes), func(o pipeline.Outcome) bool { return o == pipeline.OutcomeDuplicate })) != 1 {
		t.Fatalf("got outcomes %v, want one ADMITTED and the rest DUPLICATE", outcomes)
	}
	winner := e.record(t, records.BuildID(bucket, "dup.jpg", "v1", "etag1")).ExecutionARN
	if retry := e.admit(t, ev, winner); retry.Outcome != pipeline.OutcomeAdmitted || retry.Name != "dup" {
		t.Errorf("the owner's own retry: got %s named %q, want ADMITTED named after the key", retry.Outcome, retry.Name)
	}
	// A new upload of the same key is a new build.
	ev2 := e.upload(t, "dup.jpg", portraitJPEG(t, 512, 512), nil)
	if second := e.admit(t, ev2, "exec-new"); second.Outcome != pipeline.OutcomeAdmitted || second.BuildID == records.BuildID(bucket, "dup.jpg", "v1", "etag1") {
		t.Errorf("new version: got %s %s, want a new ADMITTED build", second.Outcome, second.BuildID)
	}
}

func TestRejections(t *testing.T) {
	t.Parallel()
	e := setup(t)
	blank := "   "
	var small bytes.Buffer
	png.Encode(&small, image.NewGray(image.Rect(0, 0, 100, 100)))
	tests := []struct {
		name, key, wantReason string
		body                  []byte
		meta                  *string
		atAdmit               bool
	}{
		{name: "too small", key: "small.png", body: small.Bytes(), wantReason: "512"},
		{name: "not an image", key: "notes.jpg", body: []byte("hello, this is text"), wantReason: "JPEG"},
		{name: "wrong aspect", key: "wide.jpg", body: portraitJPEG(t, 1200, 600), wantReason: "16:9"},
		{name: "blank name", key: "ok.jpg", body: portraitJPEG(t, 512, 512), meta: &blank, wantReason: "name is empty", atAdmit: true},
		{name: "name not UTF-8", key: "ok2.jpg", body: portraitJPEG(t, 512, 512), meta: aws.String("bad\xffname"), wantReason: "UTF-8", atAdmit: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := e.admit(t, e.upload(t, tc.key, tc.body, tc.meta), "exec-"+tc.name)
			if !tc.atAdmit {
				var err error
				if st, err = e.submit(t, st); err != nil {
					t.Fatal(err)
				}
				if rec := e.record(t, st.BuildID); rec.Image == nil && tc.name != "not an image" {
					t.Errorf("the rejected portrait's image was not recorded: %+v", rec)
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
	st := e.admit(t, event("never-uploaded.jpg", 10, "", "abc"), "exec-gone")
	if st.Outcome != pipeline.OutcomeRejected || !strings.Contains(st.Reason, "deleted") || st.BuildID == "" {
		t.Errorf("got %s %q, want REJECTED saying the object is gone", st.Outcome, st.Reason)
	}
}

// TestLostAnswerIsAdopted: Mirako creates the avatar and the answer is
// lost. Submit finds the avatar in the same invocation; if it cannot look
// (the list fails too), the state machine's retry adopts it. Either way
// Mirako is posted to once.
func TestLostAnswerIsAdopted(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		fault      mirakotest.Fault
		listFails  bool
		wantErrors []string // the error types of the attempts before the one that succeeds
	}{
		{name: "reset, same invocation", fault: mirakotest.FaultAcceptThenReset},
		{name: "garbled answer, same invocation", fault: mirakotest.FaultAcceptThenGarbled},
		{name: "client timeout, same invocation", fault: mirakotest.FaultAcceptThenSlow},
		{name: "reset, by the retry", fault: mirakotest.FaultAcceptThenReset, listFails: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t)
			st := e.admit(t, e.upload(t, "adopt.jpg", portraitJPEG(t, 512, 512), aws.String("Adopt Me")), "exec-adopt")
			e.sim.ScriptFor(mirakotest.EndpointBuild, tc.fault, 1)
			if tc.listFails {
				e.sim.ScriptFor(mirakotest.EndpointList, mirakotest.Fault503, 1)
			}
			done, err := e.submit(t, st)
			if err == nil && tc.listFails {
				// It could not look: queued for the claim's margin, after which it adopts.
				if done.Outcome != pipeline.OutcomeQueued {
					t.Fatalf("got %s, want QUEUED while it cannot look", done.Outcome)
				}
				e.clock.add(time.Duration(done.WaitSeconds) * time.Second)
				done, err = e.submit(t, done)
			}
			if err != nil || done.Outcome != pipeline.OutcomeSubmitted {
				t.Fatalf("got %s, %v, want SUBMITTED", done.Outcome, err)
			}
			avatars := e.avatars(t)
			if len(avatars) != 1 || done.AvatarID != avatars[0].ID || e.record(t, st.BuildID).AvatarID != done.AvatarID {
				t.Errorf("got avatar %s, want the one avatar Mirako has (%v), recorded", done.AvatarID, avatars)
			}
			if s := e.sim.Stats(); s.BuildsCreated != 1 || s.Requests[mirakotest.EndpointBuild] != 1 {
				t.Errorf("got %d POSTs and %d builds, want 1 of each", s.Requests[mirakotest.EndpointBuild], s.BuildsCreated)
			}
		})
	}
}

// killedAfterPost is a Mirako client whose invocation dies the moment
// Mirako has accepted the build, as one that outlived the function's
// timeout does: nothing after the POST runs (no record, no release).
type killedAfterPost struct{ submit.Builder }

func (k killedAfterPost) Build(ctx context.Context, name string, image io.Reader, size int64) (string, error) {
	k.Builder.Build(ctx, name, image, size)
	runtime.Goexit()
	return "", nil
}

// TestRetryAfterATimeout: the first attempt is killed after Mirako
// accepted its POST (a Lambda timeout). The retry finds the claim, adopts
// the avatar the first attempt created and posts nothing.
func TestRetryAfterATimeout(t *testing.T) {
	t.Parallel()
	e := setup(t)
	st := e.admit(t, e.upload(t, "timeout.jpg", portraitJPEG(t, 512, 512), aws.String("Slow Jane")), "exec-timeout")
	real := e.h.Submission.Mirako
	e.h.Submission.Mirako = killedAfterPost{real}
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.submit(t, st)
	}()
	<-done
	e.h.Submission.Mirako = real
	if rec := e.record(t, st.BuildID); rec.SubmitStartedAt == "" || rec.AvatarID != "" {
		t.Fatalf("after the killed attempt: got claim %q avatar %q, want a claim and no avatar", rec.SubmitStartedAt, rec.AvatarID)
	}
	got, err := e.submit(t, st)
	avatars := e.avatars(t)
	if err != nil || len(avatars) != 1 || got.AvatarID != avatars[0].ID {
		t.Fatalf("the retry: got %q, %v, want the avatar the killed attempt created (%v)", got.AvatarID, err, avatars)
	}
	if s := e.sim.Stats(); s.Requests[mirakotest.EndpointBuild] != 1 {
		t.Errorf("got %d POSTs, want 1", s.Requests[mirakotest.EndpointBuild])
	}
}

// TestAdoptionWithALaggingIndex: two builds of one name. The first records
// its avatar; the second lost its own POST's answer before Mirako acted
// (nothing was created), and its indexes lag, so a lookup through the
// by-avatar index would see the first's avatar as unowned. Adoption reads
// ownership consistently and leaves it alone.
func TestAdoptionWithALaggingIndex(t *testing.T) {
	t.Parallel()
	e := setup(t)
	a := e.admit(t, e.upload(t, "a.jpg", portraitJPEG(t, 512, 512), aws.String("Twin")), "exec-a")
	b := e.admit(t, e.upload(t, "b.jpg", portraitJPEG(t, 512, 512), aws.String("Twin")), "exec-b")
	e.db.Lag()
	e.setClaim(t, b, time.Now().Add(-time.Minute), time.Now().Add(-time.Second)) // b's earlier attempt: claimed, lapsed, made nothing
	doneA, err := e.submit(t, a)
	if err != nil {
		t.Fatal(err)
	}
	doneB, err := e.submit(t, b)
	if err != nil {
		t.Fatal(err)
	}
	if doneB.AvatarID == doneA.AvatarID || doneB.AvatarID == "" {
		t.Fatalf("b got avatar %q, a has %q: b must post its own, not adopt a's", doneB.AvatarID, doneA.AvatarID)
	}
	if n := e.sim.Stats().BuildsCreated; n != 2 {
		t.Errorf("got %d builds, want 2", n)
	}
}

// TestRefusedForLoadWaits: Mirako refusing a post for load, or being
// unavailable, makes the build QUEUED with the reason and its next
// attempt, never an error; bad input (no credits, a forbidden token) fails
// at once.
func TestRefusedForLoadWaits(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, avatarName string
		fault            mirakotest.Fault
		wantErr          string
		wantReason       string
	}{
		{name: "no credits", avatarName: "Broke [credits]", wantErr: "MirakoRejectedError"},
		{name: "forbidden", avatarName: "Nope [forbidden]", wantErr: "MirakoRejectedError"},
		{name: "at capacity", avatarName: "Busy", fault: mirakotest.Fault429, wantReason: "capacity"},
		{name: "unavailable", avatarName: "Down", fault: mirakotest.Fault503, wantReason: "unavailable"},
		{name: "answer lost", avatarName: "Reset", fault: mirakotest.FaultReset, wantReason: "unavailable"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t)
			st := e.admit(t, e.upload(t, "x.jpg", portraitJPEG(t, 512, 512), &tc.avatarName), "exec")
			if tc.fault != "" {
				e.sim.ScriptFor(mirakotest.EndpointBuild, tc.fault, 1)
			}
			got, err := e.submit(t, st)
			if tc.wantErr != "" {
				if lambdatest.ErrorType(err) != tc.wantErr || strings.Contains(err.Error(), mirakotest.DefaultToken) {
					t.Fatalf("got %v (%s), want %s without the token", err, lambdatest.ErrorType(err), tc.wantErr)
				}
				return
			}
			if err != nil || got.Outcome != pipeline.OutcomeQueued || got.Status != records.StatusQueued || !strings.Contains(got.Reason, tc.wantReason) || got.WaitSeconds < 2 {
				t.Fatalf("got %s %s %q wait %d, %v; want QUEUED saying %q", got.Outcome, got.Status, got.Reason, got.WaitSeconds, err, tc.wantReason)
			}
			rec := e.record(t, st.BuildID)
			if rec.Status != records.StatusQueued || rec.NextAttemptAt == "" || rec.Reason != got.Reason || rec.Image == nil {
				t.Errorf("the record: %+v, want QUEUED with the reason, the next attempt and the image", rec)
			}
		})
	}
}

// TestQueuedBuildPostsOnceMirakoTakesIt: a build refused for capacity asks
// again and is built. A failure alone makes only its own build wait, and
// an answer clears it; outageAfter failures with no answer between pause
// every build's posts until the pause ends, then a list request (no
// upload) tells Mirako is back and they post. Each avatar is made once.
func TestQueuedBuildPostsOnceMirakoTakesIt(t *testing.T) {
	t.Parallel()
	e := setup(t)
	var builds []pipeline.State
	for _, name := range []string{"a", "b", "c", "d", "e"} {
		builds = append(builds, e.admit(t, e.upload(t, name+".jpg", portraitJPEG(t, 512, 512), aws.String(name)), "exec-"+name))
	}
	posts := func() int { return e.sim.Stats().Requests[mirakotest.EndpointBuild] }
	submit := func(st pipeline.State, want pipeline.Outcome, reason string) pipeline.State {
		t.Helper()
		got, err := e.submit(t, st)
		if err != nil || got.Outcome != want || !strings.Contains(got.Reason, reason) {
			t.Fatalf("%s: got %s %q, %v, want %s %q", st.Name, got.Outcome, got.Reason, err, want, reason)
		}
		return got
	}
	// Two failures, then an answer: no pause, and the count starts again.
	e.sim.ScriptFor(mirakotest.EndpointBuild, mirakotest.Fault503, 2)
	builds[0] = submit(builds[0], pipeline.OutcomeQueued, "asking again")
	builds[1] = submit(builds[1], pipeline.OutcomeQueued, "asking again")
	builds[2] = submit(builds[2], pipeline.OutcomeSubmitted, "")
	if o, _ := e.table.Outage(context.Background()); o != (store.Outage{}) {
		t.Fatalf("after an answer: got outage %+v, want none", o)
	}
	// Three failures with no answer between: every build pauses.
	e.sim.ScriptFor(mirakotest.EndpointBuild, mirakotest.Fault503, 3)
	builds[0] = submit(builds[0], pipeline.OutcomeQueued, "asking again")
	builds[1] = submit(builds[1], pipeline.OutcomeQueued, "asking again")
	builds[3] = submit(builds[3], pipeline.OutcomeQueued, "posts pause until")
	before := posts()
	builds[4] = submit(builds[4], pipeline.OutcomeQueued, "posts pause until")
	if posts() != before {
		t.Fatalf("a build posted into the outage's pause")
	}
	e.clock.add(10 * time.Second) // past the first pause
	lists := e.sim.Stats().Requests[mirakotest.EndpointList]
	for _, i := range []int{0, 1, 3, 4} {
		if done := submit(builds[i], pipeline.OutcomeSubmitted, ""); done.AvatarID == "" {
			t.Fatalf("%s: no avatar", done.Name)
		}
	}
	s := e.sim.Stats()
	// Four lists: the probe, and the look of a, b and d for an avatar
	// their refused posts might have made; e never posted.
	if s.Requests[mirakotest.EndpointList] != lists+4 || s.BuildsCreated != 5 {
		t.Errorf("got %d lists after the pause and %d builds, want 4 and 5 builds", s.Requests[mirakotest.EndpointList]-lists, s.BuildsCreated)
	}
	if rec := e.record(t, builds[0].BuildID); rec.Status != records.StatusPending || rec.Reason != "" || rec.NextAttemptAt != "" {
		t.Errorf("a queued build once built: %+v, want PENDING without the queue's reason", rec)
	}
}

// TestQueueOrderAndDeadline: a build waits longer the more builds wait
// ahead of it, and ends TIMED_OUT once QueueDeadline has passed since its
// upload, saying it never got a slot.
func TestQueueOrderAndDeadline(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.h.Submission.Config.MaxInFlight = 1
	var queued []pipeline.State
	for i := range 4 {
		e.clock.add(time.Second)
		st := e.admit(t, e.upload(t, fmt.Sprintf("%d.jpg", i), portraitJPEG(t, 512, 512), aws.String(fmt.Sprint(i))), fmt.Sprint("exec-", i))
		got, err := e.submit(t, st)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			if got.Outcome != pipeline.OutcomeSubmitted || !got.Slot {
				t.Fatalf("the first build: got %s slot %v, want SUBMITTED with the slot", got.Outcome, got.Slot)
			}
			continue
		}
		if got.Outcome != pipeline.OutcomeQueued || !strings.Contains(got.Reason, "1 builds") {
			t.Fatalf("build %d: got %s %q, want QUEUED for the limit", i, got.Outcome, got.Reason)
		}
		queued = append(queued, got)
	}
	for i := 1; i < len(queued); i++ {
		if queued[i].WaitSeconds <= queued[i-1].WaitSeconds-1 {
			t.Errorf("build %d waits %d s, the one before it %d s: later builds must wait longer", i, queued[i].WaitSeconds, queued[i-1].WaitSeconds)
		}
	}
	if n := e.sim.Stats().Requests[mirakotest.EndpointBuild]; n != 1 {
		t.Errorf("got %d POSTs, want 1: builds without a slot do not post", n)
	}
	e.clock.add(pipeline.DefaultQueueDeadline)
	done, err := e.submit(t, queued[0])
	if err != nil || done.Outcome != pipeline.OutcomeFinished || done.Status != records.StatusTimedOut || !strings.Contains(done.Reason, "never got a slot") {
		t.Errorf("past the deadline: got %s %s %q, %v, want FINISHED TIMED_OUT saying it never got a slot", done.Outcome, done.Status, done.Reason, err)
	}
}

func TestResumeTakesOverAStaleBuildOnce(t *testing.T) {
	t.Parallel()
	e := setup(t)
	resume := func(id, previous, execution string) pipeline.State {
		event, _ := json.Marshal(pipeline.ResumeInput{ResumeBuildID: id, PreviousExecution: previous})
		st, err := e.invoke(context.Background(), t, map[string]any{"step": "admit", "event": json.RawMessage(event), "execution_arn": execution})
		if err != nil {
			t.Fatalf("resume: %v", err)
		}
		return st
	}
	// Admitted, then its execution died before Submit.
	stale := e.admit(t, e.upload(t, "stale.jpg", portraitJPEG(t, 512, 512), nil), "exec-dead")
	got := resume(stale.BuildID, "exec-dead", "exec-sweep-1")
	if got.Outcome != pipeline.OutcomeAdmitted || e.record(t, stale.BuildID).ExecutionARN != "exec-sweep-1" {
		t.Fatalf("got %s, owner %s; want ADMITTED and the record taken over", got.Outcome, e.record(t, stale.BuildID).ExecutionARN)
	}
	if again := resume(stale.BuildID, "exec-dead", "exec-sweep-2"); again.Outcome != pipeline.OutcomeDuplicate {
		t.Errorf("a second sweep of the same build: got %s, want DUPLICATE", again.Outcome)
	}
	// Submitted, then its execution died while polling: back to polling, no new POST.
	submitted, err := e.submit(t, e.admit(t, e.upload(t, "stale2.jpg", portraitJPEG(t, 512, 512), nil), "exec-dead-2"))
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

// TestConcurrentAttemptsPostOnce: the state machine may retry Submit while
// the first invocation still runs; of two attempts racing for the claim,
// one posts.
func TestConcurrentAttemptsPostOnce(t *testing.T) {
	t.Parallel()
	for i := range 20 {
		e := setup(t)
		st := e.admit(t, e.upload(t, "race.jpg", portraitJPEG(t, 512, 512), aws.String("Race")), "exec-race")
		type result struct {
			st  pipeline.State
			err error
		}
		results := make(chan result, 2)
		for range 2 {
			go func() {
				s, err := e.submit(t, st)
				results <- result{s, err}
			}()
		}
		var avatars []string
		for range 2 {
			r := <-results
			switch {
			case r.err == nil:
				avatars = append(avatars, r.st.AvatarID)
			case lambdatest.ErrorType(r.err) != "SubmitInProgressError":
				t.Errorf("race %d, the losing attempt: got %v (%s), want SubmitInProgressError", i, r.err, lambdatest.ErrorType(r.err))
			}
		}
		if n := e.sim.Stats().BuildsCreated; n != 1 {
			t.Fatalf("race %d: two attempts at once made %d avatars, want 1", i, n)
		}
		again, err := e.submit(t, st)
		if err != nil || again.AvatarID == "" || again.AvatarID != e.record(t, st.BuildID).AvatarID || slices.ContainsFunc(avatars, func(a string) bool { return a != again.AvatarID }) {
			t.Fatalf("race %d: retry got %q, %v; attempts returned %v", i, again.AvatarID, err, avatars)
		}
	}
}

// TestStaleClaim: an attempt that claimed the POST and vanished keeps
// every other attempt from posting until its claim lapses; then a retry
// posts, once.
func TestStaleClaim(t *testing.T) {
	t.Parallel()
	e := setup(t)
	st := e.admit(t, e.upload(t, "claimed.jpg", portraitJPEG(t, 512, 512), aws.String("Claimed")), "exec-claimed")
	started := time.Now().Add(-time.Minute)
	e.setClaim(t, st, started, time.Now().Add(time.Hour))
	_, err := e.submit(t, st)
	var busy *pipeline.SubmitInProgressError
	if !errors.As(err, &busy) || busy.Until.Before(time.Now()) {
		t.Fatalf("got %v, want a SubmitInProgressError naming when the claim lapses", err)
	}
	if n := e.sim.Stats().Requests[mirakotest.EndpointBuild]; n != 0 {
		t.Fatalf("posted %d times under another attempt's claim", n)
	}
	e.setClaim(t, st, started, time.Now().Add(-time.Second))
	done, err := e.submit(t, st)
	if err != nil || done.AvatarID == "" || e.sim.Stats().BuildsCreated != 1 {
		t.Fatalf("after the claim lapsed: got %q, %v and %d builds, want the build posted once", done.AvatarID, err, e.sim.Stats().BuildsCreated)
	}
}

// TestFailedPostEndsClaim: an attempt whose post Mirako refused ends its
// claim, so the next attempt posts as soon as it may. One whose post's
// outcome is unknown keeps it for ClaimMargin, in case Mirako creates the
// avatar a little later, and queues for at least that long.
func TestFailedPostEndsClaim(t *testing.T) {
	t.Parallel()
	tests := []struct {
		fault  mirakotest.Fault
		margin bool
	}{
		{fault: mirakotest.Fault503},
		{fault: mirakotest.Fault429},
		{fault: mirakotest.FaultReset, margin: true},
		{fault: mirakotest.Fault500, margin: true}, // may come after Mirako acted
	}
	for _, tc := range tests {
		t.Run(string(tc.fault), func(t *testing.T) {
			t.Parallel()
			e := setup(t)
			st := e.admit(t, e.upload(t, "ended.jpg", portraitJPEG(t, 512, 512), aws.String("Ended")), "exec-ended")
			e.sim.ScriptFor(mirakotest.EndpointBuild, tc.fault, 1)
			failed := e.clock.Now()
			q, err := e.submit(t, st)
			if err != nil || q.Outcome != pipeline.OutcomeQueued {
				t.Fatalf("got %s, %v, want QUEUED", q.Outcome, err)
			}
			rec := e.record(t, st.BuildID)
			until, err := records.ParseTime(rec.SubmitClaimedUntil)
			if rec.SubmitStartedAt == "" || err != nil {
				t.Fatalf("the record has no claim: %+v", rec)
			}
			switch {
			case tc.margin && (until.Before(failed.Add(submit.ClaimMargin-time.Second)) || q.WaitSeconds < int(submit.ClaimMargin/time.Second)):
				t.Errorf("claim until %s, wait %d s: want the claim kept and the wait at least %s", rec.SubmitClaimedUntil, q.WaitSeconds, submit.ClaimMargin)
			case !tc.margin && until.After(failed):
				t.Errorf("the claim runs until %s after Mirako refused the post", rec.SubmitClaimedUntil)
			}
			e.clock.add(time.Duration(q.WaitSeconds) * time.Second)
			done, err := e.submit(t, q)
			if err != nil || done.AvatarID == "" || e.sim.Stats().BuildsCreated != 1 {
				t.Fatalf("the next attempt: got %q, %v and %d builds, want the build posted once", done.AvatarID, err, e.sim.Stats().BuildsCreated)
			}
		})
	}
}

// TestLostReleaseOnlyDelays: when DynamoDB refuses the write that ends a
// claim, the next attempt waits for the claim to lapse and then posts;
// nothing is posted twice.
func TestLostReleaseOnlyDelays(t *testing.T) {
	t.Parallel()
	e := setup(t)
	st := e.admit(t, e.upload(t, "lost.jpg", portraitJPEG(t, 512, 512), aws.String("Lost")), "exec-lost")
	e.sim.ScriptFor(mirakotest.EndpointBuild, mirakotest.Fault429, 1)
	var refused sync.Once
	e.db.Fail = func(op string, in any) error {
		var err error
		// The release: it sets the claim's end and nothing else.
		if u, ok := in.(*dynamodb.UpdateItemInput); ok && slices.Contains(slices.Collect(maps.Values(u.ExpressionAttributeNames)), records.AttrClaimedUntil) &&
			!slices.Contains(slices.Collect(maps.Values(u.ExpressionAttributeNames)), records.AttrUpdatedAt) {
			refused.Do(func() { err = errors.New("ProvisionedThroughputExceededException: throttled") })
		}
		return err
	}
	q, err := e.submit(t, st)
	if err != nil || q.Outcome != pipeline.OutcomeQueued {
		t.Fatalf("got %s, %v, want QUEUED after the 429", q.Outcome, err)
	}
	e.db.Fail = nil
	rec := e.record(t, st.BuildID)
	if until, _ := records.ParseTime(rec.SubmitClaimedUntil); !until.After(e.clock.Now()) {
		t.Fatalf("the release was not refused (claim until %s): the test must be fixed", rec.SubmitClaimedUntil)
	}
	if _, err := e.submit(t, q); lambdatest.ErrorType(err) != "SubmitInProgressError" {
		t.Fatalf("with the claim unreleased: got %v (%s), want SubmitInProgressError", err, lambdatest.ErrorType(err))
	}
	started, _ := records.ParseTime(rec.SubmitStartedAt)
	e.setClaim(t, st, started, e.clock.Now().Add(-time.Second))
	if done, err := e.submit(t, q); err != nil || done.AvatarID == "" || e.sim.Stats().BuildsCreated != 1 {
		t.Fatalf("after the claim lapsed: got %q, %v, want one build", done.AvatarID, err)
	}
}

// TestUnreadableTokenFailsAfterAdmission runs the function as its main
// builds it (NewFromEnv through pipeline.Serve), with AWS answering that
// the token's secret does not exist: admission records the build, and
// Submit fails with a StartupError naming the secret and the fix, without
// claiming or posting.
func TestUnreadableTokenFailsAfterAdmission(t *testing.T) {
	t.Parallel()
	awsAPI := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte(`{"__type":"ResourceNotFoundException","message":"Secrets Manager can't find the specified secret."}`))
	}))
	t.Cleanup(awsAPI.Close)
	e := setup(t)
	vars := map[string]string{
		"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s", "AWS_ENDPOINT_URL": awsAPI.URL,
		pipeline.EnvBuildsTable: "builds", pipeline.EnvMirakoURL: e.simURL, pipeline.EnvMirakoSecretID: "avatar-pipeline/no-such-token",
	}
	var built *submit.Handler
	rt := pipeline.Runtime{Getenv: func(k string) string { return vars[k] }, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	h := pipeline.Serve("submit", rt, func(ctx context.Context, cfg aws.Config, rt pipeline.Runtime) (*submit.Handler, error) {
		h, err := submit.NewFromEnv(ctx, cfg, rt)
		if h != nil { // keep the wiring's Mirako client; S3 and DynamoDB are the tests' fakes
			h.Admission, h.Submission.Objects, h.Submission.Records = e.h.Admission, e.objects, e.table
		}
		built = h
		return h, err
	}, (*submit.Handler).Handle)
	if built == nil {
		t.Fatal("Submit must start without reading the token")
	}
	e.h = built
	st := e.admit(t, e.upload(t, "tokenless.jpg", sample.AstronautJPEG, nil), "exec-tokenless") // the wiring checks for a face
	payload, _ := json.Marshal(map[string]any{"step": "submit", "build": st})
	_, err := lambda.NewHandler(h).Invoke(context.Background(), payload)
	var startup *pipeline.StartupError
	if !errors.As(err, &startup) || !strings.Contains(err.Error(), "avatar-pipeline/no-such-token") || !strings.Contains(err.Error(), "create-secret") {
		t.Fatalf("got %v (%s), want a StartupError naming the secret and how to create it", err, lambdatest.ErrorType(err))
	}
	if rec := e.record(t, st.BuildID); rec.AvatarID != "" || rec.SubmitStartedAt != "" {
		t.Errorf("the record has avatar %q and a claim from %q; want neither: the token is read before claiming", rec.AvatarID, rec.SubmitStartedAt)
	}
	if n := e.sim.Stats().Requests[mirakotest.EndpointBuild]; n != 0 {
		t.Errorf("posted %d times without a token", n)
	}
}

// TestLogsCarryRequestAndBuild: every line Submit logs during an invocation
// carries the Lambda request id (aws-lambda-go's logger adds it to the
// *Context calls) and the build id.
func TestLogsCarryRequestAndBuild(t *testing.T) {
	out, err := os.CreateTemp(t.TempDir(), "stdout")
	if err != nil {
		t.Fatal(err)
	}
	stdout := os.Stdout
	os.Stdout = out // lambdacontext's handler writes to the standard output it finds
	log := lambdacontext.NewLogger()
	os.Stdout = stdout
	e := setup(t)
	e.h.Admission.Log, e.h.Submission.Log = log, log
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "req-42"})
	st, err := e.invoke(ctx, t, map[string]any{"step": "admit", "event": e.upload(t, "logged.jpg", portraitJPEG(t, 512, 512), nil), "execution_arn": "exec"})
	if err != nil {
		t.Fatal(err)
	}
	e.sim.ScriptFor(mirakotest.EndpointBuild, mirakotest.FaultAcceptThenReset, 1) // a warning and an adoption
	if _, err := e.invoke(ctx, t, map[string]any{"step": "submit", "build": st}); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(out.Name())
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	if len(lines) < 3 {
		t.Fatalf("got %d log lines, want admission, the failed post and the adoption at least:\n%s", len(lines), raw)
	}
	for _, l := range lines {
		if !strings.Contains(l, "requestId=req-42") || !strings.Contains(l, "build_id="+st.BuildID) {
			t.Errorf("a log line lacks the request id or the build id: %s", l)
		}
	}
}

// clock is a settable time source.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}
