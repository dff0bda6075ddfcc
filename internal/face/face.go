// Package face finds faces in a portrait and judges whether it shows one usable face.
//
// Detection runs OpenCV's pretrained boosted cascades, evaluated in pure Go by package cascade
// (the Lambdas are built without cgo): Haar "frontalface_alt2" and the LBP "frontalface_improved"
// cascade for frontal faces, "eye" to look for eyes inside them and the LBP "profileface" cascade
// for faces turned sideways. The models come from Debian's opencv-data 4.6.0 package and are
// embedded in a compact form (models/LICENSE says where from and under what terms); nothing is
// fetched at run time. Assess turns the faces into findings with stable codes. How the
// parameters were chosen, and how well it works on real photos, is in tools/facecal/README.md.
package face

import (
	"embed"
	"errors"
	"fmt"
	"image"
	"sync"

	"github.com/avatar-pipeline/avatar-pipeline/internal/face/cascade"
)

// Kind tells frontal faces from faces in profile.
type Kind string

// The kinds of face Detect reports.
const (
	Frontal Kind = "frontal"
	Profile Kind = "profile"
)

// Face is a face Detect found.
type Face struct {
	// Box is the face in the input image's pixels, about forehead to chin (the extent of
	// OpenCV's Haar frontal-face boxes, whichever cascade found it).
	Box  image.Rectangle
	Kind Kind
	// Eyes is the number of eyes found inside a frontal face box: 0, 1 or 2 (always 0 for a
	// profile). Eyes are only looked for in faces at least MinEyeFace pixels wide.
	Eyes int
}

// Finding is the outcome of one rule of Assess: Code is stable and machine-readable, Reason one
// sentence for a person that says what to fix. Reject findings make the portrait unusable; the
// others are warnings.
type Finding struct {
	Code, Reason string
	Reject       bool
}

// Detector finds faces. It holds the decoded models and no other state, so one Detector serves
// any number of goroutines.
type Detector struct {
	haar, lbp, eye, profile *cascade.Cascade
	err                     error // a model failed to decode: a broken build, reported by Detect
}

//go:embed models/*.cascade
var models embed.FS

var (
	loadOnce sync.Once
	shared   *Detector
)

// New returns the detector. The models are decoded on the first call only (about 2 ms);
// later calls return the same Detector.
func New() *Detector {
	loadOnce.Do(func() {
		d := &Detector{}
		for _, m := range []struct {
			c    **cascade.Cascade
			name string
		}{
			{&d.haar, "haarcascade_frontalface_alt2"},
			{&d.lbp, "lbpcascade_frontalface_improved"},
			{&d.eye, "haarcascade_eye"},
			{&d.profile, "lbpcascade_profileface"},
		} {
			c, err := loadModel(m.name)
			if err != nil {
				d.err = errors.Join(d.err, err)
			}
			*m.c = c
		}
		shared = d
	})
	return shared
}

func loadModel(name string) (*cascade.Cascade, error) {
	data, err := models.ReadFile("models/" + name + ".cascade")
	if err != nil {
		return nil, fmt.Errorf("face: model %s: %w", name, err)
	}
	c := &cascade.Cascade{}
	if err := c.UnmarshalBinary(data); err != nil {
		return nil, fmt.Errorf("face: model %s: %w", name, err)
	}
	return c, nil
}

// MaxPixels bounds the images Detect accepts. Detect expects a working copy whose shorter side
// is at most 512 pixels; anything much larger is a caller's mistake, refused before it costs
// memory.
const MaxPixels = 4096 * 4096

// Detect finds the faces in img, an upright photo (the portrait checks pass a copy whose shorter
// side is at most 512 pixels), largest first. An error means the check could not run; it never
// panics, whatever img holds.
func (d *Detector) Detect(img image.Image) (faces []Face, err error) {
	if d == nil || d.err != nil {
		return nil, fmt.Errorf("face: detector not loaded: %w", d.loadErr())
	}
	if img == nil {
		return nil, errors.New("face: no image")
	}
	b := img.Bounds()
	if b.Empty() || b.Dx() > MaxPixels/b.Dy() {
		return nil, fmt.Errorf("face: image is %d×%d; want a non-empty image of at most %d pixels", b.Dx(), b.Dy(), MaxPixels)
	}
	defer func() {
		// The evaluator checks its models and indices up front, so this is a backstop: a
		// portrait is never lost to a detector bug, it is reported as a check that failed.
		if r := recover(); r != nil {
			faces, err = nil, fmt.Errorf("face: internal error: %v", r)
		}
	}()
	faces = d.detect(luma(img))
	for i := range faces {
		faces[i].Box = faces[i].Box.Add(b.Min)
	}
	return faces, nil
}

func (d *Detector) loadErr() error {
	if d == nil {
		return errors.New("nil Detector")
	}
	return d.err
}
