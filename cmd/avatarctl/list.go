package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/avatar-pipeline/avatar-pipeline/internal/records"
	"github.com/avatar-pipeline/avatar-pipeline/internal/records/store"
)

type listOptions struct {
	status string
	limit  int
	since  string
	json   bool
}

func newListCmd(g *globalOptions) *cobra.Command {
	o := listOptions{}
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List builds, newest first",
		Long: `List builds, newest first: on a terminal a table, otherwise one
tab-separated line per build (build_id, status, name, avatar_id, created_at).

It reads the table's by-status index, page by page, and never scans the
table: with --status it queries that status, without it every status, and
merges them.`,
		Example: `  avatarctl list
  avatarctl list --status REJECTED --since 24h
  avatarctl list --limit 0 --json | jq -r '.[] | select(.status == "READY") | .avatar_id'`,
		Args: cobra.NoArgs,
		RunE: g.runE(func(cmd *cobra.Command, _ []string) error {
			lo, err := o.toListOptions(time.Now())
			if err != nil {
				return usageError(cmd, err)
			}
			c, err := g.connect(cmd.Context())
			if err != nil {
				return err
			}
			recs, err := c.reader.List(cmd.Context(), lo)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if o.json {
				if recs == nil {
					recs = []records.Record{}
				}
				return writeJSON(out, recs)
			}
			return writeList(out, recs, styleFor(out))
		}),
	}
	f := cmd.Flags()
	f.StringVar(&o.status, "status", "", "only builds in this status: "+statusList())
	f.IntVar(&o.limit, "limit", 20, "at most this many builds (0: all)")
	f.StringVar(&o.since, "since", "", "only builds created within this duration, as 30m, 12h or 7d")
	f.BoolVar(&o.json, "json", false, "print a JSON array of records (field names are the record's attribute names)")
	cmd.RegisterFlagCompletionFunc("status", cobra.FixedCompletions(statusNames(), cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// statusNames are the statuses --status takes, as its completions offer them.
func statusNames() []string {
	s := make([]string, len(records.Statuses))
	for i, st := range records.Statuses {
		s[i] = string(st)
	}
	return s
}

// statusList is statusNames for help and error messages.
func statusList() string { return strings.Join(statusNames(), ", ") }

// toListOptions checks the flags and turns them into a store.
func (o listOptions) toListOptions(now time.Time) (store.ListOptions, error) {
	lo := store.ListOptions{Limit: o.limit}
	if o.limit < 0 {
		return lo, fmt.Errorf("--limit %d: must be 0 (all) or more", o.limit)
	}
	if o.status != "" {
		lo.Status = records.Status(strings.ToUpper(o.status))
		if !lo.Status.Valid() {
			return lo, fmt.Errorf("--status %s: unknown status; use one of %s", o.status, statusList())
		}
	}
	if o.since != "" {
		d, err := parseSince(o.since)
		if err != nil {
			return lo, err
		}
		lo.Since = now.Add(-d)
	}
	return lo, nil
}

// parseSince parses a Go duration, or a number of days as "7d".
func parseSince(s string) (time.Duration, error) {
	var d time.Duration
	var err error
	if days, ok := strings.CutSuffix(s, "d"); ok {
		var n float64
		n, err = strconv.ParseFloat(days, 64)
		d = time.Duration(n * float64(24*time.Hour))
	} else {
		d, err = time.ParseDuration(s)
	}
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("--since %s: want a positive duration, as 30m, 12h or 7d", s)
	}
	return d, nil
}
