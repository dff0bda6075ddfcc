package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"io"
	"net/http"
	"os"
	"os/exec"
	"reflect"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/avatar-pipeline/avatar-pipeline/internal/mirako/mirakotest"
)

// simHelperEnv makes TestSimHelperProcess run avatarctl's main with the arguments after "--", so that
// the signal tests can start avatarctl as a real process from the test binary, without a separate
// build (the os/exec tests' helper-process pattern).
const simHelperEnv = "AVATARCTL_SIM_HELPER_PROCESS"

// TestSimHelperProcess is not a test: it is avatarctl when started by TestSimStopsOnSignal.
func TestSimHelperProcess(t *testing.T) {
	if os.Getenv(simHelperEnv) != "1" {
		t.Skip("helper process for TestSimStopsOnSignal")
	}
	args := os.Args
	for i, a := range args {
		if a == "--" {
			args = args[i+1:]
			break
		}
	}
	os.Args = append([]string{"avatarctl"}, args...)
	main() // exits
}

// startAvatarctl starts avatarctl with args as a separate process.
func startAvatarctl(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], append([]string{"-test.run=^TestSimHelperProcess$", "--"}, args...)...)
	cmd.Env = append(os.Environ(), simHelperEnv+"=1")
	return cmd
}

var listeningLine = regexp.MustCompile(`^mirako simulator listening on (http://127\.0\.0\.1:[0-9]+)$`)

// readListening reads the first line the command prints and returns the base URL in it.
func readListening(t *testing.T, r io.Reader) (string, *bufio.Reader) {
	t.Helper()
	br := bufio.NewReader(r)
	type result struct {
		line string
		err  error
	}
	got := make(chan result, 1)
	go func() {
		line, err := br.ReadString('\n')
		got <- result{line, err}
	}()
	select {
	case res := <-got:
		m := listeningLine.FindStringSubmatch(strings.TrimSuffix(res.line, "\n"))
		if res.err != nil || m == nil {
			t.Fatalf("first line: got %q (%v), want %q", res.line, res.err, listeningLine)
		}
		return m[1], br
	case <-time.After(20 * time.Second):
		t.Fatal("no listening line within 20s")
	}
	return "", nil
}

// pngBase64 is a small real PNG, base64-encoded as a client would send it.
func pngBase64(t *testing.T) string {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewGray(image.Rect(0, 0, 4, 4))); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b.Bytes())
}

// curl sends a request the way `curl -H 'Authorization: Bearer …' -d …` would and decodes the JSON answer.
func curl(t *testing.T, method, url, token, body string, out any) int {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read: %v", method, url, err)
	}
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, url, raw, err)
		}
	}
	return resp.StatusCode
}

// TestSimServesABuildToReady runs `avatarctl sim` in-process and drives a build from POST to READY
// with plain HTTP, as curl would.
func TestSimServesABuildToReady(t *testing.T) {
	const token = "mi-sim-test"
	pr, pw := io.Pipe()
	var stderr bytes.Buffer
	cmd := newRootCmd()
	cmd.SetArgs([]string{"sim", "--addr", "127.0.0.1:0", "--token", token, "--build-seconds", "1", "--seed", "42"})
	cmd.SetOut(pw)
	cmd.SetErr(&stderr)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- cmd.ExecuteContext(ctx)
		pw.Close()
	}()
	base, rest := readListening(t, pr)

	var created struct {
		Data struct {
			AvatarID string `json:"avatar_id"`
		} `json:"data"`
	}
	body := fmt.Sprintf(`{"name":"Ada","image":%q}`, pngBase64(t))
	if status := curl(t, http.MethodPost, base+"/v1/avatar/async_build", token, body, &created); status != 200 || created.Data.AvatarID == "" {
		t.Fatalf("POST: got %d %+v, want 200 with an avatar id", status, created)
	}
	if status := curl(t, http.MethodPost, base+"/v1/avatar/async_build", "wrong", body, nil); status != 401 {
		t.Errorf("POST with a wrong token: got %d, want 401", status)
	}

	var seen []string
	deadline := time.Now().Add(15 * time.Second)
	var avatar struct {
		Data struct {
			Status string `json:"status"`
			Themes []struct {
				Name, KeyImage, LiveVideo string
			} `json:"themes"`
		} `json:"data"`
	}
	for {
		if status := curl(t, http.MethodGet, base+"/v1/avatar/"+created.Data.AvatarID, token, "", &avatar); status != 200 {
			t.Fatalf("GET: got %d, want 200", status)
		}
		if len(seen) == 0 || seen[len(seen)-1] != avatar.Data.Status {
			seen = append(seen, avatar.Data.Status)
		}
		if avatar.Data.Status == "READY" || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if seen[len(seen)-1] != "READY" || len(avatar.Data.Themes) == 0 {
		t.Fatalf("statuses: got %v with themes %+v, want READY with themes within 15s", seen, avatar.Data.Themes)
	}
	if seen[0] != "PENDING" && seen[0] != "BUILDING" {
		t.Errorf("first status: got %s, want PENDING or BUILDING", seen[0])
	}

	var stats struct {
		BuildsCreated int            `json:"builds_created"`
		BuildsByName  map[string]int `json:"builds_by_name"`
	}
	if status := curl(t, http.MethodGet, base+"/_sim/stats", "", "", &stats); status != 200 || stats.BuildsCreated != 1 || stats.BuildsByName["Ada"] != 1 {
		t.Errorf("stats: got %d %+v, want one build of Ada", status, stats)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("sim after cancel: got %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("sim still running 10s after cancel")
	}
	if more, _ := io.ReadAll(rest); len(more) > 0 {
		t.Errorf("output after the first line: got %q, want nothing", more)
	}
	if stderr.Len() > 0 {
		t.Errorf("stderr: got %q, want nothing", stderr.String())
	}
}

func TestSimRejectsBadFlags(t *testing.T) {
	tests := []struct {
		args    []string
		wantErr string
	}{
		{[]string{"--fault-rate", "1.5"}, "--fault-rate"},
		{[]string{"--build-seconds", "-1"}, "--build-seconds"},
		{[]string{"--token", ""}, "--token"},
		{[]string{"--slow-seconds", "0"}, "--slow-seconds"},
		{[]string{"--rate-limit", "-2"}, "--rate-limit"},
		{[]string{"--sim-max-builds", "-1"}, "--sim-max-builds"},
		{[]string{"--sim-max-builds", "two"}, "--sim-max-builds"},
		{[]string{"--sim-outage-seconds", "-0.5"}, "--sim-outage-seconds"},
		{[]string{"--sim-outage-seconds", "NaN"}, "--sim-outage-seconds"},
		{[]string{"--addr", "127.0.0.1:notaport"}, "listen"},
		{[]string{"extra"}, "unknown command"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			cmd := newRootCmd()
			var out bytes.Buffer
			cmd.SetOut(&out)
			cmd.SetErr(&out)
			cmd.SetArgs(append([]string{"sim", "--addr", "127.0.0.1:0"}, tc.args...))
			err := cmd.Execute()
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("got %v, want an error about %s", err, tc.wantErr)
			}
			if strings.Contains(out.String(), "listening") {
				t.Errorf("output: got %q, want no listening line", out.String())
			}
		})
	}
}

// TestAddSimFlags parses the shared simulator flags alone, as avatarctl local will.
func TestAddSimFlags(t *testing.T) {
	tests := []struct {
		args []string
		want mirakotest.Config
	}{
		{nil, mirakotest.Config{BuildTime: 20 * time.Second, Seed: 1}},
		{[]string{"--sim-max-builds", "3"}, mirakotest.Config{BuildTime: 20 * time.Second, Seed: 1, MaxBuilds: 3}},
		{[]string{"--sim-outage-seconds", "1.5", "--sim-max-builds=0"}, mirakotest.Config{BuildTime: 20 * time.Second, Seed: 1, Outage: 1500 * time.Millisecond}},
		{[]string{"--sim-outage-seconds=90"}, mirakotest.Config{BuildTime: 20 * time.Second, Seed: 1, Outage: 90 * time.Second}},
		{[]string{"--build-seconds", "0.5", "--fault-rate", "0.25", "--seed", "7"}, mirakotest.Config{BuildTime: 500 * time.Millisecond, FaultRate: 0.25, Seed: 7}},
	}
	for _, tc := range tests {
		f := pflag.NewFlagSet("local", pflag.ContinueOnError)
		cfg := addSimFlags(f)
		if err := f.Parse(tc.args); err != nil {
			t.Fatalf("%q: %v", tc.args, err)
		}
		if !reflect.DeepEqual(*cfg, tc.want) {
			t.Errorf("%q: got %+v, want %+v", tc.args, *cfg, tc.want)
		}
	}
}

// startSim runs `avatarctl sim` in-process with args and returns its base URL; it stops with the test.
func startSim(t *testing.T, args ...string) string {
	t.Helper()
	pr, pw := io.Pipe()
	cmd := newRootCmd()
	cmd.SetArgs(append([]string{"sim", "--addr", "127.0.0.1:0"}, args...))
	cmd.SetOut(pw)
	cmd.SetErr(io.Discard)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- cmd.ExecuteContext(ctx)
		pw.Close()
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("sim: %v", err)
		}
	})
	base, _ := readListening(t, pr)
	return base
}

// TestSimMaxBuildsAndOutage shows the two flags reach the simulator: with one build in flight the
// next POST gets 429 with Retry-After, and during an outage every request gets 503.
func TestSimMaxBuildsAndOutage(t *testing.T) {
	body := fmt.Sprintf(`{"name":"Ada","image":%q}`, pngBase64(t))
	post := func(base string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, base+"/v1/avatar/async_build", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer sim-token")
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Retry-After")
	}

	base := startSim(t, "--build-seconds", "600", "--sim-max-builds", "1")
	if status, _ := post(base); status != 200 {
		t.Fatalf("first POST: got %d, want 200", status)
	}
	if status, retry := post(base); status != 429 || !between(retry, 599, 600) {
		t.Errorf("second POST: got %d Retry-After %q, want 429 Retry-After 599 or 600", status, retry)
	}

	base = startSim(t, "--sim-outage-seconds", "600")
	if status, retry := post(base); status != 503 || !between(retry, 599, 600) {
		t.Errorf("POST during the outage: got %d Retry-After %q, want 503 Retry-After 599 or 600", status, retry)
	}
	var stats struct {
		BuildsCreated int            `json:"builds_created"`
		Responses     map[string]int `json:"responses"`
	}
	if status := curl(t, http.MethodGet, base+"/_sim/stats", "", "", &stats); status != 200 || stats.BuildsCreated != 0 || stats.Responses["503"] != 1 {
		t.Errorf("stats: got %d %+v, want no build and one 503", status, stats)
	}
}

// between reports whether s is a whole number from lo to hi.
func between(s string, lo, hi int) bool {
	n, err := strconv.Atoi(s)
	return err == nil && lo <= n && n <= hi
}

// TestSimStopsOnSignal runs avatarctl as a process and checks SIGINT and SIGTERM stop it cleanly, also
// while a request is stalled by a slow fault.
func TestSimStopsOnSignal(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no SIGTERM on Windows")
	}
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			cmd := startAvatarctl("sim", "--addr", "127.0.0.1:0", "--build-seconds", "0", "--slow-seconds", "600")
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			t.Cleanup(func() {
				if cmd.ProcessState == nil {
					_ = cmd.Process.Kill()
				}
			})
			base, rest := readListening(t, stdout)

			// A POST that stalls for 600s ("[slow]" in the name) must not hold the shutdown up.
			stalled := make(chan error, 1)
			go func() {
				body := fmt.Sprintf(`{"name":"Ada [slow]","image":%q}`, pngBase64(t))
				req, _ := http.NewRequest(http.MethodPost, base+"/v1/avatar/async_build", strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer sim-token") // the default token
				req.Header.Set("Content-Type", "application/json")
				resp, err := http.DefaultClient.Do(req)
				if err == nil {
					resp.Body.Close()
				}
				stalled <- err
			}()
			for start := time.Now(); ; time.Sleep(20 * time.Millisecond) {
				var stats struct {
					Faults map[string]int `json:"faults"`
				}
				curl(t, http.MethodGet, base+"/_sim/stats", "", "", &stats)
				if stats.Faults["slow"] == 1 {
					break
				}
				if time.Since(start) > 10*time.Second {
					t.Fatal("the slow POST did not start stalling within 10s")
				}
			}

			start := time.Now()
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			extra := make(chan []byte, 1)
			go func() {
				more, _ := io.ReadAll(rest) // until the process closes stdout; Wait comes after
				extra <- more
				exited <- cmd.Wait()
			}()
			select {
			case err := <-exited:
				if err != nil {
					t.Errorf("exit: got %v, want status 0 (stderr %q)", err, stderr.String())
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("still running 10s after %s", sig)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("shutdown took %s, want well under the 600s stall", d)
			}
			if more := <-extra; len(more) > 0 {
				t.Errorf("output after the first line: got %q, want nothing", more)
			}
			if err := <-stalled; err == nil {
				t.Error("stalled POST: got an answer, want the connection dropped at shutdown")
			}
			if stderr.Len() > 0 {
				t.Errorf("stderr: got %q, want nothing", stderr.String())
			}
		})
	}
}
