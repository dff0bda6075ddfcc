package main

import (
	"bufio"
	"fmt"
	"image"
	"math"
	"os"
	"strings"

	"github.com/avatar-pipeline/avatar-pipeline/internal/portrait"
	xdraw "golang.org/x/image/draw"
)

// photo is one line of photos.tsv.
type photo struct {
	label, skin, repo, path, note string
}

// readLabels reads photos.tsv: label, skin tone, repository, path in it, note; tab-separated,
// "-" for none, "#" starts a comment line.
func readLabels(name string) ([]photo, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []photo
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		p := strings.Split(line, "\t")
		if len(p) != 5 {
			return nil, fmt.Errorf("%s:%d: %d fields, want 5", name, n, len(p))
		}
		out = append(out, photo{p[0], p[1], p[2], p[3], p[4]})
	}
	return out, sc.Err()
}

// scaled scales img as the portrait checks do before calling the detector: the shorter side to
// side pixels, 512 for the working copy (here also up, for the few smaller calibration photos),
// the longer side kept in proportion.
func scaled(img image.Image, side int) *image.RGBA {
	b := img.Bounds()
	k := float64(side) / float64(min(b.Dx(), b.Dy()))
	w, h := int(math.Round(float64(b.Dx())*k)), int(math.Round(float64(b.Dy())*k))
	out := image.NewRGBA(image.Rect(0, 0, w, h))
	xdraw.BiLinear.Scale(out, out.Rect, img, b, xdraw.Src, nil)
	return out
}

// orient turns img upright according to the EXIF orientation o, as the portrait checks do (1 or
// anything outside 1–8 leaves it as it is).
func orient(img image.Image, o int) image.Image {
	if o < 2 || o > 8 {
		return img
	}
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	ow, oh := w, h
	if o >= 5 {
		ow, oh = h, w
	}
	out := image.NewRGBA(image.Rect(0, 0, ow, oh))
	for y := range h {
		for x := range w {
			dx, dy := portrait.UprightPoint(o, x, y, w, h)
			out.Set(dx, dy, img.At(b.Min.X+x, b.Min.Y+y))
		}
	}
	return out
}
