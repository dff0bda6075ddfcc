package portrait

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"unicode/utf8"
)

// tracker wraps the caller's reader: it counts the bytes read and remembers the first error
// that is not io.EOF, so that a failure of the reader is reported as an error and never mistaken
// for a truncated file.
type tracker struct {
	r   io.Reader
	n   int64
	err error
	eof bool // the reader reported io.EOF
}

func (t *tracker) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	t.n += int64(n)
	switch {
	case err == io.EOF:
		t.eof = true
	case err != nil && t.err == nil:
		t.err = err
	}
	return n, err
}

// replayBuffer keeps the bytes the header walk consumed so that the full decode can read the
// file from its start without the caller seeking or reading it twice.
type replayBuffer struct{ bytes.Buffer }

func (b *replayBuffer) reader(rest io.Reader) io.Reader {
	return io.MultiReader(bytes.NewReader(b.Bytes()), rest)
}

// header is what the header walk learned: the public Info plus what the decode-cost estimate,
// the quality report and the error messages need.
type header struct {
	Info
	storedW, storedH int   // dimensions as stored, before the EXIF orientation
	size             int64 // the caller's size; negative if unknown
	tr               *tracker
	lr               *io.LimitedReader // reading continues here after the header

	// JPEG.
	ncomp       int
	comp        [4]jpegComponent
	quant       [4]*[64]uint16 // quantisation tables by Tq, in zigzag order
	adobe       bool           // an Adobe APP14 segment precedes the SOF
	adobeXform  byte           // its colour transform: 0 RGB or CMYK, 1 YCbCr, 2 YCCK
	jfif        bool           // a JFIF APP0 segment precedes the SOF
	progressive bool           // SOF2

	// PNG.
	depth      byte
	colorType  byte
	interlaced bool
	trns       bool
	plte       bool
}

type jpegComponent struct {
	id   byte
	h, v int
	tq   byte
}

// hreader reads the header: through the limit and the tracker, copying what it reads into rec
// when rec is set (Check) and merely counting it when not (Header).
type hreader struct {
	h   *header
	rec *replayBuffer
}

func (hr hreader) Read(p []byte) (int, error) {
	n, err := hr.h.lr.Read(p)
	if hr.rec != nil {
		hr.rec.Write(p[:n])
	}
	return n, err
}

// readErr turns an error met while reading the header into what the caller should see: the
// reader's own failure, a file larger than MaxBytes (when its size was not given), or a
// truncated file.
func (h *header) readErr(err error) error {
	if err == nil {
		return nil
	}
	if h.tr.err != nil {
		return fmt.Errorf("read portrait: %w", h.tr.err)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		if h.size < 0 && h.lr.N == 0 {
			return tooManyBytes(h.tr.n)
		}
		return problemf(CodeCorrupt, "the %s is truncated: the file ends after %d bytes, inside its header", h.Format.noun(), h.tr.n)
	}
	return fmt.Errorf("read portrait: %w", err)
}

func (f Format) noun() string {
	switch f {
	case JPEG:
		return "JPEG"
	case PNG:
		return "PNG"
	}
	return "file"
}

func tooManyBytes(n int64) *Problem {
	return problemf(CodeTooLarge, "the file is %s; Mirako accepts at most %s", megabytes(n), megabytes(MaxBytes))
}

// megabytes formats n in SI megabytes, the unit of Mirako's guidance and of MaxBytes.
func megabytes(n int64) string {
	if n > MaxBytes && n < MaxBytes+50_000 {
		return fmt.Sprintf("%.3f MB", float64(n)/1e6) // don't print "10.0 MB; at most 10 MB"
	}
	return fmt.Sprintf("%.1f MB", float64(n)/1e6)
}

// readHeader identifies the format by its magic bytes and walks the header as far as it must:
// JPEG up to its SOF segment, PNG up to its first IDAT chunk. It reads nothing beyond size bytes
// (MaxBytes+1 when size is unknown). When rec is set it keeps the bytes it read.
func readHeader(r io.Reader, size int64, rec *replayBuffer) (*header, error) {
	h := &header{size: size, tr: &tracker{r: r}}
	h.Orientation, h.Frames = 1, 1
	limit := size
	if size < 0 {
		limit = MaxBytes + 1
	}
	h.lr = &io.LimitedReader{R: h.tr, N: limit}
	switch {
	case size == 0:
		return h, problemf(CodeEmpty, "the file is empty (0 bytes)")
	case size > MaxBytes:
		return h, tooManyBytes(size)
	}
	hr := hreader{h: h, rec: rec}

	var magic [12]byte
	n, err := io.ReadFull(hr, magic[:])
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) || h.tr.err != nil {
		return h, h.readErr(err)
	}
	if n == 0 {
		return h, problemf(CodeEmpty, "the file is empty (0 bytes)")
	}
	format, what := sniff(magic[:n])
	h.Format = format
	switch format {
	case JPEG:
		err = h.readJPEG(hr, magic[:n])
	case PNG:
		err = h.readPNG(hr, magic[:n])
	default:
		return h, problemf(CodeFormat, "the file is %s, not a JPEG or PNG image; Mirako accepts only JPEG and PNG", what)
	}
	if err != nil {
		return h, err
	}
	h.Width, h.Height = h.storedW, h.storedH
	if h.Orientation >= 5 {
		h.Width, h.Height = h.storedH, h.storedW
	}
	return h, nil
}

var pngSignature = []byte("\x89PNG\r\n\x1a\n")

// sniff identifies the format from the first bytes. For formats Mirako does not accept it
// returns a phrase naming what the file is, for the rejection reason.
func sniff(b []byte) (Format, string) {
	has := func(off int, s string) bool { return len(b) >= off+len(s) && string(b[off:off+len(s)]) == s }
	switch {
	case has(0, "\xff\xd8"):
		return JPEG, ""
	case has(0, "\x89PNG"), len(b) < 8 && bytes.HasPrefix(pngSignature, b) && len(b) >= 4:
		return PNG, ""
	case has(0, "GIF87a"), has(0, "GIF89a"):
		return "", "a GIF image"
	case has(0, "RIFF") && has(8, "WEBP"):
		return "", "a WebP image"
	case has(4, "ftypheic"), has(4, "ftypheix"), has(4, "ftyphevc"), has(4, "ftypmif1"), has(4, "ftypmsf1"), has(4, "ftypheim"), has(4, "ftypheis"):
		return "", "a HEIC/HEIF image (the iPhone's default format: export it as JPEG)"
	case has(4, "ftypavif"), has(4, "ftypavis"):
		return "", "an AVIF image"
	case has(4, "ftyp"):
		return "", "a video or other ISO media file"
	case has(0, "\x00\x00\x00\x0cjP  "), has(0, "\xff\x4f\xff\x51"):
		return "", "a JPEG 2000 image"
	case has(0, "BM"):
		return "", "a BMP image"
	case has(0, "II*\x00"), has(0, "MM\x00*"):
		return "", "a TIFF image or camera raw file"
	case has(0, "%PDF"):
		return "", "a PDF document"
	case has(0, "8BPS"):
		return "", "a Photoshop document"
	case has(0, "PK\x03\x04"):
		return "", "a ZIP archive"
	case has(0, "\x00\x00\x01\x00"):
		return "", "an icon (ICO) file"
	}
	t := bytes.TrimLeft(b, "\xef\xbb\xbf \t\r\n")
	switch {
	case bytes.HasPrefix(t, []byte("<svg")), bytes.HasPrefix(t, []byte("<?xml")):
		return "", "an SVG or XML document"
	case bytes.HasPrefix(t, []byte("<")):
		return "", "an HTML or XML document"
	case isText(b):
		return "", "text"
	}
	return "", fmt.Sprintf("of an unknown kind (it starts with the bytes % x)", b[:min(len(b), 8)])
}

// isText reports whether b looks like text: valid UTF-8 (allowing a rune cut at the end) with no
// control characters other than white space.
func isText(b []byte) bool {
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r == utf8.RuneError && n <= 1 {
			return len(b) < utf8.UTFMax && !utf8.FullRune(b)
		}
		if r < 0x20 && r != '\t' && r != '\n' && r != '\r' && r != '\f' || r == 0x7f {
			return false
		}
		b = b[n:]
	}
	return true
}

// JPEG markers (ITU-T T.81 Table B.1).
const (
	markerSOF0  = 0xc0
	markerSOF1  = 0xc1
	markerSOF2  = 0xc2
	markerDHT   = 0xc4
	markerDAC   = 0xcc
	markerRST0  = 0xd0
	markerRST7  = 0xd7
	markerSOI   = 0xd8
	markerEOI   = 0xd9
	markerSOS   = 0xda
	markerDQT   = 0xdb
	markerDNL   = 0xdc
	markerAPP0  = 0xe0
	markerAPP1  = 0xe1
	markerAPP14 = 0xee
	markerAPP15 = 0xef
	markerCOM   = 0xfe
)

// readJPEG walks the JPEG's segments up to its frame header (SOF), the way Go's decoder will
// later: it records the quantisation tables, the EXIF orientation and the Adobe marker, and skips
// everything else without keeping it (unless Check is recording).
func (h *header) readJPEG(hr hreader, magic []byte) error {
	// The walk restarts after SOI; the magic bytes beyond it are fed back in.
	src := io.MultiReader(bytes.NewReader(magic[2:]), hr)
	jr := jpegReader{src: src, h: h}
	for {
		marker, err := jr.nextMarker()
		if err != nil {
			return err
		}
		switch {
		case marker == markerEOI:
			return problemf(CodeCorrupt, "the JPEG ends (EOI marker) before its image size is given: it has no image in it")
		case markerRST0 <= marker && marker <= markerRST7:
			continue
		case marker == markerSOI:
			return problemf(CodeCorrupt, "the JPEG is damaged: a second start-of-image marker appears before the image size")
		}
		n, err := jr.segmentLength()
		if err != nil {
			return err
		}
		switch {
		case marker == markerSOF0 || marker == markerSOF1 || marker == markerSOF2:
			return jr.sof(marker, n)
		case marker >= 0xc3 && marker <= 0xcf && marker != markerDHT && marker != markerDAC && marker != 0xc8:
			return unsupportedSOF(marker)
		case marker == markerSOS:
			return problemf(CodeCorrupt, "the JPEG is damaged: its image data starts before its image size is given")
		case marker == markerDQT:
			err = jr.dqt(n)
		case marker == markerAPP1:
			err = jr.app1(n)
		case marker == markerAPP14:
			err = jr.app14(n)
		case marker == markerAPP0:
			err = jr.app0(n)
		case marker == markerDNL:
			return problemf(CodeUnsupported, "the JPEG gives its height in a DNL marker, a rare variant that cannot be decoded here; re-save it as a standard JPEG")
		case marker >= markerAPP0 && marker <= markerAPP15, marker == markerCOM, marker == markerDHT, marker == markerDAC, marker == 0xdd:
			err = jr.skip(n)
		case marker < 0xc0:
			return problemf(CodeCorrupt, "the JPEG is damaged: it has an invalid marker (0xff%02x) before its image size", marker)
		default:
			return problemf(CodeUnsupported, "the JPEG uses a marker (0xff%02x) that cannot be decoded here; re-save it as a standard JPEG", marker)
		}
		if err != nil {
			return err
		}
	}
}

func unsupportedSOF(marker byte) *Problem {
	var kind string
	switch marker {
	case 0xc3:
		kind = "lossless JPEG"
	case 0xc5, 0xc6, 0xc7:
		kind = "hierarchical (differential) JPEG"
	case 0xc9, 0xca, 0xcb, 0xcd, 0xce, 0xcf:
		kind = "arithmetic coding"
	default:
		kind = fmt.Sprintf("an unknown coding process (marker 0xff%02x)", marker)
	}
	return problemf(CodeUnsupported, "the JPEG uses %s, which cannot be decoded here (nor by many other programs); re-save it as a standard JPEG", kind)
}

type jpegReader struct {
	src io.Reader
	h   *header
}

func (jr jpegReader) readFull(b []byte) error {
	_, err := io.ReadFull(jr.src, b)
	return jr.h.readErr(err)
}

func (jr jpegReader) skip(n int) error {
	_, err := io.CopyN(io.Discard, jr.src, int64(n))
	return jr.h.readErr(err)
}

// nextMarker finds the next marker, tolerating what Go's decoder tolerates: extraneous bytes
// before a marker and 0xff fill bytes.
func (jr jpegReader) nextMarker() (byte, error) {
	var b [1]byte
	for {
		if err := jr.readFull(b[:]); err != nil {
			return 0, err
		}
		if b[0] != 0xff {
			continue
		}
		for b[0] == 0xff {
			if err := jr.readFull(b[:]); err != nil {
				return 0, err
			}
		}
		if b[0] != 0 { // "\xff\x00" is extraneous data
			return b[0], nil
		}
	}
}

// segmentLength reads a segment's 16-bit length and returns the length of its payload.
func (jr jpegReader) segmentLength() (int, error) {
	var b [2]byte
	if err := jr.readFull(b[:]); err != nil {
		return 0, err
	}
	n := int(binary.BigEndian.Uint16(b[:])) - 2
	if n < 0 {
		return 0, problemf(CodeCorrupt, "the JPEG is damaged: a segment has an impossible length (%d)", n+2)
	}
	return n, nil
}

// sof reads the frame header and checks it against what Go's image/jpeg supports.
func (jr jpegReader) sof(marker byte, n int) error {
	h := jr.h
	h.progressive = marker == markerSOF2
	if n != 6+3*1 && n != 6+3*3 && n != 6+3*4 {
		if n >= 6 && (n-6)%3 == 0 {
			return problemf(CodeUnsupported, "the JPEG has %d colour components; only grayscale (1), colour (3) and CMYK (4) can be decoded", (n-6)/3)
		}
		return problemf(CodeCorrupt, "the JPEG is damaged: its frame header has a wrong length (%d bytes)", n)
	}
	b := make([]byte, n)
	if err := jr.readFull(b); err != nil {
		return err
	}
	precision := int(b[0])
	h.storedH = int(binary.BigEndian.Uint16(b[1:3]))
	h.storedW = int(binary.BigEndian.Uint16(b[3:5]))
	h.ncomp = int(b[5])
	if h.ncomp != (n-6)/3 {
		return problemf(CodeCorrupt, "the JPEG is damaged: its frame header's component count (%d) does not match its length", h.ncomp)
	}
	if precision != 8 {
		return problemf(CodeUnsupported, "the JPEG has %d-bit samples; only 8-bit JPEGs (by far the most common) can be decoded here", precision)
	}
	if h.storedW == 0 || h.storedH == 0 {
		return problemf(CodeCorrupt, "the JPEG declares an image of %d×%d pixels", h.storedW, h.storedH)
	}
	for i := 0; i < h.ncomp; i++ {
		c := &h.comp[i]
		c.id, c.h, c.v, c.tq = b[6+3*i], int(b[7+3*i]>>4), int(b[7+3*i]&0x0f), b[8+3*i]
		for j := 0; j < i; j++ {
			if h.comp[j].id == c.id {
				return problemf(CodeCorrupt, "the JPEG is damaged: two colour components share the identifier %d", c.id)
			}
		}
		if c.tq > 3 {
			return problemf(CodeCorrupt, "the JPEG is damaged: a component refers to quantisation table %d (at most 3)", c.tq)
		}
		if c.h < 1 || c.h > 4 || c.v < 1 || c.v > 4 {
			return problemf(CodeCorrupt, "the JPEG is damaged: it has an invalid sampling factor %d×%d", c.h, c.v)
		}
	}
	if !samplingSupported(h) {
		return problemf(CodeUnsupported, "the JPEG uses an unusual chroma subsampling layout that cannot be decoded here; re-save it with standard settings")
	}
	return nil
}

// samplingSupported mirrors the subsampling layouts Go's image/jpeg decodes: for colour images
// 4:4:4, 4:4:0, 4:2:2, 4:2:0, 4:1:1 and 4:1:0; for four-component images two layouts.
func samplingSupported(h *header) bool {
	c := h.comp
	for i := 0; i < h.ncomp; i++ {
		if c[i].h == 3 || c[i].v == 3 {
			return false
		}
	}
	switch h.ncomp {
	case 1:
		return true
	case 3:
		return c[0].v != 4 && c[0].h%c[1].h == 0 && c[0].v%c[1].v == 0 && c[2].h == c[1].h && c[2].v == c[1].v
	case 4:
		hv0 := c[0].h<<4 | c[0].v
		return (hv0 == 0x11 || hv0 == 0x22) && c[1].h == 1 && c[1].v == 1 && c[2].h == 1 && c[2].v == 1 && c[3].h == c[0].h && c[3].v == c[0].v
	}
	return false
}

// dqt records quantisation tables (for the compression estimate).
func (jr jpegReader) dqt(n int) error {
	for n > 0 {
		var pq [1]byte
		if err := jr.readFull(pq[:]); err != nil {
			return err
		}
		n--
		precision, tq := pq[0]>>4, pq[0]&0x0f
		size := 64
		if precision == 1 {
			size = 128
		}
		if precision > 1 || tq > 3 || n < size {
			return problemf(CodeCorrupt, "the JPEG is damaged: it has an invalid quantisation table")
		}
		var raw [128]byte
		if err := jr.readFull(raw[:size]); err != nil {
			return err
		}
		n -= size
		t := new([64]uint16)
		for i := range t {
			if precision == 1 {
				t[i] = binary.BigEndian.Uint16(raw[2*i:])
			} else {
				t[i] = uint16(raw[i])
			}
		}
		jr.h.quant[tq] = t
	}
	return nil
}

// app1 reads an EXIF segment for its orientation; other APP1 segments (XMP) are skipped.
func (jr jpegReader) app1(n int) error {
	if n < 6 {
		return jr.skip(n)
	}
	b := make([]byte, n)
	if err := jr.readFull(b[:6]); err != nil {
		return err
	}
	if string(b[:6]) != "Exif\x00\x00" {
		return jr.skip(n - 6)
	}
	if err := jr.readFull(b[6:]); err != nil {
		return err
	}
	if o := exifOrientation(b[6:]); o != 0 && jr.h.Orientation == 1 {
		jr.h.Orientation = o
	}
	return nil
}

// app14 notes an Adobe segment: without one, a four-component JPEG cannot be decoded.
func (jr jpegReader) app14(n int) error {
	if n < 12 {
		return jr.skip(n)
	}
	var b [12]byte
	if err := jr.readFull(b[:]); err != nil {
		return err
	}
	if string(b[:5]) == "Adobe" {
		jr.h.adobe, jr.h.adobeXform = true, b[11]
	}
	return jr.skip(n - 12)
}

// app0 notes a JFIF segment: it tells Go's decoder that three components are YCbCr.
func (jr jpegReader) app0(n int) error {
	if n < 5 {
		return jr.skip(n)
	}
	var b [5]byte
	if err := jr.readFull(b[:]); err != nil {
		return err
	}
	if string(b[:]) == "JFIF\x00" {
		jr.h.jfif = true
	}
	return jr.skip(n - 5)
}

// isRGB mirrors image/jpeg's choice between YCbCr and RGB for a three-component JPEG.
func (h *header) isRGB() bool {
	if h.ncomp != 3 || h.jfif {
		return false
	}
	if h.adobe && h.adobeXform == 0 {
		return true
	}
	return h.comp[0].id == 'R' && h.comp[1].id == 'G' && h.comp[2].id == 'B'
}

// PNG colour types (PNG specification, 11.2.2).
const (
	pngGray      = 0
	pngRGB       = 2
	pngPaletted  = 3
	pngGrayAlpha = 4
	pngRGBA      = 6
)

// maxPNGMetadataChunk bounds the eXIf chunk read into memory; larger ones are skipped.
const maxPNGMetadataChunk = 1 << 20

// readPNG walks the PNG's chunks up to the first IDAT: IHDR gives the size, acTL (APNG) the
// frame count, eXIf the orientation. Other chunks, however large (iCCP, zTXt, iTXt), are read
// past without being kept or decompressed, and their checksums are verified.
func (h *header) readPNG(hr hreader, magic []byte) error {
	var sig [8]byte
	copy(sig[:], magic)
	if len(magic) < 8 {
		return problemf(CodeCorrupt, "the PNG is truncated: the file is only %d bytes long", len(magic))
	}
	if !bytes.Equal(sig[:], pngSignature) {
		return problemf(CodeCorrupt, "the PNG's signature is damaged (was the file transferred as text?)")
	}
	src := io.MultiReader(bytes.NewReader(magic[8:]), hr)
	readFull := func(b []byte) error {
		_, err := io.ReadFull(src, b)
		return h.readErr(err)
	}
	var chdr [8]byte
	crc := crc32.NewIEEE()
	for i := 0; ; i++ {
		if err := readFull(chdr[:]); err != nil {
			return err
		}
		length := binary.BigEndian.Uint32(chdr[:4])
		typ := string(chdr[4:8])
		if length > 0x7fffffff {
			return problemf(CodeCorrupt, "the PNG is damaged: its %q chunk claims an impossible length", typ)
		}
		if h.size >= 0 && int64(length)+4 > h.size-h.tr.n {
			return problemf(CodeCorrupt, "the PNG is truncated or damaged: its %q chunk claims %d bytes, more than the rest of the file", typ, length)
		}
		if i == 0 && typ != "IHDR" {
			return problemf(CodeCorrupt, "the PNG is damaged: it does not start with an IHDR chunk")
		}
		crc.Reset()
		crc.Write(chdr[4:8])
		var data []byte
		switch typ {
		case "IDAT":
			if h.colorType == pngPaletted && !h.plte {
				return problemf(CodeCorrupt, "the PNG is damaged: a palette image has no palette before its data")
			}
			if h.storedW == 0 {
				return problemf(CodeCorrupt, "the PNG is damaged: its data comes before its header")
			}
			return nil
		case "IEND":
			return problemf(CodeCorrupt, "the PNG ends before any image data")
		case "IHDR":
			if i != 0 {
				return problemf(CodeCorrupt, "the PNG is damaged: it has two IHDR chunks")
			}
			if length != 13 {
				return problemf(CodeCorrupt, "the PNG is damaged: its IHDR chunk has a wrong length (%d)", length)
			}
			data = make([]byte, 13)
		case "acTL":
			if length != 8 {
				return problemf(CodeCorrupt, "the PNG is damaged: its animation control chunk has a wrong length")
			}
			data = make([]byte, 8)
		case "eXIf":
			if length <= maxPNGMetadataChunk {
				data = make([]byte, length)
			}
		case "PLTE":
			h.plte = true
		case "tRNS":
			h.trns = true
		}
		if data != nil {
			if err := readFull(data); err != nil {
				return err
			}
			crc.Write(data)
		} else if _, err := io.CopyN(crc, src, int64(length)); err != nil {
			return h.readErr(err)
		}
		var sum [4]byte
		if err := readFull(sum[:]); err != nil {
			return err
		}
		if binary.BigEndian.Uint32(sum[:]) != crc.Sum32() {
			return problemf(CodeCorrupt, "the PNG is damaged: its %q chunk fails its checksum", typ)
		}
		switch typ {
		case "IHDR":
			if err := h.ihdr(data); err != nil {
				return err
			}
		case "acTL":
			frames := binary.BigEndian.Uint32(data[:4])
			if frames == 0 {
				return problemf(CodeCorrupt, "the PNG is damaged: its animation control chunk declares 0 frames")
			}
			h.Frames = int(min(frames, 1<<30))
			if frames > 1 {
				return problemf(CodeAnimated, "the PNG is animated (%d frames); Mirako needs a single still photo", frames)
			}
		case "eXIf":
			if o := exifOrientation(data); o != 0 {
				h.Orientation = o
			}
		}
	}
}

// ihdr checks the PNG header as Go's image/png does.
func (h *header) ihdr(b []byte) error {
	w, ht := binary.BigEndian.Uint32(b[0:4]), binary.BigEndian.Uint32(b[4:8])
	if w == 0 || ht == 0 || w > 0x7fffffff || ht > 0x7fffffff {
		return problemf(CodeCorrupt, "the PNG declares an image of %d×%d pixels", w, ht)
	}
	h.storedW, h.storedH = int(w), int(ht)
	h.depth, h.colorType = b[8], b[9]
	if b[10] != 0 || b[11] != 0 {
		return problemf(CodeUnsupported, "the PNG uses an unknown compression or filter method")
	}
	if b[12] > 1 {
		return problemf(CodeCorrupt, "the PNG is damaged: it has an unknown interlace method (%d)", b[12])
	}
	h.interlaced = b[12] == 1
	ok := false
	switch h.colorType {
	case pngGray:
		ok = h.depth == 1 || h.depth == 2 || h.depth == 4 || h.depth == 8 || h.depth == 16
	case pngPaletted:
		ok = h.depth == 1 || h.depth == 2 || h.depth == 4 || h.depth == 8
	case pngRGB, pngGrayAlpha, pngRGBA:
		ok = h.depth == 8 || h.depth == 16
	}
	if !ok {
		return problemf(CodeCorrupt, "the PNG is damaged: colour type %d with %d-bit samples is not a valid combination", h.colorType, h.depth)
	}
	return nil
}
