package submit

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/avatar-pipeline/avatar-pipeline/internal/mirako"
	"github.com/avatar-pipeline/avatar-pipeline/internal/pipeline"
	"github.com/avatar-pipeline/avatar-pipeline/internal/records"
)

// Adoption. Mirako has no idempotency key, so an answer lost after Mirako
// acted leaves an avatar the build does not know. Before posting again, an
// attempt looks for it: an avatar with the build's name, created since the
// claim on the POST began (allowing adoptSkew of clock skew), and owned by
// no other build. Ownership is the store's strongly consistent marker, so a
// build that recorded the avatar a moment ago is never robbed of it.

// ClaimMargin is added to a claiming attempt's deadline: Mirako may still
// accept a body sent just before it, and list the avatar a little later.
const ClaimMargin = 30 * time.Second

// adoptSkew is how far Mirako's clock may be behind ours.
const adoptSkew = 2 * time.Minute

// earlierAttempt handles a build whose claim an earlier attempt took: it
// returns the avatar that attempt created, or "" if there is none and the
// claim has lapsed, or SubmitInProgressError while it lasts.
func (s *Submission) earlierAttempt(ctx context.Context, rec records.Record, log *slog.Logger) (string, error) {
	if rec.SubmitStartedAt == "" {
		return "", nil
	}
	// Judged as of before the list: a claim that has lapsed by then had its
	// last chance to create an avatar before the list was taken.
	listed := now(s.Now)
	avatarID, err := s.adopt(ctx, rec)
	if err != nil {
		return "", err
	}
	if avatarID != "" {
		log.InfoContext(ctx, "adopted the avatar an earlier attempt created", "avatar_id", avatarID)
		return avatarID, nil
	}
	if until, live := claimed(rec, listed); live {
		return "", &pipeline.SubmitInProgressError{BuildID: rec.BuildID, Until: until}
	}
	return "", nil
}

// adopt returns the avatar an earlier attempt of this build may have
// created, or "" if there is none.
func (s *Submission) adopt(ctx context.Context, rec records.Record) (string, error) {
	since, err := records.ParseTime(rec.SubmitStartedAt)
	if err != nil {
		return "", err
	}
	avatars, err := s.Mirako.List(ctx)
	if err != nil {
		return "", pipeline.MirakoError(s.Metrics, "list avatars for "+rec.BuildID, err)
	}
	avatars = slices.DeleteFunc(avatars, func(a mirako.Avatar) bool {
		return a.Name != rec.Name || a.CreatedAt.Before(since.Add(-adoptSkew))
	})
	slices.SortFunc(avatars, func(a, b mirako.Avatar) int { return a.CreatedAt.Compare(b.CreatedAt) })
	for _, a := range avatars {
		owner, err := s.Records.OwnerOf(ctx, a.ID)
		if err != nil {
			return "", pipeline.AWSError("find the owner of avatar "+a.ID, err)
		}
		if owner == "" || owner == rec.BuildID {
			return a.ID, nil
		}
	}
	return "", nil
}

// adoptLost looks for the avatar a post of unknown outcome may have
// created, so the build goes on without a retry and no orphan is left when
// that post was the last attempt. It returns "" when there is none, or
// when it cannot look (a retry will).
func (s *Submission) adoptLost(ctx context.Context, rec records.Record, log *slog.Logger) string {
	avatarID, err := s.adopt(ctx, rec)
	if err != nil {
		log.WarnContext(ctx, "could not look for an avatar the failed post created; a retry will", "error", err)
		return ""
	}
	if avatarID != "" {
		log.InfoContext(ctx, "adopted the avatar of a post whose answer was lost", "avatar_id", avatarID)
	}
	return avatarID
}

// outcomeUnknown reports whether a failed post may have created an avatar
// all the same: the connection dropped, the answer was empty or garbled,
// the client gave up waiting, Mirako failed with a 500 (which may come
// after it acted) or a proxy timed out (408, 502, 504). Any other answer
// says Mirako did not act, and so does a failed read of the portrait from
// S3 (Mirako never had the whole body).
func outcomeUnknown(err error) bool {
	var te *mirako.TransportError
	var api *mirako.APIError
	switch {
	case errors.As(err, &te):
		return true
	case errors.As(err, &api):
		switch api.StatusCode {
		case http.StatusRequestTimeout, http.StatusInternalServerError, http.StatusBadGateway, http.StatusGatewayTimeout:
			return true
		}
	}
	return false
}

// claimed reports whether an attempt may still be posting the build at
// now, and until when.
func claimed(rec records.Record, now time.Time) (time.Time, bool) {
	until, err := records.ParseTime(rec.SubmitClaimedUntil)
	if err != nil {
		return time.Time{}, false
	}
	return until, now.Before(until)
}
