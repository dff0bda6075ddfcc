package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/avatar-pipeline/avatar-pipeline/internal/face/sample"
)

// TestQuality runs the quality command on the test portrait: a line per variant with -v, then a
// percentile row per variant, each over the one photo.
func TestQuality(t *testing.T) {
	photo := filepath.Join(t.TempDir(), "astronaut.jpg")
	if err := os.WriteFile(photo, sample.AstronautJPEG, 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := runQuality([]string{"-v", "-only", "original,dark", photo}, &out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 5 {
		t.Fatalf("got %d lines, want 5 (2 photo lines, the header, 2 rows):\n%s", len(lines), out.String())
	}
	for i, prefix := range []string{"astronaut.jpg", "astronaut.jpg", "variant (n)", "original (1)", "dark (1)"} {
		if !strings.HasPrefix(lines[i], prefix) {
			t.Errorf("line %d: got %q, want it to start with %q", i+1, lines[i], prefix)
		}
	}
	// Two stops darker lowers the brightness: the first metric of the rows, its median.
	if o, d := median(t, lines[3]), median(t, lines[4]); d >= o {
		t.Errorf("got brightness %v for the original and %v two stops darker, want less", o, d)
	}
	if err := runQuality(nil, &out); err == nil {
		t.Error("no photos: got no error, want the usage")
	}
}

// median returns the median of the first metric of a percentile row ("p5/p50/p95").
func median(t *testing.T, row string) float64 {
	t.Helper()
	_, rest, _ := strings.Cut(row, ")")
	parts := strings.Split(strings.Fields(regexp.MustCompile(`/\s+`).ReplaceAllString(rest, "/"))[0], "/")
	v, err := strconv.ParseFloat(parts[min(1, len(parts)-1)], 64)
	if len(parts) != 3 || err != nil {
		t.Fatalf("row %q: no p5/p50/p95 first", row)
	}
	return v
}
