package portrait

import (
	"fmt"
	"math"
)

// AspectTolerance is how far, relatively, the displayed width/height ratio may be from 1:1 or
// 16:9. 2% admits what real files carry: 1920×1088 from video encoders that pad to 16 rows
// (0.7% off), 1366×768 screens (0.04%), a hand crop a few pixels off square (1000×990 is 1%),
// and it stays far from every common other shape: 5:4 and 4:3 are 25% and 33% from square,
// 3:2 and 16:10 are 16% and 10% from 16:9. A 2% mismatch, if Mirako stretches rather than crops,
// distorts a face by less than people notice.
const AspectTolerance = 0.02

// ratio16x9 is the wide aspect Mirako accepts.
const ratio16x9 = 16.0 / 9.0

// geometryProblems applies the hard rules on the displayed dimensions: the pixel cap first (a
// bomb is reported as such, not as a bad shape), then the minimum size and the aspect ratio.
func geometryProblems(h *header) []*Problem {
	w, ht := h.Width, h.Height
	if int64(w)*int64(ht) > MaxPixels {
		return []*Problem{problemf(CodeTooLarge, "the image is %d×%d pixels (%.0f megapixels); the most that is checked is %d megapixels, and Mirako needs only %d×%d: scale it down",
			w, ht, float64(w)*float64(ht)/1e6, MaxPixels/1_000_000, MinSide, MinSide)}
	}
	var ps []*Problem
	if w < MinSide || ht < MinSide {
		ps = append(ps, problemf(CodeTooSmall, "the image is %s; Mirako needs at least %d×%d", h.dims(), MinSide, MinSide))
	}
	if !aspectOK(w, ht) {
		ps = append(ps, problemf(CodeAspect, "the image is %s, %s; Mirako needs a square (1:1) or wide 16:9 picture, within %.0f%%: crop it",
			h.dims(), shapeName(w, ht), AspectTolerance*100))
	}
	return ps
}

// dims describes the displayed dimensions, and how they came about when EXIF rotated them.
func (h *header) dims() string {
	if h.Orientation >= 5 {
		return fmt.Sprintf("%d×%d as displayed (stored as %d×%d and turned upright by its EXIF orientation)", h.Width, h.Height, h.storedW, h.storedH)
	}
	return fmt.Sprintf("%d×%d", h.Width, h.Height)
}

func aspectOK(w, h int) bool {
	r := float64(w) / float64(h)
	return math.Abs(r-1) <= AspectTolerance || math.Abs(r/ratio16x9-1) <= AspectTolerance
}

// shapeName names an aspect ratio the way people know it ("a tall 3:4 shape").
func shapeName(w, h int) string {
	known := []struct {
		a, b int
	}{{5, 4}, {4, 3}, {3, 2}, {16, 10}, {16, 9}, {2, 1}, {21, 9}, {1, 1}}
	r := float64(w) / float64(h)
	for _, k := range known {
		for _, tall := range []bool{false, true} {
			a, b := k.a, k.b
			if tall {
				a, b = b, a
			}
			if math.Abs(r/(float64(a)/float64(b))-1) <= AspectTolerance {
				orient := "wide"
				if tall {
					orient = "tall"
				}
				return fmt.Sprintf("a %s %d:%d shape", orient, a, b)
			}
		}
	}
	if r >= 1 {
		return fmt.Sprintf("a wide shape (%.2f:1)", r)
	}
	return fmt.Sprintf("a tall shape (1:%.2f)", 1/r)
}

// decodeCost estimates the bytes Go's decoder will allocate for this image, from the header
// alone. It follows image/jpeg and image/png: the JPEG planes at their padded (whole-MCU) size,
// plus 4 bytes per sample of coefficients for a progressive JPEG, plus the RGBA or CMYK copy
// made for RGB and four-component JPEGs; a PNG's output image at its pixel type's size, doubled
// for an interlaced PNG, whose passes are decoded into images of their own first; and the
// decoders' own state.
func decodeCost(h *header) int64 {
	// The decoders' own state: Huffman tables, the deflate window, row buffers.
	const overhead = 128 << 10
	return overhead + imageCost(h)
}

func imageCost(h *header) int64 {
	w, ht := int64(h.storedW), int64(h.storedH)
	switch h.Format {
	case JPEG:
		hmax, vmax := 1, 1
		for i := 0; i < h.ncomp; i++ {
			hmax, vmax = max(hmax, h.comp[i].h), max(vmax, h.comp[i].v)
		}
		if h.ncomp == 1 {
			hmax, vmax = 1, 1
		}
		mcuW, mcuH := int64(8*hmax), int64(8*vmax)
		mx, my := (w+mcuW-1)/mcuW, (ht+mcuH-1)/mcuH
		var samples int64
		for i := 0; i < h.ncomp; i++ {
			ch, cv := int64(h.comp[i].h), int64(h.comp[i].v)
			if h.ncomp == 1 {
				ch, cv = 1, 1
			}
			samples += mx * ch * 8 * my * cv * 8
		}
		cost := samples
		if h.progressive {
			cost += 4 * samples
		}
		if h.ncomp == 4 || h.isRGB() {
			cost += 4 * w * ht
		}
		return cost
	case PNG:
		var bpp int64
		switch {
		case h.colorType == pngPaletted:
			bpp = 1
		case h.colorType == pngGray && !h.trns:
			bpp = max(1, int64(h.depth)/8)
		case h.depth == 16:
			bpp = 8
		default:
			bpp = 4
		}
		cost := bpp * w * ht
		if h.interlaced {
			cost *= 2
		}
		return cost
	}
	return 0
}

// decodeCostProblem refuses an image whose decode would take more than MaxDecodeBytes.
func decodeCostProblem(h *header) *Problem {
	cost := decodeCost(h)
	if cost <= MaxDecodeBytes {
		return nil
	}
	var kind, fix string
	switch {
	case h.Format == JPEG && h.progressive:
		kind, fix = "progressive JPEG", "save it as a baseline (non-progressive) JPEG or scale it down"
	case h.Format == JPEG && h.ncomp == 4:
		kind, fix = "CMYK JPEG", "save it as an RGB JPEG or scale it down"
	case h.Format == PNG && h.depth == 16:
		kind, fix = "16-bit PNG", "save it as an 8-bit PNG or a JPEG, or scale it down"
	default:
		kind, fix = h.Format.noun(), "scale it down"
	}
	return problemf(CodeTooLarge, "decoding this %d×%d %s would take about %d MB of memory, more than the %d MB allowed; %s",
		h.storedW, h.storedH, kind, cost>>20, MaxDecodeBytes>>20, fix)
}

// minEncodedBytes is a lower bound on the bytes any encoder needs for the image the header
// claims: JPEG spends at least one bit per 8×8 block (its DC code), and deflate, which PNG uses,
// compresses at most 1032:1. A file smaller than this cannot hold its image; refusing it before
// decoding keeps a tiny file that claims a large image from costing a large allocation.
func minEncodedBytes(h *header) int64 {
	w, ht := int64(h.storedW), int64(h.storedH)
	switch h.Format {
	case JPEG:
		hmax, vmax := int64(1), int64(1)
		for i := 0; i < h.ncomp; i++ {
			hmax, vmax = max(hmax, int64(h.comp[i].h)), max(vmax, int64(h.comp[i].v))
		}
		var blocks int64
		for i := 0; i < h.ncomp; i++ {
			cw := (w*int64(h.comp[i].h) + hmax - 1) / hmax
			ch := (ht*int64(h.comp[i].v) + vmax - 1) / vmax
			if h.ncomp == 1 {
				cw, ch = w, ht
			}
			blocks += ((cw + 7) / 8) * ((ch + 7) / 8)
		}
		return blocks / 8
	case PNG:
		channels := map[byte]int64{pngGray: 1, pngRGB: 3, pngPaletted: 1, pngGrayAlpha: 2, pngRGBA: 4}[h.colorType]
		rowBytes := (w*channels*int64(h.depth) + 7) / 8
		return ht * (1 + rowBytes) / 1032
	}
	return 0
}

// sizeProblem refuses a file too small to hold the image its header claims.
func sizeProblem(h *header) *Problem {
	if h.size < 0 {
		return nil
	}
	if need := minEncodedBytes(h); h.size < need {
		return problemf(CodeCorrupt, "the file is %d bytes, too small to hold the %d×%d %s its header claims (that needs at least %d bytes): it is truncated or damaged",
			h.size, h.storedW, h.storedH, h.Format.noun(), need)
	}
	return nil
}
