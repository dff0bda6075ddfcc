package cascade

import (
	"slices"
	"testing"
)

// The expected pixels are what OpenCV 4.6's cv2.resize(…, INTER_LINEAR_EXACT) returns.
func TestResize(t *testing.T) {
	ramp := gray{pix: make([]uint8, 8*4), stride: 8, w: 8, h: 4}
	for y := range 4 {
		for x := range 8 {
			ramp.pix[y*8+x] = uint8(10 * x)
		}
	}
	for _, tc := range []struct {
		name string
		w, h int
		want []uint8
	}{
		{"same size copies", 8, 4, ramp.pix},
		// Exact halving averages pairs: (0+10)/2 = 5, (20+30)/2 = 25, …
		{"halving", 4, 2, []uint8{5, 25, 45, 65, 5, 25, 45, 65}},
		// 8 → 3: output centres fall at input positions 0.83, 3.5 and 6.17.
		{"8 to 3", 3, 1, []uint8{8, 35, 62}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := resize(ramp, tc.w, tc.h, nil)
			if got.w != tc.w || got.h != tc.h || !slices.Equal(got.pix, tc.want) {
				t.Errorf("got %d×%d %v, want %d×%d %v", got.w, got.h, got.pix, tc.w, tc.h, tc.want)
			}
		})
	}
}

func TestLinearTapsEdges(t *testing.T) {
	// Upscaling 2 → 4: the outer output samples fall outside the input's centres and copy the
	// edge sample.
	ofs, w := linearTaps(2, 4)
	if want := []int{0, 0, 0, 1}; !slices.Equal(ofs, want) {
		t.Errorf("offsets: got %v, want %v", ofs, want)
	}
	if want := []uint32{256, 0, 192, 64, 64, 192, 256, 0}; !slices.Equal(w, want) {
		t.Errorf("weights: got %v, want %v", w, want)
	}
}
