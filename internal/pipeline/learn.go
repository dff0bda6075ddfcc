package pipeline

import (
	"slices"
	"time"
)

// Defaults of the learned head start (submit.LearnedHeadStart).
const (
	// LearnSamples is how many recent READY builds the learned head start
	// reads: enough to see where build times begin and how they spread,
	// few enough for one Query page of small projected items.
	LearnSamples = 50
	// LearnMinSamples is the least history the learned head start uses;
	// with fewer builds it keeps the fixed head start.
	LearnMinSamples = 5
	// LearnTTL is how long a warm Submit function reuses the durations it
	// read: a burst of uploads costs one Query, not one per build.
	LearnTTL = 5 * time.Minute
)

// LearnMargin is how many average gaps between sorted recent build times
// the learned head start keeps below the shortest of them (see
// LearnHeadStart). The poll-economics simulator (tools/schedulesim)
// chose it: with 50 samples, fewer margins let builds that are shorter
// than any recent one be noticed minutes late; ten keep 45 ± 5 minute
// builds at about 54 state transitions and every detection within one
// interval over 10⁵ simulated builds of each workload.
const LearnMargin = 10

// LearnHeadStart returns the first wait that recent build durations (as
// recorded: submission to detection) suggest for the next build: just
// before the shortest build is likely to finish,
//
//	wait = min − LearnMargin × (max − min)/(n − 1) − interval
//
// (max − min)/(n − 1) is the average gap between n sorted durations: the
// shortest of n samples sits about one gap above the shortest build there
// can be, and the margin of several gaps makes a build shorter than every
// recent one rare, and then noticed late by little. One interval comes off
// because a recorded duration includes up to one interval of detection
// latency. Spread-out or short histories give a wait at or below fallback,
// and then fallback is used: the learned wait never polls earlier than the
// configured head start. It is at most deadline (when positive), so the
// first check never lands past the deadline. With fewer than two durations
// it returns fallback.
func LearnHeadStart(recent []time.Duration, fallback, interval, deadline time.Duration) time.Duration {
	if len(recent) < 2 {
		return fallback
	}
	lo, hi := slices.Min(recent), slices.Max(recent)
	margin := LearnMargin * (hi - lo) / time.Duration(len(recent)-1)
	wait := (lo - margin - interval).Truncate(time.Second)
	if wait <= fallback {
		return fallback
	}
	if deadline > 0 && wait > deadline {
		wait = deadline
	}
	return wait
}
