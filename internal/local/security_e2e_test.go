package local

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/avatar-pipeline/avatar-pipeline/internal/mirako"
	"github.com/avatar-pipeline/avatar-pipeline/internal/mirako/mirakotest"
	"github.com/avatar-pipeline/avatar-pipeline/internal/pipeline"
	"github.com/avatar-pipeline/avatar-pipeline/internal/records"
)

// TestE2ETokenNeverLeaks runs builds down every path the pipeline has —
// READY, REJECTED, ERROR, TIMED_OUT, FAILED on 402 and 403, transient
// Mirako faults retried, an accepted POST whose answer was lost (adopted),
// failing status checks, a panicking function — with a distinctive Mirako
// token, then looks for the token everywhere it could have leaked: all the
// stack logged (the functions' own logs and metrics and moto's request log
// included), every record in the table, every notification, every
// execution's description and full history (inputs, outputs, task
// parameters and results, errors and causes), and the error messages of
// Mirako calls under every fault the simulator knows. It must appear
// nowhere.
func TestE2ETokenNeverLeaks(t *testing.T) {
	t.Parallel()
	secret := make([]byte, 12)
	rand.Read(secret)
	token := "mk-live-" + hex.EncodeToString(secret)
	log := &LogBuffer{}
	s := StartTest(t, Options{BuildTime: time.Second, PollSeconds: 1, DeadlineSeconds: 20, // room for a progress write on a loaded machine
		SimToken: token, Verbose: true, Out: log})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	if s.Env[SubmitFunctionName][pipeline.EnvMirakoSecretID] == "" {
		t.Fatal("the functions have no secret id: where do they read the token?")
	}
	for name, env := range s.Env {
		for k, v := range env {
			if strings.Contains(v, token) {
				t.Errorf("function %s: variable %s holds the token; it must come from the secret", name, k)
			}
		}
	}

	good := PortraitJPEG(512, 512)
	objs := []object{
		{key: "sec/ready.jpg", name: "Secure Sam", body: good},
		{key: "sec/rejected.jpg", name: "Tiny Tim", body: PortraitJPEG(256, 256)},
		{key: "sec/error.jpg", name: "Err [error]", body: good},
		{key: "sec/stuck.jpg", name: "Stuck [stuck]", body: good},
		{key: "sec/credits.jpg", name: "Broke [credits]", body: good},
		{key: "sec/forbidden.jpg", name: "Nope [forbidden]", body: good},
		{key: "sec/transient.jpg", name: "Flaky [503x2]", body: good},
		{key: "sec/adopted.jpg", name: "Lost answer [accept_then_resetx1]", body: good},
		{key: "sec/garbled.jpg", name: "Garbled [accept_then_garbledx1]", body: good},
		{key: "sec/checks.jpg", name: "Checks [get:500x3]", body: good},
		{key: "sec/panic.jpg", name: "Panicky", body: good},
	}
	s.base.gw.InjectInvokeFault(InvokeFault{Function: CheckFunctionName, PayloadContains: []string{"Panicky"}, Kind: InvokePanic, Times: 1})
	ids := uploadAll(ctx, t, s, objs)
	execs := waitSettled(ctx, t, s, len(objs))

	// The run reached the paths it was meant to.
	recs := recordsByID(scanRecords(ctx, t, s))
	statuses := map[records.Status]int{}
	for _, id := range ids {
		statuses[recs[id].Status]++
	}
	for _, st := range []records.Status{records.StatusReady, records.StatusRejected, records.StatusError, records.StatusTimedOut, records.StatusFailed} {
		if statuses[st] == 0 {
			t.Errorf("no build ended %s (got %v): the scan would miss that path", st, statuses)
		}
	}
	t.Logf("builds: %s; executions: %d", formatCounts(statuses), len(execs))

	leaks := &leakFinder{t: t, token: token}

	// Everything the stack logged.
	leaks.check("the stack's log", log.String())

	// Every record, every attribute, as DynamoDB holds it.
	scan, err := dynamodb.NewFromConfig(s.AWSConfig()).Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(s.Resources.Table)})
	if err != nil {
		t.Fatal(err)
	}
	if all, err := reader(s).All(ctx); err != nil || len(all) != len(objs) {
		t.Errorf("got %d records (%v), want %d", len(all), err, len(objs))
	}
	for _, r := range recs {
		raw, _ := json.Marshal(r)
		leaks.check("record "+r.BuildID, string(raw))
	}
	leaks.check("the table scan", fmt.Sprintf("%#v", scan.Items))

	// Every notification, subject and body.
	ns, err := s.Delivered(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ns) < len(objs) {
		t.Errorf("got %d notifications, want at least one per build (%d)", len(ns), len(objs))
	}
	for _, n := range ns {
		leaks.check("notification "+n.MessageID, n.Message)
	}

	// Every execution: its description (input, output, error, cause: what
	// `avatarctl view` shows) and every event of its history.
	sf := sfn.NewFromConfig(s.AWSConfig())
	events, progressTrips := 0, 0
	for _, e := range execs {
		arn := aws.ToString(e.ExecutionArn)
		d, err := sf.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: e.ExecutionArn})
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := json.Marshal(d)
		leaks.check("execution "+arn, string(raw))
		hist := history(ctx, t, s, arn)
		for _, ev := range hist {
			raw, _ := json.Marshal(ev)
			leaks.check(fmt.Sprintf("execution %s event %d (%s)", arn, ev.Id, ev.Type), string(raw))
			events++
		}
		// While at it: the poll loop's real trips against EventsPerCheck
		// (the [stuck] build makes a progress write, then waits out its
		// deadline).
		progressTrips += checkPollIterations(t, aws.ToString(e.Name), hist)
	}
	if progressTrips == 0 {
		t.Error("no poll trip wrote progress: EventsPerCheck was not checked against a real history")
	}
	t.Logf("scanned %d bytes of log, %d records, %d notifications, %d executions with %d history events",
		len(log.String()), len(recs), len(ns), len(execs), events)

	// Every error a Mirako call can end in, as the functions report it.
	client := mirako.NewClient(s.MirakoURL, token, mirako.WithTimeout(2*time.Second), mirako.WithUploadTimeout(2*time.Second))
	for _, f := range mirakotest.AllFaults() {
		s.Sim.Script(f, 3)
		_, getErr := client.Get(ctx, "00000000-0000-4000-8000-000000000000")
		_, listErr := client.List(ctx)
		_, buildErr := client.Build(ctx, "Fault "+string(f), bytes.NewReader(good), int64(len(good)))
		for _, err := range []error{getErr, listErr, buildErr} {
			if err != nil {
				leaks.check(fmt.Sprintf("Mirako error under fault %s", f), err.Error()+fmt.Sprintf(" %+v %#v", err, err))
			}
		}
	}
	_, err = client.Get(ctx, "00000000-0000-4000-8000-000000000000") // 404
	leaks.check("Mirako 404", fmt.Sprintf("%v %#v", err, err))
	leaks.check("the Mirako client's printed form", fmt.Sprintf("%v %+v %#v %s", client, client, client, client))
	if leaks.n > 0 {
		t.Errorf("the token leaked in %d places", leaks.n)
	}
}

// leakFinder looks for the token, and for its random part alone, in text.
type leakFinder struct {
	t     *testing.T
	token string
	n     int
}

func (l *leakFinder) check(where, text string) {
	l.t.Helper()
	secret := strings.TrimPrefix(l.token, "mk-live-")
	i := strings.Index(text, secret)
	if i < 0 {
		return
	}
	l.n++
	from, to := max(0, i-120), min(len(text), i+len(secret)+40)
	l.t.Errorf("the token appears in %s: …%s…", where, strings.ReplaceAll(text[from:to], secret, "<TOKEN>"))
}
