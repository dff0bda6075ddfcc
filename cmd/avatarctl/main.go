// Command avatarctl is the command-line tool of the avatar pipeline: it uploads portraits
// (build), follows and queries builds (wait, view, list, retry), checks portraits (check), and
// runs the Mirako simulator (sim). README.md describes the commands and the exit codes.
package main

import (
	"os"

	"github.com/spf13/cobra"
)

func main() {
	os.Exit(execute(newRootCmd()))
}

// newRootCmd returns the avatarctl command with its subcommands.
func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:          "avatarctl",
		Short:        "Build Mirako avatars from portraits and follow the pipeline",
		SilenceUsage: true,
	}
	root.AddCommand(newSimCmd())
	root.AddCommand(newLocalCmd())
	setupRoot(root)
	return root
}
