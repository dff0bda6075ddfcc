//go:build !unix

package local

import "os/exec"

// groupGone reports whether the command's process has exited.
func groupGone(cmd *exec.Cmd) bool {
	return cmd.ProcessState != nil
}
