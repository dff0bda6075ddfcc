package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// procStatus reads a field of /proc/PID/status given in kB ("VmHWM",
// "VmRSS") and returns it in bytes.
func procStatus(pid int, field string) (int64, error) {
	return kBField(fmt.Sprintf("/proc/%d/status", pid), field)
}

// exactRSS returns this process's resident memory as the kernel finds it
// by walking the page tables (/proc/self/smaps_rollup). /proc/PID/status
// reads per-CPU counters that may lag by some hundreds of kilobytes: fine
// for the burst's hundreds of megabytes, not for an upload's kilobytes.
func exactRSS() (int64, error) { return kBField("/proc/self/smaps_rollup", "Rss") }

// kBField reads the line "field: N kB" of a /proc file and returns N in
// bytes.
func kBField(path, field string) (int64, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(raw)) {
		rest, ok := strings.CutPrefix(line, field+":")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("%s: %q", path, line)
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %q: %w", path, line, err)
		}
		return kb << 10, nil
	}
	return 0, fmt.Errorf("%s has no %s", path, field)
}

// descendants returns the pids of every process below pid.
func descendants(pid int) ([]int, error) {
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		return nil, err
	}
	children := map[int][]int{}
	for _, path := range stats {
		f, err := statFields(path)
		if err != nil || len(f) < 2 {
			continue // the process has gone
		}
		ppid, err1 := strconv.Atoi(f[1])
		self, err2 := strconv.Atoi(filepath.Base(filepath.Dir(path)))
		if err1 != nil || err2 != nil {
			continue
		}
		children[ppid] = append(children[ppid], self)
	}
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out, nil
}

// cpuSeconds returns the CPU time (user and system) a process has used.
func cpuSeconds(pid int) (float64, error) {
	// After "pid (comm)": state is field 3; utime and stime are 14 and 15.
	f, err := statFields(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	utime, err1 := strconv.ParseFloat(f[11], 64)
	stime, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: utime %q stime %q", pid, f[11], f[12])
	}
	return (utime + stime) / clockTicks, nil
}

// statFields returns the fields of a /proc/PID/stat file after
// "pid (comm)", the state first; comm may hold spaces and parentheses.
func statFields(path string) ([]string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	i := bytes.LastIndexByte(raw, ')')
	if i < 0 {
		return nil, fmt.Errorf("%s: no command", path)
	}
	return strings.Fields(string(raw[i+1:])), nil
}

// clockTicks is the kernel's USER_HZ, the unit of /proc/PID/stat times:
// 100 on every Linux architecture Go supports.
const clockTicks = 100
