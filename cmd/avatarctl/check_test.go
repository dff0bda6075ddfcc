package main

import (
	"encoding/json"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/avatar-pipeline/avatar-pipeline/internal/portrait"
)

// TestCheckCommand runs `avatarctl check` on portraits made in the test:
// good ones pass with exit 0, a bad one anywhere makes the exit 2, an
// unreadable one 1.
func TestCheckCommand(t *testing.T) {
	dir := t.TempDir()
	good := writeJPEG(t, dir, "good.jpg", 640, 640)
	wide := writePNG(t, dir, "wide.png", 1280, 720)
	small := writePNG(t, dir, "small.png", 300, 300)
	oblong := writeJPEG(t, dir, "oblong.jpg", 800, 600)
	text := writeFile(t, dir, "notes.jpg", []byte("not a picture at all\n"))
	empty := writeFile(t, dir, "empty.png", nil)

	tests := []struct {
		name     string
		files    []string
		wantCode int
		// wantVerdicts are the verdicts by file, in order.
		wantVerdicts []string
	}{
		{"good jpeg", []string{good}, exitOK, []string{"accept"}},
		{"good 16:9 png", []string{wide}, exitOK, []string{"accept"}},
		{"too small", []string{small}, exitRejected, []string{"reject"}},
		{"wrong aspect", []string{oblong}, exitRejected, []string{"reject"}},
		{"not an image", []string{text}, exitRejected, []string{"reject"}},
		{"empty", []string{empty}, exitRejected, []string{"reject"}},
		{"one bad among good", []string{good, small, wide}, exitRejected, []string{"accept", "reject", "accept"}},
		{"missing file", []string{good, dir + "/nothing.jpg"}, exitError, []string{"accept", "reject"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := avatarctl(t, append([]string{"check", "--json"}, tc.files...)...)
			if r.code != tc.wantCode {
				t.Errorf("got exit %d, want %d", r.code, tc.wantCode)
			}
			var reports []map[string]any
			if err := json.Unmarshal([]byte(r.stdout), &reports); err != nil {
				t.Fatalf("check --json printed %q: %v", r.stdout, err)
			}
			if len(reports) != len(tc.files) {
				t.Fatalf("got %d reports, want %d", len(reports), len(tc.files))
			}
			for i, rep := range reports {
				var keys []string
				for k := range rep {
					keys = append(keys, k)
				}
				slices.Sort(keys)
				if want := []string{"bytes", "faces", "file", "format", "height", "reason_codes", "reasons", "verdict", "warning_codes", "warnings", "width"}; !slices.Equal(keys, want) {
					t.Errorf("report %d: got fields %v, want %v", i, keys, want)
				}
				if rep["file"] != tc.files[i] {
					t.Errorf("report %d: got file %v, want %s", i, rep["file"], tc.files[i])
				}
				if rep["verdict"] != tc.wantVerdicts[i] {
					t.Errorf("report %d (%s): got verdict %v (reasons %v), want %s", i, tc.files[i], rep["verdict"], rep["reasons"], tc.wantVerdicts[i])
				}
				reasons, _ := rep["reasons"].([]any)
				if rejected := tc.wantVerdicts[i] == "reject"; rejected != (len(reasons) > 0) {
					t.Errorf("report %d: got reasons %v with verdict %s", i, reasons, tc.wantVerdicts[i])
				}
				if codes, _ := rep["reason_codes"].([]any); len(codes) != len(reasons) {
					t.Errorf("report %d: got reason codes %v for reasons %v, want one each", i, codes, reasons)
				}
				// An accepted portrait has its one face, frontal, in the picture.
				if faces, _ := rep["faces"].([]any); tc.wantVerdicts[i] == "accept" {
					f, _ := faces[0].(map[string]any)
					box, _ := f["box"].([]any)
					if len(faces) != 1 || f["kind"] != "frontal" || len(box) != 4 || box[2].(float64) > rep["width"].(float64) {
						t.Errorf("report %d: got faces %v, want one frontal face inside the picture", i, faces)
					}
				}
			}

			// The human form agrees: a line per file with its verdict.
			h := avatarctl(t, append([]string{"check"}, tc.files...)...)
			if h.code != tc.wantCode {
				t.Errorf("without --json: got exit %d, want %d", h.code, tc.wantCode)
			}
			for i, f := range tc.files {
				verdict := tc.wantVerdicts[i]
				if verdict == "reject" && tc.wantCode == exitError && i == len(tc.files)-1 {
					verdict = "error"
				}
				if !strings.Contains(h.stdout, f+": "+verdict) {
					t.Errorf("without --json: no line %q in\n%s", f+": "+verdict, h.stdout)
				}
			}
		})
	}
}

func TestCheckReportsDimensions(t *testing.T) {
	dir := t.TempDir()
	small := writePNG(t, dir, "small.png", 300, 200)
	info, err := os.Stat(small)
	if err != nil {
		t.Fatal(err)
	}
	rep := checkFile(small, portrait.Policy{})
	if rep.Format != "png" || rep.Width != 300 || rep.Height != 200 || rep.Bytes != info.Size() {
		t.Errorf("got %s %d×%d %d bytes, want png 300×200 %d bytes", rep.Format, rep.Width, rep.Height, rep.Bytes, info.Size())
	}
	if !slices.ContainsFunc(rep.Reasons, func(r string) bool { return strings.Contains(r, "512") }) {
		t.Errorf("got reasons %q, want one naming the 512-pixel minimum", rep.Reasons)
	}
}

func TestCheckNeedsAFile(t *testing.T) {
	if r := avatarctl(t, "check"); r.code != exitError || !strings.Contains(r.stderr, "requires at least 1 arg") {
		t.Errorf("got exit %d stderr %q, want 1 and the missing argument", r.code, r.stderr)
	}
}

// TestBuildRefusesBadPortrait: build checks before it connects, so a bad
// portrait is refused with its reasons, exit 2, and no AWS call (the
// endpoint here does not exist).
func TestBuildRefusesBadPortrait(t *testing.T) {
	dir := t.TempDir()
	small := writePNG(t, dir, "small.png", 300, 300)
	r := avatarctl(t, "--local", "--endpoint", "http://127.0.0.1:1", "build", "-i", small, "--name", "Tiny")
	if r.code != exitRejected {
		t.Errorf("got exit %d, want %d", r.code, exitRejected)
	}
	if !strings.Contains(r.stdout, small+": reject") || !strings.Contains(r.stdout, "reason:") {
		t.Errorf("got stdout %q, want the report with its reasons", r.stdout)
	}
	if !strings.Contains(r.stderr, "was not uploaded") {
		t.Errorf("got stderr %q, want it to say the file was not uploaded", r.stderr)
	}
	if strings.Contains(r.stderr, "cannot reach") {
		t.Errorf("got stderr %q: build tried to connect", r.stderr)
	}

	j := avatarctl(t, "--local", "--endpoint", "http://127.0.0.1:1", "build", "-i", small, "--name", "Tiny", "--json")
	if j.code != exitRejected || j.stdout != "" || !strings.Contains(j.stderr, "512") {
		t.Errorf("--json: got exit %d stdout %q stderr %q, want 2, nothing, and the reasons on stderr", j.code, j.stdout, j.stderr)
	}
}

func TestBuildValidatesFlags(t *testing.T) {
	dir := t.TempDir()
	good := writeJPEG(t, dir, "good.jpg", 640, 640)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no image", []string{"build", "--name", "Ada"}, `"image" not set`},
		{"no name", []string{"build", "-i", good}, `"name" not set`},
		{"blank name", []string{"build", "-i", good, "--name", "  "}, "avatar name is empty"},
		{"folder key", []string{"build", "-i", good, "--name", "Ada", "--key", "team/"}, "ends with '/'"},
		{"missing file", []string{"build", "-i", dir + "/none.jpg", "--name", "Ada"}, "no such file"},
		{"negative timeout", []string{"build", "-i", good, "--name", "Ada", "--timeout", "-1s"}, "--timeout"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := avatarctl(t, append([]string{"--local", "--endpoint", "http://127.0.0.1:1"}, tc.args...)...)
			if r.code != exitError || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("got exit %d stderr %q, want 1 and %q", r.code, r.stderr, tc.want)
			}
		})
	}
}

func TestExitCodes(t *testing.T) {
	tests := []struct {
		err  error
		want int
	}{
		{nil, 0},
		{errors.New("boom"), 1},
		{statusExit("READY"), 0},
		{statusExit("REJECTED"), 2},
		{statusExit("ERROR"), 3},
		{statusExit("TIMED_OUT"), 4},
		{statusExit("FAILED"), 5},
		{&codeError{code: exitWaitTimeout}, 6},
	}
	for _, tc := range tests {
		if got := exitCode(tc.err); got != tc.want {
			t.Errorf("exitCode(%v): got %d, want %d", tc.err, got, tc.want)
		}
	}
}
