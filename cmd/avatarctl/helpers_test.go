package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/avatar-pipeline/avatar-pipeline/internal/local"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/ with the output the tests get")

// golden compares got with testdata/name, or rewrites the file with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (go test -update rewrites it)\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

// result is what one avatarctl run printed and its exit code.
type result struct {
	stdout, stderr string
	code           int
}

// avatarctl runs the command line in-process, as main does.
func avatarctl(t *testing.T, args ...string) result {
	t.Helper()
	root := newRootCmd()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	began := time.Now()
	code := execute(root)
	t.Logf("avatarctl %q: exit %d after %s\nstdout:\n%s\nstderr:\n%s", args, code, time.Since(began).Round(time.Millisecond), out.String(), errOut.String())
	return result{out.String(), errOut.String(), code}
}

// writeJPEG writes a w×h portrait (local.PortraitJPEG) as a file in dir.
func writeJPEG(t *testing.T, dir, name string, w, h int) string {
	t.Helper()
	return writeFile(t, dir, name, local.PortraitJPEG(w, h))
}

// writePNG writes a w×h portrait (local.PortraitPNG) as a file in dir.
func writePNG(t *testing.T, dir, name string, w, h int) string {
	t.Helper()
	return writeFile(t, dir, name, local.PortraitPNG(w, h))
}

func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
