package submit

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/avatar-pipeline/avatar-pipeline/internal/pipeline"
)

// Durations is the part of the build store the learned head start reads.
type Durations interface {
	RecentDurations(ctx context.Context, n int) ([]time.Duration, error)
}

// LearnedHeadStart is a HeadStarter that starts polling just before the
// likely finish, from how long recent READY builds took (see
// pipeline.LearnHeadStart). It reads the table at most once per TTL, and
// falls back to the fixed head start when the history is thin or cannot be
// read: a failed read never fails a build. It is safe for concurrent use.
type LearnedHeadStart struct {
	Table Durations
	// Schedule supplies the interval (recorded build times overstate the
	// real ones by up to one interval) and the deadline, which bounds the
	// head start.
	Schedule pipeline.Schedule
	// Samples, MinSamples and TTL default to pipeline.LearnSamples,
	// LearnMinSamples and LearnTTL when zero.
	Samples    int
	MinSamples int
	TTL        time.Duration
	Log        *slog.Logger
	Now        func() time.Time // time.Now when nil

	mu        sync.Mutex
	durations []time.Duration // newest first
	fetched   time.Time       // when durations were read; zero: never
}

// HeadStart implements HeadStarter.
func (l *LearnedHeadStart) HeadStart(ctx context.Context, fallback time.Duration) time.Duration {
	recent := l.recent(ctx)
	if len(recent) < orDefault(l.MinSamples, pipeline.LearnMinSamples) {
		return fallback
	}
	return pipeline.LearnHeadStart(recent, fallback, l.Schedule.Interval, l.Schedule.Deadline)
}

// recent returns the durations of recent READY builds, from the cache
// while it is fresh. A failed read is cached too, with what was read
// before: a table in trouble gets no read per build.
func (l *LearnedHeadStart) recent(ctx context.Context) []time.Duration {
	at := now(l.Now)
	l.mu.Lock()
	defer l.mu.Unlock()
	if age := at.Sub(l.fetched); !l.fetched.IsZero() && age >= 0 && age < time.Duration(orDefault(int(l.TTL), int(pipeline.LearnTTL))) {
		return l.durations
	}
	durations, err := l.Table.RecentDurations(ctx, orDefault(l.Samples, pipeline.LearnSamples))
	l.fetched = at
	if err != nil {
		l.Log.WarnContext(ctx, "learned head start: cannot read recent build times; using what was read before, or the fixed head start",
			"error", err, "cached_builds", len(l.durations))
		return l.durations
	}
	l.durations = durations
	return durations
}

func orDefault(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}
