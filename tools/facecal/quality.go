package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/avatar-pipeline/avatar-pipeline/internal/portrait"
	"golang.org/x/image/draw"
)

// runQuality prints the portrait package's quality metrics for a set of photos and for degraded
// copies of them, to place and re-check the thresholds of internal/portrait/README.md. Each photo
// is turned upright, scaled so its shorter side is 1024 pixels and centre-cropped to a square (so
// that every copy passes the hard rules), then measured as it is and after each degradation of
// variants: one line per photo and variant with -v, then the 5th, 50th and 95th percentiles of
// each metric per variant.
func runQuality(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("quality", flag.ContinueOnError)
	verbose := fs.Bool("v", false, "print a line per photo and variant")
	only := fs.String("only", "", "comma-separated variants to run (default: all)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return errors.New("no photos given (usage: facecal quality [-v] [-only VARIANTS] PHOTO...)")
	}
	byVariant := map[string][]*portrait.Metrics{}
	var order []string
	for _, path := range fs.Args() {
		img, err := readImage(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			continue
		}
		base := square(img, 1024)
		for _, v := range variants {
			if *only != "" && !slices.Contains(strings.Split(*only, ","), v.name) {
				continue
			}
			data := v.apply(base)
			rep, err := portrait.Check(bytes.NewReader(data), int64(len(data)), portrait.Policy{})
			if err != nil || rep.Metrics == nil {
				fmt.Fprintf(os.Stderr, "%s %s: %v %v\n", path, v.name, err, rep.Reasons)
				continue
			}
			if _, seen := byVariant[v.name]; !seen {
				order = append(order, v.name)
			}
			byVariant[v.name] = append(byVariant[v.name], rep.Metrics)
			if *verbose {
				m := rep.Metrics
				fmt.Fprintf(stdout, "%-40s %-10s bright=%5.1f p95=%5.1f subject=%5.1f subjhigh=%.3f sd=%5.1f contrast=%5.1f shadows=%.3f highlights=%.3f sharp=%7.1f global=%7.1f colour=%5.1f sat=%.2f block=%.3f q=%3d border=%.3f warn=%v\n",
					filepath.Base(path), v.name, m.Brightness, m.LumaP95, m.SubjectBrightness, m.SubjectHighlights, m.LumaStdDev, m.Contrast, m.Shadows, m.Highlights, m.Sharpness, m.SharpnessGlobal, m.Colorfulness, m.Saturation, m.Blockiness, m.JPEGQuality, m.BorderEdges, rep.WarningCodes)
			}
		}
	}
	percentiles(stdout, order, byVariant)
	return nil
}

// percentiles prints, for each variant in order, the 5th, 50th and 95th percentiles of each
// metric.
func percentiles(w io.Writer, order []string, byVariant map[string][]*portrait.Metrics) {
	fields := []struct {
		name string
		get  func(*portrait.Metrics) float64
	}{
		{"brightness", func(m *portrait.Metrics) float64 { return m.Brightness }},
		{"contrast", func(m *portrait.Metrics) float64 { return m.Contrast }},
		{"highlights", func(m *portrait.Metrics) float64 { return m.Highlights }},
		{"subject", func(m *portrait.Metrics) float64 { return m.SubjectBrightness }},
		{"subj_high", func(m *portrait.Metrics) float64 { return m.SubjectHighlights }},
		{"sharpness", func(m *portrait.Metrics) float64 { return m.Sharpness }},
		{"sharp_global", func(m *portrait.Metrics) float64 { return m.SharpnessGlobal }},
		{"colorfulness", func(m *portrait.Metrics) float64 { return m.Colorfulness }},
		{"blockiness", func(m *portrait.Metrics) float64 { return m.Blockiness }},
		{"jpeg_quality", func(m *portrait.Metrics) float64 { return float64(m.JPEGQuality) }},
		{"border_edges", func(m *portrait.Metrics) float64 { return m.BorderEdges }},
	}
	fmt.Fprintf(w, "%-12s", "variant (n)")
	for _, f := range fields {
		fmt.Fprintf(w, " %20s", f.name)
	}
	fmt.Fprintln(w)
	for _, name := range order {
		ms := byVariant[name]
		fmt.Fprintf(w, "%-12s", fmt.Sprintf("%s (%d)", name, len(ms)))
		for _, f := range fields {
			vals := make([]float64, len(ms))
			for i, m := range ms {
				vals[i] = f.get(m)
			}
			sort.Float64s(vals)
			q := func(p float64) float64 { return vals[min(len(vals)-1, int(p*float64(len(vals))))] }
			fmt.Fprintf(w, " %6.3g/%6.3g/%6.3g", q(0.05), q(0.5), q(0.95))
		}
		fmt.Fprintln(w)
	}
}

// square crops the centre square of img and scales it to side × side pixels.
func square(img image.Image, side int) *image.RGBA {
	b := img.Bounds()
	n := min(b.Dx(), b.Dy())
	crop := image.Rect(0, 0, n, n).Add(b.Min).Add(image.Pt((b.Dx()-n)/2, (b.Dy()-n)/2))
	out := image.NewRGBA(image.Rect(0, 0, side, side))
	draw.CatmullRom.Scale(out, out.Bounds(), img, crop, draw.Src, nil)
	return out
}

// variant is one degradation: apply returns the degraded copy as a JPEG.
type variant struct {
	name  string
	apply func(*image.RGBA) []byte
}

var variants = []variant{
	{"original", func(m *image.RGBA) []byte { return encode(m, 95) }},
	{"blur1", func(m *image.RGBA) []byte { return encode(blur(m, 1), 95) }},
	{"blur2", func(m *image.RGBA) []byte { return encode(blur(m, 2), 95) }},
	{"blur3", func(m *image.RGBA) []byte { return encode(blur(m, 3), 95) }},
	{"blur4", func(m *image.RGBA) []byte { return encode(blur(m, 4), 95) }},
	{"dark", func(m *image.RGBA) []byte { return encode(exposure(m, -2), 95) }},
	{"dark3", func(m *image.RGBA) []byte { return encode(exposure(m, -3), 95) }},
	{"bright", func(m *image.RGBA) []byte { return encode(exposure(m, 1.5), 95) }},
	{"bright2", func(m *image.RGBA) []byte { return encode(exposure(m, 2), 95) }},
	{"haze", func(m *image.RGBA) []byte { return encode(haze(m, 0.6), 95) }},
	{"haze75", func(m *image.RGBA) []byte { return encode(haze(m, 0.75), 95) }},
	{"sidelit", func(m *image.RGBA) []byte { return encode(sideLight(m, 3), 95) }},
	{"sidelit2", func(m *image.RGBA) []byte { return encode(sideLight(m, 2), 95) }},
	{"backlit", func(m *image.RGBA) []byte { return encode(backlight(m, 2.5), 95) }},
	{"gray", func(m *image.RGBA) []byte { return encode(gray(m), 95) }},
	{"q10", func(m *image.RGBA) []byte { return encode(m, 10) }},
	{"q20", func(m *image.RGBA) []byte { return encode(m, 20) }},
	{"q35", func(m *image.RGBA) []byte { return encode(m, 35) }},
	{"q50", func(m *image.RGBA) []byte { return encode(m, 50) }},
	{"q75", func(m *image.RGBA) []byte { return encode(m, 75) }},
	{"q20resave", func(m *image.RGBA) []byte { return resave(m, 20) }},
	{"up2x", func(m *image.RGBA) []byte { return encode(upscale(m), 95) }},
}

func encode(m image.Image, q int) []byte {
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, m, &jpeg.Options{Quality: q}); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// resave compresses at quality q, decodes and saves again at 95: blocking with good tables.
func resave(m *image.RGBA, q int) []byte {
	img, err := jpeg.Decode(bytes.NewReader(encode(m, q)))
	if err != nil {
		panic(err)
	}
	return encode(img, 95)
}

func mapRGB(m *image.RGBA, f func(x, y int, c [3]float64) [3]float64) *image.RGBA {
	out := image.NewRGBA(m.Bounds())
	for y := range m.Bounds().Dy() {
		for x := range m.Bounds().Dx() {
			i := m.PixOffset(x, y)
			c := f(x, y, [3]float64{float64(m.Pix[i]), float64(m.Pix[i+1]), float64(m.Pix[i+2])})
			for k := range 3 {
				out.Pix[i+k] = uint8(math.Round(min(max(c[k], 0), 255)))
			}
			out.Pix[i+3] = 255
		}
	}
	return out
}

// linear maps an 8-bit sRGB channel value to linear light (0–1).
var linear = func() (t [256]float64) {
	for i := range t {
		c := float64(i) / 255
		if c <= 0.04045 {
			t[i] = c / 12.92
		} else {
			t[i] = math.Pow((c+0.055)/1.055, 2.4)
		}
	}
	return t
}()

func fromLinear(l float64) float64 {
	l = min(max(l, 0), 1)
	if l <= 0.0031308 {
		return 255 * 12.92 * l
	}
	return 255 * (1.055*math.Pow(l, 1/2.4) - 0.055)
}

// relight multiplies each pixel's linear light by gain(x, y), clipping at white.
func relight(m *image.RGBA, gain func(x, y int) float64) *image.RGBA {
	return mapRGB(m, func(x, y int, c [3]float64) [3]float64 {
		k := gain(x, y)
		for i := range c {
			c[i] = fromLinear(linear[int(c[i])] * k) // c holds the pixel's 8-bit values
		}
		return c
	})
}

// exposure changes exposure by the given stops.
func exposure(m *image.RGBA, stops float64) *image.RGBA {
	k := math.Pow(2, stops)
	return relight(m, func(_, _ int) float64 { return k })
}

// haze blends the picture with mid-gray: a of gray, 1-a of the picture.
func haze(m *image.RGBA, a float64) *image.RGBA {
	return mapRGB(m, func(_, _ int, c [3]float64) [3]float64 {
		for i := range c {
			c[i] = (1-a)*c[i] + a*128
		}
		return c
	})
}

// sideLight darkens the picture from full light at the left edge to -stops at the right edge.
func sideLight(m *image.RGBA, stops float64) *image.RGBA {
	w := float64(m.Bounds().Dx())
	return relight(m, func(x, _ int) float64 { return math.Pow(2, -stops*float64(x)/w) })
}

// backlight darkens the centre by the given stops, fading to none at the edges: a subject
// against a bright window.
func backlight(m *image.RGBA, stops float64) *image.RGBA {
	w, h := float64(m.Bounds().Dx()), float64(m.Bounds().Dy())
	return relight(m, func(x, y int) float64 {
		dx, dy := (float64(x)-w/2)/(w/2), (float64(y)-h/2)/(h/2)
		return math.Pow(2, -stops*max(0, 1-math.Sqrt(dx*dx+dy*dy)))
	})
}

func gray(m *image.RGBA) *image.RGBA {
	return mapRGB(m, func(_, _ int, c [3]float64) [3]float64 {
		y := 0.299*c[0] + 0.587*c[1] + 0.114*c[2]
		return [3]float64{y, y, y}
	})
}

func upscale(m *image.RGBA) *image.RGBA {
	b := m.Bounds()
	half := image.NewRGBA(image.Rect(0, 0, b.Dx()/2, b.Dy()/2))
	draw.CatmullRom.Scale(half, half.Bounds(), m, b, draw.Src, nil)
	out := image.NewRGBA(b)
	draw.NearestNeighbor.Scale(out, b, half, half.Bounds(), draw.Src, nil)
	return out
}

// blur applies a separable Gaussian blur of standard deviation sigma pixels.
func blur(m *image.RGBA, sigma float64) *image.RGBA {
	r := int(math.Ceil(3 * sigma))
	k := make([]float64, 2*r+1)
	var sum float64
	for i := range k {
		d := float64(i - r)
		k[i] = math.Exp(-d * d / (2 * sigma * sigma))
		sum += k[i]
	}
	for i := range k {
		k[i] /= sum
	}
	w, h := m.Bounds().Dx(), m.Bounds().Dy()
	tmp := make([][3]float64, w*h)
	for y := range h {
		for x := range w {
			var c [3]float64
			for i, kv := range k {
				xx := min(max(x+i-r, 0), w-1)
				p := m.PixOffset(xx, y)
				for ch := range 3 {
					c[ch] += kv * float64(m.Pix[p+ch])
				}
			}
			tmp[y*w+x] = c
		}
	}
	return mapRGB(m, func(x, y int, _ [3]float64) [3]float64 {
		var c [3]float64
		for i, kv := range k {
			yy := min(max(y+i-r, 0), h-1)
			for ch := range 3 {
				c[ch] += kv * tmp[yy*w+x][ch]
			}
		}
		return c
	})
}
