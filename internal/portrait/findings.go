package portrait

import (
	"image"
	"math"

	"github.com/avatar-pipeline/avatar-pipeline/internal/face"
)

// Quality thresholds. README.md in this package explains each one and what it is based on; keep
// the two in step.
const (
	darkP95              = 128  // luma 95th percentile below: the whole picture is underexposed
	darkFace             = 60   // face-box mean luma below (with a FaceDetector): the face is dark
	brightSubject        = 210  // subject mean luma above: overexposed
	brightFaceHighlights = 0.20 // share of the face box blown to white above (with a FaceDetector)
	lowContrast          = 80   // luma 5–95% spread below: flat or hazy
	unevenStops          = 1.5  // face halves differ by more (with a FaceDetector): harsh shadow
	blurrySharpness      = 50   // tile Laplacian variance below: blurry
	grayColorfulness     = 4    // Hasler–Süsstrunk M below: black-and-white
	lowJPEGQuality       = 50   // estimated IJG quality below: heavily compressed
	blockyBlockiness     = 1.6  // 8×8 grid ratio above: visible blocking
	busyBorderEdges      = 0.20 // share of edge pixels along the top and sides above: busy background
	transparentShare     = 0.01 // share of not fully opaque pixels above: transparency
)

// qualityFindings turns the metrics into warnings (rejections under a strict Policy). face
// tells whether the subject measures come from a detected face box.
func qualityFindings(m *Metrics, face bool) []*Problem {
	var ps []*Problem
	switch {
	case m.LumaP95 < darkP95:
		ps = append(ps, problemf(CodeDark, "the picture is too dark: even its brightest parts are dim (95%% of it is below %.0f of 255; at least %d is expected): add light or increase the exposure", m.LumaP95, darkP95))
	case face && m.SubjectBrightness < darkFace:
		ps = append(ps, problemf(CodeDark, "the face is too dark (mean brightness %.0f of 255; at least %d is expected), as if lit from behind: light the face from the front", m.SubjectBrightness, darkFace))
	case m.SubjectBrightness > brightSubject:
		ps = append(ps, problemf(CodeBright, "the subject is overexposed (its mean brightness is %.0f of 255; at most %d is expected): reduce the exposure or the light", m.SubjectBrightness, brightSubject))
	case face && m.SubjectHighlights > brightFaceHighlights:
		ps = append(ps, problemf(CodeBright, "%.0f%% of the face is blown out to pure white: reduce the exposure or the light on the face", 100*m.SubjectHighlights))
	}
	if m.Contrast < lowContrast {
		ps = append(ps, problemf(CodeLowContrast, "the picture has low contrast: most of it spans only %.0f of 255 brightness levels (at least %d is expected), so it looks flat or hazy", m.Contrast, lowContrast))
	}
	if m.LightingStops != nil && math.Abs(*m.LightingStops) > unevenStops {
		s := *m.LightingStops
		dark := "right"
		if s < 0 {
			dark = "left"
		}
		ps = append(ps, problemf(CodeUnevenLight, "the lighting on the face is uneven: its %s half gets %.1f stops (%.1f×) less light than the other, a harsh shadow; Mirako asks for even lighting",
			dark, math.Abs(s), math.Pow(2, math.Abs(s))))
	}
	if m.Sharpness < blurrySharpness {
		ps = append(ps, problemf(CodeBlurry, "the picture looks blurry (sharpness %.0f; sharp photos score above %d): check the focus and hold the camera still", m.Sharpness, blurrySharpness))
	}
	if m.Colorfulness < grayColorfulness {
		ps = append(ps, problemf(CodeGrayscale, "the picture is black-and-white or nearly so (colourfulness %.1f); Mirako builds a colour avatar, so use a colour photo", m.Colorfulness))
	}
	switch {
	case m.JPEGQuality > 0 && m.JPEGQuality < lowJPEGQuality:
		ps = append(ps, problemf(CodeCompressed, "the JPEG is heavily compressed (quality about %d of 100; at least %d is advised), so fine detail is lost: export it at a higher quality", m.JPEGQuality, lowJPEGQuality))
	case m.Blockiness > blockyBlockiness:
		ps = append(ps, problemf(CodeCompressed, "the picture shows the 8×8 blocks of heavy JPEG compression (blockiness %.2f; at most %.1f is expected): use the original photo rather than a re-compressed copy", m.Blockiness, blockyBlockiness))
	}
	if m.BorderEdges > busyBorderEdges {
		ps = append(ps, problemf(CodeBusyBackground, "the background looks busy (%.0f%% of the area along the top and sides is edges and detail); Mirako asks for a minimal background", 100*m.BorderEdges))
	}
	if m.Transparent > transparentShare {
		ps = append(ps, problemf(CodeTransparent, "%.0f%% of the picture is transparent; Mirako needs a plain photo, so flatten it onto a background", 100*m.Transparent))
	}
	return ps
}

// faceFindings runs the detector on the working copy and face.Assess on what it found: the
// faces, the rejections, the warnings, and the main face's box (empty when there is none), all
// in the working copy's pixels.
func faceFindings(d FaceDetector, wk *work, m *Metrics) (faces []face.Face, rejects, warnings []*Problem, box image.Rectangle) {
	faces, err := d.Detect(wk.rgba())
	if err != nil { // the check could not run: a warning; the portrait is not lost to it
		return nil, nil, []*Problem{problemf(CodeFaceCheckFail, "the face check could not run: %v", err)}, box
	}
	n := len(faces)
	m.Faces = &n
	main, findings := face.Assess(faces, wk.w, wk.h)
	for _, f := range findings {
		if f.Reject {
			rejects = append(rejects, &Problem{Code: f.Code, Reason: f.Reason})
		} else {
			warnings = append(warnings, &Problem{Code: f.Code, Reason: f.Reason})
		}
	}
	if main != nil {
		box = main.Box.Intersect(image.Rect(0, 0, wk.w, wk.h))
	}
	return faces, rejects, warnings, box
}
