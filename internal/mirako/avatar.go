package mirako

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
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

// Build starts building an avatar called name from the size bytes of image and returns its id
// (POST /v1/avatar/async_build, operationId BuildAvatarAsync). The image is read once and streamed
// as base64 (see BuildBody), so the request is never replayed; each success creates, and bills, one
// avatar. If image fails or its size is wrong, the upload is aborted and the error wraps the
// reader's error or ErrImageSize; it is then neither an *APIError nor a *TransportError.
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

// Get returns the avatar with the given id (GET /v1/avatar/{id}, operationId GetAvatarById).
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

// List returns the caller's avatars (GET /v1/avatar/list, operationId GetUserAvatarList); "data":
// null is an empty, non-nil list.
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

// Delete deletes the avatar with the given id (DELETE /v1/avatar/{id}, operationId DeleteAvatar). An
// unknown id is an *APIError with StatusCode 404, which a caller cleaning up may treat as done.
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

// rawChunk is how much of the image is read at a time: with its base64, about 21 KiB of buffers
// whatever the image size, small enough to stay in cache (BENCHMARKS.md, "The chunk size").
const rawChunk = 9 << 10

// maxEmptyReads bounds successive (0, nil) reads from the image, as bufio does.
const maxEmptyReads = 100

// BuildBody returns the body of a BuildAvatarAsync request, {"name": name, "image": "<base64>"}
// (spec schema AsyncBuildApiRequestBody), as a reader that encodes image on the fly, and its exact
// length. image is read once; the reader fails, wrapping ErrImageSize, if it yields fewer or more
// than size bytes, and never yields base64 beyond size. Build sends it; tools/benchreport measures it.
func BuildBody(name string, image io.Reader, size int64) (io.Reader, int64) {
	body, length, _ := newBuildBody(name, image, size)
	return body, length
}

func newBuildBody(name string, image io.Reader, size int64) (io.Reader, int64, *imageReader) {
	// json.Marshal escapes what could break the envelope and replaces invalid UTF-8.
	quoted, _ := json.Marshal(name)
	head, tail := `{"name":`+string(quoted)+`,"image":"`, `"}`
	r := &imageReader{src: image, size: size}
	if size < 0 {
		r.err = fmt.Errorf("read image: negative size %d: %w", size, ErrImageSize)
		return r, 0, r
	}
	r.buf = make([]byte, min(size+1, rawChunk)) // +1: the probe for an image longer than declared
	r.out.Grow((len(r.buf) + 2) / 3 * 4)        // the most one fill encodes, but for the padding at EOF
	r.enc = base64.NewEncoder(base64.StdEncoding, &r.out)
	length := int64(len(head)+len(tail)) + int64(base64.StdEncoding.EncodedLen(int(size)))
	// Only Read: MultiReader's WriteTo would allocate a 32 KiB buffer of its own.
	return struct{ io.Reader }{io.MultiReader(strings.NewReader(head), r, strings.NewReader(tail))}, length, r
}

// imageReader yields the base64 of src, which must yield exactly size bytes.
type imageReader struct {
	src        io.Reader
	size, read int64
	buf        []byte
	enc        io.WriteCloser // into out
	out        bytes.Buffer   // base64 not yet yielded
	done       bool

	mu  sync.Mutex // Build reads err while the transport may still be reading
	err error      // returned by every Read once set
}

// Read implements io.Reader.
func (r *imageReader) Read(p []byte) (int, error) {
	for r.out.Len() == 0 && !r.done && r.failure() == nil {
		if err := r.fill(); err != nil {
			r.mu.Lock()
			r.err = err
			r.mu.Unlock()
		}
	}
	if err := r.failure(); err != nil {
		return 0, err
	}
	return r.out.Read(p) // io.EOF once done and drained
}

func (r *imageReader) failure() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// fill reads the next piece of src into the encoder, never more than size+1 bytes in all. The
// encoder keeps back an incomplete 3-byte group until Close, so a short image yields no padding.
func (r *imageReader) fill() error {
	for range maxEmptyReads {
		room := r.buf[:min(int64(len(r.buf)), r.size-r.read+1)]
		k, err := r.src.Read(room)
		if k < 0 || k > len(room) {
			return fmt.Errorf("read image: reader returned %d bytes for a %d-byte buffer", k, len(room))
		}
		if r.read += int64(k); r.read > r.size {
			return fmt.Errorf("read image: more than the declared %d bytes: %w", r.size, ErrImageSize)
		}
		_, _ = r.enc.Write(room[:k]) // a bytes.Buffer does not fail
		switch {
		case err == io.EOF && r.read < r.size:
			return fmt.Errorf("read image: got %d bytes, declared %d: %w", r.read, r.size, ErrImageSize)
		case err == io.EOF:
			r.done = true
			return r.enc.Close()
		case err != nil:
			return fmt.Errorf("read image after %d bytes: %w", r.read, err)
		case k > 0:
			return nil
		}
	}
	return fmt.Errorf("read image: %w", io.ErrNoProgress)
}
