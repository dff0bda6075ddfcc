package main

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/avatar-pipeline/avatar-pipeline/internal/face"
	"github.com/avatar-pipeline/avatar-pipeline/internal/portrait"
	"github.com/avatar-pipeline/avatar-pipeline/internal/records"
)

// now is the time the formatting tests pretend it is.
var now = time.Date(2025, 6, 1, 12, 30, 0, 0, time.UTC)

// Sample builds, newest first, covering every field.
var (
	readyBuild = records.Record{
		BuildID:      "3f2a9c1b7d0e4a5f8b6c2d1e0f9a8b7c",
		Status:       records.StatusReady,
		Name:         "Ada Lovelace",
		Bucket:       "avatar-portraits",
		Key:          "portraits/ada.jpg",
		VersionID:    "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY",
		ETag:         "9b2cf535f27731c974343645a3985328",
		Size:         1234567,
		Image:        &records.Image{Format: "jpeg", Width: 1024, Height: 1024},
		AvatarID:     "0d3c6a3e-5b7f-4c1e-9a52-8f1e2d3c4b5a",
		Themes:       []string{"Default", "Studio"},
		Checks:       3,
		CreatedAt:    "2025-06-01T12:00:00.000Z",
		SubmittedAt:  "2025-06-01T12:00:02.120Z",
		UpdatedAt:    "2025-06-01T12:01:32.500Z",
		FinishedAt:   "2025-06-01T12:01:32.500Z",
		BuildSeconds: 90,
		ExecutionARN: "arn:aws:states:us-east-1:123456789012:execution:avatar-build:0b7e1c2d",
	}
	rejectedBuild = records.Record{
		BuildID:    "77c1e0d2a9b84f3e8d6c5b4a39281706",
		Status:     records.StatusRejected,
		Name:       "Tiny",
		Bucket:     "avatar-portraits",
		Key:        "portraits/tiny.png",
		ETag:       "5d41402abc4b2a76b9719d911017c592",
		Size:       10240,
		Image:      &records.Image{Format: "png", Width: 300, Height: 300},
		Reason:     "the image is 300×300; Mirako needs at least 512×512",
		CreatedAt:  "2025-06-01T12:10:00.000Z",
		UpdatedAt:  "2025-06-01T12:10:01.000Z",
		FinishedAt: "2025-06-01T12:10:01.000Z",
	}
	failedBuild = records.Record{
		BuildID:    "a0b1c2d3e4f5061728394a5b6c7d8e9f",
		Status:     records.StatusFailed,
		Name:       "A name long enough to be shortened in the table",
		Bucket:     "avatar-portraits",
		Key:        "portraits/long.jpg",
		VersionID:  "v2",
		Size:       2048000,
		Reason:     "build avatar a0b1c2d3: Mirako: 402 insufficient credits",
		Error:      "MirakoRejectedError",
		CreatedAt:  "2025-06-01T12:20:00.000Z",
		FinishedAt: "2025-06-01T12:20:03.000Z",
	}
	buildingBuild = records.Record{
		BuildID:      "e5d4c3b2a1f0e9d8c7b6a5f4e3d2c1b0",
		Status:       records.StatusBuilding,
		Name:         "Grace\tHopper",
		Bucket:       "avatar-portraits",
		Key:          "portraits/ada.jpg",
		VersionID:    "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY",
		Size:         1234567,
		AvatarID:     "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
		Checks:       1,
		CreatedAt:    "2025-06-01T12:29:30.000Z",
		SubmittedAt:  "2025-06-01T12:29:31.000Z",
		RetryOf:      readyBuild.BuildID,
		ExecutionARN: "arn:aws:states:us-east-1:123456789012:execution:avatar-build:retry-3f2a9c1b7d0e",
	}
	sampleList = []records.Record{buildingBuild, failedBuild, rejectedBuild, readyBuild}
)

var (
	plain     = style{now: now}
	tty       = style{tty: true, now: now}
	ttyColour = style{tty: true, color: true, now: now}
)

func TestViewFormat(t *testing.T) {
	tests := []struct {
		golden string
		rec    records.Record
		s      style
	}{
		{"view_ready.txt", readyBuild, plain},
		{"view_ready_color.txt", readyBuild, ttyColour},
		{"view_rejected.txt", rejectedBuild, plain},
		{"view_failed.txt", failedBuild, plain},
		{"view_retry.txt", buildingBuild, plain},
	}
	for _, tc := range tests {
		t.Run(tc.golden, func(t *testing.T) {
			var b bytes.Buffer
			if err := writeRecord(&b, tc.rec, tc.s); err != nil {
				t.Fatal(err)
			}
			golden(t, tc.golden, b.Bytes())
		})
	}
}

func TestListFormat(t *testing.T) {
	tests := []struct {
		golden string
		recs   []records.Record
		s      style
	}{
		{"list.txt", sampleList, plain},
		{"list_tty.txt", sampleList, tty},
		{"list_tty_color.txt", sampleList, ttyColour},
		{"list_empty_tty.txt", nil, tty},
		{"list_empty.txt", nil, plain},
	}
	for _, tc := range tests {
		t.Run(tc.golden, func(t *testing.T) {
			var b bytes.Buffer
			if err := writeList(&b, tc.recs, tc.s); err != nil {
				t.Fatal(err)
			}
			golden(t, tc.golden, b.Bytes())
		})
	}
}

// TestRecordJSON: view --json prints one record object and list --json an
// array of them, with the record's attribute names as field names.
func TestRecordJSON(t *testing.T) {
	var view, list bytes.Buffer
	if err := writeJSON(&view, readyBuild); err != nil {
		t.Fatal(err)
	}
	if err := writeJSON(&list, sampleList); err != nil {
		t.Fatal(err)
	}
	golden(t, "view_ready.json", view.Bytes())
	golden(t, "list.json", list.Bytes())

	var fields map[string]any
	if err := json.Unmarshal(view.Bytes(), &fields); err != nil {
		t.Fatal(err)
	}
	for k := range fields {
		if !slices.Contains(records.Attributes, k) {
			t.Errorf("view --json field %q is not a record attribute name", k)
		}
	}
	for _, k := range []string{records.AttrBuildID, records.AttrStatus, records.AttrAvatarID, records.AttrThemes, records.AttrImage, records.AttrCreatedAt} {
		if _, ok := fields[k]; !ok {
			t.Errorf("view --json has no %q: got fields %v", k, slices.Sorted(maps.Keys(fields)))
		}
	}
}

func TestCheckFormat(t *testing.T) {
	none := []string{}
	reps := []fileReport{
		{File: "ada.jpg", Report: portrait.Report{Verdict: "accept", Reasons: none, ReasonCodes: none, Warnings: none, WarningCodes: none,
			Format: "jpeg", Width: 1024, Height: 1024, Bytes: 1234567}, Faces: []portrait.FoundFace{{Box: [4]int{352, 132, 546, 326}, Kind: face.Frontal, Eyes: 2}}},
		{File: "dim.jpg", Report: portrait.Report{Verdict: "accept", Reasons: none, ReasonCodes: none, Warnings: []string{"the portrait is dark (mean brightness 41 of 255); light the face evenly"},
			WarningCodes: []string{portrait.CodeDark}, Format: "jpeg", Width: 800, Height: 800, Bytes: 240000},
			Faces: []portrait.FoundFace{{Box: [4]int{280, 100, 440, 260}, Kind: face.Frontal, Eyes: 2}}},
		{File: "tiny.png", Report: portrait.Report{Verdict: "reject", Reasons: []string{"the image is 300×200; Mirako needs at least 512×512", "the image is 3:2; Mirako needs a square or 16:9 picture"},
			ReasonCodes: []string{portrait.CodeTooSmall, portrait.CodeAspect}, Warnings: none, WarningCodes: none,
			Format: "png", Width: 300, Height: 200, Bytes: 10240}, Faces: []portrait.FoundFace{}},
		{File: "notes.txt", Report: portrait.Report{Verdict: "reject", Reasons: []string{"the file is not a JPEG or PNG image"}, ReasonCodes: []string{portrait.CodeFormat},
			Warnings: none, WarningCodes: none, Bytes: 21}, Faces: []portrait.FoundFace{}},
	}
	for _, tc := range []struct {
		golden string
		s      style
	}{{"check.txt", plain}, {"check_color.txt", ttyColour}} {
		t.Run(tc.golden, func(t *testing.T) {
			var b bytes.Buffer
			if err := writeReports(&b, reps, tc.s); err != nil {
				t.Fatal(err)
			}
			golden(t, tc.golden, b.Bytes())
		})
	}
	var b bytes.Buffer
	if err := writeJSON(&b, reps); err != nil {
		t.Fatal(err)
	}
	golden(t, "check.json", b.Bytes())
}

// TestProgressFormat feeds the progress display a build's records as
// `wait` reads them.
func TestProgressFormat(t *testing.T) {
	received := records.Record{BuildID: readyBuild.BuildID, Status: records.StatusReceived, Name: "Ada Lovelace"}
	pending := received
	pending.Status, pending.AvatarID = records.StatusPending, readyBuild.AvatarID
	building := pending
	building.Status = records.StatusBuilding
	checked := building
	checked.Checks = 1
	checked2 := building
	checked2.Checks = 2
	steps := []struct {
		elapsed time.Duration
		rec     *records.Record // nil: not registered yet
	}{
		{0, nil},
		{2 * time.Second, nil},
		{4 * time.Second, &received},
		{6 * time.Second, &pending},
		{8 * time.Second, &pending},
		{36 * time.Second, &building},
		{66 * time.Second, &checked},
		{96 * time.Second, &checked2},
		{126 * time.Second, &readyBuild},
	}
	for _, tc := range []struct {
		golden string
		s      style
	}{{"progress.txt", plain}, {"progress_tty.txt", ttyColour}} {
		t.Run(tc.golden, func(t *testing.T) {
			var b bytes.Buffer
			p := newProgress(&b, tc.s)
			for _, st := range steps {
				if st.rec == nil {
					p.unregistered(st.elapsed)
				} else {
					p.update(*st.rec, st.elapsed)
				}
			}
			p.clear()
			golden(t, tc.golden, b.Bytes())
		})
	}
}

func TestProgressDetail(t *testing.T) {
	tests := []struct {
		rec  records.Record
		want string
	}{
		{records.Record{Status: records.StatusReceived, Name: "Ada"}, `"Ada"`},
		{records.Record{Status: records.StatusPending}, "0 checks"},
		{records.Record{Status: records.StatusBuilding, AvatarID: "av", Checks: 1}, "avatar av; 1 check"},
		{records.Record{Status: records.StatusReady, AvatarID: "av", Themes: []string{"A", "B"}, BuildSeconds: 3725}, "avatar av; themes A, B; built in 1h2m5s"},
		{records.Record{Status: records.StatusError, Reason: "Mirako could not build it"}, "Mirako could not build it"},
		{records.Record{Status: records.StatusFailed, Reason: "no credits", Error: "MirakoRejectedError"}, "no credits; error MirakoRejectedError"},
		{records.Record{Status: records.StatusTimedOut, Reason: "no answer in 3h"}, "no answer in 3h"},
		{records.Record{Status: records.StatusQueued, Reason: "Mirako is at capacity (429); asking again", NextAttemptAt: "2026-12-02T10:00:05.000Z"},
			"Mirako is at capacity (429); asking again; next try 2026-12-02T10:00:05.000Z"},
	}
	for _, tc := range tests {
		if got := progressDetail(tc.rec); got != tc.want {
			t.Errorf("progressDetail(%s): got %q, want %q", tc.rec.Status, got, tc.want)
		}
	}
}

func TestDurationAndSizeText(t *testing.T) {
	durations := map[time.Duration]string{
		0: "0s", 400 * time.Millisecond: "0s", 59 * time.Second: "59s", time.Minute: "1m", 90 * time.Second: "1m30s",
		time.Hour: "1h", time.Hour + 5*time.Second: "1h0m5s", 3*time.Hour + 20*time.Minute: "3h20m", -time.Second: "0s",
	}
	for d, want := range durations {
		if got := durationText(d); got != want {
			t.Errorf("durationText(%s): got %q, want %q", d, got, want)
		}
	}
	sizes := map[int64]string{0: "0 B", 999: "999 B", 1000: "1.0 kB", 1234567: "1.2 MB", 10_000_000: "10.0 MB", 3e9: "3.0 GB"}
	for n, want := range sizes {
		if got := bytesText(n); got != want {
			t.Errorf("bytesText(%d): got %q, want %q", n, got, want)
		}
	}
}

func TestAgo(t *testing.T) {
	tests := map[string]string{
		"2025-06-01T12:29:30.000Z": "30s ago",
		"2025-06-01T12:00:00.000Z": "30m ago",
		"2025-06-01T02:30:00.000Z": "10h ago",
		"2025-05-20T12:30:00.000Z": "12d ago",
		"2025-06-01T12:31:00.000Z": "just now",
		"yesterday":                "yesterday",
	}
	for in, want := range tests {
		if got := tty.ago(in); got != want {
			t.Errorf("ago(%s): got %q, want %q", in, got, want)
		}
	}
}

func TestStyle(t *testing.T) {
	t.Setenv("NO_COLOR", "")
	if s := styleFor(&bytes.Buffer{}); s.tty || s.color {
		t.Errorf("got %+v for a buffer, want neither tty nor colour", s)
	}
	tests := []struct {
		tty       bool
		env       map[string]string
		wantColor bool
	}{
		{true, map[string]string{"TERM": "xterm-256color"}, true},
		{true, map[string]string{"TERM": "xterm-256color", "NO_COLOR": "1"}, false},
		{true, map[string]string{"NO_COLOR": "false"}, false}, // any value counts
		{true, map[string]string{"TERM": "dumb"}, false},
		{false, map[string]string{"TERM": "xterm"}, false},
	}
	for _, tc := range tests {
		s := newStyle(tc.tty, func(k string) string { return tc.env[k] }, now)
		if s.tty != tc.tty || s.color != tc.wantColor {
			t.Errorf("tty %v env %v: got tty %v colour %v, want colour %v", tc.tty, tc.env, s.tty, s.color, tc.wantColor)
		}
	}
}

// TestWriteRecordQueuedAndWarnings: view shows a queued build's next try
// and a portrait's warnings, each with its code.
func TestWriteRecordQueuedAndWarnings(t *testing.T) {
	var b strings.Builder
	rec := records.Record{BuildID: "b1", Status: records.StatusQueued, Reason: "waiting for a slot", NextAttemptAt: "2026-12-02T10:00:05.000Z",
		Warnings: []records.Warning{{Code: "small_face", Reason: "the face is small"}, {Code: "dark", Reason: "it is dark"}}}
	if err := writeRecord(&b, rec, style{}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Next try:    2026-12-02T10:00:05.000Z", "Warnings:    the face is small (small_face)", "\n             it is dark (dark)"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("got\n%s\nwant it to contain %q", b.String(), want)
		}
	}
}
