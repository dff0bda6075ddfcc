package statemachine

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/avatar-pipeline/avatar-pipeline/internal/records"
)

func load(t *testing.T) Machine {
	t.Helper()
	m, err := Parse(Definition)
	if err != nil {
		t.Fatalf("build.asl.json does not parse: %v", err)
	}
	return m
}

func TestTransitionsExistAndEveryStateIsReachable(t *testing.T) {
	m := load(t)
	if _, ok := m.States[m.StartAt]; !ok {
		t.Fatalf("StartAt %q is not a state", m.StartAt)
	}
	seen := map[string]bool{m.StartAt: true}
	queue := []string{m.StartAt}
	for len(queue) > 0 {
		name := queue[0]
		queue = queue[1:]
		s := m.States[name]
		if !s.Terminal() && len(s.Targets(true)) == 0 {
			t.Errorf("state %s has no way out", name)
		}
		for _, next := range s.Targets(true) {
			if _, ok := m.States[next]; !ok {
				t.Errorf("state %s moves to %q, which does not exist", name, next)
				continue
			}
			if !seen[next] {
				seen[next] = true
				queue = append(queue, next)
			}
		}
	}
	for name := range m.States {
		if !seen[name] {
			t.Errorf("state %s is unreachable", name)
		}
	}
}

func TestEveryTaskRetriesAndCatches(t *testing.T) {
	standard := []string{"Lambda.ServiceException", "Lambda.AWSLambdaException",
		"Lambda.SdkClientException", "Lambda.TooManyRequestsException"}
	for name, s := range load(t).States {
		if s.Type != "Task" {
			continue
		}
		caught := false
		for _, c := range s.Catch {
			caught = caught || slices.Contains(c.ErrorEquals, "States.ALL")
		}
		if !caught {
			t.Errorf("task %s has no Catch for States.ALL", name)
		}
		if s.Resource != "arn:${Partition}:states:::lambda:invoke" {
			continue
		}
		var retried []string
		for _, r := range s.Retry {
			retried = append(retried, r.ErrorEquals...)
		}
		for _, e := range standard {
			if !slices.Contains(retried, e) {
				t.Errorf("lambda task %s does not retry %s", name, e)
			}
		}
		// A function that cannot start for good says why (StartupError);
		// one that cannot start for now says AWSUnavailableError.
		if slices.Contains(retried, "StartupError") {
			t.Errorf("lambda task %s retries StartupError, which no retry mends", name)
		}
	}
}

func TestMirakoTasksRetryTypedErrors(t *testing.T) {
	m := load(t)
	for _, name := range []string{"Submit"} {
		var retried []string
		for _, r := range m.States[name].Retry {
			retried = append(retried, r.ErrorEquals...)
		}
		for _, e := range []string{"RateLimitedError", "MirakoUnavailableError"} {
			if !slices.Contains(retried, e) {
				t.Errorf("%s does not retry %s", name, e)
			}
		}
		if slices.Contains(retried, "MirakoRejectedError") || slices.Contains(retried, "States.ALL") {
			t.Errorf("%s retries permanent errors: %v", name, retried)
		}
	}
}

func TestRecordWritesUseRecordAttributes(t *testing.T) {
	writes := 0
	for name, s := range load(t).States {
		if s.Resource != "arn:${Partition}:states:::dynamodb:updateItem" || name == "ReleaseSlot" {
			continue
		}
		writes++
		if s.Parameters["TableName"] != "${BuildsTable}" {
			t.Errorf("%s writes to %v, want ${BuildsTable}", name, s.Parameters["TableName"])
		}
		names, _ := s.Parameters["ExpressionAttributeNames"].(map[string]any)
		for alias, attr := range names {
			if !slices.Contains(records.Attributes, attr.(string)) {
				t.Errorf("%s: %s names %q, which is not a record attribute", name, alias, attr)
			}
		}
		expr, _ := s.Parameters["UpdateExpression"].(string)
		cond, _ := s.Parameters["ConditionExpression"].(string)
		if !strings.Contains(cond, "#execution_arn = :execution") {
			t.Errorf("%s: ConditionExpression %q does not check the execution owns the record", name, cond)
		}
		for _, word := range strings.FieldsFunc(expr+" "+cond, func(r rune) bool { return r == ' ' || r == ',' || r == '=' }) {
			if strings.HasPrefix(word, "#") {
				if _, ok := names[word]; !ok {
					t.Errorf("%s: %s is used but not defined in ExpressionAttributeNames", name, word)
				}
			}
		}
	}
	if writes < 5 {
		t.Errorf("got %d record writes, want at least 5 (progress, ready, ended, rejected, failed)", writes)
	}
}

func TestRender(t *testing.T) {
	subs := map[string]string{}
	for _, k := range Placeholders() {
		subs[k] = "value-of-" + k
	}
	want := []string{"BuildsTable", "CheckStatusFunctionArn", "NotifyFunctionArn", "Partition", "SubmitFunctionArn"}
	if got := Placeholders(); !slices.Equal(got, want) {
		t.Fatalf("placeholders: got %v, want %v", got, want)
	}
	out, err := Render(subs)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "${") {
		t.Errorf("rendered definition still has a placeholder")
	}
	if !json.Valid([]byte(out)) {
		t.Errorf("rendered definition is not valid JSON")
	}
	delete(subs, "BuildsTable")
	subs["Extra"] = "x"
	if _, err := Render(subs); err == nil || !strings.Contains(err.Error(), "BuildsTable") || !strings.Contains(err.Error(), "Extra") {
		t.Errorf("Render with a missing and an unused key: got %v, want an error naming both", err)
	}
}
