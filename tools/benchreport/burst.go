package main

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/avatar-pipeline/avatar-pipeline/internal/local"
	"github.com/avatar-pipeline/avatar-pipeline/internal/mirako/mirakotest"
	"github.com/avatar-pipeline/avatar-pipeline/internal/pipeline"
	"github.com/avatar-pipeline/avatar-pipeline/internal/records"
	"github.com/avatar-pipeline/avatar-pipeline/internal/records/eta"
	"github.com/avatar-pipeline/avatar-pipeline/internal/records/store"
)

// burstRun is one burst: n uploads at once, simulated builds of build,
// status checks every poll seconds; with simMax > 0 a Mirako that takes
// that many builds at once and is down for its first outage, and the
// pipeline's own MaxBuildsInFlight.
type burstRun struct {
	n, poll, simMax, inFlight int
	build, outage, timeout    time.Duration
}

// queueRun is the queue's benchmark: 60 uploads against a Mirako taking 5
// builds of 5 s at once, down for its first 30 s, with MaxBuildsInFlight 5.
var queueRun = burstRun{n: 60, poll: 1, simMax: 5, inFlight: 5, build: 5 * time.Second, outage: 30 * time.Second, timeout: 10 * time.Minute}

// runBurst runs childBurst in a fresh process, so that its peak memory is
// the burst's own.
func runBurst(r *report, b burstRun) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(self, "-child", "burst", "-burst", strconv.Itoa(b.n), "-burst-poll-seconds", strconv.Itoa(b.poll),
		"-burst-build-time", b.build.String(), "-burst-timeout", b.timeout.String(),
		"-burst-sim-max-builds", strconv.Itoa(b.simMax), "-burst-outage", b.outage.String(), "-burst-max-in-flight", strconv.Itoa(b.inFlight))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if relayErr := r.relay(string(out)); relayErr != nil {
		return relayErr
	}
	if err != nil {
		return fmt.Errorf("burst child: %w", err)
	}
	return nil
}

// childBurst starts a local stack, uploads n portraits at once through its
// S3 API, and waits until every build has a terminal status. It prints the
// time to drain, what was lost or duplicated, and the peak memory and CPU
// time of this process (gateway, functions, simulator, pump) and of moto
// (its child, with any process moto started).
func childBurst(w io.Writer, b burstRun) error {
	n, timeout := b.n, b.timeout
	ctx, cancel := context.WithTimeout(context.Background(), timeout+2*time.Minute)
	defer cancel()
	logf("burst: starting the local stack (build time %s, status checks every %d s)", b.build, b.poll)
	s, err := local.Start(ctx, local.Options{Addr: "127.0.0.1:0", SimAddr: "127.0.0.1:0", BuildTime: b.build, PollSeconds: b.poll,
		SimMaxBuilds: b.simMax, SimOutage: b.outage, MaxInFlight: b.inFlight})
	if err != nil {
		return err
	}
	defer s.Close()
	cfg := s.AWSConfig()
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	table := &store.Table{DB: dynamodb.NewFromConfig(cfg), Name: s.Resources.Table}
	body := local.PortraitJPEG(640, 640)

	logf("burst: %d uploads at once", n)
	start := time.Now()
	ids := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			key := fmt.Sprintf("burst/%04d.jpg", i)
			out, err := s3c.PutObject(ctx, &s3.PutObjectInput{
				Bucket:   aws.String(s.Resources.Bucket),
				Key:      aws.String(key),
				Body:     bytes.NewReader(body),
				Metadata: map[string]string{pipeline.NameMetadata: fmt.Sprintf("Burst %04d", i)},
			})
			if err != nil {
				errs[i] = fmt.Errorf("upload %s: %w", key, err)
				return
			}
			ids[i] = records.BuildID(s.Resources.Bucket, key, aws.ToString(out.VersionId), aws.ToString(out.ETag))
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	uploaded := time.Since(start)
	logf("burst: uploaded in %s; waiting for %d terminal statuses", uploaded.Round(time.Millisecond), n)

	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	var recs map[string]records.Record
	drained := time.Duration(0)
	lastLog := time.Now()
	estimates := map[string]estimated{}
	for {
		recs, err = scanRecords(ctx, table)
		if err != nil {
			return err
		}
		if b.simMax > 0 {
			estimateQueued(ctx, table, want, recs, estimates)
		}
		terminal := 0
		for id := range want {
			if rec, ok := recs[id]; ok && rec.Status.Terminal() {
				terminal++
			}
		}
		if terminal == n {
			drained = time.Since(start)
			break
		}
		if time.Since(start) > timeout {
			logf("burst: only %d of %d builds terminal after %s", terminal, n, timeout)
			break
		}
		if time.Since(lastLog) > 15*time.Second {
			logf("burst: %d of %d terminal after %s", terminal, n, time.Since(start).Round(time.Second))
			lastLog = time.Now()
		}
		// The table is moto's: a scan costs it CPU the builds need.
		time.Sleep(time.Second)
	}
	// Memory now, while everything still runs.
	self, err1 := procStatus(os.Getpid(), "VmHWM")
	selfCPU, err2 := cpuSeconds(os.Getpid())
	kids, err3 := descendants(os.Getpid())
	if err := cmp.Or(err1, err2, err3); err != nil {
		return err
	}
	var others int64
	var othersCPU float64
	for _, pid := range kids {
		if hwm, err := procStatus(pid, "VmHWM"); err == nil {
			others += hwm
		}
		if cpu, err := cpuSeconds(pid); err == nil {
			othersCPU += cpu
		}
	}
	// Give stray duplicates (a second execution, a second notification) a
	// moment to show.
	time.Sleep(3 * time.Second)
	recs, err = scanRecords(ctx, table)
	if err != nil {
		return err
	}

	lost, ready, extra := 0, 0, 0
	for id := range want {
		rec, ok := recs[id]
		switch {
		case !ok || !rec.Status.Terminal():
			lost++
		case rec.Status == records.StatusReady:
			ready++
		}
	}
	for id := range recs {
		if !want[id] {
			extra++
		}
	}
	notified := map[string]int{}
	for _, note := range s.Notifications() {
		var ev pipeline.Event
		if note.Event(&ev) == nil && want[ev.Build.BuildID] && ev.Build.Status.Terminal() {
			notified[ev.Build.BuildID]++
		}
	}
	extraNotices := 0
	for _, k := range notified {
		extraNotices += k - 1
	}
	sim := s.Sim.Stats()
	duplicated := extra + max(sim.BuildsCreated-n, 0) + extraNotices

	p := fmt.Sprintf("burst_%d_", n)
	fig := func(name string, v any, unit string) { fmt.Fprintf(w, "%s%s %v %s\n", p, name, v, unit) }
	fig("upload_s", round3(uploaded.Seconds()), "s")
	if drained > 0 {
		fig("drain_s", round3(drained.Seconds()), "s")
		if b.simMax > 0 { // against the ideal: the outage left at the first upload, then full batches of builds
			ideal := s.Sim.OutageLeft(start) + time.Duration((n+b.simMax-1)/b.simMax)*b.build
			fig("drain_ratio", round3(drained.Seconds()/ideal.Seconds()), "x")
			fig("refused_429", sim.RateLimited, "posts")
			fig("posts", sim.Requests[mirakotest.EndpointBuild], "posts")
			fig("worst_overtaking_s", round3(worstOvertaking(recs).Seconds()), "s")
			errs, waits := estimateErrors(estimates, recs)
			fig("estimated", len(errs), "builds")
			fig("estimate_error_median_s", round3(quantile(errs, 0.5).Seconds()), "s")
			fig("estimate_error_p90_s", round3(quantile(errs, 0.9).Seconds()), "s")
			fig("estimate_wait_median_s", round3(quantile(waits, 0.5).Seconds()), "s")
		}
	}
	fig("ready", ready, "builds")
	fig("lost", lost, "builds")
	fig("duplicated", duplicated, "builds")
	fig("notified", len(notified), "builds")
	fig("mirako_builds", sim.BuildsCreated, "builds")
	fig("peak_rss_self_bytes", self, "bytes")
	fig("peak_rss_moto_bytes", others, "bytes")
	fig("peak_rss_bytes", self+others, "bytes")
	fig("cpu_self_s", round3(selfCPU), "s")
	fig("cpu_moto_s", round3(othersCPU), "s")
	if drained == 0 {
		return fmt.Errorf("%d of %d builds did not reach a terminal status within %s", lost, n, timeout)
	}
	return nil
}

func round3(v float64) float64 { return float64(int64(v*1000+0.5)) / 1000 }

// scanRecords reads every build record of the table, by build id.
func scanRecords(ctx context.Context, t *store.Table) (map[string]records.Record, error) {
	all, err := t.All(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string]records.Record, len(all))
	for _, r := range all {
		out[r.BuildID] = r
	}
	return out, nil
}

// worstOvertaking is how much later than a later upload a build got its
// slot (was submitted to Mirako), at worst: 0 when builds were served in
// upload order.
func worstOvertaking(recs map[string]records.Record) time.Duration {
	type build struct{ created, submitted time.Time }
	var bs []build
	for _, r := range recs {
		c, err1 := records.ParseTime(r.CreatedAt)
		s, err2 := records.ParseTime(r.SubmittedAt)
		if err1 == nil && err2 == nil {
			bs = append(bs, build{c, s})
		}
	}
	slices.SortFunc(bs, func(a, b build) int { return a.created.Compare(b.created) })
	var worst time.Duration
	var earliestLater time.Time // the earliest submission among later uploads, scanning from the end
	for i := len(bs) - 1; i >= 0; i-- {
		if !earliestLater.IsZero() && bs[i].submitted.Sub(earliestLater) > worst {
			worst = bs[i].submitted.Sub(earliestLater)
		}
		if earliestLater.IsZero() || bs[i].submitted.Before(earliestLater) {
			earliestLater = bs[i].submitted
		}
	}
	return worst
}

// estimated is what avatarctl would have shown a QUEUED build: when it
// should be READY, said at a time.
type estimated struct{ at, ready time.Time }

// estimateQueued takes, for each build seen QUEUED and not estimated yet,
// the estimate avatarctl view shows (package eta), once one exists (after
// the first READY build).
func estimateQueued(ctx context.Context, t *store.Table, want map[string]bool, recs map[string]records.Record, out map[string]estimated) {
	for id := range want {
		if _, done := out[id]; done || recs[id].Status != records.StatusQueued {
			continue
		}
		if e := eta.Of(ctx, t, recs[id]); !e.Ready.IsZero() {
			out[id] = estimated{at: time.Now(), ready: e.Ready}
		}
	}
}

// estimateErrors returns, for each estimated build that ended READY, how
// far its estimate was from its finish, and how long it still had to wait
// when estimated.
func estimateErrors(est map[string]estimated, recs map[string]records.Record) (errs, waits []time.Duration) {
	for id, e := range est {
		done, err := records.ParseTime(recs[id].FinishedAt)
		if err != nil || recs[id].Status != records.StatusReady {
			continue
		}
		errs = append(errs, done.Sub(e.ready).Abs())
		waits = append(waits, done.Sub(e.at))
	}
	return errs, waits
}

// quantile returns the value at ⌊q·n⌋ of the n sorted durations (the upper
// median for q = 0.5, as package eta takes it), 0 for none.
func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	ds = slices.Clone(ds)
	slices.Sort(ds)
	return ds[min(int(q*float64(len(ds))), len(ds)-1)]
}
