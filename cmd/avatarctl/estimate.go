package main

import (
	"context"
	"fmt"
	"time"

	"github.com/avatar-pipeline/avatar-pipeline/internal/records"
	"github.com/avatar-pipeline/avatar-pipeline/internal/records/eta"
	"github.com/avatar-pipeline/avatar-pipeline/internal/records/store"
)

// estimate says where an unfinished build stands (package eta): its place
// in the queue when QUEUED, and when it should be READY. It says nothing
// for a finished build, or when no build has been READY yet.
func estimate(ctx context.Context, t *store.Table, rec records.Record, now time.Time) string {
	return estimateText(eta.Of(ctx, t, rec), now)
}

// estimateText says an estimate in words.
func estimateText(e eta.Estimate, now time.Time) string {
	var out string
	if e.Place > 0 {
		out = fmt.Sprintf("place %d in the queue", e.Place)
	}
	if e.Ready.IsZero() {
		return out
	}
	when := "any moment now"
	if e.Ready.After(now) {
		when = "in about " + durationText(e.Ready.Sub(now).Round(time.Minute))
	}
	if out != "" {
		out += "; "
	}
	return out + fmt.Sprintf("READY %s (the median of the last %d READY builds: %s)", when, e.Basis, durationText(e.Typical))
}
