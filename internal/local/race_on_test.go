//go:build race

package local

// raceEnabled tells the tests that the race detector is on: the stack runs
// several times slower, so the heaviest suites use fewer uploads.
const raceEnabled = true
