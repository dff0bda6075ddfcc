package local

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/avatar-pipeline/avatar-pipeline/internal/pipeline"
	"github.com/avatar-pipeline/avatar-pipeline/internal/records"
)

// Helpers of the exactly-once proofs (faults, duplicates, pipeline faults,
// security): they read everything the stack holds, not just one build.

// scanRecords reads every record in the table, following Scan's pages.
func scanRecords(ctx context.Context, t *testing.T, s *Stack) []records.Record {
	t.Helper()
	recs, err := reader(s).All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// executions lists every execution of the stack's state machine.
func executions(ctx context.Context, t *testing.T, s *Stack) []sfntypes.ExecutionListItem {
	t.Helper()
	sf := sfn.NewFromConfig(s.AWSConfig())
	var out []sfntypes.ExecutionListItem
	p := sfn.NewListExecutionsPaginator(sf, &sfn.ListExecutionsInput{StateMachineArn: aws.String(s.Resources.StateMachineARN)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatalf("list executions: %v", err)
		}
		out = append(out, page.Executions...)
	}
	return out
}

// waitSettled waits until the state machine has at least n executions and
// none of them is running: then no record can change and no notification
// can arrive any more.
func waitSettled(ctx context.Context, t *testing.T, s *Stack, n int) []sfntypes.ExecutionListItem {
	t.Helper()
	for {
		execs := executions(ctx, t, s)
		running := 0
		for _, e := range execs {
			if e.Status == sfntypes.ExecutionStatusRunning {
				running++
			}
		}
		if len(execs) >= n && running == 0 {
			return execs
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %d finished executions: got %d, %d still running: %v", n, len(execs), running, ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// history reads an execution's whole history, oldest event first.
func history(ctx context.Context, t *testing.T, s *Stack, arn string) []sfntypes.HistoryEvent {
	t.Helper()
	sf := sfn.NewFromConfig(s.AWSConfig())
	var out []sfntypes.HistoryEvent
	p := sfn.NewGetExecutionHistoryPaginator(sf, &sfn.GetExecutionHistoryInput{ExecutionArn: aws.String(arn)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatalf("history of %s: %v", arn, err)
		}
		out = append(out, page.Events...)
	}
	return out
}

// object is one object to put into the bucket.
type object struct {
	key, name string
	body      []byte
}

// uploadAll puts the objects into the bucket at once and returns their
// build ids, in order.
func uploadAll(ctx context.Context, t *testing.T, s *Stack, objs []object) []string {
	t.Helper()
	client := s3.NewFromConfig(s.AWSConfig(), func(o *s3.Options) { o.UsePathStyle = true })
	ids := make([]string, len(objs))
	errs := make([]error, len(objs))
	var wg sync.WaitGroup
	for i, o := range objs {
		wg.Go(func() {
			in := &s3.PutObjectInput{Bucket: aws.String(s.Resources.Bucket), Key: aws.String(o.key), Body: bytes.NewReader(o.body)}
			if o.name != "" {
				in.Metadata = map[string]string{pipeline.NameMetadata: o.name}
			}
			out, err := client.PutObject(ctx, in)
			if err != nil {
				errs[i] = fmt.Errorf("upload %q: %w", o.key, err)
				return
			}
			ids[i] = records.BuildID(s.Resources.Bucket, o.key, aws.ToString(out.VersionId), aws.ToString(out.ETag))
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

// newsKey names one piece of news: a build reaching a status.
type newsKey struct {
	build  string
	status records.Status
}

// deliveries groups the webhook's notifications by build and status, with
// the event ids each group carried. It fails the test on a notification
// that is not the JSON event.
func deliveries(t *testing.T, ns []Notification) map[newsKey][]string {
	t.Helper()
	out := map[newsKey][]string{}
	for _, ev := range decodeEvents(t, ns) {
		k := newsKey{ev.Build.BuildID, ev.Build.Status}
		out[k] = append(out[k], ev.ID)
	}
	return out
}

// newsOf returns the deliveries about the given builds once want's news
// has all arrived (or ctx is done) and a stray duplicate has had time to
// follow: the webhook delivers through a queue, after the execution ends.
func newsOf(ctx context.Context, t *testing.T, s *Stack, want map[newsKey]bool, ids ...string) map[newsKey][]string {
	t.Helper()
	s.Webhook.Wait(ctx, func(ns []Notification) bool {
		got := deliveries(t, ns)
		for k := range want {
			if len(got[k]) == 0 {
				return false
			}
		}
		return true
	})
	time.Sleep(2 * time.Second)
	got := deliveries(t, s.Notifications())
	for k := range got {
		keep := false
		for _, id := range ids {
			keep = keep || k.build == id
		}
		if !keep {
			delete(got, k)
		}
	}
	return got
}

// recordsByID indexes records by build id.
func recordsByID(recs []records.Record) map[string]records.Record {
	out := map[string]records.Record{}
	for _, r := range recs {
		out[r.BuildID] = r
	}
	return out
}

// recordsOfKey counts the records of one object key.
func recordsOfKey(recs []records.Record, key string) int {
	n := 0
	for _, r := range recs {
		if r.Key == key {
			n++
		}
	}
	return n
}

// checkExactlyOnce checks that every piece of news was delivered exactly
// once, that no two pieces of news share an event id, and that the news
// delivered is exactly want.
func checkExactlyOnce(t *testing.T, got map[newsKey][]string, want map[newsKey]bool) {
	t.Helper()
	owner := map[string]newsKey{}
	for k, ids := range got {
		if len(ids) != 1 {
			t.Errorf("build %s %s: got %d notifications (event ids %v), want exactly 1", k.build, k.status, len(ids), ids)
		}
		for _, id := range ids {
			if id == "" {
				t.Errorf("build %s %s: got an event without an id", k.build, k.status)
			}
			if o, ok := owner[id]; ok && o != k {
				t.Errorf("event id %s is used by build %s %s and by build %s %s, want one id per build and status", id, o.build, o.status, k.build, k.status)
			}
			owner[id] = k
		}
		if !want[k] {
			t.Errorf("got a notification of build %s %s, which no record explains", k.build, k.status)
		}
	}
	for k := range want {
		if _, ok := got[k]; !ok {
			t.Errorf("build %s %s: got no notification, want 1", k.build, k.status)
		}
	}
}

// countBy counts strings, for the figures printed by the suites.
func countBy[T any](items []T, key func(T) string) map[string]int {
	out := map[string]int{}
	for _, it := range items {
		out[key(it)]++
	}
	return out
}

// formatCounts renders counts as "a=1 b=2", sorted by key.
func formatCounts[K ~string](m map[K]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, string(k))
	}
	sort.Strings(keys)
	var b bytes.Buffer
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%d", k, m[K(k)])
	}
	if b.Len() == 0 {
		return "none"
	}
	return b.String()
}
