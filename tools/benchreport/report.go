package main

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"sync"
)

// report prints figures as they are measured and keeps them for the goal
// check.
type report struct {
	mu      sync.Mutex
	w       io.Writer
	figures map[string]float64
}

func newReport(w io.Writer) *report { return &report{w: w, figures: map[string]float64{}} }

// add prints one figure: "name value unit".
func (r *report) add(name string, value float64, unit string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.figures[name] = value
	fmt.Fprintf(r.w, "%s %s %s\n", name, formatValue(value), unit)
}

// formatValue prints integers as such and other values to four
// significant digits, never in exponent form.
func formatValue(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return strconv.FormatInt(int64(v), 10)
	}
	rounded, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'g', 4, 64), 64)
	return strconv.FormatFloat(rounded, 'f', -1, 64)
}

// relay adds the figures a child process printed, in the same format.
func (r *report) relay(out string) error {
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) != 3 {
			return fmt.Errorf("child printed %q, want \"name value unit\"", sc.Text())
		}
		v, err := strconv.ParseFloat(fields[1], 64)
		if err != nil {
			return fmt.Errorf("child printed %q: %w", sc.Text(), err)
		}
		r.add(fields[0], v, fields[2])
	}
	return sc.Err()
}

// goal is a figure's limit, from issue 8.
type goal struct {
	name  string
	max   bool // the figure must be at most limit (else at least)
	limit float64
}

var goals = []goal{
	{"submit_1MiB_alloc_bytes", true, 256 << 10},
	{"submit_10MiB_alloc_bytes", true, 256 << 10},
	{"submit_1MiB_rss_growth_ratio", true, 0.1},
	{"submit_10MiB_rss_growth_ratio", true, 0.1},
	{"submit_vs_base64_ratio", false, 0.7},
	{"schedule_default_45min_transitions", true, 270},
	{"schedule_default_45pm5_max_latency_s", true, 30},
	{"schedule_learned_cold_45min_transitions", true, 270},
	{"schedule_learned_cold_45pm5_max_latency_s", true, 30},
	{"schedule_learned_45pm5_transitions", true, 60},
	{"schedule_learned_45pm5_max_latency_s", true, 30},
	// MiB, as the Makefile's sizes target reads the goals: an SDK Lambda
	// that only publishes to SNS is already 7.08 decimal MB.
	{"binary_submit_bytes", true, 10 << 20},
	{"binary_checkstatus_bytes", true, 7 << 20},
	{"binary_notify_bytes", true, 7 << 20},
	{"binary_sweep_bytes", true, 9 << 20},
	{"binary_webhook_bytes", true, 9 << 20},
	{"init_submit_ms", true, 5},
	{"burst_200_lost", true, 0},
	{"burst_60_drain_ratio", true, 1.5},
	{"burst_60_lost", true, 0},
	{"burst_60_duplicated", true, 0},
	{"burst_200_duplicated", true, 0},
}

// checkGoals writes each measured goal's verdict to w and returns how many
// were missed.
func (r *report) checkGoals(w io.Writer) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	missed := 0
	for _, g := range goals {
		v, ok := r.figures[g.name]
		if !ok {
			continue
		}
		op, met := "≥", v >= g.limit
		if g.max {
			op, met = "≤", v <= g.limit
		}
		verdict := "met"
		if !met {
			verdict = "MISSED"
			missed++
		}
		fmt.Fprintf(w, "goal %-42s %12s %s %-10s %s\n", g.name, formatValue(v), op, formatValue(g.limit), verdict)
	}
	return missed
}
