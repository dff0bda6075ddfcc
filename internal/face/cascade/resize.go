package cascade

import "math"

// resize shrinks src to w×h as OpenCV's resize with INTER_LINEAR_EXACT does, which is how
// detectMultiScale builds its pyramid: bilinear weights in 8-bit fixed point at pixel centres,
// edges clamped, rows combined in 16.16 fixed point and rounded. Matching it bit for bit keeps
// the pyramid, and so the raw detections, the same as OpenCV's. The result reuses buf when it is
// large enough.
func resize(src gray, w, h int, buf []uint8) gray {
	if cap(buf) < w*h {
		buf = make([]uint8, w*h)
	}
	dst := gray{pix: buf[:w*h], stride: w, w: w, h: h}
	xofs, xw := linearTaps(src.w, w)
	yofs, yw := linearTaps(src.h, h)
	row0, row1 := make([]uint32, w), make([]uint32, w)
	for y := range h {
		hresize(src, yofs[y], xofs, xw, row0)
		w0, w1 := yw[2*y], yw[2*y+1]
		if w1 != 0 {
			hresize(src, yofs[y]+1, xofs, xw, row1)
		}
		out := dst.pix[y*w : (y+1)*w]
		for x := range out {
			v := row0[x] * w0
			if w1 != 0 {
				v += row1[x] * w1
			}
			out[x] = uint8(min((v+1<<15)>>16, 255))
		}
	}
	return dst
}

// hresize interpolates one source row horizontally into 8.8 fixed point.
func hresize(src gray, sy int, xofs []int, xw []uint32, out []uint32) {
	row := src.pix[sy*src.stride : sy*src.stride+src.w]
	for x, sx := range xofs {
		v := uint32(row[sx]) * xw[2*x]
		if w1 := xw[2*x+1]; w1 != 0 {
			v += uint32(row[sx+1]) * w1
		}
		out[x] = v
	}
}

// linearTaps returns, for each of m output samples from n input samples, the first input sample
// and its two weights in 8-bit fixed point (summing to 256), as OpenCV's bit-exact resize computes
// them; outside the input's centres the edge sample takes all the weight.
func linearTaps(n, m int) ([]int, []uint32) {
	ofs, weights := make([]int, m), make([]uint32, 2*m)
	scale := 1 / (float64(m) / float64(n)) // as OpenCV: the inverse of the output/input ratio
	for d := range m {
		f := float64(scale*(float64(d)+0.5)) - 0.5 // rounded before the subtraction: no fused multiply-add
		s := int(math.Floor(f))
		switch {
		case s < 0 || n == 1:
			ofs[d], weights[2*d] = 0, 256
		case s >= n-1:
			ofs[d], weights[2*d] = n-1, 256
		default:
			w1 := uint32(math.RoundToEven((f - float64(s)) * 256))
			ofs[d], weights[2*d], weights[2*d+1] = s, 256-w1, w1
		}
	}
	return ofs, weights
}
