package portrait

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/color/palette"
	"image/draw"
	"image/gif"
	"image/jpeg"
	"io"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/avatar-pipeline/avatar-pipeline/internal/face"
	"github.com/avatar-pipeline/avatar-pipeline/internal/face/sample"
)

// Fixtures shared by the tests, made once.
var (
	portrait512  = sync.OnceValue(func() *image.RGBA { return portraitImage(512, 512) })
	portrait1024 = sync.OnceValue(func() *image.RGBA { return portraitImage(1024, 1024) })
	portraitWide = sync.OnceValue(func() *image.RGBA { return portraitImage(1920, 1080) })
	portraitTall = sync.OnceValue(func() *image.RGBA { return portraitImage(1080, 1920) })
	jpeg512      = sync.OnceValue(func() []byte { return encodeJPEG(panicTB{}, portrait512(), 90) })
	png512       = sync.OnceValue(func() []byte { return encodePNG(panicTB{}, portrait512()) })
)

// panicTB lets fixtures made outside a test use the helpers that take a testing.TB.
type panicTB struct{ testing.TB }

func (panicTB) Helper()                      {}
func (panicTB) Fatalf(f string, args ...any) { panic("fixture: " + f) }
func (panicTB) Fatal(args ...any)            { panic("fixture") }

// setByte returns a copy of b with b[i] = v.
func setByte(b []byte, i int, v byte) []byte {
	c := append([]byte(nil), b...)
	c[i] = v
	return c
}

// pngIDATOffset returns the offset of the first IDAT chunk's data.
func pngIDATOffset(t testing.TB, p []byte) int {
	t.Helper()
	for i := 8; i+8 <= len(p); {
		n := int(binary.BigEndian.Uint32(p[i:]))
		if string(p[i+4:i+8]) == "IDAT" {
			return i + 8
		}
		i += 12 + n
	}
	t.Fatal("no IDAT")
	return 0
}

// damagePNGData flips bits in the IDAT data and fixes the chunk's checksum, so that only the
// compressed stream is wrong.
func damagePNGData(t testing.TB, p []byte) []byte {
	t.Helper()
	c := append([]byte(nil), p...)
	off := pngIDATOffset(t, c)
	n := int(binary.BigEndian.Uint32(c[off-8:]))
	for i := off + 10; i < off+n && i < off+4000; i += 7 {
		c[i] ^= 0x5a
	}
	binary.BigEndian.PutUint32(c[off+n:], crc32.ChecksumIEEE(c[off-4:off+n]))
	return c
}

func gifBytes(t testing.TB) []byte {
	t.Helper()
	var buf bytes.Buffer
	m := image.NewPaletted(image.Rect(0, 0, 600, 600), palette.Plan9)
	if err := gif.Encode(&buf, m, nil); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// editSOF returns jpeg512 with its frame header changed by edit.
func editSOF(t testing.TB, edit func(marker byte, p []byte) (byte, []byte)) []byte {
	return replaceSOF(t, jpeg512(), edit)
}

type badCase struct {
	name string
	data func(t testing.TB) []byte
	// size is the size passed to Check; 0 means len(data), -1 unknown.
	size int64
	code string
	// reason is a substring of the first reason.
	reason string
	// header says whether Header finds the same problem; if false, Header accepts the header.
	header bool
}

func badCases() []badCase {
	b := func(s string) func(testing.TB) []byte { return func(testing.TB) []byte { return []byte(s) } }
	return []badCase{
		{name: "empty file", data: b(""), code: CodeEmpty, reason: "the file is empty", header: true},
		{name: "empty stream of unknown size", data: b(""), size: -1, code: CodeEmpty, reason: "empty", header: true},
		{name: "text file", data: b("This is my portrait, honest.\nRegards\n"), code: CodeFormat, reason: "the file is text, not a JPEG or PNG image", header: true},
		{name: "GIF", data: gifBytes, code: CodeFormat, reason: "a GIF image", header: true},
		{name: "WebP", data: b("RIFF\x24\x00\x00\x00WEBPVP8 \x18\x00\x00\x00"), code: CodeFormat, reason: "a WebP image", header: true},
		{name: "HEIC", data: b("\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic"), code: CodeFormat, reason: "HEIC", header: true},
		{name: "PDF", data: b("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"), code: CodeFormat, reason: "a PDF document", header: true},
		{name: "BMP", data: b("BM\x36\x00\x0c\x00\x00\x00\x00\x00\x36\x00"), code: CodeFormat, reason: "a BMP image", header: true},
		{name: "TIFF", data: b("II*\x00\x08\x00\x00\x00\x0e\x00\x00\x01"), code: CodeFormat, reason: "TIFF", header: true},
		{name: "SVG", data: b("<?xml version=\"1.0\"?><svg xmlns=\"http://www.w3.org/2000/svg\"/>"), code: CodeFormat, reason: "an SVG or XML document", header: true},
		{name: "binary noise", data: b("\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b"), code: CodeFormat, reason: "unknown kind", header: true},
		{name: "declared larger than 10 MB", data: func(testing.TB) []byte { return jpeg512() }, size: MaxBytes + 1, code: CodeTooLarge, reason: "Mirako accepts at most 10.0 MB", header: true},
		{name: "more than 10 MB of unknown size", data: func(testing.TB) []byte { return append(append([]byte(nil), jpeg512()...), make([]byte, MaxBytes)...) },
			size: -1, code: CodeTooLarge, reason: "Mirako accepts at most 10.0 MB", header: false},
		{name: "640×427", data: func(t testing.TB) []byte { return encodeJPEG(t, solid(640, 427), 90) }, code: CodeTooSmall,
			reason: "the image is 640×427; Mirako needs at least 512×512", header: true},
		{name: "511×511 PNG", data: func(t testing.TB) []byte { return encodePNG(t, solid(511, 511)) }, code: CodeTooSmall, reason: "511×511", header: true},
		{name: "4:3", data: func(t testing.TB) []byte { return encodeJPEG(t, solid(1024, 768), 90) }, code: CodeAspect,
			reason: "the image is 1024×768, a wide 4:3 shape; Mirako needs a square (1:1) or wide 16:9 picture", header: true},
		{name: "tall 9:16", data: func(t testing.TB) []byte { return encodePNG(t, solid(1080, 1920)) }, code: CodeAspect, reason: "a tall 9:16 shape", header: true},
		{name: "EXIF turns 1920×1080 into 1080×1920", data: func(t testing.TB) []byte {
			return insertAfterSOI(encodeJPEG(t, solid(1920, 1080), 90), exifSegment(6, false))
		}, code: CodeAspect, reason: "1080×1920 as displayed (stored as 1920×1080 and turned upright by its EXIF orientation)", header: true},
		{name: "PNG eXIf turns 1920×1080 into 1080×1920", data: func(t testing.TB) []byte {
			return insertAfterIHDR(encodePNG(t, solid(1920, 1080)), pngChunk("eXIf", tiffOrientation(8, true)))
		}, code: CodeAspect, reason: "1080×1920 as displayed", header: true},
		{name: "JPEG truncated in its image data", data: func(testing.TB) []byte { j := jpeg512(); return j[:len(j)/2] },
			code: CodeCorrupt, reason: "the JPEG is truncated: the file ends after", header: false},
		{name: "JPEG truncated in its header", data: func(testing.TB) []byte { return jpeg512()[:60] }, code: CodeCorrupt, reason: "truncated", header: true},
		{name: "JPEG of two bytes", data: b("\xff\xd8"), code: CodeCorrupt, reason: "truncated", header: true},
		{name: "JPEG without an image", data: b("\xff\xd8\xff\xd9"), code: CodeCorrupt, reason: "it has no image in it", header: true},
		{name: "JPEG data before its size", data: b("\xff\xd8\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00"), code: CodeCorrupt, reason: "image data starts before its image size", header: true},
		{name: "JPEG with a damaged segment length", data: b("\xff\xd8\xff\xe0\x00\x01JFIF"), code: CodeCorrupt, reason: "impossible length", header: true},
		{name: "PNG truncated in its image data", data: func(testing.TB) []byte { p := png512(); return p[:len(p)/2] },
			code: CodeCorrupt, reason: "the PNG is truncated", header: false},
		{name: "PNG signature damaged by a text transfer", data: func(testing.TB) []byte {
			return bytes.Replace(png512(), []byte("\r\n\x1a\n"), []byte("\n\x1a\n"), 1)
		}, code: CodeCorrupt, reason: "signature is damaged", header: true},
		{name: "PNG header checksum wrong", data: func(testing.TB) []byte { return setByte(png512(), 29, png512()[29]^1) },
			code: CodeCorrupt, reason: `"IHDR" chunk fails its checksum`, header: true},
		{name: "PNG image data damaged", data: func(t testing.TB) []byte { return damagePNGData(t, png512()) }, code: CodeCorrupt, reason: "PNG", header: false},
		{name: "PNG without image data", data: func(testing.TB) []byte { return pngHeaderOnly(600, 600, pngChunk("IEND", nil)) },
			code: CodeCorrupt, reason: "the PNG ends before any image data", header: true},
		{name: "PNG chunk longer than the file", data: func(testing.TB) []byte {
			return pngHeaderOnly(600, 600, []byte("\x00\x10\x00\x00tEXt"), []byte("Comment"))
		}, code: CodeCorrupt, reason: "more than the rest of the file", header: true},
		{name: "PNG of 0×600", data: func(testing.TB) []byte { return pngHeaderOnly(0, 600, pngChunk("IEND", nil)) }, code: CodeCorrupt, reason: "0×600", header: true},
		{name: "animated PNG", data: func(testing.TB) []byte {
			return insertAfterIHDR(png512(), pngChunk("acTL", []byte{0, 0, 0, 3, 0, 0, 0, 0}))
		}, code: CodeAnimated, reason: "the PNG is animated (3 frames)", header: true},
		{name: "JPEG with arithmetic coding", data: func(t testing.TB) []byte {
			return editSOF(t, func(_ byte, p []byte) (byte, []byte) { return 0xc9, p })
		}, code: CodeUnsupported, reason: "arithmetic coding", header: true},
		{name: "lossless JPEG", data: func(t testing.TB) []byte {
			return editSOF(t, func(_ byte, p []byte) (byte, []byte) { return 0xc3, p })
		}, code: CodeUnsupported, reason: "lossless JPEG", header: true},
		{name: "hierarchical JPEG", data: func(t testing.TB) []byte {
			return editSOF(t, func(_ byte, p []byte) (byte, []byte) { return 0xc5, p })
		}, code: CodeUnsupported, reason: "hierarchical", header: true},
		{name: "12-bit JPEG", data: func(t testing.TB) []byte {
			return editSOF(t, func(m byte, p []byte) (byte, []byte) { p[0] = 12; return m, p })
		}, code: CodeUnsupported, reason: "12-bit samples", header: true},
		{name: "JPEG with two components", data: func(t testing.TB) []byte {
			return editSOF(t, func(m byte, p []byte) (byte, []byte) { p[5] = 2; return m, p[:12] })
		}, code: CodeUnsupported, reason: "2 colour components", header: true},
		{name: "JPEG with 3×1 subsampling", data: func(t testing.TB) []byte {
			return editSOF(t, func(m byte, p []byte) (byte, []byte) { p[7] = 0x31; return m, p })
		}, code: CodeUnsupported, reason: "chroma subsampling", header: true},
		{name: "JPEG of height 0", data: func(t testing.TB) []byte {
			return editSOF(t, func(m byte, p []byte) (byte, []byte) { p[1], p[2] = 0, 0; return m, p })
		}, code: CodeCorrupt, reason: "512×0", header: true},
		{name: "four-component JPEG without an Adobe marker", data: func(testing.TB) []byte {
			return testJPEG{comps: 4, quality: 90}.encode(solid(512, 512))
		}, code: CodeUnsupported, reason: "Adobe APP14", header: false},
		{name: "JPEG claiming 60000×60000", data: func(testing.TB) []byte { return jpegHeaderOnly(0xc0, 60000, 60000, 3, 0x22) },
			code: CodeTooLarge, reason: "60000×60000 pixels (3600 megapixels)", header: true},
		{name: "PNG claiming 60000×60000", data: func(testing.TB) []byte { return pngHeaderOnly(60000, 60000, pngChunk("IDAT", []byte{0x78, 0x9c})) },
			code: CodeTooLarge, reason: "3600 megapixels", header: true},
		{name: "JPEG claiming 6000×6000 in 100 bytes", data: func(testing.TB) []byte { return jpegHeaderOnly(0xc0, 6000, 6000, 3, 0x22) },
			code: CodeCorrupt, reason: "too small to hold the 6000×6000 JPEG", header: true},
		{name: "progressive JPEG too costly to decode", data: func(testing.TB) []byte {
			return append(jpegHeaderOnly(0xc2, 6000, 6000, 3, 0x11), make([]byte, 300_000)...)
		}, code: CodeTooLarge, reason: "6000×6000 progressive JPEG would take about", header: true},
		{name: "16-bit PNG too costly to decode", data: func(testing.TB) []byte {
			ihdr := []byte{0, 0, 0x17, 0x70, 0, 0, 0x17, 0x70, 16, 6, 0, 0, 0}
			return append(append([]byte(nil), pngSignature...), append(pngChunk("IHDR", ihdr), pngChunk("IDAT", make([]byte, 300_000))...)...)
		}, code: CodeTooLarge, reason: "16-bit PNG", header: true},
	}
}

func TestCheckRejectsBadInputs(t *testing.T) {
	cases := badCases()
	if len(cases) < 25 {
		t.Fatalf("got %d bad inputs, want at least 25", len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data := tc.data(t)
			size := int64(len(data))
			if tc.size != 0 {
				size = tc.size
			}
			rep, err := Check(bytes.NewReader(data), size, Policy{})
			if err != nil {
				t.Fatalf("Check: got error %v, want a report", err)
			}
			if rep.Verdict != Reject || rep.Accepted() {
				t.Fatalf("got verdict %q, want %q (report %+v)", rep.Verdict, Reject, rep)
			}
			if len(rep.ReasonCodes) == 0 || rep.ReasonCodes[0] != tc.code {
				t.Errorf("got codes %q, want first %q (reasons %q)", rep.ReasonCodes, tc.code, rep.Reasons)
			}
			if len(rep.Reasons) != len(rep.ReasonCodes) {
				t.Errorf("got %d reasons and %d codes, want as many", len(rep.Reasons), len(rep.ReasonCodes))
			}
			if len(rep.Reasons) == 0 || !strings.Contains(rep.Reasons[0], tc.reason) {
				t.Errorf("got reasons %q, want the first to contain %q", rep.Reasons, tc.reason)
			}

			_, herr := Header(bytes.NewReader(data), size)
			var p *Problem
			switch {
			case tc.header && !errors.As(herr, &p):
				t.Errorf("Header: got %v, want a *Problem %q", herr, tc.code)
			case tc.header && p.Code != tc.code:
				t.Errorf("Header: got code %q (%v), want %q", p.Code, p, tc.code)
			case !tc.header && herr != nil:
				t.Errorf("Header: got %v, want no error (the problem is past the header)", herr)
			}
		})
	}
}

type goodCase struct {
	name          string
	data          func(t testing.TB) []byte
	size          int64 // 0: len(data); -1: unknown
	format        Format
	width, height int
	warnings      []string // expected warning codes; nil for none
}

func goodCases() []goodCase {
	jpg := func(m func() *image.RGBA) func(testing.TB) []byte {
		return func(t testing.TB) []byte { return encodeJPEG(t, m(), 90) }
	}
	pngOf := func(m func() *image.RGBA) func(testing.TB) []byte {
		return func(t testing.TB) []byte { return encodePNG(t, m()) }
	}
	return []goodCase{
		{name: "512×512 JPEG", data: jpg(portrait512), format: JPEG, width: 512, height: 512},
		{name: "1024×1024 JPEG", data: jpg(portrait1024), format: JPEG, width: 1024, height: 1024},
		{name: "1920×1080 JPEG", data: jpg(portraitWide), format: JPEG, width: 1920, height: 1080},
		{name: "512×512 PNG", data: pngOf(portrait512), format: PNG, width: 512, height: 512},
		{name: "1024×1024 PNG", data: pngOf(portrait1024), format: PNG, width: 1024, height: 1024},
		{name: "1920×1080 PNG", data: pngOf(portraitWide), format: PNG, width: 1920, height: 1080},
		{name: "progressive JPEG", data: func(testing.TB) []byte {
			return testJPEG{comps: 3, progressive: true, quality: 90}.encode(portrait1024())
		}, format: JPEG, width: 1024, height: 1024},
		{name: "CMYK JPEG", data: func(testing.TB) []byte {
			return testJPEG{comps: 4, adobe: true, quality: 90}.encode(portrait512())
		}, format: JPEG, width: 512, height: 512},
		{name: "1080×1920 stored, EXIF turns it to 1920×1080", data: func(t testing.TB) []byte {
			return insertAfterSOI(encodeJPEG(t, portraitTall(), 90), exifSegment(6, false))
		}, format: JPEG, width: 1920, height: 1080},
		{name: "1080×1920 stored, big-endian EXIF turns it the other way", data: func(t testing.TB) []byte {
			return insertAfterSOI(encodeJPEG(t, portraitTall(), 90), exifSegment(8, true))
		}, format: JPEG, width: 1920, height: 1080},
		{name: "1920×1080 stored upside down", data: func(t testing.TB) []byte {
			return insertAfterSOI(encodeJPEG(t, portraitWide(), 90), exifSegment(3, false))
		}, format: JPEG, width: 1920, height: 1080},
		{name: "PNG with eXIf turning 1080×1920 to 1920×1080", data: func(t testing.TB) []byte {
			return insertAfterIHDR(encodePNG(t, portraitTall()), pngChunk("eXIf", tiffOrientation(6, false)))
		}, format: PNG, width: 1920, height: 1080},
		{name: "JPEG whose size comes after 1 MB of APP segments", data: func(testing.TB) []byte {
			return insertAfterSOI(jpeg512(), bigAPPSegments(1<<20)...)
		}, format: JPEG, width: 512, height: 512},
		{name: "PNG with a 3 MB zTXt and a 1 MB iCCP chunk", data: func(testing.TB) []byte {
			return insertAfterIHDR(png512(), pngChunk("iCCP", make([]byte, 1<<20)), pngChunk("zTXt", make([]byte, 3<<20)))
		}, format: PNG, width: 512, height: 512},
		{name: "APNG of a single frame", data: func(testing.TB) []byte {
			return insertAfterIHDR(png512(), pngChunk("acTL", []byte{0, 0, 0, 1, 0, 0, 0, 0}))
		}, format: PNG, width: 512, height: 512},
		{name: "JPEG with data after its end", data: func(testing.TB) []byte {
			return append(append([]byte(nil), jpeg512()...), []byte("camera maker trailer")...)
		}, format: JPEG, width: 512, height: 512},
		{name: "JPEG of unknown size", data: func(testing.TB) []byte { return jpeg512() }, size: -1, format: JPEG, width: 512, height: 512},
		{name: "16-bit PNG", data: func(t testing.TB) []byte {
			src := portrait512()
			m := image.NewRGBA64(src.Bounds())
			for y := range 512 {
				for x := range 512 {
					m.Set(x, y, src.At(x, y))
				}
			}
			return encodePNG(t, m)
		}, format: PNG, width: 512, height: 512},
		{name: "palette PNG", data: func(t testing.TB) []byte {
			src := portrait512()
			m := image.NewPaletted(src.Bounds(), palette.WebSafe)
			for y := range 512 {
				for x := range 512 {
					m.Set(x, y, src.At(x, y))
				}
			}
			return encodePNG(t, m)
		}, format: PNG, width: 512, height: 512},
		{name: "1366×768, within the 16:9 tolerance", data: func(t testing.TB) []byte { return encodeJPEG(t, portraitImage(1366, 768), 90) },
			format: JPEG, width: 1366, height: 768},
		{name: "1920×1088 from a video encoder", data: func(t testing.TB) []byte { return encodeJPEG(t, portraitImage(1920, 1088), 90) },
			format: JPEG, width: 1920, height: 1088},
		{name: "1000×990, a hand crop a little off square", data: func(t testing.TB) []byte { return encodeJPEG(t, portraitImage(1000, 990), 90) },
			format: JPEG, width: 1000, height: 990},
		{name: "grayscale JPEG passes with a warning", data: func(testing.TB) []byte {
			return testJPEG{comps: 1, quality: 90}.encode(portrait512())
		}, format: JPEG, width: 512, height: 512, warnings: []string{CodeGrayscale}},
	}
}

// bigAPPSegments returns APP2 segments totalling about n bytes.
func bigAPPSegments(n int) [][]byte {
	var segs [][]byte
	for n > 0 {
		k := min(n, 65533)
		segs = append(segs, jpegSegment(0xe2, bytes.Repeat([]byte{'x'}, k)))
		n -= k
	}
	return segs
}

func TestCheckAcceptsGoodInputs(t *testing.T) {
	for _, tc := range goodCases() {
		t.Run(tc.name, func(t *testing.T) {
			data := tc.data(t)
			size := int64(len(data))
			if tc.size != 0 {
				size = tc.size
			}
			rep, err := Check(bytes.NewReader(data), size, Policy{})
			if err != nil {
				t.Fatalf("Check: got error %v", err)
			}
			if !rep.Accepted() {
				t.Fatalf("got verdict %q with reasons %q, want accept", rep.Verdict, rep.Reasons)
			}
			if rep.Format != tc.format || rep.Width != tc.width || rep.Height != tc.height {
				t.Errorf("got %s %d×%d, want %s %d×%d", rep.Format, rep.Width, rep.Height, tc.format, tc.width, tc.height)
			}
			if got, want := strings.Join(rep.WarningCodes, ","), strings.Join(tc.warnings, ","); got != want {
				t.Errorf("got warnings %q (%q), want %q", rep.WarningCodes, rep.Warnings, want)
			}
			if rep.Bytes != int64(len(data)) {
				t.Errorf("got Bytes %d, want %d", rep.Bytes, len(data))
			}
			if rep.Metrics == nil {
				t.Fatal("got no metrics")
			}
			info, err := Header(bytes.NewReader(data), size)
			if err != nil {
				t.Fatalf("Header: got %v, want no error", err)
			}
			if info.Width != tc.width || info.Height != tc.height || info.Frames != 1 {
				t.Errorf("Header: got %+v, want %d×%d, 1 frame", info, tc.width, tc.height)
			}
		})
	}
}

func TestCheckReportsEveryGeometryProblem(t *testing.T) {
	data := encodeJPEG(t, portraitImage(640, 427), 90)
	rep, err := Check(bytes.NewReader(data), int64(len(data)), Policy{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(rep.ReasonCodes, ","), CodeTooSmall+","+CodeAspect; got != want {
		t.Errorf("got codes %q, want %q", got, want)
	}
	if rep.Metrics == nil {
		t.Error("got no metrics; a too-small image should still get its quality report")
	}
}

// exposure scales linear light by 2^stops.
func exposure(m *image.RGBA, stops float64) *image.RGBA {
	k := float32(1)
	for range int(stops * 2) {
		k *= 1.41421356
	}
	for range int(-stops * 2) {
		k /= 1.41421356
	}
	return mapPixels(m, func(_, _ int, c [3]float64) [3]float64 {
		for i := range c {
			c[i] = 255 * float64(linearToSRGB(float32(srgbToLinear(float32(c[i])))*k))
		}
		return c
	})
}

func linearToSRGB(l float32) float32 {
	l = min(max(l, 0), 1)
	if l <= 0.0031308 {
		return 12.92 * l
	}
	return float32(1.055*math.Pow(float64(l), 1/2.4) - 0.055)
}

func TestQualityFindings(t *testing.T) {
	base := portrait512
	cases := []struct {
		name   string
		data   func(t testing.TB) []byte
		code   string
		reason string
	}{
		{"underexposed by 2.5 stops", func(t testing.TB) []byte { return encodePNG(t, exposure(base(), -2.5)) }, CodeDark, "too dark"},
		{"overexposed by 2 stops", func(t testing.TB) []byte { return encodePNG(t, exposure(base(), 2)) }, CodeBright, "overexposed"},
		{"hazy", func(t testing.TB) []byte {
			return encodePNG(t, mapPixels(base(), func(_, _ int, c [3]float64) [3]float64 {
				for i := range c {
					c[i] = 0.3*c[i] + 0.7*128
				}
				return c
			}))
		}, CodeLowContrast, "low contrast"},
		{"out of focus", func(t testing.TB) []byte { return encodePNG(t, boxBlur(base(), 2, 3)) }, CodeBlurry, "blurry"},
		{"black-and-white", func(t testing.TB) []byte {
			return encodePNG(t, mapPixels(base(), func(_, _ int, c [3]float64) [3]float64 {
				y := 0.299*c[0] + 0.587*c[1] + 0.114*c[2]
				return [3]float64{y, y, y}
			}))
		}, CodeGrayscale, "black-and-white"},
		{"JPEG at quality 20", func(t testing.TB) []byte { return encodeJPEG(t, base(), 20) }, CodeCompressed, "quality about 20 of 100"},
		{"PNG of a JPEG at quality 10", func(t testing.TB) []byte {
			m, err := jpeg.Decode(bytes.NewReader(encodeJPEG(t, base(), 10)))
			if err != nil {
				t.Fatal(err)
			}
			return encodePNG(t, m)
		}, CodeCompressed, "8×8 blocks"},
		{"busy background", func(t testing.TB) []byte {
			return encodePNG(t, mapPixels(base(), func(x, y int, c [3]float64) [3]float64 {
				if y < 60 && ((x/4)+(y/4))%2 == 0 {
					return [3]float64{20, 20, 20}
				}
				return c
			}))
		}, CodeBusyBackground, "background looks busy"},
		{"transparent corners", func(t testing.TB) []byte {
			src := base()
			m := image.NewNRGBA(src.Bounds())
			for y := range 512 {
				for x := range 512 {
					c := src.RGBAAt(x, y)
					a := uint8(255)
					if x < 100 && y < 100 {
						a = 0
					}
					m.SetNRGBA(x, y, color.NRGBA{c.R, c.G, c.B, a})
				}
			}
			return encodePNG(t, m)
		}, CodeTransparent, "transparent"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data := tc.data(t)
			rep, err := Check(bytes.NewReader(data), int64(len(data)), Policy{})
			if err != nil {
				t.Fatal(err)
			}
			if !rep.Accepted() {
				t.Fatalf("got %q (%q), want accept: quality findings only warn by default", rep.Verdict, rep.Reasons)
			}
			i := indexOf(rep.WarningCodes, tc.code)
			if i < 0 {
				t.Fatalf("got warnings %q (%q), want %q", rep.WarningCodes, rep.Warnings, tc.code)
			}
			if !strings.Contains(rep.Warnings[i], tc.reason) {
				t.Errorf("got warning %q, want it to contain %q", rep.Warnings[i], tc.reason)
			}

			strict, err := Check(bytes.NewReader(data), int64(len(data)), Policy{Strict: true})
			if err != nil {
				t.Fatal(err)
			}
			if strict.Accepted() || indexOf(strict.ReasonCodes, tc.code) < 0 || len(strict.Warnings) != 0 {
				t.Errorf("strict: got %q, reasons %q, warnings %q; want a rejection for %q and no warnings", strict.Verdict, strict.ReasonCodes, strict.WarningCodes, tc.code)
			}
		})
	}
}

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

// detectorFunc adapts a function to FaceDetector.
type detectorFunc func(image.Image) ([]face.Face, error)

func (f detectorFunc) Detect(m image.Image) ([]face.Face, error) { return f(m) }

// TestFaceDetectorSeam: what the detector finds becomes rejections (no
// face, several, only a profile: whatever the Policy) or warnings, and the
// lighting is measured on the main face.
func TestFaceDetectorSeam(t *testing.T) {
	box := image.Rect(154, 100, 358, 360) // where portraitImage(512, 512) puts the face
	frontal := func(r image.Rectangle) face.Face { return face.Face{Box: r, Kind: face.Frontal, Eyes: 2} }
	sideLit := mapPixels(portrait512(), func(x, _ int, c [3]float64) [3]float64 {
		if x >= 256 {
			for i := range c {
				c[i] = 255 * float64(linearToSRGB(float32(srgbToLinear(float32(c[i])))/8))
			}
		}
		return c
	})
	faceCodes := []string{CodeNoFace, CodeSeveralFaces, CodeProfile, CodeBackgroundFace, CodeSmallFace, CodeEyesHidden, CodeFaceCheckFail, CodeUnevenLight}
	cases := []struct {
		name         string
		img          *image.RGBA
		faces        []face.Face
		err          error
		reject, warn string // the face or lighting codes expected; "" for none
		reason       string
		nFaces       int
		lighted      bool // LightingStops measured
	}{
		{name: "one face", img: portrait512(), faces: []face.Face{frontal(box)}, nFaces: 1, lighted: true},
		{name: "no face", img: portrait512(), reject: CodeNoFace, reason: "no face was found"},
		{name: "two faces", img: portrait512(), faces: []face.Face{frontal(box), frontal(box.Add(image.Pt(10, 0)))}, reject: CodeSeveralFaces, reason: "2 faces", nFaces: 2, lighted: true},
		{name: "a profile", img: portrait512(), faces: []face.Face{{Box: box, Kind: face.Profile}}, reject: CodeProfile, reason: "turned away", nFaces: 1},
		{name: "a small face", img: portrait512(), faces: []face.Face{frontal(image.Rect(10, 10, 50, 60))}, warn: CodeSmallFace, reason: "fills only 10%", nFaces: 1, lighted: true},
		{name: "no eyes", img: portrait512(), faces: []face.Face{{Box: box, Kind: face.Frontal}}, warn: CodeEyesHidden, reason: "sunglasses", nFaces: 1, lighted: true},
		{name: "detector error", img: portrait512(), err: errors.New("model not loaded"), warn: CodeFaceCheckFail, reason: "model not loaded"},
		{name: "harsh side light", img: sideLit, faces: []face.Face{frontal(box)}, warn: CodeUnevenLight, reason: "its right half gets", nFaces: 1, lighted: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data := encodePNG(t, tc.img)
			var seen image.Rectangle
			d := detectorFunc(func(m image.Image) ([]face.Face, error) {
				seen = m.Bounds()
				return tc.faces, tc.err
			})
			rep, err := Check(bytes.NewReader(data), int64(len(data)), Policy{FaceDetector: d})
			if err != nil {
				t.Fatal(err)
			}
			if seen != image.Rect(0, 0, 512, 512) {
				t.Errorf("detector saw %v, want the 512×512 working copy", seen)
			}
			only := func(codes []string) string {
				return strings.Join(slices.DeleteFunc(slices.Clone(codes), func(c string) bool { return !slices.Contains(faceCodes, c) }), ",")
			}
			if got := only(rep.ReasonCodes); got != tc.reject {
				t.Errorf("got face rejections %q (all: %q), want %q", got, rep.Reasons, tc.reject)
			}
			if got := only(rep.WarningCodes); got != tc.warn {
				t.Errorf("got face warnings %q (all: %q), want %q", got, rep.Warnings, tc.warn)
			}
			if (rep.Verdict == Reject) != (tc.reject != "") {
				t.Errorf("got verdict %s, want a rejection: %v", rep.Verdict, tc.reject != "")
			}
			if all := strings.Join(append(rep.Reasons, rep.Warnings...), "|"); !strings.Contains(all, tc.reason) {
				t.Errorf("got reasons and warnings %q, want one containing %q", all, tc.reason)
			}
			if tc.err == nil && (rep.Metrics.Faces == nil || *rep.Metrics.Faces != tc.nFaces) {
				t.Errorf("got Faces %v, want %d", rep.Metrics.Faces, tc.nFaces)
			}
			if got := rep.Metrics.LightingStops != nil; got != tc.lighted {
				t.Errorf("got LightingStops %v, want measured=%v", rep.Metrics.LightingStops, tc.lighted)
			}
		})
	}

	t.Run("detector sees the picture upright", func(t *testing.T) {
		data := insertAfterSOI(encodeJPEG(t, portraitTall(), 90), exifSegment(6, false))
		var seen image.Rectangle
		d := detectorFunc(func(m image.Image) ([]face.Face, error) { seen = m.Bounds(); return nil, nil })
		if _, err := Check(bytes.NewReader(data), int64(len(data)), Policy{FaceDetector: d}); err != nil {
			t.Fatal(err)
		}
		if seen.Dx() <= seen.Dy() {
			t.Errorf("detector saw %v, want a wide (upright) picture", seen)
		}
	})
}

func TestReportJSON(t *testing.T) {
	rep, err := Check(strings.NewReader("not an image"), 12, Policy{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"verdict":"reject"`, `"warnings":[]`, `"warning_codes":[]`, `"reason_codes":["format"]`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("got %s, want it to contain %s", b, want)
		}
	}
	if strings.Contains(string(b), `"metrics"`) {
		t.Errorf("got %s, want no metrics for an undecodable file", b)
	}
}

// failingReader returns data, then err instead of io.EOF.
type failingReader struct {
	data []byte
	err  error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestReaderFailureIsAnError(t *testing.T) {
	errReset := errors.New("connection reset by peer")
	j := jpeg512()
	for _, cut := range []int{0, 1, 30, len(j) / 2} {
		rep, err := Check(&failingReader{data: j[:cut], err: errReset}, int64(len(j)), Policy{})
		if !errors.Is(err, errReset) {
			t.Errorf("cut at %d: Check got (%+v, %v), want the reader's error", cut, rep.Reasons, err)
		}
		var p *Problem
		if errors.As(err, &p) {
			t.Errorf("cut at %d: got a *Problem %v, want a plain error", cut, p)
		}
		if cut < 100 {
			if _, err := Header(&failingReader{data: j[:cut], err: errReset}, int64(len(j))); !errors.Is(err, errReset) || errors.As(err, &p) {
				t.Errorf("cut at %d: Header got %v, want the reader's error", cut, err)
			}
		}
	}
}

func TestCheckReadsNoMoreThanSize(t *testing.T) {
	j := jpeg512()
	padded := append(append([]byte(nil), j...), bytes.Repeat([]byte{0xAA}, 1<<20)...)
	r := &countingReader{r: bytes.NewReader(padded)}
	rep, err := Check(r, int64(len(j)), Policy{})
	if err != nil || !rep.Accepted() {
		t.Fatalf("got %v %q, want accept", err, rep.Reasons)
	}
	if r.n > int64(len(j)) {
		t.Errorf("read %d bytes, want at most the declared %d", r.n, len(j))
	}
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// TestRealFaceDetector: with the detector the pipeline uses, the
// public-domain portrait passes with its one face found and the lighting
// measured on it; the same picture mirrored beside itself is two people.
func TestRealFaceDetector(t *testing.T) {
	p := Policy{FaceDetector: face.New()}
	rep, err := Check(bytes.NewReader(sample.AstronautJPEG), int64(len(sample.AstronautJPEG)), p)
	if err != nil || rep.Verdict != Accept || rep.Metrics.Faces == nil || *rep.Metrics.Faces != 1 || rep.Metrics.LightingStops == nil {
		t.Fatalf("the astronaut: got %s %q (faces %v), %v; want accepted with one face", rep.Verdict, rep.Reasons, rep.Metrics.Faces, err)
	}
	if f := rep.Faces; len(f) != 1 || f[0].Kind != face.Frontal || f[0].Eyes != 2 ||
		absInt(f[0].Box[0]-sample.AstronautFace.Min.X) > 15 || absInt(f[0].Box[3]-sample.AstronautFace.Max.Y) > 15 {
		t.Errorf("the astronaut: got faces %+v, want one frontal face with two eyes near %v", f, sample.AstronautFace)
	}
	astro := sample.Astronaut()
	pair := image.NewRGBA(image.Rect(0, 0, 1024, 576))
	draw.Draw(pair, image.Rect(0, 32, 512, 544), astro, image.Point{}, draw.Src)
	draw.Draw(pair, image.Rect(512, 32, 1024, 544), astro, image.Point{}, draw.Src)
	data := encodeJPEG(t, pair, 90)
	rep, err = Check(bytes.NewReader(data), int64(len(data)), p)
	if err != nil || rep.Verdict != Reject || !slices.Contains(rep.ReasonCodes, CodeSeveralFaces) {
		t.Errorf("two astronauts: got %s %q, %v; want rejected for several faces", rep.Verdict, rep.ReasonCodes, err)
	}
}

func absInt(n int) int { return max(n, -n) }
