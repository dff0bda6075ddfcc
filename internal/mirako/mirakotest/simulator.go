package mirakotest

import (
	"context"
	"crypto/sha256"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultToken is the bearer token the simulator accepts when Config.Token is empty.
const DefaultToken = "sim-token"

// Defaults for the zero values of Config.
const (
	// DefaultMaxImageBytes is Mirako's documented 10 MB input limit, read generously as 10 MiB.
	DefaultMaxImageBytes = 10 << 20
	// DefaultMaxBodyBytes is room for the base64 of a DefaultMaxImageBytes image plus a JSON envelope
	// with a long name: 4·⌈10 MiB/3⌉ + 64 KiB.
	DefaultMaxBodyBytes = (DefaultMaxImageBytes+2)/3*4 + 64<<10
	// DefaultSlowDelay is longer than the client's default 15 s timeout for Get, List and Delete.
	DefaultSlowDelay = 30 * time.Second
	// DefaultRetryAfter is the Retry-After of the 429 fault.
	DefaultRetryAfter = time.Second
	// DefaultRateWindow is the window of Config.RateLimit.
	DefaultRateWindow = time.Minute
)

// The endpoints, as named in Stats.Requests and accepted by ScriptFor.
const (
	EndpointBuild  = "POST /v1/avatar/async_build"
	EndpointGet    = "GET /v1/avatar/{id}"
	EndpointList   = "GET /v1/avatar/list"
	EndpointDelete = "DELETE /v1/avatar/{id}"
	// EndpointOther counts /v1 requests that match no operation (answered 404 or 405).
	EndpointOther = "other"
)

var endpoints = []string{EndpointBuild, EndpointGet, EndpointList, EndpointDelete}

// Config configures a Simulator. The zero value is usable: token DefaultToken, builds READY at once,
// no faults, no rate limit.
type Config struct {
	// Token is the bearer token every /v1 request must present (DefaultToken when empty).
	Token string
	// BuildTime is how long a build takes: PENDING for the first tenth, then BUILDING, then READY
	// (or ERROR for an "[error]" name). Zero makes builds READY at once.
	BuildTime time.Duration
	// FaultRate is the probability, from 0 to 1, that a /v1 request gets a random fault.
	FaultRate float64
	// FaultKinds are the faults the random draw picks from, uniformly (DefaultFaultKinds when empty).
	FaultKinds []Fault
	// Seed seeds avatar ids and the random fault draw.
	Seed int64
	// SlowDelay is how long the slow faults stall (DefaultSlowDelay when zero); set it above the
	// client's timeout to provoke one. Stalls follow the wall clock, not Now.
	SlowDelay time.Duration
	// RetryAfter is the Retry-After of the 429 fault (DefaultRetryAfter when zero).
	RetryAfter time.Duration
	// RateLimit is how many authenticated /v1 requests one token may make per RateWindow; 0 turns
	// the limit off. The excess gets 429 with Retry-After.
	RateLimit int
	// RateWindow is the fixed window of RateLimit (DefaultRateWindow when zero).
	RateWindow time.Duration
	// MaxBodyBytes bounds the build request body (DefaultMaxBodyBytes when zero); a bigger body
	// gets 413.
	MaxBodyBytes int64
	// MaxImageBytes bounds the decoded image (DefaultMaxImageBytes when zero); a bigger image gets
	// 422 at body.image.
	MaxImageBytes int64
	// MaxBuilds, when positive, is how many avatars may be PENDING or BUILDING at once: a POST
	// beyond it gets 429 with Retry-After (seconds until the first of them finishes) and creates
	// nothing. Counted in Stats.RateLimited.
	MaxBuilds int
	// Outage makes every /v1 request get 503 with Retry-After for this long after New.
	Outage time.Duration
	// Now is the clock that drives status progression, created_at, the rate limit, MaxBuilds and
	// Outage (time.Now when nil).
	Now func() time.Time
}

// Simulator is the simulated Mirako API, an http.Handler. Create it with New or NewServer.
type Simulator struct {
	cfg       Config
	userID    string
	outageEnd time.Time

	closeOnce sync.Once
	closed    chan struct{}

	mu        sync.Mutex
	idRand    *rand.Rand
	faultRand *rand.Rand
	avatars   map[string]*avatar
	order     []*avatar // in creation order
	seq       int
	scripts   map[string][]scriptRun // by endpoint; "" is the global script
	posts     map[string]int         // POSTs per name that reached the name-tag stage
	windows   map[string]*rateWindow // by token
	stats     Stats
}

type scriptRun struct {
	fault Fault
	left  int
}

type rateWindow struct {
	start time.Time
	count int
}

// Stats are the simulator's counters, as Stats returns them and GET /_sim/stats serves them.
type Stats struct {
	// BuildsCreated is the number of avatars created by POST /v1/avatar/async_build.
	BuildsCreated int `json:"builds_created"`
	// BuildsByName counts created avatars by name.
	BuildsByName map[string]int `json:"builds_by_name"`
	// BuildsDeleted is the number of avatars deleted.
	BuildsDeleted int `json:"builds_deleted"`
	// Avatars counts the avatars that exist now, by their current status.
	Avatars map[string]int `json:"avatars"`
	// Requests counts /v1 requests by endpoint (EndpointBuild, …, EndpointOther), faulted ones included.
	Requests map[string]int `json:"requests"`
	// Responses counts the answers written, by HTTP status code ("200", "404", …); resets and
	// answers dropped because the client left are not answers.
	Responses map[string]int `json:"responses"`
	// Faults counts injected faults by kind, whether from a script, a name or the random draw.
	Faults map[Fault]int `json:"faults"`
	// RateLimited counts requests refused by the rate limit (not counted in Faults).
	RateLimited int `json:"rate_limited"`
}

// New returns a simulator configured by cfg. It panics if cfg.FaultKinds names an unknown fault or
// FaultRate is outside [0, 1], as those are programming errors.
func New(cfg Config) *Simulator {
	if cfg.Token == "" {
		cfg.Token = DefaultToken
	}
	if cfg.FaultRate < 0 || cfg.FaultRate > 1 {
		panic(fmt.Sprintf("mirakotest: FaultRate %v outside [0, 1]", cfg.FaultRate))
	}
	if len(cfg.FaultKinds) == 0 {
		cfg.FaultKinds = DefaultFaultKinds()
	}
	cfg.FaultKinds = append([]Fault(nil), cfg.FaultKinds...)
	for _, f := range cfg.FaultKinds {
		mustKnow(f)
	}
	if cfg.SlowDelay <= 0 {
		cfg.SlowDelay = DefaultSlowDelay
	}
	if cfg.RetryAfter <= 0 {
		cfg.RetryAfter = DefaultRetryAfter
	}
	if cfg.RateWindow <= 0 {
		cfg.RateWindow = DefaultRateWindow
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.MaxImageBytes <= 0 {
		cfg.MaxImageBytes = DefaultMaxImageBytes
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	seed := uint64(cfg.Seed)
	return &Simulator{
		cfg:       cfg,
		userID:    userIDFor(cfg.Token),
		outageEnd: cfg.Now().Add(cfg.Outage),
		closed:    make(chan struct{}),
		idRand:    rand.New(rand.NewPCG(seed, 0x6d6972616b6f6964)), // "mirakoid"
		faultRand: rand.New(rand.NewPCG(seed, 0x6d6972616b6f666c)), // "mirakofl"
		avatars:   map[string]*avatar{},
		scripts:   map[string][]scriptRun{},
		posts:     map[string]int{},
		windows:   map[string]*rateWindow{},
		stats: Stats{
			BuildsByName: map[string]int{},
			Requests:     map[string]int{},
			Responses:    map[string]int{},
			Faults:       map[Fault]int{},
		},
	}
}

// Close ends every stall of a slow fault at once (the stalled request is then dropped without an
// answer: its connection is closed), so that a server can shut down without waiting for SlowDelay.
// The simulator keeps serving otherwise. NewServer calls it on cleanup; it is safe to call more than
// once.
func (s *Simulator) Close() {
	s.closeOnce.Do(func() { close(s.closed) })
}

// Script makes the next n /v1 requests, whatever their endpoint, get fault f (after any per-endpoint
// script that applies to them). Scripts queue up: Script(Fault500, 2) then Script(FaultReset, 1) gives two
// 500s, then a reset. It panics on an unknown fault.
func (s *Simulator) Script(f Fault, n int) {
	s.script("", f, n)
}

// ScriptFor makes the next n requests to endpoint (EndpointBuild, EndpointGet, EndpointList or
// EndpointDelete) get fault f; it takes precedence over Script. It panics on an unknown endpoint or
// fault.
func (s *Simulator) ScriptFor(endpoint string, f Fault, n int) {
	if !slices.Contains(endpoints, endpoint) {
		panic(fmt.Sprintf("mirakotest: ScriptFor: unknown endpoint %q", endpoint))
	}
	s.script(endpoint, f, n)
}

func (s *Simulator) script(key string, f Fault, n int) {
	mustKnow(f)
	if n <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.scripts[key] = append(s.scripts[key], scriptRun{fault: f, left: n})
}

// Stats returns a snapshot of the counters.
func (s *Simulator) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.Now()
	st := s.stats
	st.BuildsByName = maps.Clone(s.stats.BuildsByName)
	st.Requests = maps.Clone(s.stats.Requests)
	st.Responses = maps.Clone(s.stats.Responses)
	st.Faults = maps.Clone(s.stats.Faults)
	st.Avatars = map[string]int{}
	for _, a := range s.avatars {
		st.Avatars[s.statusOf(a, now)]++
	}
	return st
}

// ServeHTTP serves the simulated API and GET /_sim/stats. A reset, or a stall the client gave up on,
// ends the request with panic(http.ErrAbortHandler), which net/http turns into a dropped connection.
func (s *Simulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/_sim/stats" {
		s.serveStats(w, r)
		return
	}
	if !strings.HasPrefix(r.URL.Path, "/v1/") {
		s.write(w, problemResponse(http.StatusNotFound, "no such path "+r.URL.Path, nil))
		return
	}
	rt := route(r.Method, r.URL.Path)

	s.mu.Lock()
	s.stats.Requests[rt.endpoint]++
	if left := s.outageEnd.Sub(s.cfg.Now()); left > 0 {
		s.mu.Unlock()
		resp := problemResponse(http.StatusServiceUnavailable, "the service is down (simulated outage)", nil)
		resp.header.Set("Retry-After", retryAfterSeconds(left))
		s.write(w, resp)
		return
	}
	fault := s.drawFaultLocked(rt.endpoint)
	s.mu.Unlock()

	if fault != "" {
		s.countFault(fault)
		switch {
		case fault == FaultSlow:
			// The request is processed only if the client waited; it is answered below.
			if !s.stallRequest(r) {
				abort()
			}
		case fault.before():
			s.deliver(w, r, nil, fault)
			return
		}
	}
	resp := s.handle(r, rt, fault != "")
	switch {
	case fault == "":
		fault = resp.fault // from the avatar's name (counted where it was chosen), if any
	case fault == FaultSlow:
		fault = "" // already stalled
	}
	s.deliver(w, r, resp, fault)
}

// drawFaultLocked picks the fault of one request: per-endpoint script, global script, random draw.
// The random numbers are drawn for every request, so scripts do not shift the random sequence.
func (s *Simulator) drawFaultLocked(endpoint string) Fault {
	var random Fault
	if s.cfg.FaultRate > 0 {
		p, k := s.faultRand.Float64(), s.faultRand.IntN(len(s.cfg.FaultKinds))
		if p < s.cfg.FaultRate {
			random = s.cfg.FaultKinds[k]
		}
	}
	for _, key := range []string{endpoint, ""} {
		runs := s.scripts[key]
		if key == EndpointOther || len(runs) == 0 {
			continue
		}
		f := runs[0].fault
		if runs[0].left--; runs[0].left == 0 {
			s.scripts[key] = runs[1:]
		}
		return f
	}
	return random
}

func (s *Simulator) countFault(f Fault) {
	s.mu.Lock()
	s.stats.Faults[f]++
	s.mu.Unlock()
}

// routed is a request matched to an operation.
type routed struct {
	endpoint string
	id       string   // for EndpointGet and EndpointDelete
	allow    []string // for a known path with a method it does not serve: 405
}

func route(method, path string) routed {
	switch path {
	case "/v1/avatar/async_build":
		if method == http.MethodPost {
			return routed{endpoint: EndpointBuild}
		}
		return routed{endpoint: EndpointOther, allow: []string{http.MethodPost}}
	case "/v1/avatar/list":
		if method == http.MethodGet {
			return routed{endpoint: EndpointList}
		}
		return routed{endpoint: EndpointOther, allow: []string{http.MethodGet}}
	}
	id, ok := strings.CutPrefix(path, "/v1/avatar/")
	if !ok || id == "" || strings.Contains(id, "/") {
		return routed{endpoint: EndpointOther}
	}
	switch method {
	case http.MethodGet:
		return routed{endpoint: EndpointGet, id: id}
	case http.MethodDelete:
		return routed{endpoint: EndpointDelete, id: id}
	}
	return routed{endpoint: EndpointOther, allow: []string{http.MethodGet, http.MethodDelete}}
}

// handle authenticates, rate-limits and runs the operation. faulted tells whether the request already
// has a fault, in which case a name's fault tag is not used.
func (s *Simulator) handle(r *http.Request, rt routed, faulted bool) *response {
	if resp := s.authorize(r); resp != nil {
		return resp
	}
	if resp := s.rateLimit(); resp != nil {
		return resp
	}
	switch {
	case rt.allow != nil:
		resp := problemResponse(http.StatusMethodNotAllowed,
			fmt.Sprintf("method %s is not allowed on %s", r.Method, r.URL.Path), nil)
		resp.header.Set("Allow", strings.Join(rt.allow, ", "))
		return resp
	case rt.endpoint == EndpointBuild:
		return s.build(r, faulted)
	case rt.endpoint == EndpointGet:
		return s.get(rt.id, faulted)
	case rt.endpoint == EndpointList:
		return s.list()
	case rt.endpoint == EndpointDelete:
		return s.delete(rt.id)
	}
	return problemResponse(http.StatusNotFound, "no such path "+r.URL.Path, nil)
}

// authorize checks the bearer token; it returns a 401 answer or nil.
func (s *Simulator) authorize(r *http.Request) *response {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	var detail string
	switch {
	case !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "":
		detail = "missing bearer token: send Authorization: Bearer <API token>"
	case strings.TrimSpace(token) != s.cfg.Token:
		// Never echo the token back.
		detail = "invalid API token"
	default:
		return nil
	}
	resp := problemResponse(http.StatusUnauthorized, detail, nil)
	resp.header.Set("WWW-Authenticate", `Bearer realm="mirako"`)
	return resp
}

// rateLimit counts an authenticated request against the token's window; it returns a 429 or nil.
// Only one token authenticates, so the token's window is the simulator's.
func (s *Simulator) rateLimit() *response {
	if s.cfg.RateLimit <= 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.Now()
	win := s.windows[s.cfg.Token]
	if win == nil || !now.Before(win.start.Add(s.cfg.RateWindow)) {
		win = &rateWindow{start: now}
		s.windows[s.cfg.Token] = win
	}
	if win.count < s.cfg.RateLimit {
		win.count++
		return nil
	}
	s.stats.RateLimited++
	wait := win.start.Add(s.cfg.RateWindow).Sub(now)
	resp := problemResponse(http.StatusTooManyRequests,
		fmt.Sprintf("rate limit exceeded: %d requests per %s", s.cfg.RateLimit, s.cfg.RateWindow), nil)
	resp.header.Set("Retry-After", retryAfterSeconds(wait))
	return resp
}

// retryAfterSeconds renders d as delay-seconds, rounded up, at least 1.
func retryAfterSeconds(d time.Duration) string {
	secs := int64((d + time.Second - 1) / time.Second)
	if secs < 1 {
		secs = 1
	}
	return strconv.FormatInt(secs, 10)
}

func (s *Simulator) serveStats(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		resp := problemResponse(http.StatusMethodNotAllowed, "method "+r.Method+" is not allowed on /_sim/stats", nil)
		resp.header.Set("Allow", "GET")
		writeResponse(w, resp)
		return
	}
	writeResponse(w, jsonResponse(http.StatusOK, s.Stats()))
}

// stall waits SlowDelay; it returns false if the client left or the simulator was closed first.
func (s *Simulator) stall(ctx context.Context) bool {
	t := time.NewTimer(s.cfg.SlowDelay)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-s.closed:
		return false
	}
}

// userIDFor derives a stable UUID-shaped user id from the token, so the token itself never appears.
func userIDFor(token string) string {
	sum := sha256.Sum256([]byte("mirakotest user " + token))
	return formatUUID(sum[:16])
}

// newIDLocked returns a random (version 4) UUID from the seeded generator.
func (s *Simulator) newIDLocked() string {
	var b [16]byte
	for i := 0; i < 16; i += 8 {
		v := s.idRand.Uint64()
		for j := 0; j < 8; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return formatUUID(b[:])
}

func formatUUID(b []byte) string {
	var u [16]byte
	copy(u[:], b)
	u[6] = u[6]&0x0f | 0x40 // version 4
	u[8] = u[8]&0x3f | 0x80 // RFC 4122 variant
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}
