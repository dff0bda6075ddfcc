package main

import (
	"flag"
	"fmt"
	"image"
	"image/color"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/avatar-pipeline/avatar-pipeline/internal/face"
)

// result is what the detector and the rules made of one photo.
type result struct {
	photo
	faces    []face.Face
	main     *face.Face
	findings []face.Finding
	err      error
	took     time.Duration
	w, h     int
}

// outcome is the column of the confusion table: the first rejection, or "accepted".
func (r result) outcome() string {
	if r.err != nil {
		return "face_check_failed"
	}
	for _, f := range r.findings {
		if f.Reject {
			return f.Code
		}
	}
	return "accepted"
}

func (r result) warnings() []string {
	var out []string
	for _, f := range r.findings {
		if !f.Reject {
			out = append(out, f.Code)
		}
	}
	return out
}

func check(d *face.Detector, img *image.RGBA) result {
	start := time.Now()
	faces, err := d.Detect(img)
	r := result{faces: faces, err: err, took: time.Since(start), w: img.Rect.Dx(), h: img.Rect.Dy()}
	if err == nil {
		r.main, r.findings = face.Assess(faces, r.w, r.h)
	}
	return r
}

// runCalibrate runs the detector and the rules over the labelled photos and prints the tables
// of README.md.
func runCalibrate(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("calibrate", flag.ContinueOnError)
	dir := fs.String("photos", "", "directory holding the photos as <owner>/<repository>/<path>")
	labels := fs.String("labels", "tools/facecal/photos.tsv", "the labelled photo list")
	verbose := fs.Bool("v", false, "list every photo whose outcome is not the expected one")
	if err := fs.Parse(args); err != nil {
		return err
	}
	photos, err := readLabels(*labels)
	if err != nil {
		return err
	}
	d := face.New()
	var results, glasses []result
	for _, p := range photos {
		img, err := readImage(filepath.Join(*dir, p.repo, p.path))
		if err != nil {
			return err
		}
		wc := scaled(img, 512)
		r := check(d, wc)
		r.photo = p
		results = append(results, r)
		if p.label == "single" && r.main != nil && r.main.Eyes > 0 {
			g := check(d, withSunglasses(wc, r.main.Box))
			g.photo = p
			g.label = "sunglasses"
			glasses = append(glasses, g)
		}
	}
	report(stdout, results, glasses, *verbose)
	return nil
}

// withSunglasses paints two dark lenses where a frontal face box has its eyes (a synthetic
// occlusion: no suitably licensed photos of sunglasses were at hand).
func withSunglasses(img *image.RGBA, box image.Rectangle) *image.RGBA {
	out := image.NewRGBA(img.Rect)
	copy(out.Pix, img.Pix)
	w, h := float64(box.Dx()), float64(box.Dy())
	cy := float64(box.Min.Y) + 0.40*h
	for _, cxShare := range []float64{0.32, 0.68} {
		cx := float64(box.Min.X) + cxShare*w
		rx, ry := 0.16*w, 0.10*h
		for y := int(cy - ry); y <= int(cy+ry); y++ {
			for x := int(cx - rx); x <= int(cx+rx); x++ {
				if dx, dy := (float64(x)-cx)/rx, (float64(y)-cy)/ry; dx*dx+dy*dy <= 1 && image.Pt(x, y).In(out.Rect) {
					out.SetRGBA(x, y, color.RGBA{20, 20, 25, 255})
				}
			}
		}
	}
	return out
}

var outcomes = []string{"accepted", "no_face", "several_faces", "profile", "face_check_failed"}

func report(w io.Writer, results, glasses []result, verbose bool) {
	fmt.Fprintln(w, "| label | photos | accepted | no_face | several_faces | profile | face_check_failed |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|")
	for _, label := range []string{"single", "group", "none", "masked", "profile", "cartoon"} {
		row(w, label, filter(results, func(r result) bool { return r.label == label }))
	}
	fmt.Fprintln(w, "\nSingle portraits by skin tone:")
	fmt.Fprintln(w, "\n| skin tone | photos | accepted | no_face | several_faces | profile | face_check_failed |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|")
	for _, skin := range []string{"light", "medium", "dark"} {
		row(w, skin, filter(results, func(r result) bool { return r.label == "single" && r.skin == skin }))
	}
	if len(glasses) > 0 {
		fmt.Fprintln(w, "\nSingle portraits with synthetic sunglasses:")
		fmt.Fprintln(w, "\n| variant | photos | accepted | no_face | several_faces | profile | face_check_failed |")
		fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|")
		row(w, "sunglasses", glasses)
		hidden := len(filter(glasses, func(r result) bool { return slices.Contains(r.warnings(), face.CodeEyesHidden) }))
		fmt.Fprintf(w, "\n%s warned on %d of %d.\n", face.CodeEyesHidden, hidden, len(glasses))
	}
	accepted := filter(results, func(r result) bool { return r.label == "single" && r.outcome() == "accepted" })
	warnings(w, accepted)
	shares(w, accepted)
	timing(w, results)
	if verbose {
		fmt.Fprintln(w, "\nUnexpected outcomes:")
		for _, r := range append(results, glasses...) {
			if r.outcome() != expected(r.label) {
				fmt.Fprintf(w, "  %-8s %-14s %s/%s (%s) faces %s\n", r.label, r.outcome(), r.repo, r.path, r.note, describe(r.faces))
			} else if r.label == "single" && len(r.warnings()) > 0 {
				fmt.Fprintf(w, "  %-8s %-14s %s/%s (%s) warnings %v faces %s\n", r.label, r.outcome(), r.repo, r.path, r.note, r.warnings(), describe(r.faces))
			}
		}
	}
}

func expected(label string) string {
	switch label {
	case "single", "masked", "sunglasses":
		return "accepted"
	case "group":
		return "several_faces"
	case "profile":
		return "profile"
	default:
		return "no_face"
	}
}

func row(w io.Writer, name string, rs []result) {
	counts := map[string]int{}
	for _, r := range rs {
		counts[r.outcome()]++
	}
	fmt.Fprintf(w, "| %s | %d |", name, len(rs))
	for _, o := range outcomes {
		fmt.Fprintf(w, " %d |", counts[o])
	}
	fmt.Fprintln(w)
}

func warnings(w io.Writer, accepted []result) {
	counts := map[string]int{}
	for _, r := range accepted {
		for _, c := range r.warnings() {
			counts[c]++
		}
	}
	fmt.Fprintf(w, "\nWarnings on the %d accepted single portraits:", len(accepted))
	for _, c := range []string{face.CodeSmallFace, face.CodeBackgroundFace, face.CodeEyesHidden} {
		fmt.Fprintf(w, " %s %d,", c, counts[c])
	}
	fmt.Fprintln(w)
}

// shares prints the distribution of the main face's height over the picture's shorter side,
// the figure small_face judges.
func shares(w io.Writer, rs []result) {
	var s []float64
	for _, r := range rs {
		s = append(s, float64(r.main.Box.Dy())/float64(min(r.w, r.h)))
	}
	slices.Sort(s)
	q := func(p float64) float64 { return 100 * s[int(p*float64(len(s)-1))] }
	fmt.Fprintf(w, "\nMain face height over the shorter side, accepted single portraits: min %.0f%%, 5th percentile %.0f%%, median %.0f%%, max %.0f%%.\n",
		q(0), q(0.05), q(0.5), q(1))
}

// timing prints Detect's wall-clock time per call, over all the photos and by label: pictures
// without an upright face cost most, as the tilted and profile searches run on them too.
func timing(w io.Writer, rs []result) {
	fmt.Fprintf(w, "\nDetect per working copy (wall clock, one call at a time):\n\n")
	fmt.Fprintln(w, "| photos | count | median ms | 90th percentile ms | max ms |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|")
	for _, label := range []string{"all", "single", "group", "none"} {
		var ms []float64
		for _, r := range rs {
			if label == "all" || r.label == label {
				ms = append(ms, float64(r.took.Microseconds())/1000)
			}
		}
		slices.Sort(ms)
		fmt.Fprintf(w, "| %s | %d | %.0f | %.0f | %.0f |\n", label, len(ms), ms[len(ms)/2], ms[len(ms)*9/10], ms[len(ms)-1])
	}
}

func filter(rs []result, keep func(result) bool) []result {
	var out []result
	for _, r := range rs {
		if keep(r) {
			out = append(out, r)
		}
	}
	return out
}

func describe(faces []face.Face) string {
	var parts []string
	for _, f := range faces {
		parts = append(parts, fmt.Sprintf("%s %d×%d at (%d,%d) eyes %d", f.Kind, f.Box.Dx(), f.Box.Dy(), f.Box.Min.X, f.Box.Min.Y, f.Eyes))
	}
	return "[" + strings.Join(parts, "; ") + "]"
}
