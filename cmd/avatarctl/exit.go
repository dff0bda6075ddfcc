package main

import (
	"errors"
	"fmt"

	"github.com/avatar-pipeline/avatar-pipeline/internal/records"
)

// Exit codes. They are documented in the root command's help (exitCodesHelp)
// and in README.md; scripts rely on them, so a code never changes meaning.
const (
	exitOK          = 0 // success; a build that was waited for is READY; every checked portrait is acceptable
	exitError       = 1 // a usage error or any other error
	exitRejected    = 2 // REJECTED, or a portrait that `check` or `build` refused
	exitBuildError  = 3 // ERROR: Mirako could not build the avatar
	exitTimedOut    = 4 // TIMED_OUT: the pipeline gave up waiting for Mirako
	exitFailed      = 5 // FAILED: the pipeline could not finish the build
	exitWaitTimeout = 6 // the build had not ended when --timeout passed
)

// exitCodesHelp is the exit code table of the root command's help.
const exitCodesHelp = `Exit codes:
  0  success; with build --wait, wait and retry --wait: the build is READY;
     with check: every portrait is acceptable
  1  usage error or any other error
  2  REJECTED: the pipeline rejected the portrait, or check/build refused it
  3  ERROR: Mirako could not build the avatar
  4  TIMED_OUT: the pipeline stopped polling Mirako at its deadline
  5  FAILED: the pipeline could not finish the build
  6  still running when --timeout passed (the build goes on)`

// codeError ends avatarctl with a chosen exit code. An empty message means
// the outcome has been shown already and nothing more is printed.
type codeError struct {
	code int
	msg  string
}

func (e *codeError) Error() string {
	if e.msg == "" {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.msg
}

// exitCode is the process exit code for the error a command returned.
func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var ee *codeError
	if errors.As(err, &ee) {
		return ee.code
	}
	return exitError
}

// statusExitCode is the exit code for a build that ended in status s.
func statusExitCode(s records.Status) int {
	switch s {
	case records.StatusReady:
		return exitOK
	case records.StatusRejected:
		return exitRejected
	case records.StatusError:
		return exitBuildError
	case records.StatusTimedOut:
		return exitTimedOut
	case records.StatusFailed:
		return exitFailed
	}
	return exitError
}

// statusExit is the error (nil for READY) that makes avatarctl exit with
// the code of a build's final status, the status having been shown.
func statusExit(s records.Status) error {
	if code := statusExitCode(s); code != exitOK {
		return &codeError{code: code}
	}
	return nil
}
