package main

import (
	"bytes"
	"flag"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/ with the output the tests get")

// golden compares got with testdata/name, or rewrites the file with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (go test -update rewrites it)\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

// result is what one avatarctl run printed and its exit code.
type result struct {
	stdout, stderr string
	code           int
}

// avatarctl runs the command line in-process, as main does.
func avatarctl(t *testing.T, args ...string) result {
	t.Helper()
	root := newRootCmd()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	began := time.Now()
	code := execute(root)
	t.Logf("avatarctl %q: exit %d after %s\nstdout:\n%s\nstderr:\n%s", args, code, time.Since(began).Round(time.Millisecond), out.String(), errOut.String())
	return result{out.String(), errOut.String(), code}
}

// portraitImage draws a w×h picture shaped like a portrait (a lit oval face
// with eyes and a mouth on a textured, coloured background), so that it
// passes the portrait checks as a decent photo does.
func portraitImage(w, h int) image.Image {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	rng := rand.New(rand.NewPCG(7, 11))
	cx, cy := float64(w)/2, float64(h)/2
	rx, ry := float64(min(w, h))*0.3, float64(min(w, h))*0.38
	for y := range h {
		for x := range w {
			n := rng.IntN(20)
			c := color.RGBA{uint8(50 + 70*x/w + n), uint8(90 + n), uint8(110 + 70*y/h + n), 255}
			dx, dy := (float64(x)-cx)/rx, (float64(y)-cy)/ry
			if dx*dx+dy*dy <= 1 {
				shade := 1 - 0.2*dx
				c = color.RGBA{uint8(math.Min(250, 230*shade)) - uint8(n/2), uint8(185*shade) - uint8(n/2), uint8(155*shade) - uint8(n/2), 255}
				for _, ex := range []float64{-0.38, 0.38} {
					if ddx, ddy := dx-ex, dy+0.22; ddx*ddx+ddy*ddy*4 < 0.02 {
						c = color.RGBA{25, 20, 15, 255}
					}
				}
				if dy > 0.45 && dy < 0.55 && math.Abs(dx) < 0.33 {
					c = color.RGBA{160, 45, 55, 255}
				}
			}
			img.Set(x, y, c)
		}
	}
	return img
}

// writeJPEG writes portraitImage(w, h) as a JPEG file in dir.
func writeJPEG(t *testing.T, dir, name string, w, h int) string {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, portraitImage(w, h), &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return writeFile(t, dir, name, b.Bytes())
}

// writePNG writes portraitImage(w, h) as a PNG file in dir.
func writePNG(t *testing.T, dir, name string, w, h int) string {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, portraitImage(w, h)); err != nil {
		t.Fatal(err)
	}
	return writeFile(t, dir, name, b.Bytes())
}

func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
