package face

import (
	"image"
	"math"
)

// tiltAngles are the in-plane rotations tried, in this order, when no upright face is found:
// the cascades were trained on upright faces and miss a head tilted by more than about 15°.
var tiltAngles = []float64{-15, 15, -30, 30}

// tiltMinShare is the smallest tilted or profile face searched, as a share of the search
// copy's shorter side: a portrait's face, not a crowd's; SmallFaceShare, below which a face is
// too small anyway. These searches run on pictures without an upright face, often without any
// face, so they are kept to what a portrait needs.
const tiltMinShare = SmallFaceShare

// tilted looks for frontal faces in copies of the search images rotated by tiltAngles. A face
// found there is reported upright: the box of the same size about the rotated-back centre. Its
// eyes are counted in the full-resolution luma turned the same way.
func (d *Detector) tilted(s search) []Face {
	minSide := int(tiltMinShare * float64(min(s.plain.Rect.Dx(), s.plain.Rect.Dy())))
	for _, deg := range tiltAngles {
		var faces []Face
		for _, c := range d.candidates(rotate(s.plain, deg), rotate(s.eq, deg), minSide) {
			inFull := scaleRect(c.box, s.k).Intersect(s.full.Rect)
			c.eyes = d.countEyes(rotateRect(s.full, inFull, deg), inFull)
			if !tiltAccepted(c) {
				continue
			}
			cx, cy := rotatePoint(float64(c.box.Min.X+c.box.Max.X)/2, float64(c.box.Min.Y+c.box.Max.Y)/2, s.plain.Rect, -deg)
			half := float64(c.box.Dx()) / 2
			box := image.Rect(int(cx-half), int(cy-half), int(cx+half), int(cy+half))
			faces = append(faces, Face{Box: scaleRect(box, s.k).Intersect(s.full.Rect), Kind: Frontal, Eyes: c.eyes})
		}
		if len(faces) > 0 {
			return faces
		}
	}
	return nil
}

// tiltAccepted is stricter than accepted: a rotated copy is searched only when no upright face
// was found, on pictures that often hold none, where the cascades' false finds weigh most.
func tiltAccepted(c candidate) bool {
	return c.haar > 0 && c.lbp > 0 || max(c.haar, c.lbp) >= haarSure && c.eyes > 0
}

// profiles looks for faces in profile, turned either way, in the equalised copy: the cascade
// knows faces turned to the right, so it also searches the mirrored image.
func (d *Detector) profiles(s search) []Face {
	minSide := int(tiltMinShare * float64(min(s.plain.Rect.Dx(), s.plain.Rect.Dy())))
	var faces []Face
	for _, flip := range []bool{false, true} {
		img := s.eq
		if flip {
			img = mirror(s.eq)
		}
		boxes, weights := d.profile.Detect(img, params(minSide))
		for i, b := range boxes {
			if weights[i] < profileSure {
				continue
			}
			if flip {
				w := img.Rect.Dx()
				b = image.Rect(w-b.Max.X, b.Min.Y, w-b.Min.X, b.Max.Y)
			}
			faces = append(faces, Face{Box: scaleRect(b, s.k).Intersect(s.full.Rect), Kind: Profile})
		}
	}
	return faces
}

// profileSure is the number of windows a profile face needs.
const profileSure = 4

// rotate turns g by deg degrees (counter-clockwise on screen) about its centre, bilinearly,
// keeping its size; corners that come from outside repeat the nearest edge pixel.
func rotate(g *image.Gray, deg float64) *image.Gray {
	return rotateRect(g, g.Rect, deg)
}

// rotateRect is the part r of rotate(g, deg): what the rotated picture holds there, with r's
// coordinates. Counting eyes in a tilted face needs only the face's box of the rotated
// full-resolution picture.
func rotateRect(g *image.Gray, r image.Rectangle, deg float64) *image.Gray {
	out := image.NewGray(r)
	cx, cy := float64(g.Rect.Dx())/2, float64(g.Rect.Dy())/2
	s, c := math.Sincos(deg * math.Pi / 180) // the source of each output pixel is it turned back
	for y := r.Min.Y; y < r.Max.Y; y++ {
		row := out.Pix[out.PixOffset(r.Min.X, y):]
		dy := float64(y) + 0.5 - cy
		for x := r.Min.X; x < r.Max.X; x++ {
			dx := float64(x) + 0.5 - cx
			row[x-r.Min.X] = bilinear(g, cx+dx*c-dy*s-0.5, cy+dx*s+dy*c-0.5)
		}
	}
	return out
}

// rotatePoint turns (x, y) by deg degrees about the centre of r.
func rotatePoint(x, y float64, r image.Rectangle, deg float64) (float64, float64) {
	cx, cy := float64(r.Dx())/2, float64(r.Dy())/2
	s, c := math.Sincos(-deg * math.Pi / 180) // y grows downwards
	dx, dy := x-cx, y-cy
	return cx + dx*c - dy*s, cy + dx*s + dy*c
}

func bilinear(g *image.Gray, x, y float64) uint8 {
	w, h := g.Rect.Dx(), g.Rect.Dy()
	x = math.Max(0, math.Min(x, float64(w-1)))
	y = math.Max(0, math.Min(y, float64(h-1)))
	x0, y0 := int(x), int(y)
	x1, y1 := min(x0+1, w-1), min(y0+1, h-1)
	fx, fy := x-float64(x0), y-float64(y0)
	p := func(x, y int) float64 { return float64(g.Pix[y*g.Stride+x]) }
	top := p(x0, y0)*(1-fx) + p(x1, y0)*fx
	bottom := p(x0, y1)*(1-fx) + p(x1, y1)*fx
	return uint8(top*(1-fy) + bottom*fy + 0.5)
}
