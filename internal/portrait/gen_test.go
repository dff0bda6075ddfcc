package portrait

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/jpeg"
	"image/png"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
)

// Test images are made here, in memory: nothing third-party is committed, and every fixture
// shows how it was made.

// portraitImage draws a synthetic head-and-shoulders portrait of w×h pixels: a softly lit
// plain backdrop, a face with eyes and mouth, dark hair, a striped shirt, and a little sensor
// noise. It is built to pass every quality check, so that each test can spoil one aspect.
func portraitImage(w, h int) *image.RGBA {
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	rng := rand.New(rand.NewPCG(uint64(w), uint64(h)))
	s := float64(min(w, h))
	cx, cy := float64(w)/2, float64(h)*0.42
	in := func(x, y, ex, ey, rx, ry float64) bool {
		dx, dy := (x-ex)/rx, (y-ey)/ry
		return dx*dx+dy*dy <= 1
	}
	for y := range h {
		for x := range w {
			fx, fy := float64(x)+0.5, float64(y)+0.5
			// Backdrop: a blue-gray gradient.
			r, g, b := 150+30*fy/float64(h), 165+25*fy/float64(h), 185+20*fy/float64(h)
			switch {
			case fy > cy+0.32*s && in(fx, fy, cx, float64(h)+0.1*s, 0.45*s, 0.55*s):
				// Shirt with stripes every 6 pixels.
				r, g, b = 60, 75, 120
				if (x/3)%2 == 0 {
					r, g, b = 90, 105, 150
				}
			case in(fx, fy, cx, cy-0.1*s, 0.25*s, 0.2*s) && !in(fx, fy, cx, cy+0.02*s, 0.21*s, 0.26*s):
				r, g, b = 45, 35, 30 // hair
			case in(fx, fy, cx, cy+0.02*s, 0.2*s, 0.26*s):
				r, g, b = 225, 180, 150 // skin, lit evenly
				switch {
				case in(fx, fy, cx-0.08*s, cy-0.03*s, 0.035*s, 0.018*s), in(fx, fy, cx+0.08*s, cy-0.03*s, 0.035*s, 0.018*s):
					r, g, b = 40, 50, 60 // eyes
				case in(fx, fy, cx, cy+0.13*s, 0.07*s, 0.02*s):
					r, g, b = 170, 70, 80 // mouth
				case in(fx, fy, cx, cy+0.05*s, 0.015*s, 0.05*s):
					r, g, b = 205, 160, 130 // nose shadow
				}
			}
			n := rng.NormFloat64() * 3
			i := m.PixOffset(x, y)
			m.Pix[i+0] = clampByte(r + n)
			m.Pix[i+1] = clampByte(g + n)
			m.Pix[i+2] = clampByte(b + n)
			m.Pix[i+3] = 255
		}
	}
	return m
}

func clampByte(v float64) uint8 { return uint8(math.Round(math.Min(math.Max(v, 0), 255))) }

// mapPixels returns a copy of m with f applied to every pixel's RGB.
func mapPixels(m *image.RGBA, f func(x, y int, c [3]float64) [3]float64) *image.RGBA {
	out := image.NewRGBA(m.Bounds())
	for y := range m.Bounds().Dy() {
		for x := range m.Bounds().Dx() {
			i := m.PixOffset(x, y)
			c := f(x, y, [3]float64{float64(m.Pix[i]), float64(m.Pix[i+1]), float64(m.Pix[i+2])})
			out.Pix[i], out.Pix[i+1], out.Pix[i+2], out.Pix[i+3] = clampByte(c[0]), clampByte(c[1]), clampByte(c[2]), 255
		}
	}
	return out
}

// boxBlur blurs m with a (2r+1)² box, repeated passes times (three passes approximate a
// Gaussian).
func boxBlur(m *image.RGBA, r, passes int) *image.RGBA {
	w, h := m.Bounds().Dx(), m.Bounds().Dy()
	cur := m
	for range passes {
		for _, horizontal := range []bool{true, false} {
			src := cur
			cur = mapPixels(src, func(x, y int, _ [3]float64) [3]float64 {
				var c [3]float64
				for d := -r; d <= r; d++ {
					sx, sy := x, y
					if horizontal {
						sx = min(max(x+d, 0), w-1)
					} else {
						sy = min(max(y+d, 0), h-1)
					}
					i := src.PixOffset(sx, sy)
					for k := range 3 {
						c[k] += float64(src.Pix[i+k])
					}
				}
				for k := range 3 {
					c[k] /= float64(2*r + 1)
				}
				return c
			})
		}
	}
	return cur
}

func encodeJPEG(t testing.TB, m image.Image, quality int) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, m, &jpeg.Options{Quality: quality}); err != nil {
		t.Fatalf("encode JPEG: %v", err)
	}
	return buf.Bytes()
}

func encodePNG(t testing.TB, m image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	if err := enc.Encode(&buf, m); err != nil {
		t.Fatalf("encode PNG: %v", err)
	}
	return buf.Bytes()
}

// solid returns a w×h image of one colour: cheap to make and compress, for the hard-rule tests.
func solid(w, h int) *image.Gray {
	m := image.NewGray(image.Rect(0, 0, w, h))
	for i := range m.Pix {
		m.Pix[i] = 128
	}
	return m
}

// jpegSegment returns a JPEG marker segment.
func jpegSegment(marker byte, payload []byte) []byte {
	out := []byte{0xff, marker, 0, 0}
	binary.BigEndian.PutUint16(out[2:], uint16(len(payload)+2))
	return append(out, payload...)
}

// insertAfterSOI inserts segments right after a JPEG's SOI marker.
func insertAfterSOI(j []byte, segs ...[]byte) []byte {
	out := append([]byte(nil), j[:2]...)
	for _, s := range segs {
		out = append(out, s...)
	}
	return append(out, j[2:]...)
}

// exifSegment returns an APP1 EXIF segment whose first IFD holds just the Orientation tag.
func exifSegment(orientation int, bigEndian bool) []byte {
	return jpegSegment(0xe1, append([]byte("Exif\x00\x00"), tiffOrientation(orientation, bigEndian)...))
}

// tiffOrientation returns a minimal TIFF structure with one IFD holding Orientation.
func tiffOrientation(orientation int, bigEndian bool) []byte {
	var bo binary.AppendByteOrder = binary.LittleEndian
	t := []byte("II*\x00")
	if bigEndian {
		bo, t = binary.BigEndian, []byte("MM\x00*")
	}
	t = bo.AppendUint32(t, 8) // IFD0 offset
	t = bo.AppendUint16(t, 1) // one entry
	t = bo.AppendUint16(t, 0x0112)
	t = bo.AppendUint16(t, 3) // SHORT
	t = bo.AppendUint32(t, 1)
	t = bo.AppendUint16(t, uint16(orientation))
	t = bo.AppendUint16(t, 0)
	return bo.AppendUint32(t, 0) // no next IFD
}

// replaceSOF rewrites the first SOF segment's marker and payload via edit.
func replaceSOF(t testing.TB, j []byte, edit func(marker byte, payload []byte) (byte, []byte)) []byte {
	t.Helper()
	i := 2
	for i+4 <= len(j) {
		marker := j[i+1]
		n := int(binary.BigEndian.Uint16(j[i+2:]))
		if marker >= 0xc0 && marker <= 0xc2 {
			newMarker, payload := edit(marker, append([]byte(nil), j[i+4:i+2+n]...))
			out := append([]byte(nil), j[:i]...)
			out = append(out, jpegSegment(newMarker, payload)...)
			return append(out, j[i+2+n:]...)
		}
		i += 2 + n
	}
	t.Fatal("no SOF segment")
	return nil
}

// pngChunk returns a PNG chunk with its checksum.
func pngChunk(typ string, data []byte) []byte {
	out := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
	out = append(out, typ...)
	out = append(out, data...)
	return binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(out[4:]))
}

// insertAfterIHDR inserts chunks after a PNG's IHDR chunk (signature 8 bytes + IHDR 25 bytes).
func insertAfterIHDR(p []byte, chunks ...[]byte) []byte {
	out := append([]byte(nil), p[:33]...)
	for _, c := range chunks {
		out = append(out, c...)
	}
	return append(out, p[33:]...)
}

// pngHeaderOnly returns a PNG signature and an IHDR for w×h 8-bit RGB, then the given chunks.
func pngHeaderOnly(w, h uint32, chunks ...[]byte) []byte {
	ihdr := binary.BigEndian.AppendUint32(nil, w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	ihdr = append(ihdr, 8, 2, 0, 0, 0)
	out := append([]byte(nil), pngSignature...)
	out = append(out, pngChunk("IHDR", ihdr)...)
	for _, c := range chunks {
		out = append(out, c...)
	}
	return out
}

// jpegHeaderOnly returns SOI, a DQT and an SOF (marker sof) for w×h with n components of the
// given sampling, then SOS and a few bytes: the start of a JPEG that claims the size.
func jpegHeaderOnly(sof byte, w, h int, comps int, hv byte) []byte {
	dqt := append([]byte{0}, bytes.Repeat([]byte{1}, 64)...)
	p := []byte{8, byte(h >> 8), byte(h), byte(w >> 8), byte(w), byte(comps)}
	for c := range comps {
		samp := byte(0x11)
		if c == 0 {
			samp = hv
		}
		p = append(p, byte(c+1), samp, 0)
	}
	out := []byte{0xff, 0xd8}
	out = append(out, jpegSegment(0xdb, dqt)...)
	out = append(out, jpegSegment(sof, p)...)
	return append(out, 0xff, 0xda, 0, 8, 1, 1, 0, 0, 63, 0, 0x12, 0x34)
}

// noisyPhoto is a cheap stand-in for a large camera photo: colour gradients under strong
// uniform noise, which JPEG compresses about as poorly as fine real detail.
func noisyPhoto(w, h int, amp uint32) *image.RGBA {
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	s := uint32(2463534242) // xorshift32 state
	for y := range h {
		for x := range w {
			i := m.PixOffset(x, y)
			base := [3]uint32{uint32(60 + 120*x/w), uint32(90 + 100*y/h), uint32(140 - 60*x/w)}
			for k := range 3 {
				s ^= s << 13
				s ^= s >> 17
				s ^= s << 5
				m.Pix[i+k] = uint8(base[k] + s%(2*amp+1) - amp)
			}
			m.Pix[i+3] = 255
		}
	}
	return m
}

// tenMBJPEG is a 20-megapixel 16:9 baseline JPEG of just under 10 MB: the largest kind of
// file Mirako takes, as a camera would write it.
var tenMBJPEG = sync.OnceValue(func() []byte {
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, noisyPhoto(6000, 3375, 26), &jpeg.Options{Quality: 92}); err != nil {
		panic(err)
	}
	return buf.Bytes()
})

func checkTenMB(t testing.TB) []byte {
	t.Helper()
	b := tenMBJPEG()
	if len(b) < 9_000_000 || len(b) > MaxBytes {
		t.Fatalf("the 10 MB fixture is %d bytes; adjust noisyPhoto's parameters to bring it to 9–10 MB", len(b))
	}
	return b
}
