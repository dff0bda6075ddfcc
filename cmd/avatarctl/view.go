package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"
)

func newViewCmd(g *globalOptions) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "view ID",
		Short: "Show a build",
		Long: `Show a build's whole record: status, name, avatar and themes, reason,
the uploaded object, image, status checks, times and execution.

ID is a build id, a unique prefix of one (at least 4 characters), or the id
of the avatar a build made. A prefix is looked up by scanning the table's
keys, because DynamoDB cannot query a key by prefix: on a large table, give
the whole id.`,
		Example: `  avatarctl view 3f2a9c1b
  avatarctl view --json 3f2a9c1b7d0e4a5f8b6c2d1e0f9a8b7c | jq -r .avatar_id`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: g.runE(func(cmd *cobra.Command, args []string) error {
			c, rec, err := g.find(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return writeJSON(out, rec)
			}
			if err := writeRecord(out, rec, styleFor(out)); err != nil {
				return err
			}
			if e := estimate(cmd.Context(), c.reader, rec, time.Now()); e != "" {
				_, err = fmt.Fprintf(out, "%s %s\n", pad("Estimate:", 12), e)
			}
			return err
		}),
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the record as a JSON object (field names are the record's attribute names)")
	return cmd
}
