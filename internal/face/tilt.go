package face

import (
	"image"
	"math"

	"github.com/avatar-pipeline/avatar-pipeline/internal/face/cascade"
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
		plain, eq := rotate(s.plain, deg), rotate(s.eq, deg)
		for _, c := range d.candidates(plain, eq, minSide) {
			inFull := scaleRect(c.box, s.k).Intersect(s.full.Rect)
			c.eyes = d.countEyes(rotateRect(s.full, inFull, deg), inFull)
			if !tiltAccepted(c) && !(accepted(c) && tiltAccepted(d.refined(plain, eq, c))) {
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
// was found, on pictures that often hold none, where the cascades' false finds weigh most. A
// candidate that passes accepted but not tiltAccepted gets a second look (refined).
func tiltAccepted(c candidate) bool {
	return c.haar > 0 && c.lbp > 0 || max(c.haar, c.lbp) >= haarSure && c.eyes > 0
}

// fineScale is the scale factor of the second look at a rotated candidate: the coarser
// scaleFactor can fall between the sizes at which a tilted face's windows fire.
const fineScale = 1.05

// refined searches the neighbourhood of a rotated candidate again, at fineScale and sizes
// within a third of its own, and returns it with the windows each cascade then groups about its
// box. It is the second look given to a candidate that the upright rule keeps but tiltAccepted
// does not: a tilted face found weakly at the coarse scale step is found firmly at the fine one,
// a false find is not (in calibration a face tilted about 35° went from 2 LBP windows to 5, and a
// page of text from 2 to none).
func (d *Detector) refined(plain, eq *image.Gray, c candidate) candidate {
	r := scaleAbout(c.box, 1.6).Intersect(plain.Rect)
	out := candidate{box: c.box, eyes: c.eyes}
	windows := func(cc *cascade.Cascade, img *image.Gray, k float64) int {
		lo, hi := int(0.75*float64(c.box.Dy())/k), int(1.33*float64(c.box.Dy())/k)
		p := cascade.Params{ScaleFactor: fineScale, MinNeighbors: 1, Step: step,
			MinSize: image.Pt(0, lo), MaxSize: image.Pt(hi, hi)}
		boxes, weights := cc.Detect(crop(img, r), p)
		n := 0
		for i, b := range boxes {
			if iou(scaleAbout(b.Add(r.Min), k), c.box) > 0.3 {
				n = max(n, weights[i])
			}
		}
		return n
	}
	out.haar = windows(d.haar, plain, 1)
	out.lbp = windows(d.lbp, eq, lbpToHaar)
	return out
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
