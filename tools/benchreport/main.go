// Command benchreport measures the pipeline's performance figures and
// prints one line per figure, "name value unit", on standard output; what
// it is doing, and whether each figure meets its goal, goes to standard
// error. `make bench` builds the functions and runs it; BENCHMARKS.md lists
// the figures and how each is measured.
//
// Sections (-only selects some):
//
//	upload    the build upload: allocations, throughput against plain base64,
//	          the naive body, and peak RSS growth measured in fresh processes
//	schedule  poll economics from the schedule simulator
//	binary    sizes of the arm64 bootstraps in -bin
//	init      exec → first Runtime API call of the host builds in -hostbin,
//	          against a fake Runtime API and a fake Secrets Manager
//	burst     uploads at once through the local stack (needs moto_server),
//	          in a fresh process
//
// Measurements that need a clean process (RSS, the burst) run in a child:
// benchreport starts itself again with -child.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// sections in the order they run.
var sections = []string{"upload", "schedule", "binary", "init", "burst", "queue"}

func main() {
	testing.Init() // testing.Benchmark outside go test needs the testing flags
	var (
		only      = flag.String("only", "", "comma-separated sections to run ("+strings.Join(sections, ",")+"); default all")
		binDir    = flag.String("bin", "", "directory with <function>/bootstrap arm64 builds, for binary sizes (make bench builds them)")
		hostDir   = flag.String("hostbin", "", "directory with <function> builds for this machine, for init time (make bench builds them)")
		initRuns  = flag.Int("init-runs", 15, "cold starts measured per function; the median is reported")
		burstN    = flag.Int("burst", 200, "uploads at once in the local burst")
		burstTime = flag.Duration("burst-build-time", time.Second, "simulated Mirako build time in the burst")
		burstPoll = flag.Int("burst-poll-seconds", 2, "head start and interval of the burst's status checks, in seconds")
		burstWait = flag.Duration("burst-timeout", 6*time.Minute, "how long the burst may take to drain")
		burstSim  = flag.Int("burst-sim-max-builds", 0, "internal: the simulator's capacity in the burst (0: none)")
		burstOut  = flag.Duration("burst-outage", 0, "internal: the simulator's outage at start in the burst")
		burstMax  = flag.Int("burst-max-in-flight", 0, "internal: MaxBuildsInFlight in the burst")
		strict    = flag.Bool("strict", false, "exit with status 1 when a figure misses its goal")
		child     = flag.String("child", "", "internal: run one measurement in this fresh process (sink, rss, burst)")
		childSize = flag.Int64("size", 0, "internal: image size of -child rss")
		childSink = flag.String("sink", "", "internal: the sink's URL for -child rss")
		childCA   = flag.String("ca", "", "internal: the sink's certificate file for -child rss and sink")
	)
	flag.Parse()

	if *child != "" {
		b := burstRun{n: *burstN, poll: *burstPoll, build: *burstTime, timeout: *burstWait, simMax: *burstSim, outage: *burstOut, inFlight: *burstMax}
		if err := runChild(*child, *childSize, *childSink, *childCA, b); err != nil {
			fmt.Fprintf(os.Stderr, "benchreport -child %s: %v\n", *child, err)
			os.Exit(1)
		}
		return
	}

	run := sections
	if *only != "" {
		run = strings.Split(*only, ",")
		for _, s := range run {
			if !slices.Contains(sections, s) {
				fmt.Fprintf(os.Stderr, "benchreport: unknown section %q; sections are %s\n", s, strings.Join(sections, ", "))
				os.Exit(2)
			}
		}
	}
	logf("machine: %s", machine())
	r := newReport(os.Stdout)
	failed := false
	for _, s := range run {
		start := time.Now()
		logf("== %s", s)
		var err error
		switch s {
		case "upload":
			err = runUpload(r)
		case "schedule":
			err = runSchedule(r)
		case "binary":
			err = runBinaries(r, *binDir)
		case "init":
			err = runInit(r, *hostDir, *initRuns)
		case "burst":
			err = runBurst(r, burstRun{n: *burstN, poll: *burstPoll, build: *burstTime, timeout: *burstWait})
		case "queue":
			err = runBurst(r, queueRun)
		}
		if err != nil {
			logf("%s: %v", s, err)
			failed = true
		}
		logf("== %s took %s", s, time.Since(start).Round(100*time.Millisecond))
	}
	if missed := r.checkGoals(os.Stderr); missed > 0 && *strict {
		failed = true
	}
	if failed {
		os.Exit(1)
	}
}

// runChild runs the measurement kind in this fresh process, with the flags
// it reads: the image size, the sink's URL and certificate, the burst.
func runChild(kind string, size int64, sink, ca string, burst burstRun) error {
	switch kind {
	case "sink":
		return childSink(os.Stdout, ca)
	case "rss":
		return childRSS(os.Stdout, size, sink, ca)
	case "burst":
		return childBurst(os.Stdout, burst)
	}
	return fmt.Errorf("unknown child measurement %q", kind)
}

// machine describes where the figures come from: CPUs, CPU model, Go
// version, and the load when the run began (the figures of a shared
// machine move with it).
func machine() string {
	model := "unknown CPU"
	if raw, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(raw)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	load := "unknown"
	if raw, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(raw)); len(f) >= 3 {
			load = strings.Join(f[:3], " ")
		}
	}
	return fmt.Sprintf("%d CPUs, %s, %s %s/%s, load average %s",
		runtime.NumCPU(), model, runtime.Version(), runtime.GOOS, runtime.GOARCH, load)
}

// logf reports progress on standard error.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "benchreport: "+format+"\n", args...)
}
