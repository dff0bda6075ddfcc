package mirako

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"testing"

	"github.com/avatar-pipeline/avatar-pipeline/internal/mirako/mirakotest"
)

// The benchmarks compare the streaming build body with the plain cost of base64 encoding and with
// the naive body (read all, encode to a string, marshal). Memory is the point: B/op of
// BenchmarkBuildBody must stay small and flat as the image grows, unlike BenchmarkNaiveBody's.

var benchSizes = []struct {
	name string
	size int64
}{
	{"1MiB", 1 << 20},
	{"10MiB", 10 << 20},
}

func BenchmarkBuildBody(b *testing.B) {
	for _, bs := range benchSizes {
		b.Run(bs.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(bs.size)
			src := &mirakotest.PatternReader{}
			for b.Loop() {
				src.N = bs.size
				body, length := BuildBody("Ada Lovelace", src, bs.size)
				n, err := io.Copy(io.Discard, body)
				if err != nil || n != length {
					b.Fatalf("copied %d bytes (err %v), want %d", n, err, length)
				}
			}
		})
	}
}

func BenchmarkBase64Encode(b *testing.B) {
	for _, bs := range benchSizes {
		b.Run(bs.name, func(b *testing.B) {
			src := make([]byte, bs.size)
			dst := make([]byte, base64.StdEncoding.EncodedLen(len(src)))
			b.ReportAllocs()
			b.SetBytes(bs.size)
			for b.Loop() {
				base64.StdEncoding.Encode(dst, src)
			}
		})
	}
}

func BenchmarkNaiveBody(b *testing.B) {
	for _, bs := range benchSizes {
		b.Run(bs.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(bs.size)
			src := &mirakotest.PatternReader{}
			for b.Loop() {
				src.N = bs.size
				image, err := io.ReadAll(src)
				if err != nil {
					b.Fatal(err)
				}
				body, err := json.Marshal(struct {
					Name  string `json:"name"`
					Image string `json:"image"`
				}{"Ada Lovelace", base64.StdEncoding.EncodeToString(image)})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.Discard.Write(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
