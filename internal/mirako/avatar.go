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

// Status is an avatar's build status as Mirako reports it (spec schema AvatarResponse, "status").
type Status string

// The statuses the spec enumerates. A build goes PENDING → BUILDING → READY or ERROR; an ERROR
// avatar carries no reason.
const (
	StatusPending  Status = "PENDING"
	StatusBuilding Status = "BUILDING"
	StatusReady    Status = "READY"
	StatusError    Status = "ERROR"
)

// Terminal reports whether s is final: READY or ERROR. A status the spec does not list is not
// terminal, so polling goes on until the workflow's deadline.
func (s Status) Terminal() bool {
	return s == StatusReady || s == StatusError
}

// Theme is one appearance of an avatar (spec schema PresignedAvatarTheme). KeyImage and LiveVideo are
// presigned URLs that expire.
type Theme struct {
	Name      string `json:"name"`
	KeyImage  string `json:"key_image,omitempty"`
	LiveVideo string `json:"live_video,omitempty"`
}

// Avatar is an avatar as Mirako describes it (spec schema AvatarResponse). The spec allows null for
// SupportedInteractiveModels and Themes (a building avatar has none); they decode to nil slices.
type Avatar struct {
	ID                         string    `json:"id"`
	UserID                     string    `json:"user_id"`
	Name                       string    `json:"name"`
	CreatedAt                  time.Time `json:"created_at"`
	Status                     Status    `json:"status"`
	SupportedInteractiveModels []string  `json:"supported_interactive_models"`
	Themes                     []Theme   `json:"themes"`
}

const (
	pathBuild  = "/v1/avatar/async_build"
	pathList   = "/v1/avatar/list"
	pathAvatar = "/v1/avatar/"
)

// Build starts building an avatar called name from a portrait and returns the new avatar's id. The
// image is read once from image, which must yield exactly size bytes; it is streamed as base64 inside
// the JSON body (see BuildBody) with its length declared up front, so the request cannot be replayed
// and is never retried here. Each call that succeeds creates (and bills) one avatar.
//
// If image fails or yields a different number of bytes, the upload is aborted and the error wraps
// the reader's error or ErrImageSize; it is neither an *APIError nor a *TransportError.
//
// Mirako API: POST /v1/avatar/async_build (operationId BuildAvatarAsync).
func (c *Client) Build(ctx context.Context, name string, image io.Reader, size int64) (string, error) {
	const method, path = http.MethodPost, pathBuild
	if image == nil {
		return "", fmt.Errorf("mirako: %s %s: nil image reader", method, path)
	}
	if size < 0 {
		return "", fmt.Errorf("mirako: %s %s: negative image size %d: %w", method, path, size, ErrImageSize)
	}
	ctx, cancel := withTimeout(ctx, c.uploadTimeout)
	defer cancel()

	body := newBuildBody(name, image, size)
	req, err := c.newRequest(ctx, method, path, body)
	if err != nil {
		return "", err
	}
	// A body of a type net/http does not know gets no GetBody, so the transport cannot replay it;
	// the declared length makes the request fail rather than send a body that does not match it.
	req.ContentLength = body.length

	resp, err := c.do(req, path)
	if bodyErr := body.failure(); bodyErr != nil {
		// The image, not the network, ended the upload; whatever came back is not an answer to a
		// complete request.
		if resp != nil {
			discard(resp)
		}
		return "", fmt.Errorf("mirako: %s %s: %w", method, path, bodyErr)
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

// Get returns the avatar with the given id, its status included. The CheckStatus step polls it.
//
// Mirako API: GET /v1/avatar/{id} (operationId GetAvatarById).
func (c *Client) Get(ctx context.Context, id string) (*Avatar, error) {
	const method = http.MethodGet
	path, err := avatarPath(method, id)
	if err != nil {
		return nil, err
	}
	if id == "list" {
		// GET /v1/avatar/list is the list operation; no avatar can be read under that id.
		return nil, fmt.Errorf("mirako: %s %s: %q is not an avatar id", method, path, id)
	}
	resp, cancel, err := c.send(ctx, method, path)
	if err != nil {
		return nil, err
	}
	defer cancel()
	var a Avatar
	if err := decodeData(resp, method, path, &a); err != nil {
		return nil, err
	}
	// id and status are required; without them the answer is of no use to a poller.
	if a.ID == "" || a.Status == "" {
		return nil, newTransportError(method, path, errors.New(`decode response: avatar without "id" or "status"`))
	}
	return &a, nil
}

// List returns the caller's avatars. A "data": null answer is an empty, non-nil list.
//
// Mirako API: GET /v1/avatar/list (operationId GetUserAvatarList).
func (c *Client) List(ctx context.Context) ([]Avatar, error) {
	const method, path = http.MethodGet, pathList
	resp, cancel, err := c.send(ctx, method, path)
	if err != nil {
		return nil, err
	}
	defer cancel()
	var avatars []Avatar
	if err := decodeData(resp, method, path, &avatars); err != nil {
		return nil, err
	}
	if avatars == nil {
		avatars = []Avatar{}
	}
	return avatars, nil
}

// Delete deletes the avatar with the given id. Mirako answers 204; deleting an unknown id is an
// *APIError with StatusCode 404, which a caller cleaning up may treat as done.
//
// Mirako API: DELETE /v1/avatar/{id} (operationId DeleteAvatar).
func (c *Client) Delete(ctx context.Context, id string) error {
	const method = http.MethodDelete
	path, err := avatarPath(method, id)
	if err != nil {
		return err
	}
	resp, cancel, err := c.send(ctx, method, path)
	if err != nil {
		return err
	}
	defer cancel()
	discard(resp)
	return nil
}

// avatarPath is /v1/avatar/{id} with id escaped as one path segment. An empty id, "." or ".." would
// name another resource once the path is cleaned, so they are refused before any request.
func avatarPath(method, id string) (string, error) {
	switch id {
	case "", ".", "..":
		return "", fmt.Errorf("mirako: %s %s{id}: invalid avatar id %q", method, pathAvatar, id)
	}
	return pathAvatar + url.PathEscape(id), nil
}
