// Package statemachine holds the build workflow's Amazon States Language
// definition, build.asl.json, and renders it with the same
// DefinitionSubstitutions that template.yaml gives it, so that the local
// stack runs exactly the definition that is deployed.
package statemachine

import (
	_ "embed"
	"fmt"
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
	var missing, unused []string
	for _, k := range used {
		if _, ok := subs[k]; !ok {
			missing = append(missing, k)
		}
	}
	for k := range subs {
		if !slices.Contains(used, k) {
			unused = append(unused, k)
		}
	}
	if len(missing) > 0 || len(unused) > 0 {
		slices.Sort(unused)
		return "", fmt.Errorf("state machine substitutions: missing %v, unused %v", missing, unused)
	}
	out := placeholder.ReplaceAllStringFunc(string(Definition), func(m string) string {
		return subs[strings.TrimSuffix(strings.TrimPrefix(m, "${"), "}")]
	})
	return out, nil
}
