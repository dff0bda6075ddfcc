// Package schedulesim is the poll-economics simulator: it runs many builds,
// with build times drawn from a distribution, through a poll schedule, and
// reports what the schedule costs (status checks, Step Functions state
// transitions, dollars) and how late it notices a finished build (detection
// latency, READY → noticed).
//
// Transition counts are not assumed: Model walks the real workflow
// definition (statemachine/build.asl.json) to find how many states a build
// enters outside the poll loop, per status check, and per recorded status
// change. The learned schedule uses the pipeline's own rule
// (pipeline.LearnHeadStart) on the history the simulated builds leave, as
// the Submit function does with the table's records.
package schedulesim

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/avatar-pipeline/avatar-pipeline/internal/mirako"
	"github.com/avatar-pipeline/avatar-pipeline/internal/pipeline"
	"github.com/avatar-pipeline/avatar-pipeline/statemachine"
)

// Prices, in US dollars (AWS list prices, us-east-1).
const (
	// TransitionPrice is Step Functions Standard's price of one state
	// transition ($0.025 per 1,000).
	TransitionPrice = 0.025 / 1000
	// LambdaRequestPrice is Lambda's price of one invocation ($0.20 per
	// million).
	LambdaRequestPrice = 0.20 / 1e6
	// LambdaGBSecondPrice is Lambda's arm64 price of one GB-second.
	LambdaGBSecondPrice = 0.0000133334
	// CheckStatusGB is the CheckStatus function's memory (template.yaml:
	// 128 MB).
	CheckStatusGB = 128.0 / 1024
)

// CheckStatusBilled is the billed duration assumed for one status check: a
// warm function making one small GET to Mirako.
const CheckStatusBilled = 100 * time.Millisecond

// CheckDollars is the Lambda cost of one status check.
const CheckDollars = LambdaRequestPrice + CheckStatusGB*LambdaGBSecondPrice*float64(CheckStatusBilled)/float64(time.Second)

// Model is what one build costs in the workflow, derived from its
// definition by Model.
type Model struct {
	// FixedTransitions are the states a READY build enters outside the
	// poll loop (admission, submission, the READY record, the notice).
	FixedTransitions int
	// CheckTransitions are the states one status check enters (wait,
	// check, choice).
	CheckTransitions int
	// ProgressTransitions are the extra states a check that sees a new
	// status enters (the progress record).
	ProgressTransitions int
	// CheckInvocations is the number of CheckStatus invocations per check.
	CheckInvocations int
}

// Transitions returns the transitions of a READY build found after checks
// status checks, progress of which saw the status change.
func (m Model) Transitions(checks, progress int) int {
	return m.FixedTransitions + checks*m.CheckTransitions + progress*m.ProgressTransitions
}

// Function keys of the definition's lambda:invoke tasks.
const (
	submitFunction = "SubmitFunctionArn"
	checkFunction  = "CheckStatusFunctionArn"
)

// ReadyAfter walks the definition for a build that Submit admits and
// submits, whose first progress checks see a new status (BUILDING after
// PENDING) and the rest nothing new, and whose last of checks checks sees
// READY.
func ReadyAfter(definition []byte, checks, progress int) (Trace, error) {
	if checks < 1 || progress < 0 || progress >= checks {
		return Trace{}, fmt.Errorf("ready after %d checks with %d progress: want 0 ≤ progress < checks", checks, progress)
	}
	done := 0
	return Walk(definition, func(t Task) map[string]any {
		switch {
		case t.Function == submitFunction && t.Step == pipeline.StepAdmit:
			return map[string]any{"outcome": string(pipeline.OutcomeAdmitted)}
		case t.Function == submitFunction && t.Step == pipeline.StepSubmit:
			return map[string]any{"outcome": string(pipeline.OutcomeSubmitted), "status": string(mirako.StatusPending)}
		case t.Function == checkFunction:
			done++
			switch {
			case done >= checks:
				return map[string]any{"outcome": string(pipeline.OutcomeFinished), "status": string(mirako.StatusReady)}
			case done <= progress:
				return map[string]any{"outcome": string(pipeline.OutcomeProgress), "status": string(mirako.StatusBuilding)}
			}
			return map[string]any{"outcome": string(pipeline.OutcomeWaiting), "status": string(mirako.StatusBuilding)}
		}
		return map[string]any{}
	})
}

// ModelOf derives the cost model from a workflow definition by walking it
// for builds of one, two and three checks, and checks that the counts grow
// linearly, as the model assumes.
func ModelOf(definition []byte) (Model, error) {
	count := func(checks, progress int) (int, int, error) {
		tr, err := ReadyAfter(definition, checks, progress)
		return len(tr.States), tr.Invocations[checkFunction], err
	}
	one, inv1, err1 := count(1, 0)
	two, inv2, err2 := count(2, 0)
	twoProgress, _, err3 := count(2, 1)
	if err := cmp.Or(err1, err2, err3); err != nil {
		return Model{}, err
	}
	m := Model{
		CheckTransitions:    two - one,
		FixedTransitions:    one - (two - one),
		ProgressTransitions: twoProgress - two,
		CheckInvocations:    inv2 - inv1,
	}
	for _, c := range []struct{ checks, progress int }{{5, 0}, {5, 1}, {5, 2}, {40, 1}} {
		n, inv, err := count(c.checks, c.progress)
		if err != nil {
			return Model{}, err
		}
		if want := m.Transitions(c.checks, c.progress); n != want || inv != c.checks*m.CheckInvocations {
			return m, fmt.Errorf("the workflow's cost is not linear in the checks: %d checks (%d with progress) enter %d states and invoke CheckStatus %d times, the model says %d and %d",
				c.checks, c.progress, n, inv, want, c.checks*m.CheckInvocations)
		}
	}
	return m, nil
}

// DefaultModel is the model of the embedded statemachine.Definition.
func DefaultModel() (Model, error) { return ModelOf(statemachine.Definition) }

// Workload is a distribution of build times.
type Workload struct {
	// Name is short, for figure names ("45pm5").
	Name string
	// About says what it is.
	About string
	// Draw returns one build time.
	Draw func(*rand.Rand) time.Duration
}

// uniform draws uniformly from [lo, hi) minutes.
func uniform(lo, hi float64) func(*rand.Rand) time.Duration {
	return func(r *rand.Rand) time.Duration {
		return time.Duration((lo + (hi-lo)*r.Float64()) * float64(time.Minute))
	}
}

// The workloads of the issue: a 45-minute build, 45 ± 5 minutes, anything
// from 2 to 45 minutes, and a mix of quick and long builds.
var (
	Minutes45 = Workload{Name: "45min", About: "exactly 45 min", Draw: func(*rand.Rand) time.Duration { return 45 * time.Minute }}
	Around45  = Workload{Name: "45pm5", About: "45 ± 5 min, uniform over 40–50 min", Draw: uniform(40, 50)}
	Spread    = Workload{Name: "uniform2to45", About: "uniform over 2–45 min", Draw: uniform(2, 45)}
	Bimodal   = Workload{Name: "bimodal3or45", About: "half 3 ± 0.5 min, half 45 ± 5 min", Draw: func(r *rand.Rand) time.Duration {
		if r.IntN(2) == 0 {
			return uniform(2.5, 3.5)(r)
		}
		return uniform(40, 50)(r)
	}}
	Workloads = []Workload{Minutes45, Around45, Spread, Bimodal}
)

// Schedule is a poll schedule: a first wait (fixed, or learned from the
// builds before), then a fixed interval, up to a deadline.
type Schedule struct {
	// Name is short, for figure names ("default").
	Name string
	// About says what it is.
	About string
	pipeline.Schedule
	// Learned chooses the first wait with pipeline.LearnHeadStart from the
	// recorded times of the builds before (Schedule.HeadStart until there
	// are pipeline.LearnMinSamples of them).
	Learned bool
	// NoHistory keeps the learned schedule's table empty: the first wait
	// of a new deployment.
	NoHistory bool
}

// The schedules compared: the seed's fixed 10 s loop, our default, and the
// learned head start, with and without history.
var (
	Seed10s = Schedule{Name: "seed10s", About: "check every 10 s from the start",
		Schedule: pipeline.Schedule{HeadStart: 10 * time.Second, Interval: 10 * time.Second, Deadline: pipeline.DefaultSchedule.Deadline}}
	Default     = Schedule{Name: "default", About: "120 s head start, then every 30 s", Schedule: pipeline.DefaultSchedule}
	LearnedCold = Schedule{Name: "learned_cold", About: "learned head start, no history yet (falls back to the default)",
		Schedule: pipeline.DefaultSchedule, Learned: true, NoHistory: true}
	Learned = Schedule{Name: "learned", About: fmt.Sprintf("learned head start from the last %d READY builds, then every 30 s", pipeline.LearnSamples),
		Schedule: pipeline.DefaultSchedule, Learned: true}
	Schedules = []Schedule{Seed10s, Default, LearnedCold, Learned}
)

// Options control a simulation.
type Options struct {
	// Builds is the number of builds measured (default 100,000).
	Builds int
	// Warmup builds run first, unmeasured, so that a learned schedule
	// starts with a full history (default pipeline.LearnSamples).
	Warmup int
	// Seed seeds the draws; the same seed gives the same figures.
	Seed uint64
}

// Result is what a schedule cost over a workload, per build.
type Result struct {
	Builds         int
	Checks         float64 // mean status checks
	MaxChecks      int
	Transitions    float64 // mean state transitions
	MaxTransitions int
	// Dollars is the mean cost of a build's workflow: its state
	// transitions and its CheckStatus invocations.
	Dollars float64
	// MeanLatency and MaxLatency are the detection latencies, from READY
	// to the check that notices it.
	MeanLatency time.Duration
	MaxLatency  time.Duration
	// Late counts builds noticed more than one interval after READY: those
	// that finished before a learned first check.
	Late int
	// TimedOut counts builds the deadline cut short.
	TimedOut int
}

// Simulate runs o.Builds builds of workload w, one after another, polled by
// schedule s; each build's recorded time (submission to detection, in whole
// seconds, like build_seconds) joins the history the next build's learned
// head start reads, newest first, pipeline.LearnSamples deep.
func Simulate(m Model, s Schedule, w Workload, o Options) Result {
	if o.Builds <= 0 {
		o.Builds = 100000
	}
	if o.Warmup <= 0 {
		o.Warmup = pipeline.LearnSamples
	}
	rng := rand.New(rand.NewPCG(o.Seed, uint64(len(w.Name))))
	var history []time.Duration // newest first
	var res Result
	var sumChecks, sumTransitions int
	var sumDollars float64
	var sumLatency time.Duration
	for i := range o.Warmup + o.Builds {
		first := s.HeadStart
		if s.Learned && !s.NoHistory && len(history) >= pipeline.LearnMinSamples {
			first = pipeline.LearnHeadStart(history, s.HeadStart, s.Interval, s.Deadline)
		}
		b := poll(w.Draw(rng), first, s.Schedule)
		recorded := b.noticed.Round(time.Second)
		history = slices.Insert(history, 0, recorded)
		if len(history) > pipeline.LearnSamples {
			history = history[:pipeline.LearnSamples]
		}
		if i < o.Warmup {
			continue
		}
		progress := 0
		if b.checks > 1 {
			progress = 1 // BUILDING after PENDING, recorded once
		}
		tr := m.Transitions(b.checks, progress)
		res.Builds++
		sumChecks += b.checks
		sumTransitions += tr
		sumDollars += float64(tr)*TransitionPrice + float64(b.checks*m.CheckInvocations)*CheckDollars
		sumLatency += b.latency
		res.MaxChecks = max(res.MaxChecks, b.checks)
		res.MaxTransitions = max(res.MaxTransitions, tr)
		res.MaxLatency = max(res.MaxLatency, b.latency)
		if b.latency > s.Interval {
			res.Late++
		}
		if b.timedOut {
			res.TimedOut++
		}
	}
	n := float64(res.Builds)
	res.Checks = float64(sumChecks) / n
	res.Transitions = float64(sumTransitions) / n
	res.Dollars = sumDollars / n
	res.MeanLatency = time.Duration(math.Round(float64(sumLatency) / n))
	return res
}

// polled is one build's fate under a schedule.
type polled struct {
	checks   int
	noticed  time.Duration // after submission
	latency  time.Duration // noticed − finished
	timedOut bool
}

// poll checks a build that finishes at finish (after submission): first
// after first, then every interval, the last check on the deadline, as
// Submit and CheckStatus schedule them (whole seconds).
func poll(finish, first time.Duration, s pipeline.Schedule) polled {
	var submitted time.Time // times are offsets from the submission
	deadline := submitted.Add(s.Deadline)
	at := time.Duration(pipeline.Seconds(first)) * time.Second
	for checks := 1; ; checks++ {
		// CheckStatus looks at the deadline before it asks Mirako.
		if at >= s.Deadline {
			return polled{checks: checks, noticed: at, timedOut: true}
		}
		if at >= finish {
			return polled{checks: checks, noticed: at, latency: at - finish}
		}
		at += time.Duration(pipeline.Seconds(s.Next(submitted.Add(at), deadline))) * time.Second
	}
}
