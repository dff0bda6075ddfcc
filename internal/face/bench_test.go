package face

import (
	"testing"

	"github.com/avatar-pipeline/avatar-pipeline/internal/face/sample"
)

// BenchmarkDetect times Detect on a 512×512 working copy, the size the portrait checks pass.
func BenchmarkDetect(b *testing.B) {
	img := sample.Astronaut()
	d := New()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Detect(img); err != nil {
			b.Fatal(err)
		}
	}
}
