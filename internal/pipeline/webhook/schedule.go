package webhook

import (
	"math/rand/v2"
	"time"
)

// Schedule is how long a failed delivery waits before its next attempt.
// The wait is the message's SQS visibility timeout, so the retry costs
// nothing while it waits and survives the function instance.
type Schedule struct {
	// Delays[i] is the wait after attempt i+1 fails; a message gets
	// len(Delays)+1 attempts in all.
	Delays []time.Duration
	// Jitter spreads each wait uniformly over ±Jitter of it (0.1 is ±10 %),
	// so that events which failed together, during an outage of the
	// receiver, do not all come back at the same moment.
	Jitter float64
}

// defaultDelays is Svix's schedule (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, …)
// with its last waits shortened to 8 h, so that the last attempt comes
// about 23.6 hours after the first and the schedule covers a day.
var defaultDelays = [...]time.Duration{
	5 * time.Second, 5 * time.Minute, 30 * time.Minute,
	2 * time.Hour, 5 * time.Hour, 8 * time.Hour, 8 * time.Hour,
}

// MaxAttempts is how many times DefaultSchedule delivers an event. The
// queue's redrive policy must use it as maxReceiveCount, so that the
// message moves to the dead-letter queue when the schedule is done.
const MaxAttempts = len(defaultDelays) + 1

// DefaultSchedule is the production schedule.
var DefaultSchedule = Schedule{Delays: defaultDelays[:], Jitter: 0.1}

// maxVisibility caps a wait. SQS refuses a visibility timeout beyond 12
// hours from when it handed out the message, which was before this
// invocation (the event source mapping's batching window is at most 5
// minutes), so the cap leaves a margin.
const maxVisibility = 12*time.Hour - 15*time.Minute

// Attempts is how many times the schedule delivers an event.
func (s Schedule) Attempts() int { return len(s.Delays) + 1 }

// Delay is the wait after the given attempt (1 for the first) fails,
// whole seconds as SQS counts them; ok is false when it was the last.
func (s Schedule) Delay(attempt int) (d time.Duration, ok bool) {
	attempt = max(attempt, 1)
	if attempt > len(s.Delays) {
		return 0, false
	}
	f := float64(s.Delays[attempt-1]) * (1 + s.Jitter*(2*rand.Float64()-1))
	return min(time.Duration(f), maxVisibility).Round(time.Second), true
}
