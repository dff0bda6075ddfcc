package cascade

import (
	"image"
	"reflect"
	"testing"
)

// TestGroup's expected boxes and weights are what OpenCV 4.6's cv2.groupRectangles returns for
// the same rectangles.
func TestGroup(t *testing.T) {
	r := func(x, y, s int) image.Rectangle { return image.Rect(x, y, x+s, y+s) }
	for _, tc := range []struct {
		name         string
		rects        []image.Rectangle
		minNeighbors int
		want         []image.Rectangle
		weights      []int
	}{
		{"no grouping asked", []image.Rectangle{r(0, 0, 10), r(1, 1, 10)}, 0,
			[]image.Rectangle{r(0, 0, 10), r(1, 1, 10)}, []int{1, 1}},
		{"three close windows average", []image.Rectangle{r(100, 100, 50), r(104, 102, 52), r(102, 98, 48)}, 2,
			[]image.Rectangle{r(102, 100, 50)}, []int{3}},
		{"too few neighbours", []image.Rectangle{r(100, 100, 50), r(104, 102, 52)}, 2, nil, nil},
		{"two faces stay apart", []image.Rectangle{r(0, 0, 40), r(2, 0, 40), r(200, 0, 40), r(201, 1, 40)}, 1,
			[]image.Rectangle{r(1, 0, 40), r(200, 0, 40)}, []int{2, 2}},
		// A chain of windows each close to the next falls in one group, as with cv::partition.
		{"chain", []image.Rectangle{r(0, 0, 50), r(9, 0, 50), r(18, 0, 50)}, 2,
			[]image.Rectangle{r(9, 0, 50)}, []int{3}},
		{"small group inside a strong one is dropped",
			append(repeat(r(100, 100, 100), 6), r(130, 130, 30), r(131, 130, 30)), 1,
			[]image.Rectangle{r(100, 100, 100)}, []int{6}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, weights := Group(tc.rects, tc.minNeighbors, 0.2)
			if !reflect.DeepEqual(got, tc.want) || !reflect.DeepEqual(weights, tc.weights) {
				t.Errorf("got %v %v, want %v %v", got, weights, tc.want, tc.weights)
			}
		})
	}
}

func repeat(r image.Rectangle, n int) []image.Rectangle {
	out := make([]image.Rectangle, n)
	for i := range out {
		out[i] = r
	}
	return out
}
