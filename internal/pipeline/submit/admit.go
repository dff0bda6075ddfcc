package submit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/avatar-pipeline/avatar-pipeline/internal/pipeline"
	"github.com/avatar-pipeline/avatar-pipeline/internal/records"
	"github.com/avatar-pipeline/avatar-pipeline/internal/records/store"
)

// ObjectHeader is the part of the S3 client admission uses.
type ObjectHeader interface {
	HeadObject(ctx context.Context, in *s3.HeadObjectInput, opts ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
}

// Registrar is the part of the build store admission uses.
type Registrar interface {
	Register(ctx context.Context, rec records.Record) (records.Record, error)
	TakeOver(ctx context.Context, id, previous, execution string, now time.Time) (records.Record, error)
}

// Admission turns an execution's input into a registered build, once per
// upload: every delivery of one upload's event computes the same build id,
// and only the first registers it.
type Admission struct {
	Objects ObjectHeader
	Records Registrar
	// Resumed completes a taken-over build that has an avatar for the poll
	// loop (see Submission.Polling).
	Resumed func(pipeline.State) pipeline.State
	Log     *slog.Logger
	Now     func() time.Time // time.Now when nil
}

// Admit registers the build of the uploaded object, or takes over a stale
// build when the input is a resume (avatarctl sweep). Another execution's
// build ends DUPLICATE; a retry of this execution's own admission carries
// on. A portrait whose object is gone, or whose name is unusable, is
// REJECTED here.
func (a *Admission) Admit(ctx context.Context, raw json.RawMessage, execution string) (pipeline.State, error) {
	if execution == "" {
		return pipeline.State{}, errors.New("admit: execution_arn is missing from the input")
	}
	var resume pipeline.ResumeInput
	if json.Unmarshal(raw, &resume) == nil && resume.ResumeBuildID != "" {
		return a.resume(ctx, resume, execution)
	}
	ev, err := pipeline.ParseObjectCreated(raw)
	if err != nil {
		return pipeline.State{}, err
	}
	rec, head, nameErr, err := a.describe(ctx, ev, execution)
	if err != nil {
		return pipeline.State{}, err
	}
	log := a.Log.With("build_id", rec.BuildID, "execution", execution)
	registered, err := a.Records.Register(ctx, rec)
	if err != nil {
		return pipeline.State{}, pipeline.AWSError("register "+rec.BuildID, err)
	}
	st := pipeline.State{Record: registered, Outcome: pipeline.OutcomeAdmitted}
	if registered.ExecutionARN != execution {
		log.InfoContext(ctx, "duplicate delivery", "owner", registered.ExecutionARN)
		st.Outcome = pipeline.OutcomeDuplicate
		return st, nil
	}
	switch {
	case head == nil:
		st.Reject(now(a.Now), fmt.Sprintf("the object s3://%s/%s is gone: it was deleted before the build started", rec.Bucket, rec.Key))
	case nameErr != nil:
		st.Reject(now(a.Now), nameErr.Error())
	}
	log.InfoContext(ctx, "admitted", "outcome", st.Outcome, "name", st.Name, "key", st.Key)
	return st, nil
}

// describe makes the record of the uploaded object: its key (S3 events
// may carry it URL-encoded or not), metadata and build id. A nil head
// means the object no longer exists; nameErr says why its name is unusable.
func (a *Admission) describe(ctx context.Context, ev pipeline.ObjectCreated, execution string) (rec records.Record, head *s3.HeadObjectOutput, nameErr, err error) {
	bucket, o := ev.Detail.Bucket.Name, ev.Detail.Object
	at := records.FormatTime(now(a.Now))
	rec = records.Record{Status: records.StatusReceived, Bucket: bucket, Key: ev.KeyCandidates()[0], VersionID: o.VersionID,
		ETag: strings.Trim(o.ETag, `"`), Size: o.Size, CreatedAt: at, UpdatedAt: at, ExecutionARN: execution}
	for _, key := range ev.KeyCandidates() {
		in := &s3.HeadObjectInput{Bucket: &bucket, Key: aws.String(key)}
		if o.VersionID != "" {
			in.VersionId = aws.String(o.VersionID)
		}
		out, err := a.Objects.HeadObject(ctx, in)
		if err != nil && !isNotFound(err) {
			return rec, nil, nil, pipeline.AWSError(fmt.Sprintf("head s3://%s/%s", bucket, key), err)
		}
		if err == nil {
			rec.Key, head = key, out
			break
		}
	}
	if head != nil {
		rec.Size = aws.ToInt64(head.ContentLength)
		rec.VersionID = cmpOr(rec.VersionID, aws.ToString(head.VersionId))
		rec.ETag = cmpOr(rec.ETag, strings.Trim(aws.ToString(head.ETag), `"`))
		rec.Name, nameErr = avatarName(head.Metadata, rec.Key)
	}
	rec.BuildID = records.BuildID(bucket, rec.Key, rec.VersionID, rec.ETag)
	if ev.RetryOf != "" {
		rec.BuildID, rec.RetryOf = records.RetryBuildID(ev.RetryOf, execution), ev.RetryOf
	}
	return rec, head, nameErr, nil
}

// avatarName is the object's avatar-name metadata (S3 metadata is ASCII,
// so clients send other names RFC 2047-encoded), else the key's base name;
// cleaned when usable, else kept storable (valid UTF-8, bounded) so the
// REJECTED record shows what was given, with the reason it is unusable.
func avatarName(meta map[string]string, key string) (string, error) {
	name, ok := meta[pipeline.NameMetadata]
	if !ok {
		name = pipeline.DefaultName(key)
	} else if decoded, err := new(mime.WordDecoder).DecodeHeader(name); err == nil {
		name = decoded
	}
	clean, err := records.CleanName(name)
	if err == nil {
		return clean, nil
	}
	name = strings.ToValidUTF8(strings.TrimSpace(name), "\uFFFD")
	if r := []rune(name); len(r) > 2*records.MaxNameLength {
		name = string(r[:2*records.MaxNameLength])
	}
	return name, err
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func isNotFound(err error) bool {
	var nf *s3types.NotFound
	var nk *s3types.NoSuchKey
	return errors.As(err, &nf) || errors.As(err, &nk) || strings.Contains(err.Error(), "StatusCode: 404")
}

// resume takes over a build whose execution ended without a terminal
// status. The loser of two sweeps' take-overs ends DUPLICATE. A build with
// an avatar goes back to polling; one without goes to Submit, which adopts
// what an earlier POST created.
func (a *Admission) resume(ctx context.Context, in pipeline.ResumeInput, execution string) (pipeline.State, error) {
	if in.PreviousExecution == "" {
		return pipeline.State{}, errors.New("resume: previous_execution is required")
	}
	rec, err := a.Records.TakeOver(ctx, in.ResumeBuildID, in.PreviousExecution, execution, now(a.Now))
	if store.ConditionFailed(err) {
		a.Log.InfoContext(ctx, "resume: the build has moved on since the sweep looked", "build_id", in.ResumeBuildID, "execution", execution)
		return pipeline.State{Record: records.Record{BuildID: in.ResumeBuildID}, Outcome: pipeline.OutcomeDuplicate}, nil
	}
	if err != nil {
		return pipeline.State{}, pipeline.AWSError("resume "+in.ResumeBuildID, err)
	}
	a.Log.InfoContext(ctx, "resumed", "build_id", rec.BuildID, "avatar_id", rec.AvatarID, "execution", execution, "previous", in.PreviousExecution)
	st := pipeline.State{Record: rec, Outcome: pipeline.OutcomeAdmitted}
	if rec.AvatarID != "" {
		st = a.Resumed(st)
	}
	return st, nil
}

func now(f func() time.Time) time.Time {
	if f != nil {
		return f().UTC()
	}
	return time.Now().UTC()
}
