package mirakotest

import (
	"io"
	"net/http"
)

// The benchmark stand-ins (see the package documentation), shared by internal/mirako's upload
// benchmarks and cmd/benchreport so that both measure the same thing.

// pattern is the source of PatternReader's bytes.
var pattern = func() (p [4096]byte) {
	for i := range p {
		p[i] = byte(i * 7)
	}
	return p
}()

// PatternReader yields N bytes of a fixed pattern without allocating or holding them: a stand-in for
// an S3 object body streamed from the network. Like io.LimitedReader it counts N down; a benchmark
// sets N again to reuse it.
type PatternReader struct{ N int64 }

// Read implements io.Reader.
func (r *PatternReader) Read(p []byte) (int, error) {
	if r.N <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.N {
		p = p[:r.N]
	}
	k := 0
	for k < len(p) {
		k += copy(p[k:], pattern[:])
	}
	r.N -= int64(k)
	return k, nil
}

// Sink returns a handler that reads and discards a request's body and answers like
// BuildAvatarAsync, with a fixed avatar id. It checks nothing, not even the token.
func Sink() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"data":{"avatar_id":"a1b2c3"}}`)
	})
}
