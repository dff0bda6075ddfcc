package portrait

import (
	"bytes"
	"encoding/binary"
)

// exifOrientation returns the Orientation tag (0x0112) of the first image file directory in b,
// a TIFF structure as found in a JPEG's EXIF segment (after "Exif\0\0") or a PNG's eXIf chunk.
// It returns 0 when there is no valid orientation: every offset is bounds-checked, so hostile
// EXIF data can only make it give up.
func exifOrientation(b []byte) int {
	b = bytes.TrimPrefix(b, []byte("Exif\x00\x00")) // some PNG writers keep the JPEG prefix
	if len(b) < 8 {
		return 0
	}
	var bo binary.ByteOrder
	switch string(b[:4]) {
	case "II*\x00":
		bo = binary.LittleEndian
	case "MM\x00*":
		bo = binary.BigEndian
	default:
		return 0
	}
	off := uint64(bo.Uint32(b[4:8]))
	if off < 8 || off+2 > uint64(len(b)) {
		return 0
	}
	n := uint64(bo.Uint16(b[off:]))
	for i := uint64(0); i < n; i++ {
		e := off + 2 + 12*i
		if e+12 > uint64(len(b)) {
			return 0
		}
		if bo.Uint16(b[e:]) != 0x0112 {
			continue
		}
		var v uint32
		switch typ, count := bo.Uint16(b[e+2:]), bo.Uint32(b[e+4:]); {
		case count != 1:
			return 0
		case typ == 3: // SHORT, the type the EXIF specification gives it
			v = uint32(bo.Uint16(b[e+8:]))
		case typ == 4: // LONG, written by a few tools
			v = bo.Uint32(b[e+8:])
		default:
			return 0
		}
		if v >= 1 && v <= 8 {
			return int(v)
		}
		return 0
	}
	return 0
}

// UprightPoint is where pixel (x, y) of a w×h picture stored with EXIF orientation o (1–8) lands
// once the picture is turned upright; 6, a phone held upright whose sensor stored the picture on
// its side, turns it a quarter clockwise.
func UprightPoint(o, x, y, w, h int) (int, int) {
	switch o {
	case 2:
		return w - 1 - x, y
	case 3:
		return w - 1 - x, h - 1 - y
	case 4:
		return x, h - 1 - y
	case 5:
		return y, x
	case 6:
		return h - 1 - y, x
	case 7:
		return h - 1 - y, w - 1 - x
	case 8:
		return y, w - 1 - x
	}
	return x, y
}
