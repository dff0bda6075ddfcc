package webhook

import (
	"testing"
	"time"
)

func TestDefaultScheduleCoversADay(t *testing.T) {
	if got := DefaultSchedule.Attempts(); got != MaxAttempts {
		t.Errorf("got %d attempts in DefaultSchedule, want MaxAttempts %d", got, MaxAttempts)
	}
	var total time.Duration
	for i, d := range DefaultSchedule.Delays {
		if i > 0 && d < DefaultSchedule.Delays[i-1] {
			t.Errorf("delay %d is %s, shorter than the one before", i+1, d)
		}
		total += d
	}
	lo := time.Duration(float64(total) * (1 - DefaultSchedule.Jitter))
	hi := time.Duration(float64(total) * (1 + DefaultSchedule.Jitter))
	if lo < 20*time.Hour || hi > 28*time.Hour {
		t.Errorf("got first to last attempt %s to %s, want about 24 h", lo, hi)
	}
}

func TestScheduleDelay(t *testing.T) {
	s := Schedule{Delays: []time.Duration{10 * time.Second, time.Hour, 20 * time.Hour}, Jitter: 0.1}
	tests := []struct {
		attempt int
		lo, hi  time.Duration
		ok      bool
	}{
		{0, 9 * time.Second, 11 * time.Second, true}, // no receive count: the first attempt
		{1, 9 * time.Second, 11 * time.Second, true},
		{2, 54 * time.Minute, 66 * time.Minute, true},
		{3, maxVisibility, maxVisibility, true}, // capped below SQS's 12 h
		{4, 0, 0, false},
		{9, 0, 0, false},
	}
	for _, tc := range tests {
		for range 200 {
			d, ok := s.Delay(tc.attempt)
			if ok != tc.ok || d < tc.lo || d > tc.hi || d%time.Second != 0 {
				t.Fatalf("attempt %d: got %s %v, want whole seconds in [%s, %s] %v", tc.attempt, d, ok, tc.lo, tc.hi, tc.ok)
			}
		}
	}
	if d, _ := (Schedule{Delays: []time.Duration{5 * time.Minute}}).Delay(1); d != 5*time.Minute {
		t.Errorf("got %s without jitter, want 5m0s", d)
	}
}
