package submit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/avatar-pipeline/avatar-pipeline/internal/metrics"
	"github.com/avatar-pipeline/avatar-pipeline/internal/pipeline"
	"github.com/avatar-pipeline/avatar-pipeline/internal/records"
)

// Queueing. A build Mirako refuses for load (429), or cannot take because
// it is unavailable (5xx, unreachable, no answer), or that would pass the
// pipeline's own limit of builds in flight, waits QUEUED and asks again;
// it never fails for load. It ends TIMED_OUT only if it still has no slot
// QueueDeadline after its upload.
//
// Builds serve themselves roughly in upload order: a build waits longer the
// more builds wait ahead of it, so the oldest ask most often. An outage is
// shared: the first build to find Mirako unavailable pauses every build's
// posts, and when the pause ends one cheap list request, not an upload,
// tells whether Mirako is back.

// Queue timing: the head of the queue asks every queueBase, each build
// ahead adds queueStep, and the wait grows with the time already waited (a
// fifth of it), up to queueMax: a day in the queue is about 130 trips, which
// the execution history limit allows (MaxQueueTrips).
const (
	queueBase   = 2 * time.Second
	queueStep   = time.Second
	queueMax    = 15 * time.Minute
	outageFirst = 5 * time.Second // the first pause after Mirako was found unavailable; doubles while it lasts
)

// waitError says the build must wait: why, and how long at least.
type waitError struct {
	cause  string // the Queued metric's dimension: capacity, outage or limit
	reason string // for the record, a sentence
	after  time.Duration
	// unknown: the post's outcome is unknown, so Mirako may be building
	// it: the build keeps its slot.
	unknown bool
}

func (e *waitError) Error() string { return e.reason }

// gate decides whether the build may post now: not while Mirako is known
// to be unavailable, nor past the pipeline's limit of builds in flight.
func (s *Submission) gate(ctx context.Context, st *pipeline.State, log *slog.Logger) error {
	at := now(s.Now)
	until, pause, err := s.Records.Outage(ctx)
	if err != nil {
		return pipeline.AWSError("read the Mirako outage", err)
	}
	if at.Before(until) {
		return &waitError{cause: "outage", reason: fmt.Sprintf("Mirako is unavailable; posts pause until %s", records.FormatTime(until)), after: until.Sub(at)}
	}
	if pause > 0 { // the pause is over: is Mirako back?
		if _, err := s.Mirako.List(ctx); err != nil {
			return s.outage(ctx, pause, pipeline.MirakoError(s.Metrics, "probe Mirako for "+st.BuildID, err), log)
		}
		if err := s.Records.SetOutage(ctx, time.Time{}, 0); err != nil {
			return pipeline.AWSError("end the Mirako outage", err)
		}
		log.InfoContext(ctx, "Mirako answers again; posting")
	}
	if s.Config.MaxInFlight <= 0 {
		return nil
	}
	ok, err := s.Records.AcquireSlot(ctx, st.BuildID, s.Config.MaxInFlight)
	if err != nil {
		return pipeline.AWSError("take a slot for "+st.BuildID, err)
	}
	if !ok {
		return &waitError{cause: "limit", reason: fmt.Sprintf("waiting for a slot: the pipeline lets %d builds be at Mirako at once", s.Config.MaxInFlight), after: queueBase}
	}
	st.Slot = true
	return nil
}

// refused turns a failed post into a wait when Mirako refused it for load
// or was unavailable; any other error is returned as it is.
func (s *Submission) refused(ctx context.Context, err error, unknown bool, log *slog.Logger) error {
	var limited *pipeline.RateLimitedError
	var unavailable *pipeline.MirakoUnavailableError
	switch {
	case errors.As(err, &limited):
		return &waitError{cause: "capacity", reason: "Mirako is at capacity (429); asking again", after: limited.RetryAfter}
	case errors.As(err, &unavailable):
		_, pause, rerr := s.Records.Outage(ctx)
		if rerr != nil {
			return pipeline.AWSError("read the Mirako outage", rerr)
		}
		w := s.outage(ctx, pause, err, log)
		if we, ok := w.(*waitError); ok && unknown {
			// Mirako may have acted: the retry must adopt rather than post over it.
			we.after, we.unknown = max(we.after, ClaimMargin), true
		}
		return w
	}
	return err
}

// outage pauses every build's posts: twice the last pause, or outageFirst.
func (s *Submission) outage(ctx context.Context, last time.Duration, cause error, log *slog.Logger) error {
	var unavailable *pipeline.MirakoUnavailableError
	if !errors.As(cause, &unavailable) {
		return cause // not an outage (a refused token, no credits): the build fails
	}
	pause := min(max(2*last, outageFirst), queueMax)
	until := now(s.Now).Add(pause)
	if err := s.Records.SetOutage(ctx, until, pause); err != nil {
		return pipeline.AWSError("record the Mirako outage", err)
	}
	log.WarnContext(ctx, "Mirako is unavailable; pausing posts", "until", until, "error", cause)
	return &waitError{cause: "outage", reason: fmt.Sprintf("Mirako is unavailable (%v); posts pause until %s", unavailable.Err, records.FormatTime(until)), after: pause}
}

// queue makes the build wait: QUEUED on the record with the reason and the
// next attempt, or TIMED_OUT once QueueDeadline has passed.
func (s *Submission) queue(ctx context.Context, st pipeline.State, w *waitError, log *slog.Logger) (pipeline.State, error) {
	at := now(s.Now)
	created, _ := records.ParseTime(st.CreatedAt)
	timedOut := at.Sub(created) >= s.Config.QueueDeadline
	if st.Slot && (!w.unknown || timedOut) { // a build that waits holds no slot
		if err := s.Records.ReleaseSlot(ctx, st.BuildID); err != nil {
			return st, pipeline.AWSError("release the slot of "+st.BuildID, err)
		}
		st.Slot = false
	}
	if timedOut {
		st.Finish(at, records.StatusTimedOut, fmt.Sprintf("the build never got a slot at Mirako in %s (last: %s); upload the portrait again later", s.Config.QueueDeadline, w.reason))
		log.WarnContext(ctx, "gave up waiting for Mirako", "waited", at.Sub(created))
		return st, nil
	}
	ahead, err := s.Records.QueuePosition(ctx, st.Record)
	if err != nil {
		log.WarnContext(ctx, "cannot count the builds queued ahead; waiting as the head of the queue", "error", err)
	}
	wait := max(w.after, minQueueWait(at.Sub(created))) + time.Duration(ahead)*queueStep
	wait = min(wait, queueMax) + rand.N(wait/10+1)
	st.Status, st.Reason, st.NextAttemptAt = records.StatusQueued, w.reason, records.FormatTime(at.Add(wait))
	if err := s.Records.Queue(ctx, st.Record, at.Add(wait), at); err != nil {
		return st, pipeline.AWSError("queue "+st.BuildID, err)
	}
	st.Outcome, st.WaitSeconds = pipeline.OutcomeQueued, pipeline.Seconds(wait)
	s.Metrics.Count(metrics.Queued, metrics.DimCause, w.cause, st.BuildID)
	log.InfoContext(ctx, "queued", "reason", w.reason, "ahead", ahead, "wait", wait)
	return st, nil
}

// minQueueWait is the shortest wait of a build queued for this long.
func minQueueWait(waited time.Duration) time.Duration {
	return min(max(queueBase, waited/5), queueMax)
}

// MaxQueueTrips is the most times a build can go round the queue before
// deadline: every wait as short as the rule allows.
func MaxQueueTrips(deadline time.Duration) int {
	trips := 0
	for t := time.Duration(0); t < deadline; t += minQueueWait(t) {
		trips++
	}
	return trips
}
