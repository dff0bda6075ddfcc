package checkstatus

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/avatar-pipeline/avatar-pipeline/internal/metrics"
	"github.com/avatar-pipeline/avatar-pipeline/internal/mirako"
	"github.com/avatar-pipeline/avatar-pipeline/internal/pipeline"
	"github.com/avatar-pipeline/avatar-pipeline/internal/records"
)

// AvatarGetter is the part of the Mirako client CheckStatus uses.
type AvatarGetter interface {
	Get(ctx context.Context, id string) (*mirako.Avatar, error)
}

// Handler is the CheckStatus function: one status poll of a submitted
// build.
type Handler struct {
	Config  pipeline.CheckStatusConfig
	Mirako  AvatarGetter
	Log     *slog.Logger
	Metrics *metrics.Emitter // nil records no metrics
	Now     func() time.Time // time.Now when nil
}

// Handle is the Lambda handler.
func (h *Handler) Handle(ctx context.Context, in pipeline.StepInput) (pipeline.State, error) {
	st := in.Build
	now := time.Now().UTC()
	if h.Now != nil {
		now = h.Now().UTC()
	}
	log := h.Log.With("build_id", st.BuildID, "avatar_id", st.AvatarID, "execution", st.ExecutionARN)
	if st.AvatarID == "" {
		return st, fmt.Errorf("check status of %s: the state has no avatar_id", st.BuildID)
	}
	deadline, err := records.ParseTime(st.Deadline)
	if err != nil {
		return st, fmt.Errorf("check status of %s: deadline %q: %w", st.BuildID, st.Deadline, err)
	}
	if st.Checks >= pipeline.MaxChecks {
		return timeOut(ctx, st, now, log), nil
	}
	// Past the deadline there is one last check: the wait before it was cut
	// to land on the deadline, and a build that finished meanwhile is not
	// TIMED_OUT.
	last := !now.Before(deadline)
	next := pipeline.Schedule{Interval: h.Config.Interval}.Next(now, deadline)

	st.Checks++
	avatar, err := h.Mirako.Get(ctx, st.AvatarID)
	switch {
	case err != nil && last:
		return timeOut(ctx, st, now, log), nil
	case err != nil:
		return h.waitOut(ctx, st, err, next, log)
	}
	st.WaitSeconds = pipeline.Seconds(next)
	if st, err = apply(st, avatar, now); err != nil {
		return st, err
	}
	if last && !st.Status.Terminal() {
		return timeOut(ctx, st, now, log), nil
	}
	log.InfoContext(ctx, "checked", "status", st.Status, "outcome", st.Outcome, "checks", st.Checks)
	return st, nil
}

// waitOut answers a failed check. A fault of Mirako's (an outage, its rate
// limit) is waited out: the build goes on at Mirako whatever its status
// page says, and the deadline and the check bound end the wait. A refusal
// for good is the step's error.
func (h *Handler) waitOut(ctx context.Context, st pipeline.State, err error, next time.Duration, log *slog.Logger) (pipeline.State, error) {
	err = pipeline.MirakoError(h.Metrics, "check status of "+st.BuildID, err)
	if _, rejected := err.(*pipeline.MirakoRejectedError); rejected {
		log.ErrorContext(ctx, "status check failed", "error", err)
		return st, err
	}
	if rl, ok := err.(*pipeline.RateLimitedError); ok && rl.RetryAfter > next {
		next = rl.RetryAfter // Mirako asked for longer
	}
	st.Outcome, st.WaitSeconds = pipeline.OutcomeWaiting, pipeline.Seconds(next)
	log.WarnContext(ctx, "status check met a transient fault; will check again", "error", err)
	return st, nil
}

// apply records the status Mirako reported.
func apply(st pipeline.State, avatar *mirako.Avatar, now time.Time) (pipeline.State, error) {
	previous := st.Status
	switch avatar.Status {
	case mirako.StatusReady:
		st.Themes = make([]string, 0, len(avatar.Themes))
		st.ThemesAttr = make([]map[string]string, 0, len(avatar.Themes))
		for _, t := range avatar.Themes {
			st.Themes = append(st.Themes, t.Name)
			st.ThemesAttr = append(st.ThemesAttr, map[string]string{"S": t.Name})
		}
		st.Finish(now, records.StatusReady, "")
	case mirako.StatusError:
		st.Finish(now, records.StatusError, "Mirako reported the build as ERROR (Mirako gives no reason; check the portrait against its guidance and retry)")
	case mirako.StatusPending, mirako.StatusBuilding:
		st.Status = records.Status(avatar.Status)
		st.Outcome = pipeline.OutcomeWaiting
		if st.Status != previous {
			st.Outcome = pipeline.OutcomeProgress
			st.UpdatedAt = records.FormatTime(now)
		}
	default:
		return st, &pipeline.MirakoRejectedError{Op: "check status of " + st.BuildID,
			Err: fmt.Errorf("Mirako returned unknown status %q", avatar.Status)}
	}
	return st, nil
}

// timeOut ends the build TIMED_OUT, naming its last status.
func timeOut(ctx context.Context, st pipeline.State, now time.Time, log *slog.Logger) pipeline.State {
	st.Finish(now, records.StatusTimedOut, fmt.Sprintf(
		"Mirako did not finish the build before the deadline (%s, after %d checks); its last status was %s",
		st.Deadline, st.Checks, st.Status))
	log.WarnContext(ctx, "timed out", "checks", st.Checks)
	return st
}
