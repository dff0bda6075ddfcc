package mirako

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"strconv"
	"testing"
	"testing/iotest"
	"unicode/utf8"
)

// randomImage returns n reproducible pseudo-random bytes, so that every base64 digit occurs.
func randomImage(n int) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{1, 2, 3})
	_, _ = r.Read(b)
	return b
}

// naiveBody is the build body made the obvious way: the reference the streaming body must equal.
func naiveBody(t testing.TB, name string, image []byte) []byte {
	t.Helper()
	b, err := json.Marshal(struct {
		Name  string `json:"name"`
		Image []byte `json:"image"` // encoding/json writes []byte as standard base64
	}{name, image})
	if err != nil {
		t.Fatalf("json.Marshal: %v", err)
	}
	return b
}

func TestBuildBodyMatchesNaiveEncoding(t *testing.T) {
	sizes := []int{0, 1, 2, 3, 4, 5, 6, 7, rawChunk - 1, rawChunk, rawChunk + 1, 2*rawChunk + 2, 3*rawChunk - 3}
	readers := []struct {
		name string
		wrap func(io.Reader) io.Reader
	}{
		{"plain", func(r io.Reader) io.Reader { return r }},
		{"one byte at a time", iotest.OneByteReader},
		{"half reads", iotest.HalfReader},
		{"data with EOF", iotest.DataErrReader},
		{"empty reads", func(r io.Reader) io.Reader { return &stutterReader{r: r} }},
	}
	for _, size := range sizes {
		image := randomImage(size)
		want := naiveBody(t, "portrait", image)
		for _, rd := range readers {
			t.Run(rd.name+"/"+strconv.Itoa(size), func(t *testing.T) {
				body, length := BuildBody("portrait", rd.wrap(bytes.NewReader(image)), int64(size))
				if length != int64(len(want)) {
					t.Errorf("length = %d, want %d", length, len(want))
				}
				got, err := io.ReadAll(body)
				if err != nil {
					t.Fatalf("ReadAll: %v", err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("body differs from the naive encoding: got %d bytes %.80q…, want %d bytes %.80q…", len(got), got, len(want), want)
				}
			})
		}
	}
}

// TestBuildBodyReaderContract runs the standard library's io.Reader conformance checks, which read
// with small and odd-sized buffers.
func TestBuildBodyReaderContract(t *testing.T) {
	for _, size := range []int{0, 1, 2, 5, 1000, rawChunk + 7} {
		image := randomImage(size)
		body, _ := BuildBody("x", bytes.NewReader(image), int64(size))
		if err := iotest.TestReader(body, naiveBody(t, "x", image)); err != nil {
			t.Errorf("size %d: %v", size, err)
		}
	}
}

func TestBuildBodyNameEscaping(t *testing.T) {
	tests := []struct {
		name   string
		avatar string
	}{
		{"plain", "Ada Lovelace"},
		{"empty", ""},
		{"quotes and backslashes", `say "hi" \ \" \\`},
		{"unicode", "Zoë Åström 李小龍 🙂"},
		{"control characters", "tab\there\nnew line\r\x00nul\x1fus\x7fdel"},
		{"html and separators", "<script>&amp;</script>\u2028\u2029"},
		{"json look-alike", `","image":"AAAA"}`},
	}
	image := randomImage(10)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body, length := BuildBody(tc.avatar, bytes.NewReader(image), int64(len(image)))
			raw, err := io.ReadAll(body)
			if err != nil {
				t.Fatalf("ReadAll: %v", err)
			}
			if int64(len(raw)) != length {
				t.Errorf("read %d bytes, length said %d", len(raw), length)
			}
			var got struct {
				Name  string `json:"name"`
				Image []byte `json:"image"`
			}
			if err := json.Unmarshal(raw, &got); err != nil {
				t.Fatalf("body %q is not JSON: %v", raw, err)
			}
			if got.Name != tc.avatar {
				t.Errorf("name = %q, want %q", got.Name, tc.avatar)
			}
			if !bytes.Equal(got.Image, image) {
				t.Errorf("image = %x, want %x", got.Image, image)
			}
		})
	}
}

func TestBuildBodyInvalidUTF8Name(t *testing.T) {
	body, length := BuildBody("bad \xff\xfe name", bytes.NewReader(nil), 0)
	raw, err := io.ReadAll(body)
	if err != nil {
		t.Fatalf("ReadAll: %v", err)
	}
	if int64(len(raw)) != length {
		t.Errorf("read %d bytes, length said %d", len(raw), length)
	}
	var got struct{ Name string }
	if err := json.Unmarshal(raw, &got); err != nil || !utf8.ValidString(got.Name) {
		t.Errorf("body %q: name %q, err %v; want valid JSON with a valid UTF-8 name", raw, got.Name, err)
	}
}

func TestBuildBodySizeMismatch(t *testing.T) {
	tests := []struct {
		name     string
		actual   int // bytes the image reader yields
		declared int64
	}{
		{"empty but declared 1", 0, 1},
		{"one short", 9, 10},
		{"one short of a chunk", rawChunk - 1, rawChunk},
		{"much shorter", 1000, 5000},
		{"declared empty but has data", 1, 0},
		{"one long", 11, 10},
		{"one long over a chunk", rawChunk + 1, rawChunk},
		{"much longer", 50000, 100},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			image := randomImage(tc.actual)
			body, length := BuildBody("n", bytes.NewReader(image), tc.declared)
			got, err := io.ReadAll(body)
			if !errors.Is(err, ErrImageSize) {
				t.Fatalf("err = %v, want one wrapping ErrImageSize", err)
			}
			if int64(len(got)) >= length {
				t.Errorf("yielded %d bytes before failing, want fewer than the declared length %d", len(got), length)
			}
			// Whatever was yielded encodes only bytes within the declared size.
			n := min(int64(tc.actual), tc.declared)
			if want := naiveBody(t, "n", image[:n]); !bytes.HasPrefix(want, got) {
				t.Errorf("yielded %q, want a prefix of %.80q…", got, want)
			}
			// The failure sticks.
			if k, err2 := body.Read(make([]byte, 10)); k != 0 || !errors.Is(err2, ErrImageSize) {
				t.Errorf("Read after failure = %d, %v; want 0 and the same error", k, err2)
			}
		})
	}
}

func TestBuildBodyNegativeSize(t *testing.T) {
	body, _ := BuildBody("n", bytes.NewReader(nil), -1)
	if _, err := io.ReadAll(body); !errors.Is(err, ErrImageSize) {
		t.Errorf("err = %v, want one wrapping ErrImageSize", err)
	}
}

func TestBuildBodyReaderError(t *testing.T) {
	boom := errors.New("s3 stream reset")
	image := io.MultiReader(bytes.NewReader(randomImage(100)), iotest.ErrReader(boom))
	body, _ := BuildBody("n", image, 1000)
	if _, err := io.ReadAll(body); !errors.Is(err, boom) {
		t.Errorf("err = %v, want one wrapping %v", err, boom)
	}
}

func TestBuildBodyNoProgress(t *testing.T) {
	body, _ := BuildBody("n", readerFunc(func([]byte) (int, error) { return 0, nil }), 10)
	if _, err := io.ReadAll(body); !errors.Is(err, io.ErrNoProgress) {
		t.Errorf("err = %v, want one wrapping io.ErrNoProgress", err)
	}
}

// stutterReader returns (0, nil) before every real read, which io.Reader allows.
type stutterReader struct {
	r     io.Reader
	ready bool
}

func (s *stutterReader) Read(p []byte) (int, error) {
	if s.ready = !s.ready; s.ready {
		return 0, nil
	}
	return s.r.Read(p)
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }
