package statemachine

import (
	"encoding/json"
	"fmt"
)

// Machine is a state machine definition in the Amazon States Language, as
// far as the project's checks read it.
type Machine struct {
	StartAt        string
	TimeoutSeconds int
	States         map[string]State
}

// State is one state of a Machine.
type State struct {
	Type        string
	Comment     string
	Next        string
	End         bool
	Default     string
	Resource    string
	Parameters  map[string]any
	InputPath   *string
	OutputPath  *string
	ResultPath  json.RawMessage // absent: "$"; null: the result is discarded
	SecondsPath string
	Result      any
	Choices     []Rule
	Retry       []Retrier
	Catch       []Catcher
	Error       string
	Cause       string
}

// Rule is a Choice rule: a comparison of Variable, or And/Or/Not of rules.
type Rule struct {
	Variable      string
	StringEquals  *string
	StringMatches *string
	BooleanEquals *bool
	IsPresent     *bool
	And, Or       []Rule
	Not           *Rule
	Next          string
}

// Retrier is one entry of a Task's Retry.
type Retrier struct {
	ErrorEquals     []string
	IntervalSeconds float64
	MaxAttempts     *int // nil: the ASL default, 3
	BackoffRate     float64
	MaxDelaySeconds float64
	JitterStrategy  string
}

// Attempts is the most retries the retrier allows.
func (r Retrier) Attempts() int {
	if r.MaxAttempts == nil {
		return 3
	}
	return *r.MaxAttempts
}

// Catcher is one entry of a Task's Catch.
type Catcher struct {
	ErrorEquals []string
	ResultPath  *string
	Next        string
}

// Parse reads a definition.
func Parse(definition []byte) (Machine, error) {
	var m Machine
	if err := json.Unmarshal(definition, &m); err != nil {
		return m, fmt.Errorf("parse the state machine definition: %w", err)
	}
	return m, nil
}

// Build is build.asl.json, parsed.
func Build() Machine {
	m, err := Parse(Definition)
	if err != nil {
		panic(err) // the embedded definition is checked by the package's tests
	}
	return m
}

// Targets lists the states s can go to: Next, Default, the Choice rules'
// and, with caught, the Catchers'.
func (s State) Targets(caught bool) []string {
	var out []string
	for _, n := range []string{s.Next, s.Default} {
		if n != "" {
			out = append(out, n)
		}
	}
	for _, c := range s.Choices {
		out = append(out, c.Next)
	}
	if caught {
		for _, c := range s.Catch {
			out = append(out, c.Next)
		}
	}
	return out
}

// Terminal reports whether an execution ends in s.
func (s State) Terminal() bool { return s.End || s.Type == "Succeed" || s.Type == "Fail" }
