package face

import (
	"image"
	"image/jpeg"
	"os"
	"testing"
)

func readTestImage(tb testing.TB, name string) image.Image {
	tb.Helper()
	f, err := os.Open("testdata/" + name)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	img, err := jpeg.Decode(f)
	if err != nil {
		tb.Fatalf("%s: %v", name, err)
	}
	return img
}

// BenchmarkDetect times Detect on a 512×512 working copy, the size the portrait checks pass.
func BenchmarkDetect(b *testing.B) {
	img := readTestImage(b, "astronaut.jpg")
	d := New()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Detect(img); err != nil {
			b.Fatal(err)
		}
	}
}
