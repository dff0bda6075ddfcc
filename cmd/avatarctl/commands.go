package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/avatar-pipeline/avatar-pipeline/internal/records"
	"github.com/avatar-pipeline/avatar-pipeline/internal/records/query"
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

// usageError is a usage mistake found after the flags parsed.
func usageError(cmd *cobra.Command, err error) error {
	return fmt.Errorf("%w\nRun '%s --help' for usage.", err, cmd.CommandPath())
}

// find reads the build ref names (a build id, a unique prefix of one, or
// an avatar id).
func find(ctx context.Context, c *conn, ref string) (records.Record, error) {
	rec, err := c.reader.Find(ctx, ref)
	if errors.Is(err, query.ErrNotFound) {
		return rec, fmt.Errorf("%w (looked in %s); list the builds with 'avatarctl list'", err, c.where())
	}
	return rec, err
}
