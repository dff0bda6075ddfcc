package portrait

import (
	"image"
	"math"
	"slices"

	"github.com/avatar-pipeline/avatar-pipeline/internal/face"
)

// Metrics is the quality report. Unless noted, each number is measured on the upright working
// copy (shorter side AnalysisSide pixels, luma as BT.601 Y′ in 0–255). README.md in this
// package gives each threshold and where it comes from.
type Metrics struct {
	// AnalysedWidth and AnalysedHeight are the working copy's size.
	AnalysedWidth  int `json:"analysed_width"`
	AnalysedHeight int `json:"analysed_height"`
	// Brightness is the mean luma, 0–255.
	Brightness float64 `json:"brightness"`
	// LumaStdDev is the standard deviation of luma (RMS contrast), 0–255.
	LumaStdDev float64 `json:"luma_stddev"`
	// LumaP5 and LumaP95 are the 5th and 95th percentiles of luma; Contrast is their spread.
	LumaP5   float64 `json:"luma_p5"`
	LumaP95  float64 `json:"luma_p95"`
	Contrast float64 `json:"contrast"`
	// Shadows and Highlights are the fractions of pixels crushed to black (luma ≤ 16) and blown
	// to white (luma ≥ 250).
	Shadows    float64 `json:"shadows"`
	Highlights float64 `json:"highlights"`
	// SubjectBrightness is the mean luma of the subject: the face box when a FaceDetector found
	// one face, else the centre of the picture (the middle 40% of the width, 15–65% of the
	// height), where a portrait's face is. SubjectHighlights is the fraction of it blown to white.
	SubjectBrightness float64 `json:"subject_brightness"`
	SubjectHighlights float64 `json:"subject_highlights"`
	// LightingStops compares the left and right halves of the face box, in photographic stops
	// of linear light: +1 means the left half gets twice the light of the right, -2 a quarter.
	// Only measured when a FaceDetector found one face: over the picture's centre instead, hair,
	// clothes and background swamp the lighting (see README.md).
	LightingStops *float64 `json:"lighting_stops,omitempty"`
	// Sharpness is the variance of the Laplacian (Pech-Pacheco et al., 2000) in the sharpest
	// parts of the picture: the 90th percentile over 64×64-pixel tiles, so that a sharp face
	// before a softly blurred background counts as sharp. SharpnessGlobal is the same variance
	// over the whole picture.
	Sharpness       float64 `json:"sharpness"`
	SharpnessGlobal float64 `json:"sharpness_global"`
	// Colorfulness is Hasler and Süsstrunk's colourfulness M (2003): 0 for gray, about 15
	// "slightly", 33 "moderately", 59 "quite" and 109 "extremely" colourful.
	Colorfulness float64 `json:"colorfulness"`
	// Saturation is the mean HSV saturation, 0–1.
	Saturation float64 `json:"saturation"`
	// Blockiness is measured at full resolution: how much an 8-pixel grid stands out in the
	// luma steps (1 = not at all; see blockMeter).
	Blockiness float64 `json:"blockiness"`
	// JPEGQuality estimates the JPEG's quality setting on the IJG 1–100 scale from its
	// quantisation tables; 0 for PNG.
	JPEGQuality int `json:"jpeg_quality,omitempty"`
	// Transparent is the fraction of pixels that are not fully opaque, measured at full
	// resolution.
	Transparent float64 `json:"transparent,omitempty"`
	// BorderEdges is the fraction of edge pixels (Sobel gradient above 96) in the band along
	// the top and the upper sides of the picture, where a portrait's background shows.
	BorderEdges float64 `json:"border_edges"`
	// Faces is the number of faces the Policy's FaceDetector found; absent without one.
	Faces *int `json:"faces,omitempty"`
}

// measured is the outcome of the quality analysis: the metrics and the findings they lead to.
type measured struct {
	*Metrics
	findings []*Problem // warnings, rejections under a strict Policy
	rejects  []*Problem // rejections whatever the Policy
	faces    []FoundFace
}

// measure computes the quality report of a decoded image.
func measure(img image.Image, h *header, p Policy) measured {
	src := newRowSource(img)
	dw, dh := analysisSize(src.w, src.h)
	wk, full := downscale(src, dw, dh)
	wk = wk.orient(h.Orientation)
	m := &Metrics{
		AnalysedWidth:  wk.w,
		AnalysedHeight: wk.h,
		Blockiness:     full.blockiness,
		Transparent:    full.transparent,
	}
	if h.Format == JPEG {
		m.JPEGQuality = jpegQuality(h)
	}
	lumaStats(wk, m)
	colourStats(wk, m)
	m.Sharpness, m.SharpnessGlobal = sharpness(wk, 0.9)
	m.BorderEdges = borderEdges(wk)
	subject := image.Rect(wk.w*30/100, wk.h*15/100, wk.w*70/100, wk.h*65/100)
	var out measured
	var faceWarnings []*Problem
	if p.FaceDetector != nil {
		var box image.Rectangle
		var faces []face.Face
		faces, out.rejects, faceWarnings, box = faceFindings(p.FaceDetector, wk, m)
		kx, ky := float64(h.Width)/float64(wk.w), float64(h.Height)/float64(wk.h)
		for _, f := range faces {
			b := f.Box
			out.faces = append(out.faces, FoundFace{Kind: f.Kind, Eyes: f.Eyes,
				Box: [4]int{int(float64(b.Min.X) * kx), int(float64(b.Min.Y) * ky), int(float64(b.Max.X) * kx), int(float64(b.Max.Y) * ky)}})
		}
		if !box.Empty() {
			subject = box
			stops := lightingStops(wk, box)
			m.LightingStops = &stops
		}
	}
	m.SubjectBrightness, m.SubjectHighlights = regionBrightness(wk, subject)
	m.round()
	out.Metrics = m
	out.findings = append(qualityFindings(m, m.LightingStops != nil), faceWarnings...)
	return out
}

func lumaStats(wk *work, m *Metrics) {
	var hist [256]int
	var sum, sum2 float64
	for _, v := range wk.y {
		hist[int(clamp255(v)+0.5)]++
		sum += float64(v)
		sum2 += float64(v) * float64(v)
	}
	n := float64(len(wk.y))
	m.Brightness = sum / n
	m.LumaStdDev = math.Sqrt(max(0, sum2/n-m.Brightness*m.Brightness))
	percentile := func(q float64) float64 {
		target, seen := int(math.Ceil(q*n)), 0
		for v, c := range hist {
			seen += c
			if seen >= target {
				return float64(v)
			}
		}
		return 255
	}
	m.LumaP5, m.LumaP95 = percentile(0.05), percentile(0.95)
	m.Contrast = m.LumaP95 - m.LumaP5
	var dark, bright int
	for v := 0; v <= 16; v++ {
		dark += hist[v]
	}
	for v := 250; v <= 255; v++ {
		bright += hist[v]
	}
	m.Shadows, m.Highlights = float64(dark)/n, float64(bright)/n
}

// colourStats computes Hasler and Süsstrunk's colourfulness and the mean HSV saturation.
func colourStats(wk *work, m *Metrics) {
	var srg, syb, srg2, syb2, sat float64
	for i := range wk.r {
		r, g, b := float64(wk.r[i]), float64(wk.g[i]), float64(wk.b[i])
		rg, yb := r-g, 0.5*(r+g)-b
		srg += rg
		syb += yb
		srg2 += rg * rg
		syb2 += yb * yb
		if mx := max(r, g, b); mx > 0 {
			sat += (mx - min(r, g, b)) / mx
		}
	}
	n := float64(len(wk.r))
	mrg, myb := srg/n, syb/n
	vrg, vyb := max(0, srg2/n-mrg*mrg), max(0, syb2/n-myb*myb)
	m.Colorfulness = math.Sqrt(vrg+vyb) + 0.3*math.Sqrt(mrg*mrg+myb*myb)
	m.Saturation = sat / n
}

// sharpness returns the variance of the 4-neighbour Laplacian of luma: the q-th quantile over
// tiles of about 64×64 pixels, and over the whole picture.
func sharpness(wk *work, q float64) (tile, global float64) {
	w, h := wk.w, wk.h
	if w < 3 || h < 3 {
		return 0, 0
	}
	const tileSide = 64
	nx, ny := max(1, (w-2)/tileSide), max(1, (h-2)/tileSide)
	type acc struct{ s, s2, n float64 }
	tiles := make([]acc, nx*ny)
	var all acc
	for y := 1; y < h-1; y++ {
		ty := min(ny-1, (y-1)*ny/(h-2))
		row, up, down := wk.y[y*w:(y+1)*w], wk.y[(y-1)*w:y*w], wk.y[(y+1)*w:(y+2)*w]
		for x := 1; x < w-1; x++ {
			l := float64(row[x-1] + row[x+1] + up[x] + down[x] - 4*row[x])
			t := &tiles[ty*nx+min(nx-1, (x-1)*nx/(w-2))]
			t.s += l
			t.s2 += l * l
			t.n++
		}
	}
	vars := make([]float64, 0, len(tiles))
	for _, t := range tiles {
		all.s += t.s
		all.s2 += t.s2
		all.n += t.n
		if t.n > 0 {
			mean := t.s / t.n
			vars = append(vars, t.s2/t.n-mean*mean)
		}
	}
	slices.Sort(vars)
	mean := all.s / all.n
	return vars[min(len(vars)-1, int(q*float64(len(vars))))], all.s2/all.n - mean*mean
}

// srgbToLinear maps an 8-bit-range sRGB-encoded value to linear light (IEC 61966-2-1).
func srgbToLinear(v float32) float64 {
	c := float64(clamp255(v)) / 255
	if c <= 0.04045 {
		return c / 12.92
	}
	return math.Pow((c+0.055)/1.055, 2.4)
}

// regionBrightness returns the mean luma of r and the fraction of its pixels blown to white.
func regionBrightness(wk *work, r image.Rectangle) (mean, blown float64) {
	r = r.Intersect(image.Rect(0, 0, wk.w, wk.h))
	if r.Empty() {
		return 0, 0
	}
	var sum float64
	var n, white int
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for _, v := range wk.y[y*wk.w+r.Min.X : y*wk.w+r.Max.X] {
			sum += float64(v)
			if v >= 249.5 {
				white++
			}
			n++
		}
	}
	return sum / float64(n), float64(white) / float64(n)
}

// lightingStops compares the mean linear light of the left and right halves of r, in stops.
func lightingStops(wk *work, r image.Rectangle) float64 {
	r = r.Intersect(image.Rect(0, 0, wk.w, wk.h))
	mid := (r.Min.X + r.Max.X) / 2
	if mid <= r.Min.X || r.Max.X <= mid {
		return 0
	}
	var lut [256]float64
	for i := range lut {
		lut[i] = srgbToLinear(float32(i))
	}
	var left, right float64
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			v := lut[int(clamp255(wk.y[y*wk.w+x])+0.5)]
			if x < mid {
				left += v
			} else {
				right += v
			}
		}
	}
	left /= float64((mid - r.Min.X) * r.Dy())
	right /= float64((r.Max.X - mid) * r.Dy())
	const eps = 0.002 // a floor near black, so that two dark halves do not differ by "stops"
	return math.Log2((left + eps) / (right + eps))
}

// borderEdges is the fraction of pixels with a Sobel gradient magnitude above edgeThreshold
// in the top 12% of the picture and in the outer 12% of each side above 60% of its height: the
// background around a centred head and shoulders.
func borderEdges(wk *work) float64 {
	w, h := wk.w, wk.h
	if w < 8 || h < 8 {
		return 0
	}
	const edgeThreshold = 96
	bx, by, ySide := max(1, w*12/100), max(1, h*12/100), h*60/100
	var edges, n int
	for y := 1; y < h-1; y++ {
		for x := 1; x < w-1; x++ {
			if y >= by && (y >= ySide || x >= bx && x < w-bx) {
				continue
			}
			p := func(dx, dy int) float32 { return wk.y[(y+dy)*w+x+dx] }
			gx := p(1, -1) + 2*p(1, 0) + p(1, 1) - p(-1, -1) - 2*p(-1, 0) - p(-1, 1)
			gy := p(-1, 1) + 2*p(0, 1) + p(1, 1) - p(-1, -1) - 2*p(0, -1) - p(1, -1)
			if gx*gx+gy*gy > edgeThreshold*edgeThreshold {
				edges++
			}
			n++
		}
	}
	if n == 0 {
		return 0
	}
	return float64(edges) / float64(n)
}

// round trims the metrics to the precision they mean anything at, for a readable report.
func (m *Metrics) round() {
	r := func(v *float64, places float64) {
		p := math.Pow(10, places)
		*v = math.Round(*v*p) / p
	}
	for _, v := range []*float64{&m.Brightness, &m.LumaStdDev, &m.Contrast, &m.SubjectBrightness, &m.Sharpness, &m.SharpnessGlobal, &m.Colorfulness} {
		r(v, 1)
	}
	for _, v := range []*float64{&m.Shadows, &m.Highlights, &m.SubjectHighlights, &m.Saturation, &m.Blockiness, &m.Transparent, &m.BorderEdges} {
		r(v, 3)
	}
	if m.LightingStops != nil {
		r(m.LightingStops, 2)
	}
}
