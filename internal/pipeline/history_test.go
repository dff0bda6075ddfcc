package pipeline_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/avatar-pipeline/avatar-pipeline/internal/pipeline"
	"github.com/avatar-pipeline/avatar-pipeline/internal/pipeline/checkstatus"
	"github.com/avatar-pipeline/avatar-pipeline/statemachine"
)

// History events a state adds to an execution's history, as Step Functions
// records them (and moto's engine does too; the local stack's fault suite
// checks the poll iteration against real histories):
//
//	Task       TaskStateEntered, TaskScheduled, TaskStarted,
//	           TaskSucceeded (or TaskFailed when caught), TaskStateExited   5
//	           each retried attempt: TaskScheduled, TaskStarted,
//	           TaskFailed (or TaskTimedOut)                                  +3
//	Choice, Pass, Wait, Succeed   …StateEntered, …StateExited               2
//	Fail                          FailStateEntered                          1
//
// An execution starts with ExecutionStarted and ends with one of
// ExecutionSucceeded or ExecutionFailed.
const (
	taskEvents    = 5
	retryEvents   = 3
	simpleEvents  = 2
	failEvents    = 1
	startEndEvent = 1
)

// events is what one entry of the state adds, without retries.
func events(s statemachine.State) int {
	switch s.Type {
	case "Task":
		return taskEvents
	case "Fail":
		return failEvents
	}
	return simpleEvents
}

// retries is the most failed attempts the state retries on one entry:
// every retrier counts its own attempts, so the worst case uses them all.
func retries(s statemachine.State) int {
	n := 0
	for _, r := range s.Retry {
		n += r.Attempts()
	}
	return n
}

type historyMachine struct{ statemachine.Machine }

// longest is the most events a simple path from `from` can add before it
// reaches `to` (not counting to's own events) or ends the execution
// (counting the final execution event), with every retry used. A path
// never enters `avoid`. found reports whether any path got there.
func (m historyMachine) longest(from, to string, avoid map[string]bool, weight func(string) int) (events int, found bool) {
	var walk func(state string, seen map[string]bool) (int, bool)
	walk = func(state string, seen map[string]bool) (int, bool) {
		if to != "" && state == to {
			return 0, true
		}
		if seen[state] || avoid[state] {
			return 0, false
		}
		s := m.States[state]
		if to == "" && s.Terminal() {
			return weight(state) + startEndEvent, true
		}
		seen[state] = true
		defer delete(seen, state)
		best, ok := 0, false
		for _, n := range s.Targets(true) {
			if e, f := walk(n, seen); f && (!ok || e > best) {
				best, ok = e, true
			}
		}
		return best + weight(state), ok
	}
	return walk(from, map[string]bool{})
}

// TestHistoryStaysUnderTheLimit derives from build.asl.json the events of
// one trip round the poll loop and the events outside it, and shows that
// an execution polling the most times the workflow allows (MaxChecks)
// stays under Step Functions' 25,000-event history limit even when every
// retry outside the loop is used too. The loop's own retries are bounded
// separately: see the logged headroom and the worst cases below.
func TestHistoryStaysUnderTheLimit(t *testing.T) {
	m := historyMachine{statemachine.Build()}
	const loop = "WaitForBuild"
	if m.States[loop].Type != "Wait" {
		t.Fatalf("the poll loop's Wait state %s is missing", loop)
	}
	plain := func(s string) int { return events(m.States[s]) }
	retried := func(s string) int { return plain(s) + retryEvents*retries(m.States[s]) }

	// One trip: from entering the Wait state to entering it again, along
	// the workflow's own transitions (a Catch leaves the loop).
	var trips [][]string
	var walk func(path []string)
	walk = func(path []string) {
		for _, n := range m.States[path[len(path)-1]].Targets(false) {
			switch {
			case n == loop:
				trips = append(trips, slices.Clone(path))
			case !slices.Contains(path, n):
				walk(append(path, n))
			}
		}
	}
	walk([]string{loop})
	if len(trips) == 0 {
		t.Fatalf("no transition leads back to %s: where is the poll loop?", loop)
	}
	trip, tripPath := 0, []string(nil)
	tripRetried := 0
	for _, p := range trips {
		e, r := 0, 0
		for _, s := range p {
			e += plain(s)
			r += retried(s)
		}
		if e > trip {
			trip, tripPath = e, p
		}
		tripRetried = max(tripRetried, r)
	}
	t.Logf("busiest poll trip: %s = %d events (%d with every retry)", strings.Join(tripPath, " → "), trip, tripRetried)
	if trip != pipeline.EventsPerCheck {
		t.Errorf("got %d events in the busiest poll trip, want EventsPerCheck = %d", trip, pipeline.EventsPerCheck)
	}

	// Outside the loop: the longest way in (an upload's or a sweep's
	// execution) and the longest way out (to the end of the execution,
	// through the last check and any failure handling), every retry used.
	before, ok := m.longest(m.StartAt, loop, nil, retried)
	if !ok {
		t.Fatalf("%s is not reachable from %s", loop, m.StartAt)
	}
	after, ok := m.longest(loop, "", nil, retried)
	if !ok {
		t.Fatalf("no execution ends after %s", loop)
	}
	// An execution that never polls (rejected, duplicate, failed early).
	direct, _ := m.longest(m.StartAt, "", map[string]bool{loop: true}, retried)
	overhead := startEndEvent + before + after
	t.Logf("outside the loop, every retry used: %d events to reach it, %d from its last trip to the end, %d without it", before+startEndEvent, after, direct+startEndEvent)

	// CheckStatus answers TIMED_OUT once Checks reaches MaxChecks, so at
	// most MaxChecks trips go round before the last one leaves the loop.
	worst := overhead + pipeline.MaxChecks*pipeline.EventsPerCheck
	headroom := pipeline.HistoryLimit - worst
	t.Logf("worst case: %d + %d checks × %d = %d events, %d under the %d limit: room for %d more retried attempts inside the loop",
		overhead, pipeline.MaxChecks, pipeline.EventsPerCheck, worst, headroom, pipeline.HistoryLimit, headroom/retryEvents)
	if worst >= pipeline.HistoryLimit {
		t.Errorf("worst case %d events reaches the %d-event history limit", worst, pipeline.HistoryLimit)
	}
	if direct+startEndEvent >= worst {
		t.Errorf("an execution that never polls has %d events, more than one that polls (%d): the derivation is wrong", direct+startEndEvent, worst)
	}

	// Retries inside the loop are not counted by Checks. Some can meet any
	// trip: Lambda service errors and timeouts of CheckStatus, throttled
	// progress writes. The typed errors cannot: CheckStatus makes no AWS
	// call, and it rides out failed Mirako checks itself, raising a Mirako
	// error only after MaxCheckErrors of them in a row (and a success,
	// which ends the retries, starts the count again). Per trip, at worst:
	typed := []string{"RateLimitedError", "MirakoUnavailableError", "AWSUnavailableError", "MirakoRejectedError"}
	// anyTrip keeps the retriers of errors any trip can meet.
	anyTrip := func(s statemachine.State) statemachine.State {
		s.Retry = slices.DeleteFunc(slices.Clone(s.Retry), func(r statemachine.Retrier) bool {
			return !slices.ContainsFunc(r.ErrorEquals, func(e string) bool { return !slices.Contains(typed, e) })
		})
		return s
	}
	perTrip := 0
	mirakoRetries := 0
	for _, name := range tripPath {
		s := m.States[name]
		n := retries(anyTrip(s))
		perTrip += retryEvents * n
		mirakoRetries += retryEvents * (retries(s) - n)
	}
	perTripMirako := float64(mirakoRetries) / checkstatus.MaxCheckErrors
	everyTrip := pipeline.EventsPerCheck + float64(perTrip) + perTripMirako
	maxChecks := int(float64(pipeline.HistoryLimit-1-overhead) / everyTrip)
	defaultChecks := pipeline.DefaultSchedule.Checks()
	defaultWorst := float64(overhead) + float64(defaultChecks)*everyTrip
	t.Logf("a trip that meets every fault the workflow retries: %d + %d + %d/%d = %.1f events; at that rate %d checks fit the limit; the default schedule's %d checks make %.0f events",
		pipeline.EventsPerCheck, perTrip, mirakoRetries, checkstatus.MaxCheckErrors, everyTrip, maxChecks, defaultChecks, defaultWorst)
	if pipeline.MaxChecks > maxChecks {
		t.Errorf("MaxChecks %d allows more checks than the %d that fit the limit when every trip meets every retried fault", pipeline.MaxChecks, maxChecks)
	}
	if defaultWorst >= pipeline.HistoryLimit {
		t.Errorf("the default schedule (%d checks) can reach %.0f events when every trip meets every retried fault, over the %d limit",
			defaultChecks, defaultWorst, pipeline.HistoryLimit)
	}
}
