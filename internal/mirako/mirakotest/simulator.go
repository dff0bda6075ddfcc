// Package mirakotest is an http.Handler simulating the part of the Mirako API the pipeline uses, to
// the letter of Mirako's vendored OpenAPI spec, with outcomes scripted by avatar name, faults, a rate
// limit, a build capacity and an outage. README.md describes the endpoints, validation, tags and faults.
//
// A request gets at most one fault: a per-endpoint script, else the global script, else the random
// draw, all before authentication; a name's fault tag applies only to a request without one. Ids and
// random draws are seeded by Config.Seed, so the same requests give the same ids and faults each run.
package mirakotest

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// DefaultToken is the bearer token the simulator accepts when Config.Token is empty.
const DefaultToken = "sim-token"

// Defaults for the zero values of Config. DefaultSlowDelay is longer than the client's timeout of
// Get, List and Delete; the body limit is the base64 of the 10 MiB image limit and 64 KiB.
const (
	DefaultSlowDelay     = 30 * time.Second
	DefaultRateWindow    = time.Minute
	defaultMaxImageBytes = 10 << 20 // Mirako's documented 10 MB, read generously
	defaultMaxBodyBytes  = (defaultMaxImageBytes+2)/3*4 + 64<<10
	defaultRetryAfter    = time.Second
)

// The endpoints, as named in Stats.Requests and accepted by ScriptFor.
const (
	EndpointBuild  = "POST /v1/avatar/async_build"
	EndpointGet    = "GET /v1/avatar/{id}"
	EndpointList   = "GET /v1/avatar/list"
	EndpointDelete = "DELETE /v1/avatar/{id}"
	EndpointOther  = "other" // a /v1 request that matches no operation (404 or 405)
)

// Config configures a Simulator. The zero value works: token DefaultToken, builds READY at once, no
// faults and no limits.
type Config struct {
	Token      string        // the bearer token /v1 requests must send (DefaultToken when empty)
	BuildTime  time.Duration // from POST to READY; PENDING for the first tenth
	FaultRate  float64       // probability, 0 to 1, that a /v1 request gets a random fault
	FaultKinds []Fault       // the random draw's faults (DefaultFaultKinds when empty)
	Seed       int64         // seeds avatar ids and the random draw
	SlowDelay  time.Duration // how long the slow faults stall, by the wall clock
	RetryAfter time.Duration // the 429 fault's Retry-After (1s when zero)
	// RateLimit, when positive, is how many authenticated /v1 requests the token may make per
	// RateWindow (DefaultRateWindow when zero); the excess gets 429 with Retry-After.
	RateLimit  int
	RateWindow time.Duration
	// MaxBodyBytes bounds the build body (413 beyond), MaxImageBytes the decoded image (422 beyond).
	MaxBodyBytes, MaxImageBytes int64
	// MaxBuilds, when positive, is how many avatars may be PENDING or BUILDING at once: a POST beyond
	// gets 429 with Retry-After (until the first of them finishes) and creates nothing.
	MaxBuilds int
	// Outage makes every /v1 request get 503 with Retry-After for this long after New.
	Outage time.Duration
	Now    func() time.Time // the clock (time.Now when nil)
}

// Simulator is the simulated Mirako API, an http.Handler. Create it with New or NewServer.
type Simulator struct {
	cfg       Config
	userID    string
	outageEnd time.Time
	closed    context.Context // done once Close is called
	close     context.CancelFunc

	mu          sync.Mutex
	idRand      *rand.Rand
	faultRand   *rand.Rand
	avatars     map[string]*avatar
	order       []*avatar              // in creation order
	scripts     map[string][]scriptRun // by endpoint; "" is the global script
	posts       map[string]int         // POSTs per name that reached the name tags
	windowStart time.Time              // of the rate limit; one token, one window
	windowCount int
	stats       Stats
}

type scriptRun struct {
	fault Fault
	left  int
}

// Stats are the simulator's counters, as Stats returns them and GET /_sim/stats serves them.
type Stats struct {
	BuildsCreated int            `json:"builds_created"`
	BuildsByName  map[string]int `json:"builds_by_name"` // created avatars by name
	BuildsDeleted int            `json:"builds_deleted"`
	Avatars       map[string]int `json:"avatars"`      // existing avatars by current status
	Requests      map[string]int `json:"requests"`     // /v1 requests by endpoint, faulted ones included
	Responses     map[string]int `json:"responses"`    // answers written, by status; resets are none
	Faults        map[Fault]int  `json:"faults"`       // from scripts, names and the random draw
	RateLimited   int            `json:"rate_limited"` // refused by RateLimit or MaxBuilds
}

// New returns a simulator configured by cfg. It panics on an unknown fault in cfg.FaultKinds or a
// FaultRate outside [0, 1]: those are programming errors.
func New(cfg Config) *Simulator {
	if cfg.FaultRate < 0 || cfg.FaultRate > 1 {
		panic(fmt.Sprintf("mirakotest: FaultRate %v outside [0, 1]", cfg.FaultRate))
	}
	if cfg.FaultKinds = slices.Clone(cfg.FaultKinds); len(cfg.FaultKinds) == 0 {
		cfg.FaultKinds = DefaultFaultKinds()
	}
	for _, f := range cfg.FaultKinds {
		mustKnow(f)
	}
	cfg.Token = cmp.Or(cfg.Token, DefaultToken)
	cfg.SlowDelay = positiveOr(cfg.SlowDelay, DefaultSlowDelay)
	cfg.RetryAfter = positiveOr(cfg.RetryAfter, defaultRetryAfter)
	cfg.RateWindow = positiveOr(cfg.RateWindow, DefaultRateWindow)
	cfg.MaxBodyBytes = positiveOr(cfg.MaxBodyBytes, defaultMaxBodyBytes)
	cfg.MaxImageBytes = positiveOr(cfg.MaxImageBytes, defaultMaxImageBytes)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	sum := sha256.Sum256([]byte("mirakotest user " + cfg.Token)) // a stable user id that is not the token
	seed := uint64(cfg.Seed)
	closed, cancel := context.WithCancel(context.Background())
	return &Simulator{
		cfg:       cfg,
		userID:    formatUUID(sum[:16]),
		outageEnd: cfg.Now().Add(cfg.Outage),
		closed:    closed,
		close:     cancel,
		idRand:    rand.New(rand.NewPCG(seed, 0x6d6972616b6f6964)), // "mirakoid"
		faultRand: rand.New(rand.NewPCG(seed, 0x6d6972616b6f666c)), // "mirakofl"
		avatars:   map[string]*avatar{},
		scripts:   map[string][]scriptRun{},
		posts:     map[string]int{},
		stats: Stats{BuildsByName: map[string]int{}, Requests: map[string]int{},
			Responses: map[string]int{}, Faults: map[Fault]int{}},
	}
}

func positiveOr[T ~int64](v, d T) T {
	if v <= 0 {
		return d
	}
	return v
}

// NewServer starts a simulator on an httptest server and stops both when the test ends.
func NewServer(t testing.TB, cfg Config) (*Simulator, *httptest.Server) {
	t.Helper()
	sim := New(cfg)
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	t.Cleanup(sim.Close) // first (last in, first out), so that slow faults do not hold srv.Close up
	return sim, srv
}

// Close ends every stall of a slow fault at once, dropping the stalled requests, so that a server
// can shut down without waiting for SlowDelay. It is safe to call more than once.
func (s *Simulator) Close() { s.close() }

// OutageLeft is how much of the outage (Config.Outage, from New) is left at t.
func (s *Simulator) OutageLeft(t time.Time) time.Duration { return max(s.outageEnd.Sub(t), 0) }

// Script makes the next n /v1 requests, whatever their endpoint, get fault f, after any
// per-endpoint script. Scripts queue up. It panics on an unknown fault.
func (s *Simulator) Script(f Fault, n int) { s.script("", f, n) }

// ScriptFor makes the next n requests to endpoint (EndpointBuild, EndpointGet, EndpointList or
// EndpointDelete) get fault f, before Script's. It panics on an unknown endpoint or fault.
func (s *Simulator) ScriptFor(endpoint string, f Fault, n int) {
	if !slices.Contains([]string{EndpointBuild, EndpointGet, EndpointList, EndpointDelete}, endpoint) {
		panic(fmt.Sprintf("mirakotest: ScriptFor: unknown endpoint %q", endpoint))
	}
	s.script(endpoint, f, n)
}

func (s *Simulator) script(key string, f Fault, n int) {
	mustKnow(f)
	if n > 0 {
		s.mu.Lock()
		s.scripts[key] = append(s.scripts[key], scriptRun{f, n})
		s.mu.Unlock()
	}
}

// Stats returns a snapshot of the counters.
func (s *Simulator) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.BuildsByName, st.Requests = maps.Clone(st.BuildsByName), maps.Clone(st.Requests)
	st.Responses, st.Faults = maps.Clone(st.Responses), maps.Clone(st.Faults)
	st.Avatars = map[string]int{}
	now := s.cfg.Now()
	for _, a := range s.avatars {
		st.Avatars[s.statusOf(a, now)]++
	}
	return st
}

// ServeHTTP serves the API and GET /_sim/stats. A reset, or a stall the client gave up on, ends
// the request with panic(http.ErrAbortHandler), which net/http turns into a dropped connection.
func (s *Simulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/_sim/stats" {
		resp := jsonResponse(http.StatusOK, s.Stats())
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			resp = problemResponse(http.StatusMethodNotAllowed, "method "+r.Method+" is not allowed on /_sim/stats", nil)
			resp.header.Set("Allow", "GET")
		}
		writeResponse(w, resp)
		return
	}
	if !strings.HasPrefix(r.URL.Path, "/v1/") {
		s.write(w, problemResponse(http.StatusNotFound, "no such path "+r.URL.Path, nil))
		return
	}
	endpoint, operation := s.route(r)

	s.mu.Lock()
	s.stats.Requests[endpoint]++
	if left := s.outageEnd.Sub(s.cfg.Now()); left > 0 {
		s.mu.Unlock()
		s.write(w, retryLater(http.StatusServiceUnavailable, "the service is down (simulated outage)", left))
		return
	}
	fault := s.drawFaultLocked(endpoint)
	if fault != "" {
		s.stats.Faults[fault]++
	}
	s.mu.Unlock()

	switch {
	case fault == FaultSlow:
		s.stallRequest(r)
	case fault.before():
		s.deliver(w, r, nil, fault)
		return
	}
	resp := s.authorize(r)
	if resp == nil {
		resp = s.rateLimit()
	}
	if resp == nil {
		resp = operation(fault != "")
	}
	switch fault {
	case "":
		fault = resp.fault // from the avatar's name, if any
	case FaultSlow:
		fault = "" // already stalled
	}
	s.deliver(w, r, resp, fault)
}

// drawFaultLocked picks a request's fault: per-endpoint script, global script, random draw. The
// random numbers are drawn for every request, so scripts do not shift the random sequence.
func (s *Simulator) drawFaultLocked(endpoint string) Fault {
	var random Fault
	if s.cfg.FaultRate > 0 {
		p, k := s.faultRand.Float64(), s.faultRand.IntN(len(s.cfg.FaultKinds))
		if p < s.cfg.FaultRate {
			random = s.cfg.FaultKinds[k]
		}
	}
	for _, key := range []string{endpoint, ""} {
		if runs := s.scripts[key]; len(runs) > 0 {
			if runs[0].left--; runs[0].left == 0 {
				s.scripts[key] = runs[1:]
			}
			return runs[0].fault
		}
	}
	return random
}

// route matches a /v1 request to its endpoint and the operation that serves it once authorized.
// The operation's argument tells that the request already has a fault, so its name's is not used.
func (s *Simulator) route(r *http.Request) (string, func(faulted bool) *response) {
	method, path := r.Method, r.URL.Path
	answer := func(status int, allow string) (string, func(bool) *response) {
		return EndpointOther, func(bool) *response {
			if allow == "" {
				return problemResponse(status, "no such path "+path, nil)
			}
			resp := problemResponse(status, fmt.Sprintf("method %s is not allowed on %s", method, path), nil)
			resp.header.Set("Allow", allow)
			return resp
		}
	}
	id, ok := strings.CutPrefix(path, "/v1/avatar/")
	switch {
	case path == "/v1/avatar/async_build" && method == http.MethodPost:
		return EndpointBuild, func(faulted bool) *response { return s.build(r, faulted) }
	case path == "/v1/avatar/async_build":
		return answer(http.StatusMethodNotAllowed, "POST")
	case path == "/v1/avatar/list" && method == http.MethodGet:
		return EndpointList, func(bool) *response { return s.list() }
	case path == "/v1/avatar/list":
		return answer(http.StatusMethodNotAllowed, "GET")
	case !ok || id == "" || strings.Contains(id, "/"):
		return answer(http.StatusNotFound, "")
	case method == http.MethodGet:
		return EndpointGet, func(faulted bool) *response { return s.get(id, faulted) }
	case method == http.MethodDelete:
		return EndpointDelete, func(bool) *response { return s.delete(id) }
	}
	return answer(http.StatusMethodNotAllowed, "GET, DELETE")
}

// authorize returns a 401 answer unless the request carries the token.
func (s *Simulator) authorize(r *http.Request) *response {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	token = strings.TrimSpace(token)
	detail := "invalid API token" // never echo the token back
	switch {
	case !ok || !strings.EqualFold(scheme, "Bearer") || token == "":
		detail = "missing bearer token: send Authorization: Bearer <API token>"
	case token == s.cfg.Token:
		return nil
	}
	resp := problemResponse(http.StatusUnauthorized, detail, nil)
	resp.header.Set("WWW-Authenticate", `Bearer realm="mirako"`)
	return resp
}

// rateLimit counts an authenticated request against the fixed window; it returns a 429 or nil.
func (s *Simulator) rateLimit() *response {
	if s.cfg.RateLimit <= 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.Now()
	if end := s.windowStart.Add(s.cfg.RateWindow); !now.Before(end) {
		s.windowStart, s.windowCount = now, 0
	}
	if s.windowCount < s.cfg.RateLimit {
		s.windowCount++
		return nil
	}
	s.stats.RateLimited++
	return retryLater(http.StatusTooManyRequests, fmt.Sprintf("rate limit exceeded: %d requests per %s",
		s.cfg.RateLimit, s.cfg.RateWindow), s.windowStart.Add(s.cfg.RateWindow).Sub(now))
}

// retryLater is a problem answer with Retry-After: wait in seconds, rounded up, at least 1.
func retryLater(status int, detail string, wait time.Duration) *response {
	resp := problemResponse(status, detail, nil)
	resp.header.Set("Retry-After", strconv.FormatInt(max(1, int64((wait+time.Second-1)/time.Second)), 10))
	return resp
}

// stall waits SlowDelay; if the client leaves or the simulator is closed first, it ends the request
// without an answer, unprocessed.
func (s *Simulator) stall(ctx context.Context) {
	t := time.NewTimer(s.cfg.SlowDelay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		abort()
	case <-s.closed.Done():
		abort()
	}
}

// newIDLocked returns a random (version 4) UUID from the seeded generator.
func (s *Simulator) newIDLocked() string {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], s.idRand.Uint64())
	binary.LittleEndian.PutUint64(b[8:], s.idRand.Uint64())
	return formatUUID(b[:])
}

func formatUUID(b []byte) string {
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// response is an answer before it is written, so that a fault can spoil it first.
type response struct {
	status int
	header http.Header
	body   []byte
	fault  Fault // from the avatar's name, applied by ServeHTTP
}

// problemResponse is a problem+json answer: the spec's ErrorModel, without type and instance, like
// Huma's; the title is the status text.
func problemResponse(status int, detail string, errs []errorDetail) *response {
	return &response{status: status, header: http.Header{"Content-Type": {"application/problem+json"}},
		body: mustMarshal(struct {
			Title  string        `json:"title"`
			Status int           `json:"status"`
			Detail string        `json:"detail,omitempty"`
			Errors []errorDetail `json:"errors,omitempty"`
		}{http.StatusText(status), status, detail, errs})}
}

// errorDetail is the spec's ErrorDetail.
type errorDetail struct {
	Location string `json:"location,omitempty"`
	Message  string `json:"message,omitempty"`
	Value    any    `json:"value,omitempty"`
}

// dataResponse is a 200 answer {"data": v}.
func dataResponse(v any) *response { return jsonResponse(http.StatusOK, map[string]any{"data": v}) }

func jsonResponse(status int, v any) *response {
	return &response{status: status, header: http.Header{"Content-Type": {"application/json"}}, body: mustMarshal(v)}
}

// mustMarshal panics on what cannot be marshalled; every value here can (Value holds decoded JSON).
func mustMarshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("mirakotest: marshal: %v", err))
	}
	return b
}
