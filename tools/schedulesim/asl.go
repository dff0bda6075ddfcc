package schedulesim

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/avatar-pipeline/avatar-pipeline/statemachine"
)

// Task is a Task state a walk reaches, as a Script sees it.
type Task struct {
	// State is the state's name.
	State string
	// Function is the substitution key of the Lambda function a
	// lambda:invoke task calls ("CheckStatusFunctionArn"); empty for other
	// service integrations.
	Function string
	// Step is the payload's "step" field, if any (Submit's admit or submit).
	Step string
}

// Script plays the functions during a walk: given a Lambda task, it returns
// the function's result (the fields the Choice states read: outcome,
// status, notify). It is called for every lambda:invoke task, in order.
type Script func(Task) map[string]any

// Trace is the path of one execution.
type Trace struct {
	// States lists the states entered, in order; each is one state
	// transition as Step Functions bills them.
	States []string
	// Invocations counts Lambda invocations by function (substitution key).
	Invocations map[string]int
}

// maxSteps bounds a walk, in case a script never finishes the build.
const maxSteps = 100000

// Walk runs the state machine definition (Amazon States Language) from its
// StartAt to an end, with script standing in for the Lambda functions, and
// returns the states it entered. It models what the success paths use:
// Task, Choice, Wait, Pass (as a no-op), Succeed and Fail states; a task's
// result either replaces the state document (OutputPath "$.Payload") or is
// discarded (ResultPath null); Choice rules with StringEquals,
// BooleanEquals, IsPresent, And, Or and Not on "$.field" variables.
// Anything else is an error, so that a change to the definition the walk
// cannot follow is noticed instead of miscounted.
func Walk(definition []byte, script Script) (Trace, error) {
	def, err := statemachine.Parse(definition)
	if err != nil {
		return Trace{}, fmt.Errorf("walk the state machine: %w", err)
	}
	tr := Trace{Invocations: map[string]int{}}
	doc := map[string]any{}
	name := def.StartAt
	for range maxSteps {
		st, ok := def.States[name]
		if !ok {
			return tr, fmt.Errorf("walk the state machine: no state %q", name)
		}
		tr.States = append(tr.States, name)
		next := st.Next
		switch st.Type {
		case "Task":
			if err := runTask(name, st, script, &tr, &doc); err != nil {
				return tr, err
			}
		case "Choice":
			next = st.Default
			for _, r := range st.Choices {
				ok, err := eval(r, doc)
				if err != nil {
					return tr, fmt.Errorf("walk the state machine: state %s: %w", name, err)
				}
				if ok {
					next = r.Next
					break
				}
			}
		case "Wait", "Pass", "Succeed", "Fail":
		default:
			return tr, fmt.Errorf("walk the state machine: state %s has type %q, which the walk does not model", name, st.Type)
		}
		if st.Terminal() {
			return tr, nil
		}
		if next == "" {
			return tr, fmt.Errorf("walk the state machine: state %s has no next state", name)
		}
		name = next
	}
	return tr, fmt.Errorf("walk the state machine: no end after %d states", maxSteps)
}

func runTask(name string, st statemachine.State, script Script, tr *Trace, doc *map[string]any) error {
	discard := bytes.Equal(bytes.TrimSpace(st.ResultPath), []byte("null"))
	if !strings.HasSuffix(st.Resource, ":lambda:invoke") {
		if !discard {
			return fmt.Errorf("walk the state machine: task %s keeps the result of %s, which the walk does not model", name, st.Resource)
		}
		return nil
	}
	fn, _ := st.Parameters["FunctionName"].(string)
	fn = strings.TrimSuffix(strings.TrimPrefix(fn, "${"), "}")
	payload, _ := st.Parameters["Payload"].(map[string]any)
	step, _ := payload["step"].(string)
	tr.Invocations[fn]++
	result := script(Task{State: name, Function: fn, Step: step})
	switch {
	case discard:
	case st.OutputPath != nil && *st.OutputPath == "$.Payload" && len(st.ResultPath) == 0:
		*doc = result
	default:
		return fmt.Errorf("walk the state machine: task %s shapes its output in a way the walk does not model", name)
	}
	return nil
}

// eval applies a Choice rule to the state document.
func eval(r statemachine.Rule, doc map[string]any) (bool, error) {
	switch {
	case len(r.And) > 0:
		for _, sub := range r.And {
			if ok, err := eval(sub, doc); err != nil || !ok {
				return false, err
			}
		}
		return true, nil
	case len(r.Or) > 0:
		for _, sub := range r.Or {
			if ok, err := eval(sub, doc); err != nil || ok {
				return ok, err
			}
		}
		return false, nil
	case r.Not != nil:
		ok, err := eval(*r.Not, doc)
		return !ok, err
	}
	field, ok := strings.CutPrefix(r.Variable, "$.")
	if !ok || strings.ContainsAny(field, ".[") {
		return false, fmt.Errorf("variable %q is not a top-level field", r.Variable)
	}
	v, present := doc[field]
	switch {
	case r.IsPresent != nil:
		return present == *r.IsPresent, nil
	case r.StringEquals != nil:
		s, isString := v.(string)
		if !isString {
			// Step Functions fails the execution on a type mismatch; the
			// definition guards those with IsPresent.
			return false, fmt.Errorf("%s is %v, not a string", r.Variable, v)
		}
		return s == *r.StringEquals, nil
	case r.BooleanEquals != nil:
		b, isBool := v.(bool)
		if !isBool {
			return false, fmt.Errorf("%s is %v, not a boolean", r.Variable, v)
		}
		return b == *r.BooleanEquals, nil
	}
	return false, fmt.Errorf("a rule on %s uses an operator the walk does not model", r.Variable)
}
