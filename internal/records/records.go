// Package records defines the build record: its statuses, its DynamoDB
// attribute names and its id. Package records/query reads records from the
// table for the CLI; this package has no AWS dependency, so every function
// can use it without linking a DynamoDB client.
//
// The attribute names here are the single source of truth: the state
// machine's updateItem expressions, the notification event and the CLI's
// --json output all use them, and tests check that they agree.
package records

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Status is the record's status.
type Status string

// The statuses of a build, in the order a build normally meets them.
const (
	StatusReceived Status = "RECEIVED"  // registered, not yet submitted
	StatusQueued   Status = "QUEUED"    // waiting for Mirako's capacity (refused for load, or the pipeline's own limit)
	StatusRejected Status = "REJECTED"  // the portrait failed a check; never sent to Mirako
	StatusPending  Status = "PENDING"   // Mirako's own status, mirrored
	StatusBuilding Status = "BUILDING"  // Mirako's own status, mirrored
	StatusReady    Status = "READY"     // Mirako's own status, mirrored
	StatusError    Status = "ERROR"     // Mirako's own status, mirrored
	StatusTimedOut Status = "TIMED_OUT" // no terminal status before the deadline
	StatusFailed   Status = "FAILED"    // the pipeline could not finish
)

// Statuses lists every status, for validation and help texts.
var Statuses = []Status{StatusReceived, StatusQueued, StatusRejected, StatusPending, StatusBuilding,
	StatusReady, StatusError, StatusTimedOut, StatusFailed}

// Terminal reports whether a build in this status will not change again.
func (s Status) Terminal() bool {
	switch s {
	case StatusRejected, StatusReady, StatusError, StatusTimedOut, StatusFailed:
		return true
	}
	return false
}

// Valid reports whether s is one of the known statuses.
func (s Status) Valid() bool {
	for _, v := range Statuses {
		if s == v {
			return true
		}
	}
	return false
}

// Attribute names of the record, as stored in DynamoDB and shown in JSON.
const (
	AttrBuildID         = "build_id"
	AttrStatus          = "status"
	AttrName            = "name"
	AttrBucket          = "bucket"
	AttrKey             = "key"
	AttrVersionID       = "version_id"
	AttrETag            = "etag"
	AttrSize            = "size"
	AttrImage           = "image"
	AttrAvatarID        = "avatar_id"
	AttrThemes          = "themes"
	AttrReason          = "reason"
	AttrError           = "error"
	AttrChecks          = "checks"
	AttrCreatedAt       = "created_at"
	AttrSubmittedAt     = "submitted_at"
	AttrUpdatedAt       = "updated_at"
	AttrFinishedAt      = "finished_at"
	AttrBuildSeconds    = "build_seconds"
	AttrExecutionARN    = "execution_arn"
	AttrRetryOf         = "retry_of"
	AttrSubmitStartedAt = "submit_started_at"
	AttrClaimedUntil    = "submit_claimed_until"
	AttrWarnings        = "warnings"
	AttrNextAttemptAt   = "next_attempt_at"
)

// Attributes lists every attribute name a record may carry.
var Attributes = []string{AttrBuildID, AttrStatus, AttrName, AttrBucket, AttrKey, AttrVersionID,
	AttrETag, AttrSize, AttrImage, AttrAvatarID, AttrThemes, AttrReason, AttrError, AttrChecks,
	AttrCreatedAt, AttrSubmittedAt, AttrUpdatedAt, AttrFinishedAt, AttrBuildSeconds,
	AttrExecutionARN, AttrRetryOf, AttrSubmitStartedAt, AttrClaimedUntil, AttrWarnings, AttrNextAttemptAt}

// Index names of the table's global secondary indexes.
const (
	IndexByStatus = "by-status" // partition status, sort created_at
	IndexByAvatar = "by-avatar" // partition avatar_id
)

// Warning is a quality finding on a portrait that was accepted all the
// same: a stable code and a sentence saying what to improve.
type Warning struct {
	Code   string `json:"code" dynamodbav:"code"`
	Reason string `json:"reason" dynamodbav:"reason"`
}

// Image describes the portrait as the checks saw it.
type Image struct {
	Format string `json:"format" dynamodbav:"format"`
	Width  int    `json:"width" dynamodbav:"width"`
	Height int    `json:"height" dynamodbav:"height"`
}

// Record is one build, as stored in the table. Its JSON form is the public
// form used by notifications and `avatarctl --json`.
type Record struct {
	BuildID      string    `json:"build_id" dynamodbav:"build_id"`
	Status       Status    `json:"status" dynamodbav:"status"`
	Name         string    `json:"name" dynamodbav:"name"`
	Bucket       string    `json:"bucket" dynamodbav:"bucket"`
	Key          string    `json:"key" dynamodbav:"key"`
	VersionID    string    `json:"version_id,omitempty" dynamodbav:"version_id,omitempty"`
	ETag         string    `json:"etag,omitempty" dynamodbav:"etag,omitempty"`
	Size         int64     `json:"size" dynamodbav:"size"`
	Image        *Image    `json:"image,omitempty" dynamodbav:"image,omitempty"`
	Warnings     []Warning `json:"warnings,omitempty" dynamodbav:"warnings,omitempty"`
	AvatarID     string    `json:"avatar_id,omitempty" dynamodbav:"avatar_id,omitempty"`
	Themes       []string  `json:"themes,omitempty" dynamodbav:"themes,omitempty"`
	Reason       string    `json:"reason,omitempty" dynamodbav:"reason,omitempty"`
	Error        string    `json:"error,omitempty" dynamodbav:"error,omitempty"`
	Checks       int       `json:"checks" dynamodbav:"checks"`
	CreatedAt    string    `json:"created_at" dynamodbav:"created_at"`
	SubmittedAt  string    `json:"submitted_at,omitempty" dynamodbav:"submitted_at,omitempty"`
	UpdatedAt    string    `json:"updated_at,omitempty" dynamodbav:"updated_at,omitempty"`
	FinishedAt   string    `json:"finished_at,omitempty" dynamodbav:"finished_at,omitempty"`
	BuildSeconds int64     `json:"build_seconds" dynamodbav:"build_seconds,omitempty"`
	ExecutionARN string    `json:"execution_arn,omitempty" dynamodbav:"execution_arn,omitempty"`
	RetryOf      string    `json:"retry_of,omitempty" dynamodbav:"retry_of,omitempty"`
	// NextAttemptAt is when a QUEUED build next asks Mirako for a slot.
	NextAttemptAt string `json:"next_attempt_at,omitempty" dynamodbav:"next_attempt_at,omitempty"`
	// SubmitStartedAt is set just before the portrait is posted to Mirako, so
	// that a retried Submit knows a POST may already have been accepted.
	SubmitStartedAt string `json:"submit_started_at,omitempty" dynamodbav:"submit_started_at,omitempty"`
	// SubmitClaimedUntil is when the attempt that set SubmitStartedAt can no
	// longer be posting, with a margin for Mirako to act on a post it had
	// just received: its deadline plus the margin while it runs; once its
	// post failed, the moment it gave up (plus the margin if the post's
	// outcome was unknown). Until then no other attempt posts.
	SubmitClaimedUntil string `json:"submit_claimed_until,omitempty" dynamodbav:"submit_claimed_until,omitempty"`
}

// TimeLayout is the layout of the times the functions write: RFC 3339 in
// UTC with milliseconds, fixed width so that strings sort in time order, the
// shape of AWS's $$.State.EnteredTime (which the state machine writes on
// its failure path; some emulators format it differently, so readers parse
// with ParseTime).
const TimeLayout = "2006-01-02T15:04:05.000Z"

// FormatTime formats t the way records store times.
func FormatTime(t time.Time) string { return t.UTC().Format(TimeLayout) }

// ParseTime parses a record time; it accepts any RFC 3339 time.
func ParseTime(s string) (time.Time, error) { return time.Parse(time.RFC3339Nano, s) }

// BuildID derives the stable id of the build of one uploaded object version.
// The same upload delivered twice yields the same id; a new upload of the
// same key yields a new version id (the bucket is versioned) and so a new id.
// A client computes it from its PutObject response: the bucket, the key, and
// the response's VersionId, or its ETag when the bucket is not versioned.
// Quotes around an ETag are ignored.
func BuildID(bucket, key, versionID, etag string) string {
	h := sha256.New()
	h.Write([]byte(bucket))
	h.Write([]byte{0})
	h.Write([]byte(key))
	h.Write([]byte{0})
	if versionID != "" && versionID != "null" {
		h.Write([]byte("v:" + versionID))
	} else {
		h.Write([]byte("e:" + strings.Trim(etag, `"`)))
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// RetryBuildID derives the id of a retry of a build: a new build of the
// same object, outside deduplication. The nonce (the retrying execution's
// ARN) makes each retry distinct and a retried admission of the same
// execution stable.
func RetryBuildID(buildID, nonce string) string {
	sum := sha256.Sum256([]byte(buildID + "\x00retry\x00" + nonce))
	return hex.EncodeToString(sum[:])[:32]
}

// MaxNameLength is the longest avatar name accepted, in characters.
const MaxNameLength = 100

// CleanName trims an avatar name and checks it, returning a reason a person
// understands when it is unusable.
func CleanName(name string) (string, error) {
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		return "", errors.New("the avatar name is empty; set the object's avatar-name metadata or give the file a name")
	case !utf8.ValidString(name):
		return "", errors.New("the avatar name is not valid UTF-8")
	case utf8.RuneCountInString(name) > MaxNameLength:
		return "", fmt.Errorf("the avatar name is %d characters long; the limit is %d", utf8.RuneCountInString(name), MaxNameLength)
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return "", fmt.Errorf("the avatar name %q contains a control character", name)
		}
	}
	return name, nil
}

// Public returns the record without the fields that only the pipeline
// needs (the owning execution, the submission marker): the form notified to
// subscribers.
func (r Record) Public() Record {
	r.ExecutionARN = ""
	r.SubmitStartedAt = ""
	r.SubmitClaimedUntil = ""
	return r
}
