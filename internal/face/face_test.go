package face

import (
	"image"
	"image/color"
	"image/draw"
	"math"
	"slices"
	"sync"
	"testing"

	xdraw "golang.org/x/image/draw"

	"github.com/avatar-pipeline/avatar-pipeline/internal/face/cascade"
	"github.com/avatar-pipeline/avatar-pipeline/internal/face/sample"
)

func TestDetectAstronaut(t *testing.T) {
	faces, err := New().Detect(sample.Astronaut())
	if err != nil {
		t.Fatal(err)
	}
	if len(faces) != 1 {
		t.Fatalf("got %d faces %v, want 1", len(faces), faces)
	}
	f := faces[0]
	if f.Kind != Frontal || f.Eyes != 2 || iou(f.Box, sample.AstronautFace) < 0.7 {
		t.Errorf("got %+v, want a frontal face with 2 eyes near %v", f, sample.AstronautFace)
	}
	main, findings := Assess(faces, 512, 512)
	if main == nil || main.Box != f.Box || len(findings) != 0 {
		t.Errorf("Assess: got main %v, findings %v; want the face and no findings", main, findings)
	}
}

// TestDetectComposites builds pictures from the astronaut's face (public domain, so the only
// photo the tests may carry) to exercise each rule on real pixels.
func TestDetectComposites(t *testing.T) {
	astro := sample.Astronaut()
	head := image.Rect(136, 26, 316, 206) // the face with a margin
	for _, tc := range []struct {
		name  string
		img   image.Image
		codes []string
	}{
		{"two people side by side", canvas(1024, 512, paste(astro, head, image.Pt(100, 150), 1), paste(astro, head, image.Pt(600, 160), 1)),
			[]string{CodeSeveralFaces}},
		{"someone small in the background", canvas(910, 512, paste(astro, head, image.Pt(300, 40), 2.2), paste(astro, head, image.Pt(760, 300), 0.5)),
			[]string{CodeBackgroundFace}},
		{"a small face", canvas(910, 512, paste(astro, head, image.Pt(380, 200), 0.55)),
			[]string{CodeSmallFace}},
		{"mirrored", mirrorRGBA(astro), nil},
		{"head tilted 25°", rotateRGBA(astro, 25), nil},
		{"head tilted 40° the other way", rotateRGBA(astro, -40), nil}, // found only by the second look (refined)
	} {
		t.Run(tc.name, func(t *testing.T) {
			faces, err := New().Detect(tc.img)
			if err != nil {
				t.Fatal(err)
			}
			_, findings := Assess(faces, tc.img.Bounds().Dx(), tc.img.Bounds().Dy())
			if got := codes(findings); !slices.Equal(got, tc.codes) {
				t.Errorf("got findings %v (faces %v), want %v", got, faces, tc.codes)
			}
		})
	}
}

// TestDetectNegatives: pictures without a face must be refused no_face.
func TestDetectNegatives(t *testing.T) {
	for _, tc := range []struct {
		name string
		img  image.Image
	}{
		{"black", flat(color.Black)},
		{"white", flat(color.White)},
		{"mid gray", flat(color.Gray{128})},
		{"skin tone", flat(color.RGBA{224, 172, 150, 255})},
		{"horizontal gradient", gradient(false)},
		{"vertical gradient", gradient(true)},
		{"uniform noise", noise(1, 255)},
		{"faint noise", noise(2, 12)},
		{"checkerboard", checker(16)},
		{"moon-like craters", moon(3)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			faces, err := New().Detect(tc.img)
			if err != nil {
				t.Fatal(err)
			}
			main, findings := Assess(faces, 512, 512)
			if main != nil || !slices.Equal(codes(findings), []string{CodeNoFace}) {
				t.Errorf("got faces %v, findings %v; want no_face", faces, codes(findings))
			}
		})
	}
}

func TestDetectInputs(t *testing.T) {
	astro := sample.Astronaut() // a *image.YCbCr
	for _, tc := range []struct {
		name  string
		img   image.Image
		shift image.Point // where the face should be, relative to sample.AstronautFace
	}{
		{"YCbCr", astro, image.Point{}},
		{"RGBA", convert(astro, image.NewRGBA), image.Point{}},
		{"NRGBA", convert(astro, image.NewNRGBA), image.Point{}},
		{"Gray", convert(astro, image.NewGray), image.Point{}},
		{"RGBA64 (the generic path)", convert(astro, image.NewRGBA64), image.Point{}},
		// A sub-image keeps its coordinates: the box must be where the face is in them.
		{"sub-image", convert(astro, image.NewRGBA).SubImage(image.Rect(40, 10, 512, 500)), image.Point{}},
		{"origin moved", moved(convert(astro, image.NewRGBA), image.Pt(-300, 1000)), image.Pt(-300, 1000)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			faces, err := New().Detect(tc.img)
			if err != nil {
				t.Fatal(err)
			}
			want := sample.AstronautFace.Add(tc.shift)
			if len(faces) != 1 || iou(faces[0].Box, want) < 0.7 {
				t.Errorf("got %v, want one face near %v", faces, want)
			}
		})
	}
}

func TestDetectErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		img  image.Image
	}{
		{"nil", nil},
		{"empty", image.NewRGBA(image.Rect(0, 0, 0, 0))},
		{"too large", hugeImage{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if faces, err := New().Detect(tc.img); err == nil {
				t.Errorf("got faces %v and no error, want an error", faces)
			}
		})
	}
	var d *Detector
	if _, err := d.Detect(flat(color.Black)); err == nil {
		t.Error("nil Detector: got no error, want one")
	}
}

func TestTinyImages(t *testing.T) {
	// Smaller than every cascade's window: nothing to find, and nothing must break.
	for _, size := range []image.Point{{1, 1}, {1, 600}, {600, 1}, {19, 19}, {20, 20}, {45, 45}} {
		img := noise(int64(size.X*1000+size.Y), 255)
		sub := img.(*image.RGBA).SubImage(image.Rectangle{Max: size})
		faces, err := New().Detect(sub)
		if err != nil || len(faces) != 0 {
			t.Errorf("%v: got %v, %v; want no faces and no error", size, faces, err)
		}
	}
}

func TestNewIsShared(t *testing.T) {
	if New() != New() {
		t.Error("New: got two detectors, want the same one")
	}
	// Concurrent calls see the same faces (run with -race to check they share nothing mutable).
	img := sample.Astronaut()
	want, _ := New().Detect(img)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if got, _ := New().Detect(img); !slices.Equal(got, want) {
				t.Errorf("concurrent Detect: got %v, want %v", got, want)
			}
		})
	}
	wg.Wait()
}

// TestModelsAsOpenCV checks the embedded models against what OpenCV 4.6 itself reports for the
// test portrait's luma (written as a grayscale PNG and run through cv2.CascadeClassifier's
// detectMultiScale, scaleFactor 1.1, by tools/facecal/oracle.py): the raw window counts and the
// grouped boxes must be the same.
func TestModelsAsOpenCV(t *testing.T) {
	d := New()
	g := luma(sample.Astronaut())
	for _, tc := range []struct {
		name    string
		c       *cascade.Cascade
		windows int
		boxes   []image.Rectangle
	}{
		{"haarcascade_frontalface_alt2", d.haar, 41, []image.Rectangle{image.Rect(176, 66, 176+97, 66+97)}},
		{"lbpcascade_frontalface_improved", d.lbp, 42, []image.Rectangle{image.Rect(188, 85, 188+74, 85+74)}},
		{"haarcascade_eye", d.eye, 159, []image.Rectangle{image.Rect(187, 85, 187+31, 85+31), image.Rect(233, 90, 233+27, 90+27)}},
		{"lbpcascade_profileface", d.profile, 3, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := cascade.Params{ScaleFactor: 1.1, MinNeighbors: 3}
			if got := len(tc.c.Windows(g, p)); got != tc.windows {
				t.Errorf("raw windows: got %d, want %d", got, tc.windows)
			}
			if got, _ := tc.c.Detect(g, p); !slices.Equal(got, tc.boxes) {
				t.Errorf("boxes: got %v, want %v", got, tc.boxes)
			}
		})
	}
}

func codes(fs []Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Code)
	}
	return out
}

// canvas is a w×h mid-gray picture with the given pieces drawn on it.
func canvas(w, h int, pieces ...func(*image.RGBA)) *image.RGBA {
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(m, m.Rect, image.NewUniform(color.RGBA{150, 150, 155, 255}), image.Point{}, draw.Src)
	for _, p := range pieces {
		p(m)
	}
	return m
}

// paste draws src's rectangle r scaled by k (smoothly, as a photo would be) with its top-left
// corner at at.
func paste(src image.Image, r image.Rectangle, at image.Point, k float64) func(*image.RGBA) {
	return func(dst *image.RGBA) {
		to := image.Rectangle{Min: at, Max: at.Add(image.Pt(int(float64(r.Dx())*k), int(float64(r.Dy())*k)))}
		xdraw.CatmullRom.Scale(dst, to, src, r, xdraw.Src, nil)
	}
}

func convert[M draw.Image](src image.Image, make func(image.Rectangle) M) M {
	m := make(src.Bounds())
	draw.Draw(m, m.Bounds(), src, src.Bounds().Min, draw.Src)
	return m
}

// moved is img with its coordinates shifted by d.
func moved(img *image.RGBA, d image.Point) *image.RGBA {
	m := *img
	m.Rect = img.Rect.Add(d)
	return &m
}

func mirrorRGBA(src image.Image) *image.RGBA {
	b := src.Bounds()
	m := image.NewRGBA(b)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			m.Set(b.Max.X-1-x+b.Min.X, y, src.At(x, y))
		}
	}
	return m
}

// rotateRGBA turns src by deg degrees about its centre (nearest pixel; outside is gray).
func rotateRGBA(src image.Image, deg float64) *image.RGBA {
	b := src.Bounds()
	m := canvas(b.Dx(), b.Dy())
	s, c := math.Sincos(deg * math.Pi / 180)
	cx, cy := float64(b.Dx())/2, float64(b.Dy())/2
	for y := range b.Dy() {
		for x := range b.Dx() {
			dx, dy := float64(x)-cx, float64(y)-cy
			sx, sy := int(cx+dx*c-dy*s), int(cy+dx*s+dy*c)
			if image.Pt(sx, sy).In(b) {
				m.Set(x, y, src.At(sx, sy))
			}
		}
	}
	return m
}
