package local

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/avatar-pipeline/avatar-pipeline/internal/mirako/mirakotest"
	"github.com/avatar-pipeline/avatar-pipeline/internal/pipeline"
	"github.com/avatar-pipeline/avatar-pipeline/internal/records"
)

// faultSuiteUploads is how many portraits the fault suite uploads at once
// (fewer under the race detector, which slows the stack several times; the
// figures quoted in the README come from the full run).
var faultSuiteUploads = map[bool]int{false: 50, true: 12}[raceEnabled]

// TestE2EFaultSuite uploads portraits all at once to a stack whose Mirako
// fails 30 % of its requests in every way the simulator knows, the
// accept_then_* faults included (the avatar is created, the answer is
// lost), and checks that every upload still gets exactly one build:
//
//   - one record per upload, every one terminal (none left RECEIVED,
//     PENDING or BUILDING);
//   - no name posted twice, and avatars created at Mirako = records with an
//     avatar id, all distinct: a lost answer was adopted, never re-posted
//     (the one exception, counted as an orphan: a build that exhausted
//     Submit's retries, the last of which lost an accepted answer);
//   - every notification delivered exactly once per build and status, with
//     one event id per build and status.
//
// The state machine's retry intervals are the production ones (the stack
// renders the template's definition unchanged): a retried Submit waits a
// jittered 0–10 s, 0–20 s, … as it would in AWS. The figures are logged,
// and printed as one line with -v.
func TestE2EFaultSuite(t *testing.T) {
	t.Parallel()
	n := faultSuiteUploads
	s := StartTest(t, Options{
		BuildTime:       1500 * time.Millisecond,
		PollSeconds:     1,
		DeadlineSeconds: 180, // room for status checks that meet faults
		NotifyOnSubmit:  true,
		FaultRate:       0.3,
		FaultKinds:      mirakotest.AllFaults(),
		// Longer than the client's 15 s status-check timeout, so a slow GET
		// or list times out, as the default 30 s does, at half the wait for
		// a slow POST (which the client waits out).
		SlowDelay: 16 * time.Second,
		Seed:      20260501,
	})
	// Alone, most runs settle in two to five minutes; beside the rest of the
	// suite on two cores (the burst above all), up to about eight. A build
	// that meets faults on every attempt waits them out QUEUED.
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()

	// EventBridge starts the executions of a burst of uploads in parallel;
	// the stack's pump starts them one at a time, and a StartExecution
	// takes moto about a second under this load. More pumps on the same
	// queue deliver like EventBridge (each event to one of them; a second
	// delivery would find its execution's name taken).
	for range 4 {
		extraPump(t, s)
	}

	body := PortraitJPEG(512, 512)
	objs := make([]object, n)
	for i := range objs {
		// Distinct names: adoption finds an earlier attempt's avatar by name.
		objs[i] = object{key: fmt.Sprintf("faults/%02d.jpg", i), name: fmt.Sprintf("Fault suite %02d", i), body: body}
	}
	began := time.Now()
	ids := uploadAll(ctx, t, s, objs)
	execs := waitSettled(ctx, t, s, n)
	took := time.Since(began)

	recs := scanRecords(ctx, t, s)
	stats := s.Sim.Stats()
	byID := recordsByID(recs)

	// One terminal record per upload, and nothing else.
	if len(recs) != n {
		t.Errorf("got %d records, want %d (one per upload)", len(recs), n)
	}
	for i, id := range ids {
		r, ok := byID[id]
		switch {
		case !ok:
			t.Errorf("upload %s: no record", objs[i].key)
		case !r.Status.Terminal():
			t.Errorf("upload %s: record %s left %s (execution %s)", objs[i].key, id, r.Status, r.ExecutionARN)
		}
	}

	// No upload was posted twice, and every avatar Mirako created is the
	// avatar of exactly one record. The one exception is an avatar whose
	// answer was lost on the last attempt the state machine allows: the
	// build ends FAILED without it (an orphan, counted and reported).
	avatars := map[string]string{}
	byName := map[string]records.Record{}
	for _, r := range recs {
		byName[r.Name] = r
		if r.AvatarID == "" {
			continue
		}
		if other, dup := avatars[r.AvatarID]; dup {
			t.Errorf("avatar %s is the avatar of builds %s and %s", r.AvatarID, other, r.BuildID)
		}
		avatars[r.AvatarID] = r.BuildID
	}
	orphans := 0
	for name, count := range stats.BuildsByName {
		if count != 1 {
			t.Errorf("got %d avatars named %q, want 1: an upload was posted more than once", count, name)
		}
		switch r, ok := byName[name]; {
		case !ok:
			t.Errorf("Mirako has an avatar named %q, which no record has", name)
		case r.AvatarID == "" && r.Status == records.StatusFailed && r.SubmitStartedAt != "":
			orphans++
			t.Logf("orphan: build %s FAILED after its last attempt's answer was lost; Mirako built %q anyway (%s)", r.BuildID, name, r.Reason)
		case r.AvatarID == "":
			t.Errorf("Mirako has an avatar named %q, but its build %s (%s) has none", name, r.BuildID, r.Status)
		}
	}
	if stats.BuildsCreated != len(avatars)+orphans {
		t.Errorf("got %d avatars created at Mirako, %d records with an avatar and %d orphans, want created = recorded + orphans",
			stats.BuildsCreated, len(avatars), orphans)
	}

	// Every piece of news notified exactly once.
	want := map[newsKey]bool{}
	for _, r := range recs {
		want[newsKey{r.BuildID, r.Status}] = true
		if r.AvatarID != "" { // NOTIFY_ON_SUBMIT: the submission was news too
			want[newsKey{r.BuildID, records.StatusPending}] = true
		}
	}
	ns, err := s.Delivered(ctx)
	if err != nil {
		t.Fatal(err)
	}
	checkExactlyOnce(t, deliveries(t, ns), want)

	// What the state machine went through: its executions, the task
	// failures it retried or caught, and the size of a poll iteration.
	if len(execs) != n {
		t.Errorf("got %d executions, want %d (one per upload)", len(execs), n)
	}
	failures := map[string]int{}
	progressTrips := 0
	for _, e := range execs {
		events := history(ctx, t, s, aws.ToString(e.ExecutionArn))
		for k, v := range taskFailures(events) {
			failures[k] += v
		}
		progressTrips += checkPollIterations(t, aws.ToString(e.Name), events)
	}

	statuses := countBy(recs, func(r records.Record) string { return string(r.Status) })
	other := len(recs) - statuses["READY"] - statuses["FAILED"]
	for _, r := range recs {
		if r.Status != records.StatusReady {
			t.Logf("build %s %s: %s %s", r.BuildID, r.Status, r.Error, r.Reason)
		}
	}
	// Transient faults are load, not failures: a build that meets them
	// waits QUEUED and asks again, so none ends FAILED, and none leaves an
	// avatar that no record names.
	if statuses["FAILED"] > 0 || orphans > 0 {
		t.Errorf("got %d FAILED builds and %d orphan avatars, want none: transient faults must make builds wait, not fail", statuses["FAILED"], orphans)
	}
	t.Logf("uploads %d in %s: records %s", n, took.Round(time.Second), formatCounts(statuses))
	t.Logf("Mirako: %d POSTs, %d avatars created, requests %s", stats.Requests[mirakotest.EndpointBuild], stats.BuildsCreated, formatCounts(stats.Requests))
	t.Logf("faults injected: %s", formatCounts(stats.Faults))
	t.Logf("state machine task failures (retried or caught): %s", formatCounts(failures))
	t.Logf("executions: %s; notifications: %d; poll trips with a progress write checked against EventsPerCheck: %d",
		formatCounts(countBy(execs, func(e sfntypes.ExecutionListItem) string { return string(e.Status) })), len(ns), progressTrips)
	if testing.Verbose() {
		fmt.Printf("fault suite: uploads=%d READY=%d FAILED=%d other=%d POSTs=%d avatars=%d orphans=%d faults[%s] retried-or-caught[%s] notifications=%d seconds=%.0f\n",
			n, statuses["READY"], statuses["FAILED"], other, stats.Requests[mirakotest.EndpointBuild], stats.BuildsCreated, orphans,
			formatCounts(stats.Faults), formatCounts(failures), len(ns), took.Seconds())
	}
}

// checkPollIterations checks, on an execution's real history, what
// pipeline.EventsPerCheck claims: one trip round the poll loop (from
// entering WaitForBuild to entering it again) adds at most EventsPerCheck
// events, not counting retried task attempts (three events each:
// scheduled, started, failed), and the busiest trip, with a progress
// record write, adds exactly that many.
func checkPollIterations(t *testing.T, name string, events []sfntypes.HistoryEvent) (progressTrips int) {
	t.Helper()
	var starts []int
	for i, ev := range events {
		if ev.Type == sfntypes.HistoryEventTypeWaitStateEntered && aws.ToString(ev.StateEnteredEventDetails.Name) == "WaitForBuild" {
			starts = append(starts, i)
		}
	}
	for k := 1; k < len(starts); k++ {
		trip := events[starts[k-1]:starts[k]]
		failed := 0
		var states []string
		for _, ev := range trip {
			if ev.Type == sfntypes.HistoryEventTypeTaskFailed || ev.Type == sfntypes.HistoryEventTypeTaskTimedOut {
				failed++
			}
			if d := ev.StateEnteredEventDetails; d != nil {
				states = append(states, aws.ToString(d.Name))
			}
		}
		size := len(trip) - 3*failed
		if size > pipeline.EventsPerCheck {
			t.Errorf("execution %s: a poll iteration through %v has %d events (%d retried attempts excluded), more than EventsPerCheck=%d",
				name, states, size, failed, pipeline.EventsPerCheck)
		}
		if slices.Contains(states, "RecordProgress") {
			progressTrips++
			if size != pipeline.EventsPerCheck {
				t.Errorf("execution %s: the poll iteration with a progress write (%s) has %d events, want EventsPerCheck=%d",
					name, strings.Join(states, " → "), size, pipeline.EventsPerCheck)
			}
		}
	}
	return progressTrips
}

// extraPump runs one more pump on the stack's event queue until the test
// ends.
func extraPump(t *testing.T, s *Stack) {
	cfg := s.AWSConfig()
	p := &Pump{
		Queue:           sqs.NewFromConfig(cfg),
		Workflow:        sfn.NewFromConfig(cfg),
		QueueURL:        s.Resources.EventQueueURL,
		StateMachineARN: s.Resources.StateMachineARN,
		Logf:            s.out.printf,
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); p.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}
