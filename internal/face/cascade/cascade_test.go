package cascade

import (
	"image"
	"reflect"
	"slices"
	"testing"
)

// edgeCascade is a one-stage Haar cascade over 6×6 windows that accepts a window whose left half
// is clearly brighter than its right half: a vertical edge. Small enough to reason about, it
// runs the same code as the real models.
func edgeCascade() *Cascade {
	return &Cascade{
		Kind: Haar, Width: 6, Height: 6,
		Features: []Feature{{Rects: []Rect{
			{X: 0, Y: 0, W: 6, H: 6, Weight: -1}, // minus the whole window
			{X: 0, Y: 0, W: 3, H: 6, Weight: 2},  // plus twice the left half: left − right
		}}},
		Stages: []Stage{{Threshold: 0.5, Trees: []Tree{{
			Nodes:  []Node{{Feature: 0, Threshold: 0.05, Left: 0, Right: -1}},
			Leaves: []float32{0, 1},
		}}}},
	}
}

// spotCascade is a one-stage LBP cascade over 9×9 windows (3×3 cells of 3×3 pixels) that
// accepts a window whose centre cell is brighter than all eight around it (pattern 0; a flat
// window has pattern 255).
func spotCascade() *Cascade {
	var only0 [8]uint32
	only0[0] = 1
	return &Cascade{
		Kind: LBP, Width: 9, Height: 9,
		Features: []Feature{{Rects: []Rect{{X: 0, Y: 0, W: 3, H: 3}}}},
		Stages: []Stage{{Threshold: 0.5, Trees: []Tree{{
			Nodes:  []Node{{Feature: 0, Subset: only0, Left: 0, Right: -1}},
			Leaves: []float32{1, 0},
		}}}},
	}
}

func TestBinaryRoundTrip(t *testing.T) {
	for _, c := range []*Cascade{edgeCascade(), spotCascade()} {
		b, err := c.MarshalBinary()
		if err != nil {
			t.Fatalf("MarshalBinary: %v", err)
		}
		var got Cascade
		if err := got.UnmarshalBinary(b); err != nil {
			t.Fatalf("UnmarshalBinary: %v", err)
		}
		if !reflect.DeepEqual(&got, c) {
			t.Errorf("round trip: got %+v, want %+v", got, *c)
		}
	}
}

func TestUnmarshalRejects(t *testing.T) {
	good := edgeCascade().encode()
	bad := func(change func(c *Cascade)) []byte {
		c := edgeCascade()
		change(c)
		return c.encode() // encode does not validate: UnmarshalBinary must
	}
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"bad magic", append([]byte("XXXX"), good[4:]...)},
		{"truncated", good[:len(good)-3]},
		{"trailing bytes", append(append([]byte(nil), good...), 0)},
		{"feature out of range", bad(func(c *Cascade) { c.Stages[0].Trees[0].Nodes[0].Feature = 7 })},
		{"rectangle outside the window", bad(func(c *Cascade) { c.Features[0].Rects[1].W = 9 })},
		{"node pointing at itself", bad(func(c *Cascade) { c.Stages[0].Trees[0].Nodes[0].Right = 1 })},
		{"leaf out of range", bad(func(c *Cascade) { c.Stages[0].Trees[0].Nodes[0].Left = -5 })},
		{"one rectangle", bad(func(c *Cascade) { c.Features[0].Rects = c.Features[0].Rects[:1] })},
		{"tilted feature", bad(func(c *Cascade) { c.Features[0].Tilted = true })},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c Cascade
			if err := c.UnmarshalBinary(tc.data); err == nil {
				t.Errorf("UnmarshalBinary: got no error, want one")
			}
		})
	}
}

func TestWindowsFindsEdge(t *testing.T) {
	// Dark, with a bright block at x 10–19: its right edge, at x = 20, is the only place where a
	// window's left half is brighter than its right half (its left edge is the other way round).
	img := image.NewGray(image.Rect(0, 0, 40, 30))
	for y := range 30 {
		for x := 10; x < 20; x++ {
			img.Pix[y*img.Stride+x] = 200
		}
	}
	raw := edgeCascade().Windows(img, Params{ScaleFactor: 1.5})
	if len(raw) == 0 {
		t.Fatal("Windows: got no windows on a clear edge, want some")
	}
	for _, r := range raw {
		if r.Min.X >= 20 || r.Max.X <= 20 {
			t.Errorf("window %v does not straddle the edge at x = 20", r)
		}
	}
	boxes, weights := edgeCascade().Detect(img, Params{ScaleFactor: 1.5, MinNeighbors: 2})
	if len(boxes) != 1 || weights[0] < 3 {
		t.Errorf("Detect: got %v with weights %v, want one box grouping at least 3 windows", boxes, weights)
	}
}

func TestWindowsRefusesFlatAreas(t *testing.T) {
	// OpenCV refuses Haar windows whose standard deviation is 10 or less before any stage; a
	// cascade that would accept anything must still find nothing on a flat or nearly flat image.
	anything := edgeCascade()
	anything.Stages[0].Threshold = -1
	for _, level := range []uint8{0, 128, 255} {
		img := image.NewGray(image.Rect(0, 0, 30, 30))
		for i := range img.Pix {
			img.Pix[i] = level + uint8(i%2)*5*boolToUint8(level < 250) // ±2.5 of noise at most
		}
		if raw := anything.Windows(img, Params{ScaleFactor: 1.2}); len(raw) != 0 {
			t.Errorf("level %d: got %d windows, want none", level, len(raw))
		}
	}
}

func boolToUint8(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

func TestWindowsLBP(t *testing.T) {
	// Mid-gray with two bright 3×3 squares, at (11,11) and (21,21): the 9×9 windows at (8,8) and
	// (18,18) have them as their centre cell. At scale 1 OpenCV visits every other column and
	// skips the next one after a window the first stage rejects, so along a row it visits columns
	// 0, 4, 8 and, after the hit at 8, 10, 14, 18…; along row 18 it visits 0, 4, … 16, 20: the
	// second square is never seen.
	img := image.NewGray(image.Rect(0, 0, 30, 30))
	for i := range img.Pix {
		img.Pix[i] = 128
	}
	for _, at := range []int{11, 21} {
		for y := at; y < at+3; y++ {
			for x := at; x < at+3; x++ {
				img.Pix[y*img.Stride+x] = 220
			}
		}
	}
	raw := spotCascade().Windows(img, Params{ScaleFactor: 1.1, MaxSize: image.Pt(9, 9)})
	if want := []image.Rectangle{image.Rect(8, 8, 17, 17)}; !reflect.DeepEqual(raw, want) {
		t.Errorf("Windows: got %v, want %v", raw, want)
	}
	// With a step of 1 every row is visited and a rejection skips one column only: both squares
	// are found, by their window and the windows one pixel off (whose centre cell still holds
	// most of the square).
	raw = spotCascade().Windows(img, Params{ScaleFactor: 1.1, MaxSize: image.Pt(9, 9), Step: 1})
	for _, want := range []image.Point{{8, 8}, {18, 18}} {
		if !slices.ContainsFunc(raw, func(r image.Rectangle) bool { return r.Min == want }) {
			t.Errorf("Windows with step 1: got %v, want one at %v", raw, want)
		}
	}
	for _, r := range raw {
		if d := r.Min.Sub(image.Pt(8, 8)); d.X*d.X+d.Y*d.Y > 2 {
			if d := r.Min.Sub(image.Pt(18, 18)); d.X*d.X+d.Y*d.Y > 2 {
				t.Errorf("Windows with step 1: window %v is not at a square", r)
			}
		}
	}
}

func TestWindowsMinMaxSize(t *testing.T) {
	img := image.NewGray(image.Rect(0, 0, 40, 30))
	for y := range 30 {
		for x := 10; x < 20; x++ {
			img.Pix[y*img.Stride+x] = 200
		}
	}
	for _, tc := range []struct {
		min, max image.Point
	}{
		{image.Pt(9, 9), image.Point{}},
		{image.Point{}, image.Pt(9, 9)},
		{image.Pt(8, 8), image.Pt(14, 14)},
	} {
		for _, r := range edgeCascade().Windows(img, Params{ScaleFactor: 1.5, MinSize: tc.min, MaxSize: tc.max}) {
			if r.Dx() < tc.min.X || tc.max.X > 0 && r.Dx() > tc.max.X {
				t.Errorf("min %v max %v: got a %d-pixel window", tc.min, tc.max, r.Dx())
			}
		}
	}
}
