package pipeline

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/avatar-pipeline/avatar-pipeline/internal/mirako"
)

// Environment variable names. template.yaml sets exactly these, and the
// local stack passes the same keys to its in-process handlers.
const (
	EnvBuildsTable      = "BUILDS_TABLE"
	EnvMirakoURL        = "MIRAKO_API_URL"
	EnvMirakoSecretID   = "MIRAKO_SECRET_ID"
	EnvHeadStart        = "HEAD_START_SECONDS"
	EnvPollInterval     = "POLL_INTERVAL_SECONDS"
	EnvDeadline         = "DEADLINE_SECONDS"
	EnvNotifyOnSubmit   = "NOTIFY_ON_SUBMIT"
	EnvLearnedHeadStart = "LEARNED_HEAD_START"
	EnvTopicARN         = "TOPIC_ARN"
)

// SubmitEnv, CheckStatusEnv and NotifyEnv list each function's variables.
var (
	SubmitEnv      = []string{EnvBuildsTable, EnvMirakoURL, EnvMirakoSecretID, EnvHeadStart, EnvPollInterval, EnvDeadline, EnvNotifyOnSubmit, EnvLearnedHeadStart}
	CheckStatusEnv = []string{EnvMirakoURL, EnvMirakoSecretID, EnvPollInterval}
	NotifyEnv      = []string{EnvTopicARN}
)

// SubmitConfig configures the Submit function.
type SubmitConfig struct {
	Table          string
	MirakoURL      string
	SecretID       string
	Schedule       Schedule
	NotifyOnSubmit bool
	// LearnedHeadStart chooses each build's first wait from recent build
	// times (see LearnedHeadStart) instead of Schedule.HeadStart alone.
	LearnedHeadStart bool
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

// env reads variables through a lookup function and remembers the first
// problem, so a config loader reads like a list of fields.
type env struct {
	get func(string) string
	err []string
}

func (e *env) required(key string) string {
	v := strings.TrimSpace(e.get(key))
	if v == "" {
		e.err = append(e.err, key+" is not set")
	}
	return v
}

func (e *env) seconds(key string, def time.Duration) time.Duration {
	v := strings.TrimSpace(e.get(key))
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		e.err = append(e.err, fmt.Sprintf("%s=%q is not a positive number of seconds", key, v))
		return def
	}
	return time.Duration(n) * time.Second
}

func (e *env) bool(key string) bool {
	v := strings.TrimSpace(e.get(key))
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

// SubmitConfigFromEnv reads the Submit function's configuration.
func SubmitConfigFromEnv(getenv func(string) string) (SubmitConfig, error) {
	e := &env{get: getenv}
	c := SubmitConfig{
		Table:     e.required(EnvBuildsTable),
		MirakoURL: orDefault(getenv(EnvMirakoURL), mirako.DefaultBaseURL),
		SecretID:  e.required(EnvMirakoSecretID),
		Schedule: Schedule{
			HeadStart: e.seconds(EnvHeadStart, DefaultSchedule.HeadStart),
			Interval:  e.seconds(EnvPollInterval, DefaultSchedule.Interval),
			Deadline:  e.seconds(EnvDeadline, DefaultSchedule.Deadline),
		},
		NotifyOnSubmit:   e.bool(EnvNotifyOnSubmit),
		LearnedHeadStart: e.bool(EnvLearnedHeadStart),
	}
	if err := e.done("submit"); err != nil {
		return c, err
	}
	return c, c.Schedule.Validate()
}

// CheckStatusConfigFromEnv reads the CheckStatus function's configuration.
func CheckStatusConfigFromEnv(getenv func(string) string) (CheckStatusConfig, error) {
	e := &env{get: getenv}
	c := CheckStatusConfig{
		MirakoURL: orDefault(getenv(EnvMirakoURL), mirako.DefaultBaseURL),
		SecretID:  e.required(EnvMirakoSecretID),
		Interval:  e.seconds(EnvPollInterval, DefaultSchedule.Interval),
	}
	return c, e.done("checkstatus")
}

// NotifyConfigFromEnv reads the Notify function's configuration.
func NotifyConfigFromEnv(getenv func(string) string) (NotifyConfig, error) {
	e := &env{get: getenv}
	c := NotifyConfig{TopicARN: e.required(EnvTopicARN)}
	return c, e.done("notify")
}

func orDefault(v, def string) string {
	if v = strings.TrimSpace(v); v != "" {
		return v
	}
	return def
}
