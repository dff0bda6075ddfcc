package submit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/avatar-pipeline/avatar-pipeline/internal/metrics"
	"github.com/avatar-pipeline/avatar-pipeline/internal/mirako"
	"github.com/avatar-pipeline/avatar-pipeline/internal/pipeline"
	"github.com/avatar-pipeline/avatar-pipeline/internal/portrait"
	"github.com/avatar-pipeline/avatar-pipeline/internal/records"
)

// ObjectReader is the part of the S3 client Submit uses.
type ObjectReader interface {
	HeadObject(ctx context.Context, in *s3.HeadObjectInput, opts ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
	GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

// RecordTable is the part of the DynamoDB client Submit uses.
type RecordTable interface {
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

// AvatarBuilder is the part of the Mirako client Submit uses.
type AvatarBuilder interface {
	Build(ctx context.Context, name string, image io.Reader, size int64) (string, error)
	List(ctx context.Context) ([]mirako.Avatar, error)
}

// readier is an AvatarBuilder that must get ready (read its token) before
// its first call.
type readier interface {
	Ready(ctx context.Context) error
}

// adoptSkew is how far Mirako's clock may be behind ours when Submit looks
// for an avatar an earlier attempt created.
const adoptSkew = 2 * time.Minute

// Handler is the Submit function: it admits an upload (derives the build id
// and registers the record, once) and then submits it (checks the portrait
// and streams it to Mirako, once).
type Handler struct {
	Config  pipeline.SubmitConfig
	Objects ObjectReader
	Table   RecordTable
	Mirako  AvatarBuilder
	// HeadStart, when set, chooses the first wait from recent builds (the
	// learned head start); the schedule's fixed head start otherwise.
	HeadStart HeadStarter
	Log       *slog.Logger
	Metrics   *metrics.Emitter // nil records no metrics
	Now       func() time.Time // time.Now when nil
}

// Handle is the Lambda handler.
func (h *Handler) Handle(ctx context.Context, in pipeline.SubmitInput) (pipeline.State, error) {
	switch in.Step {
	case pipeline.StepAdmit:
		return h.admit(ctx, in.Event, in.ExecutionARN)
	case pipeline.StepSubmit:
		if in.Build == nil {
			return pipeline.State{}, errors.New("submit: input has no build")
		}
		return h.submit(ctx, *in.Build)
	}
	return pipeline.State{}, fmt.Errorf("submit: unknown step %q, want %q or %q", in.Step, pipeline.StepAdmit, pipeline.StepSubmit)
}

// resume takes over a build whose execution ended without a terminal
// status. The take-over is conditional on the record still belonging to
// the execution the sweep saw, so two sweeps cannot both resume it; the
// loser ends DUPLICATE. A build with an avatar goes back to polling, one
// without goes to Submit, which adopts an avatar an earlier POST created.
func (h *Handler) resume(ctx context.Context, buildID, previous, execution string) (pipeline.State, error) {
	if buildID == "" || previous == "" || execution == "" {
		return pipeline.State{}, errors.New("resume: build_id, previous_execution and execution_arn are all required")
	}
	now := records.FormatTime(h.now())
	out, err := h.Table.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:           aws.String(h.Config.Table),
		Key:                 buildKey(buildID),
		UpdateExpression:    aws.String("SET #exec = :exec, #updated = :now"),
		ConditionExpression: aws.String("#exec = :previous AND #status IN (:received, :pending, :building)"),
		ExpressionAttributeNames: map[string]string{"#exec": records.AttrExecutionARN,
			"#updated": records.AttrUpdatedAt, "#status": records.AttrStatus},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":exec":     &types.AttributeValueMemberS{Value: execution},
			":previous": &types.AttributeValueMemberS{Value: previous},
			":now":      &types.AttributeValueMemberS{Value: now},
			":received": &types.AttributeValueMemberS{Value: string(records.StatusReceived)},
			":pending":  &types.AttributeValueMemberS{Value: string(records.StatusPending)},
			":building": &types.AttributeValueMemberS{Value: string(records.StatusBuilding)},
		},
		ReturnValues: types.ReturnValueAllNew,
	})
	if isConditionFailed(err) {
		h.Log.Info("resume: the build has moved on since the sweep looked", "build_id", buildID, "execution", execution)
		return pipeline.State{Record: records.Record{BuildID: buildID}, Outcome: pipeline.OutcomeDuplicate}, nil
	}
	if err != nil {
		return pipeline.State{}, pipeline.AWSError("resume "+buildID, err)
	}
	var rec records.Record
	if err := attributevalue.UnmarshalMap(out.Attributes, &rec); err != nil {
		return pipeline.State{}, fmt.Errorf("resume %s: %w", buildID, err)
	}
	h.Log.Info("resumed", "build_id", buildID, "avatar_id", rec.AvatarID, "execution", execution, "previous", previous)
	if rec.AvatarID == "" {
		return pipeline.State{Record: rec, Outcome: pipeline.OutcomeAdmitted}, nil
	}
	// The build has waited long enough already: check it at once.
	return h.polling(pipeline.State{Record: rec}, time.Second), nil
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now().UTC()
	}
	return time.Now().UTC()
}

// admit registers the build of the uploaded object. A duplicate delivery of
// the same upload finds the record owned by another execution and ends
// DUPLICATE; a retry of this execution's own admission carries on.
func (h *Handler) admit(ctx context.Context, raw []byte, execution string) (pipeline.State, error) {
	var resume pipeline.ResumeInput
	if json.Unmarshal(raw, &resume) == nil && resume.ResumeBuildID != "" {
		return h.resume(ctx, resume.ResumeBuildID, resume.PreviousExecution, execution)
	}
	ev, err := pipeline.ParseObjectCreated(raw)
	if err != nil {
		return pipeline.State{}, err
	}
	if execution == "" {
		return pipeline.State{}, errors.New("admit: execution_arn is missing from the input")
	}
	bucket, versionID := ev.Detail.Bucket.Name, ev.Detail.Object.VersionID

	key, head, err := h.resolveKey(ctx, bucket, ev.KeyCandidates(), versionID)
	if err != nil {
		return pipeline.State{}, err
	}
	now := records.FormatTime(h.now())
	rec := records.Record{
		Status:       records.StatusReceived,
		Bucket:       bucket,
		Key:          key,
		VersionID:    versionID,
		ETag:         strings.Trim(ev.Detail.Object.ETag, `"`),
		Size:         ev.Detail.Object.Size,
		CreatedAt:    now,
		UpdatedAt:    now,
		ExecutionARN: execution,
	}
	var nameErr error
	if head != nil {
		rec.Size = aws.ToInt64(head.ContentLength)
		if rec.VersionID == "" {
			rec.VersionID = aws.ToString(head.VersionId)
		}
		if rec.ETag == "" {
			rec.ETag = strings.Trim(aws.ToString(head.ETag), `"`)
		}
		name, ok := head.Metadata[pipeline.NameMetadata]
		if !ok {
			name = pipeline.DefaultName(key)
		} else if decoded, err := new(mime.WordDecoder).DecodeHeader(name); err == nil {
			// S3 metadata is ASCII: clients send other names RFC 2047-encoded.
			name = decoded
		}
		rec.Name, nameErr = records.CleanName(name)
		if nameErr != nil {
			// Kept for the record, made storable: DynamoDB takes only UTF-8.
			rec.Name = truncateRunes(strings.ToValidUTF8(strings.TrimSpace(name), "\uFFFD"), 2*records.MaxNameLength)
		}
	}
	rec.BuildID = records.BuildID(bucket, key, rec.VersionID, rec.ETag)
	if ev.RetryOf != "" {
		rec.BuildID, rec.RetryOf = records.RetryBuildID(ev.RetryOf, execution), ev.RetryOf
	}
	log := h.Log.With("build_id", rec.BuildID, "execution", execution)

	registered, err := h.register(ctx, rec)
	if err != nil {
		return pipeline.State{}, err
	}
	if registered.ExecutionARN != execution {
		log.Info("duplicate delivery", "owner", registered.ExecutionARN)
		return pipeline.State{Record: registered, Outcome: pipeline.OutcomeDuplicate}, nil
	}
	st := pipeline.State{Record: registered, Outcome: pipeline.OutcomeAdmitted}
	switch {
	case head == nil:
		st.Reject(h.now(), fmt.Sprintf("the object s3://%s/%s is gone: it was deleted before the build started", bucket, key))
	case nameErr != nil:
		st.Reject(h.now(), nameErr.Error())
	}
	log.Info("admitted", "outcome", st.Outcome, "name", st.Name, "key", key)
	return st, nil
}

// resolveKey finds which candidate key names the uploaded object, and
// returns it with its metadata; a nil HeadObjectOutput means none exists.
func (h *Handler) resolveKey(ctx context.Context, bucket string, candidates []string, versionID string) (string, *s3.HeadObjectOutput, error) {
	for _, key := range candidates {
		in := &s3.HeadObjectInput{Bucket: &bucket, Key: aws.String(key)}
		if versionID != "" {
			in.VersionId = aws.String(versionID)
		}
		out, err := h.Objects.HeadObject(ctx, in)
		if err == nil {
			return key, out, nil
		}
		if !isNotFound(err) {
			return "", nil, pipeline.AWSError(fmt.Sprintf("head s3://%s/%s", bucket, key), err)
		}
	}
	return candidates[0], nil, nil
}

func isNotFound(err error) bool {
	var nf *s3types.NotFound
	var nk *s3types.NoSuchKey
	return errors.As(err, &nf) || errors.As(err, &nk) || strings.Contains(err.Error(), "StatusCode: 404")
}

// register writes the record if no build of this upload exists yet, and
// returns the record that is there now: ours, or the one another delivery
// of the same upload wrote first.
func (h *Handler) register(ctx context.Context, rec records.Record) (records.Record, error) {
	item, err := attributevalue.MarshalMap(rec)
	if err != nil {
		return rec, fmt.Errorf("register %s: %w", rec.BuildID, err)
	}
	_, err = h.Table.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                aws.String(h.Config.Table),
		Item:                     item,
		ConditionExpression:      aws.String("attribute_not_exists(#id)"),
		ExpressionAttributeNames: map[string]string{"#id": records.AttrBuildID},
	})
	if err == nil {
		return rec, nil
	}
	if !isConditionFailed(err) {
		return rec, pipeline.AWSError("register "+rec.BuildID, err)
	}
	return h.load(ctx, rec.BuildID)
}

func (h *Handler) load(ctx context.Context, buildID string) (records.Record, error) {
	out, err := h.Table.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(h.Config.Table),
		Key:            buildKey(buildID),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return records.Record{}, pipeline.AWSError("read record "+buildID, err)
	}
	if out.Item == nil {
		return records.Record{}, fmt.Errorf("read record %s: not found", buildID)
	}
	var rec records.Record
	if err := attributevalue.UnmarshalMap(out.Item, &rec); err != nil {
		return rec, fmt.Errorf("read record %s: %w", buildID, err)
	}
	return rec, nil
}

func buildKey(id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{records.AttrBuildID: &types.AttributeValueMemberS{Value: id}}
}

// submit checks the portrait and posts it to Mirako, at most once per
// build. A retry that finds an avatar already recorded returns it. One that
// finds an earlier attempt began posting adopts the avatar that attempt
// created; finding none, it fails with SubmitInProgressError while that
// attempt's claim lasts, and posts once the claim has lapsed. A post whose
// outcome is unknown looks at once for the avatar it may have created.
func (h *Handler) submit(ctx context.Context, st pipeline.State) (pipeline.State, error) {
	log := h.Log.With("build_id", st.BuildID, "execution", st.ExecutionARN)
	rec, err := h.load(ctx, st.BuildID)
	if err != nil {
		return st, err
	}
	if rec.ExecutionARN != st.ExecutionARN {
		return st, fmt.Errorf("submit %s: the record belongs to execution %s", st.BuildID, rec.ExecutionARN)
	}
	st.Record = rec
	if rec.AvatarID != "" { // an earlier attempt got as far as recording it
		log.Info("already submitted", "avatar_id", rec.AvatarID)
		return h.submitted(ctx, st), nil
	}

	var avatarID string
	if rec.SubmitStartedAt != "" { // an earlier attempt passed the checks and began posting
		// The claim is judged as of before the list: a claim that has
		// lapsed by then had its last chance to create an avatar before
		// the list was taken.
		listed := h.now()
		avatarID, err = h.adopt(ctx, rec)
		if err != nil {
			return st, err
		}
		if avatarID != "" {
			log.Info("adopted the avatar an earlier attempt created", "avatar_id", avatarID)
		} else if until, live := claimed(rec, listed); live {
			return st, &pipeline.SubmitInProgressError{BuildID: st.BuildID, Until: until}
		}
	}
	if avatarID == "" {
		accepted, err := h.checkPortrait(ctx, &st)
		if err != nil || !accepted {
			return st, err
		}
		if r, ok := h.Mirako.(readier); ok { // a client that cannot be made should not hold a claim
			if err := r.Ready(ctx); err != nil {
				return st, err
			}
		}
		if err := h.claim(ctx, &st, rec.SubmitStartedAt); err != nil {
			return st, err
		}
		if avatarID, err = h.post(ctx, rec); err != nil {
			log.Warn("post to Mirako failed", "error", err)
			unknown := outcomeUnknown(err)
			if unknown {
				avatarID = h.adoptLost(ctx, st)
			}
			if avatarID == "" {
				h.release(ctx, &st, unknown)
				return st, err
			}
		}
	}
	if err := h.recordAvatar(ctx, &st, avatarID); err != nil {
		if !isConditionFailed(err) {
			return st, err
		}
		// Another attempt recorded its avatar first, or the build changed
		// hands: the record says which.
		current, lerr := h.load(ctx, st.BuildID)
		if lerr != nil || current.ExecutionARN != st.ExecutionARN || current.AvatarID == "" {
			return st, fmt.Errorf("record avatar %s of build %s: %w", avatarID, st.BuildID, err)
		}
		if current.AvatarID != avatarID {
			log.Warn("another attempt recorded a different avatar; keeping the recorded one", "avatar_id", current.AvatarID, "extra_avatar_id", avatarID)
		}
		st.Record = current
		return h.submitted(ctx, st), nil
	}
	log.Info("submitted", "avatar_id", avatarID, "bytes", rec.Size)
	return h.submitted(ctx, st), nil
}

// checkPortrait reads the object and runs the portrait checks. A rejected
// portrait makes st a REJECTED outcome, with the image as the checks saw it
// recorded.
func (h *Handler) checkPortrait(ctx context.Context, st *pipeline.State) (bool, error) {
	report, err := h.check(ctx, st.Record)
	if err != nil {
		return false, err
	}
	if report.Format != "" {
		st.Image = &records.Image{Format: string(report.Format), Width: report.Width, Height: report.Height}
	}
	if report.Accepted() {
		return true, nil
	}
	if st.Image != nil {
		if err := h.update(ctx, st, "SET #image = :image", map[string]string{"#image": records.AttrImage},
			map[string]types.AttributeValue{":image": imageAttr(st.Image)}); err != nil {
			return false, err
		}
	}
	st.Reject(h.now(), strings.Join(report.Reasons, "; "))
	h.Log.Info("portrait rejected", "build_id", st.BuildID, "execution", st.ExecutionARN, "reason", st.Reason)
	return false, nil
}

// open starts reading the build's object, at its version when it has one.
func (h *Handler) open(ctx context.Context, rec records.Record) (*s3.GetObjectOutput, error) {
	in := &s3.GetObjectInput{Bucket: aws.String(rec.Bucket), Key: aws.String(rec.Key)}
	if rec.VersionID != "" {
		in.VersionId = aws.String(rec.VersionID)
	}
	obj, err := h.Objects.GetObject(ctx, in)
	if err != nil {
		return nil, readFailed(rec, err)
	}
	return obj, nil
}

// readFailed is the error of a failed read of the build's object.
func readFailed(rec records.Record, err error) error {
	return pipeline.AWSError(fmt.Sprintf("read s3://%s/%s", rec.Bucket, rec.Key), err)
}

// check reads the object once and runs the portrait checks on it.
func (h *Handler) check(ctx context.Context, rec records.Record) (portrait.Report, error) {
	obj, err := h.open(ctx, rec)
	if err != nil {
		return portrait.Report{}, err
	}
	defer obj.Body.Close()
	report, err := portrait.Check(obj.Body, aws.ToInt64(obj.ContentLength), portrait.Policy{})
	if err != nil {
		return report, readFailed(rec, err)
	}
	return report, nil
}

// Inline handling of Mirako's rate limit in Submit: a 429 means the POST was
// not accepted, so repeating it cannot create a second avatar. Submit waits
// out short Retry-After answers itself, a few times; anything longer goes
// back to the state machine as a RateLimitedError, whose Retry backs off
// with jitter.
const (
	inlineRateRetries = 2
	inlineRateBudget  = 20 * time.Second
)

// post reads the object a second time and streams it to Mirako.
func (h *Handler) post(ctx context.Context, rec records.Record) (string, error) {
	for attempt := 0; ; attempt++ {
		obj, err := h.open(ctx, rec)
		if err != nil {
			return "", err
		}
		body := &readRecorder{r: obj.Body}
		id, err := h.Mirako.Build(ctx, rec.Name, body, aws.ToInt64(obj.ContentLength))
		obj.Body.Close()
		if err == nil {
			return id, nil
		}
		if body.err != nil { // S3 failed mid-stream, not Mirako
			return "", readFailed(rec, body.err)
		}
		err = pipeline.MirakoError(h.Metrics, "build avatar "+rec.BuildID, err)
		var rl *pipeline.RateLimitedError
		if !errors.As(err, &rl) || attempt >= inlineRateRetries {
			return "", err
		}
		wait := backoff(attempt, rl.RetryAfter)
		if wait > inlineRateBudget || !hasTime(ctx, wait+UploadTimeout/4) {
			return "", err
		}
		h.Log.Info("Mirako rate limit; waiting before posting again", "build_id", rec.BuildID, "wait", wait)
		select {
		case <-ctx.Done():
			return "", err
		case <-time.After(wait):
		}
	}
}

// backoff is the wait before retry n (from 0): Retry-After when Mirako gave
// one, else exponential from one second, with full jitter either way on top
// of the minimum, so that many builds limited at once do not return at once.
func backoff(n int, retryAfter time.Duration) time.Duration {
	base := retryAfter
	if base <= 0 {
		base = time.Second << n
	}
	return base + rand.N(base/2+1)
}

// hasTime reports whether ctx leaves at least d.
func hasTime(ctx context.Context, d time.Duration) bool {
	deadline, ok := ctx.Deadline()
	return !ok || time.Until(deadline) > d
}

// adopt looks for the avatar an earlier attempt of this build may have
// created: one with the build's name, created after that attempt began, and
// not already the avatar of another build. It returns "" if there is none.
func (h *Handler) adopt(ctx context.Context, rec records.Record) (string, error) {
	since, err := records.ParseTime(rec.SubmitStartedAt)
	if err != nil {
		return "", fmt.Errorf("adopt %s: %w", rec.BuildID, err)
	}
	avatars, err := h.Mirako.List(ctx)
	if err != nil {
		return "", pipeline.MirakoError(h.Metrics, "list avatars for "+rec.BuildID, err)
	}
	var found []mirako.Avatar
	for _, a := range avatars {
		if a.Name == rec.Name && !a.CreatedAt.Before(since.Add(-adoptSkew)) {
			found = append(found, a)
		}
	}
	slices.SortFunc(found, func(a, b mirako.Avatar) int { return a.CreatedAt.Compare(b.CreatedAt) })
	for _, a := range found {
		owner, err := h.ownerOf(ctx, a.ID)
		if err != nil {
			return "", err
		}
		if owner == "" || owner == rec.BuildID {
			return a.ID, nil
		}
	}
	return "", nil
}

// outcomeUnknown reports whether a failed post may have created an avatar
// all the same: the connection dropped, the answer was empty or garbled,
// the client gave up waiting, Mirako failed with a 500 (which may come
// after it acted), or a proxy in front of it timed out (408, 502, 504). Any
// other answer from Mirako (a 503 says it is not taking work; a 429 or 4xx
// that it refused), and a failure to read the portrait from S3 (Mirako then
// never had the whole body), means it did not.
func outcomeUnknown(err error) bool {
	var te *mirako.TransportError
	if errors.As(err, &te) {
		return true
	}
	var api *mirako.APIError
	if errors.As(err, &api) {
		switch api.StatusCode {
		case http.StatusRequestTimeout, http.StatusInternalServerError, http.StatusBadGateway, http.StatusGatewayTimeout:
			return true
		}
	}
	return false
}

// adoptLost looks for the avatar a post whose outcome is unknown may have
// created. Adopting it at once lets the build go on without a retry, and
// leaves no orphan avatar when that post was Submit's last attempt. It
// returns "" when there is nothing to adopt, or when it cannot look.
func (h *Handler) adoptLost(ctx context.Context, st pipeline.State) string {
	avatarID, err := h.adopt(ctx, st.Record)
	if err != nil {
		h.Log.Warn("could not look for an avatar the failed post created; a retry will", "build_id", st.BuildID, "error", err)
		return ""
	}
	if avatarID != "" {
		h.Log.Info("adopted the avatar of a post whose answer was lost", "build_id", st.BuildID, "avatar_id", avatarID)
	}
	return avatarID
}

// ownerOf returns the build whose record names the avatar, if any.
func (h *Handler) ownerOf(ctx context.Context, avatarID string) (string, error) {
	out, err := h.Table.Query(ctx, &dynamodb.QueryInput{
		TableName:                 aws.String(h.Config.Table),
		IndexName:                 aws.String(records.IndexByAvatar),
		KeyConditionExpression:    aws.String("#a = :a"),
		ExpressionAttributeNames:  map[string]string{"#a": records.AttrAvatarID},
		ExpressionAttributeValues: map[string]types.AttributeValue{":a": &types.AttributeValueMemberS{Value: avatarID}},
		Limit:                     aws.Int32(1),
	})
	if err != nil {
		return "", pipeline.AWSError("find the build of avatar "+avatarID, err)
	}
	if len(out.Items) == 0 {
		return "", nil
	}
	var rec records.Record
	if err := attributevalue.UnmarshalMap(out.Items[0], &rec); err != nil {
		return "", fmt.Errorf("find the build of avatar %s: %w", avatarID, err)
	}
	return rec.BuildID, nil
}

// ClaimMargin is added to a claiming attempt's deadline: Mirako may still
// accept a body that was sent just before it, and list the avatar a little
// later.
const ClaimMargin = 30 * time.Second

// claim claims the POST. It records, before posting, that one may now be
// accepted (submit_started_at) and until when this attempt may still be
// posting (submit_claimed_until: its deadline plus ClaimMargin). The write
// is a compare-and-set on the marker this attempt read, so of two attempts
// running at once (the state machine retries a Lambda service error while
// the first invocation may still run) only one posts; the other gets a
// SubmitInProgressError, and its retries adopt what the winner created or,
// once the claim has lapsed, post.
func (h *Handler) claim(ctx context.Context, st *pipeline.State, seen string) error {
	now := h.now()
	until := now.Add(UploadTimeout + ClaimMargin) // outside Lambda: the longest a post can take
	if deadline, ok := ctx.Deadline(); ok {
		until = deadline.Add(ClaimMargin)
	}
	names := map[string]string{"#started": records.AttrSubmitting, "#until": records.AttrClaimedUntil,
		"#image": records.AttrImage, "#updated": records.AttrUpdatedAt}
	values := map[string]types.AttributeValue{
		":now":   &types.AttributeValueMemberS{Value: records.FormatTime(now)},
		":until": &types.AttributeValueMemberS{Value: records.FormatTime(until)},
		":image": imageAttr(st.Image),
	}
	cond := "attribute_not_exists(#started)"
	if seen != "" {
		cond = "#started = :seen"
		values[":seen"] = &types.AttributeValueMemberS{Value: seen}
	}
	err := h.updateIf(ctx, st, cond, "SET #started = :now, #until = :until, #image = :image, #updated = :now", names, values)
	if isConditionFailed(err) {
		return &pipeline.SubmitInProgressError{BuildID: st.BuildID}
	}
	if err != nil {
		// The write may have been applied all the same: end that claim,
		// if it exists, so the retry need not wait for it to lapse.
		mine := *st
		mine.SubmitStartedAt = records.FormatTime(now)
		h.release(ctx, &mine, false)
		return err
	}
	st.SubmitStartedAt, st.SubmitClaimedUntil, st.UpdatedAt = records.FormatTime(now), records.FormatTime(until), records.FormatTime(now)
	return nil
}

// release ends this attempt's claim once its post has failed, so that the
// state machine's retry need not wait for the attempt's deadline. When the
// post's outcome is unknown, Mirako may still create the avatar a little
// later, so the claim runs on for ClaimMargin: the retry then adopts that
// avatar rather than posting over it. A failed release only makes the
// retry wait until the claim lapses.
func (h *Handler) release(ctx context.Context, st *pipeline.State, unknown bool) {
	// The attempt's own context may be what ran out.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer cancel()
	until := h.now()
	if unknown {
		until = until.Add(ClaimMargin)
	}
	err := h.updateIf(ctx, st, "#started = :mine", "SET #until = :until",
		map[string]string{"#started": records.AttrSubmitting, "#until": records.AttrClaimedUntil},
		map[string]types.AttributeValue{
			":mine":  &types.AttributeValueMemberS{Value: st.SubmitStartedAt},
			":until": &types.AttributeValueMemberS{Value: records.FormatTime(until)},
		})
	if err != nil {
		h.Log.Warn("could not end the claim on posting; a retry waits until it lapses",
			"build_id", st.BuildID, "execution", st.ExecutionARN, "until", st.SubmitClaimedUntil, "error", err)
		return
	}
	st.SubmitClaimedUntil = records.FormatTime(until)
}

// releaseTimeout bounds the write that ends a claim.
const releaseTimeout = 10 * time.Second

// claimed reports whether an attempt may still be posting the build, and
// until when. A record without the claim's end (written before claims
// lapsed) has no live claim.
func claimed(rec records.Record, now time.Time) (time.Time, bool) {
	if rec.SubmitClaimedUntil == "" {
		return time.Time{}, false
	}
	until, err := records.ParseTime(rec.SubmitClaimedUntil)
	if err != nil {
		return time.Time{}, false
	}
	return until, now.Before(until)
}

func isConditionFailed(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}

// recordAvatar writes the avatar id Mirako returned: from here on the build
// can never be posted again.
func (h *Handler) recordAvatar(ctx context.Context, st *pipeline.State, avatarID string) error {
	now := records.FormatTime(h.now())
	err := h.update(ctx, st, "SET #avatar = :avatar, #status = :status, #submitted = :now, #updated = :now",
		map[string]string{"#avatar": records.AttrAvatarID, "#status": records.AttrStatus,
			"#submitted": records.AttrSubmittedAt, "#updated": records.AttrUpdatedAt},
		map[string]types.AttributeValue{
			":avatar": &types.AttributeValueMemberS{Value: avatarID},
			":status": &types.AttributeValueMemberS{Value: string(records.StatusPending)},
			":now":    &types.AttributeValueMemberS{Value: now},
		})
	if err != nil {
		return err
	}
	st.AvatarID, st.Status, st.SubmittedAt, st.UpdatedAt = avatarID, records.StatusPending, now, now
	return nil
}

// update changes the record on condition that this execution owns it and
// no avatar is recorded yet.
func (h *Handler) update(ctx context.Context, st *pipeline.State, expr string, names map[string]string, values map[string]types.AttributeValue) error {
	return h.updateIf(ctx, st, "", expr, names, values)
}

// updateIf is update with a further condition (cond, when not empty).
func (h *Handler) updateIf(ctx context.Context, st *pipeline.State, cond, expr string, names map[string]string, values map[string]types.AttributeValue) error {
	names["#exec"] = records.AttrExecutionARN
	names["#avatar_id"] = records.AttrAvatarID
	values[":exec"] = &types.AttributeValueMemberS{Value: st.ExecutionARN}
	condition := "#exec = :exec AND attribute_not_exists(#avatar_id)"
	if cond != "" {
		condition += " AND (" + cond + ")"
	}
	_, err := h.Table.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(h.Config.Table),
		Key:                       buildKey(st.BuildID),
		UpdateExpression:          aws.String(expr),
		ConditionExpression:       aws.String(condition),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	})
	if err != nil {
		return pipeline.AWSError("update record "+st.BuildID, err)
	}
	return nil
}

// HeadStarter chooses the wait before a build's first status check.
type HeadStarter interface {
	// HeadStart returns the first wait, or fallback when it knows no better.
	HeadStart(ctx context.Context, fallback time.Duration) time.Duration
}

// submitted completes the state for the poll loop, with the head start as
// the first wait.
func (h *Handler) submitted(ctx context.Context, st pipeline.State) pipeline.State {
	wait := h.Config.Schedule.HeadStart
	if h.HeadStart != nil {
		wait = h.HeadStart.HeadStart(ctx, wait)
	}
	st = h.polling(st, wait)
	st.Notify = h.Config.NotifyOnSubmit
	return st
}

// polling makes the state a SUBMITTED outcome whose first check comes
// after wait, with the deadline counted from the submission.
func (h *Handler) polling(st pipeline.State, wait time.Duration) pipeline.State {
	start, err := records.ParseTime(st.SubmittedAt)
	if err != nil {
		start = h.now()
	}
	st.Outcome = pipeline.OutcomeSubmitted
	st.WaitSeconds = pipeline.Seconds(wait)
	st.Deadline = records.FormatTime(start.Add(h.Config.Schedule.Deadline))
	return st
}

func imageAttr(img *records.Image) types.AttributeValue {
	return &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{
		"format": &types.AttributeValueMemberS{Value: img.Format},
		"width":  &types.AttributeValueMemberN{Value: strconv.Itoa(img.Width)},
		"height": &types.AttributeValueMemberN{Value: strconv.Itoa(img.Height)},
	}}
}

func truncateRunes(s string, n int) string {
	for i := range s {
		if n == 0 {
			return s[:i]
		}
		n--
	}
	return s
}

// readRecorder remembers the error of the reader it wraps, so that a
// failed upload can be told apart: S3's fault or Mirako's.
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
