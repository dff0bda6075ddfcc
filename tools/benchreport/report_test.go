package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/avatar-pipeline/avatar-pipeline/internal/records"
)

func TestFormatValue(t *testing.T) {
	tests := []struct {
		v    float64
		want string
	}{
		{0, "0"},
		{268, "268"},
		{9699490, "9699490"},
		{269.4127, "269.4"},
		{0.0067319, "0.006732"},
		{29.99999, "30"},
		{1.0371, "1.037"},
		{1234.56, "1235"},
		{0.000325733, "0.0003257"},
	}
	for _, tc := range tests {
		if got := formatValue(tc.v); got != tc.want {
			t.Errorf("formatValue(%v): got %q, want %q", tc.v, got, tc.want)
		}
	}
}

func TestReportLinesAndGoals(t *testing.T) {
	var out bytes.Buffer
	r := newReport(&out)
	r.add("submit_10MiB_alloc_bytes", 99614, "B/op")
	r.add("submit_vs_base64_ratio", 0.65, "ratio")
	if err := r.relay("burst_200_lost 0 builds\nburst_200_drain_s 252.7 s\n"); err != nil {
		t.Fatal(err)
	}
	want := "submit_10MiB_alloc_bytes 99614 B/op\nsubmit_vs_base64_ratio 0.65 ratio\nburst_200_lost 0 builds\nburst_200_drain_s 252.7 s\n"
	if out.String() != want {
		t.Errorf("got output\n%s\nwant\n%s", out.String(), want)
	}
	var verdicts bytes.Buffer
	if missed := r.checkGoals(&verdicts); missed != 1 {
		t.Errorf("got %d goals missed, want 1 (the ratio):\n%s", missed, verdicts.String())
	}
	for _, line := range strings.Split(strings.TrimSpace(verdicts.String()), "\n") {
		ok := strings.HasSuffix(line, " met")
		if strings.Contains(line, "submit_vs_base64_ratio") == ok {
			t.Errorf("got verdict %q", line)
		}
	}
	if n := strings.Count(verdicts.String(), "\n"); n != 3 {
		t.Errorf("got %d verdicts, want 3 (goals without a figure are skipped):\n%s", n, verdicts.String())
	}
}

func TestRelayRejectsOtherLines(t *testing.T) {
	r := newReport(&bytes.Buffer{})
	for _, bad := range []string{"just words here and there\n", "name notanumber unit\n", "two fields\n"} {
		if err := r.relay(bad); err == nil {
			t.Errorf("relay(%q): got no error, want one", bad)
		}
	}
}

func TestWorstOvertaking(t *testing.T) {
	at := func(s int) string { return records.FormatTime(time.Date(2026, 12, 2, 10, 0, s, 0, time.UTC)) }
	inOrder := map[string]records.Record{
		"a": {CreatedAt: at(0), SubmittedAt: at(10)}, "b": {CreatedAt: at(1), SubmittedAt: at(11)}, "c": {CreatedAt: at(2), SubmittedAt: at(12)},
	}
	if got := worstOvertaking(inOrder); got != 0 {
		t.Errorf("builds served in upload order: got %s, want 0", got)
	}
	// b, uploaded after a, got its slot 7 s before a did; c 2 s before b.
	overtaken := map[string]records.Record{
		"a": {CreatedAt: at(0), SubmittedAt: at(20)}, "b": {CreatedAt: at(1), SubmittedAt: at(13)}, "c": {CreatedAt: at(2), SubmittedAt: at(15)},
		"unsubmitted": {CreatedAt: at(3)},
	}
	if got := worstOvertaking(overtaken); got != 7*time.Second {
		t.Errorf("got %s, want 7s", got)
	}
}

// TestEstimateErrors: each READY build's estimate is scored by how far it
// was from the finish; builds that did not end READY are not scored.
func TestEstimateErrors(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	est := map[string]estimated{
		"early": {at: t0, ready: t0.Add(10 * time.Second)},
		"late":  {at: t0, ready: t0.Add(40 * time.Second)},
		"gone":  {at: t0, ready: t0.Add(time.Second)},
	}
	recs := map[string]records.Record{
		"early": {Status: records.StatusReady, FinishedAt: records.FormatTime(t0.Add(30 * time.Second))},
		"late":  {Status: records.StatusReady, FinishedAt: records.FormatTime(t0.Add(35 * time.Second))},
		"gone":  {Status: records.StatusTimedOut, FinishedAt: records.FormatTime(t0.Add(time.Minute))},
	}
	errs, waits := estimateErrors(est, recs)
	if got := quantile(errs, 0.5); len(errs) != 2 || got != 20*time.Second || quantile(errs, 0) != 5*time.Second {
		t.Errorf("got errors %v (median %s), want 5s and 20s", errs, got)
	}
	if got := quantile(waits, 0.9); got != 35*time.Second {
		t.Errorf("got the 90th percentile wait %s, want 35s", got)
	}
	if quantile(nil, 0.5) != 0 {
		t.Error("the quantile of nothing is not 0")
	}
}
