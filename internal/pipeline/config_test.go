package pipeline

import (
	"strings"
	"testing"
	"time"
)

func lookup(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestSubmitConfigFromEnv(t *testing.T) {
	c, err := SubmitConfigFromEnv(lookup(map[string]string{
		EnvBuildsTable: "avatar-builds", EnvMirakoSecretID: "s", EnvHeadStart: "5", EnvPollInterval: "2", EnvDeadline: "600", EnvNotifyOnSubmit: "true",
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := Schedule{HeadStart: 5 * time.Second, Interval: 2 * time.Second, Deadline: 10 * time.Minute}
	if c.Schedule != want || !c.NotifyOnSubmit || c.MirakoURL != "https://mirako.co" {
		t.Errorf("got %+v", c)
	}
	_, err = SubmitConfigFromEnv(lookup(map[string]string{EnvHeadStart: "soon"}))
	for _, want := range []string{"BUILDS_TABLE is not set", "MIRAKO_SECRET_ID is not set", `HEAD_START_SECONDS="soon"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("got %v, want it to say %s", err, want)
		}
	}
}

func TestScheduleStaysInsideTheHistoryLimit(t *testing.T) {
	if got := DefaultSchedule.Checks(); got != 357 {
		t.Errorf("default schedule: got %d checks, want 357", got)
	}
	if err := DefaultSchedule.Validate(); err != nil {
		t.Fatal(err)
	}
	if MaxChecks*EventsPerCheck >= HistoryLimit {
		t.Errorf("worst case %d events reaches the history limit %d", MaxChecks*EventsPerCheck, HistoryLimit)
	}
	tooMany := Schedule{HeadStart: time.Second, Interval: time.Second, Deadline: time.Hour}
	if err := tooMany.Validate(); err == nil || !strings.Contains(err.Error(), "history limit") {
		t.Errorf("got %v, want a refusal naming the history limit", err)
	}
}
