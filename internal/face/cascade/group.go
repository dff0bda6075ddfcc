package cascade

import (
	"image"
	"math"
)

// Group merges overlapping raw detections as OpenCV's groupRectangles does: windows whose
// corners are within eps × their mean size of each other fall in one group; a group with more
// than minNeighbors windows becomes their average box, unless it lies inside a stronger group's
// box. It returns the boxes and how many windows each averages. With minNeighbors ≤ 0 the windows
// are returned as they are.
func Group(rects []image.Rectangle, minNeighbors int, eps float64) ([]image.Rectangle, []int) {
	if minNeighbors <= 0 || len(rects) == 0 {
		weights := make([]int, len(rects))
		for i := range weights {
			weights[i] = 1
		}
		return append([]image.Rectangle(nil), rects...), weights
	}
	labels, n := partition(rects, eps)
	sums := make([][4]int, n)
	counts := make([]int, n)
	for i, r := range rects {
		s := &sums[labels[i]]
		s[0], s[1], s[2], s[3] = s[0]+r.Min.X, s[1]+r.Min.Y, s[2]+r.Dx(), s[3]+r.Dy()
		counts[labels[i]]++
	}
	avg := make([]image.Rectangle, n)
	for i, s := range sums {
		k := 1 / float32(counts[i]) // OpenCV averages in float32
		x, y := cvRound32(float32(s[0])*k), cvRound32(float32(s[1])*k)
		avg[i] = image.Rect(x, y, x+cvRound32(float32(s[2])*k), y+cvRound32(float32(s[3])*k))
	}
	var boxes []image.Rectangle
	var weights []int
	for i, r1 := range avg {
		if counts[i] > minNeighbors && !swallowed(i, avg, counts, minNeighbors, eps) {
			boxes, weights = append(boxes, r1), append(weights, counts[i])
		}
	}
	return boxes, weights
}

// swallowed reports whether group i's box lies inside another kept group's box (grown by eps)
// that has clearly more windows: a small false face inside a real one.
func swallowed(i int, avg []image.Rectangle, counts []int, minNeighbors int, eps float64) bool {
	r1, n1 := avg[i], counts[i]
	for j, r2 := range avg {
		n2 := counts[j]
		if j == i || n2 <= minNeighbors {
			continue
		}
		dx, dy := cvRound(float64(r2.Dx())*eps), cvRound(float64(r2.Dy())*eps)
		if r1.Min.X >= r2.Min.X-dx && r1.Min.Y >= r2.Min.Y-dy &&
			r1.Max.X <= r2.Max.X+dx && r1.Max.Y <= r2.Max.Y+dy &&
			(n2 > max(3, n1) || n1 < 3) {
			return true
		}
	}
	return false
}

// partition labels the connected groups of similar rectangles (cv::partition with SimilarRects),
// numbering groups in the order their first member appears.
func partition(rects []image.Rectangle, eps float64) ([]int, int) {
	parent := make([]int, len(rects))
	for i := range parent {
		parent[i] = i
	}
	root := func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	for i := range rects {
		for j := i + 1; j < len(rects); j++ {
			if similar(rects[i], rects[j], eps) {
				parent[root(j)] = root(i)
			}
		}
	}
	labels := make([]int, len(rects))
	class := make(map[int]int)
	for i := range rects {
		r := root(i)
		if _, ok := class[r]; !ok {
			class[r] = len(class)
		}
		labels[i] = class[r]
	}
	return labels, len(class)
}

// similar is OpenCV's SimilarRects: every edge within eps × the mean of the smaller sides.
func similar(a, b image.Rectangle, eps float64) bool {
	delta := eps * float64(min(a.Dx(), b.Dx())+min(a.Dy(), b.Dy())) * 0.5
	near := func(u, v int) bool { return math.Abs(float64(u-v)) <= delta }
	return near(a.Min.X, b.Min.X) && near(a.Min.Y, b.Min.Y) && near(a.Max.X, b.Max.X) && near(a.Max.Y, b.Max.Y)
}
