package mirakotest

import (
	"bytes"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"slices"
	"strconv"
)

// Fault is a kind of injected failure; README.md describes each.
type Fault string

// "Before" faults: the request is not processed (a slow one is, if the client waits for it).
const (
	Fault429     Fault = "429"
	Fault500     Fault = "500"
	Fault503     Fault = "503"
	FaultEmpty   Fault = "empty"   // 502 without a body
	FaultGarbled Fault = "garbled" // 502 with a cut, corrupted problem+json body
	FaultReset   Fault = "reset"   // the connection is reset without an answer
	FaultSlow    Fault = "slow"    // the answer comes after Config.SlowDelay
)

// "After" faults: the request is processed (a POST creates the avatar), then its answer is spoilt.
const (
	FaultAcceptThenReset   Fault = "accept_then_reset"
	FaultAcceptThenSlow    Fault = "accept_then_slow"
	FaultAcceptThenGarbled Fault = "accept_then_garbled"
	FaultAcceptThenEmpty   Fault = "accept_then_empty"
)

var (
	beforeFaults = []Fault{Fault429, Fault500, Fault503, FaultEmpty, FaultGarbled, FaultReset, FaultSlow}
	afterFaults  = []Fault{FaultAcceptThenReset, FaultAcceptThenSlow, FaultAcceptThenGarbled, FaultAcceptThenEmpty}
)

// DefaultFaultKinds returns the "before" faults, which never change state, so that a random fault
// may always be retried safely.
func DefaultFaultKinds() []Fault { return slices.Clone(beforeFaults) }

// AllFaults returns every fault kind, "before" faults first.
func AllFaults() []Fault { return slices.Concat(beforeFaults, afterFaults) }

func (f Fault) before() bool { return slices.Contains(beforeFaults, f) }
func (f Fault) after() bool  { return slices.Contains(afterFaults, f) }

func mustKnow(f Fault) {
	if !f.before() && !f.after() {
		panic(fmt.Sprintf("mirakotest: unknown fault %q", f))
	}
}

// deliver writes resp as fault f spoils it (as is without a fault). resp is nil for a "before"
// fault, whose answer is made up here.
func (s *Simulator) deliver(w http.ResponseWriter, r *http.Request, resp *response, f Fault) {
	switch f {
	case Fault429:
		resp = retryLater(http.StatusTooManyRequests, "too many requests, retry later (simulated fault)", s.cfg.RetryAfter)
	case Fault500:
		resp = problemResponse(http.StatusInternalServerError, "an unexpected error occurred (simulated fault)", nil)
	case Fault503:
		resp = problemResponse(http.StatusServiceUnavailable, "the service is temporarily unavailable (simulated fault)", nil)
	case FaultEmpty:
		resp = &response{status: http.StatusBadGateway, header: http.Header{}}
	case FaultGarbled:
		resp = problemResponse(http.StatusBadGateway, "bad gateway (simulated fault)", nil)
		resp.body = garble(resp.body)
	case FaultReset, FaultAcceptThenReset:
		resetConn(w)
		return
	case FaultAcceptThenSlow: // a slow fault has stalled before the request was processed
		s.stall(r.Context())
	case FaultAcceptThenGarbled:
		if len(resp.body) > 0 { // a 204 has nothing to spoil
			resp.body = garble(resp.body)
		}
	case FaultAcceptThenEmpty:
		resp.body = nil
	}
	s.write(w, resp)
}

// abort ends the request without an answer: net/http closes the connection instead of sending the
// implicit 200 of a handler that writes nothing.
func abort() { panic(http.ErrAbortHandler) }

// garble cuts a body in half and appends bytes no JSON parser accepts.
func garble(body []byte) []byte {
	return append(slices.Clone(body[:len(body)/2]), "\x00\xff\xfe<!-- garbled by mirakotest -->"...)
}

// resetConn drops the connection with a TCP reset. Where it cannot be taken over (HTTP/2, a
// ResponseRecorder), the handler aborts, which closes the connection or stream.
func resetConn(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		abort()
	}
	c := conn
	if nc, ok := c.(interface{ NetConn() net.Conn }); ok { // TLS
		c = nc.NetConn()
	}
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0) // Close sends RST instead of FIN
	}
	_ = conn.Close()
}

// stallRequest applies a "before" slow fault. It reads the body first, because net/http notices a
// client that gives up only once the body is consumed, and puts it back for the handler.
func (s *Simulator) stallRequest(r *http.Request) {
	if r.Body != nil && r.Body != http.NoBody {
		buf, err := io.ReadAll(io.LimitReader(r.Body, s.cfg.MaxBodyBytes+1))
		if err != nil {
			abort()
		}
		r.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(buf), r.Body), r.Body}
	}
	s.stall(r.Context())
}

// write writes resp and counts it.
func (s *Simulator) write(w http.ResponseWriter, resp *response) {
	s.mu.Lock()
	s.stats.Responses[strconv.Itoa(resp.status)]++
	s.mu.Unlock()
	writeResponse(w, resp)
}

func writeResponse(w http.ResponseWriter, resp *response) {
	maps.Copy(w.Header(), resp.header)
	if resp.status != http.StatusNoContent {
		w.Header().Set("Content-Length", strconv.Itoa(len(resp.body)))
	}
	w.WriteHeader(resp.status)
	_, _ = w.Write(resp.body)
}
