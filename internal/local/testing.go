package local

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"sync"

	xdraw "golang.org/x/image/draw"

	"github.com/avatar-pipeline/avatar-pipeline/internal/face/sample"
)

// LogBuffer keeps a stack's log (Options.Out) in memory, safe for the
// stack's concurrent writers: for a stack that outlives one test, whose
// t.Log would panic, and for tests that read the log afterwards.
type LogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns what has been written so far.
func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// PortraitJPEG is a w×h JPEG of a made-up portrait that passes the
// pipeline's portrait checks as a decent photo does, for tests that upload
// to a stack. It panics only if the size is one JPEG cannot hold.
func PortraitJPEG(w, h int) []byte {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, portrait(w, h), &jpeg.Options{Quality: 90}); err != nil {
		panic(fmt.Sprintf("local: encode a %d×%d portrait: %v", w, h, err))
	}
	return b.Bytes()
}

// PortraitPNG is the same portrait as a PNG.
func PortraitPNG(w, h int) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, portrait(w, h)); err != nil {
		panic(fmt.Sprintf("local: encode a %d×%d portrait: %v", w, h, err))
	}
	return b.Bytes()
}

// portrait draws a w×h picture that passes the portrait checks the way a
// real one does: the public-domain astronaut portrait (package sample),
// scaled to the shorter side and centred on a textured background. The
// same size always gives the same picture.
func portrait(w, h int) image.Image {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	rng := rand.New(rand.NewPCG(1, 2))
	for y := range h {
		for x := range w {
			n := uint8(rng.IntN(24))
			img.SetRGBA(x, y, color.RGBA{uint8(40+80*x/w) + n, 70 + n, uint8(120+60*y/h) + n, 255})
		}
	}
	side := min(w, h)
	at := image.Rect((w-side)/2, (h-side)/2, (w-side)/2+side, (h-side)/2+side)
	xdraw.CatmullRom.Scale(img, at, sample.Astronaut(), sample.Astronaut().Bounds(), xdraw.Src, nil)
	return img
}
