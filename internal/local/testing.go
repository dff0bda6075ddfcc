package local

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	xdraw "golang.org/x/image/draw"

	"github.com/avatar-pipeline/avatar-pipeline/internal/face/sample"
)

// testAccessLog, when set (by this package's tests), records the
// requests of every stack StartTest starts, for the permission proof.
var testAccessLog io.Writer

// StartTest starts a local stack for a test, on free ports unless o names
// them, logging to the test's log unless o.Out is set, and closes it when
// the test ends. A machine without moto_server fails the test (with the
// install hint): end-to-end tests never skip.
func StartTest(t testing.TB, o Options) *Stack {
	t.Helper()
	if o.AccessLog == nil {
		o.AccessLog = testAccessLog
	}
	var tw *testWriter
	if o.Out == nil {
		tw = &testWriter{t: t}
		o.Out = tw
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := Start(ctx, o)
	if err != nil {
		t.Fatalf("start the local stack: %v", err)
	}
	t.Cleanup(func() {
		s.Close()
		if tw != nil {
			tw.stop()
		}
	})
	return s
}

// testWriter sends a stack's log lines to t.Log until the stack is closed:
// t.Log after the test has ended panics, and a function invocation that
// outlived its deadline may still log then.
type testWriter struct {
	mu      sync.Mutex
	t       testing.TB
	stopped bool
}

func (w *testWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.stopped {
		w.t.Log(strings.TrimRight(string(b), "\n"))
	}
	return len(b), nil
}

func (w *testWriter) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopped = true
}

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
