// Package sample holds the one photo of a person the project's tests use: a public-domain
// portrait (README.md says where from). Only tests and the local stack import it.
package sample

import (
	"bytes"
	_ "embed"
	"image"
	"image/jpeg"
)

// AstronautJPEG is the 512×512 portrait as a JPEG. Her face is at about (176,66)-(273,163).
//
//go:embed astronaut.jpg
var AstronautJPEG []byte

// AstronautFace is where the face is in the portrait.
var AstronautFace = image.Rect(176, 66, 273, 163)

// Astronaut decodes the portrait.
func Astronaut() image.Image {
	img, err := jpeg.Decode(bytes.NewReader(AstronautJPEG))
	if err != nil {
		panic("sample: the embedded portrait does not decode: " + err.Error())
	}
	return img
}
