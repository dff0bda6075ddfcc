package main

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/avatar-pipeline/avatar-pipeline/internal/records"
	"github.com/avatar-pipeline/avatar-pipeline/internal/records/store"
)

// recentREADY is how many recent READY builds the estimate learns from.
const recentREADY = 20

// estimate says where an unfinished build stands: its place in the queue
// (when QUEUED: 1 is the next to go) and when it should be READY, the
// median build time of the last recentREADY READY builds after its next
// attempt (QUEUED) or its submission (PENDING, BUILDING). It says nothing
// for a finished build, or when no build has been READY yet.
func estimate(ctx context.Context, t *store.Table, rec records.Record, now time.Time) string {
	var out string
	start := rec.SubmittedAt
	switch rec.Status {
	case records.StatusQueued:
		if ahead, err := t.QueuePosition(ctx, rec); err == nil {
			out = fmt.Sprintf("place %d in the queue", ahead+1)
		}
		start = rec.NextAttemptAt
	case records.StatusPending, records.StatusBuilding:
	default:
		return ""
	}
	at, err := records.ParseTime(start)
	durations, derr := t.RecentDurations(ctx, recentREADY)
	if err != nil || derr != nil || len(durations) == 0 {
		return out
	}
	slices.Sort(durations)
	typical := durations[len(durations)/2]
	eta := "any moment now"
	if done := at.Add(typical); done.After(now) {
		eta = "in about " + durationText(done.Sub(now).Round(time.Minute))
	}
	if out != "" {
		out += "; "
	}
	return out + fmt.Sprintf("READY %s (the median of the last %d READY builds: %s)", eta, len(durations), durationText(typical))
}
