package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/avatar-pipeline/avatar-pipeline/internal/local"
)

func TestLocalRefusesBadFlagsAndTakenPorts(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	taken := ln.Addr().String()
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"local", "--addr", taken, "--sim-addr", "127.0.0.1:0"}, taken + ": the address is already in use"},
		{[]string{"local", "--addr", "127.0.0.1:0", "--sim-addr", taken}, taken + ": the address is already in use"},
		{[]string{"local", "--fault-rate", "2"}, "--fault-rate 2: must be between 0 and 1"},
		{[]string{"local", "--poll-seconds", "-1"}, "--poll-seconds -1: must not be negative"},
		{[]string{"local", "--build-seconds", "-1"}, `"--build-seconds" flag: must be a number of seconds, not negative`},
	}
	for _, tc := range tests {
		r := avatarctl(t, tc.args...)
		if r.code != exitError || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%q: got exit %d, stderr %q; want exit 1 and %q", tc.args, r.code, r.stderr, tc.want)
		}
	}
}

// TestLocalRunsAndStops runs `avatarctl local` as a user would: it waits for
// the ready line, uses the endpoint, then interrupts the command (as Ctrl-C
// does) and checks that everything is gone.
func TestLocalRunsAndStops(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	root := newRootCmd()
	root.SetOut(pw)
	root.SetErr(pw)
	root.SetArgs([]string{"local", "--addr", "127.0.0.1:0", "--sim-addr", "127.0.0.1:0", "--build-seconds", "1", "--poll-seconds", "1"})
	done := make(chan error, 1)
	go func() {
		_, err := root.ExecuteContextC(ctx)
		pw.Close()
		done <- err
	}()

	ready := regexp.MustCompile(`^local stack ready at (http://127\.0\.0\.1:\d+)$`)
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	var endpoint string
	var printed []string
	timeout := time.After(2 * time.Minute)
	for endpoint == "" {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("avatarctl local ended before it was ready: %v\n%s", <-done, strings.Join(printed, "\n"))
			}
			printed = append(printed, line)
			if m := ready.FindStringSubmatch(line); m != nil {
				endpoint = m[1]
			}
		case <-timeout:
			t.Fatalf("no ready line:\n%s", strings.Join(printed, "\n"))
		}
	}
	var after []string
	collected := make(chan struct{})
	go func() {
		defer close(collected)
		for line := range lines {
			after = append(after, line)
		}
	}()

	out, err := s3.NewFromConfig(local.Config(endpoint), func(o *s3.Options) { o.UsePathStyle = true }).ListBuckets(ctx, &s3.ListBucketsInput{})
	if err != nil {
		t.Fatalf("the endpoint it printed: %v", err)
	}
	if len(out.Buckets) != 1 || aws.ToString(out.Buckets[0].Name) != local.BucketName {
		t.Errorf("got buckets %+v, want %s", out.Buckets, local.BucketName)
	}

	cancel() // what SIGINT does through signal.NotifyContext
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("got %v, want a clean stop", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("avatarctl local did not stop")
	}
	<-collected
	if last := after[len(after)-1]; last != "local stack stopped; no builds finished" {
		t.Errorf("got last line %q, want %q", last, "local stack stopped; no builds finished")
	}
	if _, err := http.Get(endpoint); err == nil {
		t.Errorf("%s still answers after the stop", endpoint)
	}
	usage := strings.Join(after, "\n")
	for _, want := range []string{"avatarctl --local --endpoint " + endpoint + " build -i FILE --name NAME",
		"aws --endpoint-url " + endpoint + " s3 cp FILE s3://avatar-portraits/KEY --metadata avatar-name=NAME"} {
		if !strings.Contains(usage, want) {
			t.Errorf("the upload instructions lack %q:\n%s", want, usage)
		}
	}
}
