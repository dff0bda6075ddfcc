package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/avatar-pipeline/avatar-pipeline/internal/records"
	"github.com/avatar-pipeline/avatar-pipeline/internal/records/store"
)

// runE wraps a command's RunE so that its AWS errors say what to do.
func (g *globalOptions) runE(fn func(*cobra.Command, []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		err := fn(cmd, args)
		if err != nil && g.conn != nil {
			err = g.conn.explain(err)
		}
		return err
	}
}

// usageError is a usage mistake: a flag that does not parse, or one found
// wrong after the flags parsed.
func usageError(cmd *cobra.Command, err error) error {
	return fmt.Errorf("%w\nRun '%s --help' for usage.", err, cmd.CommandPath())
}

// find connects to the stack and reads the build ref names (a build id, a
// unique prefix of one, or an avatar id).
func (g *globalOptions) find(ctx context.Context, ref string) (*conn, records.Record, error) {
	c, err := g.connect(ctx)
	if err != nil {
		return nil, records.Record{}, err
	}
	rec, err := c.reader.Find(ctx, ref)
	if errors.Is(err, store.ErrNotFound) {
		err = fmt.Errorf("%w (looked in %s); list the builds with 'avatarctl list'", err, c.where())
	}
	return c, rec, err
}

// startOptions are the flags of the commands that start a build (build and
// retry): --wait, --json, and wait's own flags for --wait.
type startOptions struct {
	wait bool
	json bool
	waitOptions
}

// report shows a build just started. With --json and no --wait it prints
// v; without --json, headline and the build id, then how to follow the
// build; with --wait it follows the build as wait does, and its outcome
// decides the exit code.
func (o startOptions) report(cmd *cobra.Command, c *conn, buildID, headline string, v any) error {
	out := cmd.OutOrStdout()
	if o.json && !o.wait {
		return writeJSON(out, v)
	}
	if !o.json {
		fmt.Fprintln(out, headline)
		fmt.Fprintf(out, "Build %s\n", buildID)
		if !o.wait {
			fmt.Fprintf(out, "Follow it with: avatarctl wait %s\n", styleFor(out).id(buildID))
			return nil
		}
	}
	return waitAndReport(cmd, c, buildID, o.waitOptions, o.json)
}
