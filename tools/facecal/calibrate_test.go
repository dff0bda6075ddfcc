package main

import (
	"bytes"
	"image"
	"strings"
	"testing"
	"time"

	"github.com/avatar-pipeline/avatar-pipeline/internal/face"
)

// TestReport prints the tables of README.md for a handful of made-up results: each photo lands
// in the column of its first rejection, and the warnings and face shares count the accepted
// single portraits.
func TestReport(t *testing.T) {
	main := &face.Face{Box: image.Rect(0, 0, 200, 256), Kind: face.Frontal, Eyes: 2}
	res := func(label, skin string, findings ...face.Finding) result {
		return result{photo: photo{label: label, skin: skin}, main: main, findings: findings, took: 10 * time.Millisecond, w: 512, h: 512}
	}
	hidden := face.Finding{Code: face.CodeEyesHidden}
	results := []result{
		res("single", "light"),
		res("single", "dark", hidden),
		res("single", "light", face.Finding{Code: face.CodeNoFace, Reject: true}),
		res("group", "-", face.Finding{Code: face.CodeSeveralFaces, Reject: true}),
		res("none", "-", face.Finding{Code: face.CodeNoFace, Reject: true}),
	}
	glasses := []result{res("sunglasses", "light", hidden)}
	var out bytes.Buffer
	report(&out, results, glasses, false)
	for _, want := range []string{
		"| label | photos | accepted | no_face | several_faces | profile | face_check_failed |\n|---|---:|---:|---:|---:|---:|---:|\n",
		"| single | 3 | 2 | 1 | 0 | 0 | 0 |\n| group | 1 | 0 | 0 | 1 | 0 | 0 |\n| none | 1 | 0 | 1 | 0 | 0 | 0 |\n",
		"| skin tone | photos |",
		"| light | 2 | 1 | 1 | 0 | 0 | 0 |\n| medium | 0 | 0 | 0 | 0 | 0 | 0 |\n| dark | 1 | 1 | 0 | 0 | 0 | 0 |\n",
		"| sunglasses | 1 | 1 | 0 | 0 | 0 | 0 |\n",
		"eyes_hidden warned on 1 of 1.",
		"Warnings on the 2 accepted single portraits: small_face 0, background_face 0, eyes_hidden 1,",
		"min 50%, 5th percentile 50%, median 50%, max 50%.",
		"| all | 5 | 10 | 10 | 10 |",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("got\n%s\nwant it to contain %q", out.String(), want)
		}
	}
}
