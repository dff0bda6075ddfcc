package portrait

// The example quantisation tables of ITU-T T.81 Annex K (K.1 luminance, K.2 chrominance), in
// natural (row-major) order. IJG libjpeg, and Go's encoder after it, scale these by a quality
// setting; most other encoders' tables are close to some scaling of them.
var (
	stdLuma = [64]int{
		16, 11, 10, 16, 24, 40, 51, 61,
		12, 12, 14, 19, 26, 58, 60, 55,
		14, 13, 16, 24, 40, 57, 69, 56,
		14, 17, 22, 29, 51, 87, 80, 62,
		18, 22, 37, 56, 68, 109, 103, 77,
		24, 35, 55, 64, 81, 104, 113, 92,
		49, 64, 78, 87, 103, 121, 120, 101,
		72, 92, 95, 98, 112, 100, 103, 99,
	}
	stdChroma = [64]int{
		17, 18, 24, 47, 99, 99, 99, 99,
		18, 21, 26, 66, 99, 99, 99, 99,
		24, 26, 56, 99, 99, 99, 99, 99,
		47, 66, 99, 99, 99, 99, 99, 99,
		99, 99, 99, 99, 99, 99, 99, 99,
		99, 99, 99, 99, 99, 99, 99, 99,
		99, 99, 99, 99, 99, 99, 99, 99,
		99, 99, 99, 99, 99, 99, 99, 99,
	}
	// unzig maps the zigzag order of a DQT segment to natural order.
	unzig = [64]int{
		0, 1, 8, 16, 9, 2, 3, 10,
		17, 24, 32, 25, 18, 11, 4, 5,
		12, 19, 26, 33, 40, 48, 41, 34,
		27, 20, 13, 6, 7, 14, 21, 28,
		35, 42, 49, 56, 57, 50, 43, 36,
		29, 22, 15, 23, 30, 37, 44, 51,
		58, 59, 52, 45, 38, 31, 39, 46,
		53, 60, 61, 54, 47, 55, 62, 63,
	}
)

// ijgTable returns the IJG table for a quality setting (jcparam.c, with baseline clamping).
func ijgTable(std *[64]int, quality int) [64]int {
	scale := 200 - 2*quality
	if quality < 50 {
		scale = 5000 / quality
	}
	var t [64]int
	for i, v := range std {
		t[i] = min(max((v*scale+50)/100, 1), 255)
	}
	return t
}

// jpegQuality estimates the quality setting (IJG 1–100 scale) that produced the JPEG's
// quantisation tables: the setting whose IJG tables are closest to them. It is exact for files
// from libjpeg, libjpeg-turbo, Go and most tools built on them, and an "equivalent quality" for
// encoders with tables of their own (cameras, Photoshop). It returns 0 when the header had no
// table for the luma component.
func jpegQuality(h *header) int {
	luma := h.quant[h.comp[0].tq]
	if luma == nil {
		return 0
	}
	var chroma *[64]uint16
	if h.ncomp >= 3 && h.comp[1].tq != h.comp[0].tq {
		chroma = h.quant[h.comp[1].tq]
	}
	best, bestErr := 0, -1
	for q := 1; q <= 100; q++ {
		e := tableDistance(luma, &stdLuma, q)
		if chroma != nil {
			e += tableDistance(chroma, &stdChroma, q)
		}
		if bestErr < 0 || e < bestErr {
			best, bestErr = q, e
		}
	}
	return best
}

// tableDistance is the squared distance between a DQT table (zigzag order) and the IJG table
// std scaled for quality q.
func tableDistance(t *[64]uint16, std *[64]int, q int) int {
	ref := ijgTable(std, q)
	e := 0
	for k, v := range t {
		d := int(v) - ref[unzig[k]]
		e += d * d
	}
	return e
}
