package mirakotest

import (
	"io"
	"net/http"
)

// pattern is the source of PatternReader's bytes.
var pattern = func() (p [4096]byte) {
	for i := range p {
		p[i] = byte(i * 7)
	}
	return p
}()

// PatternReader yields N bytes of a fixed pattern without holding them, standing in for an S3 body
// in the upload benchmarks (internal/mirako, tools/benchreport). Like io.LimitedReader it counts N
// down; a benchmark sets N again to reuse it.
type PatternReader struct{ N int64 }

// Read implements io.Reader.
func (r *PatternReader) Read(p []byte) (int, error) {
	if r.N <= 0 {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), r.N)]
	for k := 0; k < len(p); {
		k += copy(p[k:], pattern[:])
	}
	r.N -= int64(len(p))
	return len(p), nil
}

// Sink returns a handler that discards a request's body and answers like BuildAvatarAsync, checking
// nothing: Mirako's stand-in in the upload benchmarks.
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
