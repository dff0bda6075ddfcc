package portrait

import (
	"image"
	"image/color"
	"math"
)

// AnalysisSide is the shorter side, in pixels, of the downscaled copy the quality metrics are
// computed on: Mirako's own minimum, so that "sharp enough" means sharp at the resolution Mirako
// needs, whatever the file's resolution. The longer side is capped at 4×AnalysisSide.
const AnalysisSide = MinSide

// work is the downscaled, upright copy of the image the metrics are computed on: 8-bit-range
// float planes for luma (BT.601 Y′, as in JPEG) and R, G, B.
type work struct {
	w, h       int
	y, r, g, b []float32
}

// fullResStats are measured on the full-resolution image while it is being downscaled.
type fullResStats struct {
	blockiness  float64 // how much the 8-pixel grid stands out; 1 = not at all
	transparent float64 // fraction of pixels that are not fully opaque
}

// rowSource yields the full-resolution image row by row as three channels (Y, Cb, Cr when
// ycc, else R, G, B) in the 0–255 range, plus alpha (0–1) when the image has it.
type rowSource struct {
	w, h  int
	ycc   bool
	alpha bool
	row   func(y int, c0, c1, c2, a []float32)
}

func newRowSource(img image.Image) rowSource {
	b := img.Bounds()
	s := rowSource{w: b.Dx(), h: b.Dy()}
	switch m := img.(type) {
	case *image.YCbCr:
		s.ycc = true
		// Chroma sits at x>>cshift along a row for every ratio Go's decoder produces.
		cshift := 0
		switch m.SubsampleRatio {
		case image.YCbCrSubsampleRatio422, image.YCbCrSubsampleRatio420:
			cshift = 1
		case image.YCbCrSubsampleRatio411, image.YCbCrSubsampleRatio410:
			cshift = 2
		}
		s.row = func(y int, c0, c1, c2, _ []float32) {
			yi := m.YOffset(b.Min.X, b.Min.Y+y)
			ci := m.COffset(b.Min.X, b.Min.Y+y)
			cx0 := b.Min.X >> cshift
			ys := m.Y[yi : yi+s.w]
			for x, v := range ys {
				k := ci + (b.Min.X+x)>>cshift - cx0
				c0[x], c1[x], c2[x] = float32(v), float32(m.Cb[k]), float32(m.Cr[k])
			}
		}
	case *image.Gray:
		s.ycc = true
		s.row = func(y int, c0, c1, c2, _ []float32) {
			off := m.PixOffset(b.Min.X, b.Min.Y+y)
			for x := range s.w {
				c0[x], c1[x], c2[x] = float32(m.Pix[off+x]), 128, 128
			}
		}
	case *image.RGBA:
		s.row = func(y int, c0, c1, c2, _ []float32) {
			off := m.PixOffset(b.Min.X, b.Min.Y+y)
			for x := range s.w {
				p := m.Pix[off+4*x : off+4*x+4 : off+4*x+4]
				c0[x], c1[x], c2[x] = float32(p[0]), float32(p[1]), float32(p[2])
			}
		}
	case *image.NRGBA:
		// Straight (non-premultiplied) colour: what a program that drops the alpha channel shows.
		s.alpha = true
		s.row = func(y int, c0, c1, c2, a []float32) {
			off := m.PixOffset(b.Min.X, b.Min.Y+y)
			for x := range s.w {
				p := m.Pix[off+4*x : off+4*x+4 : off+4*x+4]
				c0[x], c1[x], c2[x], a[x] = float32(p[0]), float32(p[1]), float32(p[2]), float32(p[3])/255
			}
		}
	case *image.NRGBA64:
		s.alpha = true
		s.row = func(y int, c0, c1, c2, a []float32) {
			off := m.PixOffset(b.Min.X, b.Min.Y+y)
			for x := range s.w {
				p := m.Pix[off+8*x : off+8*x+8 : off+8*x+8]
				c0[x], c1[x], c2[x], a[x] = float32(p[0]), float32(p[2]), float32(p[4]), float32(p[6])/255
			}
		}
	case *image.CMYK:
		s.row = func(y int, c0, c1, c2, _ []float32) {
			off := m.PixOffset(b.Min.X, b.Min.Y+y)
			for x := range s.w {
				p := m.Pix[off+4*x : off+4*x+4 : off+4*x+4]
				r, g, bb := color.CMYKToRGB(p[0], p[1], p[2], p[3])
				c0[x], c1[x], c2[x] = float32(r), float32(g), float32(bb)
			}
		}
	case *image.Paletted:
		var pal [256][4]float32
		for i, c := range m.Palette {
			n := color.NRGBAModel.Convert(c).(color.NRGBA)
			pal[i] = [4]float32{float32(n.R), float32(n.G), float32(n.B), float32(n.A) / 255}
		}
		s.alpha = true
		s.row = func(y int, c0, c1, c2, a []float32) {
			off := m.PixOffset(b.Min.X, b.Min.Y+y)
			for x := range s.w {
				p := pal[m.Pix[off+x]]
				c0[x], c1[x], c2[x], a[x] = p[0], p[1], p[2], p[3]
			}
		}
	default:
		// Gray16, RGBA64 and anything else: the general interface, without allocating.
		rgba64, ok := img.(image.RGBA64Image)
		s.alpha = true
		s.row = func(y int, c0, c1, c2, a []float32) {
			for x := range s.w {
				var c color.RGBA64
				if ok {
					c = rgba64.RGBA64At(b.Min.X+x, b.Min.Y+y)
				} else {
					r, g, bb, aa := img.At(b.Min.X+x, b.Min.Y+y).RGBA()
					c = color.RGBA64{uint16(r), uint16(g), uint16(bb), uint16(aa)}
				}
				c0[x], c1[x], c2[x], a[x] = float32(c.R)/257, float32(c.G)/257, float32(c.B)/257, float32(c.A)/65535
			}
		}
	}
	return s
}

// analysisSize is the size of the working copy for a w×h image: the shorter side brought down
// to AnalysisSide (never up), the longer side to at most 4×AnalysisSide.
func analysisSize(w, h int) (int, int) {
	s := math.Min(1, float64(AnalysisSide)/float64(min(w, h)))
	s = math.Min(s, float64(4*AnalysisSide)/float64(max(w, h)))
	return max(1, int(math.Round(float64(w)*s))), max(1, int(math.Round(float64(h)*s)))
}

// spans maps each source index of a 1-D box (area-average) resampling from n to m ≤ n samples:
// source sample i covers [i, i+1) and lands in destination sample d[i] with weight w[i] and in
// d[i]+1 with weight 1-w[i]. Every destination sample receives a total weight of n/m.
func spans(n, m int) (d []int32, w []float32) {
	d, w = make([]int32, n), make([]float32, n)
	scale := float64(m) / float64(n)
	for i := range n {
		lo, hi := float64(i)*scale, float64(i+1)*scale
		k := int(lo)
		if k >= m-1 || hi <= float64(k+1) {
			d[i], w[i] = int32(min(k, m-1)), 1
			continue
		}
		d[i], w[i] = int32(k), float32((float64(k+1)-lo)/scale)
	}
	return d, w
}

// downscale streams the image once, row by row: it box-filters it down to the working size (an
// area average, so fine detail is averaged rather than aliased, which matters for the
// sharpness measure) and measures what only the full resolution shows (8×8 blocking,
// transparency). Memory: the working copy plus a few rows.
func downscale(src rowSource, dw, dh int) (*work, fullResStats) {
	sw, sh := src.w, src.h
	acc := [3][]float32{make([]float32, dw*dh), make([]float32, dw*dh), make([]float32, dw*dh)}
	xd, xw := spans(sw, dw)
	yd, yw := spans(sh, dh)
	var rows [3][]float32
	var hrow [3][]float32
	for c := range 3 {
		rows[c] = make([]float32, sw)
		hrow[c] = make([]float32, dw)
	}
	alpha := make([]float32, sw)
	luma, prev := make([]float32, sw), make([]float32, sw)
	var blk blockMeter
	var opaqueShort int64
	for y := range sh {
		src.row(y, rows[0], rows[1], rows[2], alpha)
		if src.alpha {
			for _, a := range alpha {
				if a < 0.999 {
					opaqueShort++
				}
			}
		}
		if src.ycc {
			copy(luma, rows[0])
		} else {
			for x := range sw {
				luma[x] = 0.299*rows[0][x] + 0.587*rows[1][x] + 0.114*rows[2][x]
			}
		}
		blk.row(luma, prev, y)
		luma, prev = prev, luma

		for c := range 3 {
			hr := hrow[c]
			clear(hr)
			for x, v := range rows[c] {
				k, wt := xd[x], xw[x]
				hr[k] += v * wt
				if wt < 1 {
					hr[k+1] += v * (1 - wt)
				}
			}
			k, wt := int(yd[y]), yw[y]
			dst := acc[c][k*dw : (k+1)*dw]
			for i, v := range hr {
				dst[i] += v * wt
			}
			if wt < 1 {
				dst = acc[c][(k+1)*dw : (k+2)*dw]
				for i, v := range hr {
					dst[i] += v * (1 - wt)
				}
			}
		}
	}
	norm := float32(float64(dw) * float64(dh) / (float64(sw) * float64(sh)))
	// The sums become R, G and B in place: each pixel's three sums are read before its
	// colour is written, so only the luma plane is new.
	wk := &work{w: dw, h: dh, y: make([]float32, dw*dh), r: acc[0], g: acc[1], b: acc[2]}
	for i := range wk.y {
		c0, c1, c2 := acc[0][i]*norm, acc[1][i]*norm, acc[2][i]*norm
		if src.ycc {
			cb, cr := c1-128, c2-128
			wk.y[i] = c0
			wk.r[i] = clamp255(c0 + 1.402*cr)
			wk.g[i] = clamp255(c0 - 0.344136*cb - 0.714136*cr)
			wk.b[i] = clamp255(c0 + 1.772*cb)
		} else {
			wk.r[i], wk.g[i], wk.b[i] = c0, c1, c2
			wk.y[i] = 0.299*c0 + 0.587*c1 + 0.114*c2
		}
	}
	return wk, fullResStats{blockiness: blk.value(), transparent: float64(opaqueShort) / (float64(sw) * float64(sh))}
}

func clamp255(v float32) float32 { return min(max(v, 0), 255) }

// blockMeter measures JPEG-style blocking: the mean absolute luma step between neighbouring
// pixels, by position modulo 8, across columns and across rows. In a natural image the eight
// phases are alike; heavy block-based compression makes one phase (the block boundary) stand out.
// The result compares the largest phase with the second largest, so periodic patterns of other
// periods (2× or 4× upscaling) do not count. After Wang, Bovik and Evans, "Blind measurement of
// blocking artifacts in images" (ICIP 2000), simplified.
type blockMeter struct {
	h, v   [8]float64
	hn, vn [8]float64
}

func (m *blockMeter) row(cur, prev []float32, y int) {
	abs := func(v float32) float32 { return math.Float32frombits(math.Float32bits(v) &^ (1 << 31)) }
	// Steps between x and x+1, accumulated by x mod 8; unrolled by eight so that the eight
	// sums live in registers.
	var h0, h1, h2, h3, h4, h5, h6, h7 float32
	x := 0
	for ; x+8 < len(cur); x += 8 {
		c := cur[x : x+9 : x+9]
		h0 += abs(c[1] - c[0])
		h1 += abs(c[2] - c[1])
		h2 += abs(c[3] - c[2])
		h3 += abs(c[4] - c[3])
		h4 += abs(c[5] - c[4])
		h5 += abs(c[6] - c[5])
		h6 += abs(c[7] - c[6])
		h7 += abs(c[8] - c[7])
	}
	h := [8]float32{h0, h1, h2, h3, h4, h5, h6, h7}
	for ; x+1 < len(cur); x++ {
		h[x&7] += abs(cur[x+1] - cur[x])
	}
	for p := range 8 {
		m.h[p] += float64(h[p])
		m.hn[p] += float64((len(cur) - 1 - p + 7) / 8)
	}
	if y == 0 {
		return
	}
	var s0, s1, s2, s3 float32
	x = 0
	for ; x+4 <= len(cur); x += 4 {
		c, p := cur[x:x+4:x+4], prev[x:x+4:x+4]
		s0 += abs(c[0] - p[0])
		s1 += abs(c[1] - p[1])
		s2 += abs(c[2] - p[2])
		s3 += abs(c[3] - p[3])
	}
	for ; x < len(cur); x++ {
		s0 += abs(cur[x] - prev[x])
	}
	m.v[(y-1)&7] += float64(s0 + s1 + s2 + s3)
	m.vn[(y-1)&7] += float64(len(cur))
}

func (m *blockMeter) value() float64 {
	ratio := func(sum, n [8]float64) float64 {
		var first, second float64
		for p := range 8 {
			if n[p] == 0 {
				return 1
			}
			v := sum[p] / n[p]
			if v > first {
				first, second = v, first
			} else if v > second {
				second = v
			}
		}
		const eps = 0.5 // luma levels: keeps flat images (tiny steps everywhere) near 1
		return (first + eps) / (second + eps)
	}
	return math.Min(ratio(m.h, m.hn), ratio(m.v, m.vn))
}

// orient turns the working copy upright according to the EXIF orientation.
func (wk *work) orient(o int) *work {
	if o <= 1 || o > 8 {
		return wk
	}
	w, h := wk.w, wk.h
	out := &work{w: w, h: h}
	if o >= 5 {
		out.w, out.h = h, w
	}
	planes := [][2][]float32{{wk.y, nil}, {wk.r, nil}, {wk.g, nil}, {wk.b, nil}}
	for i := range planes {
		planes[i][1] = make([]float32, w*h)
	}
	for y := range h {
		for x := range w {
			dx, dy := UprightPoint(o, x, y, w, h)
			for _, p := range planes {
				p[1][dy*out.w+dx] = p[0][y*w+x]
			}
		}
	}
	out.y, out.r, out.g, out.b = planes[0][1], planes[1][1], planes[2][1], planes[3][1]
	return out
}

// rgba returns the working copy as an image, for a FaceDetector.
func (wk *work) rgba() *image.RGBA {
	m := image.NewRGBA(image.Rect(0, 0, wk.w, wk.h))
	for i := range wk.y {
		m.Pix[4*i+0] = uint8(wk.r[i] + 0.5)
		m.Pix[4*i+1] = uint8(wk.g[i] + 0.5)
		m.Pix[4*i+2] = uint8(wk.b[i] + 0.5)
		m.Pix[4*i+3] = 255
	}
	return m
}
