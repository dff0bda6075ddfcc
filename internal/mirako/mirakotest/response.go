package mirakotest

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// response is an answer before it is written, so that a fault can spoil it first.
type response struct {
	status int
	header http.Header
	body   []byte

	// fault is a fault the avatar's name asks for, applied by ServeHTTP.
	fault Fault
	// stalled tells that a slow fault has already waited.
	stalled bool
	// dropped tells that nothing is to be written: the client left during a stall.
	dropped bool
}

// problem is the spec's ErrorModel (additionalProperties: false). Like Huma, the simulator leaves out
// type (default about:blank) and instance.
type problem struct {
	Title  string        `json:"title"`
	Status int           `json:"status"`
	Detail string        `json:"detail,omitempty"`
	Errors []errorDetail `json:"errors,omitempty"`
}

// errorDetail is the spec's ErrorDetail.
type errorDetail struct {
	Location string `json:"location,omitempty"`
	Message  string `json:"message,omitempty"`
	Value    any    `json:"value,omitempty"`
}

// problemResponse is an application/problem+json answer whose title is the status text.
func problemResponse(status int, detail string, errs []errorDetail) *response {
	body, err := json.Marshal(problem{Title: http.StatusText(status), Status: status, Detail: detail, Errors: errs})
	if err != nil {
		// Only values that cannot be marshalled get here, and errorDetail.Value holds decoded JSON.
		panic(fmt.Sprintf("mirakotest: marshal problem: %v", err))
	}
	return &response{
		status: status,
		header: http.Header{"Content-Type": {"application/problem+json"}},
		body:   body,
	}
}

// jsonResponse is an application/json answer.
func jsonResponse(status int, v any) *response {
	body, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("mirakotest: marshal response: %v", err))
	}
	return &response{
		status: status,
		header: http.Header{"Content-Type": {"application/json"}},
		body:   body,
	}
}
