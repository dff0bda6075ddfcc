package local

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/avatar-pipeline/avatar-pipeline/internal/pipeline"
	"github.com/avatar-pipeline/avatar-pipeline/internal/records"
)

// TestE2EPipelineFaults: failures of the platform itself, injected at the
// local gateway — a function that panics, one that outlives its timeout
// after doing its work, the state machine's record writes throttled by
// DynamoDB, SNS failing to publish — end each build in a recorded,
// notified outcome: retried to READY where the workflow retries, FAILED
// with the reason where it does not. No build is posted to Mirako twice,
// and a build the workflow could not record is left for the sweep, which
// re-drives it to READY.
func TestE2EPipelineFaults(t *testing.T) {
	t.Parallel()
	s := StartTest(t, e2eOptions())
	gw := s.base.gw

	// The state machine's record writes, and only those, carry the
	// condition on the owning execution as ":execution" (Submit's own
	// writes say ":exec").
	const workflowWrite = `":execution"`
	throttle := func(buildID string, n int) {
		gw.InjectAWSFault(AWSFault{Operation: "DynamoDB_20120810.UpdateItem", BodyContains: []string{buildID, workflowWrite},
			Code: "ProvisionedThroughputExceededException", Message: "The level of configured provisioned throughput for the table was exceeded.", Times: n})
	}
	publishFails := func(buildID string, n int) {
		gw.InjectAWSFault(AWSFault{Operation: "Publish", BodyContains: []string{buildID}, Status: http.StatusInternalServerError,
			Code: "InternalError", Message: "SNS is having a bad day", Times: n})
	}

	tests := []struct {
		name string
		// before arms faults that must be in place before the upload
		// (matched by the avatar name, which the Submit and CheckStatus
		// payloads carry), after those matched by the build id.
		before func(name string)
		after  func(buildID string)

		status       records.Status // the record's status when the execution ends
		reason       string         // in the record's reason
		avatar       bool           // the record has an avatar id
		execution    sfntypes.ExecutionStatus
		taskFailures map[string]int   // in the execution's history, by error
		news         []records.Status // notified, once each
		resume       bool             // the sweep re-drives it to READY
	}{
		{
			name: "Submit panics",
			before: func(name string) {
				gw.InjectInvokeFault(InvokeFault{Function: SubmitFunctionName, PayloadContains: []string{`"` + name + `"`}, Kind: InvokePanic, Times: 1})
			},
			status: records.StatusFailed, reason: "injected panic", execution: sfntypes.ExecutionStatusFailed,
			taskFailures: map[string]int{"string": 1}, news: []records.Status{records.StatusFailed},
		},
		{
			name: "CheckStatus panics",
			before: func(name string) {
				gw.InjectInvokeFault(InvokeFault{Function: CheckFunctionName, PayloadContains: []string{`"` + name + `"`}, Kind: InvokePanic, Times: 1})
			},
			status: records.StatusFailed, reason: "injected panic", avatar: true, execution: sfntypes.ExecutionStatusFailed,
			taskFailures: map[string]int{"string": 1}, news: []records.Status{records.StatusFailed},
		},
		{
			name: "Submit times out after posting",
			before: func(name string) {
				gw.InjectInvokeFault(InvokeFault{Function: SubmitFunctionName, PayloadContains: []string{`"` + name + `"`}, Kind: InvokeTimeout, Times: 1})
			},
			status: records.StatusReady, avatar: true, execution: sfntypes.ExecutionStatusSucceeded,
			taskFailures: map[string]int{"Sandbox.Timedout": 1}, news: []records.Status{records.StatusReady},
		},
		{
			name: "Submit times out past its retries",
			before: func(name string) {
				gw.InjectInvokeFault(InvokeFault{Function: SubmitFunctionName, PayloadContains: []string{`"` + name + `"`}, Kind: InvokeTimeout, Times: 3})
			},
			status: records.StatusFailed, reason: "timed out", avatar: true, execution: sfntypes.ExecutionStatusFailed,
			taskFailures: map[string]int{"Sandbox.Timedout": 3}, news: []records.Status{records.StatusFailed},
		},
		{
			name:   "record writes throttled",
			after:  func(id string) { throttle(id, 3) },
			status: records.StatusReady, avatar: true, execution: sfntypes.ExecutionStatusSucceeded,
			taskFailures: map[string]int{"DynamoDB.ProvisionedThroughputExceededException": 3}, news: []records.Status{records.StatusReady},
		},
		{
			// The write of the outcome fails six times (its retries), then
			// so does the write of FAILED: the record is left as it was,
			// the execution fails, and the sweep finds the build.
			name:   "record writes throttled past the retries",
			after:  func(id string) { throttle(id, 12) },
			avatar: true, execution: sfntypes.ExecutionStatusFailed,
			taskFailures: map[string]int{"DynamoDB.ProvisionedThroughputExceededException": 12},
			news:         []records.Status{records.StatusFailed, records.StatusReady}, resume: true,
		},
		{
			name:   "publish fails once",
			after:  func(id string) { publishFails(id, 1) }, // the SDK's own retry publishes it
			status: records.StatusReady, avatar: true, execution: sfntypes.ExecutionStatusSucceeded,
			news: []records.Status{records.StatusReady},
		},
		{
			// Three failures use up the SDK's attempts in one invocation:
			// Notify fails with PublishFailedError, which the workflow
			// retries.
			name:   "publish fails past the SDK's retries",
			after:  func(id string) { publishFails(id, 3) },
			status: records.StatusReady, avatar: true, execution: sfntypes.ExecutionStatusSucceeded,
			taskFailures: map[string]int{"PublishFailedError": 1}, news: []records.Status{records.StatusReady},
		},
		{
			// An outage longer than the workflow's retries: the record
			// keeps its outcome, the execution fails NotificationFailed,
			// nothing is delivered, and nothing is retried for ever.
			name:   "publish fails past every retry",
			after:  func(id string) { publishFails(id, 3*5) },
			status: records.StatusReady, avatar: true, execution: sfntypes.ExecutionStatusFailed,
			taskFailures: map[string]int{"PublishFailedError": 5},
		},
	}
	body := PortraitJPEG(512, 512)

	// Admission itself fails (the panic hits the admit step, whose payload
	// is the S3 event, before any record exists): nothing is left RECEIVED
	// because nothing was recorded at all. The execution fails, and the
	// FAILED notification names the object, without a build id.
	t.Run("admission panics", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		key := "pipefaults/admit.jpg"
		gw.InjectInvokeFault(InvokeFault{Function: SubmitFunctionName, PayloadContains: []string{key}, Kind: InvokePanic, Times: 1})
		upload(ctx, t, s, key, body, "Pipeline fault admit")
		execs := waitBuildExecutions(ctx, t, s, key, 1)
		if got := execs[0].Status; got != sfntypes.ExecutionStatusFailed {
			t.Errorf("got execution %s, want FAILED", got)
		}
		if n := recordsOfKey(scanRecords(ctx, t, s), key); n != 0 {
			t.Errorf("got %d records of %s, want none", n, key)
		}
		var failed []pipeline.Event
		s.Webhook.Wait(ctx, func(ns []Notification) bool {
			failed = slices.DeleteFunc(decodeEvents(t, ns), func(ev pipeline.Event) bool { return ev.Build.Key != key })
			return len(failed) > 0
		})
		if len(failed) != 1 || failed[0].Build.Status != records.StatusFailed || failed[0].Build.BuildID != "" ||
			!strings.Contains(failed[0].Build.Reason, "injected panic") {
			t.Errorf("got notifications %+v, want one FAILED event for s3://…/%s with the panic as its reason and no build id", failed, key)
		}
		if got := s.Sim.Stats().BuildsByName["Pipeline fault admit"]; got != 0 {
			t.Errorf("got %d avatars created, want none", got)
		}
	})

	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			name := fmt.Sprintf("Pipeline fault %02d", i)
			if tc.before != nil {
				tc.before(name)
			}
			id := upload(ctx, t, s, fmt.Sprintf("pipefaults/%d.jpg", i), body, name)
			if tc.after != nil {
				tc.after(id)
			}
			rec, exec := waitOwnerDone(ctx, t, s, id)
			failures := taskFailures(history(ctx, t, s, aws.ToString(exec.ExecutionArn)))
			t.Logf("record %s, reason %q, error %q; execution %s %s; task failures: %s",
				rec.Status, rec.Reason, rec.Error, exec.Status, aws.ToString(exec.Error), formatCounts(failures))
			if exec.Status != tc.execution {
				t.Errorf("got execution %s (%s: %s), want %s", exec.Status, aws.ToString(exec.Error), aws.ToString(exec.Cause), tc.execution)
			}
			if formatCounts(failures) != formatCounts(tc.taskFailures) {
				t.Errorf("got task failures %s, want %s", formatCounts(failures), formatCounts(tc.taskFailures))
			}
			if tc.resume {
				if rec.Status.Terminal() {
					t.Fatalf("got record %s, want it left as it was for the sweep", rec.Status)
				}
				// What `avatarctl sweep` does with a build whose execution
				// ended without recording an outcome.
				input, _ := json.Marshal(pipeline.ResumeInput{ResumeBuildID: id, PreviousExecution: rec.ExecutionARN})
				if _, err := sfn.NewFromConfig(s.AWSConfig()).StartExecution(ctx, &sfn.StartExecutionInput{
					StateMachineArn: aws.String(s.Resources.StateMachineARN),
					Name:            aws.String(fmt.Sprintf("sweep-pipefaults-%d", i)),
					Input:           aws.String(string(input)),
				}); err != nil {
					t.Fatal(err)
				}
				rec = waitTerminal(ctx, t, s, id)
				if rec, exec = waitOwnerDone(ctx, t, s, id); exec.Status != sfntypes.ExecutionStatusSucceeded || rec.Status != records.StatusReady {
					t.Errorf("after the sweep: got record %s (%s), execution %s, want READY, SUCCEEDED", rec.Status, rec.Reason, exec.Status)
				}
			} else if rec.Status != tc.status {
				t.Errorf("got record %s (reason %q), want %s", rec.Status, rec.Reason, tc.status)
			}
			if !strings.Contains(rec.Reason, tc.reason) {
				t.Errorf("got reason %q, want one mentioning %q", rec.Reason, tc.reason)
			}
			if (rec.AvatarID != "") != tc.avatar {
				t.Errorf("got avatar id %q, want one: %v", rec.AvatarID, tc.avatar)
			}
			posted := 0
			if tc.avatar {
				posted = 1
			}
			if got := s.Sim.Stats().BuildsByName[name]; got != posted {
				t.Errorf("got %d avatars created for the build, want %d", got, posted)
			}
			// Every execution of the build has ended: its news is complete.
			want := map[newsKey]bool{}
			for _, st := range tc.news {
				want[newsKey{id, st}] = true
			}
			checkExactlyOnce(t, newsOf(ctx, t, s, want, id), want)
		})
	}
}

// waitOwnerDone waits for the record of a build to exist and for the
// execution that owns it to finish, and returns both.
func waitOwnerDone(ctx context.Context, t *testing.T, s *Stack, buildID string) (records.Record, *sfn.DescribeExecutionOutput) {
	t.Helper()
	sf := sfn.NewFromConfig(s.AWSConfig())
	r := reader(s)
	for {
		rec, err := r.Load(ctx, buildID)
		if err == nil && rec.ExecutionARN != "" {
			d, err := sf.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(rec.ExecutionARN)})
			if err != nil {
				t.Fatalf("describe execution %s: %v", rec.ExecutionARN, err)
			}
			if d.Status != sfntypes.ExecutionStatusRunning {
				// Read the record again: the execution may have written it
				// since.
				if rec, err = r.Load(ctx, buildID); err != nil {
					t.Fatal(err)
				}
				return rec, d
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("build %s: its execution did not finish (record %+v): %v", buildID, rec, ctx.Err())
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// taskFailures counts an execution's failed task attempts by error.
func taskFailures(events []sfntypes.HistoryEvent) map[string]int {
	out := map[string]int{}
	for _, ev := range events {
		switch {
		case ev.TaskFailedEventDetails != nil:
			out[aws.ToString(ev.TaskFailedEventDetails.Error)]++
		case ev.TaskTimedOutEventDetails != nil:
			out[aws.ToString(ev.TaskTimedOutEventDetails.Error)]++
		}
	}
	return out
}
