package sweep

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/avatar-pipeline/avatar-pipeline/internal/dynamotest"
	"github.com/avatar-pipeline/avatar-pipeline/internal/records"
	"github.com/avatar-pipeline/avatar-pipeline/internal/records/store"
)

// workflow is Step Functions for the tests: executions that run, and the
// ones the sweep starts.
type workflow struct {
	mu      sync.Mutex
	running map[string]bool
	started []string
}

func (w *workflow) DescribeExecution(_ context.Context, in *sfn.DescribeExecutionInput, _ ...func(*sfn.Options)) (*sfn.DescribeExecutionOutput, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	running, ok := w.running[aws.ToString(in.ExecutionArn)]
	switch {
	case !ok:
		return nil, &sfntypes.ExecutionDoesNotExist{Message: aws.String("no such execution")}
	case running:
		return &sfn.DescribeExecutionOutput{Status: sfntypes.ExecutionStatusRunning}, nil
	}
	return &sfn.DescribeExecutionOutput{Status: sfntypes.ExecutionStatusAborted}, nil
}

func (w *workflow) StartExecution(_ context.Context, in *sfn.StartExecutionInput, _ ...func(*sfn.Options)) (*sfn.StartExecutionOutput, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.started = append(w.started, aws.ToString(in.Input))
	return &sfn.StartExecutionOutput{ExecutionArn: aws.String("arn:new-" + aws.ToString(in.Name))}, nil
}

func TestSweep(t *testing.T) {
	ctx := context.Background()
	tbl := &store.Table{DB: dynamotest.New(dynamotest.Builds("builds")), Name: "builds"}
	old := time.Now().Add(-time.Hour)
	put := func(id string, status records.Status, exec string, updated time.Time) {
		tbl.Register(ctx, records.Record{BuildID: id, Status: status, ExecutionARN: exec, CreatedAt: records.FormatTime(updated), UpdatedAt: records.FormatTime(updated)})
	}
	put("dead", records.StatusBuilding, "exec-dead", old)
	put("queued", records.StatusQueued, "exec-aborted", old)
	put("alive", records.StatusPending, "exec-alive", old)
	put("recent", records.StatusPending, "exec-gone-recently", time.Now())
	put("done", records.StatusReady, "exec-done", old)
	for _, id := range []string{"done", "alive", "vanished", "dead"} {
		tbl.AcquireSlot(ctx, id, 10)
	}
	wf := &workflow{running: map[string]bool{"exec-alive": true, "exec-aborted": false}}
	s := &Sweeper{Records: tbl, Workflow: wf, StateMachineARN: "arn:sm", Log: slog.New(slog.NewTextHandler(io.Discard, nil))}

	dry, err := s.Sweep(ctx, time.Now().Add(-30*time.Minute), true)
	if err != nil {
		t.Fatal(err)
	}
	if len(wf.started) != 0 {
		t.Errorf("a dry run started %d executions", len(wf.started))
	}
	if holders, _ := tbl.SlotHolders(ctx); len(holders) != 4 {
		t.Errorf("a dry run released slots: %v left", holders)
	}
	got, err := s.Sweep(ctx, time.Now().Add(-30*time.Minute), false)
	if err != nil {
		t.Fatal(err)
	}
	actions := map[string]string{}
	for _, r := range got {
		actions[r.BuildID+" "+r.Action] = r.NewExecution
	}
	want := []string{"alive running", "dead released slot", "dead resumed", "done released slot", "queued resumed", "vanished released slot"}
	if keys := slices.Sorted(func(yield func(string) bool) {
		for k := range actions {
			if !yield(k) {
				return
			}
		}
	}); !slices.Equal(keys, want) {
		t.Errorf("got actions %v, want %v", keys, want)
	}
	if len(dry) != len(got) {
		t.Errorf("the dry run reported %d builds, the sweep %d", len(dry), len(got))
	}
	if holders, _ := tbl.SlotHolders(ctx); !slices.Equal(holders, []string{"alive"}) {
		t.Errorf("slots left: %v, want only the running build's", holders)
	}
	if len(wf.started) != 2 {
		t.Errorf("started %d executions, want 2 (dead, queued)", len(wf.started))
	}
}
