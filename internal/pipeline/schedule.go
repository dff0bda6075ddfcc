package pipeline

import (
	"fmt"
	"time"
)

// Schedule is the poll schedule: the first wait after submission (head
// start), the wait between checks, and how long after submission polling
// gives up with TIMED_OUT.
type Schedule struct {
	HeadStart time.Duration
	Interval  time.Duration
	Deadline  time.Duration
}

// DefaultSchedule: Mirako builds take minutes to ~45 minutes, so checking
// before two minutes is wasted; every 30 s keeps detection latency under
// half a minute; three hours is four times the longest build we know of.
var DefaultSchedule = Schedule{HeadStart: 120 * time.Second, Interval: 30 * time.Second, Deadline: 3 * time.Hour}

// HistoryLimit is Step Functions' limit on events in one execution's history.
const HistoryLimit = 25000

// EventsPerCheck is the most history events one trip round the poll loop
// adds: Wait entered/exited (2), the CheckStatus task (scheduled, started,
// succeeded, entered, exited: 5), the Choice (2), and a progress record
// write (5) on the trips where the status changed.
const EventsPerCheck = 14

// MaxChecks bounds the poll loop independently of the clock: with a day in
// the queue before it, that many checks stay under the history limit even
// if every one met every fault the workflow retries (history_test.go).
// Validate refuses schedules that would need more.
const MaxChecks = 450

// Validate rejects a schedule whose loop could approach the history limit.
func (s Schedule) Validate() error {
	if s.HeadStart <= 0 || s.Interval <= 0 || s.Deadline <= 0 {
		return fmt.Errorf("poll schedule %v: every duration must be positive", s)
	}
	if checks := s.Checks(); checks > MaxChecks {
		return fmt.Errorf("poll schedule: a %s deadline polled every %s takes %d checks, more than the %d the history limit allows; poll less often or shorten the deadline",
			s.Deadline, s.Interval, checks, MaxChecks)
	}
	return nil
}

// Checks is the most status checks a build can take under this schedule.
func (s Schedule) Checks() int {
	if s.Deadline <= s.HeadStart {
		return 1
	}
	return 1 + int((s.Deadline-s.HeadStart+s.Interval-1)/s.Interval)
}

// Next returns the wait before the next check: the interval, cut short so
// the last check lands on the deadline, and at least one second.
func (s Schedule) Next(now, deadline time.Time) time.Duration {
	wait := s.Interval
	if left := deadline.Sub(now); left < wait {
		wait = left
	}
	if wait < time.Second {
		wait = time.Second
	}
	return wait
}

// Seconds rounds d up to whole seconds, the unit of the Wait state.
func Seconds(d time.Duration) int { return int((d + time.Second - 1) / time.Second) }
