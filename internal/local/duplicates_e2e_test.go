package local

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/avatar-pipeline/avatar-pipeline/internal/records"
)

// TestE2EDuplicateExecutions: deduplication holds at the level of
// executions, not just of the pump's execution names. Both cases share one
// stack, with the submission notified too, so that every status a build
// passes through is news that must arrive once.
func TestE2EDuplicateExecutions(t *testing.T) {
	t.Parallel()
	o := e2eOptions()
	o.BuildTime = 2 * time.Second
	o.NotifyOnSubmit = true
	s := StartTest(t, o)

	// The same upload event started as several executions at the same
	// moment (different names, the same input), racing the pump's own
	// execution of it: one record, one Mirako avatar, one notification per
	// status; every other execution ends DUPLICATE without touching the
	// record.
	t.Run("concurrent executions of one event", func(t *testing.T) {
		t.Parallel()
		const copies = 8
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		key, name := "dup/concurrent.jpg", "Concurrent Connie"
		body := PortraitJPEG(512, 512)
		put, err := s3.NewFromConfig(s.AWSConfig(), func(o *s3.Options) { o.UsePathStyle = true }).PutObject(ctx, &s3.PutObjectInput{
			Bucket: aws.String(s.Resources.Bucket), Key: aws.String(key), Body: bytes.NewReader(body),
			Metadata: map[string]string{"avatar-name": name},
		})
		if err != nil {
			t.Fatal(err)
		}
		id := records.BuildID(s.Resources.Bucket, key, aws.ToString(put.VersionId), aws.ToString(put.ETag))
		event := objectCreatedEvent(s.Resources.Bucket, key, int64(len(body)), aws.ToString(put.ETag), aws.ToString(put.VersionId))

		sf := sfn.NewFromConfig(s.AWSConfig())
		start := make(chan struct{})
		errs := make([]error, copies)
		var wg sync.WaitGroup
		for i := range copies {
			wg.Go(func() {
				<-start
				_, errs[i] = sf.StartExecution(ctx, &sfn.StartExecutionInput{
					StateMachineArn: aws.String(s.Resources.StateMachineARN),
					Name:            aws.String(fmt.Sprintf("concurrent-copy-%d", i)),
					Input:           aws.String(event),
				})
			})
		}
		close(start)
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}

		rec := waitTerminal(ctx, t, s, id)
		execs := waitBuildExecutions(ctx, t, s, key, copies+1) // the copies and the pump's
		if rec.Status != records.StatusReady {
			t.Errorf("got status %s (%s), want READY", rec.Status, rec.Reason)
		}
		if n := recordsOfKey(scanRecords(ctx, t, s), key); n != 1 {
			t.Errorf("got %d records of %s, want 1", n, key)
		}
		if got := s.Sim.Stats().BuildsByName[name]; got != 1 {
			t.Errorf("got %d avatars created, want 1", got)
		}
		owners, duplicates := 0, 0
		for _, e := range execs {
			arn := aws.ToString(e.ExecutionArn)
			if e.Status != sfntypes.ExecutionStatusSucceeded {
				t.Errorf("execution %s: got %s, want SUCCEEDED", aws.ToString(e.Name), e.Status)
			}
			switch states := enteredStates(history(ctx, t, s, arn)); {
			case states["Duplicate"] > 0 && states["Submit"] == 0 && states["RecordReady"] == 0:
				duplicates++
			case arn == rec.ExecutionARN:
				owners++
			default:
				t.Errorf("execution %s neither owns the record nor ended DUPLICATE: states %v", aws.ToString(e.Name), states)
			}
		}
		if owners != 1 || duplicates != copies {
			t.Errorf("got %d owning and %d DUPLICATE executions, want 1 and %d", owners, duplicates, copies)
		}
		want := map[newsKey]bool{{id, records.StatusPending}: true, {id, records.StatusReady}: true}
		checkExactlyOnce(t, newsOf(ctx, t, s, want, id), want)
	})

	// StartExecution without a name, twice with the same input, as a script
	// replaying an event might: Step Functions names each (moto alone would
	// name both "None" and refuse the second); both start, and both end
	// DUPLICATE, since the upload's own execution owns the record.
	t.Run("nameless starts of one event", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		key, body := "dup/nameless.jpg", PortraitJPEG(512, 512)
		put, err := s3.NewFromConfig(s.AWSConfig(), func(o *s3.Options) { o.UsePathStyle = true }).PutObject(ctx, &s3.PutObjectInput{
			Bucket: aws.String(s.Resources.Bucket), Key: aws.String(key), Body: bytes.NewReader(body),
			Metadata: map[string]string{"avatar-name": "Nameless Nell"},
		})
		if err != nil {
			t.Fatal(err)
		}
		id := records.BuildID(s.Resources.Bucket, key, aws.ToString(put.VersionId), aws.ToString(put.ETag))
		waitTerminal(ctx, t, s, id)
		event := objectCreatedEvent(s.Resources.Bucket, key, int64(len(body)), aws.ToString(put.ETag), aws.ToString(put.VersionId))
		sf := sfn.NewFromConfig(s.AWSConfig())
		var arns []string
		for range 2 {
			out, err := sf.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: aws.String(s.Resources.StateMachineARN), Input: aws.String(event)})
			if err != nil {
				t.Fatalf("a nameless start: %v", err)
			}
			arns = append(arns, aws.ToString(out.ExecutionArn))
		}
		if arns[0] == arns[1] || strings.HasSuffix(arns[0], ":None") {
			t.Fatalf("got executions %v, want two, each with a name of its own", arns)
		}
		for _, arn := range arns {
			for {
				d, err := sf.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(arn)})
				if err != nil {
					t.Fatal(err)
				}
				if d.Status != sfntypes.ExecutionStatusRunning {
					if states := enteredStates(history(ctx, t, s, arn)); d.Status != sfntypes.ExecutionStatusSucceeded || states["Duplicate"] == 0 {
						t.Errorf("execution %s: got %s through %v, want SUCCEEDED through Duplicate", arn, d.Status, states)
					}
					break
				}
				select {
				case <-ctx.Done():
					t.Fatalf("execution %s still running: %v", arn, ctx.Err())
				case <-time.After(250 * time.Millisecond):
				}
			}
		}
	})

	// A later event for an older object version never overwrites a newer
	// record: version 1's event delivered again, while version 2 builds and
	// after it is done, leaves version 2's record untouched, and version
	// 1's record stays its own.
	t.Run("late event for an older version", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		sf := sfn.NewFromConfig(s.AWSConfig())
		key := "dup/versions.jpg"
		startLate := func(name, event string) {
			t.Helper()
			if _, err := sf.StartExecution(ctx, &sfn.StartExecutionInput{
				StateMachineArn: aws.String(s.Resources.StateMachineARN), Name: aws.String(name), Input: aws.String(event),
			}); err != nil {
				t.Fatal(err)
			}
		}

		v1 := upload(ctx, t, s, key, PortraitJPEG(512, 512), "Vera one")
		rec1 := waitTerminal(ctx, t, s, v1)
		in, err := sf.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(rec1.ExecutionARN)})
		if err != nil {
			t.Fatal(err)
		}
		event1 := aws.ToString(in.Input) // version 1's event, as EventBridge delivered it

		v2 := upload(ctx, t, s, key, PortraitJPEG(640, 640), "Vera two")
		if v2 == v1 {
			t.Fatal("the second upload has the first one's build id")
		}
		startLate("late-v1-while-v2-builds", event1)
		rec2 := waitTerminal(ctx, t, s, v2)
		waitBuildExecutions(ctx, t, s, key, 3)
		after2 := recordsByID(scanRecords(ctx, t, s))

		startLate("late-v1-after-v2", event1)
		// Through the queue too: the pump names the execution as before
		// and drops the event.
		if _, err := sqs.NewFromConfig(s.AWSConfig()).SendMessage(ctx, &sqs.SendMessageInput{
			QueueUrl: aws.String(s.Resources.EventQueueURL), MessageBody: aws.String(event1),
		}); err != nil {
			t.Fatal(err)
		}
		waitQueueEmpty(ctx, t, s)
		execs := waitBuildExecutions(ctx, t, s, key, 4)
		scanned := scanRecords(ctx, t, s)
		final := recordsByID(scanned)

		if rec1.Status != records.StatusReady || rec2.Status != records.StatusReady {
			t.Fatalf("got statuses %s and %s, want READY for both versions", rec1.Status, rec2.Status)
		}
		if !reflect.DeepEqual(final[v2], rec2) || !reflect.DeepEqual(after2[v2], rec2) {
			t.Errorf("version 2's record changed:\nwas  %+v\nnow  %+v", rec2, final[v2])
		}
		if !reflect.DeepEqual(final[v1], rec1) {
			t.Errorf("version 1's record changed:\nwas  %+v\nnow  %+v", rec1, final[v1])
		}
		if final[v1].VersionID == final[v2].VersionID || final[v1].AvatarID == final[v2].AvatarID || final[v1].Name != "Vera one" {
			t.Errorf("the versions' records are not their own: %+v and %+v", final[v1], final[v2])
		}
		if n := recordsOfKey(scanned, key); n != 2 {
			t.Errorf("got %d records of %s, want 2 (one per version)", n, key)
		}
		if st := s.Sim.Stats(); st.BuildsByName["Vera one"] != 1 || st.BuildsByName["Vera two"] != 1 {
			t.Errorf("got avatars by name %v, want one per version", st.BuildsByName)
		}
		for _, e := range execs {
			if e.Status != sfntypes.ExecutionStatusSucceeded {
				t.Errorf("execution %s: got %s, want SUCCEEDED", aws.ToString(e.Name), e.Status)
			}
		}
		want := map[newsKey]bool{
			{v1, records.StatusPending}: true, {v1, records.StatusReady}: true,
			{v2, records.StatusPending}: true, {v2, records.StatusReady}: true,
		}
		checkExactlyOnce(t, newsOf(ctx, t, s, want, v1, v2), want)
	})
}

// objectCreatedEvent is the EventBridge "Object Created" event S3 sends for
// a new object version, in AWS's shape.
func objectCreatedEvent(bucket, key string, size int64, etag, versionID string) string {
	ev := map[string]any{
		"version":     "0",
		"id":          "5b6a4a6e-0d2b-4c55-9a0e-1c2d3e4f5a6b",
		"detail-type": "Object Created",
		"source":      "aws.s3",
		"account":     Account,
		"time":        time.Now().UTC().Format(time.RFC3339),
		"region":      Region,
		"resources":   []string{"arn:aws:s3:::" + bucket},
		"detail": map[string]any{
			"version": "0",
			"bucket":  map[string]string{"name": bucket},
			"object": map[string]any{
				"key": key, "size": size, "etag": etag, "version-id": versionID, "sequencer": "00617F08299329D189",
			},
			"request-id":        "N4N7GDK58NMKJ12R",
			"requester":         Account,
			"source-ip-address": "127.0.0.1",
			"reason":            "PutObject",
		},
	}
	b, _ := json.Marshal(ev)
	return string(b)
}

// waitBuildExecutions waits until n executions whose input names the key
// have finished, and returns them.
func waitBuildExecutions(ctx context.Context, t *testing.T, s *Stack, key string, n int) []sfntypes.ExecutionListItem {
	t.Helper()
	sf := sfn.NewFromConfig(s.AWSConfig())
	inputs := map[string]string{}
	for {
		var mine []sfntypes.ExecutionListItem
		running := 0
		for _, e := range executions(ctx, t, s) {
			arn := aws.ToString(e.ExecutionArn)
			if _, ok := inputs[arn]; !ok {
				d, err := sf.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: e.ExecutionArn})
				if err != nil {
					t.Fatal(err)
				}
				var in struct {
					Detail struct {
						Object struct{ Key string } `json:"object"`
					} `json:"detail"`
				}
				json.Unmarshal([]byte(aws.ToString(d.Input)), &in)
				inputs[arn] = in.Detail.Object.Key
			}
			if inputs[arn] == key {
				mine = append(mine, e)
				if e.Status == sfntypes.ExecutionStatusRunning {
					running++
				}
			}
		}
		if len(mine) > n {
			t.Fatalf("got %d executions of %s, want %d", len(mine), key, n)
		}
		if len(mine) == n && running == 0 {
			return mine
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %d finished executions of %s: got %d, %d running: %v", n, key, len(mine), running, ctx.Err())
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// enteredStates counts the states an execution entered, by name.
func enteredStates(events []sfntypes.HistoryEvent) map[string]int {
	out := map[string]int{}
	for _, ev := range events {
		if d := ev.StateEnteredEventDetails; d != nil {
			out[aws.ToString(d.Name)]++
		}
	}
	return out
}
