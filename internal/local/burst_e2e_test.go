package local

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/avatar-pipeline/avatar-pipeline/internal/mirako/mirakotest"
	"github.com/avatar-pipeline/avatar-pipeline/internal/records"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
)

// burstUploads is how many portraits the burst uploads at once (fewer
// under the race detector, which slows the stack several times).
var burstUploads = map[bool]int{false: 60, true: 10}[raceEnabled]

// TestE2EBurstWaits: 60 uploads at once meet a Mirako that takes at most 5
// builds at once (5 s each) and is down for its first 30 s. Nothing fails:
// every build waits QUEUED (the outage first, then for one of the
// pipeline's own 5 slots), and ends READY with an avatar of its own, each
// piece of news notified once. With MaxBuildsInFlight at Mirako's
// capacity, Mirako refuses (429) at most 5 % of posts: the pipeline holds
// the builds back itself. The drain time is logged against the ideal: the
// outage left at the first upload (it runs from the stack's start), then
// 60/5 × build time (make bench reports the ratio).
func TestE2EBurstWaits(t *testing.T) {
	t.Parallel()
	n := burstUploads
	o := e2eOptions()
	o.BuildTime, o.SimMaxBuilds, o.SimOutage, o.MaxInFlight = 5*time.Second, 5, 30*time.Second, 5
	s := StartTest(t, o)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	for range 2 {
		extraPump(t, s)
	}
	objs := make([]object, n)
	for i := range objs {
		objs[i] = object{key: fmt.Sprintf("burst/%02d.jpg", i), name: fmt.Sprintf("Burst %02d", i), body: PortraitJPEG(512, 512)}
	}
	began := time.Now()
	ids := uploadAll(ctx, t, s, objs)
	waitSettled(ctx, t, s, n)
	took := time.Since(began)

	recs := recordsByID(scanRecords(ctx, t, s))
	want := map[newsKey]bool{}
	avatars := map[string]bool{}
	for i, id := range ids {
		r := recs[id]
		if r.Status != records.StatusReady || r.AvatarID == "" {
			t.Errorf("%s: got %s (%s), want READY with an avatar", objs[i].key, r.Status, r.Reason)
		}
		if avatars[r.AvatarID] {
			t.Errorf("%s: avatar %s is another build's too", objs[i].key, r.AvatarID)
		}
		avatars[r.AvatarID] = true
		want[newsKey{id, records.StatusReady}] = true
	}
	st := s.Sim.Stats()
	if st.BuildsCreated != n {
		t.Errorf("got %d avatars created, want %d", st.BuildsCreated, n)
	}
	if _, err := s.Delivered(ctx); err != nil {
		t.Fatal(err)
	}
	checkExactlyOnce(t, newsOf(ctx, t, s, want, ids...), want)
	posts := st.Requests[mirakotest.EndpointBuild]
	limited := st.RateLimited
	ideal := s.Sim.OutageLeft(began) + time.Duration(n/o.SimMaxBuilds)*o.BuildTime
	t.Logf("%d uploads READY in %s (%.2f× the ideal %s): %d POSTs, %d refused 429 by capacity, %d answers 503, %d lists",
		n, took.Round(time.Second), took.Seconds()/ideal.Seconds(), ideal.Round(time.Second), posts, limited, st.Responses[fmt.Sprint(http.StatusServiceUnavailable)], st.Requests[mirakotest.EndpointList])
	if limited > posts/20 {
		t.Errorf("got %d of %d posts refused for capacity, want at most 5%%: MaxBuildsInFlight should hold the builds back", limited, posts)
	}
}

// TestE2EKilledBuildGivesBackItsSlot: with one slot, a build whose
// execution is stopped while Mirako builds it holds the slot with no one to
// give it back; the scheduled sweep frees it, and the next upload, waiting
// QUEUED for it, builds.
func TestE2EKilledBuildGivesBackItsSlot(t *testing.T) {
	t.Parallel()
	o := e2eOptions()
	o.BuildTime, o.MaxInFlight, o.SweepEvery = 20*time.Second, 1, 3*time.Second
	s := StartTest(t, o)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	first := upload(ctx, t, s, "slot/first.jpg", PortraitJPEG(512, 512), "Killed")
	r := reader(s)
	var rec records.Record
	for rec.AvatarID == "" {
		rec, _ = r.Load(ctx, first)
		select {
		case <-ctx.Done():
			t.Fatalf("the first build never reached Mirako: %+v", rec)
		case <-time.After(200 * time.Millisecond):
		}
	}
	if holders, _ := r.SlotHolders(ctx); !slices.Contains(holders, first) {
		t.Fatalf("got slot holders %v, want the first build", holders)
	}
	if _, err := sfn.NewFromConfig(s.AWSConfig()).StopExecution(ctx, &sfn.StopExecutionInput{ExecutionArn: aws.String(rec.ExecutionARN)}); err != nil {
		t.Fatal(err)
	}
	second := upload(ctx, t, s, "slot/second.jpg", PortraitJPEG(512, 512), "Next")
	if got := waitTerminal(ctx, t, s, second); got.Status != records.StatusReady {
		t.Fatalf("the second build: got %s (%s), want READY once the sweep freed the slot", got.Status, got.Reason)
	}
	if holders, _ := r.SlotHolders(ctx); slices.Contains(holders, first) {
		t.Errorf("got slot holders %v: the stopped build's slot was never given back", holders)
	}
}
