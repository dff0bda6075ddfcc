package face

import (
	"image"
	"math"
)

// luma converts img to 8-bit BT.601 luma (the weights OpenCV's cvtColor uses), reading the common
// decoded types directly.
func luma(img image.Image) *image.Gray {
	b := img.Bounds()
	g := image.NewGray(image.Rect(0, 0, b.Dx(), b.Dy()))
	w := b.Dx()
	switch m := img.(type) {
	case *image.Gray:
		for y := range b.Dy() {
			copy(g.Pix[y*w:(y+1)*w], m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):])
		}
	case *image.YCbCr: // JPEG: luma is stored as it is
		for y := range b.Dy() {
			copy(g.Pix[y*w:(y+1)*w], m.Y[m.YOffset(b.Min.X, b.Min.Y+y):])
		}
	case *image.RGBA:
		rgbLuma(g, m.Pix, m.Stride, m.PixOffset(b.Min.X, b.Min.Y))
	case *image.NRGBA:
		rgbLuma(g, m.Pix, m.Stride, m.PixOffset(b.Min.X, b.Min.Y))
	default:
		for y := range b.Dy() {
			for x := range w {
				r, gr, bl, _ := img.At(b.Min.X+x, b.Min.Y+y).RGBA()
				g.Pix[y*w+x] = lumaOf(r>>8, gr>>8, bl>>8)
			}
		}
	}
	return g
}

func rgbLuma(g *image.Gray, pix []uint8, stride, start int) {
	w := g.Rect.Dx()
	for y := range g.Rect.Dy() {
		row := pix[start+y*stride : start+y*stride+4*w]
		out := g.Pix[y*w : (y+1)*w]
		for x := range out {
			out[x] = lumaOf(uint32(row[4*x]), uint32(row[4*x+1]), uint32(row[4*x+2]))
		}
	}
}

// lumaOf is Y′ = 0.299 R + 0.587 G + 0.114 B in 14-bit fixed point, rounded.
func lumaOf(r, g, b uint32) uint8 {
	return uint8((r*4899 + g*9617 + b*1868 + 1<<13) >> 14)
}

// shrink scales g down so that its shorter side is at most side, averaging the pixels each
// output pixel covers (a box filter), so that fine texture is averaged rather than aliased. It
// returns g itself when it is small enough already, and the factor from the result's pixels to
// g's.
func shrink(g *image.Gray, side int) (*image.Gray, float64) {
	w, h := g.Rect.Dx(), g.Rect.Dy()
	if min(w, h) <= side {
		return g, 1
	}
	k := float64(min(w, h)) / float64(side)
	dw, dh := max(1, int(math.Round(float64(w)/k))), max(1, int(math.Round(float64(h)/k)))
	cols := boxSpans(w, dw)
	rows := boxSpans(h, dh)
	tmp := make([]float32, dw*h) // columns first, then rows
	for y := range h {
		src := g.Pix[y*g.Stride : y*g.Stride+w]
		for x, s := range cols {
			tmp[y*dw+x] = s.apply(func(i int) float32 { return float32(src[i]) })
		}
	}
	out := image.NewGray(image.Rect(0, 0, dw, dh))
	for y, s := range rows {
		for x := range dw {
			v := s.apply(func(i int) float32 { return tmp[i*dw+x] })
			out.Pix[y*dw+x] = uint8(min(255, v+0.5))
		}
	}
	return out, float64(w) / float64(dw)
}

// span is the stretch of input samples one output sample averages: samples lo..hi-1, the first
// and last weighted by their covered fraction.
type span struct {
	lo, hi      int
	first, last float32
	norm        float32
}

func boxSpans(n, m int) []span {
	spans := make([]span, m)
	k := float64(n) / float64(m)
	for d := range spans {
		a, b := float64(d)*k, float64(d+1)*k
		lo, hi := int(a), min(n, int(math.Ceil(b)))
		spans[d] = span{lo: lo, hi: hi, first: float32(float64(lo+1) - a), last: float32(b - float64(hi-1)), norm: float32(1 / k)}
		if hi-lo == 1 {
			spans[d].first = float32(b - a)
		}
	}
	return spans
}

func (s span) apply(at func(int) float32) float32 {
	v := at(s.lo) * s.first
	if s.hi-s.lo > 1 {
		for i := s.lo + 1; i < s.hi-1; i++ {
			v += at(i)
		}
		v += at(s.hi-1) * s.last
	}
	return v * s.norm
}

// equalize spreads the histogram of g over 0–255, as OpenCV's equalizeHist does: the cascades
// were trained on faces under varied light, and equalising first is how OpenCV's users give
// them dim or flat photos.
func equalize(g *image.Gray) *image.Gray {
	var hist [256]int
	for _, v := range g.Pix {
		hist[v]++
	}
	out := image.NewGray(g.Rect)
	lo := 0
	for lo < 255 && hist[lo] == 0 {
		lo++
	}
	rest := len(g.Pix) - hist[lo]
	if rest == 0 { // a flat image stays flat
		copy(out.Pix, g.Pix)
		return out
	}
	var lut [256]uint8
	sum := 0
	for v := lo + 1; v < 256; v++ {
		sum += hist[v]
		lut[v] = uint8(math.Round(255 * float64(sum) / float64(rest)))
	}
	for i, v := range g.Pix {
		out.Pix[i] = lut[v]
	}
	return out
}

// mirror flips g left to right: the profile cascade only knows faces turned one way.
func mirror(g *image.Gray) *image.Gray {
	out := image.NewGray(g.Rect)
	w := g.Rect.Dx()
	for y := range g.Rect.Dy() {
		src, dst := g.Pix[y*g.Stride:y*g.Stride+w], out.Pix[y*w:(y+1)*w]
		for x, v := range src {
			dst[w-1-x] = v
		}
	}
	return out
}
