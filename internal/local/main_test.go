package local

import (
	"flag"
	"fmt"
	"os"
	"testing"
)

// e2eParallel is how many tests of this package run at once unless
// -parallel says otherwise. The end-to-end tests spend most of their time
// waiting on wall-clock builds, polls and Wait states, each in its own
// stack, so running more of them than there are cores (go test's default)
// roughly halves the package's time on a two-core machine.
const e2eParallel = "4"

func TestMain(m *testing.M) {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		flag.Set("test.parallel", e2eParallel)
	}
	testAccessLog = &suiteAccess
	code := m.Run()
	if requests := []byte(suiteAccess.String()); code == 0 && len(requests) > 0 {
		if report, err := checkPermissions(requests, false); err != nil {
			fmt.Fprintf(os.Stderr, "the permission proof over every request the suite made failed:\n%s\n%v\n", report, err)
			code = 1
		}
	}
	os.Exit(code)
}
