package main

import (
	"os"
	"os/exec"
	"slices"
	"testing"
)

func TestProcReadings(t *testing.T) {
	pid := os.Getpid()
	rss, err := procStatus(pid, "VmRSS")
	if err != nil || rss <= 0 {
		t.Errorf("VmRSS: got %d, %v; want a positive size", rss, err)
	}
	if _, err := procStatus(pid, "NoSuchField"); err == nil {
		t.Error("NoSuchField: got no error, want one")
	}
	exact, err := exactRSS()
	if err != nil || exact <= 0 {
		t.Errorf("exact RSS: got %d, %v; want a positive size", exact, err)
	}
	if cpu, err := cpuSeconds(pid); err != nil || cpu < 0 {
		t.Errorf("CPU time: got %v, %v", cpu, err)
	}

	child := exec.Command("sleep", "10")
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { child.Process.Kill(); child.Wait() }()
	kids, err := descendants(pid)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(kids, child.Process.Pid) {
		t.Errorf("descendants: got %v, want them to include the child %d", kids, child.Process.Pid)
	}
}
