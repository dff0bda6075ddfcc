package local

import (
	"testing"

	"github.com/avatar-pipeline/avatar-pipeline/internal/metrics"
	"github.com/avatar-pipeline/avatar-pipeline/internal/records"
)

func TestTallySummarisesEmittedLines(t *testing.T) {
	var tally Tally
	if got := tally.Summary(); got != "no builds finished" {
		t.Errorf("empty: got %q", got)
	}
	e := &metrics.Emitter{W: &tally}
	e.Build(records.Record{Status: records.StatusReady, AvatarID: "a", Checks: 4, BuildSeconds: 20})
	e.Build(records.Record{Status: records.StatusReady, AvatarID: "b", Checks: 6, BuildSeconds: 30})
	e.Build(records.Record{Status: records.StatusRejected})
	e.MirakoError(503, "x")
	tally.Write([]byte("not json\n{\"no\":\"emf\"}\n"))
	want := "3 builds finished: READY 2 (mean 25.0 s), REJECTED 1; 5.0 status checks per build"
	if got := tally.Summary(); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
