package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/avatar-pipeline/avatar-pipeline/internal/records"
	"github.com/avatar-pipeline/avatar-pipeline/internal/records/store"
)

// waitOptions are the flags of wait, and of build and retry with --wait.
type waitOptions struct {
	timeout  time.Duration
	interval time.Duration
	// register is how long to wait for the pipeline to register a build
	// that is not in the table yet (a fresh upload or retry).
	register time.Duration
}

// registerTimeout is how long a new build may take to appear in the table.
// EventBridge and Step Functions start a build within seconds; minutes
// without a record mean the upload never reached the pipeline.
const registerTimeout = 2 * time.Minute

func (o *waitOptions) addFlags(f *pflag.FlagSet) {
	f.DurationVar(&o.timeout, "timeout", 0, "stop waiting after this long, with exit status 6 (0: until the build ends)")
	f.DurationVar(&o.interval, "interval", 2*time.Second, "how often to read the build's record")
	o.register = registerTimeout
}

func (o waitOptions) check() error {
	if o.timeout < 0 {
		return fmt.Errorf("--timeout %s: must not be negative", o.timeout)
	}
	if o.interval <= 0 {
		return fmt.Errorf("--interval %s: must be positive", o.interval)
	}
	return nil
}

func newWaitCmd(g *globalOptions) *cobra.Command {
	o := waitOptions{}
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "wait ID",
		Short: "Wait for a build to end, showing its progress",
		Long: `Wait for a build to end, showing its progress: status changes, elapsed
time and Mirako status checks (a spinner on a terminal, a line per change
otherwise). ID is a build id, a unique prefix of one, or an avatar id; a
whole build id that is not registered yet is waited for.

The exit status tells how the build ended: 0 READY, 2 REJECTED, 3 ERROR,
4 TIMED_OUT, 5 FAILED, 6 still running when --timeout passed. Stopping the
wait (Ctrl-C or --timeout) does not stop the build.`,
		Example: `  avatarctl wait 3f2a9c1b
  avatarctl wait --timeout 10m --json 3f2a9c1b7d0e4a5f8b6c2d1e0f9a8b7c`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: g.runE(func(cmd *cobra.Command, args []string) error {
			if err := o.check(); err != nil {
				return usageError(cmd, err)
			}
			id := args[0]
			c, rec, err := g.find(cmd.Context(), id)
			switch {
			case err == nil:
				id = rec.BuildID
			case errors.Is(err, store.ErrNotFound) && store.IsBuildID(strings.ToLower(id)):
				id = strings.ToLower(id) // perhaps not registered yet
			default:
				return err
			}
			return waitAndReport(cmd, c, id, o, asJSON)
		}),
	}
	o.addFlags(cmd.Flags())
	cmd.Flags().BoolVar(&asJSON, "json", false, "show no progress; print the final record as a JSON object")
	return cmd
}

// waitAndReport follows the build until it ends and exits with the code of
// its final status; with asJSON it prints the last record read instead of
// the progress.
func waitAndReport(cmd *cobra.Command, c *conn, buildID string, o waitOptions, asJSON bool) error {
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
	defer stop()
	out := cmd.OutOrStdout()
	var p *progress
	if !asJSON {
		p = newProgress(out, styleFor(out))
		p.estimate = func(rec records.Record) string { return estimate(ctx, c.reader, rec, time.Now()) }
	}
	rec, err := follow(ctx, c.reader, buildID, o, p)
	if asJSON && rec.BuildID != "" {
		if jerr := writeJSON(out, rec); jerr != nil {
			return jerr
		}
	}
	if err != nil {
		return err
	}
	return statusExit(rec.Status)
}

// recordGetter reads a build's record.
type recordGetter interface {
	Load(ctx context.Context, buildID string) (records.Record, error)
}

var (
	errWaitTimeout = errors.New("wait timeout")
	spinInterval   = 100 * time.Millisecond
)

// follow reads the build's record every o.interval until the build ends,
// showing each change on p (nil: nothing shown). It returns the last record
// read, and an error (a *codeError with exitWaitTimeout for --timeout) when
// it stopped before the build ended.
func follow(ctx context.Context, db recordGetter, buildID string, o waitOptions, p *progress) (records.Record, error) {
	if o.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, o.timeout, errWaitTimeout)
		defer cancel()
	}
	if p == nil {
		p = newProgress(io.Discard, style{})
	}
	defer p.clear()
	poll := time.NewTicker(o.interval)
	defer poll.Stop()
	var spin <-chan time.Time
	if p.s.tty {
		t := time.NewTicker(spinInterval)
		defer t.Stop()
		spin = t.C
	}

	start := time.Now()
	var last records.Record
	for {
		rec, err := db.Load(ctx, buildID)
		elapsed := time.Since(start)
		switch {
		case ctx.Err() != nil:
			return last, stopped(ctx, buildID, last)
		case errors.Is(err, store.ErrNotFound):
			if o.register > 0 && elapsed > o.register {
				return last, fmt.Errorf("build %s is still not registered after %s: the upload has not reached the pipeline. "+
					"Is the stack's EventBridge rule in place (with --local: is the local stack running)? "+
					"Check the upload with 'avatarctl view %s' later", buildID, durationText(elapsed), buildID)
			}
			p.unregistered(elapsed)
		case err != nil:
			return last, err
		default:
			last = rec
			p.update(rec, elapsed)
			if rec.Status.Terminal() {
				return rec, nil
			}
		}
	wait:
		for {
			select {
			case <-ctx.Done():
				return last, stopped(ctx, buildID, last)
			case <-spin:
				p.spin(time.Since(start))
			case <-poll.C:
				break wait
			}
		}
	}
}

// stopped is the error of a wait that ended before the build did.
func stopped(ctx context.Context, buildID string, last records.Record) error {
	state := "not registered yet"
	if last.Status != "" {
		state = string(last.Status)
	}
	if errors.Is(context.Cause(ctx), errWaitTimeout) {
		return &codeError{code: exitWaitTimeout, msg: fmt.Sprintf(
			"build %s is %s at --timeout; it goes on: wait again with 'avatarctl wait %s'", buildID, state, buildID)}
	}
	return fmt.Errorf("stopped waiting; build %s is %s and goes on: wait again with 'avatarctl wait %s'", buildID, state, buildID)
}

// progress shows a build's progress: a line per change, with the time
// elapsed; on a terminal also a spinner line with the status, the elapsed
// time and the checks, redrawn in place.
type progress struct {
	w io.Writer
	s style

	last      records.Record
	seen      bool // last is set
	announced bool // the "not registered yet" line is shown
	// estimate, when set, adds where an unfinished build stands to each
	// change of status shown.
	estimate func(records.Record) string
	frame    int
	drawn    bool // the spinner line is on screen
}

func newProgress(w io.Writer, s style) *progress { return &progress{w: w, s: s} }

var spinnerFrames = []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}

// unregistered shows, once, that the build is not in the table yet.
func (p *progress) unregistered(elapsed time.Duration) {
	if !p.announced {
		p.announced = true
		p.line(elapsed, p.s.paint(sgrDim, "waiting for the pipeline to register the build"))
	}
	p.spin(elapsed)
}

// update shows rec if it differs from the last record shown: a new status
// or avatar always, a new check count as a line unless on a terminal,
// where the spinner line shows it.
func (p *progress) update(rec records.Record, elapsed time.Duration) {
	newStatus := !p.seen || rec.Status != p.last.Status
	changed := newStatus || rec.AvatarID != p.last.AvatarID || !p.s.tty && rec.Checks != p.last.Checks
	p.last, p.seen = rec, true
	if changed {
		text := p.s.status(rec.Status)
		parts := []string{progressDetail(rec)}
		if p.estimate != nil && newStatus {
			parts = append(parts, p.estimate(rec))
		}
		if d := strings.Join(slices.DeleteFunc(parts, func(s string) bool { return s == "" }), "; "); d != "" {
			text = p.s.paint(statusColor(rec.Status), pad(string(rec.Status), 9)) + "  " + d
		}
		p.line(elapsed, text)
	}
	if !rec.Status.Terminal() {
		p.spin(elapsed)
	}
}

// progressDetail is what a progress line says about a record.
func progressDetail(r records.Record) string {
	var parts []string
	switch r.Status {
	case records.StatusReceived:
		if r.Name != "" {
			parts = append(parts, fmt.Sprintf("%q", r.Name))
		}
	case records.StatusReady:
		parts = append(parts, "avatar "+r.AvatarID)
		if len(r.Themes) > 0 {
			parts = append(parts, "themes "+strings.Join(r.Themes, ", "))
		}
		if r.BuildSeconds > 0 {
			parts = append(parts, "built in "+durationText(time.Duration(r.BuildSeconds)*time.Second))
		}
	case records.StatusQueued:
		parts = append(parts, r.Reason, "next try "+r.NextAttemptAt)
	case records.StatusRejected, records.StatusError, records.StatusTimedOut, records.StatusFailed:
		if r.Reason != "" {
			parts = append(parts, r.Reason)
		}
		if r.Error != "" {
			parts = append(parts, "error "+r.Error)
		}
	default:
		if r.AvatarID != "" {
			parts = append(parts, "avatar "+r.AvatarID)
		}
		parts = append(parts, checksText(r.Checks))
	}
	return strings.Join(parts, "; ")
}

func checksText(n int) string {
	if n == 1 {
		return "1 check"
	}
	return fmt.Sprintf("%d checks", n)
}

// line writes a permanent line, above the spinner line if there is one.
func (p *progress) line(elapsed time.Duration, text string) {
	p.clear()
	fmt.Fprintf(p.w, "%6s  %s\n", durationText(elapsed), text)
}

// spin redraws the spinner line; it does nothing when not on a terminal.
func (p *progress) spin(elapsed time.Duration) {
	if !p.s.tty {
		return
	}
	state := "waiting for the pipeline"
	if p.seen {
		state = p.s.status(p.last.Status) + " · " + checksText(p.last.Checks)
	}
	fmt.Fprintf(p.w, "\r\x1b[K%s %s · %s", p.s.paint(sgrCyan, spinnerFrames[p.frame%len(spinnerFrames)]), state, durationText(elapsed))
	p.frame++
	p.drawn = true
}

// clear removes the spinner line.
func (p *progress) clear() {
	if p.drawn {
		fmt.Fprint(p.w, "\r\x1b[K")
		p.drawn = false
	}
}
