package face

import "fmt"

// Finding codes.
const (
	CodeNoFace         = "no_face"         // reject: no face at all
	CodeSeveralFaces   = "several_faces"   // reject: two or more frontal faces of comparable size
	CodeProfile        = "profile"         // reject: only a face in profile
	CodeBackgroundFace = "background_face" // warning: a much smaller face besides the main one
	CodeSmallFace      = "small_face"      // warning: the face is a small part of the picture
	CodeEyesHidden     = "eyes_hidden"     // warning: no eye found in the face
)

// The thresholds of Assess (see tools/facecal/README.md for how they were set).
const (
	// ComparableShare: another frontal face at least this share of the main face's height is
	// a second person; a smaller one is someone in the background.
	ComparableShare = 0.5
	// CrowdFaces: this many smaller faces besides the main one make a group photo, not a
	// portrait with passers-by: the faces of a group's back rows are smaller than the front's.
	CrowdFaces = 3
	// SmallFaceShare: a main face shorter than this share of the picture's shorter side (its
	// height, for the square and 16:9 pictures Mirako takes) is small. Mirako builds from a
	// 512-pixel image, where 16% is about MinEyeFace (80 pixels): below it even the eyes are
	// too small to find. Good portraits in calibration went down to 18%.
	SmallFaceShare = 0.16
)

// Assess applies the face rules to what Detect found in a width×height picture. main is the
// face the lighting measures should use, the tallest frontal face, or nil when there is none.
// Findings come rejections first.
func Assess(faces []Face, width, height int) (main *Face, findings []Finding) {
	var frontal []Face
	for _, f := range faces {
		if f.Kind == Frontal {
			frontal = append(frontal, f)
		}
	}
	switch {
	case len(faces) == 0:
		return nil, []Finding{{CodeNoFace, "no face was found: take the photo facing the camera, with the whole face in the picture and evenly lit", true}}
	case len(frontal) == 0:
		return nil, []Finding{{CodeProfile, "the face is turned away from the camera (only a profile was found): take the photo facing the camera", true}}
	}
	m := frontal[0]
	for _, f := range frontal[1:] {
		if f.Box.Dy() > m.Box.Dy() {
			m = f
		}
	}
	main = &m
	others, background := 0, 0
	for _, f := range frontal {
		switch {
		case f.Box == m.Box:
		case float64(f.Box.Dy()) >= ComparableShare*float64(m.Box.Dy()):
			others++
		default:
			background++
		}
	}
	if others > 0 || background >= CrowdFaces {
		others += background
		background = 0
		findings = append(findings, Finding{CodeSeveralFaces, fmt.Sprintf("%d faces were found: Mirako needs a photo of one person, so crop the others out or take the photo alone", others+1), true})
	}
	if background > 0 {
		findings = append(findings, Finding{CodeBackgroundFace, "a smaller face was found in the background: crop it out, or take the photo against a plain background, so that only one person is in the picture", false})
	}
	return main, append(findings, mainFindings(m, min(width, height))...)
}

// mainFindings are the warnings about the main face itself, in a picture whose shorter side is
// side pixels.
func mainFindings(m Face, side int) []Finding {
	var out []Finding
	if side > 0 {
		if share := float64(m.Box.Dy()) / float64(side); share < SmallFaceShare {
			out = append(out, Finding{CodeSmallFace, fmt.Sprintf("the face fills only %.0f%% of the picture's height (at least %.0f%% is advised): move closer, or crop around the head and shoulders", 100*share, 100*SmallFaceShare), false})
		}
	}
	if m.Eyes == 0 && m.Box.Dx() >= MinEyeFace {
		out = append(out, Finding{CodeEyesHidden, "no eyes could be seen in the face: take off sunglasses or anything else covering the eyes, and face the light", false})
	}
	return out
}
