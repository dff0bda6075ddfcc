package pipeline

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"

	"github.com/avatar-pipeline/avatar-pipeline/internal/records"
)

// Event is the JSON notification webhooks receive. ID is the same for every
// delivery of the same news (one build reaching one status), so receivers
// can deduplicate on it.
type Event struct {
	ID    string         `json:"id"`
	Type  string         `json:"type"` // avatar.build.<status lowercase>
	Time  string         `json:"time"`
	Build records.Record `json:"build"`
}

// NewEvent composes the JSON event for the build's current status.
func NewEvent(st State, now time.Time) Event {
	rec := st.Record.Public()
	// One id per build and status: a retried Handler sends the same id.
	// Without a build id (admission failed) the execution and the object
	// tell one failure from another.
	sum := sha256.Sum256([]byte(rec.BuildID + "\x00" + st.ExecutionARN + "\x00" + string(rec.Status) +
		"\x00" + rec.Bucket + "\x00" + rec.Key))
	return Event{
		ID:    "evt-" + hex.EncodeToString(sum[:16]),
		Type:  "avatar.build." + strings.ToLower(string(rec.Status)),
		Time:  records.FormatTime(now),
		Build: rec,
	}
}
