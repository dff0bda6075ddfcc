package schedulesim

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/avatar-pipeline/avatar-pipeline/internal/pipeline"
	"github.com/avatar-pipeline/avatar-pipeline/statemachine"
)

// TestReadyAfterPath: the walk follows the real definition state by state:
// admission, submission, the poll loop with one progress record, the READY
// record and the notice. A change to the workflow's success path shows here
// first: check the new path by hand against build.asl.json.
func TestReadyAfterPath(t *testing.T) {
	tr, err := ReadyAfter(statemachine.Definition, 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"Admit", "Admitted?", "Submit", "Submitted?",
		"WaitForBuild", "CheckStatus", "Finished?", "RecordProgress",
		"WaitForBuild", "CheckStatus", "Finished?",
		"RecordReady", "HoldsSlot?", "Notify"}
	if !slices.Equal(tr.States, want) {
		t.Errorf("got path %v,\nwant %v", tr.States, want)
	}
	wantInv := map[string]int{"SubmitFunctionArn": 2, "CheckStatusFunctionArn": 2, "NotifyFunctionArn": 1}
	for fn, n := range wantInv {
		if tr.Invocations[fn] != n {
			t.Errorf("got %d invocations of %s, want %d", tr.Invocations[fn], fn, n)
		}
	}
}

func TestModelOfDefinition(t *testing.T) {
	m, err := DefaultModel()
	if err != nil {
		t.Fatal(err)
	}
	// Admit, Admitted?, Submit, Submitted? before the loop; RecordReady,
	// HoldsSlot? and Notify after it (TestReadyAfterPath).
	want := Model{FixedTransitions: 7, CheckTransitions: 3, ProgressTransitions: 1, CheckInvocations: 1}
	if m != want {
		t.Errorf("got %+v, want %+v", m, want)
	}
}

// TestModelFollowsTheDefinition: the model is derived, not assumed: a
// definition with one more state in the loop costs one more transition per
// check.
func TestModelFollowsTheDefinition(t *testing.T) {
	var def map[string]any
	if err := json.Unmarshal(statemachine.Definition, &def); err != nil {
		t.Fatal(err)
	}
	states := def["States"].(map[string]any)
	states["WaitForBuild"].(map[string]any)["Next"] = "Breathe"
	states["Breathe"] = map[string]any{"Type": "Pass", "Next": "CheckStatus"}
	changed, err := json.Marshal(def)
	if err != nil {
		t.Fatal(err)
	}
	m, err := ModelOf(changed)
	if err != nil {
		t.Fatal(err)
	}
	base, err := DefaultModel()
	if err != nil {
		t.Fatal(err)
	}
	if m.CheckTransitions != base.CheckTransitions+1 || m.FixedTransitions != base.FixedTransitions {
		t.Errorf("got %+v, want one transition per check more than %+v", m, base)
	}
}

func TestWalkRefusesWhatItCannotModel(t *testing.T) {
	tests := []struct {
		name string
		def  string
		want string
	}{
		{"numeric comparison", `{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[{"Variable":"$.n","NumericEquals":1,"Next":"E"}],"Default":"E"},"E":{"Type":"Succeed"}}}`, "operator"},
		{"nested variable", `{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[{"Variable":"$.a.b","IsPresent":true,"Next":"E"}],"Default":"E"},"E":{"Type":"Succeed"}}}`, "top-level"},
		{"parallel state", `{"StartAt":"P","States":{"P":{"Type":"Parallel","End":true}}}`, "Parallel"},
		{"missing state", `{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"B"}}}`, `no state "B"`},
		{"endless loop", `{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"A"}}}`, "no end"},
		{"result kept by a service task", `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::dynamodb:getItem","End":true}}}`, "keeps the result"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Walk([]byte(tc.def), func(Task) map[string]any { return map[string]any{} })
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
}

func TestPoll(t *testing.T) {
	d := pipeline.DefaultSchedule
	tests := []struct {
		name        string
		finish      time.Duration
		first       time.Duration
		wantChecks  int
		wantLatency time.Duration
		wantTimeout bool
	}{
		// 120 s, 150 s, …, 2700 s: 87 checks, the last one on the finish.
		{"45:00 exactly", 45 * time.Minute, d.HeadStart, 87, 0, false},
		{"45:01", 45*time.Minute + time.Second, d.HeadStart, 88, 29 * time.Second, false},
		{"before the first check", time.Minute, d.HeadStart, 1, time.Minute, false},
		{"on the first check", 2 * time.Minute, d.HeadStart, 1, 0, false},
		{"learned first wait", 45 * time.Minute, 40 * time.Minute, 11, 0, false},
		// A first wait of 1.5 s is 2 s (Submit rounds up): checks at 2 s and 32 s.
		{"fractional first wait rounds up", 10 * time.Second, 1500 * time.Millisecond, 2, 22 * time.Second, false},
		// Never READY: the check on the deadline times out, after the most
		// checks the schedule allows.
		{"past the deadline", 4 * time.Hour, d.HeadStart, d.Checks(), 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := poll(tc.finish, tc.first, d)
			if got.checks != tc.wantChecks || got.latency != tc.wantLatency || got.timedOut != tc.wantTimeout {
				t.Errorf("got %d checks, latency %s, timed out %v; want %d, %s, %v",
					got.checks, got.latency, got.timedOut, tc.wantChecks, tc.wantLatency, tc.wantTimeout)
			}
		})
	}
}

func TestSimulateIsDeterministic(t *testing.T) {
	m, err := DefaultModel()
	if err != nil {
		t.Fatal(err)
	}
	o := Options{Builds: 2000, Seed: 7}
	a, b := Simulate(m, Learned, Around45, o), Simulate(m, Learned, Around45, o)
	if a != b {
		t.Errorf("same seed, different results: %+v and %+v", a, b)
	}
	if c := Simulate(m, Learned, Around45, Options{Builds: 2000, Seed: 8}); c == a {
		t.Errorf("different seeds, same result %+v", c)
	}
}

func TestSimulateCosts(t *testing.T) {
	m, err := DefaultModel()
	if err != nil {
		t.Fatal(err)
	}
	r := Simulate(m, Default, Minutes45, Options{Builds: 10})
	// 120 s, 150 s, …, 2700 s: 87 checks, one of which records BUILDING.
	want := float64(m.Transitions(87, 1))
	if r.Checks != 87 || r.Transitions != want || r.MaxLatency != 0 {
		t.Errorf("default schedule, 45:00 builds: got %+v, want 87 checks, %v transitions, no latency", r, want)
	}
	wantDollars := want*TransitionPrice + 87*CheckDollars
	if diff := r.Dollars - wantDollars; diff > 1e-12 || diff < -1e-12 {
		t.Errorf("got $%.8f per build, want $%.8f", r.Dollars, wantDollars)
	}
	// The learned schedule reads the builds before: identical 45:00 builds
	// are recorded as 2700 s, so it waits 2670 s and checks twice.
	r = Simulate(m, Learned, Minutes45, Options{Builds: 10})
	if want := float64(m.Transitions(2, 1)); r.Checks != 2 || r.Transitions != want || r.MaxLatency != 0 {
		t.Errorf("learned schedule, 45:00 builds: got %+v, want 2 checks, %v transitions, no latency", r, want)
	}
}

// TestScheduleGoals checks the goals on 100,000 simulated builds:
// without history, at most 270 transitions per 45-minute build, and every
// build of 40 to 50 minutes noticed within 30 s; with history, at most 60
// transitions on the 45 ± 5 minute workload, still within 30 s; and the
// learned head start never costs more than the default on any workload.
func TestScheduleGoals(t *testing.T) {
	m, err := DefaultModel()
	if err != nil {
		t.Fatal(err)
	}
	o := Options{Seed: 1}
	for _, s := range []Schedule{Default, LearnedCold} {
		if r := Simulate(m, s, Minutes45, o); r.Transitions > 270 {
			t.Errorf("%s on %s: got %.1f transitions, want ≤ 270", s.Name, Minutes45.Name, r.Transitions)
		}
		if r := Simulate(m, s, Around45, o); r.MaxLatency > 30*time.Second {
			t.Errorf("%s on %s: got max latency %s, want ≤ 30 s", s.Name, Around45.Name, r.MaxLatency)
		}
	}
	if r := Simulate(m, Learned, Around45, o); r.Transitions > 60 || r.MaxLatency > 30*time.Second {
		t.Errorf("learned on %s: got %.1f transitions, max latency %s; want ≤ 60 and ≤ 30 s", Around45.Name, r.Transitions, r.MaxLatency)
	}
	for _, w := range Workloads {
		def, learned := Simulate(m, Default, w, o), Simulate(m, Learned, w, o)
		if learned.Transitions > def.Transitions {
			t.Errorf("%s: learned %.2f transitions per build, default %.2f; want no more", w.Name, learned.Transitions, def.Transitions)
		}
	}
}
