// Package avatarpipeline holds the deployment definition of avatar-pipeline:
// the AWS SAM template (template.yaml), embedded, and the few readings of it
// that other code needs.
//
// The local stack builds its bucket, table, topic, event rule and function
// environments from these readings rather than from copies, so a change to
// the template reaches `avatarctl local` (and the tests that compare the two)
// without anyone remembering to mirror it.
//
// The template is parsed with a YAML library that keeps CloudFormation's
// short-form tags (!Ref, !GetAtt, !Sub, ...); they are turned into their long
// forms ({"Ref": ...}, {"Fn::GetAtt": [...]}, {"Fn::Sub": ...}) so the tree
// reads like the JSON CloudFormation itself sees.
package avatarpipeline

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	yaml "github.com/pb33f/go-yaml"
)

// Template is template.yaml as written.
//
//go:embed template.yaml
var Template []byte

// Logical ids of the template's resources that other code refers to.
const (
	SubmitFunction      = "SubmitFunction"
	CheckStatusFunction = "CheckStatusFunction"
	NotifyFunction      = "NotifyFunction"
	BucketResource      = "PortraitBucket"
	TableResource       = "BuildsTable"
	TopicResource       = "BuildEventsTopic"
	StateMachine        = "BuildStateMachine"
	DeadLetterQueue     = "DeadLetterQueue"
	// ObjectCreatedEvent is the state machine's EventBridgeRule event: the
	// S3 "Object Created" rule that starts one execution per upload.
	ObjectCreatedEvent = "ObjectCreated"
)

// Functions lists the logical ids of the Lambda functions.
var Functions = []string{SubmitFunction, CheckStatusFunction, NotifyFunction, "SweepFunction", "WebhookFunction"}

// parsed is the template as a tree of map[string]any, []any and scalars,
// with short-form intrinsic functions in their long form.
var parsed = sync.OnceValues(func() (map[string]any, error) {
	return parse(Template)
})

func parse(src []byte) (map[string]any, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, fmt.Errorf("parse template: %w", err)
	}
	v, err := convert(&doc)
	if err != nil {
		return nil, fmt.Errorf("parse template: %w", err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("parse template: the document is not a mapping")
	}
	return m, nil
}

// convert turns a YAML node into plain Go values, rewriting CloudFormation's
// short-form tags into their long-form mappings.
func convert(n *yaml.Node) (any, error) {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) != 1 {
			return nil, fmt.Errorf("line %d: want one document", n.Line)
		}
		return convert(n.Content[0])
	case yaml.AliasNode:
		return convert(n.Alias)
	}

	var v any
	switch n.Kind {
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			cv, err := convert(val)
			if err != nil {
				return nil, err
			}
			m[k.Value] = cv
		}
		v = m
	case yaml.SequenceNode:
		s := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			cv, err := convert(c)
			if err != nil {
				return nil, err
			}
			s = append(s, cv)
		}
		v = s
	case yaml.ScalarNode:
		if isIntrinsicTag(n.Tag) {
			v = n.Value // a tagged scalar is the function's string argument
		} else if err := n.Decode(&v); err != nil {
			return nil, fmt.Errorf("line %d: %w", n.Line, err)
		}
	default:
		return nil, fmt.Errorf("line %d: unexpected YAML node kind %v", n.Line, n.Kind)
	}

	if !isIntrinsicTag(n.Tag) {
		return v, nil
	}
	name := strings.TrimPrefix(n.Tag, "!")
	switch name {
	case "Ref", "Condition":
		return map[string]any{name: v}, nil
	case "GetAtt":
		// !GetAtt Resource.Attribute is short for [Resource, Attribute].
		if s, ok := v.(string); ok {
			res, attr, found := strings.Cut(s, ".")
			if !found {
				return nil, fmt.Errorf("line %d: !GetAtt %q: want Resource.Attribute", n.Line, s)
			}
			v = []any{res, attr}
		}
	}
	return map[string]any{"Fn::" + name: v}, nil
}

// isIntrinsicTag reports whether a node's tag is a CloudFormation short form
// (a local tag such as !Ref) rather than a YAML core tag (!!str, !!int, ...).
func isIntrinsicTag(tag string) bool {
	return strings.HasPrefix(tag, "!") && !strings.HasPrefix(tag, "!!")
}

// lookup walks a path of mapping keys from the template's root.
func lookup(path ...string) (any, error) {
	root, err := parsed()
	if err != nil {
		return nil, err
	}
	var v any = root
	for i, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("template: %s is not a mapping", strings.Join(path[:i], "."))
		}
		if v, ok = m[k]; !ok {
			return nil, fmt.Errorf("template: %s not found", strings.Join(path[:i+1], "."))
		}
	}
	return v, nil
}

// resourceProperties returns a resource's Properties, checking its type.
func resourceProperties(logicalID, wantType string) (map[string]any, error) {
	typ, err := lookup("Resources", logicalID, "Type")
	if err != nil {
		return nil, err
	}
	if typ != wantType {
		return nil, fmt.Errorf("template: resource %s is a %v, want %s", logicalID, typ, wantType)
	}
	props, err := lookup("Resources", logicalID, "Properties")
	if err != nil {
		return nil, err
	}
	m, ok := props.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("template: %s.Properties is not a mapping", logicalID)
	}
	return m, nil
}

// ParameterDefaults returns every template parameter's default value as a
// string; a parameter without a default is absent.
func ParameterDefaults() (map[string]string, error) {
	params, err := lookup("Parameters")
	if err != nil {
		return nil, err
	}
	pm, ok := params.(map[string]any)
	if !ok {
		return nil, errors.New("template: Parameters is not a mapping")
	}
	out := make(map[string]string, len(pm))
	for name, p := range pm {
		def, ok := p.(map[string]any)["Default"]
		if !ok {
			continue
		}
		s, err := scalarString(def)
		if err != nil {
			return nil, fmt.Errorf("template: parameter %s default: %w", name, err)
		}
		out[name] = s
	}
	return out, nil
}

// FunctionTimeout returns a function's Timeout (its own, or the Globals one),
// so the local stack can give in-process invocations the same deadline.
func FunctionTimeout(logicalID string) (time.Duration, error) {
	v, err := functionProperty(logicalID, "Timeout")
	if err != nil {
		return 0, err
	}
	s, err := scalarString(v)
	if err != nil {
		return 0, fmt.Errorf("template: %s Timeout: %w", logicalID, err)
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("template: %s Timeout %q is not a positive number of seconds", logicalID, s)
	}
	return time.Duration(n) * time.Second, nil
}

// functionProperty reads a property path of a function, falling back to
// Globals.Function as SAM does.
func functionProperty(logicalID string, path ...string) (any, error) {
	if _, err := resourceProperties(logicalID, "AWS::Serverless::Function"); err != nil {
		return nil, err
	}
	v, err := lookup(append([]string{"Resources", logicalID, "Properties"}, path...)...)
	if err == nil {
		return v, nil
	}
	if g, gerr := lookup(append([]string{"Globals", "Function"}, path...)...); gerr == nil {
		return g, nil
	}
	return nil, err
}

// EventPattern returns the EventBridge pattern of the rule that starts the
// workflow, as JSON, with the reference to the portrait bucket replaced by
// bucket (the local stack's bucket name).
func EventPattern(bucket string) (json.RawMessage, error) {
	p, err := lookup("Resources", StateMachine, "Properties", "Events", ObjectCreatedEvent, "Properties", "Pattern")
	if err != nil {
		return nil, err
	}
	// PortraitPrefix at its default, empty, leaves the key out.
	var pattern map[string]any
	if b, err := json.Marshal(p); err != nil || json.Unmarshal(b, &pattern) != nil {
		return nil, fmt.Errorf("template: event pattern: %v", err)
	}
	if obj, _ := pattern["detail"].(map[string]any)["object"].(map[string]any); obj != nil {
		delete(obj, "key")
	}
	resolved, err := resolveRefs(pattern, map[string]string{BucketResource: bucket})
	if err != nil {
		return nil, fmt.Errorf("template: event pattern: %w", err)
	}
	b, err := json.Marshal(resolved)
	if err != nil {
		return nil, fmt.Errorf("template: event pattern: %w", err)
	}
	return b, nil
}

// resolveRefs copies v, replacing {"Ref": name} by values[name]; any other
// intrinsic function, or a Ref without a value, is an error.
func resolveRefs(v any, values map[string]string) (any, error) {
	switch t := v.(type) {
	case map[string]any:
		if ref, ok := refName(t); ok {
			val, ok := values[ref]
			if !ok {
				return nil, fmt.Errorf("no value for !Ref %s", ref)
			}
			return val, nil
		}
		out := make(map[string]any, len(t))
		for k, e := range t {
			if strings.HasPrefix(k, "Fn::") {
				return nil, fmt.Errorf("intrinsic function %s cannot be resolved", k)
			}
			r, err := resolveRefs(e, values)
			if err != nil {
				return nil, err
			}
			out[k] = r
		}
		return out, nil
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			r, err := resolveRefs(e, values)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	}
	return v, nil
}

// Substitutions returns the state machine's DefinitionSubstitutions: each
// placeholder name of statemachine/build.asl.json mapped to the logical id of
// the resource whose ARN (!GetAtt X.Arn) or name (!Ref X) it receives.
func Substitutions() (map[string]string, error) {
	subs, err := lookup("Resources", StateMachine, "Properties", "DefinitionSubstitutions")
	if err != nil {
		return nil, err
	}
	sm, ok := subs.(map[string]any)
	if !ok {
		return nil, errors.New("template: DefinitionSubstitutions is not a mapping")
	}
	out := make(map[string]string, len(sm))
	for key, v := range sm {
		if ref, ok := refName(v); ok {
			out[key] = ref
			continue
		}
		if m, ok := v.(map[string]any); ok {
			if ga, ok := m["Fn::GetAtt"].([]any); ok && len(ga) == 2 {
				if res, ok := ga[0].(string); ok {
					out[key] = res
					continue
				}
			}
		}
		return nil, fmt.Errorf("template: substitution %s is neither !Ref nor !GetAtt", key)
	}
	return out, nil
}

// Key is one key attribute of a table or index.
type Key struct {
	Name string // attribute name
	Type string // attribute type: S, N or B
}

// Index is a global secondary index.
type Index struct {
	Name       string
	Partition  Key
	Sort       *Key   // nil when the index has no sort key
	Projection string // ALL, KEYS_ONLY or INCLUDE
}

// Table is the builds table's key schema, as the local stack must create it.
type Table struct {
	Partition   Key
	Sort        *Key // nil when the table has no sort key
	Indexes     []Index
	BillingMode string
}

// TableSchema returns the builds table's keys and indexes.
func TableSchema() (Table, error) {
	props, err := resourceProperties(TableResource, "AWS::DynamoDB::Table")
	if err != nil {
		return Table{}, err
	}
	types := map[string]string{}
	defs, _ := props["AttributeDefinitions"].([]any)
	for _, d := range defs {
		dm, _ := d.(map[string]any)
		name, _ := dm["AttributeName"].(string)
		typ, _ := dm["AttributeType"].(string)
		types[name] = typ
	}
	keys := func(where string, schema any) (Key, *Key, error) {
		var part Key
		var sort *Key
		list, _ := schema.([]any)
		for _, k := range list {
			km, _ := k.(map[string]any)
			name, _ := km["AttributeName"].(string)
			typ, ok := types[name]
			if !ok {
				return Key{}, nil, fmt.Errorf("template: %s key %q has no attribute definition", where, name)
			}
			switch km["KeyType"] {
			case "HASH":
				part = Key{Name: name, Type: typ}
			case "RANGE":
				sort = &Key{Name: name, Type: typ}
			default:
				return Key{}, nil, fmt.Errorf("template: %s key %q has key type %v", where, name, km["KeyType"])
			}
		}
		if part.Name == "" {
			return Key{}, nil, fmt.Errorf("template: %s has no HASH key", where)
		}
		return part, sort, nil
	}

	var t Table
	if t.Partition, t.Sort, err = keys(TableResource, props["KeySchema"]); err != nil {
		return Table{}, err
	}
	t.BillingMode, _ = props["BillingMode"].(string)
	gsis, _ := props["GlobalSecondaryIndexes"].([]any)
	for _, g := range gsis {
		gm, _ := g.(map[string]any)
		ix := Index{}
		ix.Name, _ = gm["IndexName"].(string)
		if ix.Partition, ix.Sort, err = keys("index "+ix.Name, gm["KeySchema"]); err != nil {
			return Table{}, err
		}
		if pm, ok := gm["Projection"].(map[string]any); ok {
			ix.Projection, _ = pm["ProjectionType"].(string)
		}
		t.Indexes = append(t.Indexes, ix)
	}
	slices.SortFunc(t.Indexes, func(a, b Index) int { return strings.Compare(a.Name, b.Name) })
	return t, nil
}

// refName returns the name of a {"Ref": name} mapping.
func refName(v any) (string, bool) {
	m, ok := v.(map[string]any)
	if !ok || len(m) != 1 {
		return "", false
	}
	s, ok := m["Ref"].(string)
	return s, ok
}

// scalarString formats a literal scalar the way CloudFormation passes it on:
// as a string.
func scalarString(v any) (string, error) {
	switch t := v.(type) {
	case string:
		return t, nil
	case int:
		return strconv.Itoa(t), nil
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64), nil
	case bool:
		return strconv.FormatBool(t), nil
	case map[string]any:
		return "", fmt.Errorf("intrinsic function %v is not a literal", slices.Sorted(maps.Keys(t)))
	}
	return "", fmt.Errorf("%T is not a scalar", v)
}
