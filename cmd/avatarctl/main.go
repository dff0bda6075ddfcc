// Command avatarctl is the command-line tool of the avatar pipeline: it uploads portraits
// (build), follows and queries builds (wait, view, list, retry), re-drives builds whose workflow
// died (sweep), checks portraits (check), and runs the local stack (local) and the Mirako
// simulator (sim). README.md describes the commands and the exit codes.
package main

import "os"

func main() {
	os.Exit(execute(newRootCmd()))
}
