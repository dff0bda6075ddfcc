package local

import (
	"encoding/json"
	"fmt"
	"maps"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/avatar-pipeline/avatar-pipeline/internal/pipeline"
	"github.com/avatar-pipeline/avatar-pipeline/internal/pipeline/webhook"
	"github.com/avatar-pipeline/avatar-pipeline/statemachine"
)

// The local stack defines its resources and functions itself. These tests
// hold them to what AWS would deploy: template.yaml as the SAM translator
// (tools/permissions/translate.py) turns it into plain CloudFormation.

type cfnResource struct {
	Type       string
	Properties map[string]any
}

type cfnTemplate struct {
	Parameters map[string]struct{ Default any }
	Resources  map[string]cfnResource
}

var translated = sync.OnceValues(func() (cfnTemplate, error) {
	var t cfnTemplate
	out, err := exec.Command("python3", filepath.Join("..", "..", "tools", "permissions", "translate.py"),
		filepath.Join("..", "..", "template.yaml")).Output()
	if err != nil {
		return t, fmt.Errorf("translate template.yaml (install the translator with: pip install cfn-lint): %w", err)
	}
	return t, json.Unmarshal(out, &t)
})

func translation(t *testing.T) cfnTemplate {
	t.Helper()
	tmpl, err := translated()
	if err != nil {
		t.Fatal(err)
	}
	return tmpl
}

// resolve turns a translated value into the local stack's: parameters at
// their defaults, resources by their local names.
func resolve(tmpl cfnTemplate, v any) string {
	m, ok := v.(map[string]any)
	if !ok {
		return fmt.Sprint(v)
	}
	ref, _ := m["Ref"].(string)
	if p, ok := tmpl.Parameters[ref]; ok {
		return fmt.Sprint(p.Default)
	}
	return map[string]string{"BuildsTable": TableName, "PortraitBucket": BucketName, "BuildEventsTopic": placeholders.TopicARN,
		"BuildStateMachine": placeholders.StateMachineARN, "WebhookQueue": placeholders.WebhookQueueURL}[ref]
}

// placeholders stand for the resources' names, which only a running stack
// knows.
var placeholders = Resources{TopicARN: "(the topic)", StateMachineARN: "(the state machine)", WebhookQueueURL: "(the queue)"}

// TestFunctionsMatchTheTemplate: each function runs with the variables the
// template gives it, at the template's defaults, and the template's
// timeout.
func TestFunctionsMatchTheTemplate(t *testing.T) {
	tmpl := translation(t)
	env := environment(Options{}, "http://endpoint", "(the simulator)", placeholders)
	var logical []string
	for id, r := range tmpl.Resources {
		if r.Type == "AWS::Lambda::Function" {
			logical = append(logical, id)
		}
	}
	var local []string
	for _, fn := range functions {
		local = append(local, fn.LogicalID)
		r, ok := tmpl.Resources[fn.LogicalID]
		if !ok {
			t.Errorf("the template has no function %s", fn.LogicalID)
			continue
		}
		if got := time.Duration(r.Properties["Timeout"].(float64)) * time.Second; got != fn.Timeout {
			t.Errorf("%s: the template's timeout is %s, the local stack's %s", fn.LogicalID, got, fn.Timeout)
		}
		vars, _ := r.Properties["Environment"].(map[string]any)["Variables"].(map[string]any)
		mine := maps.Clone(env[fn.Name])
		for k := range mine {
			if strings.HasPrefix(k, "AWS_") {
				delete(mine, k)
			}
		}
		if got, want := slices.Sorted(maps.Keys(mine)), slices.Sorted(maps.Keys(vars)); !slices.Equal(got, want) {
			t.Errorf("%s: the local stack sets %v, the template %v", fn.LogicalID, got, want)
		}
		for k, v := range vars {
			want := resolve(tmpl, v)
			switch k {
			case pipeline.EnvMirakoURL:
				want = "(the simulator)" // the local stack's own Mirako
			case webhook.EnvURL:
				want = "http://endpoint" + WebhookPath // the local stack's own receiver
			}
			if mine[k] != want {
				t.Errorf("%s: %s is %q locally, %q in the template", fn.LogicalID, k, mine[k], want)
			}
		}
	}
	if slices.Sort(logical); !slices.Equal(logical, slices.Sorted(slices.Values(local))) {
		t.Errorf("the template's functions %v, the local stack's %v", logical, local)
	}
}

// TestResourcesMatchTheTemplate: the table, the event rule's pattern and
// the state machine's substitutions are the template's.
func TestResourcesMatchTheTemplate(t *testing.T) {
	tmpl := translation(t)
	// The table: keys, attribute types, indexes.
	table := tmpl.Resources["BuildsTable"].Properties
	mine, _ := json.Marshal(TableInput(TableName))
	var local map[string]any
	json.Unmarshal(mine, &local)
	for _, k := range []string{"KeySchema", "AttributeDefinitions", "GlobalSecondaryIndexes", "BillingMode"} {
		if !sameJSON(table[k], local[k]) {
			t.Errorf("table %s: the template has %v, the local stack %v", k, table[k], local[k])
		}
	}
	// The event rule (the sweep's schedule is a rule without a pattern).
	var rule map[string]any
	for _, r := range tmpl.Resources {
		if r.Type == "AWS::Events::Rule" && r.Properties["EventPattern"] != nil {
			rule = r.Properties
		}
	}
	// The local stack takes the whole bucket: PortraitPrefix at its
	// default, empty, which leaves the key out of the pattern.
	obj, _ := rule["EventPattern"].(map[string]any)["detail"].(map[string]any)["object"].(map[string]any)
	if cond, _ := obj["key"].(map[string]any)["Fn::If"].([]any); len(cond) == 3 && cond[0] == "HasPortraitPrefix" {
		delete(obj, "key")
	}
	pattern, _ := json.Marshal(rule["EventPattern"])
	resolved := strings.ReplaceAll(string(pattern), `{"Ref":"PortraitBucket"}`, `"`+BucketName+`"`)
	if !sameJSON(json.RawMessage(resolved), json.RawMessage(EventPattern(BucketName))) {
		t.Errorf("event pattern: the template has %s, the local stack %s", resolved, EventPattern(BucketName))
	}
	// The state machine's substitutions are the definition's placeholders
	// (statemachine.Render refuses any other set).
	subs, _ := tmpl.Resources["BuildStateMachine"].Properties["DefinitionSubstitutions"].(map[string]any)
	if got, want := slices.Sorted(maps.Keys(subs)), statemachine.Placeholders(); !slices.Equal(got, want) {
		t.Errorf("substitutions: the template gives %v, the definition uses %v", got, want)
	}
	if _, err := Definition(); err != nil {
		t.Error(err)
	}
}

// sameJSON compares two values as JSON, ignoring the order of lists of
// objects (CloudFormation does not care for it either) and unset fields.
func sameJSON(a, b any) bool {
	norm := func(v any) any {
		raw, _ := json.Marshal(v)
		var out any
		json.Unmarshal(raw, &out)
		return sortLists(out)
	}
	return reflect.DeepEqual(norm(a), norm(b))
}

func sortLists(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if e == nil {
				delete(x, k) // an unset SDK field
				continue
			}
			x[k] = sortLists(e)
		}
	case []any:
		for i, e := range x {
			x[i] = sortLists(e)
		}
		slices.SortFunc(x, func(a, b any) int {
			ja, _ := json.Marshal(a)
			jb, _ := json.Marshal(b)
			return strings.Compare(string(ja), string(jb))
		})
	}
	return v
}
