package face

import (
	"image"
	"testing"
)

// FuzzDetect feeds Detect arbitrary pixels in arbitrary shapes up to 127×127 (small, so that
// the fuzzer tries many; the odd sizes are where an evaluator goes wrong): it must not panic,
// and every box must lie inside the picture.
func FuzzDetect(f *testing.F) {
	f.Add(uint8(64), uint8(64), []byte{0, 255, 0, 255})
	f.Add(uint8(200), uint8(30), []byte{128})
	f.Add(uint8(1), uint8(255), []byte{})
	f.Add(uint8(120), uint8(120), []byte("a repeating pattern of text bytes as pixels"))
	f.Fuzz(func(t *testing.T, w, h uint8, pix []byte) {
		w, h = w%128, h%128
		img := image.NewGray(image.Rect(0, 0, int(w), int(h)))
		for i := range img.Pix {
			if len(pix) > 0 {
				img.Pix[i] = pix[i%len(pix)] ^ byte(i/len(pix))
			}
		}
		faces, err := New().Detect(img)
		if err != nil {
			if !img.Rect.Empty() {
				t.Fatalf("%d×%d: %v", w, h, err)
			}
			return
		}
		for _, fc := range faces {
			if !fc.Box.In(img.Rect) || fc.Box.Empty() {
				t.Errorf("%d×%d: box %v outside the picture", w, h, fc.Box)
			}
		}
		Assess(faces, int(w), int(h))
	})
}
