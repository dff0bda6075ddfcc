package pipeline_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/avatar-pipeline/avatar-pipeline/internal/pipeline"
	"github.com/avatar-pipeline/avatar-pipeline/internal/pipeline/submit"
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

// tripsOf lists the ways round a loop: from entering its Wait state to
// entering it again, along the workflow's own transitions (a Catch leaves).
func tripsOf(m historyMachine, wait string) [][]string {
	var trips [][]string
	var walk func(path []string)
	walk = func(path []string) {
		for _, n := range m.States[path[len(path)-1]].Targets(false) {
			switch {
			case n == wait:
				trips = append(trips, slices.Clone(path))
			case !slices.Contains(path, n):
				walk(append(path, n))
			}
		}
	}
	walk([]string{wait})
	return trips
}

// typed are the errors the functions raise themselves: they cannot meet
// every trip (Submit's and CheckStatus's own errors are bounded by the
// builds' logic, not by the loop), so a trip's worst case leaves them out
// and the worst case adds them once.
var typed = []string{"RateLimitedError", "MirakoUnavailableError", "AWSUnavailableError", "MirakoRejectedError", "SubmitInProgressError"}

// untyped keeps the retriers of errors any trip can meet: Lambda's own
// faults, timeouts, throttled writes.
func untyped(s statemachine.State) statemachine.State {
	s.Retry = slices.DeleteFunc(slices.Clone(s.Retry), func(r statemachine.Retrier) bool {
		return !slices.ContainsFunc(r.ErrorEquals, func(e string) bool { return !slices.Contains(typed, e) })
	})
	return s
}

// TestHistoryStaysUnderTheLimit derives from build.asl.json the events of
// a trip round each loop (the queue's and the poll's) and the events
// outside them, and shows that an execution queued as long as the longest
// QueueDeadlineSeconds allows and then polled the most times the workflow
// allows (MaxChecks) stays under Step Functions' 25,000-event history
// limit, even if every trip met every fault the workflow retries.
func TestHistoryStaysUnderTheLimit(t *testing.T) {
	m := historyMachine{statemachine.Build()}
	const poll, queue = "WaitForBuild", "WaitInQueue"
	plain := func(s string) int { return events(m.States[s]) }
	worstTrip := func(wait string) (path []string, clean, faulty int) {
		trips := tripsOf(m, wait)
		if len(trips) == 0 {
			t.Fatalf("no transition leads back to %s", wait)
		}
		for _, p := range trips {
			e, f := 0, 0
			for _, s := range p {
				e += plain(s)
				f += plain(s) + retryEvents*retries(untyped(m.States[s]))
			}
			if e > clean {
				clean, path = e, p
			}
			faulty = max(faulty, f)
		}
		return path, clean, faulty
	}
	pollPath, pollClean, pollFaulty := worstTrip(poll)
	queuePath, queueClean, queueFaulty := worstTrip(queue)
	t.Logf("poll trip %s: %d events, %d with every fault", strings.Join(pollPath, " → "), pollClean, pollFaulty)
	t.Logf("queue trip %s: %d events, %d with every fault", strings.Join(queuePath, " → "), queueClean, queueFaulty)
	if pollClean != pipeline.EventsPerCheck {
		t.Errorf("got %d events in the busiest poll trip, want EventsPerCheck = %d", pollClean, pipeline.EventsPerCheck)
	}

	// Outside the loops, every retry of every task used (typed ones
	// included, once): the longest way in, and out to the end.
	retried := func(s string) int { return plain(s) + retryEvents*retries(m.States[s]) }
	before, ok := m.longest(m.StartAt, poll, map[string]bool{queue: true}, retried)
	if !ok {
		t.Fatalf("%s is not reachable from %s", poll, m.StartAt)
	}
	after, ok := m.longest(poll, "", map[string]bool{queue: true}, retried)
	if !ok {
		t.Fatalf("no execution ends after %s", poll)
	}
	overhead := startEndEvent + before + after
	queueTrips := submit.MaxQueueTrips(24 * time.Hour) // the longest QueueDeadlineSeconds
	worst := overhead + queueTrips*queueFaulty + pipeline.MaxChecks*pollFaulty
	t.Logf("worst case: %d outside the loops + %d queue trips × %d + %d checks × %d = %d events, %d under the limit",
		overhead, queueTrips, queueFaulty, pipeline.MaxChecks, pollFaulty, worst, pipeline.HistoryLimit-worst)
	if worst >= pipeline.HistoryLimit {
		t.Errorf("worst case %d events reaches the %d-event history limit", worst, pipeline.HistoryLimit)
	}
}
