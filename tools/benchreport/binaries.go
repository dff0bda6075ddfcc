package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/avatar-pipeline/avatar-pipeline/internal/pipeline"
)

// functions are the functions' directory names under functions/ (and under
// -bin and -hostbin).
var functions = []string{"submit", "checkstatus", "notify", "sweep", "webhook"}

// runBinaries reports the sizes of the arm64 bootstraps in
// dir/<name>/bootstrap, and of the empty reference function when dir has it.
func runBinaries(r *report, dir string) error {
	if dir == "" {
		return errors.New("no -bin directory: make bench builds the arm64 bootstraps and passes it")
	}
	for _, name := range functions {
		fi, err := os.Stat(filepath.Join(dir, name, "bootstrap"))
		if err != nil {
			return err
		}
		r.add("binary_"+name+"_bytes", float64(fi.Size()), "bytes")
	}
	if fi, err := os.Stat(filepath.Join(dir, emptyLambda, "bootstrap")); err == nil {
		r.add("binary_"+emptyLambda+"_bytes", float64(fi.Size()), "bytes")
	}
	return nil
}

// The fake services' answers.
const (
	secretToken = "bench-token"
	fakeTopic   = "arn:aws:sns:us-east-1:123456789012:avatar-build-events"
)

// runtimeAPI is a fake Lambda Runtime API that notes when the first
// "next invocation" request arrives and then holds it: a function is
// initialised once it asks for work.
type runtimeAPI struct {
	mu      sync.Mutex
	arrived chan time.Time
	initErr chan string
}

func (a *runtimeAPI) expect() (<-chan time.Time, <-chan string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.arrived, a.initErr = make(chan time.Time, 1), make(chan string, 1)
	return a.arrived, a.initErr
}

func (a *runtimeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	a.mu.Lock()
	arrived, initErr := a.arrived, a.initErr
	a.mu.Unlock()
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/2018-06-01/runtime/invocation/next":
		select {
		case arrived <- now:
		default:
		}
		<-r.Context().Done() // held until the process is stopped
	case r.Method == http.MethodPost && r.URL.Path == "/2018-06-01/runtime/init/error":
		body, _ := io.ReadAll(io.LimitReader(r.Body, 4<<10))
		select {
		case initErr <- string(body):
		default:
		}
		w.WriteHeader(http.StatusAccepted)
	default:
		http.NotFound(w, r)
	}
}

// secretsManager is a fake Secrets Manager endpoint answering
// GetSecretValue with the token.
func secretsManager() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Amz-Target") != "secretsmanager.GetSecretValue" {
			w.Header().Set("Content-Type", "application/x-amz-json-1.1")
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"__type":"InvalidRequestException","message":"only GetSecretValue is faked"}`)
			return
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		fmt.Fprintf(w, `{"ARN":"arn:aws:secretsmanager:us-east-1:123456789012:secret:avatar-pipeline/mirako-token-AbCdEf","Name":"avatar-pipeline/mirako-token","SecretString":%q,"VersionId":"v1","VersionStages":["AWSCURRENT"],"CreatedDate":1.7e9}`, secretToken)
	})
}

// runInit measures each function's cold start: from exec to its first
// Runtime API request, against the fakes, with the environment the
// template gives it (resources by dummy names) and dummy credentials. The
// median of runs is reported, for the empty reference function too when
// dir has it.
func runInit(r *report, dir string, runs int) error {
	if dir == "" {
		return errors.New("no -hostbin directory: make bench builds the functions for this machine and passes it")
	}
	api := &runtimeAPI{}
	rt := httptest.NewServer(api)
	defer rt.Close()
	sm := httptest.NewServer(secretsManager())
	defer sm.Close()
	tmp, err := os.MkdirTemp("", "benchreport-init-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	all := functions
	if _, err := os.Stat(filepath.Join(dir, emptyLambda)); err == nil {
		all = append([]string{emptyLambda}, all...)
	} else {
		logf("init: no %s in %s; no reference cold start", emptyLambda, dir)
	}
	for _, name := range all {
		env := functionEnv(name, strings.TrimPrefix(rt.URL, "http://"), sm.URL, tmp)
		bin := filepath.Join(dir, name)
		var times []float64
		for i := range runs + 1 {
			d, err := coldStart(api, bin, env)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			if i > 0 { // the first run pulls the binary into the page cache
				times = append(times, float64(d)/float64(time.Millisecond))
			}
		}
		r.add("init_"+name+"_ms", median(times), "ms")
		r.add("init_"+name+"_max_ms", slices.Max(times), "ms")
	}
	return nil
}

// emptyLambda is the reference function (./tools/benchreport/emptylambda)
// in the -hostbin directory.
const emptyLambda = "emptylambda"

// functionEnv is a function's environment for a cold start outside AWS:
// the Lambda runtime's variables and the template's for the function
// (none for the empty reference function).
func functionEnv(name, runtimeAddr, endpoint, tmp string) []string {
	keys := map[string][]string{"submit": pipeline.SubmitEnv, "checkstatus": pipeline.CheckStatusEnv, "notify": pipeline.NotifyEnv}[name]
	values := map[string]string{pipeline.EnvBuildsTable: "avatar-builds", pipeline.EnvTopicARN: fakeTopic,
		pipeline.EnvMirakoSecretID: "avatar-pipeline/mirako-token", pipeline.EnvLearnedHeadStart: "true"}
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"AWS_LAMBDA_RUNTIME_API=" + runtimeAddr,
		"AWS_LAMBDA_FUNCTION_NAME=avatar-" + name,
		"AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128",
		"AWS_LAMBDA_LOG_FORMAT=JSON",
		"_HANDLER=bootstrap",
		"AWS_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=AKIDBENCHMARK",
		"AWS_SECRET_ACCESS_KEY=benchmark",
		"AWS_SESSION_TOKEN=benchmark",
		"AWS_ENDPOINT_URL=" + endpoint,
		// No shared config or credentials files, as in Lambda.
		"AWS_CONFIG_FILE=" + filepath.Join(tmp, "config"),
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(tmp, "credentials"),
		"AWS_EC2_METADATA_DISABLED=true",
		"HOME=" + tmp,
	}
	for _, k := range keys {
		if v, ok := values[k]; ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// coldStart starts bin once and returns the time from exec to its first
// Runtime API request.
func coldStart(api *runtimeAPI, bin string, env []string) (time.Duration, error) {
	arrived, initErr := api.expect()
	cmd := exec.Command(bin)
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	exited := make(chan error, 1)
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		cmd.Process.Kill()
		<-exited
	}
	select {
	case at := <-arrived:
		stop()
		return at.Sub(start), nil
	case msg := <-initErr:
		stop()
		return 0, fmt.Errorf("init failed: %s\n%s", msg, out.String())
	case err := <-exited:
		return 0, fmt.Errorf("exited before asking for work (%v):\n%s", err, out.String())
	case <-time.After(10 * time.Second):
		stop()
		return 0, fmt.Errorf("no Runtime API request after 10 s:\n%s", out.String())
	}
}
