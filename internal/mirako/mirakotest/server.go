package mirakotest

import (
	"net/http/httptest"
	"testing"
)

// NewServer starts a simulator configured by cfg on a local httptest server and stops both when the
// test ends (Close first, so stalled slow faults do not hold the shutdown up). The client's base URL
// is srv.URL.
func NewServer(t testing.TB, cfg Config) (*Simulator, *httptest.Server) {
	t.Helper()
	sim := New(cfg)
	srv := httptest.NewServer(sim)
	// Cleanups run last-in first-out: the simulator is closed before the server.
	t.Cleanup(srv.Close)
	t.Cleanup(sim.Close)
	return sim, srv
}
