package portrait

import (
	"bytes"
	"encoding/json"
	"errors"
	"image"
	"testing"
)

// fuzzSeeds are small valid and broken files of every kind the checks know. Small, so that the
// fuzzer spends its time on structure rather than on pixels.
func fuzzSeeds(t testing.TB) [][]byte {
	tiny := portraitImage(24, 16)
	gray := image.NewGray16(image.Rect(0, 0, 8, 8))
	seeds := [][]byte{
		encodeJPEG(t, tiny, 75),
		insertAfterSOI(encodeJPEG(t, tiny, 75), exifSegment(6, true)),
		testJPEG{comps: 3, progressive: true, quality: 50}.encode(tiny),
		testJPEG{comps: 4, adobe: true, quality: 50}.encode(tiny),
		testJPEG{comps: 1, quality: 50}.encode(tiny),
		encodePNG(t, tiny),
		encodePNG(t, gray),
		insertAfterIHDR(encodePNG(t, tiny), pngChunk("acTL", []byte{0, 0, 0, 2, 0, 0, 0, 0}), pngChunk("eXIf", tiffOrientation(8, false))),
		encodeJPEG(t, solid(520, 520), 50),
		jpegHeaderOnly(0xc0, 60000, 60000, 3, 0x22),
		pngHeaderOnly(60000, 60000, pngChunk("IDAT", []byte{0x78, 0x9c})),
		[]byte("\xff\xd8\xff\xd9"),
		[]byte("GIF89a"),
		[]byte("plain text"),
		nil,
	}
	return seeds
}

func FuzzHeader(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		info, err := Header(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			var p *Problem
			if !errors.As(err, &p) {
				t.Fatalf("got a %T error %v from an in-memory reader, want a *Problem", err, err)
			}
			if p.Code == "" || p.Reason == "" {
				t.Fatalf("got an incomplete problem %+v", p)
			}
			return
		}
		switch {
		case info.Format != JPEG && info.Format != PNG:
			t.Fatalf("accepted format %q", info.Format)
		case info.Width < MinSide || info.Height < MinSide || !aspectOK(info.Width, info.Height):
			t.Fatalf("accepted %d×%d", info.Width, info.Height)
		case int64(info.Width)*int64(info.Height) > MaxPixels:
			t.Fatalf("accepted %d×%d, more than MaxPixels", info.Width, info.Height)
		case info.Orientation < 1 || info.Orientation > 8 || info.Frames != 1:
			t.Fatalf("accepted %+v", info)
		}
	})
}

func FuzzCheck(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rep, err := Check(bytes.NewReader(data), int64(len(data)), Policy{})
		if err != nil {
			t.Fatalf("got error %v from an in-memory reader, want a report", err)
		}
		if rep.Reasons == nil || rep.Warnings == nil || rep.ReasonCodes == nil || rep.WarningCodes == nil {
			t.Fatalf("got nil slices in %+v", rep)
		}
		if len(rep.Reasons) != len(rep.ReasonCodes) || len(rep.Warnings) != len(rep.WarningCodes) {
			t.Fatalf("reasons and codes differ in number: %+v", rep)
		}
		if rep.Accepted() != (len(rep.Reasons) == 0) {
			t.Fatalf("verdict %q with reasons %q", rep.Verdict, rep.Reasons)
		}
		if _, err := json.Marshal(rep); err != nil { // fails on NaN or infinite metrics
			t.Fatalf("report does not marshal: %v (%+v)", err, rep.Metrics)
		}
		_, herr := Header(bytes.NewReader(data), int64(len(data)))
		if herr != nil && rep.Accepted() {
			t.Fatalf("Header rejects (%v) but Check accepts", herr)
		}
		if rep.Accepted() && rep.Metrics == nil {
			t.Fatal("accepted without a quality report")
		}
	})
}
