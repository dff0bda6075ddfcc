package metrics

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/avatar-pipeline/avatar-pipeline/internal/records"
)

// emf is the EMF specification's structure, for checking lines against it.
type emf struct {
	AWS struct {
		Timestamp         *int64 `json:"Timestamp"`
		CloudWatchMetrics []struct {
			Namespace  string
			Dimensions [][]string
			Metrics    []struct{ Name, Unit string }
		}
	} `json:"_aws"`
}

var validUnits = []string{"Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes",
	"Terabytes", "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count", "Bytes/Second",
	"Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second", "Bits/Second", "Kilobits/Second",
	"Megabits/Second", "Gigabits/Second", "Terabits/Second", "Count/Second", "None"}

// parse checks one line against the EMF rules and returns its values.
func parse(t *testing.T, line string) (map[string]any, map[string]string) {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal([]byte(line), &doc); err != nil {
		t.Fatalf("not JSON: %v: %s", err, line)
	}
	var e emf
	json.Unmarshal([]byte(line), &e)
	if e.AWS.Timestamp == nil || len(e.AWS.CloudWatchMetrics) != 1 {
		t.Fatalf("no _aws Timestamp or CloudWatchMetrics: %s", line)
	}
	d := e.AWS.CloudWatchMetrics[0]
	if d.Namespace != Namespace {
		t.Errorf("got namespace %q, want %q", d.Namespace, Namespace)
	}
	units := map[string]string{}
	for _, m := range d.Metrics {
		if !slices.Contains(validUnits, m.Unit) {
			t.Errorf("metric %s has unit %q, not an EMF unit", m.Name, m.Unit)
		}
		if _, ok := doc[m.Name].(float64); !ok {
			t.Errorf("metric %s has no numeric value in the line", m.Name)
		}
		units[m.Name] = m.Unit
	}
	for _, set := range d.Dimensions {
		if len(set) == 0 || len(set) > 30 {
			t.Errorf("dimension set %v: EMF wants 1 to 30 names", set)
		}
		for _, name := range set {
			if _, ok := doc[name].(string); !ok {
				t.Errorf("dimension %s has no string value in the line", name)
			}
		}
	}
	return doc, units
}

func TestBuildMetrics(t *testing.T) {
	tests := []struct {
		name       string
		rec        records.Record
		wantValues map[string]float64
		wantAbsent []string
	}{
		{name: "ready", rec: records.Record{BuildID: "b1", Status: records.StatusReady, AvatarID: "a1", Checks: 52, Size: 482113, BuildSeconds: 2652},
			wantValues: map[string]float64{Builds: 1, BuildSeconds: 2652, StatusChecks: 52, SubmitBytes: 482113}},
		{name: "error", rec: records.Record{BuildID: "b2", Status: records.StatusError, AvatarID: "a2", Checks: 9, Size: 1000, BuildSeconds: 300},
			wantValues: map[string]float64{Builds: 1, BuildSeconds: 300, StatusChecks: 9, SubmitBytes: 1000}},
		{name: "rejected never reached Mirako", rec: records.Record{BuildID: "b3", Status: records.StatusRejected, Size: 7},
			wantValues: map[string]float64{Builds: 1}, wantAbsent: []string{BuildSeconds, StatusChecks, SubmitBytes}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			e := &Emitter{W: &buf, Now: func() time.Time { return time.UnixMilli(1700000000123) }}
			e.Build(tc.rec)
			lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
			if len(lines) != 1 {
				t.Fatalf("got %d lines, want 1", len(lines))
			}
			doc, units := parse(t, lines[0])
			if ts := doc["_aws"].(map[string]any)["Timestamp"]; ts != 1700000000123.0 {
				t.Errorf("got Timestamp %v, want 1700000000123 (the Emitter's clock)", ts)
			}
			if doc[DimStatus] != string(tc.rec.Status) || doc["build_id"] != tc.rec.BuildID {
				t.Errorf("got Status %v build_id %v, want %s %s", doc[DimStatus], doc["build_id"], tc.rec.Status, tc.rec.BuildID)
			}
			for name, want := range tc.wantValues {
				if got := doc[name]; got != want {
					t.Errorf("%s: got %v, want %v", name, got, want)
				}
			}
			for _, name := range tc.wantAbsent {
				if _, ok := units[name]; ok {
					t.Errorf("%s is reported for a build that never reached Mirako", name)
				}
			}
			if units[Builds] != "Count" || (units[BuildSeconds] != "" && units[BuildSeconds] != "Seconds") {
				t.Errorf("got units %v", units)
			}
		})
	}
}

func TestNonTerminalAndNilRecordNothing(t *testing.T) {
	var buf bytes.Buffer
	(&Emitter{W: &buf}).Build(records.Record{Status: records.StatusPending})
	var nilEmitter *Emitter
	nilEmitter.Build(records.Record{Status: records.StatusReady})
	nilEmitter.MirakoError(500, "x")
	if buf.Len() != 0 {
		t.Errorf("got %q, want nothing", buf.String())
	}
}

func TestMirakoError(t *testing.T) {
	var buf bytes.Buffer
	e := &Emitter{W: &buf}
	e.MirakoError(429, "build avatar b1")
	e.MirakoError(0, "check status of b1")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	for i, want := range []string{"429", "none"} {
		doc, units := parse(t, lines[i])
		if doc[DimStatusCode] != want || doc[MirakoErrors] != 1.0 || units[MirakoErrors] != "Count" {
			t.Errorf("line %d: got %v, want StatusCode %s and MirakoErrors 1", i, doc, want)
		}
	}
}
