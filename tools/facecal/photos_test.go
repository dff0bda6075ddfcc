package main

import (
	"image"
	"image/color"
	"testing"
)

// TestOrient checks orient against the EXIF definitions on a 3×2 picture whose pixels are all
// different: where its top-left pixel lands, and the size.
func TestOrient(t *testing.T) {
	src := image.NewGray(image.Rect(0, 0, 3, 2))
	for i := range src.Pix {
		src.Pix[i] = uint8(10 * (i + 1)) // 10 20 30 / 40 50 60
	}
	for _, tc := range []struct {
		o    int
		w, h int
		rows [][]uint8
	}{
		{1, 3, 2, [][]uint8{{10, 20, 30}, {40, 50, 60}}},
		{2, 3, 2, [][]uint8{{30, 20, 10}, {60, 50, 40}}},
		{3, 3, 2, [][]uint8{{60, 50, 40}, {30, 20, 10}}},
		{4, 3, 2, [][]uint8{{40, 50, 60}, {10, 20, 30}}},
		{5, 2, 3, [][]uint8{{10, 40}, {20, 50}, {30, 60}}},
		{6, 2, 3, [][]uint8{{40, 10}, {50, 20}, {60, 30}}},
		{7, 2, 3, [][]uint8{{60, 30}, {50, 20}, {40, 10}}},
		{8, 2, 3, [][]uint8{{30, 60}, {20, 50}, {10, 40}}},
	} {
		got := orient(src, tc.o)
		if b := got.Bounds(); b.Dx() != tc.w || b.Dy() != tc.h {
			t.Errorf("orientation %d: got %v, want %d×%d", tc.o, b, tc.w, tc.h)
			continue
		}
		for y, row := range tc.rows {
			for x, v := range row {
				if g := color.GrayModel.Convert(got.At(x, y)).(color.Gray).Y; g != v {
					t.Errorf("orientation %d: pixel (%d,%d) is %d, want %d", tc.o, x, y, g, v)
				}
			}
		}
	}
}
