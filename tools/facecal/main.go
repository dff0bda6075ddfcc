// Command facecal converts the face detector's models and calibrates and checks the detector of
// internal/face on labelled photos; README.md in this directory says how and what it found. Its
// quality command calibrates the portrait checks' quality thresholds (internal/portrait/README.md).
//
//	facecal models -out DIR XML...          convert OpenCV cascades to the embedded form
//	facecal calibrate -photos DIR [-v]      the confusion tables of README.md
//	facecal gray -photos DIR -out DIR       grayscale working copies, for the oracle
//	facecal raw [-models LIST] PNG...       raw cascade boxes as JSON, for oracle.py
//	facecal quality [-v] PHOTO...           the quality metrics' percentiles, as photos degrade
package main

import (
	"bytes"
	"fmt"
	"image"
	_ "image/jpeg"
	_ "image/png"
	"os"

	_ "golang.org/x/image/webp" // a few calibration photos are WebP files named .jpg

	"github.com/avatar-pipeline/avatar-pipeline/internal/portrait"
)

var commands = map[string]func(args []string) error{
	"models":    runModels,
	"calibrate": func(args []string) error { return runCalibrate(args, os.Stdout) },
	"gray":      runGray,
	"raw":       func(args []string) error { return runRaw(args, os.Stdout) },
	"quality":   func(args []string) error { return runQuality(args, os.Stdout) },
}

func main() {
	if len(os.Args) < 2 || commands[os.Args[1]] == nil {
		fmt.Fprintln(os.Stderr, "usage: facecal models|calibrate|gray|raw|quality [flags] (see README.md)")
		os.Exit(2)
	}
	if err := commands[os.Args[1]](os.Args[2:]); err != nil {
		fmt.Fprintln(os.Stderr, "facecal:", err)
		os.Exit(1)
	}
}

// readImage decodes a photo and turns it upright by its EXIF orientation, as the portrait checks
// do before they call the detector.
func readImage(name string) (image.Image, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	img, _, err := image.Decode(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	// Header also judges the picture (a Problem for one too small, say); only its orientation
	// is wanted here, and it is 1 when the file has none.
	info, _ := portrait.Header(bytes.NewReader(b), int64(len(b)))
	return orient(img, info.Orientation), nil
}
