// Package statemachine holds the build workflow's Amazon States Language
// definition, build.asl.json, and renders it with the same
// DefinitionSubstitutions that template.yaml gives it, so that the local
// stack runs exactly the definition that is deployed.
package statemachine

import (
	_ "embed"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
)

// Definition is build.asl.json as written, with ${…} placeholders.
//
//go:embed build.asl.json
var Definition []byte

// placeholder matches a DefinitionSubstitutions placeholder, ${Name}.
var placeholder = regexp.MustCompile(`\$\{([A-Za-z0-9_]+)\}`)

// Placeholders returns the substitution keys the definition uses, sorted.
func Placeholders() []string {
	var keys []string
	for _, m := range placeholder.FindAllSubmatch(Definition, -1) {
		keys = append(keys, string(m[1]))
	}
	slices.Sort(keys)
	return slices.Compact(keys)
}

// Render replaces every placeholder with its value. It fails if a
// placeholder has no value or a value names no placeholder, the two ways a
// definition and its substitutions drift apart.
func Render(subs map[string]string) (string, error) {
	used := Placeholders()
	missing := slices.DeleteFunc(slices.Clone(used), func(k string) bool { _, ok := subs[k]; return ok })
	unused := slices.DeleteFunc(slices.Sorted(maps.Keys(subs)), func(k string) bool { return slices.Contains(used, k) })
	if len(missing) > 0 || len(unused) > 0 {
		return "", fmt.Errorf("state machine substitutions: missing %v, unused %v", missing, unused)
	}
	out := placeholder.ReplaceAllStringFunc(string(Definition), func(m string) string {
		return subs[strings.TrimSuffix(strings.TrimPrefix(m, "${"), "}")]
	})
	return out, nil
}
