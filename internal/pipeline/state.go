package pipeline

import (
	"encoding/json"
	"maps"
	"slices"
	"time"

	"github.com/avatar-pipeline/avatar-pipeline/internal/records"
)

// Outcome tells the state machine's Choice states what a step concluded.
type Outcome string

// Outcomes, by the step that returns them.
const (
	OutcomeAdmitted  Outcome = "ADMITTED"  // Admit: a new build, registered RECEIVED
	OutcomeDuplicate Outcome = "DUPLICATE" // Admit: another execution owns this upload's build
	OutcomeRejected  Outcome = "REJECTED"  // Admit or Submit: a check failed; never sent to Mirako
	OutcomeQueued    Outcome = "QUEUED"    // Submit: Mirako has no capacity for it yet; wait, then submit again
	OutcomeSubmitted Outcome = "SUBMITTED" // Submit: Mirako accepted the build
	OutcomeWaiting   Outcome = "WAITING"   // CheckStatus: nothing changed; wait again
	OutcomeProgress  Outcome = "PROGRESS"  // CheckStatus: the status changed; record it, then wait
	OutcomeFinished  Outcome = "FINISHED"  // CheckStatus: READY, ERROR or TIMED_OUT
)

// State is the workflow state between steps: the build record's fields (the
// same snake_case names as the table's attributes) plus the workflow's own.
type State struct {
	records.Record

	// Outcome is the last step's conclusion.
	Outcome Outcome `json:"outcome"`
	// WaitSeconds is how long the next Wait state sleeps. Always present:
	// a Wait's SecondsPath must find it.
	WaitSeconds int `json:"wait_seconds"`
	// Deadline is when polling gives up with TIMED_OUT (record time format).
	Deadline string `json:"deadline,omitempty"`
	// Slot says the build holds one of the pipeline's in-flight slots,
	// which the state machine gives back when the build ends.
	Slot bool `json:"slot,omitempty"`
	// Notify asks the state machine to publish a notice now (on submission,
	// when enabled).
	Notify bool `json:"notify,omitempty"`
	// ThemesAttr is Themes as a DynamoDB list attribute value, for the
	// READY record write, which cannot build one from a JSON array.
	ThemesAttr []map[string]string `json:"themes_attr"`

	// Fields the state machine adds on its failure path: the caught error,
	// and its name for the record (always present: RecordFailed reads it).
	Error     *StepError      `json:"error,omitempty"`
	ErrorName string          `json:"error_name"`
	Detail    json.RawMessage `json:"detail,omitempty"` // the S3 event's detail, when admission failed
	Failure   json.RawMessage `json:"failure,omitempty"`
}

// StepError is what a Catch puts in the state: the error name and its cause.
type StepError struct {
	Error string `json:"Error"`
	Cause string `json:"Cause,omitempty"`
}

// SubmitInput is the Submit function's input: an admission (Step "admit",
// with the execution's input: the S3 event, or a ResumeInput) or a
// submission (Step "submit", with the state Admit returned).
type SubmitInput struct {
	Step         string          `json:"step"`
	Event        json.RawMessage `json:"event,omitempty"`
	ExecutionARN string          `json:"execution_arn,omitempty"`
	Build        *State          `json:"build,omitempty"`
}

// StepInput is the input of CheckStatus and Notify: the workflow state.
type StepInput struct {
	// Step is "describe" when Notify is asked to describe a failure
	// instead of publishing.
	Step  string `json:"step,omitempty"`
	Build State  `json:"build"`
	// ExecutionARN is given when the state may not carry one: a failure
	// before admission.
	ExecutionARN string `json:"execution_arn,omitempty"`
}

// Step names of SubmitInput and StepInput.
const (
	StepAdmit    = "admit"
	StepSubmit   = "submit"
	StepDescribe = "describe"
)

// ResumeInput is the execution input that re-drives a stale build (see
// `avatarctl sweep`): Admit takes the record over from the execution that
// owned it, and the workflow carries on where the record says.
type ResumeInput struct {
	ResumeBuildID     string `json:"resume_build_id"`
	PreviousExecution string `json:"previous_execution"`
}

// Reject makes the state a REJECTED outcome with its reason.
func (st *State) Reject(now time.Time, reason string) {
	st.Outcome = OutcomeRejected
	st.Status = records.StatusRejected
	st.Reason = reason
	st.FinishedAt = records.FormatTime(now)
}

// Finish makes the state a FINISHED outcome.
func (st *State) Finish(now time.Time, status records.Status, reason string) {
	st.Outcome = OutcomeFinished
	st.Status = status
	st.Reason = reason
	st.FinishedAt = records.FormatTime(now)
	st.UpdatedAt = st.FinishedAt
	if start, err := records.ParseTime(st.SubmittedAt); err == nil {
		st.BuildSeconds = int64(now.Sub(start).Round(time.Second) / time.Second)
	}
	if st.ThemesAttr == nil {
		st.ThemesAttr = []map[string]string{}
	}
}

// alwaysPresent are the fields of State's JSON that the state machine reads
// with a path but the record's JSON may omit: State always writes them, zero
// or not, since a path to an absent field is a States.Runtime error that no
// Catch sees (the definition's check relies on this list).
var alwaysPresent = map[string]string{"reason": `""`, "finished_at": `""`, "updated_at": `""`}

// AlwaysPresent lists them.
func AlwaysPresent() []string { return slices.Sorted(maps.Keys(alwaysPresent)) }

// MarshalJSON writes the state with every field of AlwaysPresent.
func (st State) MarshalJSON() ([]byte, error) {
	type plain State
	b, err := json.Marshal(plain(st))
	if err != nil {
		return nil, err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return nil, err
	}
	for k, zero := range alwaysPresent {
		if _, ok := fields[k]; !ok {
			fields[k] = json.RawMessage(zero)
		}
	}
	return json.Marshal(fields)
}
