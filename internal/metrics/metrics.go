// Package metrics writes CloudWatch Embedded Metric Format (EMF) lines: one
// JSON object per line on the function's log stream, which CloudWatch turns
// into metrics with no API call from the function.
//
// See https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
package metrics

import (
	"encoding/json"
	"io"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/avatar-pipeline/avatar-pipeline/internal/records"
)

// Namespace is the CloudWatch namespace of the pipeline's metrics; the
// dashboard in template.yaml reads it.
const Namespace = "AvatarPipeline"

// Metric names and their dimensions.
const (
	Builds       = "Builds"       // count of terminal builds, dimension Status
	BuildSeconds = "BuildSeconds" // submission to terminal status, dimension Status
	StatusChecks = "StatusChecks" // status polls a build took, dimension Status
	SubmitBytes  = "SubmitBytes"  // portrait bytes streamed to Mirako, dimension Status
	MirakoErrors = "MirakoErrors" // Mirako error answers, dimension StatusCode
	Queued       = "Queued"       // a build made to wait for Mirako's capacity, dimension Cause
	Swept        = "Swept"        // builds the sweep acted on, dimension Action

	DimStatus     = "Status"
	DimStatusCode = "StatusCode"
	DimCause      = "Cause"
	DimAction     = "Action"
)

// Emitter writes EMF lines. The zero value writes to standard output.
type Emitter struct {
	W   io.Writer        // os.Stdout when nil
	Now func() time.Time // time.Now when nil

	mu sync.Mutex
}

type metricDef struct {
	Name string `json:"Name"`
	Unit string `json:"Unit"`
}

type directive struct {
	Namespace  string      `json:"Namespace"`
	Dimensions [][]string  `json:"Dimensions"`
	Metrics    []metricDef `json:"Metrics"`
}

type meta struct {
	Timestamp         int64       `json:"Timestamp"`
	CloudWatchMetrics []directive `json:"CloudWatchMetrics"`
}

// emit writes one EMF object: the metrics with their values, the
// dimension values, and properties that are searchable in the logs but
// not metrics.
func (e *Emitter) emit(dims map[string]string, defs []metricDef, values map[string]float64, props map[string]string) {
	now := time.Now
	if e.Now != nil {
		now = e.Now
	}
	names := make([]string, 0, len(dims))
	doc := map[string]any{}
	for k, v := range props {
		doc[k] = v
	}
	for k, v := range dims {
		names = append(names, k)
		doc[k] = v
	}
	for k, v := range values {
		doc[k] = v
	}
	doc["_aws"] = meta{
		Timestamp:         now().UnixMilli(),
		CloudWatchMetrics: []directive{{Namespace: Namespace, Dimensions: [][]string{names}, Metrics: defs}},
	}
	line, err := json.Marshal(doc)
	if err != nil {
		return // a map of strings and numbers always marshals
	}
	w := e.W
	if w == nil {
		w = os.Stdout
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	w.Write(append(line, '\n'))
}

// Build records a build that reached a terminal status. A nil Emitter
// records nothing.
func (e *Emitter) Build(r records.Record) {
	if e == nil || !r.Status.Terminal() {
		return
	}
	defs := []metricDef{{Builds, "Count"}}
	values := map[string]float64{Builds: 1}
	if r.AvatarID != "" { // it reached Mirako
		defs = append(defs, metricDef{StatusChecks, "Count"}, metricDef{SubmitBytes, "Bytes"})
		values[StatusChecks] = float64(r.Checks)
		values[SubmitBytes] = float64(r.Size)
		if r.BuildSeconds > 0 {
			defs = append(defs, metricDef{BuildSeconds, "Seconds"})
			values[BuildSeconds] = float64(r.BuildSeconds)
		}
	}
	e.emit(map[string]string{DimStatus: string(r.Status)}, defs, values,
		map[string]string{"build_id": r.BuildID, "avatar_id": r.AvatarID})
}

// MirakoError records an error answer from Mirako; status 0 stands for no
// answer at all (a reset, a timeout, a garbled body).
func (e *Emitter) MirakoError(status int, operation string) {
	if e == nil {
		return
	}
	code := strconv.Itoa(status)
	if status == 0 {
		code = "none"
	}
	e.emit(map[string]string{DimStatusCode: code}, []metricDef{{MirakoErrors, "Count"}},
		map[string]float64{MirakoErrors: 1}, map[string]string{"operation": operation})
}

// Count records one event of a counted metric (Queued, Swept) with its
// dimension: the cause of a wait, the sweep's action.
func (e *Emitter) Count(metric, dimension, value, buildID string) {
	if e == nil {
		return
	}
	e.emit(map[string]string{dimension: value}, []metricDef{{metric, "Count"}},
		map[string]float64{metric: 1}, map[string]string{"build_id": buildID})
}
