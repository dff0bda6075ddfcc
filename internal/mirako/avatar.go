package mirako

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// Status is an avatar's build status (spec schema AvatarResponse, "status").
type Status string

// The statuses the spec lists: PENDING → BUILDING → READY or ERROR. An ERROR avatar has no reason.
const (
	StatusPending  Status = "PENDING"
	StatusBuilding Status = "BUILDING"
	StatusReady    Status = "READY"
	StatusError    Status = "ERROR"
)

// Terminal reports whether s is READY or ERROR. A status the spec does not list is not terminal, so
// polling goes on until the workflow's deadline.
func (s Status) Terminal() bool { return s == StatusReady || s == StatusError }

// Theme is one appearance of an avatar (spec schema PresignedAvatarTheme); the URLs expire.
type Theme struct {
	Name      string `json:"name"`
	KeyImage  string `json:"key_image,omitempty"`
	LiveVideo string `json:"live_video,omitempty"`
}

// Avatar is an avatar as Mirako describes it (spec schema AvatarResponse). A building avatar's null
// models and themes decode to nil slices.
type Avatar struct {
	ID                         string    `json:"id"`
	UserID                     string    `json:"user_id"`
	Name                       string    `json:"name"`
	CreatedAt                  time.Time `json:"created_at"`
	Status                     Status    `json:"status"`
	SupportedInteractiveModels []string  `json:"supported_interactive_models"`
	Themes                     []Theme   `json:"themes"`
}

// Build starts building an avatar called name from the size bytes of image and returns its id. The
// image is read once and streamed as base64 (see BuildBody), so the request is never replayed; each
// success creates, and bills, one avatar. If image fails or its size is wrong, the upload is aborted
// and the error wraps the reader's error or ErrImageSize; it is then neither an *APIError nor a
// *TransportError.
//
// Mirako API: POST /v1/avatar/async_build (operationId BuildAvatarAsync).
func (c *Client) Build(ctx context.Context, name string, image io.Reader, size int64) (string, error) {
	const method, path = http.MethodPost, "/v1/avatar/async_build"
	if image == nil {
		return "", fmt.Errorf("mirako: %s %s: nil image reader", method, path)
	}
	if size < 0 {
		return "", fmt.Errorf("mirako: %s %s: negative image size %d: %w", method, path, size, ErrImageSize)
	}
	ctx, cancel := withTimeout(ctx, c.uploadTimeout)
	defer cancel()
	body, length, img := newBuildBody(name, image, size)
	resp, err := c.do(ctx, method, path, body, length)
	if imgErr := img.failure(); imgErr != nil {
		// The image ended the upload; whatever came back does not answer a complete request.
		if resp != nil {
			discard(resp)
		}
		return "", fmt.Errorf("mirako: %s %s: %w", method, path, imgErr)
	}
	if err != nil {
		return "", err
	}
	var out struct {
		AvatarID string `json:"avatar_id"`
	}
	if err := decodeData(resp, method, path, &out); err != nil {
		return "", err
	}
	if out.AvatarID == "" {
		return "", newTransportError(method, path, errors.New(`decode response: no "avatar_id"`))
	}
	return out.AvatarID, nil
}

// Get returns the avatar with the given id; CheckStatus polls it.
//
// Mirako API: GET /v1/avatar/{id} (operationId GetAvatarById).
func (c *Client) Get(ctx context.Context, id string) (*Avatar, error) {
	path, err := avatarPath(http.MethodGet, id)
	if err != nil {
		return nil, err
	}
	var a Avatar
	if err := c.call(ctx, http.MethodGet, path, &a); err != nil {
		return nil, err
	}
	if a.ID == "" || a.Status == "" { // required, and all a poller needs
		return nil, newTransportError(http.MethodGet, path, errors.New(`decode response: avatar without "id" or "status"`))
	}
	return &a, nil
}

// List returns the caller's avatars; "data": null is an empty, non-nil list.
//
// Mirako API: GET /v1/avatar/list (operationId GetUserAvatarList).
func (c *Client) List(ctx context.Context) ([]Avatar, error) {
	var avatars []Avatar
	if err := c.call(ctx, http.MethodGet, "/v1/avatar/list", &avatars); err != nil {
		return nil, err
	}
	if avatars == nil {
		avatars = []Avatar{}
	}
	return avatars, nil
}

// Delete deletes the avatar with the given id. An unknown id is an *APIError with StatusCode 404,
// which a caller cleaning up may treat as done.
//
// Mirako API: DELETE /v1/avatar/{id} (operationId DeleteAvatar).
func (c *Client) Delete(ctx context.Context, id string) error {
	path, err := avatarPath(http.MethodDelete, id)
	if err != nil {
		return err
	}
	return c.call(ctx, http.MethodDelete, path, nil)
}

// avatarPath is /v1/avatar/{id} with id escaped as one segment. "", "." and ".." would name another
// resource once the path is cleaned, and "list" is the list operation, so they are refused.
func avatarPath(method, id string) (string, error) {
	switch id {
	case "", ".", "..", "list":
		return "", fmt.Errorf("mirako: %s /v1/avatar/{id}: invalid avatar id %q", method, id)
	}
	return "/v1/avatar/" + url.PathEscape(id), nil
}
