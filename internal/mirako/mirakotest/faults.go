package mirakotest

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
)

// Fault is a kind of injected failure; the package documentation describes each.
type Fault string

// "Before" faults: the request is not processed (a slow one is, if the client waits for it).
const (
	Fault429     Fault = "429"
	Fault500     Fault = "500"
	Fault503     Fault = "503"
	FaultEmpty   Fault = "empty"
	FaultGarbled Fault = "garbled"
	FaultReset   Fault = "reset"
	FaultSlow    Fault = "slow"
)

// "After" faults: the request is processed, then its answer is spoilt.
const (
	FaultAcceptThenReset   Fault = "accept_then_reset"
	FaultAcceptThenSlow    Fault = "accept_then_slow"
	FaultAcceptThenGarbled Fault = "accept_then_garbled"
	FaultAcceptThenEmpty   Fault = "accept_then_empty"
)

// DefaultFaultKinds returns the faults the random draw picks from by default: the "before" faults,
// which never change state, so that any of them may be retried safely.
func DefaultFaultKinds() []Fault {
	return []Fault{Fault429, Fault500, Fault503, FaultEmpty, FaultGarbled, FaultReset, FaultSlow}
}

// AllFaults returns every fault kind, "before" faults first.
func AllFaults() []Fault {
	return append(DefaultFaultKinds(),
		FaultAcceptThenReset, FaultAcceptThenSlow, FaultAcceptThenGarbled, FaultAcceptThenEmpty)
}

func (f Fault) before() bool {
	switch f {
	case Fault429, Fault500, Fault503, FaultEmpty, FaultGarbled, FaultReset, FaultSlow:
		return true
	}
	return false
}

func (f Fault) after() bool {
	switch f {
	case FaultAcceptThenReset, FaultAcceptThenSlow, FaultAcceptThenGarbled, FaultAcceptThenEmpty:
		return true
	}
	return false
}

func mustKnow(f Fault) {
	if !f.before() && !f.after() {
		panic(fmt.Sprintf("mirakotest: unknown fault %q", f))
	}
}

// garbage is appended to a cut body; it makes sure no JSON parser accepts the result.
var garbage = []byte("\x00\xff\xfe<!-- garbled by mirakotest -->")

// deliver writes resp to w as fault f spoils it; with no fault it is written as is. resp is nil for
// a "before" fault, whose answer is made up here.
func (s *Simulator) deliver(w http.ResponseWriter, r *http.Request, resp *response, f Fault) {
	if resp != nil && resp.dropped {
		abort()
	}
	switch f {
	case "":
		s.write(w, resp)
	case Fault429:
		p := problemResponse(http.StatusTooManyRequests, "too many requests, retry later (simulated fault)", nil)
		p.header.Set("Retry-After", retryAfterSeconds(s.cfg.RetryAfter))
		s.write(w, p)
	case Fault500:
		s.write(w, problemResponse(http.StatusInternalServerError, "an unexpected error occurred (simulated fault)", nil))
	case Fault503:
		s.write(w, problemResponse(http.StatusServiceUnavailable, "the service is temporarily unavailable (simulated fault)", nil))
	case FaultEmpty:
		s.write(w, &response{status: http.StatusBadGateway, header: http.Header{}})
	case FaultGarbled:
		p := problemResponse(http.StatusBadGateway, "bad gateway (simulated fault)", nil)
		p.body = garble(p.body)
		s.write(w, p)
	case FaultReset, FaultAcceptThenReset:
		resetConn(w)
	case FaultSlow, FaultAcceptThenSlow:
		// A slow fault from a script or the random draw stalled in ServeHTTP and is delivered as "";
		// one from a name tag on a POST stalled before the avatar was created (stalled is set).
		if !resp.stalled && !s.stall(r.Context()) {
			abort()
		}
		s.write(w, resp)
	case FaultAcceptThenGarbled:
		if len(resp.body) > 0 {
			resp.body = garble(resp.body)
		}
		s.write(w, resp)
	case FaultAcceptThenEmpty:
		resp.body = nil
		s.write(w, resp)
	default:
		panic(fmt.Sprintf("mirakotest: deliver: unknown fault %q", f))
	}
}

// abort ends the request without an answer: net/http closes the connection (or the HTTP/2 stream)
// instead of sending the implicit 200 a handler that writes nothing would get. It is used when a stall
// ends because the client left or the simulator was closed.
func abort() {
	panic(http.ErrAbortHandler)
}

func garble(body []byte) []byte {
	out := append([]byte(nil), body[:len(body)/2]...)
	return append(out, garbage...)
}

// resetConn drops the connection with a TCP reset and no answer. Where the connection cannot be taken
// over (HTTP/2, a ResponseRecorder), the handler aborts, which closes the connection or stream.
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
		_ = tc.SetLinger(0) // close sends RST instead of FIN
	}
	_ = conn.Close()
}

// stallRequest applies a "before" slow fault: it reads the request body first, so that a client that
// gives up is noticed (net/http watches the connection once the body is consumed), then stalls. The
// body is put back for the handler, past the size limit included. It returns false if the request
// must be dropped.
func (s *Simulator) stallRequest(r *http.Request) bool {
	if r.Body != nil && r.Body != http.NoBody {
		buf, err := io.ReadAll(io.LimitReader(r.Body, s.cfg.MaxBodyBytes+1))
		if err != nil {
			return false
		}
		r.Body = readCloser{io.MultiReader(bytes.NewReader(buf), r.Body), r.Body}
	}
	return s.stall(r.Context())
}

type readCloser struct {
	io.Reader
	io.Closer
}

// write writes resp and counts it.
func (s *Simulator) write(w http.ResponseWriter, resp *response) {
	s.mu.Lock()
	s.stats.Responses[strconv.Itoa(resp.status)]++
	s.mu.Unlock()
	writeResponse(w, resp)
}

func writeResponse(w http.ResponseWriter, resp *response) {
	h := w.Header()
	for k, v := range resp.header {
		h[k] = v
	}
	if resp.status != http.StatusNoContent && resp.status != http.StatusNotModified {
		h.Set("Content-Length", strconv.Itoa(len(resp.body)))
	}
	w.WriteHeader(resp.status)
	if len(resp.body) > 0 {
		_, _ = w.Write(resp.body)
	}
}
