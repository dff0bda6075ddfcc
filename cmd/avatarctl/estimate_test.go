package main

import (
	"testing"
	"time"

	"github.com/avatar-pipeline/avatar-pipeline/internal/records/eta"
)

// TestEstimateText: the place in the queue, then when the build should be
// READY, rounded to the minute, with what the estimate learned from.
func TestEstimateText(t *testing.T) {
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	typical := 15 * time.Minute
	tests := []struct {
		e    eta.Estimate
		want string
	}{
		{eta.Estimate{Place: 3, Ready: now.Add(20 * time.Minute), Typical: typical, Basis: 3}, "place 3 in the queue; READY in about 20m (the median of the last 3 READY builds: 15m)"},
		{eta.Estimate{Ready: now.Add(10*time.Minute + 20*time.Second), Typical: typical, Basis: 3}, "READY in about 10m (the median of the last 3 READY builds: 15m)"},
		{eta.Estimate{Ready: now.Add(-time.Hour), Typical: typical, Basis: 3}, "READY any moment now (the median of the last 3 READY builds: 15m)"},
		{eta.Estimate{Place: 1}, "place 1 in the queue"},
		{eta.Estimate{}, ""},
	}
	for _, tc := range tests {
		if got := estimateText(tc.e, now); got != tc.want {
			t.Errorf("%+v: got %q, want %q", tc.e, got, tc.want)
		}
	}
}
