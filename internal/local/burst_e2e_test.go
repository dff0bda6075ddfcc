package local

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/avatar-pipeline/avatar-pipeline/internal/mirako/mirakotest"
	"github.com/avatar-pipeline/avatar-pipeline/internal/records"
)

// burstUploads is how many portraits the burst uploads at once (fewer
// under the race detector, which slows the stack several times).
var burstUploads = map[bool]int{false: 30, true: 8}[raceEnabled]

// TestE2EBurstWaits: a burst of uploads meets a Mirako that takes at most 3
// builds at once and is down for its first 45 s. Nothing fails: every
// build waits QUEUED (the outage first, then for one of the pipeline's own
// 3 slots), and ends READY with an avatar of its own, each piece of news
// notified once. With MaxBuildsInFlight at Mirako's capacity, Mirako
// refuses (429) hardly any post: the pipeline holds the builds back
// itself.
func TestE2EBurstWaits(t *testing.T) {
	t.Parallel()
	n := burstUploads
	o := e2eOptions()
	o.BuildTime, o.SimMaxBuilds, o.SimOutage, o.MaxInFlight = 2*time.Second, 3, 45*time.Second, 3
	s := StartTest(t, o)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
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
	t.Logf("%d uploads READY in %s: %d POSTs, %d refused 429 by capacity, %d answered 503 during the outage, %d lists",
		n, took.Round(time.Second), posts, limited, st.Responses[fmt.Sprint(http.StatusServiceUnavailable)], st.Requests[mirakotest.EndpointList])
	if limited > n/20 {
		t.Errorf("got %d posts refused for capacity, want at most %d (5%%): MaxBuildsInFlight should hold the builds back", limited, n/20)
	}
}
