package portrait

import (
	"errors"
	"fmt"
	"image"
	"io"

	"github.com/avatar-pipeline/avatar-pipeline/internal/face"
)

// MaxBytes is the largest file accepted: Mirako's guidance says "at most 10 MB".
//
// We read "MB" as the SI megabyte, 10,000,000 bytes, not the mebibyte (10 MiB = 10,485,760 bytes).
// Mirako publishes no exact number and no server-side check we could observe, so we take the
// stricter of the two readings: every file we accept is within the limit whichever one Mirako
// means. Rejecting a 10.3 MB file costs its owner a re-export; sending one that Mirako refuses
// costs a failed build and a confused user.
const MaxBytes = 10_000_000

// MinSide is the smallest width and height accepted, in displayed pixels: Mirako needs at least
// 512×512.
const MinSide = 512

// MaxPixels is the largest pixel count checked. Above it the image is refused before it is
// decoded: a header can claim 60000×60000 in a few hundred bytes (a decompression bomb), and even
// a genuine 40-megapixel portrait is far more than Mirako's 512×512 minimum, so its owner loses
// nothing by scaling it down. 40 MP is above every common phone and camera default (12–24 MP;
// 45–50 MP only in high-resolution modes, whose JPEGs rarely fit in 10 MB).
const MaxPixels = 40_000_000

// MaxDecodeBytes bounds the memory the full decode may take, estimated from the header before
// decoding. Go's decoders need 1–8 bytes per pixel, and progressive JPEGs another 4 bytes per
// pixel per component for their coefficients, so the pixel cap alone does not bound memory.
// A baseline 24-megapixel camera JPEG needs about 36 MB, well within this; a 40-megapixel
// progressive CMYK JPEG (about 24 bytes per pixel) is refused.
const MaxDecodeBytes = 192 << 20

// Format is an image format, identified by the file's content (magic bytes), never by its name.
type Format string

// The formats Mirako accepts.
const (
	JPEG Format = "jpeg"
	PNG  Format = "png"
)

// Verdict is the outcome of Check.
type Verdict string

// Verdicts.
const (
	Accept Verdict = "accept"
	Reject Verdict = "reject"
)

// Problem codes: stable, machine-readable names for a Problem. The first group are hard rules
// (always a rejection); the second are quality findings (warnings, or rejections under a strict
// Policy).
const (
	CodeEmpty       = "empty"       // the file has no bytes
	CodeTooLarge    = "too_large"   // more than MaxBytes, more than MaxPixels, or too costly to decode
	CodeFormat      = "format"      // not a JPEG or PNG by content
	CodeCorrupt     = "corrupt"     // structurally broken or truncated
	CodeUnsupported = "unsupported" // a valid JPEG/PNG variant that cannot be decoded here
	CodeAnimated    = "animated"    // an animated PNG (more than one frame)
	CodeTooSmall    = "too_small"   // a displayed side below MinSide
	CodeAspect      = "aspect"      // neither square nor wide 16:9

	CodeDark           = "dark"              // underexposed
	CodeBright         = "bright"            // overexposed or washed out
	CodeUnevenLight    = "uneven_light"      // one side of the subject much darker: harsh side light
	CodeLowContrast    = "low_contrast"      // flat, hazy or foggy
	CodeBlurry         = "blurry"            // out of focus or motion-blurred
	CodeGrayscale      = "grayscale"         // black-and-white or nearly so
	CodeCompressed     = "compressed"        // heavy JPEG compression or visible 8×8 blocking
	CodeBusyBackground = "busy_background"   // much detail along the top and upper sides
	CodeTransparent    = "transparent"       // a PNG with transparent areas
	CodeFaceCheckFail  = "face_check_failed" // the FaceDetector returned an error

	// The face rules (package face): rejections, always, whatever the Policy's Strict...
	CodeNoFace       = face.CodeNoFace       // no face at all
	CodeSeveralFaces = face.CodeSeveralFaces // more than one person
	CodeProfile      = face.CodeProfile      // only a face in profile
	// ...and warnings.
	CodeBackgroundFace = face.CodeBackgroundFace // a much smaller face besides the main one
	CodeSmallFace      = face.CodeSmallFace      // the face is a small part of the picture
	CodeEyesHidden     = face.CodeEyesHidden     // no eye found: sunglasses, a covering
)

// Problem is a rule the portrait breaks: Code is stable and machine-readable, Reason a sentence a
// person understands ("image is 640×427; Mirako needs at least 512×512").
type Problem struct {
	Code   string `json:"code"`
	Reason string `json:"reason"`
}

// Error returns the reason.
func (p *Problem) Error() string { return p.Reason }

func problemf(code, format string, args ...any) *Problem {
	return &Problem{Code: code, Reason: fmt.Sprintf(format, args...)}
}

// Info is what the header says about an image.
type Info struct {
	Format Format `json:"format"`
	// Width and Height are the displayed dimensions: the EXIF orientation is applied, so a phone
	// photo stored as 4032×3024 and marked "rotate 90°" is 3024×4032.
	Width  int `json:"width"`
	Height int `json:"height"`
	// Orientation is the EXIF orientation tag, 1–8; 1 (upright) when there is none.
	Orientation int `json:"orientation"`
	// Frames is the number of frames: 1, or an animated PNG's frame count.
	Frames int `json:"frames"`
}

// Header reads only what it needs from r (the start of the file; size is its length in bytes, or
// negative if unknown) to identify the format and the displayed dimensions. It returns a *Problem
// for content that breaks a hard rule (empty, too large, wrong format, corrupt or unsupported
// header, animated, bomb-like, too small, wrong aspect) and a wrapped error for a failure of r
// itself; use errors.As to tell them apart.
//
// For a typical JPEG or PNG it reads a few kilobytes; it reads further only when the file puts
// its dimensions further in (a JPEG whose EXIF or other APP segments come first, a PNG whose
// animation control chunk follows large text or colour-profile chunks).
func Header(r io.Reader, size int64) (Info, error) {
	h, err := readHeader(r, size, nil)
	if err != nil {
		return h.Info, err
	}
	if ps := geometryProblems(h); len(ps) > 0 {
		return h.Info, ps[0]
	}
	if p := sizeProblem(h); p != nil {
		return h.Info, p
	}
	if p := decodeCostProblem(h); p != nil {
		return h.Info, p
	}
	return h.Info, nil
}

// FaceDetector finds faces: *face.Detector (face.New()) is the one the pipeline uses.
//
// Detect receives the upright, downscaled copy Check analyses (its shorter side is at most 512
// pixels) and returns the faces in that image's coordinates.
type FaceDetector interface {
	Detect(img image.Image) ([]face.Face, error)
}

// FoundFace is a face the detector found: Box is x0, y0, x1, y1 in the displayed picture's
// pixels (the EXIF orientation applied), Kind frontal or profile, Eyes the eyes seen in it.
type FoundFace struct {
	Box  [4]int    `json:"box"`
	Kind face.Kind `json:"kind"`
	Eyes int       `json:"eyes"`
}

// Policy tunes Check.
type Policy struct {
	// Strict turns quality warnings into rejections.
	Strict bool
	// FaceDetector, if set, adds the face checks (face.Assess): one frontal face, of one
	// person, rejected otherwise; warnings for a small face, hidden eyes, a face in the
	// background. The lighting is then measured on the face.
	FaceDetector FaceDetector
}

// Report is the outcome of Check, shaped for JSON (the CLI's --json and the build record).
type Report struct {
	Verdict Verdict `json:"verdict"`
	// Reasons are the rejection reasons, sentences for a person; never nil. ReasonCodes holds
	// the matching Problem codes, in the same order.
	Reasons     []string `json:"reasons"`
	ReasonCodes []string `json:"reason_codes"`
	// Warnings are quality findings that do not reject the portrait under the default Policy;
	// never nil. WarningCodes holds the matching codes, in the same order.
	Warnings     []string `json:"warnings"`
	WarningCodes []string `json:"warning_codes"`
	Format       Format   `json:"format"`
	Width        int      `json:"width"`
	Height       int      `json:"height"`
	// Bytes is the file's size: the size given to Check or, when that was unknown, the bytes
	// read (all of them, unless the check stopped early).
	Bytes int64 `json:"bytes"`
	// Metrics is the quality report; nil when the image could not be decoded.
	Metrics *Metrics `json:"metrics,omitempty"`
	// Faces are the faces the Policy's FaceDetector found, largest first, in the displayed
	// picture's pixels; absent without a detector.
	Faces []FoundFace `json:"faces,omitempty"`
}

// Accepted reports whether the verdict is Accept.
func (r Report) Accepted() bool { return r.Verdict == Accept }

func (r *Report) reject(p *Problem) {
	r.Reasons = append(r.Reasons, p.Reason)
	r.ReasonCodes = append(r.ReasonCodes, p.Code)
}

func (r *Report) warn(p *Problem) {
	r.Warnings = append(r.Warnings, p.Reason)
	r.WarningCodes = append(r.WarningCodes, p.Code)
}

// Check judges the portrait in r (size bytes long, or negative if unknown). It runs the header
// rules, then decodes the image in full under a memory cap decided from the header, which proves
// the file is neither corrupt nor truncated and feeds the quality report.
//
// Check returns an error only when reading r fails. Bad content is never an error: it is a Report
// with Verdict Reject and its reasons.
func Check(r io.Reader, size int64, p Policy) (Report, error) {
	rep := Report{
		Verdict:      Accept,
		Reasons:      []string{},
		ReasonCodes:  []string{},
		Warnings:     []string{},
		WarningCodes: []string{},
		Bytes:        size,
	}
	var replay replayBuffer
	h, err := readHeader(r, size, &replay)
	rep.Format, rep.Width, rep.Height = h.Format, h.Width, h.Height
	// refuse ends the check: with a rejection when err is a *Problem (or nil, the reasons being
	// recorded already), with err itself when reading failed.
	refuse := func(err error) (Report, error) {
		if size < 0 {
			rep.Bytes = h.tr.n
		}
		var prob *Problem
		if err != nil && !errors.As(err, &prob) {
			return rep, err
		}
		if prob != nil {
			rep.reject(prob)
		}
		rep.Verdict = Reject
		return rep, nil
	}
	if err != nil {
		return refuse(err)
	}
	// A too-small or oddly shaped image is still decoded, under the same caps: its owner learns
	// everything that needs fixing at once.
	for _, prob := range geometryProblems(h) {
		rep.reject(prob)
		if prob.Code == CodeTooLarge {
			return refuse(nil)
		}
	}
	if prob := sizeProblem(h); prob != nil {
		return refuse(prob)
	}
	if prob := decodeCostProblem(h); prob != nil {
		return refuse(prob)
	}
	m, err := decodeAndMeasure(h, replay.reader(h.lr), p)
	if err != nil {
		return refuse(err)
	}
	if size < 0 {
		rep.Bytes = h.tr.n
	}
	rep.Metrics, rep.Faces = m.Metrics, m.faces
	for _, f := range m.rejects {
		rep.reject(f)
	}
	for _, f := range m.findings {
		if p.Strict {
			rep.reject(f)
		} else {
			rep.warn(f)
		}
	}
	if len(rep.Reasons) > 0 {
		rep.Verdict = Reject
	}
	return rep, nil
}
