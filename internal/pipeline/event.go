package pipeline

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
)

// NameMetadata is the S3 user metadata key that carries the avatar name
// (x-amz-meta-avatar-name on the wire).
const NameMetadata = "avatar-name"

// ObjectCreated is the part of an EventBridge "Object Created" event from
// Amazon S3 that the pipeline reads.
type ObjectCreated struct {
	ID         string `json:"id"`
	DetailType string `json:"detail-type"`
	Source     string `json:"source"`
	// RetryOf is not part of S3's event: `avatarctl retry` adds it to start
	// a new build of the same object outside deduplication.
	RetryOf string `json:"retry_of,omitempty"`
	Detail  struct {
		Bucket struct {
			Name string `json:"name"`
		} `json:"bucket"`
		Object struct {
			Key       string `json:"key"`
			Size      int64  `json:"size"`
			ETag      string `json:"etag"`
			ETagAlt   string `json:"eTag"` // some emulators spell it so
			VersionID string `json:"version-id"`
		} `json:"object"`
	} `json:"detail"`
}

// ParseObjectCreated decodes and checks an S3 "Object Created" event.
func ParseObjectCreated(raw []byte) (ObjectCreated, error) {
	var e ObjectCreated
	if err := json.Unmarshal(raw, &e); err != nil {
		return e, fmt.Errorf("parse S3 event: %w", err)
	}
	if e.Source != "aws.s3" || e.DetailType != "Object Created" {
		return e, fmt.Errorf("parse S3 event: got source %q detail-type %q, want aws.s3 Object Created", e.Source, e.DetailType)
	}
	if e.Detail.Bucket.Name == "" || e.Detail.Object.Key == "" {
		return e, fmt.Errorf("parse S3 event %s: bucket or key missing", e.ID)
	}
	if e.Detail.Object.ETag == "" {
		e.Detail.Object.ETag = e.Detail.Object.ETagAlt
	}
	if e.Detail.Object.VersionID == "null" {
		e.Detail.Object.VersionID = "" // an unversioned object
	}
	return e, nil
}

// KeyCandidates returns the object keys the event's key may stand for, most
// likely first. S3 event notifications deliver keys URL-encoded the way HTML
// forms are ("red flower.jpg" arrives as "red+flower.jpg"), and events that
// reach EventBridge have been seen both encoded and plain, so the decoded key
// is tried first and the key as delivered second. The object's existence
// (at its version id) decides which one is real.
func (e ObjectCreated) KeyCandidates() []string {
	raw := e.Detail.Object.Key
	decoded, err := url.QueryUnescape(raw)
	if err != nil || decoded == raw {
		return []string{raw}
	}
	return []string{decoded, raw}
}

// DefaultName is the avatar name of an upload that carries none: the key's
// last path element without its extension.
func DefaultName(key string) string {
	name := key[strings.LastIndex(key, "/")+1:]
	if i := strings.LastIndex(name, "."); i > 0 {
		name = name[:i]
	}
	return name
}
