package mirako

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
)

// rawChunk is how much of the image is read at a time: with its base64, about 21 KiB of buffers
// whatever the image size, small enough to stay in cache (BENCHMARKS.md, "The chunk size").
const rawChunk = 9 << 10

// maxEmptyReads bounds successive (0, nil) reads from the image, as bufio does.
const maxEmptyReads = 100

// BuildBody returns the body of a BuildAvatarAsync request, {"name": name, "image": "<base64>"}
// (spec schema AsyncBuildApiRequestBody), as a reader that encodes image on the fly, and its exact
// length. image is read once; the reader fails, wrapping ErrImageSize, if it yields fewer or more
// than size bytes, and never yields base64 beyond size. Build sends it; cmd/benchreport measures it.
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
