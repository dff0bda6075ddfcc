package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"image"
	"image/draw"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/avatar-pipeline/avatar-pipeline/internal/face/cascade"
)

// rawResult is what one cascade detects in one image, as oracle.py reads it.
type rawResult struct {
	Model string   `json:"model"`
	File  string   `json:"file"`
	Boxes [][4]int `json:"boxes"` // x, y, width, height, as OpenCV reports them
	MS    float64  `json:"ms"`    // time taken by the detection (CPU time of this process)
}

// runRaw prints, as JSON lines, what each cascade detects in each grayscale image with plain
// detectMultiScale parameters (no equalisation, OpenCV's window steps): the figures oracle.py
// compares with OpenCV's own.
func runRaw(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("raw", flag.ContinueOnError)
	dir := fs.String("opencv", "/usr/share/opencv4", "OpenCV's data directory (haarcascades/, lbpcascades/)")
	models := fs.String("models", "haarcascades/haarcascade_frontalface_alt2.xml", "comma-separated cascade files under -opencv")
	scale := fs.Float64("scale", 1.1, "scale factor")
	neighbors := fs.Int("neighbors", 3, "minimum neighbours")
	minSize := fs.Int("min", 0, "minimum window width and height")
	if err := fs.Parse(args); err != nil {
		return err
	}
	p := cascade.Params{ScaleFactor: *scale, MinNeighbors: *neighbors, MinSize: image.Pt(*minSize, *minSize)}
	enc := json.NewEncoder(stdout)
	for _, m := range strings.Split(*models, ",") {
		c, err := loadXML(filepath.Join(*dir, m))
		if err != nil {
			return err
		}
		for _, name := range fs.Args() {
			g, err := readGray(name)
			if err != nil {
				return err
			}
			start := cpuTime()
			boxes, _ := c.Detect(g, p)
			res := rawResult{Model: m, File: name, Boxes: [][4]int{}, MS: float64(cpuTime()-start) / float64(time.Millisecond)}
			for _, b := range boxes {
				res.Boxes = append(res.Boxes, [4]int{b.Min.X, b.Min.Y, b.Dx(), b.Dy()})
			}
			if err := enc.Encode(res); err != nil {
				return err
			}
		}
	}
	return nil
}

// runGray writes the grayscale working copy of every labelled photo as a PNG, for the oracle:
// Go and OpenCV then read the very same pixels.
func runGray(args []string) error {
	fs := flag.NewFlagSet("gray", flag.ContinueOnError)
	dir := fs.String("photos", "", "directory holding the photos as <owner>/<repository>/<path>")
	labels := fs.String("labels", "tools/facecal/photos.tsv", "the labelled photo list")
	out := fs.String("out", "", "directory to write the PNGs to")
	side := fs.Int("side", 512, "shorter side of the copies")
	if err := fs.Parse(args); err != nil {
		return err
	}
	photos, err := readLabels(*labels)
	if err != nil {
		return err
	}
	for i, p := range photos {
		img, err := readImage(filepath.Join(*dir, p.repo, p.path))
		if err != nil {
			return err
		}
		wc := scaled(img, *side)
		g := image.NewGray(wc.Bounds())
		draw.Draw(g, g.Rect, wc, image.Point{}, draw.Src)
		if err := writePNG(filepath.Join(*out, fmt.Sprintf("%03d.png", i)), g); err != nil {
			return err
		}
	}
	return nil
}

func writePNG(name string, img image.Image) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// readGray reads an 8-bit grayscale PNG, as the gray command writes them.
func readGray(name string) (*image.Gray, error) {
	img, err := readImage(name)
	if err != nil {
		return nil, err
	}
	g, ok := img.(*image.Gray)
	if !ok {
		return nil, fmt.Errorf("%s: not an 8-bit grayscale image", name)
	}
	return g, nil
}

// cpuTime is the CPU time this process has used: on a shared machine it measures the work done
// where wall-clock time would also count the waiting.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
