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
	"github.com/avatar-pipeline/avatar-pipeline/internal/records/store"
)

// Queueing. A build Mirako refuses for load (429), or cannot take because
// it is unavailable (5xx, unreachable, no answer), or that would pass the
// pipeline's own limit of builds in flight, waits QUEUED and asks again;
// it never fails for load. It ends TIMED_OUT only if it still has no slot
// QueueDeadline after its upload.
//
// Builds serve themselves roughly in upload order: a build waits longer the
// more builds wait ahead of it, so the oldest ask most often. An outage is
// shared: a failure alone only makes its build ask again soon, but
// outageAfter failures with no answer between pause every build's posts,
// and when the pause ends cheap list requests, not uploads, tell whether
// Mirako is back (one answer ends the outage, outageAfter more failures
// double the pause).

// Queue timing: the head of the queue asks every queueBase, each build
// ahead adds queueStep (divided by MaxInFlight, when set), and after
// queueGrace the wait grows with the time already waited (a fifth of the
// time past the grace), up to queueMax: a day in the queue is about 160
// trips, which the execution history limit allows (MaxQueueTrips).
const (
	queueBase   = 2 * time.Second
	queueStep   = time.Second
	queueMax    = 15 * time.Minute
	outageFirst = 5 * time.Second // the first pause after Mirako was found unavailable; doubles while it lasts
	outageAfter = 3               // failures with no answer between that make an outage
	queueGrace  = time.Minute     // the waits start growing once a build has waited this long
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
// failing says Mirako's last answers were failures: a post that succeeds
// resets their count.
func (s *Submission) gate(ctx context.Context, st *pipeline.State, log *slog.Logger) (failing bool, err error) {
	at := now(s.Now)
	o, err := s.Records.Outage(ctx)
	if err != nil {
		return false, pipeline.AWSError("read the Mirako outage", err)
	}
	if at.Before(o.Until) {
		return false, &waitError{cause: "outage", reason: fmt.Sprintf("Mirako is unavailable; posts pause until %s", records.FormatTime(o.Until)), after: o.Until.Sub(at)}
	}
	if o.Pause > 0 { // the pause is over: is Mirako back?
		if _, err := s.Mirako.List(ctx); err != nil {
			return false, s.unavailable(ctx, pipeline.MirakoError(s.Metrics, "probe Mirako for "+st.BuildID, err), log)
		}
		if err := s.Records.SetOutage(ctx, store.Outage{}); err != nil {
			return false, pipeline.AWSError("end the Mirako outage", err)
		}
		log.InfoContext(ctx, "Mirako answers again; posting")
		o = store.Outage{}
	}
	if s.Config.MaxInFlight > 0 {
		ok, err := s.Records.AcquireSlot(ctx, st.BuildID, s.Config.MaxInFlight)
		if err != nil {
			return false, pipeline.AWSError("take a slot for "+st.BuildID, err)
		}
		if !ok {
			return false, &waitError{cause: "limit", reason: fmt.Sprintf("waiting for a slot: the pipeline lets %d builds be at Mirako at once", s.Config.MaxInFlight), after: queueBase}
		}
		st.Slot = true
	}
	return o.Failures > 0, nil
}

// refused turns a failed post into a wait when Mirako refused it for load
// or was unavailable; any other error is returned as it is.
func (s *Submission) refused(ctx context.Context, err error, unknown bool, log *slog.Logger) error {
	var limited *pipeline.RateLimitedError
	if errors.As(err, &limited) {
		return &waitError{cause: "capacity", reason: "Mirako is at capacity (429); asking again", after: limited.RetryAfter}
	}
	w := s.unavailable(ctx, err, log)
	if we, ok := w.(*waitError); ok && unknown {
		// Mirako may have acted: the retry must adopt rather than post over it.
		we.after, we.unknown = max(we.after, ClaimMargin), true
	}
	return w
}

// unavailable counts a failure of Mirako's. The outageAfter-th with no
// answer between pauses every build's posts, twice as long as the last
// pause, or outageFirst; an earlier one makes only this build wait.
func (s *Submission) unavailable(ctx context.Context, cause error, log *slog.Logger) error {
	var unavailable *pipeline.MirakoUnavailableError
	if !errors.As(cause, &unavailable) {
		return cause // not an outage (a refused token, no credits): the build fails
	}
	o, err := s.Records.CountFailure(ctx)
	if err != nil {
		return pipeline.AWSError("count a Mirako failure", err)
	}
	if o.Failures < outageAfter {
		return &waitError{cause: "outage", reason: fmt.Sprintf("Mirako is unavailable (%v); asking again", unavailable.Err), after: queueBase}
	}
	pause := min(max(2*o.Pause, outageFirst), queueMax)
	until := now(s.Now).Add(pause)
	if err := s.Records.SetOutage(ctx, store.Outage{Until: until, Pause: pause}); err != nil {
		return pipeline.AWSError("record the Mirako outage", err)
	}
	log.WarnContext(ctx, "Mirako is unavailable; pausing posts", "until", until, "failures", o.Failures, "error", cause)
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
	// With a limit of its own, the pipeline lets MaxInFlight builds go at
	// once: the queue moves that many places per turn.
	wait := max(w.after, minQueueWait(at.Sub(created))) + time.Duration(ahead)*queueStep/time.Duration(max(1, s.Config.MaxInFlight))
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
	return min(max(queueBase, (waited-queueGrace)/5), queueMax)
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
