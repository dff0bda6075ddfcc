package main

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/avatar-pipeline/avatar-pipeline/internal/records"
	"github.com/avatar-pipeline/avatar-pipeline/internal/records/store"
)

// script is a fake record reader that returns its steps one read at a
// time, then the last one forever; a zero record stands for "not found".
type script struct {
	mu    sync.Mutex
	steps []records.Record
	err   error // returned by every read, if set
	reads int
}

func (s *script) Load(_ context.Context, id string) (records.Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return records.Record{}, s.err
	}
	r := s.steps[min(s.reads, len(s.steps)-1)]
	s.reads++
	if r.Status == "" {
		return records.Record{}, store.ErrNotFound
	}
	return r, nil
}

func TestFollow(t *testing.T) {
	id := "3f2a9c1b7d0e4a5f8b6c2d1e0f9a8b7c"
	rec := func(st records.Status, checks int) records.Record {
		return records.Record{BuildID: id, Status: st, Checks: checks, AvatarID: "av", Reason: "why"}
	}
	fast := waitOptions{interval: time.Millisecond, register: time.Minute}
	tests := []struct {
		name       string
		steps      []records.Record
		opts       waitOptions
		wantStatus records.Status
		wantCode   int
		wantErr    string
		wantLines  []string
	}{
		{
			name:       "to READY",
			steps:      []records.Record{{}, rec(records.StatusReceived, 0), rec(records.StatusPending, 0), rec(records.StatusBuilding, 1), rec(records.StatusBuilding, 1), rec(records.StatusReady, 2)},
			opts:       fast,
			wantStatus: records.StatusReady,
			wantLines:  []string{"waiting for the pipeline", "RECEIVED", "PENDING    avatar av; 0 checks", "BUILDING   avatar av; 1 check", "READY      avatar av"},
		},
		{
			name:       "to REJECTED",
			steps:      []records.Record{rec(records.StatusRejected, 0)},
			opts:       fast,
			wantStatus: records.StatusRejected,
			wantCode:   exitRejected,
			wantLines:  []string{"REJECTED   why"},
		},
		{
			name:       "timeout",
			steps:      []records.Record{rec(records.StatusBuilding, 1)},
			opts:       waitOptions{interval: time.Millisecond, timeout: 30 * time.Millisecond},
			wantStatus: records.StatusBuilding,
			wantCode:   exitWaitTimeout,
			wantErr:    "is BUILDING at --timeout; it goes on",
		},
		{
			name:     "never registered",
			steps:    []records.Record{{}},
			opts:     waitOptions{interval: time.Millisecond, register: 20 * time.Millisecond},
			wantCode: exitError,
			wantErr:  "still not registered",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			got, err := follow(context.Background(), &script{steps: tc.steps}, id, tc.opts, newProgress(&b, plain))
			if got.Status != tc.wantStatus {
				t.Errorf("got status %q, want %q", got.Status, tc.wantStatus)
			}
			if err == nil {
				err = statusExit(got.Status)
			}
			if code := exitCode(err); code != tc.wantCode {
				t.Errorf("got exit %d (%v), want %d", code, err, tc.wantCode)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("got error %v, want %q", err, tc.wantErr)
			}
			lines := strings.Split(strings.TrimSpace(b.String()), "\n")
			for i, want := range tc.wantLines {
				if i >= len(lines) || !strings.Contains(lines[i], want) {
					t.Errorf("line %d: got %q, want %q (output:\n%s)", i, lines[min(i, len(lines)-1)], want, b.String())
				}
			}
			if len(tc.wantLines) > 0 && len(lines) != len(tc.wantLines) {
				t.Errorf("got %d lines, want %d (a line per change):\n%s", len(lines), len(tc.wantLines), b.String())
			}
		})
	}
}

func TestFollowStopsOnError(t *testing.T) {
	boom := errors.New("boom")
	_, err := follow(context.Background(), &script{err: boom}, "x", waitOptions{interval: time.Millisecond}, nil)
	if !errors.Is(err, boom) {
		t.Errorf("got %v, want the read error", err)
	}
}

func TestFollowInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	_, err := follow(ctx, &script{steps: []records.Record{{BuildID: "x", Status: records.StatusPending}}}, "x", waitOptions{interval: time.Millisecond}, nil)
	if err == nil || exitCode(err) != exitError || !strings.Contains(err.Error(), "stopped waiting; build x is PENDING and goes on") {
		t.Errorf("got %v, want the stopped-waiting error with exit 1", err)
	}
}

// TestFollowShowsTheEstimate: with an estimate, each new status line says
// where the build stands, once per status, not on every check.
func TestFollowShowsTheEstimate(t *testing.T) {
	id := "3f2a9c1b7d0e4a5f8b6c2d1e0f9a8b7c"
	steps := []records.Record{
		{BuildID: id, Status: records.StatusQueued, Reason: "waiting for a slot", NextAttemptAt: "T"},
		{BuildID: id, Status: records.StatusBuilding, AvatarID: "av", Checks: 1},
		{BuildID: id, Status: records.StatusBuilding, AvatarID: "av", Checks: 2},
		{BuildID: id, Status: records.StatusReady, AvatarID: "av"},
	}
	var b bytes.Buffer
	p := newProgress(&b, plain)
	asked := 0
	p.estimate = func(r records.Record) string {
		asked++
		if r.Status.Terminal() {
			return ""
		}
		return "estimate for " + string(r.Status)
	}
	if _, err := follow(context.Background(), &script{steps: steps}, id, waitOptions{interval: time.Millisecond, register: time.Minute}, p); err != nil {
		t.Fatal(err)
	}
	want := []string{"QUEUED     waiting for a slot; next try T; estimate for QUEUED", "BUILDING   avatar av; 1 check; estimate for BUILDING",
		"BUILDING   avatar av; 2 checks", "READY      avatar av"}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		lines = append(lines, strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(l), "0s")))
	}
	if !slices.Equal(lines, want) || asked != 3 {
		t.Errorf("got %d estimates and lines\n%s\nwant 3 and\n%s", asked, strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}
