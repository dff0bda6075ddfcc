package pipeline_test

import (
	"encoding/json"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/avatar-pipeline/avatar-pipeline/internal/pipeline"
	"github.com/avatar-pipeline/avatar-pipeline/statemachine"
)

// A path to a field that is absent is a States.Runtime error, which no
// Catch sees: the execution fails and the record stays where it was.
// TestEveryPathReadIsPresent proves from build.asl.json and the Go types
// that every path a state reads is present in every document that can
// reach it.

type fields map[string]bool

// stateFields are the top-level fields every Lambda result has: those of
// pipeline.State's JSON without omitempty, and the ones it always writes.
func stateFields() fields {
	out := fields{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for i := range t.NumField() {
			f := t.Field(i)
			tag, ok := f.Tag.Lookup("json")
			if f.Anonymous && !ok {
				walk(f.Type)
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			if name != "-" && !strings.Contains(opts, "omitempty") {
				out[name] = true
			}
		}
	}
	walk(reflect.TypeFor[pipeline.State]())
	for _, k := range pipeline.AlwaysPresent() {
		out[k] = true
	}
	return out
}

// TestStateWritesItsFields: the fields stateFields counts on are in the
// JSON of an empty State.
func TestStateWritesItsFields(t *testing.T) {
	b, err := json.Marshal(pipeline.State{})
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]json.RawMessage
	json.Unmarshal(b, &got)
	for k := range stateFields() {
		if _, ok := got[k]; !ok {
			t.Errorf("an empty State's JSON has no %q", k)
		}
	}
}

var pathRE = regexp.MustCompile(`(?:^|[^$])\$\.([A-Za-z_][A-Za-z0-9_]*)((?:\.[A-Za-z_][A-Za-z0-9_]*)*)`)

// reads lists the paths a state reads ("field" or "error.Error").
func reads(s statemachine.State) []string {
	var out []string
	add := func(expr string) {
		for _, m := range pathRE.FindAllStringSubmatch(expr, -1) {
			p := m[1]
			if m[1] == "error" && m[2] != "" {
				p += "." + strings.Split(m[2], ".")[1]
			}
			out = append(out, p)
		}
	}
	var params func(v any)
	params = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				if s, ok := e.(string); ok && strings.HasSuffix(k, ".$") {
					add(s)
				}
				params(e)
			}
		case []any:
			for _, e := range x {
				params(e)
			}
		}
	}
	params(s.Parameters)
	add(s.SecondsPath)
	if s.InputPath != nil {
		add(*s.InputPath)
	}
	// An IsPresent test guards the reads of its siblings in an And, and
	// everything nested in them (Step Functions stops at the first false).
	var rules func(rs []statemachine.Rule, outer map[string]bool, and bool)
	rules = func(rs []statemachine.Rule, outer map[string]bool, and bool) {
		guarded := maps.Clone(outer)
		for _, r := range rs {
			if r.IsPresent != nil && (and || len(rs) == 1) {
				guarded[r.Variable] = true
			}
		}
		for _, r := range rs {
			if r.Variable != "" && r.IsPresent == nil && !guarded[r.Variable] {
				add(r.Variable)
			}
			rules(r.And, guarded, true)
			rules(r.Or, guarded, false)
			if r.Not != nil {
				rules([]statemachine.Rule{*r.Not}, guarded, false)
			}
		}
	}
	for _, c := range s.Choices {
		rules([]statemachine.Rule{c}, map[string]bool{}, false)
	}
	return out
}

// flow is what a state passes on along one edge: its output's fields.
func flow(s statemachine.State, in fields) fields {
	out := maps.Clone(in)
	switch {
	case s.OutputPath != nil && *s.OutputPath == "$.Payload":
		out = stateFields()
	case s.Type == "Pass" && len(s.ResultPath) > 0:
		var rp string
		json.Unmarshal(s.ResultPath, &rp)
		out[strings.TrimPrefix(rp, "$.")] = true
	}
	return out
}

func TestEveryPathReadIsPresent(t *testing.T) {
	m := statemachine.Build()
	present := map[string]fields{m.StartAt: {}} // the execution's input: nothing assumed
	meet := func(state string, in fields) bool {
		old, seen := present[state]
		if !seen {
			present[state] = maps.Clone(in)
			return true
		}
		changed := false
		for k := range old {
			if !in[k] {
				delete(old, k)
				changed = true
			}
		}
		return changed
	}
	for queue := []string{m.StartAt}; len(queue) > 0; queue = queue[1:] {
		name := queue[0]
		s := m.States[name]
		in := present[name]
		out := flow(s, in)
		var next []string
		for _, n := range []string{s.Next, s.Default} {
			if n != "" && meet(n, out) {
				next = append(next, n)
			}
		}
		for _, c := range s.Choices {
			guarded := maps.Clone(out)
			for _, r := range append([]statemachine.Rule{c}, c.And...) {
				if r.IsPresent != nil && *r.IsPresent {
					guarded[strings.TrimPrefix(r.Variable, "$.")] = true
				}
			}
			if meet(c.Next, guarded) {
				next = append(next, c.Next)
			}
		}
		for _, c := range s.Catch {
			caught := maps.Clone(in) // a Catch adds its error to the state's input
			if c.ResultPath != nil {
				f := strings.TrimPrefix(*c.ResultPath, "$.")
				caught[f], caught[f+".Error"] = true, true
			}
			if meet(c.Next, caught) {
				next = append(next, c.Next)
			}
		}
		queue = append(queue, next...)
	}
	checked := 0
	for _, name := range slices.Sorted(maps.Keys(m.States)) {
		if raw, _ := json.Marshal(m.States[name]); strings.Contains(string(raw), "States.StringToJson") {
			t.Errorf("state %s parses JSON with States.StringToJson, which fails uncaught on text that is not JSON", name)
		}
		for _, p := range reads(m.States[name]) {
			checked++
			if !present[name][p] {
				t.Errorf("state %s reads $.%s, which some document that reaches it lacks (a States.Runtime error)", name, p)
			}
		}
	}
	if checked < 30 {
		t.Errorf("checked only %d reads: the walk misses the definition's paths", checked)
	}
}
