package mirakotest_test

import (
	"context"
	"io"
	"net/http/httptest"
	"testing"
	"testing/iotest"

	"github.com/avatar-pipeline/avatar-pipeline/internal/mirako"
	"github.com/avatar-pipeline/avatar-pipeline/internal/mirako/mirakotest"
)

func TestPatternReader(t *testing.T) {
	for _, n := range []int64{0, 1, 4095, 4096, 4097, 3*4096 + 5} {
		r := &mirakotest.PatternReader{N: n}
		got, err := io.ReadAll(iotest.HalfReader(r))
		if err != nil || int64(len(got)) != n {
			t.Errorf("ReadAll of %d bytes: got %d bytes, %v", n, len(got), err)
		}
		if k, err := r.Read(make([]byte, 8)); k != 0 || err != io.EOF {
			t.Errorf("Read after %d bytes: got %d, %v; want 0, EOF", n, k, err)
		}
	}
	// The upload benchmarks count allocations: the reader must make none.
	r := &mirakotest.PatternReader{}
	buf := make([]byte, 9<<10)
	allocs := testing.AllocsPerRun(10, func() {
		for r.N = 1 << 20; r.N > 0; {
			if _, err := r.Read(buf); err != nil {
				t.Fatal(err)
			}
		}
	})
	if allocs != 0 {
		t.Errorf("allocations per 1 MiB read: got %v, want 0", allocs)
	}
}

// TestSinkAnswersTheClient checks the benchmarks' sink gives the client an answer it accepts.
func TestSinkAnswersTheClient(t *testing.T) {
	srv := httptest.NewServer(mirakotest.Sink())
	t.Cleanup(srv.Close)
	const size = 100 << 10
	id, err := mirako.NewClient(srv.URL, token).Build(context.Background(), "Ada", &mirakotest.PatternReader{N: size}, size)
	if err != nil || id == "" {
		t.Errorf("Build: got %q, %v; want an avatar id", id, err)
	}
}
