// Package sweep is the Sweep function, run on a schedule (and by `avatarctl
// sweep`): it heals builds whose execution ended without recording an
// outcome (stopped, or failed past every retry) by starting a resume
// execution that takes the record over, and gives back the in-flight slots
// of builds that no longer need them.
package sweep

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/avatar-pipeline/avatar-pipeline/internal/metrics"
	"github.com/avatar-pipeline/avatar-pipeline/internal/pipeline"
	"github.com/avatar-pipeline/avatar-pipeline/internal/records"
	"github.com/avatar-pipeline/avatar-pipeline/internal/records/store"
)

// Builds is the part of the build store the sweep uses.
type Builds interface {
	List(ctx context.Context, o store.ListOptions) ([]records.Record, error)
	Load(ctx context.Context, id string) (records.Record, error)
	SlotHolders(ctx context.Context) ([]string, error)
	ReleaseSlot(ctx context.Context, id string) error
}

// Workflow is the part of the Step Functions client the sweep uses.
type Workflow interface {
	DescribeExecution(ctx context.Context, in *sfn.DescribeExecutionInput, opts ...func(*sfn.Options)) (*sfn.DescribeExecutionOutput, error)
	StartExecution(ctx context.Context, in *sfn.StartExecutionInput, opts ...func(*sfn.Options)) (*sfn.StartExecutionOutput, error)
}

// Result is what the sweep did with one build.
type Result struct {
	BuildID      string         `json:"build_id"`
	Status       records.Status `json:"status"`
	Execution    string         `json:"execution_arn"`
	Action       string         `json:"action"` // one of the Action constants
	NewExecution string         `json:"new_execution_arn,omitempty"`
}

// What the sweep does with a build (the Swept metric's Action dimension).
const (
	ActionResumed      = "resumed"
	ActionRunning      = "running" // its execution still runs: left alone
	ActionWouldResume  = "would resume"
	ActionReleased     = "released slot"
	ActionWouldRelease = "would release slot"
)

// Sweeper finds and heals stale builds.
type Sweeper struct {
	Records         Builds
	Workflow        Workflow
	StateMachineARN string
	Log             *slog.Logger
	Metrics         *metrics.Emitter // nil records no metrics
}

// stale are the statuses of a build that is not finished.
var stale = []records.Status{records.StatusReceived, records.StatusQueued, records.StatusPending, records.StatusBuilding}

// Sweep re-drives every unfinished build last updated before before whose
// execution no longer runs, and releases the slots of builds that are
// finished or gone. dryRun only reports.
func (s *Sweeper) Sweep(ctx context.Context, before time.Time, dryRun bool) ([]Result, error) {
	var out []Result
	for _, status := range stale {
		recs, err := s.Records.List(ctx, store.ListOptions{Status: status})
		if err != nil {
			return out, err
		}
		for _, rec := range recs {
			updated, err := records.ParseTime(rec.UpdatedAt)
			if err != nil { // never written or unreadable: judge by the record's age
				updated, err = records.ParseTime(rec.CreatedAt)
			}
			if err != nil || updated.After(before) {
				continue
			}
			r, err := s.resume(ctx, rec, dryRun)
			if err != nil {
				return out, err
			}
			out = append(out, s.report(ctx, r))
		}
	}
	released, err := s.releaseSlots(ctx, dryRun)
	return append(out, released...), err
}

// resume starts the execution that takes a stale build over, unless its
// own execution still runs. The take-over is conditional on the execution
// seen here, so two sweeps cannot both resume it.
func (s *Sweeper) resume(ctx context.Context, rec records.Record, dryRun bool) (Result, error) {
	r := Result{BuildID: rec.BuildID, Status: rec.Status, Execution: rec.ExecutionARN}
	running, err := s.running(ctx, rec.ExecutionARN)
	switch {
	case err != nil:
		return r, err
	case running:
		r.Action = ActionRunning
	case dryRun:
		r.Action = ActionWouldResume
	default:
		input, _ := json.Marshal(pipeline.ResumeInput{ResumeBuildID: rec.BuildID, PreviousExecution: rec.ExecutionARN})
		started, err := s.Workflow.StartExecution(ctx, &sfn.StartExecutionInput{
			StateMachineArn: aws.String(s.StateMachineARN),
			Name:            aws.String(fmt.Sprintf("sweep-%.12s-%d", rec.BuildID, time.Now().UnixNano())),
			Input:           aws.String(string(input)),
		})
		if err != nil {
			return r, fmt.Errorf("re-drive build %s: %w", rec.BuildID, err)
		}
		r.Action, r.NewExecution = ActionResumed, aws.ToString(started.ExecutionArn)
	}
	return r, nil
}

// releaseSlots gives back the slots of builds that are finished, gone, or
// stale with no execution running; a resumed build takes one again.
func (s *Sweeper) releaseSlots(ctx context.Context, dryRun bool) ([]Result, error) {
	holders, err := s.Records.SlotHolders(ctx)
	if err != nil {
		return nil, err
	}
	var out []Result
	for _, id := range holders {
		rec, err := s.Records.Load(ctx, id)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return out, err
		}
		if err == nil && !rec.Status.Terminal() {
			running, err := s.running(ctx, rec.ExecutionARN)
			if err != nil {
				return out, err
			}
			if running {
				continue
			}
		}
		r := Result{BuildID: id, Status: rec.Status, Execution: rec.ExecutionARN, Action: ActionWouldRelease}
		if !dryRun {
			if err := s.Records.ReleaseSlot(ctx, id); err != nil {
				return out, err
			}
			r.Action = ActionReleased
		}
		out = append(out, s.report(ctx, r))
	}
	return out, nil
}

func (s *Sweeper) report(ctx context.Context, r Result) Result {
	if r.Action != ActionRunning {
		s.Log.InfoContext(ctx, "swept", "build_id", r.BuildID, "status", r.Status, "action", r.Action, "execution", r.Execution, "new_execution", r.NewExecution)
		s.Metrics.Count(metrics.Swept, metrics.DimAction, r.Action, r.BuildID)
	}
	return r
}

// running reports whether an execution still runs; one that no longer
// exists does not.
func (s *Sweeper) running(ctx context.Context, arn string) (bool, error) {
	if arn == "" {
		return false, nil
	}
	d, err := s.Workflow.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(arn)})
	var missing *sfntypes.ExecutionDoesNotExist
	if errors.As(err, &missing) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("look up execution %s: %w", arn, err)
	}
	return d.Status == sfntypes.ExecutionStatusRunning, nil
}
