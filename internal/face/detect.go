package face

import (
	"image"
	"math"
	"slices"

	"github.com/avatar-pipeline/avatar-pipeline/internal/face/cascade"
)

// The search, as calibrated in tools/facecal (README.md there has the figures behind each value).
const (
	// searchSide is the shorter side of the copy the face cascades search. The Haar cascade's
	// 20-pixel window then finds faces down to about 6% of the picture's height (32 pixels of
	// the 512-pixel working copy): the small faces of group photos, at 40% of the cost of
	// searching the working copy itself.
	searchSide = 320
	// scaleFactor and step set the pyramid: 1.15 (OpenCV's usual 1.1 costs 30% more and found
	// no more faces in calibration), and windows 2 pixels apart at every scale (OpenCV steps
	// by 1 once the image is halved, which costs 4 times as much for nothing here).
	scaleFactor = 1.15
	step        = 2
	// lbpMinSide is the smallest window the LBP cascade searches (its own minimum is 45). It
	// confirms portrait-sized faces, where its strength is: dark skin, dim light.
	lbpMinSide = 56

	// A face needs haarSure windows of the Haar cascade, or lbpSure of the LBP one, or both
	// cascades, or weak windows of either and an eye inside. Once one face is sure, the
	// weaker Haar finds of joinHaar windows count too: the other faces of a group.
	haarSure = 3
	lbpSure  = 3
	weak     = 2
	joinHaar = 2

	// lbpToHaar scales an LBP face box, which runs from the brows to the mouth, to the Haar
	// cascade's forehead-to-chin box, so that face sizes mean the same whichever found it.
	lbpToHaar = 1.5

	// MinEyeFace is the narrowest face, in the input's pixels, that eyes are looked for in: below
	// it an eye is smaller than the eye cascade's 20-pixel window.
	MinEyeFace = 80
)

// candidate is a frontal face the cascades agree on to some degree, in search-copy pixels.
type candidate struct {
	box       image.Rectangle
	haar, lbp int // windows each cascade grouped into this box (0: not found by it)
	eyes      int
}

// search holds the copies the cascades run on: the Haar cascade normalises each window's
// contrast itself and does better on the plain copy (equalising a picture with a large flat
// background distorts the faces in it), the LBP cascade does not and needs the equalised one.
type search struct {
	plain, eq *image.Gray
	full      *image.Gray // the input's luma, where eyes are counted
	k         float64     // from search pixels to input pixels
}

// detect runs the search on the luma of the input: upright frontal faces, else tilted ones,
// else profiles.
func (d *Detector) detect(full *image.Gray) []Face {
	plain, k := shrink(full, searchSide)
	s := search{plain: plain, eq: equalize(plain), full: full, k: k}
	faces := d.frontal(s)
	if len(faces) == 0 {
		faces = d.tilted(s)
	}
	if len(faces) == 0 {
		faces = d.profiles(s)
	}
	slices.SortStableFunc(faces, func(a, b Face) int { return b.Box.Dx()*b.Box.Dy() - a.Box.Dx()*a.Box.Dy() })
	return faces
}

// params are the search parameters for faces at least minSide pixels tall.
func params(minSide int) cascade.Params {
	return cascade.Params{ScaleFactor: scaleFactor, MinNeighbors: 1, Step: step, MinSize: image.Pt(0, minSide)}
}

// frontal finds upright frontal faces: the candidates strong enough on their own and, next to
// one, the weaker Haar finds; with their eyes counted in the full-resolution luma.
func (d *Detector) frontal(s search) []Face {
	cs := d.candidates(s.plain, s.eq, 0)
	var sure, weaker []Face
	for _, c := range cs {
		box := scaleRect(c.box, s.k).Intersect(s.full.Rect)
		c.eyes = d.countEyes(s.full, box)
		f := Face{Box: box, Kind: Frontal, Eyes: c.eyes}
		switch {
		case accepted(c):
			sure = append(sure, f)
		case c.haar >= joinHaar:
			weaker = append(weaker, f)
		}
	}
	if len(sure) == 0 {
		return nil
	}
	return dropSpanning(append(sure, weaker...))
}

// accepted is the rule that keeps a candidate as a face on its own.
func accepted(c candidate) bool {
	return c.haar >= haarSure || c.lbp >= lbpSure || c.haar > 0 && c.lbp > 0 ||
		max(c.haar, c.lbp) >= weak && c.eyes > 0
}

// dropSpanning removes boxes that hold the centre of a smaller face: in a crowd the Haar
// cascade also fires on windows spanning neighbouring faces, and such a box, the largest, would
// pass for the main face with the real ones as its background. Real faces do not overlap so.
func dropSpanning(faces []Face) []Face {
	return slices.DeleteFunc(slices.Clone(faces), func(f Face) bool {
		for _, g := range faces {
			if g.Box.Dy() < f.Box.Dy() && g.Box.Min.Add(g.Box.Max).Div(2).In(f.Box) {
				return true
			}
		}
		return false
	})
}

// candidates runs the Haar cascade on plain and the LBP cascade on eq, searching faces of at
// least minSide pixels (0: the smallest the Haar cascade can see), and merges their boxes.
func (d *Detector) candidates(plain, eq *image.Gray, minSide int) []candidate {
	var cs []candidate
	boxes, weights := d.haar.Detect(plain, params(minSide))
	for i, b := range boxes {
		cs = append(cs, candidate{box: b, haar: weights[i]})
	}
	boxes, weights = d.lbp.Detect(eq, params(max(minSide, lbpMinSide)))
	for i, b := range boxes {
		b = scaleAbout(b, lbpToHaar).Intersect(eq.Rect)
		if j := overlapping(cs, b); j >= 0 {
			cs[j].lbp = max(cs[j].lbp, weights[i])
			continue
		}
		cs = append(cs, candidate{box: b, lbp: weights[i]})
	}
	return cs
}

// overlapping returns the candidate whose box mostly overlaps b, or -1.
func overlapping(cs []candidate, b image.Rectangle) int {
	for i, c := range cs {
		if iou(c.box, b) > 0.3 {
			return i
		}
	}
	return -1
}

func iou(a, b image.Rectangle) float64 {
	in := a.Intersect(b)
	if in.Empty() {
		return 0
	}
	i := float64(in.Dx() * in.Dy())
	return i / (float64(a.Dx()*a.Dy()+b.Dx()*b.Dy()) - i)
}

// countEyes looks for eyes in the upper part of a face box (brows to nose). The eye cascade
// normalises each window's contrast; equalising the band first, as for the LBP cascade, made it
// miss eyes in 16 of 122 portraits in calibration, against 4 without.
func (d *Detector) countEyes(full *image.Gray, face image.Rectangle) int {
	if face.Dx() < MinEyeFace {
		return 0
	}
	band := image.Rect(face.Min.X, face.Min.Y+face.Dy()/8, face.Max.X, face.Min.Y+face.Dy()*3/5).Intersect(full.Rect)
	if band.Empty() {
		return 0
	}
	region, k := shrink(crop(full, band), max(1, 120*band.Dy()/band.Dx())) // the face about 120 px wide
	w := float64(face.Dx()) / k
	p := cascade.Params{ScaleFactor: 1.1, MinNeighbors: 3,
		MinSize: image.Pt(int(w/8), int(w/8)), MaxSize: image.Pt(int(w/2), int(w/2))}
	eyes, _ := d.eye.Detect(region, p)
	return min(len(eyes), 2)
}

// crop copies r out of g.
func crop(g *image.Gray, r image.Rectangle) *image.Gray {
	out := image.NewGray(image.Rect(0, 0, r.Dx(), r.Dy()))
	for y := range r.Dy() {
		copy(out.Pix[y*out.Stride:(y+1)*out.Stride], g.Pix[g.PixOffset(r.Min.X, r.Min.Y+y):])
	}
	return out
}

// scaleRect maps a box from the search copy to the input by factor k.
func scaleRect(r image.Rectangle, k float64) image.Rectangle {
	f := func(v int) int { return int(math.Round(float64(v) * k)) }
	return image.Rect(f(r.Min.X), f(r.Min.Y), f(r.Max.X), f(r.Max.Y))
}

// scaleAbout grows r by factor k about its centre.
func scaleAbout(r image.Rectangle, k float64) image.Rectangle {
	cx, cy := float64(r.Min.X+r.Max.X)/2, float64(r.Min.Y+r.Max.Y)/2
	hw, hh := float64(r.Dx())*k/2, float64(r.Dy())*k/2
	return image.Rect(int(math.Round(cx-hw)), int(math.Round(cy-hh)), int(math.Round(cx+hw)), int(math.Round(cy+hh)))
}
