package local

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/avatar-pipeline/avatar-pipeline/internal/metrics"
)

// Tally reads EMF lines, as an io.Writer, and sums the build metrics in
// them: what the local stack prints as its summary on exit, computed from
// the same lines CloudWatch would read.
type Tally struct {
	mu      sync.Mutex
	partial []byte
	builds  map[string]int
	seconds map[string]float64 // BuildSeconds by status
	timed   map[string]int     // builds with BuildSeconds, by status
	checks  float64
	checked int
}

// Write takes one or more EMF lines; other lines are ignored.
func (t *Tally) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.partial = append(t.partial, p...)
	for {
		i := bytes.IndexByte(t.partial, '\n')
		if i < 0 {
			break
		}
		t.add(t.partial[:i])
		t.partial = t.partial[i+1:]
	}
	return len(p), nil
}

func (t *Tally) add(line []byte) {
	var doc map[string]any
	if json.Unmarshal(line, &doc) != nil {
		return
	}
	if _, ok := doc["_aws"]; !ok {
		return
	}
	status, _ := doc[metrics.DimStatus].(string)
	n, ok := doc[metrics.Builds].(float64)
	if status == "" || !ok {
		return
	}
	if t.builds == nil {
		t.builds, t.seconds, t.timed = map[string]int{}, map[string]float64{}, map[string]int{}
	}
	t.builds[status] += int(n)
	if s, ok := doc[metrics.BuildSeconds].(float64); ok {
		t.seconds[status] += s
		t.timed[status]++
	}
	if c, ok := doc[metrics.StatusChecks].(float64); ok {
		t.checks += c
		t.checked++
	}
}

// Summary describes the builds seen: how many ended in each status, their
// mean build time, and the mean status checks per build that reached
// Mirako.
func (t *Tally) Summary() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	total := 0
	statuses := make([]string, 0, len(t.builds))
	for s, n := range t.builds {
		total += n
		statuses = append(statuses, s)
	}
	if total == 0 {
		return "no builds finished"
	}
	slices.Sort(statuses)
	var parts []string
	for _, s := range statuses {
		part := fmt.Sprintf("%s %d", s, t.builds[s])
		if t.timed[s] > 0 {
			part += fmt.Sprintf(" (mean %.1f s)", t.seconds[s]/float64(t.timed[s]))
		}
		parts = append(parts, part)
	}
	out := fmt.Sprintf("%d builds finished: %s", total, strings.Join(parts, ", "))
	if t.checked > 0 {
		out += fmt.Sprintf("; %.1f status checks per build", t.checks/float64(t.checked))
	}
	return out
}
