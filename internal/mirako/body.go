package mirako

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"sync"
)

// rawChunk is how much of the image is read at a time: a multiple of 3, so that a full chunk encodes
// to base64 without padding. It and a buffer for its base64 are the only buffers a build body
// allocates besides the small JSON head: about 21 KiB, whatever the image size.
const rawChunk = 3 * 3 << 10 // 9 KiB

// maxEmptyReads bounds successive (0, nil) reads from the image, as bufio does.
const maxEmptyReads = 100

// BuildBody returns the body of a BuildAvatarAsync request (spec schema AsyncBuildApiRequestBody,
// {"name": name, "image": "<base64 of the image>"}) as a reader that encodes on the fly, and the exact
// number of bytes it yields. image is read once, in small chunks; the reader fails, wrapping
// ErrImageSize, if image yields fewer or more than size bytes, and it never yields a byte of base64
// beyond what size declared. A negative size gives a reader that fails at once.
//
// Build sends it; it is exported for cmd/benchreport, which measures the body alone.
func BuildBody(name string, image io.Reader, size int64) (io.Reader, int64) {
	b := newBuildBody(name, image, size)
	return b, b.length
}

// buildBody yields head, then the base64 of src, then tail.
type buildBody struct {
	head   []byte // {"name":<JSON string>,"image":"   (not yet yielded)
	src    io.Reader
	size   int64 // bytes src must yield
	length int64 // bytes this reader yields in all

	read    int64  // bytes read from src so far
	raw     []byte // bytes read from src, not yet encoded (fewer than 3 between fills)
	rawBuf  []byte
	pending []byte // encoded bytes not yet yielded
	encBuf  []byte
	srcDone bool   // src reached EOF and everything read is encoded
	tail    []byte // `"}`, not yet yielded

	// err is the first failure, returned by every later Read. Only the goroutine calling Read sets
	// it; mu lets Build read it from another goroutine once the transport gave up on the body.
	mu  sync.Mutex
	err error
}

const (
	bodyPrefix = `{"name":`
	bodyMiddle = `,"image":"`
	bodySuffix = `"}`
)

func newBuildBody(name string, image io.Reader, size int64) *buildBody {
	// json.Marshal of a string cannot fail; it escapes quotes, backslashes and control characters and
	// replaces invalid UTF-8, so the name cannot break the envelope.
	quoted, _ := json.Marshal(name)
	head := make([]byte, 0, len(bodyPrefix)+len(quoted)+len(bodyMiddle))
	head = append(append(append(head, bodyPrefix...), quoted...), bodyMiddle...)
	b := &buildBody{head: head, src: image, size: size, tail: []byte(bodySuffix)}
	if size < 0 {
		b.err = fmt.Errorf("read image: negative size %d: %w", size, ErrImageSize)
		return b
	}
	b.length = int64(len(head)) + int64(base64.StdEncoding.EncodedLen(int(size))) + int64(len(bodySuffix))
	// Small images get small buffers; the raw buffer keeps 3 spare bytes for the EOF probe and the
	// remainder carried between reads.
	rawCap := int64(rawChunk)
	if size+3 < rawCap {
		rawCap = size + 3
	}
	b.rawBuf = make([]byte, rawCap)
	b.raw = b.rawBuf[:0]
	b.encBuf = make([]byte, base64.StdEncoding.EncodedLen(int(rawCap)))
	return b
}

// Read implements io.Reader.
func (b *buildBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	n := 0
	for n < len(p) {
		switch {
		case len(b.head) > 0:
			k := copy(p[n:], b.head)
			b.head = b.head[k:]
			n += k
		case len(b.pending) > 0:
			k := copy(p[n:], b.pending)
			b.pending = b.pending[k:]
			n += k
		case !b.srcDone:
			if n > 0 {
				// Hand out what we have before blocking on the image again.
				return n, nil
			}
			if err := b.fill(); err != nil {
				b.mu.Lock()
				b.err = err
				b.mu.Unlock()
				return 0, err
			}
		case len(b.tail) > 0:
			k := copy(p[n:], b.tail)
			b.tail = b.tail[k:]
			n += k
		default:
			if n > 0 {
				return n, nil
			}
			return 0, io.EOF
		}
	}
	return n, nil
}

// failure returns the error that ended the body, if any.
func (b *buildBody) failure() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}

// fill reads from src until it can encode at least one full 3-byte group, or src ends, and sets
// pending to the encoded bytes. It never reads more than size+1 bytes from src, the extra byte being
// the probe that tells an image longer than declared.
func (b *buildBody) fill() error {
	for empty := 0; ; {
		room := b.rawBuf[len(b.raw):]
		if left := b.size - b.read + 1; int64(len(room)) > left {
			room = room[:left]
		}
		k, err := b.src.Read(room)
		if k < 0 || k > len(room) {
			return fmt.Errorf("read image: reader returned %d bytes for a %d-byte buffer", k, len(room))
		}
		b.read += int64(k)
		b.raw = b.raw[:len(b.raw)+k]
		if b.read > b.size {
			return fmt.Errorf("read image: more than the declared %d bytes: %w", b.size, ErrImageSize)
		}
		switch {
		case err == io.EOF:
			if b.read < b.size {
				return fmt.Errorf("read image: got %d bytes, declared %d: %w", b.read, b.size, ErrImageSize)
			}
			// Encode the rest, padding included.
			b.pending = b.encBuf[:base64.StdEncoding.EncodedLen(len(b.raw))]
			base64.StdEncoding.Encode(b.pending, b.raw)
			b.raw = b.rawBuf[:0]
			b.srcDone = true
			return nil
		case err != nil:
			return fmt.Errorf("read image after %d bytes: %w", b.read, err)
		case k == 0:
			if empty++; empty >= maxEmptyReads {
				return fmt.Errorf("read image: %w", io.ErrNoProgress)
			}
			continue
		}
		empty = 0
		if full := len(b.raw) / 3 * 3; full > 0 {
			// Encode the full groups; the 0–2 bytes left wait for more input or for EOF (padding).
			b.pending = b.encBuf[:full/3*4]
			base64.StdEncoding.Encode(b.pending, b.raw[:full])
			b.raw = b.rawBuf[:copy(b.rawBuf, b.raw[full:])]
			return nil
		}
	}
}
