package portrait

import (
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"io"
)

// decodeAndMeasure decodes the whole image from rd (the replayed header, then the rest of the
// file) and measures it. The decoded image is dropped before it returns: only the small working
// copy and the numbers survive. When the size was not given it reads the file to its end, to
// hold it to MaxBytes. It returns a *Problem for bad content or a wrapped error for a reader
// failure.
func decodeAndMeasure(h *header, rd io.Reader, p Policy) (measured, error) {
	img, err := decode(h, rd)
	if err != nil {
		return measured{}, err
	}
	if h.size < 0 {
		if _, err := io.Copy(io.Discard, h.lr); err != nil {
			return measured{}, fmt.Errorf("read portrait: %w", err)
		}
		if h.lr.N == 0 {
			return measured{}, tooManyBytes(h.tr.n)
		}
	}
	return measure(img, h, p), nil
}

func decode(h *header, rd io.Reader) (image.Image, error) {
	var (
		img image.Image
		err error
	)
	switch h.Format {
	case JPEG:
		img, err = jpeg.Decode(rd)
	case PNG:
		img, err = png.Decode(rd)
	default:
		return nil, problemf(CodeFormat, "the file is not a JPEG or PNG image")
	}
	if err == nil {
		if b := img.Bounds(); b.Dx() != h.storedW || b.Dy() != h.storedH {
			// Cannot happen with the standard decoders; guards the memory estimate's premise.
			return nil, problemf(CodeCorrupt, "the %s decodes to %d×%d pixels, not the %d×%d its header declares", h.Format.noun(), b.Dx(), b.Dy(), h.storedW, h.storedH)
		}
		return img, nil
	}
	if h.tr.err != nil {
		return nil, fmt.Errorf("read portrait: %w", h.tr.err)
	}
	noun := h.Format.noun()
	if h.size < 0 && h.lr.N == 0 {
		return nil, tooManyBytes(h.tr.n)
	}
	var (
		ju jpeg.UnsupportedError
		pu png.UnsupportedError
	)
	if errors.As(err, &ju) || errors.As(err, &pu) {
		return nil, problemf(CodeUnsupported, "the %s uses a feature that cannot be decoded here (%v); re-save it as a standard %s", noun, err, noun)
	}
	// Go's decoders report a file that ends early in several ways (io.ErrUnexpectedEOF, "short
	// Huffman data", "not enough pixel data"); what tells truncation apart from damage is that
	// the decoder failed with the whole file read.
	if h.lr.N == 0 || h.tr.eof || errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, problemf(CodeCorrupt, "the %s is truncated: the file ends after %d bytes, before the image data is complete (was the upload or download cut short?)", noun, h.tr.n)
	}
	return nil, problemf(CodeCorrupt, "the %s image data is damaged and cannot be decoded (%v)", noun, err)
}
