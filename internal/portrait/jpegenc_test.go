package portrait

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
	"math"
)

// testJPEG is a small JPEG encoder for the variants Go's image/jpeg cannot write but real files
// use: progressive (spectral selection: a DC scan, then one AC scan per component), CMYK with
// an Adobe marker, and four components without one. It uses 1×1 sampling, the ITU-T T.81
// Annex K example tables scaled as IJG does, and the Annex K luminance Huffman tables for every
// component. It favours clarity over speed.
type testJPEG struct {
	comps       int  // 1 gray, 3 YCbCr, 4 CMYK (stored inverted, as Adobe does)
	progressive bool // SOF2 instead of SOF0
	adobe       bool // write an APP14 "Adobe" segment
	quality     int
}

var (
	huffDCBits = [16]byte{0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0}
	huffDCVals = []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}
	huffACBits = [16]byte{0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 125}
	huffACVals = []byte{
		0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51, 0x61, 0x07,
		0x22, 0x71, 0x14, 0x32, 0x81, 0x91, 0xa1, 0x08, 0x23, 0x42, 0xb1, 0xc1, 0x15, 0x52, 0xd1, 0xf0,
		0x24, 0x33, 0x62, 0x72, 0x82, 0x09, 0x0a, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x25, 0x26, 0x27, 0x28,
		0x29, 0x2a, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49,
		0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69,
		0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89,
		0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7,
		0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3, 0xc4, 0xc5,
		0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xe1, 0xe2,
		0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8,
		0xf9, 0xfa,
	}
)

// dctCos[u][x] = C(u)/2 · cos((2x+1)uπ/16): the 8-point DCT-II basis of T.81 A.3.3.
var dctCos = func() (t [8][8]float64) {
	for u := range 8 {
		c := 0.5
		if u == 0 {
			c = math.Sqrt2 / 4
		}
		for x := range 8 {
			t[u][x] = c * math.Cos(float64(2*x+1)*float64(u)*math.Pi/16)
		}
	}
	return t
}()

type huffCode struct {
	code uint32
	n    uint
}

func huffCodes(bits [16]byte, vals []byte) map[byte]huffCode {
	m := map[byte]huffCode{}
	code, k := uint32(0), 0
	for i, c := range bits {
		for range int(c) {
			m[vals[k]] = huffCode{code, uint(i + 1)}
			code++
			k++
		}
		code <<= 1
	}
	return m
}

type bitWriter struct {
	buf   bytes.Buffer
	acc   uint32
	nbits uint
}

func (w *bitWriter) write(v uint32, n uint) {
	for i := int(n) - 1; i >= 0; i-- {
		w.acc = w.acc<<1 | (v>>uint(i))&1
		w.nbits++
		if w.nbits == 8 {
			b := byte(w.acc)
			w.buf.WriteByte(b)
			if b == 0xff {
				w.buf.WriteByte(0)
			}
			w.acc, w.nbits = 0, 0
		}
	}
}

func (w *bitWriter) flush() []byte {
	for w.nbits != 0 {
		w.write(1, 1)
	}
	out := append([]byte(nil), w.buf.Bytes()...)
	w.buf.Reset()
	return out
}

// category returns the JPEG magnitude category of v and its bits.
func category(v int) (uint, uint32) {
	a := v
	if a < 0 {
		a = -a
	}
	n := uint(0)
	for a > 0 {
		n++
		a >>= 1
	}
	if v < 0 {
		v += (1 << n) - 1
	}
	return n, uint32(v)
}

func (e testJPEG) encode(img image.Image) []byte {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	planes := make([][]float64, e.comps)
	for c := range planes {
		planes[c] = make([]float64, w*h)
	}
	for y := range h {
		for x := range w {
			r, g, bb, _ := img.At(b.Min.X+x, b.Min.Y+y).RGBA()
			r8, g8, b8 := uint8(r>>8), uint8(g>>8), uint8(bb>>8)
			i := y*w + x
			switch e.comps {
			case 1:
				yy, _, _ := color.RGBToYCbCr(r8, g8, b8)
				planes[0][i] = float64(yy)
			case 3:
				yy, cb, cr := color.RGBToYCbCr(r8, g8, b8)
				planes[0][i], planes[1][i], planes[2][i] = float64(yy), float64(cb), float64(cr)
			case 4:
				c, m, yl, k := color.RGBToCMYK(r8, g8, b8)
				planes[0][i], planes[1][i], planes[2][i], planes[3][i] = float64(255-c), float64(255-m), float64(255-yl), float64(255-k)
			}
		}
	}
	luma, chroma := ijgTable(&stdLuma, e.quality), ijgTable(&stdChroma, e.quality)
	tq := func(c int) int {
		if c == 0 || e.comps == 4 {
			return 0
		}
		return 1
	}
	bw, bh := (w+7)/8, (h+7)/8
	// Quantised coefficients per component and block, in zigzag order.
	coef := make([][][64]int, e.comps)
	for c := range coef {
		coef[c] = make([][64]int, bw*bh)
		q := luma
		if tq(c) == 1 {
			q = chroma
		}
		for by := range bh {
			for bx := range bw {
				var blk [64]float64
				for y := range 8 {
					for x := range 8 {
						sx, sy := min(bx*8+x, w-1), min(by*8+y, h-1)
						blk[y*8+x] = planes[c][sy*w+sx] - 128
					}
				}
				var tmp, f [64]float64 // separable DCT: columns, then rows
				for v := range 8 {
					for x := range 8 {
						var s float64
						for y := range 8 {
							s += blk[y*8+x] * dctCos[v][y]
						}
						tmp[v*8+x] = s
					}
				}
				for v := range 8 {
					for u := range 8 {
						var s float64
						for x := range 8 {
							s += tmp[v*8+x] * dctCos[u][x]
						}
						f[v*8+u] = s
					}
				}
				for k := range 64 {
					n := unzig[k]
					coef[c][by*bw+bx][k] = int(math.Round(f[n] / float64(q[n])))
				}
			}
		}
	}

	var out bytes.Buffer
	seg := func(marker byte, data []byte) {
		out.Write([]byte{0xff, marker})
		binary.Write(&out, binary.BigEndian, uint16(len(data)+2))
		out.Write(data)
	}
	out.Write([]byte{0xff, 0xd8})
	if e.adobe {
		transform := byte(0)
		if e.comps == 3 {
			transform = 1
		}
		seg(0xee, []byte{'A', 'd', 'o', 'b', 'e', 0, 100, 0, 0, 0, 0, transform})
	}
	for t, table := range [][64]int{luma, chroma} {
		d := []byte{byte(t)}
		for k := range 64 {
			d = append(d, byte(table[unzig[k]]))
		}
		seg(0xdb, d)
	}
	sof := []byte{8, byte(h >> 8), byte(h), byte(w >> 8), byte(w), byte(e.comps)}
	for c := range e.comps {
		sof = append(sof, byte(c+1), 0x11, byte(tq(c)))
	}
	marker := byte(0xc0)
	if e.progressive {
		marker = 0xc2
	}
	seg(marker, sof)
	seg(0xc4, append(append([]byte{0x00}, huffDCBits[:]...), huffDCVals...))
	seg(0xc4, append(append([]byte{0x10}, huffACBits[:]...), huffACVals...))

	dc, ac := huffCodes(huffDCBits, huffDCVals), huffCodes(huffACBits, huffACVals)
	var bits bitWriter
	encDC := func(diff int) {
		n, v := category(diff)
		bits.write(dc[byte(n)].code, dc[byte(n)].n)
		bits.write(v, n)
	}
	encAC := func(blk *[64]int) {
		run := 0
		for k := 1; k < 64; k++ {
			if blk[k] == 0 {
				run++
				continue
			}
			for run > 15 {
				bits.write(ac[0xf0].code, ac[0xf0].n)
				run -= 16
			}
			n, v := category(blk[k])
			sym := byte(run<<4) | byte(n)
			bits.write(ac[sym].code, ac[sym].n)
			bits.write(v, n)
			run = 0
		}
		if run > 0 {
			bits.write(ac[0x00].code, ac[0x00].n)
		}
	}
	sos := func(comps []int, ss, se byte) {
		d := []byte{byte(len(comps))}
		for _, c := range comps {
			d = append(d, byte(c+1), 0x00)
		}
		seg(0xda, append(d, ss, se, 0))
	}
	all := make([]int, e.comps)
	for c := range all {
		all[c] = c
	}
	pred := make([]int, e.comps)
	if !e.progressive {
		sos(all, 0, 63)
		for i := range bw * bh {
			for c := range e.comps {
				blk := &coef[c][i]
				encDC(blk[0] - pred[c])
				pred[c] = blk[0]
				encAC(blk)
			}
		}
		out.Write(bits.flush())
	} else {
		sos(all, 0, 0)
		for i := range bw * bh {
			for c := range e.comps {
				encDC(coef[c][i][0] - pred[c])
				pred[c] = coef[c][i][0]
			}
		}
		out.Write(bits.flush())
		for c := range e.comps {
			sos([]int{c}, 1, 63)
			for i := range bw * bh {
				encAC(&coef[c][i])
			}
			out.Write(bits.flush())
		}
	}
	out.Write([]byte{0xff, 0xd9})
	return out.Bytes()
}
