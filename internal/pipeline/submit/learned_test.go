package submit_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/avatar-pipeline/avatar-pipeline/internal/pipeline"
	"github.com/avatar-pipeline/avatar-pipeline/internal/pipeline/submit"
	"github.com/avatar-pipeline/avatar-pipeline/internal/records"
)

func minutes(ms ...float64) []time.Duration {
	out := make([]time.Duration, len(ms))
	for i, m := range ms {
		out[i] = time.Duration(m * float64(time.Minute))
	}
	return out
}

func TestLearnHeadStart(t *testing.T) {
	const (
		fallback = 120 * time.Second
		interval = 30 * time.Second
		deadline = 3 * time.Hour
	)
	tests := []struct {
		name     string
		recent   []time.Duration
		deadline time.Duration
		want     time.Duration
	}{
		{"no history", nil, deadline, fallback},
		{"one build", minutes(45), deadline, fallback},
		// min 40.5, max 49.5, 10 builds: gaps of 1 min; 40.5 − 10 × 1 − 0.5 = 30 min.
		{"builds of 40 to 50 minutes", minutes(49.5, 40.5, 45, 47, 42, 44, 48, 41, 46, 43), deadline, 30 * time.Minute},
		// 51 builds, one every 12 s from 40 to 50 min: gaps of 12 s; 40 min − 120 s − 30 s.
		{"51 builds of 40 to 50 minutes", func() (d []time.Duration) {
			for i := range 51 {
				d = append(d, 40*time.Minute+time.Duration(i)*12*time.Second)
			}
			return d
		}(), deadline, 37*time.Minute + 30*time.Second},
		// Identical builds: no gap, one interval before them.
		{"identical builds", minutes(45, 45, 45), deadline, 44*time.Minute + 30*time.Second},
		// Short and long builds: the short ones set the wait, below the fallback.
		{"bimodal", minutes(3, 45, 3.2, 44, 46), deadline, fallback},
		{"spread over 2 to 45 minutes", minutes(2.5, 30, 44, 12, 7), deadline, fallback},
		{"learned wait equals the fallback", []time.Duration{150 * time.Second, 150 * time.Second}, deadline, fallback},
		{"never past the deadline", minutes(300, 300, 300), deadline, deadline},
		{"no deadline given", minutes(300, 300, 300), 0, 299*time.Minute + 30*time.Second},
		{"whole seconds", []time.Duration{3000500 * time.Millisecond, 3000500 * time.Millisecond}, deadline, 2970 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := pipeline.LearnHeadStart(tc.recent, fallback, interval, tc.deadline); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

// fakeDurations serves these build times as the newest READY builds'.
type fakeDurations struct {
	mu      sync.Mutex
	seconds []int
	err     error
	calls   []int // the n of each read
}

func (f *fakeDurations) RecentDurations(_ context.Context, n int) ([]time.Duration, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, n)
	if f.err != nil {
		return nil, f.err
	}
	var out []time.Duration
	for _, s := range f.seconds {
		out = append(out, time.Duration(s)*time.Second)
	}
	return out, nil
}

func (f *fakeDurations) queries() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestLearnedHeadStartReadsRecentBuilds(t *testing.T) {
	f := &fakeDurations{seconds: []int{2700, 2640, 2760, 2730, 2680}}
	l := &submit.LearnedHeadStart{Table: f, Schedule: pipeline.DefaultSchedule, Log: quietLog()}
	// min 2640, max 2760, 5 builds: gaps of 30 s; 2640 − 10 × 30 − 30 = 2310 s.
	if got, want := l.HeadStart(context.Background(), 120*time.Second), 2310*time.Second; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	if !slices.Equal(f.calls, []int{pipeline.LearnSamples}) {
		t.Errorf("got reads %v, want one of %d builds", f.calls, pipeline.LearnSamples)
	}
}

func TestLearnedHeadStartThinHistory(t *testing.T) {
	tests := []struct {
		name    string
		seconds []int
	}{
		{"no READY builds", nil},
		{"four builds", []int{2700, 2700, 2700, 2700}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := &submit.LearnedHeadStart{Table: &fakeDurations{seconds: tc.seconds}, Schedule: pipeline.DefaultSchedule, Log: quietLog()}
			if got, want := l.HeadStart(context.Background(), 120*time.Second), 120*time.Second; got != want {
				t.Errorf("got %s, want the fallback %s", got, want)
			}
		})
	}
	// MinSamples lowers the bar.
	l := &submit.LearnedHeadStart{Table: &fakeDurations{seconds: []int{2700, 2700}}, MinSamples: 2, Schedule: pipeline.DefaultSchedule, Log: quietLog()}
	if got, want := l.HeadStart(context.Background(), 120*time.Second), 2670*time.Second; got != want {
		t.Errorf("MinSamples 2: got %s, want %s", got, want)
	}
}

func TestLearnedHeadStartCache(t *testing.T) {
	f := &fakeDurations{seconds: []int{2700, 2700, 2700, 2700, 2700}}
	c := &clock{now: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	l := &submit.LearnedHeadStart{Table: f, Schedule: pipeline.DefaultSchedule, Now: c.Now, Log: quietLog()}
	ctx := context.Background()
	head := func() time.Duration { return l.HeadStart(ctx, 120*time.Second) }

	if got, want := head(), 2670*time.Second; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	c.add(pipeline.LearnTTL - time.Second)
	f.seconds = []int{600, 600, 600, 600, 600}
	if got, want := head(), 2670*time.Second; got != want || f.queries() != 1 {
		t.Errorf("within the TTL: got %s after %d queries, want %s from 1 query", got, f.queries(), want)
	}
	c.add(time.Second)
	if got, want := head(), 570*time.Second; got != want || f.queries() != 2 {
		t.Errorf("after the TTL: got %s after %d queries, want %s from 2 queries", got, f.queries(), want)
	}

	// A failed read keeps what was read before, and is not retried per build.
	c.add(pipeline.LearnTTL)
	f.err = errors.New("ProvisionedThroughputExceededException")
	for i := range 3 {
		if got, want := head(), 570*time.Second; got != want {
			t.Errorf("failed read, call %d: got %s, want the cached %s", i, got, want)
		}
	}
	if f.queries() != 3 {
		t.Errorf("got %d queries, want 3: one per TTL, failed or not", f.queries())
	}

	// A failed read with nothing cached falls back.
	fresh := &submit.LearnedHeadStart{Table: f, Schedule: pipeline.DefaultSchedule, Log: quietLog()}
	if got, want := fresh.HeadStart(ctx, 120*time.Second), 120*time.Second; got != want {
		t.Errorf("failed first read: got %s, want the fallback %s", got, want)
	}
}

func TestLearnedHeadStartConcurrent(t *testing.T) {
	f := &fakeDurations{seconds: []int{2700, 2700, 2700, 2700, 2700}}
	l := &submit.LearnedHeadStart{Table: f, Schedule: pipeline.DefaultSchedule, Log: quietLog()}
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if got, want := l.HeadStart(context.Background(), 120*time.Second), 2670*time.Second; got != want {
				t.Errorf("got %s, want %s", got, want)
			}
		})
	}
	wg.Wait()
	if f.queries() != 1 {
		t.Errorf("got %d queries from 20 concurrent builds, want 1", f.queries())
	}
}

func TestSubmitConfigLearnedHeadStart(t *testing.T) {
	base := map[string]string{pipeline.EnvBuildsTable: "t", pipeline.EnvMirakoSecretID: "s"}
	tests := []struct {
		value   string
		want    bool
		wantErr bool
	}{
		{"", false, false},
		{"true", true, false},
		{"false", false, false},
		{"maybe", false, true},
	}
	for _, tc := range tests {
		t.Run(tc.value, func(t *testing.T) {
			vars := map[string]string{pipeline.EnvLearnedHeadStart: tc.value}
			for k, v := range base {
				vars[k] = v
			}
			c, err := pipeline.SubmitConfigFromEnv(func(k string) string { return vars[k] })
			if (err != nil) != tc.wantErr {
				t.Fatalf("got error %v, want error %v", err, tc.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), pipeline.EnvLearnedHeadStart) {
				t.Errorf("got error %q, want it to name %s", err, pipeline.EnvLearnedHeadStart)
			}
			if c.LearnedHeadStart != tc.want {
				t.Errorf("got submit.LearnedHeadStart %v, want %v", c.LearnedHeadStart, tc.want)
			}
		})
	}
}

// TestLearnedHeadStartFromTheStore reads the build store: READY records
// of other builds newest first, other statuses not, and Submit uses the
// learned wait.
func TestLearnedHeadStartFromTheStore(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	created := time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)
	i := 0
	put := func(status records.Status, seconds int64) {
		i++
		rec := records.Record{BuildID: fmt.Sprintf("b%02d", i), Status: status, BuildSeconds: seconds, ExecutionARN: "old",
			CreatedAt: records.FormatTime(created.Add(time.Duration(i) * time.Minute))}
		if _, err := e.table.Register(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	// 25 old builds of 5 minutes, then 20 newer ones of 44 to 46 minutes,
	// and failures of every length, which must not count.
	for range 25 {
		put(records.StatusReady, 300)
	}
	for k := range 20 {
		put(records.StatusReady, 2640+int64(k%5)*30) // 2640 … 2760
		put(records.StatusError, 30)
	}
	put(records.StatusBuilding, 0)
	l := &submit.LearnedHeadStart{Table: e.table, Samples: 20, Schedule: pipeline.DefaultSchedule, Log: quietLog()}
	// Only the 20 newest READY builds: min 2640, max 2760, gaps of 120/19 s.
	want := (2640*time.Second - pipeline.LearnMargin*120*time.Second/19 - 30*time.Second).Truncate(time.Second)
	if got := l.HeadStart(ctx, 120*time.Second); got != want {
		t.Errorf("got %s, want %s (from the 20 newest READY builds only)", got, want)
	}
	e.h.Submission.HeadStart = l
	st, err := e.submit(t, e.admit(t, e.upload(t, "learned.jpg", portraitJPEG(t, 1024, 1024), nil), "exec-learned"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Outcome != pipeline.OutcomeSubmitted || st.WaitSeconds != int(want/time.Second) {
		t.Errorf("submit: got outcome %s wait %d s, want SUBMITTED with the learned wait %d s", st.Outcome, st.WaitSeconds, int(want/time.Second))
	}
}
