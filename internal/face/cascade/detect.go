package cascade

import (
	"image"
	"math"
)

// Params are detectMultiScale's parameters. The zero MinSize and MaxSize mean no bound, as in
// OpenCV.
type Params struct {
	ScaleFactor  float64     // how much each pyramid level shrinks the image; > 1 (OpenCV's default 1.1)
	MinNeighbors int         // raw detections a group needs beyond one to be kept (OpenCV's default 3)
	MinSize      image.Point // smallest window searched, in pixels of the input
	MaxSize      image.Point // largest window searched, in pixels of the input
	// Step, if positive, is the distance between windows in pyramid pixels at every scale. Zero
	// is OpenCV's rule: 2 until the image is shrunk by half, then 1, which makes the large
	// scales the costliest part of a search.
	Step int
}

// Detect finds objects in a grayscale image: the windows every stage accepts, over a pyramid of
// downscaled copies, grouped like OpenCV's groupRectangles (eps 0.2) and clipped to the image.
// Each box comes with the number of raw windows in its group.
func (c *Cascade) Detect(img *image.Gray, p Params) ([]image.Rectangle, []int) {
	raw := c.Windows(img, p)
	boxes, weights := Group(raw, p.MinNeighbors, groupEps)
	bounds := image.Rect(0, 0, img.Rect.Dx(), img.Rect.Dy())
	n := 0
	for i, b := range boxes {
		if b = b.Intersect(bounds); !b.Empty() {
			boxes[n], weights[n] = b, weights[i]
			n++
		}
	}
	return boxes[:n], weights[:n]
}

// groupEps is the grouping tolerance detectMultiScale uses.
const groupEps = 0.2

// Windows returns every window the cascade accepts, before grouping, in the input's pixels.
func (c *Cascade) Windows(img *image.Gray, p Params) []image.Rectangle {
	w, h := img.Rect.Dx(), img.Rect.Dy()
	if p.ScaleFactor <= 1 || w < c.Width || h < c.Height {
		return nil
	}
	maxSize := p.MaxSize
	if maxSize.X == 0 || maxSize.Y == 0 {
		maxSize = image.Pt(w, h)
	}
	src := gray{pix: img.Pix, stride: img.Stride, w: w, h: h}
	if img.Rect.Min != (image.Point{}) {
		src.pix = img.Pix[img.PixOffset(img.Rect.Min.X, img.Rect.Min.Y):]
	}
	var out []image.Rectangle
	var ev evaluator
	// Factors are accumulated in float64 and used as float32, like OpenCV, so that the pyramid's
	// sizes and the boxes' rounding come out the same.
	for factor := 1.0; ; factor *= p.ScaleFactor {
		ww, wh := cvRound(float64(c.Width)*factor), cvRound(float64(c.Height)*factor)
		if ww > maxSize.X || wh > maxSize.Y || ww > w || wh > h {
			break
		}
		if ww < p.MinSize.X || wh < p.MinSize.Y {
			continue
		}
		out = c.scan(&ev, src, float32(factor), p.Step, out)
	}
	return out
}

// scan runs the cascade over the image shrunk by scale, appending the accepted windows.
func (c *Cascade) scan(ev *evaluator, src gray, scale float32, step int, out []image.Rectangle) []image.Rectangle {
	sw, sh := cvRound32(float32(src.w)/scale), cvRound32(float32(src.h)/scale)
	if sw < c.Width || sh < c.Height {
		return out
	}
	level := resize(src, sw, sh, ev.small)
	ev.small = level.pix
	ev.prepare(c, level)
	if step <= 0 {
		step = 2 // OpenCV visits every other window until the image is shrunk by half
		if scale >= 2 {
			step = 1
		}
	}
	win := image.Pt(cvRound32(float32(c.Width)*scale), cvRound32(float32(c.Height)*scale))
	for y := 0; y+c.Height <= sh; y += step {
		for x := 0; x+c.Width <= sw; x += step {
			switch ev.run(c, x, y) {
			case accepted:
				at := image.Pt(cvRound32(float32(x)*scale), cvRound32(float32(y)*scale))
				out = append(out, image.Rectangle{Min: at, Max: at.Add(win)})
			case firstStage:
				x += step // a window rejected at once makes its neighbour unlikely: skip it
			}
		}
	}
	return out
}

// cvRound rounds half to even, as OpenCV's cvRound (lrint) does.
func cvRound(v float64) int { return int(math.RoundToEven(v)) }

func cvRound32(v float32) int { return int(math.RoundToEven(float64(v))) }

// gray is an 8-bit image with its stride.
type gray struct {
	pix    []uint8
	stride int
	w, h   int
}
