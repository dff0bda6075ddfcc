package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/avatar-pipeline/avatar-pipeline/internal/local"
	"github.com/avatar-pipeline/avatar-pipeline/internal/mirako/mirakotest"
)

// newLocalCmd returns `avatarctl local`, which runs the whole pipeline on
// this machine until SIGINT or SIGTERM.
func newLocalCmd() *cobra.Command {
	var o local.Options
	var sim *mirakotest.Config
	cmd := &cobra.Command{
		Use:   "local",
		Short: "Run the whole pipeline on this machine (moto, the functions, the Mirako simulator)",
		Long: `Run the whole pipeline on this machine: moto_server (AWS services, with Step Functions
really executing the state machine), fronted by an AWS endpoint at --addr where Lambda Invoke runs
the Submit, CheckStatus, Notify, Sweep and Webhook functions in-process; the bucket, event rule, table, topic, secret
and state machine made from template.yaml's definitions; and the Mirako simulator at --sim-addr
(GET /_sim/stats for its counters).

Set MIRAKO_API_TOKEN to use the real Mirako API instead of the simulator (MIRAKO_API_URL, default
https://mirako.co); real builds take minutes and are billed.

moto_server must be on PATH: python3 -m pip install -r tools/requirements.txt (make local does it).

When everything is up it prints "local stack ready at http://ADDR", then how to upload. Each build's
progress and each notification (signed, delivered to its own webhook receiver, which verifies it,
or to --webhook-url) are printed as they happen. Ctrl-C or SIGTERM stops everything, moto included.

Example:
  avatarctl local --build-seconds 5 --poll-seconds 2
  avatarctl --local build -i portrait.jpg --name "Ada Lovelace" --wait`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runLocal(cmd, o, sim)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Addr, "addr", local.DefaultAddr, "the AWS endpoint's address (a loopback host:port; port 0 picks a free one)")
	f.StringVar(&o.SimAddr, "sim-addr", local.DefaultSimAddr, "the Mirako simulator's address")
	f.IntVar(&o.PollSeconds, "poll-seconds", 0, "head start and interval of status checks, for quick local runs (0: the template's 120 s and 30 s)")
	f.IntVar(&o.DeadlineSeconds, "deadline-seconds", 0, "seconds after submission before a build is TIMED_OUT (0: the template's, shortened to suit --poll-seconds)")
	f.BoolVar(&o.NotifyOnSubmit, "notify-on-submit", false, "also notify when a portrait is submitted to Mirako")
	f.BoolVarP(&o.Verbose, "verbose", "v", false, "also print the functions' logs and moto's request log")
	f.BoolVar(&o.StrictChecks, "strict", false, "reject portraits with quality warnings too (the StrictPortraitChecks parameter)")
	f.IntVar(&o.MaxInFlight, "max-in-flight", 0, "at most this many builds at Mirako at once, the others QUEUED (the MaxBuildsInFlight parameter; 0: no limit)")
	f.StringVar(&o.WebhookURL, "webhook-url", "", "deliver the signed notifications to this URL instead of the stack's own receiver")
	f.StringVar(&o.WebhookSecret, "webhook-secret", "", "sign them with this whsec_ secret (default: a new one, printed)")
	sim = addSimFlags(f)
	return cmd
}

// runLocal runs the local stack with o, the flags of avatarctl local, and
// sim, the shared simulator flags.
func runLocal(cmd *cobra.Command, o local.Options, sim *mirakotest.Config) error {
	switch {
	case o.PollSeconds < 0:
		return fmt.Errorf("--poll-seconds %d: must not be negative", o.PollSeconds)
	case o.DeadlineSeconds < 0:
		return fmt.Errorf("--deadline-seconds %d: must not be negative", o.DeadlineSeconds)
	case sim.FaultRate < 0 || sim.FaultRate > 1:
		return fmt.Errorf("--fault-rate %v: must be between 0 and 1", sim.FaultRate)
	}
	o.BuildTime, o.FaultRate, o.Seed = sim.BuildTime, sim.FaultRate, sim.Seed
	o.SimMaxBuilds, o.SimOutage = sim.MaxBuilds, sim.Outage
	o.MirakoToken = strings.TrimSpace(os.Getenv("MIRAKO_API_TOKEN"))
	o.MirakoURL = strings.TrimSpace(os.Getenv("MIRAKO_API_URL"))
	out := cmd.OutOrStdout()
	o.Out = out

	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	fmt.Fprintln(out, "starting moto_server and the local stack...")
	s, err := local.Start(ctx, o)
	if err != nil {
		if ctx.Err() != nil {
			return errors.New("local: interrupted while starting")
		}
		return fmt.Errorf("local: %w", err)
	}
	defer s.Close()
	printReady(out, s, o)

	select {
	case <-ctx.Done():
		fmt.Fprintln(out, "stopping the local stack...")
		s.Close()
		fmt.Fprintln(out, "local stack stopped;", s.Metrics.Summary())
		return nil
	case <-s.Done():
		s.Close()
		return errors.New("local: moto_server exited unexpectedly; the local stack is stopped")
	}
}

// printReady prints the ready line, which scripts wait for, and how to use
// the stack.
func printReady(w io.Writer, s *local.Stack, o local.Options) {
	fmt.Fprintf(w, "local stack ready at %s\n", s.Endpoint)
	if s.Sim != nil {
		fmt.Fprintf(w, "  Mirako simulator at %s (counters: %s/_sim/stats); builds take %s\n",
			s.MirakoURL, s.MirakoURL, o.BuildTime.Round(time.Millisecond))
	} else {
		fmt.Fprintf(w, "  Mirako API at %s (real builds, billed)\n", s.MirakoURL)
	}
	fmt.Fprintf(w, "  bucket %s, table %s, topic %s, state machine %s\n",
		s.Resources.Bucket, s.Resources.Table, local.TopicName, local.StateMachineName)
	hook := s.Endpoint + local.WebhookPath + " (the stack's own receiver)"
	if o.WebhookURL != "" {
		hook = o.WebhookURL
	}
	fmt.Fprintf(w, "  webhook deliveries to %s, signed with %s\n", hook, s.WebhookSecret)
	avatarctl := "avatarctl --local"
	if s.Endpoint != localEndpoint {
		avatarctl += " --endpoint " + s.Endpoint
	}
	fmt.Fprintf(w, `Upload a portrait:
  %s build -i FILE --name NAME
  aws --endpoint-url %s s3 cp FILE s3://%s/KEY --metadata avatar-name=NAME
    (any AWS credentials work; region %s)
Press Ctrl-C to stop.
`, avatarctl, s.Endpoint, s.Resources.Bucket, local.Region)
}
