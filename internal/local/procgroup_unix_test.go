//go:build unix

package local

import (
	"os/exec"
	"syscall"
)

// groupGone reports whether no process of the command's group is left.
func groupGone(cmd *exec.Cmd) bool {
	return cmd.Process != nil && syscall.Kill(-cmd.Process.Pid, 0) == syscall.ESRCH
}
