package main

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/avatar-pipeline/avatar-pipeline/internal/pipeline/sweep"
	"github.com/spf13/cobra"
)

func newSweepCmd(g *globalOptions) *cobra.Command {
	var (
		olderThan time.Duration
		dryRun    bool
		asJSON    bool
	)
	cmd := &cobra.Command{
		Use:   "sweep",
		Short: "Find builds whose workflow ended without a terminal status and re-drive them",
		Long: `Look for builds still RECEIVED, QUEUED, PENDING or BUILDING whose last
update is older than --older-than and whose workflow execution is no longer
running (it failed, timed out or was stopped before it could record an
outcome). Each one is re-driven: a new execution takes the record over
(only if it still belongs to the execution seen here, so two sweeps cannot
both resume it) and carries on: polling Mirako if the build has an avatar,
submitting it otherwise, where Submit adopts an avatar an earlier attempt
created instead of posting again. Nothing is ever posted twice. In-flight
slots held by builds that are finished or stale are given back.

The deployed stack runs the same sweep every 15 minutes; --dry-run only
reports.`,
		Args: cobra.NoArgs,
		RunE: g.runE(func(cmd *cobra.Command, _ []string) error {
			c, err := g.connect(cmd.Context())
			if err != nil {
				return err
			}
			sw := &sweep.Sweeper{Records: c.reader, Workflow: c.sfn, StateMachineARN: c.res.StateMachineARN,
				Log: slog.New(slog.DiscardHandler)}
			results, err := sw.Sweep(cmd.Context(), time.Now().Add(-olderThan), dryRun)
			out := cmd.OutOrStdout()
			if asJSON {
				if results == nil {
					results = []sweep.Result{}
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
