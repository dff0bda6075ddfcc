package face

import (
	"image"
	"image/color"
	"image/draw"
	"math"
	"math/rand/v2"
)

// Generated pictures without faces, 512×512 like the portrait checks' working copy.

func flat(c color.Color) image.Image {
	m := image.NewRGBA(image.Rect(0, 0, 512, 512))
	draw.Draw(m, m.Rect, image.NewUniform(c), image.Point{}, draw.Src)
	return m
}

func gradient(vertical bool) image.Image {
	m := image.NewRGBA(image.Rect(0, 0, 512, 512))
	for y := range 512 {
		for x := range 512 {
			v := uint8(x / 2)
			if vertical {
				v = uint8(y / 2)
			}
			m.Set(x, y, color.RGBA{v, v, 255 - v, 255})
		}
	}
	return m
}

// noise is uniform noise of the given amplitude about mid-gray, from a fixed seed.
func noise(seed int64, amplitude int) image.Image {
	r := rand.New(rand.NewPCG(uint64(seed), 1))
	m := image.NewRGBA(image.Rect(0, 0, 512, 512))
	for i := 0; i < len(m.Pix); i += 4 {
		for c := range 3 {
			m.Pix[i+c] = uint8(min(255, max(0, 128+r.IntN(amplitude+1)-amplitude/2)))
		}
		m.Pix[i+3] = 255
	}
	return m
}

func checker(cell int) image.Image {
	m := image.NewRGBA(image.Rect(0, 0, 512, 512))
	for y := range 512 {
		for x := range 512 {
			if (x/cell+y/cell)%2 == 0 {
				m.Set(x, y, color.White)
			} else {
				m.Set(x, y, color.Black)
			}
		}
	}
	return m
}

// moon is a synthetic moon-like surface: gray grain with shaded craters of every size, the
// dark-disc-with-bright-rim pattern that looks most like eyes to a cascade.
func moon(seed int64) image.Image {
	r := rand.New(rand.NewPCG(uint64(seed), 2))
	g := make([]float64, 512*512)
	for i := range g {
		g[i] = 120 + 20*r.Float64()
	}
	for range 60 {
		cx, cy := r.Float64()*512, r.Float64()*512
		rad := 4 + 40*r.Float64()*r.Float64()
		for y := max(0, int(cy-rad-2)); y < min(512, int(cy+rad+2)); y++ {
			for x := max(0, int(cx-rad-2)); x < min(512, int(cx+rad+2)); x++ {
				d := math.Hypot(float64(x)-cx, float64(y)-cy) / rad
				switch {
				case d < 0.85: // floor, shaded from the top left
					g[y*512+x] -= 45 * (1 - 0.5*(float64(x)-cx+float64(y)-cy)/rad)
				case d < 1.1: // rim
					g[y*512+x] += 35
				}
			}
		}
	}
	m := image.NewGray(image.Rect(0, 0, 512, 512))
	for i, v := range g {
		m.Pix[i] = uint8(min(255, max(0, v)))
	}
	return m
}

// hugeImage claims to be far larger than Detect accepts; Detect must refuse it from its bounds,
// without reading (or allocating for) a pixel.
type hugeImage struct{}

func (hugeImage) ColorModel() color.Model { return color.RGBAModel }
func (hugeImage) Bounds() image.Rectangle { return image.Rect(0, 0, 100000, 100000) }
func (hugeImage) At(x, y int) color.Color { panic("Detect read a pixel of an image it should refuse") }
