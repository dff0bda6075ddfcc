package local

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSitecustomizeCaches runs moto's Python with sitecustomize.py
// as the local stack loads it, and checks its caches: the module list is
// read once, a JSONPath is parsed once, and both still give moto's answers.
func TestSitecustomizeCaches(t *testing.T) {
	t.Parallel()
	// The Python that runs moto_server: tools/with-python-tools puts one
	// that imports moto first on PATH.
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Fatal(ErrMotoMissing)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "sitecustomize.py"), sitecustomize, 0o644); err != nil {
		t.Fatal(err)
	}
	const check = `
import moto.backends as b
from moto.stepfunctions.parser.asl.utils import json_path as j
from moto.stepfunctions.parser.asl.component.common.path import result_path as r
assert b.list_of_moto_modules() is b.list_of_moto_modules(), "the module list is read again"
assert "stepfunctions" in b.list_of_moto_modules() and "dynamodb" in b.list_of_moto_modules()
assert j.parse("$.a.b") is j.parse("$.a.b") and r.parse("$.x") is r.parse("$.x"), "a path is parsed again"
assert j.extract_json("$.a.b", {"a": {"b": 7}}) == 7
assert j.extract_json("$.a.b", {"a": {"b": [1]}}) == [1]
print("cached", flush=True)
import os
os._exit(0)  # not a normal exit: the watchdog thread is blocked reading stdin
`
	cmd := exec.Command(python, "-c", check)
	cmd.Env = append(os.Environ(), "PYTHONPATH="+dir, "AVATAR_LOCAL_MOTO=1")
	// The watchdog ends the process when its standard input closes: keep it open.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	cmd.Stdin = r
	out, err := cmd.CombinedOutput()
	r.Close()
	if err != nil || strings.TrimSpace(string(out)) != "cached" {
		t.Fatalf("sitecustomize's caches: %v\n%s", err, out)
	}
}
