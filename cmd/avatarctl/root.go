package main

import (
	"errors"
	"fmt"
	"runtime/debug"
	"strings"

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

// versionString is version, else the module version and VCS revision the
// Go toolchain recorded in the binary.
func versionString() string {
	if version != "" {
		return version
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := info.Main.Version
	var rev, modified string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if v != "" && v != "(devel)" {
		return v
	}
	if rev == "" {
		return "devel"
	}
	rev = rev[:min(len(rev), 12)]
	if modified == "true" {
		rev += "-dirty"
	}
	return strings.Join([]string{"devel", rev}, "+")
}
