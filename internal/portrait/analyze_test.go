package portrait

import (
	"image"
	"image/color"
	"math"
	"testing"
)

// TestRowSourceYCbCr checks the fast YCbCr row reader against image.YCbCr's own accessors, for
// every subsampling ratio and for a sub-image that starts at odd coordinates.
func TestRowSourceYCbCr(t *testing.T) {
	ratios := []image.YCbCrSubsampleRatio{
		image.YCbCrSubsampleRatio444, image.YCbCrSubsampleRatio422, image.YCbCrSubsampleRatio420,
		image.YCbCrSubsampleRatio440, image.YCbCrSubsampleRatio411, image.YCbCrSubsampleRatio410,
	}
	for _, ratio := range ratios {
		full := image.NewYCbCr(image.Rect(0, 0, 37, 23), ratio)
		for i := range full.Y {
			full.Y[i] = uint8(i * 7)
		}
		for i := range full.Cb {
			full.Cb[i], full.Cr[i] = uint8(i*13), uint8(i*29)
		}
		for _, m := range []*image.YCbCr{full, full.SubImage(image.Rect(5, 3, 30, 20)).(*image.YCbCr)} {
			src := newRowSource(m)
			c0, c1, c2 := make([]float32, src.w), make([]float32, src.w), make([]float32, src.w)
			for y := range src.h {
				src.row(y, c0, c1, c2, nil)
				for x := range src.w {
					want := m.YCbCrAt(m.Rect.Min.X+x, m.Rect.Min.Y+y)
					if c0[x] != float32(want.Y) || c1[x] != float32(want.Cb) || c2[x] != float32(want.Cr) {
						t.Fatalf("%v %v at (%d,%d): got %v %v %v, want %v", ratio, m.Rect, x, y, c0[x], c1[x], c2[x], want)
					}
				}
			}
		}
	}
}

// TestRowSourceTypes checks every decoder output type against its colour model.
func TestRowSourceTypes(t *testing.T) {
	r := image.Rect(2, 1, 9, 6)
	fill := func(set func(x, y int, c color.Color)) {
		for y := r.Min.Y; y < r.Max.Y; y++ {
			for x := r.Min.X; x < r.Max.X; x++ {
				set(x, y, color.NRGBA{uint8(x * 30), uint8(y * 40), uint8(x * y), 255})
			}
		}
	}
	gray, rgba, nrgba, nrgba64, cmyk, rgba64 := image.NewGray(r), image.NewRGBA(r), image.NewNRGBA(r), image.NewNRGBA64(r), image.NewCMYK(r), image.NewRGBA64(r)
	pal := image.NewPaletted(r, color.Palette{color.Black, color.White, color.NRGBA{200, 100, 50, 255}})
	for _, m := range []interface {
		image.Image
		Set(x, y int, c color.Color)
	}{gray, rgba, nrgba, nrgba64, cmyk, rgba64, pal} {
		fill(m.Set)
		src := newRowSource(m)
		c := [3][]float32{make([]float32, src.w), make([]float32, src.w), make([]float32, src.w)}
		a := make([]float32, src.w)
		for y := range src.h {
			src.row(y, c[0], c[1], c[2], a)
			for x := range src.w {
				cr, cg, cb, _ := m.At(r.Min.X+x, r.Min.Y+y).RGBA()
				want := [3]float32{float32(cr >> 8), float32(cg >> 8), float32(cb >> 8)}
				if src.ycc { // gray: Y, 128, 128
					want = [3]float32{float32(cr >> 8), 128, 128}
				}
				for k := range 3 {
					if math.Abs(float64(c[k][x]-want[k])) > 1 {
						t.Fatalf("%T at (%d,%d) channel %d: got %v, want %v", m, x, y, k, c[k][x], want[k])
					}
				}
			}
		}
	}
}

func TestDownscaleAveragesAreas(t *testing.T) {
	// A 6×3 gray image with a known pattern, reduced to 2×1: each output pixel averages a 3×3
	// block exactly.
	m := image.NewGray(image.Rect(0, 0, 6, 3))
	for i := range m.Pix {
		m.Pix[i] = uint8(10 * (i % 6))
	}
	wk, _ := downscale(newRowSource(m), 2, 1)
	if want := []float32{10, 40}; math.Abs(float64(wk.y[0]-want[0])) > 1e-3 || math.Abs(float64(wk.y[1]-want[1])) > 1e-3 {
		t.Errorf("got %v, want %v", wk.y, want)
	}

	// A non-integer ratio keeps the mean.
	big := portraitImage(700, 500)
	wk, _ = downscale(newRowSource(big), 512*700/500, 512)
	var sumBig, sumSmall float64
	for i := 0; i < len(big.Pix); i += 4 {
		sumBig += 0.299*float64(big.Pix[i]) + 0.587*float64(big.Pix[i+1]) + 0.114*float64(big.Pix[i+2])
	}
	for _, v := range wk.y {
		sumSmall += float64(v)
	}
	meanBig, meanSmall := sumBig/float64(700*500), sumSmall/float64(len(wk.y))
	if math.Abs(meanBig-meanSmall) > 0.05 {
		t.Errorf("got mean %.3f after downscaling, want %.3f", meanSmall, meanBig)
	}
}

func TestSpans(t *testing.T) {
	for _, tc := range [][2]int{{10, 10}, {10, 3}, {1000, 512}, {513, 512}, {7, 1}} {
		n, m := tc[0], tc[1]
		d, w := spans(n, m)
		got := make([]float64, m)
		for i := range n {
			got[d[i]] += float64(w[i])
			if w[i] < 1 {
				got[d[i]+1] += 1 - float64(w[i])
			}
		}
		for k, g := range got {
			if math.Abs(g-float64(n)/float64(m)) > 1e-4 {
				t.Errorf("spans(%d, %d): destination %d gets weight %v, want %v", n, m, k, g, float64(n)/float64(m))
			}
		}
	}
}

func TestBlockMeter(t *testing.T) {
	measure := func(m *image.Gray) float64 {
		_, stats := downscale(newRowSource(m), 1, 1)
		return stats.blockiness
	}
	noise := image.NewGray(image.Rect(0, 0, 256, 256))
	s := uint32(1)
	for i := range noise.Pix {
		s = s*1664525 + 1013904223
		noise.Pix[i] = uint8(s >> 24)
	}
	blocky := image.NewGray(noise.Rect)
	upscaled := image.NewGray(noise.Rect)
	for y := range 256 {
		for x := range 256 {
			blocky.Pix[y*256+x] = noise.Pix[(y/8*8)*256+x/8*8]   // flat 8×8 blocks
			upscaled.Pix[y*256+x] = noise.Pix[(y/2*2)*256+x/2*2] // 2× nearest neighbour
		}
	}
	if got := measure(noise); got > 1.1 {
		t.Errorf("noise: got blockiness %.2f, want about 1", got)
	}
	if got := measure(upscaled); got > 1.1 {
		t.Errorf("2× upscaled: got blockiness %.2f, want about 1 (period 2 is not blocking)", got)
	}
	if got := measure(blocky); got < 3 {
		t.Errorf("8×8 blocks: got blockiness %.2f, want well above the threshold %.1f", got, blockyBlockiness)
	}
}
