// Package eta estimates where an unfinished build stands: its place in the
// queue and when it should be READY, from the times of recent READY builds
// (the history the learned head start reads). avatarctl shows it; the queue
// benchmark measures how good it was.
package eta

import (
	"context"
	"slices"
	"time"

	"github.com/avatar-pipeline/avatar-pipeline/internal/records"
	"github.com/avatar-pipeline/avatar-pipeline/internal/records/store"
)

// Recent is how many recent READY builds the estimate learns from.
const Recent = 20

// Estimate is where an unfinished build stands.
type Estimate struct {
	Place   int           // 1: the next to go; 0: not QUEUED, or not known
	Ready   time.Time     // when it should be READY; zero when no READY build is known
	Typical time.Duration // the median time of the recent READY builds
	Basis   int           // how many READY builds it learned from
}

// Of estimates rec. A PENDING or BUILDING build should be READY the median
// build time after its submission. A QUEUED one waits its turn first: with
// the pipeline's own limit of s slots (MaxBuildsInFlight, as the last build
// to take a slot saw it), a build with n builds queued ahead of it is
// posted after n/s turns of a median build each, counted from its next
// attempt; without the limit it goes at its next attempt. A read that
// fails leaves out what it would have told; a finished build has none.
func Of(ctx context.Context, t *store.Table, rec records.Record) Estimate {
	var e Estimate
	start, turns := rec.SubmittedAt, 0
	switch rec.Status {
	case records.StatusQueued:
		start = rec.NextAttemptAt
		if ahead, err := t.QueuePosition(ctx, rec); err == nil {
			e.Place = ahead + 1
			if slots, err := t.Slots(ctx); err == nil && slots.Limit > 0 {
				turns = ahead / slots.Limit
			}
		}
	case records.StatusPending, records.StatusBuilding:
	default:
		return e
	}
	at, err := records.ParseTime(start)
	durations, derr := t.RecentDurations(ctx, Recent)
	if err != nil || derr != nil || len(durations) == 0 {
		return e
	}
	slices.Sort(durations)
	e.Typical, e.Basis = durations[len(durations)/2], len(durations)
	e.Ready = at.Add(time.Duration(turns+1) * e.Typical)
	return e
}
