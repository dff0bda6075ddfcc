package portrait

import (
	"bytes"
	"image"
	"image/jpeg"
	"sync"
	"testing"

	xdraw "golang.org/x/image/draw"
)

// Benchmarks for the cost goals: the header checks read a few bytes of a 10 MB file; the full
// check of a 10 MB baseline JPEG or PNG stays under 64 MB (a progressive JPEG's coefficients
// take more, within MaxDecodeBytes); a bomb is refused without a large allocation.
// B/op counts every byte allocated during a check, so it bounds the check's peak heap.

var (
	tenMBPNG = sync.OnceValue(func() []byte {
		return encodePNG(panicTB{}, noisyPhoto(2752, 1548, 20))
	})
	tenMBProgressive = sync.OnceValue(func() []byte {
		return testJPEG{comps: 3, progressive: true, quality: 92}.encode(noisyPhoto(3072, 3072, 26))
	})
)

func BenchmarkHeader10MB(b *testing.B) {
	data := checkTenMB(b)
	b.ReportAllocs()
	var read int64
	for b.Loop() {
		r := &countingReader{r: bytes.NewReader(data)}
		if _, err := Header(r, int64(len(data))); err != nil {
			b.Fatal(err)
		}
		read = r.n
	}
	b.ReportMetric(float64(read), "bytes-read/op")
	b.ReportMetric(float64(len(data)), "file-bytes")
	if read > headerReadLimit {
		b.Errorf("Header read %d bytes of a %d-byte file, want at most %d", read, len(data), headerReadLimit)
	}
}

func BenchmarkCheck10MB(b *testing.B) {
	for _, bc := range []struct {
		name string
		data func(testing.TB) []byte
	}{
		{"baseline-JPEG-20MP", checkTenMB},
		{"PNG-4MP", func(testing.TB) []byte { return tenMBPNG() }},
		{"progressive-JPEG-9MP", func(testing.TB) []byte { return tenMBProgressive() }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			data := bc.data(b)
			if len(data) > MaxBytes {
				b.Fatalf("fixture is %d bytes, more than MaxBytes", len(data))
			}
			b.ReportAllocs()
			for b.Loop() {
				rep, err := Check(bytes.NewReader(data), int64(len(data)), Policy{})
				if err != nil || rep.Metrics == nil {
					b.Fatalf("got %v %q", err, rep.Reasons)
				}
			}
			b.ReportMetric(float64(len(data)), "file-bytes")
		})
	}
}

func BenchmarkBomb(b *testing.B) {
	for _, bc := range []struct {
		name string
		data []byte
	}{
		{"JPEG-60000x60000", jpegHeaderOnly(0xc0, 60000, 60000, 3, 0x22)},
		{"PNG-60000x60000", pngHeaderOnly(60000, 60000, pngChunk("IDAT", []byte{0x78, 0x9c}))},
		{"JPEG-6000x6000-truncated", append(jpegHeaderOnly(0xc2, 6000, 6000, 3, 0x11), make([]byte, 1<<20)...)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				rep, err := Check(bytes.NewReader(bc.data), int64(len(bc.data)), Policy{})
				if err != nil || rep.Accepted() {
					b.Fatalf("got %v, %q; want a rejection", err, rep.Verdict)
				}
			}
		})
	}
}

// BenchmarkDownscale12MP compares the working copy's box filter with golang.org/x/image/draw on
// a 12-megapixel 4:2:0 photo (4032×3024, a phone camera's default). "box" is the pass Check
// runs, which also measures blocking and transparency; "xdraw-bilinear" is the library's
// antialiased scaler into an RGBA copy, which measures nothing; "xdraw-approx" samples four
// pixels per output pixel, so fine detail aliases into the sharpness measure.
func BenchmarkDownscale12MP(b *testing.B) {
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, noisyPhoto(4032, 3024, 20), &jpeg.Options{Quality: 90}); err != nil {
		b.Fatal(err)
	}
	img, err := jpeg.Decode(&buf) // Go's encoder writes 4:2:0, decoded as *image.YCbCr
	if err != nil {
		b.Fatal(err)
	}
	dw, dh := analysisSize(4032, 3024)
	b.Run("box", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			downscale(newRowSource(img), dw, dh)
		}
	})
	for name, k := range map[string]xdraw.Interpolator{"xdraw-bilinear": xdraw.BiLinear, "xdraw-approx": xdraw.ApproxBiLinear} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				dst := image.NewRGBA(image.Rect(0, 0, dw, dh))
				k.Scale(dst, dst.Bounds(), img, img.Bounds(), xdraw.Src, nil)
			}
		})
	}
}
