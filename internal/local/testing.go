package local

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"
)

// StartTest starts a local stack for a test, on free ports unless o names
// them, logging to the test's log unless o.Out is set, and closes it when
// the test ends. A machine without moto_server fails the test (with the
// install hint): end-to-end tests never skip.
func StartTest(t testing.TB, o Options) *Stack {
	t.Helper()
	if o.Addr == "" {
		o.Addr = "127.0.0.1:0"
	}
	if o.SimAddr == "" {
		o.SimAddr = "127.0.0.1:0"
	}
	var tw *testWriter
	if o.Out == nil {
		tw = &testWriter{t: t}
		o.Out = tw
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := Start(ctx, o)
	if err != nil {
		t.Fatalf("start the local stack: %v", err)
	}
	t.Cleanup(func() {
		s.Close()
		if tw != nil {
			tw.stop()
		}
	})
	return s
}

// testWriter sends a stack's log lines to t.Log until the stack is closed:
// t.Log after the test has ended panics, and a function invocation that
// outlived its deadline may still log then.
type testWriter struct {
	mu      sync.Mutex
	t       testing.TB
	stopped bool
}

func (w *testWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.stopped {
		w.t.Log(strings.TrimRight(string(b), "\n"))
	}
	return len(b), nil
}

func (w *testWriter) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopped = true
}

// LogBuffer keeps a stack's log (Options.Out) in memory, safe for the
// stack's concurrent writers: for a stack that outlives one test, whose
// t.Log would panic, and for tests that read the log afterwards.
type LogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns what has been written so far.
func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
