package main

import (
	"errors"
	"fmt"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// rootHelp is the root command's description, before its exit codes.
const rootHelp = `avatarctl uploads portraits to the avatar pipeline, which turns them into
Mirako avatars, and follows and queries the builds.

It works on a deployed stack (--stack, default $AVATAR_STACK, else
avatar-pipeline: the bucket, table and state machine come from the
CloudFormation stack's outputs) or on the local stack (--local; start it
with "make local" or "avatarctl local").

  avatarctl build -i portrait.jpg --name "Ada Lovelace" --wait
  avatarctl list --status READY
  avatarctl view 3f2a9c1b
  avatarctl check *.jpg

build, view, list, wait, retry, check and sweep take --json; a build
record's field names are its attribute names. NO_COLOR turns colours off, as
does output that is not a terminal.`

// newRootCmd returns the avatarctl command with its subcommands, the global
// flags the pipeline commands share, the version and the exit code help.
func newRootCmd() *cobra.Command {
	g := &globalOptions{}
	root := &cobra.Command{
		Use:     "avatarctl",
		Short:   "Build Mirako avatars from portraits and follow the pipeline",
		Long:    rootHelp + "\n\n" + exitCodesHelp,
		Version: versionString(),
		// execute prints errors, so that an outcome already shown (a
		// REJECTED build) ends with its exit code and no extra message.
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetFlagErrorFunc(usageError)
	g.addFlags(root)
	root.AddCommand(newBuildCmd(g), newViewCmd(g), newListCmd(g), newWaitCmd(g), newRetryCmd(g), newSweepCmd(g),
		newCheckCmd(), newLocalCmd(), newSimCmd())
	return root
}

// execute runs the root command, prints its error, if any, and returns the
// exit code.
func execute(root *cobra.Command) int {
	_, err := root.ExecuteC()
	if err == nil {
		return exitOK
	}
	var ce *codeError
	if !errors.As(err, &ce) || ce.msg != "" {
		fmt.Fprintln(root.ErrOrStderr(), "Error:", err)
	}
	return exitCode(err)
}

// version is avatarctl's version, set when building a release:
//
//	go build -ldflags "-X main.version=v1.2.0" ./cmd/avatarctl
var version string

// versionString is version, else the version the Go toolchain recorded in
// the binary: a tag, or a pseudo-version naming the commit (with +dirty for
// uncommitted changes), as go build does since Go 1.24.
func versionString() string {
	if version != "" {
		return version
	}
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" && info.Main.Version != "(devel)" {
		return info.Main.Version
	}
	return "devel"
}
