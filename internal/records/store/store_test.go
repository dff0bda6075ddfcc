package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/avatar-pipeline/avatar-pipeline/internal/dynamotest"
	"github.com/avatar-pipeline/avatar-pipeline/internal/records"
	"github.com/avatar-pipeline/avatar-pipeline/internal/records/store"
)

// newTable is the builds table in an in-memory DynamoDB with the
// template's keys and indexes.
func newTable() (*store.Table, *dynamotest.DB) {
	db := dynamotest.New(dynamotest.Builds("builds"))
	return &store.Table{DB: db, Name: "builds"}, db
}

var t0 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

func record(id, exec string) records.Record {
	return records.Record{BuildID: id, Status: records.StatusReceived, Name: "Jane", Bucket: "b", Key: "k",
		CreatedAt: records.FormatTime(t0), ExecutionARN: exec}
}

func TestRegisterOnce(t *testing.T) {
	tbl, _ := newTable()
	ctx := context.Background()
	first, err := tbl.Register(ctx, record("b1", "exec-1"))
	if err != nil || first.ExecutionARN != "exec-1" {
		t.Fatalf("first registration: got %+v, %v", first, err)
	}
	second, err := tbl.Register(ctx, record("b1", "exec-2"))
	if err != nil || second.ExecutionARN != "exec-1" {
		t.Errorf("second registration: got owner %q, %v, want the first's record (exec-1)", second.ExecutionARN, err)
	}
	if _, err := tbl.Load(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("load of a missing build: got %v, want ErrNotFound", err)
	}
}

func TestTakeOverOnce(t *testing.T) {
	tbl, _ := newTable()
	ctx := context.Background()
	tbl.Register(ctx, record("b1", "exec-1"))
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() { _, errs[i] = tbl.TakeOver(ctx, "b1", "exec-1", fmt.Sprintf("sweep-%d", i), t0) })
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !store.ConditionFailed(err):
			t.Errorf("got %v, want success or a failed condition", err)
		}
	}
	if won != 1 {
		t.Errorf("%d take-overs succeeded, want 1", won)
	}
}

func TestClaimIsACompareAndSet(t *testing.T) {
	tbl, _ := newTable()
	ctx := context.Background()
	rec := record("b1", "exec-1")
	tbl.Register(ctx, rec)
	rec.Image = &records.Image{Format: "jpeg", Width: 512, Height: 512}
	rec.Warnings = []records.Warning{{Code: "dark", Reason: "too dark"}}
	if err := tbl.Claim(ctx, rec, "", t0, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	// A second claim that read no marker, or a stale one, loses.
	for _, seen := range []string{"", records.FormatTime(t0.Add(-time.Hour))} {
		if err := tbl.Claim(ctx, rec, seen, t0, t0.Add(time.Minute)); !store.ConditionFailed(err) {
			t.Errorf("claim having seen %q: got %v, want a failed condition", seen, err)
		}
	}
	// A claim that read the current marker takes it over.
	if err := tbl.Claim(ctx, rec, records.FormatTime(t0), t0.Add(time.Minute), t0.Add(2*time.Minute)); err != nil {
		t.Errorf("re-claim with the current marker: %v", err)
	}
	got, _ := tbl.Load(ctx, "b1")
	if got.SubmitStartedAt != records.FormatTime(t0.Add(time.Minute)) || got.SubmitClaimedUntil != records.FormatTime(t0.Add(2*time.Minute)) {
		t.Errorf("got claim %s until %s", got.SubmitStartedAt, got.SubmitClaimedUntil)
	}
	if got.Image == nil || *got.Image != *rec.Image || len(got.Warnings) != 1 || got.Warnings[0] != rec.Warnings[0] {
		t.Errorf("got image %+v warnings %+v, want them recorded with the claim", got.Image, got.Warnings)
	}
	// Another execution cannot claim, nor release.
	other := rec
	other.ExecutionARN = "exec-2"
	if err := tbl.Claim(ctx, other, got.SubmitStartedAt, t0, t0); !store.ConditionFailed(err) {
		t.Errorf("claim by another execution: got %v, want a failed condition", err)
	}
	if err := tbl.Release(ctx, "b1", "exec-2", got.SubmitStartedAt, t0); !store.ConditionFailed(err) {
		t.Errorf("release by another execution: got %v, want a failed condition", err)
	}
	if err := tbl.Release(ctx, "b1", "exec-1", got.SubmitStartedAt, t0); err != nil {
		t.Errorf("release: %v", err)
	}
	if got, _ := tbl.Load(ctx, "b1"); got.SubmitClaimedUntil != records.FormatTime(t0) {
		t.Errorf("after release: claimed until %s, want %s", got.SubmitClaimedUntil, records.FormatTime(t0))
	}
}

func TestSetAvatarOwnsTheAvatar(t *testing.T) {
	tbl, db := newTable()
	ctx := context.Background()
	tbl.Register(ctx, record("b1", "exec-1"))
	tbl.Register(ctx, record("b2", "exec-2"))
	db.Lag() // ownership must not depend on the indexes
	if err := tbl.SetAvatar(ctx, "b1", "exec-1", "av-1", t0); err != nil {
		t.Fatal(err)
	}
	if owner, err := tbl.OwnerOf(ctx, "av-1"); owner != "b1" || err != nil {
		t.Errorf("owner of av-1: got %q, %v, want b1 at once, whatever the index says", owner, err)
	}
	// Another build cannot record the same avatar, and is left unchanged.
	if err := tbl.SetAvatar(ctx, "b2", "exec-2", "av-1", t0); !store.ConditionFailed(err) {
		t.Errorf("second owner: got %v, want a failed condition", err)
	}
	if b2, _ := tbl.Load(ctx, "b2"); b2.AvatarID != "" || b2.Status != records.StatusReceived {
		t.Errorf("b2 after the refused transaction: got avatar %q status %s, want it untouched", b2.AvatarID, b2.Status)
	}
	// The build cannot record a second avatar either.
	if err := tbl.SetAvatar(ctx, "b1", "exec-1", "av-2", t0); !store.ConditionFailed(err) {
		t.Errorf("second avatar: got %v, want a failed condition", err)
	}
	if owner, _ := tbl.OwnerOf(ctx, "av-2"); owner != "" {
		t.Errorf("av-2 got owner %q from a refused transaction", owner)
	}
	b1, _ := tbl.Load(ctx, "b1")
	if b1.AvatarID != "av-1" || b1.Status != records.StatusPending || b1.SubmittedAt != records.FormatTime(t0) {
		t.Errorf("b1: got avatar %q status %s submitted %s", b1.AvatarID, b1.Status, b1.SubmittedAt)
	}
	if all, err := tbl.All(ctx); err != nil || len(all) != 2 {
		t.Errorf("All: got %d records, %v, want the 2 builds without the ownership marker", len(all), err)
	}
	// The index catches up later; until then a lookup by avatar misses.
	if _, err := tbl.ByAvatar(ctx, "av-1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("lagging index: got %v, want not found", err)
	}
	db.CatchUp()
	if got, err := tbl.Find(ctx, "av-1"); err != nil || got.BuildID != "b1" {
		t.Errorf("find by avatar: got %q, %v, want b1", got.BuildID, err)
	}
}

func TestFindAndList(t *testing.T) {
	tbl, _ := newTable()
	ctx := context.Background()
	ids := []string{"0123456789abcdef0123456789abcdef", "0123456789abcdef0123456789abcd00", "fedcba9876543210fedcba9876543210"}
	for i, id := range ids {
		r := record(id, "exec")
		r.CreatedAt = records.FormatTime(t0.Add(time.Duration(i) * time.Minute))
		if i == 2 {
			r.Status, r.BuildSeconds = records.StatusReady, 2700
		}
		tbl.Register(ctx, r)
	}
	tests := []struct{ ref, want, wantErr string }{
		{ref: ids[2], want: ids[2]},
		{ref: "FEDCBA9876543210FEDCBA9876543210", want: ids[2]},
		{ref: "fedc", want: ids[2]},
		{ref: "0123", wantErr: "several build ids"},
		{ref: "012", wantErr: "too short"},
		{ref: "avatar#x", wantErr: "neither a build id"},
	}
	for _, tc := range tests {
		got, err := tbl.Find(ctx, tc.ref)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Find(%q): got %v, want an error saying %q", tc.ref, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got.BuildID != tc.want {
			t.Errorf("Find(%q): got %q, %v, want %s", tc.ref, got.BuildID, err, tc.want)
		}
	}
	all, err := tbl.List(ctx, store.ListOptions{})
	if err != nil || len(all) != 3 || all[0].BuildID != ids[2] || all[2].BuildID != ids[0] {
		t.Errorf("List: got %d records (%v), want 3 newest first", len(all), err)
	}
	received, _ := tbl.List(ctx, store.ListOptions{Status: records.StatusReceived, Limit: 1})
	if len(received) != 1 || received[0].BuildID != ids[1] {
		t.Errorf("List RECEIVED limit 1: got %+v, want the newer RECEIVED build", received)
	}
	since, _ := tbl.List(ctx, store.ListOptions{Since: t0.Add(time.Minute)})
	if len(since) != 2 {
		t.Errorf("List since: got %d, want 2", len(since))
	}
	durations, err := tbl.RecentDurations(ctx, 10)
	if err != nil || len(durations) != 1 || durations[0] != 45*time.Minute {
		t.Errorf("RecentDurations: got %v, %v, want [45m]", durations, err)
	}
}

func TestSlotsCountExactly(t *testing.T) {
	tbl, _ := newTable()
	ctx := context.Background()
	if s, err := tbl.Slots(ctx); s.Limit != 0 || len(s.Holders) != 0 || err != nil {
		t.Errorf("the slots before any was taken: got %+v, %v; want none", s, err)
	}
	var wg sync.WaitGroup
	got := make([]bool, 20)
	for i := range got {
		wg.Go(func() {
			ok, err := tbl.AcquireSlot(ctx, fmt.Sprintf("b%02d", i), 5)
			if err != nil {
				t.Error(err)
			}
			got[i] = ok
		})
	}
	wg.Wait()
	holders, _ := tbl.SlotHolders(ctx)
	taken := 0
	for _, ok := range got {
		if ok {
			taken++
		}
	}
	if taken != 5 || len(holders) != 5 {
		t.Fatalf("20 builds at once took %d slots (%d holders), want 5", taken, len(holders))
	}
	if s, _ := tbl.Slots(ctx); s.Limit != 5 {
		t.Errorf("got the limit %d, want the 5 the slots were taken under", s.Limit)
	}
	// A holder asking again keeps its slot; a release is idempotent.
	if ok, _ := tbl.AcquireSlot(ctx, holders[0], 5); !ok {
		t.Errorf("a holder asking again: refused")
	}
	for range 2 {
		if err := tbl.ReleaseSlot(ctx, holders[0]); err != nil {
			t.Fatal(err)
		}
	}
	if after, _ := tbl.SlotHolders(ctx); len(after) != 4 {
		t.Errorf("after releasing one slot twice: %d holders, want 4", len(after))
	}
	if ok, _ := tbl.AcquireSlot(ctx, "newcomer", 5); !ok {
		t.Errorf("a freed slot is not taken")
	}
	if ok, _ := tbl.AcquireSlot(ctx, "late", 5); ok {
		t.Errorf("a sixth build got a slot")
	}
	for _, h := range append(holders, "newcomer") {
		tbl.ReleaseSlot(ctx, h)
	}
	if after, _ := tbl.SlotHolders(ctx); len(after) != 0 {
		t.Errorf("after releasing all: holders %v", after)
	}
	if err := tbl.ReleaseSlot(ctx, "nobody"); err != nil {
		t.Errorf("releasing with no holders: %v", err)
	}
}

func TestQueue(t *testing.T) {
	tbl, _ := newTable()
	ctx := context.Background()
	var recs []records.Record
	for i := range 3 {
		r := record(fmt.Sprintf("%032x", i), "exec")
		r.CreatedAt = records.FormatTime(t0.Add(time.Duration(i) * time.Second))
		tbl.Register(ctx, r)
		r.Reason = "Mirako is busy"
		if err := tbl.Queue(ctx, r, t0.Add(time.Minute), t0); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	for i, r := range recs {
		if n, err := tbl.QueuePosition(ctx, r); err != nil || n != i {
			t.Errorf("position of build %d: got %d, %v", i, n, err)
		}
	}
	got, _ := tbl.Load(ctx, recs[0].BuildID)
	if got.Status != records.StatusQueued || got.Reason != "Mirako is busy" || got.NextAttemptAt != records.FormatTime(t0.Add(time.Minute)) {
		t.Errorf("queued record: %+v", got)
	}
	other := recs[0]
	other.ExecutionARN = "another-exec"
	if err := tbl.Queue(ctx, other, t0, t0); !store.ConditionFailed(err) {
		t.Errorf("queue by another execution: got %v, want a failed condition", err)
	}
	tbl.SetAvatar(ctx, recs[0].BuildID, "exec", "av", t0)
	if got, _ := tbl.Load(ctx, recs[0].BuildID); got.Status != records.StatusPending || got.Reason != "" || got.NextAttemptAt != "" {
		t.Errorf("a queued build that got its avatar: %+v, want PENDING without the queue's reason", got)
	}
	if all, _ := tbl.All(ctx); len(all) != 3 {
		t.Errorf("All: %d records, want the 3 builds", len(all))
	}
}

func TestOutage(t *testing.T) {
	tbl, _ := newTable()
	ctx := context.Background()
	if o, err := tbl.Outage(ctx); err != nil || o != (store.Outage{}) {
		t.Fatalf("no outage: got %+v %v", o, err)
	}
	for want := 1; want <= 2; want++ {
		if o, err := tbl.CountFailure(ctx); err != nil || o.Failures != want {
			t.Fatalf("failure %d: got %+v, %v", want, o, err)
		}
	}
	paused := store.Outage{Until: t0, Pause: 10 * time.Second}
	tbl.SetOutage(ctx, paused)
	if o, _ := tbl.Outage(ctx); o != paused {
		t.Errorf("got %+v, want %+v", o, paused)
	}
	if o, _ := tbl.CountFailure(ctx); o.Failures != 1 || o.Pause != paused.Pause || !o.Until.Equal(t0) {
		t.Errorf("a failure during a pause: got %+v, want the pause kept and one failure", o)
	}
	if all, _ := tbl.All(ctx); len(all) != 0 {
		t.Errorf("All: got %d records, want the outage item left out", len(all))
	}
}
