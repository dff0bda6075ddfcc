package portrait

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"runtime"
	"testing"
)

// headerReadLimit is how much the header checks may read of a file whose header is where
// headers usually are.
const headerReadLimit = 64 << 10

func TestHeaderReadsLittle(t *testing.T) {
	cases := []struct {
		name string
		data func(t testing.TB) []byte
		// max is the most Header may read; 0 means headerReadLimit.
		max           int64
		width, height int
	}{
		{name: "10 MB JPEG", data: checkTenMB, width: 6000, height: 3375},
		{name: "1920×1080 PNG", data: func(t testing.TB) []byte { return encodePNG(t, portraitWide()) }, width: 1920, height: 1080},
		{name: "JPEG with EXIF", data: func(t testing.TB) []byte {
			return insertAfterSOI(encodeJPEG(t, portraitTall(), 90), exifSegment(6, false))
		}, width: 1920, height: 1080},
		{name: "JPEG whose size comes after 1 MB of APP segments", data: func(testing.TB) []byte {
			return insertAfterSOI(jpeg512(), bigAPPSegments(1<<20)...)
		}, max: 1<<20 + headerReadLimit, width: 512, height: 512},
		{name: "PNG with a 5 MB zTXt chunk before its data", data: func(testing.TB) []byte {
			return insertAfterIHDR(png512(), pngChunk("zTXt", make([]byte, 5<<20)))
		}, max: 5<<20 + headerReadLimit, width: 512, height: 512},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data := tc.data(t)
			limit := tc.max
			if limit == 0 {
				limit = headerReadLimit
			}
			r := &countingReader{r: bytes.NewReader(data)}
			info, err := Header(r, int64(len(data)))
			if err != nil {
				t.Fatalf("Header: %v", err)
			}
			if info.Width != tc.width || info.Height != tc.height {
				t.Errorf("got %d×%d, want %d×%d", info.Width, info.Height, tc.width, tc.height)
			}
			if r.n > limit {
				t.Errorf("read %d bytes of %d, want at most %d", r.n, len(data), limit)
			}
			t.Logf("read %d of %d bytes", r.n, len(data))
		})
	}
}

func TestHeaderUnknownSize(t *testing.T) {
	info, err := Header(bytes.NewReader(jpeg512()), -1)
	if err != nil || info.Width != 512 || info.Format != JPEG {
		t.Errorf("got %+v, %v; want a 512×512 JPEG", info, err)
	}
}

func TestExifOrientation(t *testing.T) {
	le := tiffOrientation(6, false)
	be := tiffOrientation(8, true)
	long := append([]byte(nil), le...)
	binary.LittleEndian.PutUint16(long[12:], 4) // LONG instead of SHORT
	binary.LittleEndian.PutUint32(long[18:], 3)
	cases := []struct {
		name string
		b    []byte
		want int
	}{
		{"little-endian", le, 6},
		{"big-endian", be, 8},
		{"with the JPEG prefix", append([]byte("Exif\x00\x00"), le...), 6},
		{"LONG value", long, 3},
		{"value out of range", tiffOrientation(9, false), 0},
		{"value 0", tiffOrientation(0, false), 0},
		{"count 2", func() []byte { b := append([]byte(nil), le...); b[14] = 2; return b }(), 0},
		{"IFD offset past the end", func() []byte { b := append([]byte(nil), le...); b[4] = 200; return b }(), 0},
		{"IFD offset inside the header", func() []byte { b := append([]byte(nil), le...); b[4] = 2; return b }(), 0},
		{"entry count past the end", func() []byte { b := append([]byte(nil), le...); b[8] = 0xff; return b }(), 6},
		{"truncated entry", le[:15], 0},
		{"not TIFF", []byte("XX*\x00\x08\x00\x00\x00"), 0},
		{"empty", nil, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := exifOrientation(tc.b); got != tc.want {
				t.Errorf("got %d, want %d", got, tc.want)
			}
		})
	}
}

func TestOrient(t *testing.T) {
	// Stored 3×2:  a b c / d e f. Want what each EXIF orientation displays (EXIF 2.32, 4.6.4 A).
	stored := &work{w: 3, h: 2, y: []float32{'a', 'b', 'c', 'd', 'e', 'f'}}
	stored.r, stored.g, stored.b = stored.y, stored.y, stored.y
	cases := []struct {
		o    int
		w    int
		want string
	}{
		{1, 3, "abc/def"},
		{2, 3, "cba/fed"},
		{3, 3, "fed/cba"},
		{4, 3, "def/abc"},
		{5, 2, "ad/be/cf"},
		{6, 2, "da/eb/fc"},
		{7, 2, "fc/eb/da"},
		{8, 2, "cf/be/ad"},
	}
	for _, tc := range cases {
		got := stored.orient(tc.o)
		var s []byte
		for i, v := range got.y {
			if i > 0 && i%got.w == 0 {
				s = append(s, '/')
			}
			s = append(s, byte(v))
		}
		if got.w != tc.w || string(s) != tc.want {
			t.Errorf("orientation %d: got %s (width %d), want %s (width %d)", tc.o, s, got.w, tc.want, tc.w)
		}
	}
}

func TestJPEGQualityEstimate(t *testing.T) {
	m := portrait512()
	for _, q := range []int{5, 20, 35, 50, 75, 90, 100} {
		for _, enc := range []struct {
			name string
			data []byte
		}{
			{"image/jpeg", encodeJPEG(t, m, q)},
			{"test encoder", testJPEG{comps: 3, quality: q}.encode(solid(64, 64))},
		} {
			h, err := readHeader(bytes.NewReader(enc.data), int64(len(enc.data)), nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := jpegQuality(h); got != q {
				t.Errorf("%s at quality %d: estimated %d", enc.name, q, got)
			}
		}
	}
}

// TestDecodeCost compares the decode-memory estimate, which the MaxDecodeBytes cap relies on,
// with what Go's decoders really allocate.
func TestDecodeCost(t *testing.T) {
	m := portrait512()
	gray16 := image.NewGray16(m.Bounds())
	nrgba := image.NewNRGBA(m.Bounds())
	for i := range nrgba.Pix {
		nrgba.Pix[i] = m.Pix[i]
	}
	cases := []struct {
		name string
		data []byte
	}{
		{"baseline 4:2:0 JPEG", encodeJPEG(t, m, 90)},
		{"grayscale JPEG", encodeJPEG(t, solid(512, 512), 90)},
		{"progressive 4:4:4 JPEG", testJPEG{comps: 3, progressive: true, quality: 90}.encode(m)},
		{"CMYK JPEG", testJPEG{comps: 4, adobe: true, quality: 90}.encode(m)},
		{"progressive CMYK JPEG", testJPEG{comps: 4, adobe: true, progressive: true, quality: 90}.encode(m)},
		{"RGB PNG", encodePNG(t, m)},
		{"RGBA PNG", encodePNG(t, nrgba)},
		{"gray PNG", encodePNG(t, solid(512, 512))},
		{"16-bit gray PNG", encodePNG(t, gray16)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h, err := readHeader(bytes.NewReader(tc.data), int64(len(tc.data)), nil)
			if err != nil {
				t.Fatal(err)
			}
			est := decodeCost(h)
			got := allocated(func() {
				var err error
				if h.Format == JPEG {
					_, err = jpeg.Decode(bytes.NewReader(tc.data))
				} else {
					_, err = png.Decode(bytes.NewReader(tc.data))
				}
				if err != nil {
					t.Fatal(err)
				}
			})
			// The cap relies on the estimate never being under; its flat 128 KB for the
			// decoders' own tables and buffers makes it over by most for small images.
			t.Logf("estimated %d, allocated %d", est, got)
			if est < got || est > got*2 {
				t.Errorf("estimated %d bytes, decoder allocated %d; want at least that and at most twice", est, got)
			}
		})
	}
}

// allocated returns the bytes f allocates on the heap.
func allocated(f func()) int64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return int64(after.TotalAlloc - before.TotalAlloc)
}

// TestBombsAllocateLittle checks that images claiming huge sizes are refused before anything
// of that size is allocated.
func TestBombsAllocateLittle(t *testing.T) {
	bombs := []struct {
		name string
		data []byte
	}{
		{"JPEG 60000×60000", jpegHeaderOnly(0xc0, 60000, 60000, 3, 0x22)},
		{"JPEG 65535×65535 progressive", jpegHeaderOnly(0xc2, 65535, 65535, 3, 0x11)},
		{"PNG 60000×60000", pngHeaderOnly(60000, 60000, pngChunk("IDAT", []byte{0x78, 0x9c}))},
		{"PNG 2³¹-1 square", pngHeaderOnly(0x7fffffff, 0x7fffffff, pngChunk("IDAT", nil))},
		{"PNG 6000×6000 in 1 KB", pngHeaderOnly(6000, 6000, pngChunk("IDAT", make([]byte, 1000)))},
		{"JPEG 6000×6000 with 1 MB of data", append(jpegHeaderOnly(0xc2, 6000, 6000, 3, 0x11), make([]byte, 1<<20)...)},
	}
	for _, tc := range bombs {
		t.Run(tc.name, func(t *testing.T) {
			var rep Report
			got := allocated(func() {
				var err error
				rep, err = Check(bytes.NewReader(tc.data), int64(len(tc.data)), Policy{})
				if err != nil {
					t.Fatal(err)
				}
			})
			if rep.Accepted() {
				t.Fatalf("got accept, want a rejection")
			}
			if got > 2<<20 {
				t.Errorf("allocated %d bytes refusing it (%q), want under 2 MiB", got, rep.Reasons)
			}
		})
	}
}

func TestShapeName(t *testing.T) {
	for _, tc := range []struct {
		w, h int
		want string
	}{
		{1024, 768, "a wide 4:3 shape"},
		{768, 1024, "a tall 3:4 shape"},
		{1500, 1000, "a wide 3:2 shape"},
		{1080, 1920, "a tall 9:16 shape"},
		{1000, 300, "a wide shape (3.33:1)"},
		{300, 1000, "a tall shape (1:3.33)"},
	} {
		if got := shapeName(tc.w, tc.h); got != tc.want {
			t.Errorf("shapeName(%d, %d) = %q, want %q", tc.w, tc.h, got, tc.want)
		}
	}
}

func TestAspectTolerance(t *testing.T) {
	for _, tc := range []struct {
		w, h int
		want bool
	}{
		{1024, 1024, true}, {1000, 981, true}, {1000, 979, false}, {1920, 1080, true},
		{1920, 1088, true}, {1366, 768, true}, {1920, 1200, false}, {1080, 1920, false}, {1500, 1000, false},
	} {
		if got := aspectOK(tc.w, tc.h); got != tc.want {
			t.Errorf("aspectOK(%d, %d) = %v, want %v", tc.w, tc.h, got, tc.want)
		}
	}
}

func ExampleCheck() {
	img := image.NewGray(image.Rect(0, 0, 640, 427))
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		panic(err)
	}
	rep, err := Check(&buf, int64(buf.Len()), Policy{})
	if err != nil {
		panic(err) // reading failed; bad content is never an error
	}
	fmt.Println(rep.Verdict)
	for _, r := range rep.Reasons {
		fmt.Println(r)
	}
	// Output:
	// reject
	// the image is 640×427; Mirako needs at least 512×512
	// the image is 640×427, a wide 3:2 shape; Mirako needs a square (1:1) or wide 16:9 picture, within 2%: crop it
}
