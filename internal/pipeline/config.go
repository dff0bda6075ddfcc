package pipeline

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/avatar-pipeline/avatar-pipeline/internal/mirako"
)

// Environment variable names. template.yaml sets exactly these (the local
// stack too, and its parity test checks both agree).
const (
	EnvBuildsTable      = "BUILDS_TABLE"
	EnvMirakoURL        = "MIRAKO_API_URL"
	EnvMirakoSecretID   = "MIRAKO_SECRET_ID"
	EnvHeadStart        = "HEAD_START_SECONDS"
	EnvPollInterval     = "POLL_INTERVAL_SECONDS"
	EnvDeadline         = "DEADLINE_SECONDS"
	EnvNotifyOnSubmit   = "NOTIFY_ON_SUBMIT"
	EnvLearnedHeadStart = "LEARNED_HEAD_START"
	EnvStrictChecks     = "STRICT_PORTRAIT_CHECKS"
	EnvQueueDeadline    = "QUEUE_DEADLINE_SECONDS"
	EnvMaxInFlight      = "MAX_BUILDS_IN_FLIGHT"
	EnvTopicARN         = "TOPIC_ARN"
	EnvStateMachineARN  = "STATE_MACHINE_ARN"
	EnvSweepAfter       = "SWEEP_AFTER_SECONDS"
)

// SubmitEnv, CheckStatusEnv and NotifyEnv list each function's variables.
var (
	SubmitEnv = []string{EnvBuildsTable, EnvMirakoURL, EnvMirakoSecretID, EnvHeadStart, EnvPollInterval, EnvDeadline,
		EnvNotifyOnSubmit, EnvLearnedHeadStart, EnvStrictChecks, EnvQueueDeadline, EnvMaxInFlight}
	CheckStatusEnv = []string{EnvMirakoURL, EnvMirakoSecretID, EnvPollInterval}
	NotifyEnv      = []string{EnvTopicARN}
	SweepEnv       = []string{EnvBuildsTable, EnvStateMachineARN, EnvSweepAfter}
)

// DefaultSweepAfter is how long a build may go without an update before
// the sweep looks at its execution.
const DefaultSweepAfter = 30 * time.Minute

// SweepConfig configures the Sweep function.
type SweepConfig struct {
	Table, StateMachineARN string
	After                  time.Duration
}

// SweepConfigFromEnv reads the Sweep function's configuration.
func SweepConfigFromEnv(getenv func(string) string) (SweepConfig, error) {
	e := &env{get: getenv}
	c := SweepConfig{Table: e.required(EnvBuildsTable), StateMachineARN: e.required(EnvStateMachineARN), After: e.seconds(EnvSweepAfter, DefaultSweepAfter)}
	return c, e.done("sweep")
}

// DefaultQueueDeadline is how long a build may wait for Mirako's capacity
// before it ends TIMED_OUT.
const DefaultQueueDeadline = 24 * time.Hour

// SubmitConfig configures the Submit function.
type SubmitConfig struct {
	Table          string
	MirakoURL      string
	SecretID       string
	Schedule       Schedule
	NotifyOnSubmit bool
	// LearnedHeadStart chooses each build's first wait from recent build
	// times instead of Schedule.HeadStart alone.
	LearnedHeadStart bool
	// StrictChecks makes every portrait warning a rejection.
	StrictChecks bool
	// QueueDeadline is how long after its upload a build may wait for a
	// slot at Mirako.
	QueueDeadline time.Duration
	// MaxInFlight, when positive, is the most builds the pipeline lets be
	// PENDING or BUILDING at Mirako at once.
	MaxInFlight int
}

// CheckStatusConfig configures the CheckStatus function.
type CheckStatusConfig struct {
	MirakoURL string
	SecretID  string
	Interval  time.Duration
}

// NotifyConfig configures the Notify function.
type NotifyConfig struct {
	TopicARN string
}

// env reads variables and collects every problem, so that a loader reads
// like a list of fields and its error names them all.
type env struct {
	get func(string) string
	err []string
}

func (e *env) value(key string) string { return strings.TrimSpace(e.get(key)) }

func (e *env) required(key string) string {
	v := e.value(key)
	if v == "" {
		e.err = append(e.err, key+" is not set")
	}
	return v
}

func (e *env) int(key string, def, least int) int {
	v := e.value(key)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < least {
		e.err = append(e.err, fmt.Sprintf("%s=%q is not a whole number of at least %d", key, v, least))
		return def
	}
	return n
}

func (e *env) seconds(key string, def time.Duration) time.Duration {
	return time.Duration(e.int(key, int(def/time.Second), 1)) * time.Second
}

func (e *env) bool(key string) bool {
	v := e.value(key)
	if v == "" {
		return false
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		e.err = append(e.err, fmt.Sprintf("%s=%q is not true or false", key, v))
	}
	return b
}

func (e *env) done(what string) error {
	if len(e.err) == 0 {
		return nil
	}
	return fmt.Errorf("%s configuration: %s", what, strings.Join(e.err, "; "))
}

func (e *env) mirakoURL() string {
	if v := e.value(EnvMirakoURL); v != "" {
		return v
	}
	return mirako.DefaultBaseURL
}

// SubmitConfigFromEnv reads the Submit function's configuration.
func SubmitConfigFromEnv(getenv func(string) string) (SubmitConfig, error) {
	e := &env{get: getenv}
	c := SubmitConfig{
		Table:     e.required(EnvBuildsTable),
		MirakoURL: e.mirakoURL(),
		SecretID:  e.required(EnvMirakoSecretID),
		Schedule: Schedule{
			HeadStart: e.seconds(EnvHeadStart, DefaultSchedule.HeadStart),
			Interval:  e.seconds(EnvPollInterval, DefaultSchedule.Interval),
			Deadline:  e.seconds(EnvDeadline, DefaultSchedule.Deadline),
		},
		NotifyOnSubmit:   e.bool(EnvNotifyOnSubmit),
		LearnedHeadStart: e.bool(EnvLearnedHeadStart),
		StrictChecks:     e.bool(EnvStrictChecks),
		QueueDeadline:    e.seconds(EnvQueueDeadline, DefaultQueueDeadline),
		MaxInFlight:      e.int(EnvMaxInFlight, 0, 0),
	}
	if err := e.done("submit"); err != nil {
		return c, err
	}
	return c, c.Schedule.Validate()
}

// CheckStatusConfigFromEnv reads the CheckStatus function's configuration.
func CheckStatusConfigFromEnv(getenv func(string) string) (CheckStatusConfig, error) {
	e := &env{get: getenv}
	c := CheckStatusConfig{MirakoURL: e.mirakoURL(), SecretID: e.required(EnvMirakoSecretID), Interval: e.seconds(EnvPollInterval, DefaultSchedule.Interval)}
	return c, e.done("checkstatus")
}

// NotifyConfigFromEnv reads the Notify function's configuration.
func NotifyConfigFromEnv(getenv func(string) string) (NotifyConfig, error) {
	e := &env{get: getenv}
	c := NotifyConfig{TopicARN: e.required(EnvTopicARN)}
	return c, e.done("notify")
}
