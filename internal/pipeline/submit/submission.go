package submit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/avatar-pipeline/avatar-pipeline/internal/metrics"
	"github.com/avatar-pipeline/avatar-pipeline/internal/mirako"
	"github.com/avatar-pipeline/avatar-pipeline/internal/pipeline"
	"github.com/avatar-pipeline/avatar-pipeline/internal/portrait"
	"github.com/avatar-pipeline/avatar-pipeline/internal/records"
	"github.com/avatar-pipeline/avatar-pipeline/internal/records/store"
)

// ObjectReader is the part of the S3 client submission uses.
type ObjectReader interface {
	GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

// Builder is the part of the Mirako client submission uses.
type Builder interface {
	Authenticate(ctx context.Context) error
	Build(ctx context.Context, name string, image io.Reader, size int64) (string, error)
	List(ctx context.Context) ([]mirako.Avatar, error)
}

// Claims is the part of the build store submission uses.
type Claims interface {
	Load(ctx context.Context, id string) (records.Record, error)
	SetImage(ctx context.Context, rec records.Record) error
	Claim(ctx context.Context, rec records.Record, seen string, now, until time.Time) error
	Release(ctx context.Context, id, execution, started string, until time.Time) error
	SetAvatar(ctx context.Context, id, execution, avatarID string, now time.Time) error
	OwnerOf(ctx context.Context, avatarID string) (string, error)
	Queue(ctx context.Context, rec records.Record, next, now time.Time) error
	QueuePosition(ctx context.Context, rec records.Record) (int, error)
	AcquireSlot(ctx context.Context, id string, max int) (bool, error)
	ReleaseSlot(ctx context.Context, id string) error
	Outage(ctx context.Context) (store.Outage, error)
	SetOutage(ctx context.Context, o store.Outage) error
	CountFailure(ctx context.Context) (store.Outage, error)
}

// HeadStarter chooses the wait before a build's first status check.
type HeadStarter interface {
	// HeadStart returns the first wait, or fallback when it knows no better.
	HeadStart(ctx context.Context, fallback time.Duration) time.Duration
}

// Submission checks a registered build's portrait and posts it to Mirako,
// at most once per build, however often the state machine retries it.
type Submission struct {
	Config    pipeline.SubmitConfig
	Objects   ObjectReader
	Records   Claims
	Mirako    Builder
	Policy    portrait.Policy
	HeadStart HeadStarter      // nil: the schedule's fixed head start
	Log       *slog.Logger     //
	Metrics   *metrics.Emitter // nil records no metrics
	Now       func() time.Time // time.Now when nil
}

// Submit returns the build ready for the poll loop, REJECTED, or QUEUED
// (see queue.go). A retry that finds the avatar recorded returns it; one
// that finds an earlier attempt's claim adopts the avatar that attempt
// created, or fails with SubmitInProgressError while the claim lasts.
func (s *Submission) Submit(ctx context.Context, st pipeline.State) (pipeline.State, error) {
	rec, err := s.Records.Load(ctx, st.BuildID)
	if err != nil {
		return st, pipeline.AWSError("submit "+st.BuildID, err)
	}
	if rec.ExecutionARN != st.ExecutionARN {
		return st, fmt.Errorf("submit %s: the record belongs to execution %s", st.BuildID, rec.ExecutionARN)
	}
	st.Record = rec
	log := s.Log.With("build_id", rec.BuildID, "execution", rec.ExecutionARN)
	if rec.AvatarID != "" {
		log.InfoContext(ctx, "already submitted", "avatar_id", rec.AvatarID)
		return s.submitted(ctx, st), nil
	}
	avatarID, err := s.earlierAttempt(ctx, rec, log)
	if err != nil {
		return st, err
	}
	if avatarID == "" {
		if rec.Status != records.StatusQueued { // a queued portrait passed the checks already
			accepted, err := s.checkPortrait(ctx, &st, log)
			if err != nil || !accepted {
				return st, err
			}
		}
		var wait *waitError
		failing, err := s.gate(ctx, &st, log)
		if errors.As(err, &wait) {
			return s.queue(ctx, st, wait, log)
		} else if err != nil {
			return st, err
		}
		avatarID, err = s.claimAndPost(ctx, &st, log)
		if errors.As(err, &wait) {
			return s.queue(ctx, st, wait, log)
		}
		if err != nil {
			return st, err
		}
		if failing { // Mirako answered: its failures so far were not an outage
			if err := s.Records.SetOutage(ctx, store.Outage{}); err != nil {
				log.WarnContext(ctx, "cannot reset the count of Mirako's failures", "error", err)
			}
		}
	}
	return s.record(ctx, st, avatarID, log)
}

// checkPortrait reads the object and runs the portrait checks. A rejected
// portrait makes st REJECTED, with the image as the checks saw it recorded.
func (s *Submission) checkPortrait(ctx context.Context, st *pipeline.State, log *slog.Logger) (bool, error) {
	obj, err := s.open(ctx, st.Record)
	if err != nil {
		return false, err
	}
	report, err := portrait.Check(obj.Body, aws.ToInt64(obj.ContentLength), s.Policy)
	obj.Body.Close()
	if err != nil {
		return false, readFailed(st.Record, err)
	}
	if report.Format != "" {
		st.Image = &records.Image{Format: string(report.Format), Width: report.Width, Height: report.Height}
	}
	st.Warnings = nil
	for i, code := range report.WarningCodes {
		st.Warnings = append(st.Warnings, records.Warning{Code: code, Reason: report.Warnings[i]})
	}
	if report.Accepted() {
		return true, nil
	}
	if err := s.Records.SetImage(ctx, st.Record); err != nil {
		return false, pipeline.AWSError("record the image of "+st.BuildID, err)
	}
	st.Reject(now(s.Now), strings.Join(report.Reasons, "; "))
	log.InfoContext(ctx, "portrait rejected", "reason", st.Reason)
	return false, nil
}

// claimAndPost claims the POST and streams the portrait to Mirako. A post
// whose outcome is unknown looks at once for the avatar it may have made;
// otherwise the claim is released (see release), and a refusal for load or
// an outage becomes a *waitError.
func (s *Submission) claimAndPost(ctx context.Context, st *pipeline.State, log *slog.Logger) (string, error) {
	// A client that cannot get its token must not hold a claim.
	if err := s.Mirako.Authenticate(ctx); err != nil {
		return "", pipeline.MirakoError(s.Metrics, "authenticate to Mirako for "+st.BuildID, err)
	}
	if err := s.claim(ctx, st); err != nil {
		return "", err
	}
	avatarID, err := s.post(ctx, st.Record, log)
	if err == nil {
		return avatarID, nil
	}
	log.WarnContext(ctx, "post to Mirako failed", "error", err)
	unknown := outcomeUnknown(err)
	if unknown {
		if avatarID = s.adoptLost(ctx, st.Record, log); avatarID != "" {
			return avatarID, nil
		}
	}
	s.release(ctx, st.Record, unknown, log)
	return "", s.refused(ctx, err, unknown, log)
}

// claim records, before posting, that a POST may now be accepted
// (submit_started_at) and until when this attempt may still be posting
// (its deadline plus ClaimMargin). Of two attempts at once only one claims;
// the other gets SubmitInProgressError.
func (s *Submission) claim(ctx context.Context, st *pipeline.State) error {
	at := now(s.Now)
	until := at.Add(UploadTimeout + ClaimMargin) // outside Lambda: the longest a post can take
	if deadline, ok := ctx.Deadline(); ok {
		until = deadline.Add(ClaimMargin)
	}
	err := s.Records.Claim(ctx, st.Record, st.SubmitStartedAt, at, until)
	if store.ConditionFailed(err) {
		return &pipeline.SubmitInProgressError{BuildID: st.BuildID}
	}
	if err != nil {
		// The write may have been applied all the same: end that claim, if
		// it exists, so the retry need not wait for it to lapse.
		mine := st.Record
		mine.SubmitStartedAt = records.FormatTime(at)
		s.release(ctx, mine, false, s.Log)
		return pipeline.AWSError("claim "+st.BuildID, err)
	}
	st.SubmitStartedAt, st.SubmitClaimedUntil, st.UpdatedAt = records.FormatTime(at), records.FormatTime(until), records.FormatTime(at)
	return nil
}

// release ends this attempt's claim once its post failed, so that the
// retry need not wait for the claim to lapse. After a post of unknown
// outcome the claim runs on for ClaimMargin, in which Mirako may still
// create the avatar: the retry then adopts it rather than posting over it.
// A failed release only makes the retry wait.
func (s *Submission) release(ctx context.Context, rec records.Record, unknown bool, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout) // the attempt's own context may be what ran out
	defer cancel()
	until := now(s.Now)
	if unknown {
		until = until.Add(ClaimMargin)
	}
	if err := s.Records.Release(ctx, rec.BuildID, rec.ExecutionARN, rec.SubmitStartedAt, until); err != nil {
		log.WarnContext(ctx, "could not end the claim on posting; a retry waits until it lapses", "build_id", rec.BuildID, "error", err)
	}
}

const releaseTimeout = 10 * time.Second

// post streams the object to Mirako. After a 401 it reads the object again
// and posts once more: the client reads the token again (it may have been
// rotated).
func (s *Submission) post(ctx context.Context, rec records.Record, log *slog.Logger) (string, error) {
	for attempt := 0; ; attempt++ {
		obj, err := s.open(ctx, rec)
		if err != nil {
			return "", err
		}
		body := &readRecorder{r: obj.Body}
		id, err := s.Mirako.Build(ctx, rec.Name, body, aws.ToInt64(obj.ContentLength))
		obj.Body.Close()
		if err == nil {
			return id, nil
		}
		if body.err != nil { // S3 failed mid-stream, not Mirako
			return "", readFailed(rec, body.err)
		}
		var api *mirako.APIError
		if attempt == 0 && errors.As(err, &api) && api.StatusCode == http.StatusUnauthorized {
			log.InfoContext(ctx, "Mirako refused the token; posting once more with the token read again")
			continue
		}
		return "", pipeline.MirakoError(s.Metrics, "build avatar "+rec.BuildID, err)
	}
}

// record writes the avatar id: from here on the build is never posted
// again. If another attempt recorded one first, that one is kept.
func (s *Submission) record(ctx context.Context, st pipeline.State, avatarID string, log *slog.Logger) (pipeline.State, error) {
	at := now(s.Now)
	err := s.Records.SetAvatar(ctx, st.BuildID, st.ExecutionARN, avatarID, at)
	if err == nil {
		st.AvatarID, st.Status, st.SubmittedAt, st.UpdatedAt = avatarID, records.StatusPending, records.FormatTime(at), records.FormatTime(at)
		log.InfoContext(ctx, "submitted", "avatar_id", avatarID, "bytes", st.Size)
		return s.submitted(ctx, st), nil
	}
	if !store.ConditionFailed(err) {
		return st, pipeline.AWSError("record the avatar of "+st.BuildID, err)
	}
	current, lerr := s.Records.Load(ctx, st.BuildID)
	if lerr != nil || current.ExecutionARN != st.ExecutionARN || current.AvatarID == "" {
		return st, fmt.Errorf("record avatar %s of build %s: %w", avatarID, st.BuildID, err)
	}
	if current.AvatarID != avatarID {
		log.WarnContext(ctx, "another attempt recorded a different avatar; keeping the recorded one", "avatar_id", current.AvatarID, "extra_avatar_id", avatarID)
	}
	st.Record = current
	return s.submitted(ctx, st), nil
}

// submitted completes the state for the poll loop, with the head start as
// the first wait.
func (s *Submission) submitted(ctx context.Context, st pipeline.State) pipeline.State {
	wait := s.Config.Schedule.HeadStart
	if s.HeadStart != nil {
		wait = s.HeadStart.HeadStart(ctx, wait)
	}
	st = s.Polling(st, wait)
	st.Notify = s.Config.NotifyOnSubmit
	return st
}

// Polling makes the state SUBMITTED, its first check after wait and its
// deadline counted from the submission.
func (s *Submission) Polling(st pipeline.State, wait time.Duration) pipeline.State {
	start, err := records.ParseTime(st.SubmittedAt)
	if err != nil {
		start = now(s.Now)
	}
	st.Outcome = pipeline.OutcomeSubmitted
	st.WaitSeconds = pipeline.Seconds(wait)
	st.Deadline = records.FormatTime(start.Add(s.Config.Schedule.Deadline))
	return st
}

// open starts reading the build's object, at its version when it has one.
func (s *Submission) open(ctx context.Context, rec records.Record) (*s3.GetObjectOutput, error) {
	in := &s3.GetObjectInput{Bucket: aws.String(rec.Bucket), Key: aws.String(rec.Key)}
	if rec.VersionID != "" {
		in.VersionId = aws.String(rec.VersionID)
	}
	obj, err := s.Objects.GetObject(ctx, in)
	if err != nil {
		return nil, readFailed(rec, err)
	}
	return obj, nil
}

func readFailed(rec records.Record, err error) error {
	return pipeline.AWSError(fmt.Sprintf("read s3://%s/%s", rec.Bucket, rec.Key), err)
}

// readRecorder remembers its reader's error, so that a failed upload can
// be told apart: S3's fault or Mirako's.
type readRecorder struct {
	r   io.Reader
	err error
}

func (r *readRecorder) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		r.err = err
	}
	return n, err
}
