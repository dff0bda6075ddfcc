package local

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/avatar-pipeline/avatar-pipeline/internal/pipeline"
	"github.com/avatar-pipeline/avatar-pipeline/internal/records"
)

func TestFunctionEnvironments(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		o    Options
		want map[string]string // Submit's variables that must have these values
	}{
		{"template defaults", Options{}, map[string]string{
			pipeline.EnvHeadStart: "120", pipeline.EnvPollInterval: "30", pipeline.EnvDeadline: "10800", pipeline.EnvNotifyOnSubmit: "false"}},
		{"poll seconds", Options{PollSeconds: 5}, map[string]string{
			pipeline.EnvHeadStart: "5", pipeline.EnvPollInterval: "5", pipeline.EnvDeadline: strconv.Itoa(5 * (pipeline.MaxChecks - 1))}},
		{"poll seconds and deadline", Options{PollSeconds: 1, DeadlineSeconds: 30, NotifyOnSubmit: true}, map[string]string{
			pipeline.EnvHeadStart: "1", pipeline.EnvPollInterval: "1", pipeline.EnvDeadline: "30", pipeline.EnvNotifyOnSubmit: "true"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := environment(tc.o, "http://127.0.0.1:1", "http://127.0.0.1:9", Resources{TopicARN: "arn:topic"})
			submit := env[SubmitFunctionName]
			for k, v := range tc.want {
				if submit[k] != v {
					t.Errorf("got %s=%q, want %q", k, submit[k], v)
				}
			}
			if submit[pipeline.EnvBuildsTable] != TableName || submit[pipeline.EnvMirakoURL] != "http://127.0.0.1:9" {
				t.Errorf("got table %q Mirako %q, want the local ones", submit[pipeline.EnvBuildsTable], submit[pipeline.EnvMirakoURL])
			}
			if env[CheckFunctionName][pipeline.EnvPollInterval] != submit[pipeline.EnvPollInterval] || env[NotifyFunctionName][pipeline.EnvTopicARN] != "arn:topic" {
				t.Errorf("got CheckStatus interval %q and Notify topic %q", env[CheckFunctionName][pipeline.EnvPollInterval], env[NotifyFunctionName][pipeline.EnvTopicARN])
			}
			for name, vars := range env {
				if vars["AWS_ENDPOINT_URL"] != "http://127.0.0.1:1" || vars["AWS_ACCESS_KEY_ID"] == "" || vars["AWS_REGION"] != Region {
					t.Errorf("%s: got AWS variables %v, want the local endpoint and the function's own access key", name, vars)
				}
			}
			// Every schedule the stack hands out is one Submit accepts.
			if _, err := pipeline.SubmitConfigFromEnv(func(k string) string { return submit[k] }); err != nil {
				t.Errorf("Submit refuses its local environment: %v", err)
			}
		})
	}
}

func TestDefinition(t *testing.T) {
	t.Parallel()
	def, err := Definition()
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid([]byte(def)) || strings.Contains(def, "${") {
		t.Fatalf("got a definition that is not JSON or keeps a placeholder: %.300s", def)
	}
	for _, want := range []string{
		"arn:aws:lambda:us-east-1:123456789012:function:" + SubmitFunctionName,
		"arn:aws:lambda:us-east-1:123456789012:function:" + CheckFunctionName,
		"arn:aws:lambda:us-east-1:123456789012:function:" + NotifyFunctionName,
		`"` + TableName + `"`,
	} {
		if !strings.Contains(def, want) {
			t.Errorf("the definition does not contain %s", want)
		}
	}
}

func TestStartRefusesATakenPort(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for _, o := range []Options{{Addr: ln.Addr().String()}, {SimAddr: ln.Addr().String()}} {
		s, err := Start(context.Background(), o)
		if err == nil {
			s.Close()
			t.Fatalf("Start %+v: got no error, want the port refused", o)
		}
		if !strings.Contains(err.Error(), ln.Addr().String()+": the address is already in use") {
			t.Errorf("Start %+v: got %q, want it to say the address is in use", o, err)
		}
	}
}

func TestStartRefusesAnAddressMotoCannotReach(t *testing.T) {
	t.Parallel()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		ip, ok := a.(*net.IPNet)
		if !ok || ip.IP.IsLoopback() || ip.IP.To4() == nil {
			continue
		}
		_, err := Start(context.Background(), Options{Addr: ip.IP.String() + ":0"})
		if err == nil || !strings.Contains(err.Error(), "not a loopback address") {
			t.Errorf("Start at %s: got %v, want it refused", ip.IP, err)
		}
		return
	}
	t.Skip("no non-loopback IPv4 address to try")
}

// TestMotoMissing must not run in parallel: it empties PATH.
func TestMotoMissing(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := StartMoto(context.Background(), 4566, nil)
	if !errors.Is(err, ErrMotoMissing) {
		t.Fatalf("got %v, want ErrMotoMissing", err)
	}
	if !strings.Contains(err.Error(), "python3 -m pip install -r tools/requirements.txt") {
		t.Errorf("got %q, want the command that installs moto", err)
	}
}

func TestProgressLine(t *testing.T) {
	t.Parallel()
	tests := []struct {
		r    records.Record
		want string
	}{
		{records.Record{BuildID: "b1", Name: "Ada", Bucket: "bk", Key: "a.jpg", Status: records.StatusReceived},
			`build b1 "Ada" (s3://bk/a.jpg): RECEIVED`},
		{records.Record{BuildID: "b1", Name: "Ada", Bucket: "bk", Key: "a.jpg", Status: records.StatusReady, AvatarID: "av", Checks: 3, BuildSeconds: 42, Themes: []string{"Default"}},
			`build b1 "Ada" (s3://bk/a.jpg): READY avatar av, 3 checks, built in 42s, themes Default`},
		{records.Record{BuildID: "b2", Name: "Bo", Bucket: "bk", Key: "b.gif", Status: records.StatusRejected, Reason: "not a JPEG or PNG"},
			`build b2 "Bo" (s3://bk/b.gif): REJECTED: not a JPEG or PNG`},
	}
	for _, tc := range tests {
		if got := progressLine(tc.r); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
}
