package mirako

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/avatar-pipeline/avatar-pipeline/internal/mirako/mirakotest"
)

// BenchmarkClientBuild is the whole build upload: Build streaming the body
// over TLS to a server that reads and discards it, on a reused connection.
// B/op counts the server's allocations too (it runs in this process), so it
// is an upper bound of the client's; tools/benchreport measures the client
// alone, against a server in another process.
func BenchmarkClientBuild(b *testing.B) {
	srv := httptest.NewTLSServer(mirakotest.Sink())
	b.Cleanup(srv.Close)
	c := NewClient(srv.URL, "bench-token", WithHTTPClient(srv.Client()))
	ctx := context.Background()
	for _, bs := range benchSizes {
		b.Run(bs.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(bs.size)
			src := &mirakotest.PatternReader{}
			for b.Loop() {
				src.N = bs.size
				if _, err := c.Build(ctx, "Ada Lovelace", src, bs.size); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
