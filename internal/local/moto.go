package local

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// MotoCommand is the program the local stack runs: moto's stand-alone server.
const MotoCommand = "moto_server"

// ErrMotoMissing is returned when moto_server is not on PATH.
var ErrMotoMissing = errors.New("moto_server not found: run the tests with make test, which sets it up, or install it with: python3 -m pip install -r tools/requirements.txt")

// motoReadyTimeout bounds moto_server's start: importing moto takes a few
// seconds on a busy machine, never this long.
const motoReadyTimeout = 60 * time.Second

// sitecustomize is put on moto_server's PYTHONPATH; see the file for what it
// changes and why.
//
//go:embed sitecustomize.py
var sitecustomize []byte

// Moto is a moto_server process started by StartMoto, listening on a private
// loopback port, with Step Functions execution turned on.
type Moto struct {
	// URL is moto's own address, http://127.0.0.1:PORT. Clients use the
	// gateway instead; only the gateway talks to URL.
	URL string

	cmd   *exec.Cmd
	stdin io.WriteCloser
	dir   string
	tail  *tail
	done  chan struct{} // closed when the process has exited
	once  sync.Once
}

// StartMoto starts moto_server on a free loopback port and waits until it
// serves requests. awsPort is the port moto's Step Functions engine sends its
// own AWS calls to (moto's MOTO_PORT): the gateway's, so that Lambda tasks
// reach the in-process functions. moto's request log goes to log (nil
// discards it).
//
// The process runs in its own process group, which Close ends as a whole. If
// this process dies without calling Close, moto_server notices its closed
// standard input and exits too.
func StartMoto(ctx context.Context, awsPort int, log io.Writer) (*Moto, error) {
	path, err := exec.LookPath(MotoCommand)
	if err != nil {
		return nil, ErrMotoMissing
	}
	if log == nil {
		log = io.Discard
	}
	m, stderr, err := spawnMoto(path, awsPort)
	if err != nil {
		return nil, fmt.Errorf("start moto: %w", err)
	}
	ready := make(chan string, 1)
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		m.scan(stderr, log, ready)
	}()
	go func() {
		<-scanned // Wait must not run before the pipe is drained
		m.cmd.Wait()
		close(m.done)
	}()

	select {
	case m.URL = <-ready:
	case <-m.done:
		m.Close()
		return nil, fmt.Errorf("moto_server exited before it was ready:\n%s", m.tail)
	case <-time.After(motoReadyTimeout):
		m.Close()
		return nil, fmt.Errorf("moto_server not ready after %s:\n%s", motoReadyTimeout, m.tail)
	case <-ctx.Done():
		m.Close()
		return nil, fmt.Errorf("start moto: %w", ctx.Err())
	}
	if err := m.configure(ctx); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

// spawnMoto starts the moto_server at path in a directory of its own, which
// holds sitecustomize.py, and returns it with its standard error.
func spawnMoto(path string, awsPort int) (m *Moto, stderr io.Reader, err error) {
	dir, err := os.MkdirTemp("", "avatar-local-moto-")
	if err != nil {
		return nil, nil, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	if err := os.WriteFile(filepath.Join(dir, "sitecustomize.py"), sitecustomize, 0o644); err != nil {
		return nil, nil, err
	}
	// Not exec.CommandContext: the context bounds the start, not the server's life.
	cmd := exec.Command(path, "-H", "127.0.0.1", "-p", "0")
	pythonPath := dir
	if old := os.Getenv("PYTHONPATH"); old != "" {
		pythonPath += string(os.PathListSeparator) + old
	}
	cmd.Env = append(os.Environ(), "MOTO_PORT="+strconv.Itoa(awsPort), "PYTHONPATH="+pythonPath,
		"AVATAR_LOCAL_MOTO=1", "PYTHONUNBUFFERED=1")
	cmd.Dir, cmd.Stdout = dir, io.Discard
	setProcessGroup(cmd)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, nil, err
	}
	if stderr, err = cmd.StderrPipe(); err != nil {
		return nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	return &Moto{cmd: cmd, stdin: stdin, dir: dir, tail: &tail{}, done: make(chan struct{})}, stderr, nil
}

// listening matches werkzeug's " * Running on http://127.0.0.1:PORT".
var listening = regexp.MustCompile(`Running on (http://[0-9.]+:[0-9]+)`)

// scan copies moto's stderr to log, keeps its last lines for error messages
// and reports the address once moto listens.
func (m *Moto) scan(r io.Reader, log io.Writer, ready chan<- string) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	found := false
	for sc.Scan() {
		line := sc.Text()
		m.tail.add(line)
		fmt.Fprintln(log, line)
		if !found {
			if g := listening.FindStringSubmatch(line); g != nil {
				found = true
				ready <- g[1]
			}
		}
	}
	io.Copy(io.Discard, r)
}

// configure turns on Step Functions execution: without it moto records
// executions but runs none of their states.
func (m *Moto) configure(ctx context.Context) error {
	body := strings.NewReader(`{"stepfunctions":{"execute_state_machine":true}}`)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.URL+"/moto-api/config", body)
	if err != nil {
		return fmt.Errorf("configure moto: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("configure moto: %w", err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("configure moto: %s: %s", resp.Status, bytes.TrimSpace(msg))
	}
	return nil
}

// Done is closed when the moto_server process has exited.
func (m *Moto) Done() <-chan struct{} { return m.done }

// Close stops moto_server and every process it started: SIGTERM to its
// process group, SIGKILL if it is still there two seconds later. It is safe
// to call more than once.
func (m *Moto) Close() error {
	m.once.Do(func() {
		m.stdin.Close()
		signalGroup(m.cmd, false)
		select {
		case <-m.done:
		case <-time.After(2 * time.Second):
			signalGroup(m.cmd, true)
			<-m.done
		}
		// The group may have outlived its leader.
		signalGroup(m.cmd, true)
		os.RemoveAll(m.dir)
	})
	return nil
}

// tail keeps the last lines of a process's output.
type tail struct {
	mu    sync.Mutex
	lines []string
}

const tailLines = 30

func (t *tail) add(line string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lines = append(t.lines, line)
	if len(t.lines) > tailLines {
		t.lines = t.lines[len(t.lines)-tailLines:]
	}
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.Join(t.lines, "\n")
}
