package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/spf13/cobra"

	"github.com/avatar-pipeline/avatar-pipeline/internal/pipeline"
	"github.com/avatar-pipeline/avatar-pipeline/internal/records"
	"github.com/avatar-pipeline/avatar-pipeline/internal/records/store"
)

// swept is one line of `sweep --json`.
type swept struct {
	BuildID      string         `json:"build_id"`
	Status       records.Status `json:"status"`
	Execution    string         `json:"execution_arn"`
	Action       string         `json:"action"` // "resumed", "running", "would resume"
	NewExecution string         `json:"new_execution_arn,omitempty"`
}

func newSweepCmd(g *globalOptions) *cobra.Command {
	var (
		olderThan time.Duration
		dryRun    bool
		asJSON    bool
	)
	cmd := &cobra.Command{
		Use:   "sweep",
		Short: "Find builds whose workflow ended without a terminal status and re-drive them",
		Long: `Look for builds still RECEIVED, PENDING or BUILDING whose last update is
older than --older-than and whose workflow execution is no longer running
(it failed, timed out or was stopped before it could record an outcome).
Each one is re-driven: a new execution takes the record over (only if it
still belongs to the execution seen here, so two sweeps cannot both
resume it) and carries on — polling Mirako if the build has an avatar,
submitting it otherwise, where Submit adopts an avatar an earlier attempt
created instead of posting again. Nothing is ever posted twice.

Run it by hand or on a schedule; --dry-run only reports.`,
		Args: cobra.NoArgs,
		RunE: g.runE(func(cmd *cobra.Command, _ []string) error {
			c, err := g.connect(cmd.Context())
			if err != nil {
				return err
			}
			results, err := sweep(cmd.Context(), c, time.Now().Add(-olderThan), dryRun)
			out := cmd.OutOrStdout()
			if asJSON {
				if results == nil {
					results = []swept{}
				}
				if jerr := writeJSON(out, results); jerr != nil {
					return jerr
				}
				return err
			}
			for _, r := range results {
				line := fmt.Sprintf("%s  %-9s  %s", r.BuildID, r.Status, r.Action)
				if r.NewExecution != "" {
					line += "  " + r.NewExecution
				}
				fmt.Fprintln(out, line)
			}
			if len(results) == 0 && err == nil {
				fmt.Fprintf(out, "no stale builds older than %s\n", olderThan)
			}
			return err
		}),
	}
	f := cmd.Flags()
	f.DurationVar(&olderThan, "older-than", 30*time.Minute, "only builds whose last update is older than this")
	f.BoolVar(&dryRun, "dry-run", false, "report what would be re-driven, change nothing")
	f.BoolVar(&asJSON, "json", false, "print the builds looked at as a JSON array")
	return cmd
}

// sweep re-drives every stale build and reports what it did with each
// build it looked at.
func sweep(ctx context.Context, c *conn, before time.Time, dryRun bool) ([]swept, error) {
	var out []swept
	for _, status := range []records.Status{records.StatusReceived, records.StatusPending, records.StatusBuilding} {
		recs, err := c.reader.List(ctx, store.ListOptions{Status: status})
		if err != nil {
			return out, c.explain(err)
		}
		for _, rec := range recs {
			updated, err := records.ParseTime(rec.UpdatedAt)
			if err != nil { // never written or unreadable: judge by the record's age
				updated, err = records.ParseTime(rec.CreatedAt)
			}
			if err != nil || updated.After(before) {
				continue
			}
			s := swept{BuildID: rec.BuildID, Status: rec.Status, Execution: rec.ExecutionARN}
			running, err := executionRunning(ctx, c, rec.ExecutionARN)
			if err != nil {
				return out, err
			}
			switch {
			case running:
				s.Action = "running"
			case dryRun:
				s.Action = "would resume"
			default:
				input, _ := json.Marshal(pipeline.ResumeInput{ResumeBuildID: rec.BuildID, PreviousExecution: rec.ExecutionARN})
				started, err := c.sfn.StartExecution(ctx, &sfn.StartExecutionInput{
					StateMachineArn: aws.String(c.res.StateMachineARN),
					Name:            aws.String(fmt.Sprintf("sweep-%s-%s", rec.BuildID[:min(len(rec.BuildID), 12)], randomHex(6))),
					Input:           aws.String(string(input)),
				})
				if err != nil {
					return out, fmt.Errorf("re-drive build %s: %w", rec.BuildID, c.explain(err))
				}
				s.Action, s.NewExecution = "resumed", aws.ToString(started.ExecutionArn)
			}
			out = append(out, s)
		}
	}
	return out, nil
}

// executionRunning reports whether the execution that owns a record is
// still running; one that no longer exists is not.
func executionRunning(ctx context.Context, c *conn, arn string) (bool, error) {
	if arn == "" {
		return false, nil
	}
	d, err := c.sfn.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(arn)})
	var missing *sfntypes.ExecutionDoesNotExist
	if errors.As(err, &missing) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("look up execution %s: %w", arn, c.explain(err))
	}
	return d.Status == sfntypes.ExecutionStatusRunning, nil
}
