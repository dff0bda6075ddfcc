package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/avatar-pipeline/avatar-pipeline/internal/local"
	"github.com/avatar-pipeline/avatar-pipeline/internal/mirako/mirakotest"
)

// simOptions are the flags of avatarctl sim.
type simOptions struct {
	addr string
	cfg  *mirakotest.Config // the simulator's: addSimFlags, then the flags of sim alone
}

// newSimCmd returns `avatarctl sim`, which serves the Mirako simulator until SIGINT or SIGTERM.
func newSimCmd() *cobra.Command {
	o := simOptions{}
	cmd := &cobra.Command{
		Use:   "sim",
		Short: "Run the Mirako API simulator",
		Long: `Run the Mirako API simulator: POST /v1/avatar/async_build, GET /v1/avatar/{id},
GET /v1/avatar/list and DELETE /v1/avatar/{id}, as Mirako's OpenAPI specification describes them,
plus GET /_sim/stats (counters, no auth).

Builds go PENDING → BUILDING → READY over --build-seconds. Avatar names can script outcomes:
"[error]" ends in ERROR, "[stuck]" never leaves BUILDING, "[credits]" gets 402, "[forbidden]" 403,
"[503x2]" makes the first two POSTs with that name fail with 503; see the mirakotest package
documentation for all of them and for the faults --fault-rate draws from.

--sim-max-builds N lets at most N builds be PENDING or BUILDING at once: a POST beyond gets 429 with
Retry-After. --sim-outage-seconds S answers 503 to every /v1 request for the first S seconds.

When it is ready it prints one line, "mirako simulator listening on http://ADDR", with the address
it really bound (so --addr 127.0.0.1:0 picks a free port). SIGINT or SIGTERM stops it cleanly.

Example:
  avatarctl sim --addr 127.0.0.1:4567 --build-seconds 5 &
  curl -s -H 'Authorization: Bearer sim-token' -H 'Content-Type: application/json' \
    -d '{"name":"Ada","image":"'"$(base64 -w0 portrait.png)"'"}' \
    http://127.0.0.1:4567/v1/avatar/async_build`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runSim(cmd, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.addr, "addr", local.DefaultSimAddr, "address to listen on (host:port; port 0 picks a free one)")
	o.cfg = addSimFlags(f)
	o.cfg.SlowDelay = mirakotest.DefaultSlowDelay
	f.StringVar(&o.cfg.Token, "token", mirakotest.DefaultToken, "bearer token the simulator accepts")
	f.Var((*secondsFlag)(&o.cfg.SlowDelay), "slow-seconds", "how long a slow fault stalls")
	f.IntVar(&o.cfg.RateLimit, "rate-limit", 0, "requests allowed per --rate-window (0: no limit); the excess gets 429")
	f.DurationVar(&o.cfg.RateWindow, "rate-window", mirakotest.DefaultRateWindow, "window of --rate-limit")
	return cmd
}

// addSimFlags registers the simulator flags that avatarctl sim and avatarctl local share on f:
// --build-seconds, --fault-rate, --seed, --sim-max-builds and --sim-outage-seconds. Once f is
// parsed, the Config it returns holds their values; a negative count or number of seconds fails
// the parse, naming the flag. The commands check --fault-rate.
func addSimFlags(f *pflag.FlagSet) *mirakotest.Config {
	cfg := &mirakotest.Config{BuildTime: 20 * time.Second}
	f.Var((*secondsFlag)(&cfg.BuildTime), "build-seconds", "seconds a simulated build takes from POST to READY (PENDING for the first tenth)")
	f.Float64Var(&cfg.FaultRate, "fault-rate", 0, "probability (0 to 1) that a simulator /v1 request gets a random fault")
	f.Int64Var(&cfg.Seed, "seed", 1, "seed of the simulator's avatar ids and random faults")
	f.Var((*countFlag)(&cfg.MaxBuilds), "sim-max-builds",
		"builds the Mirako simulator lets be PENDING or BUILDING at once; a POST beyond gets 429 with Retry-After (0: no limit)")
	f.Var((*secondsFlag)(&cfg.Outage), "sim-outage-seconds",
		"seconds after start during which the Mirako simulator answers every /v1 request 503")
	return cfg
}

// countFlag is an int flag that refuses negative values.
type countFlag int

func (c *countFlag) String() string { return strconv.Itoa(int(*c)) }
func (c *countFlag) Type() string   { return "int" }
func (c *countFlag) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return errors.New("must be a whole number, not negative")
	}
	*c = countFlag(n)
	return nil
}

// secondsFlag is a duration given in (possibly fractional) seconds, not negative.
type secondsFlag time.Duration

func (d *secondsFlag) String() string {
	return strconv.FormatFloat(time.Duration(*d).Seconds(), 'g', -1, 64)
}
func (d *secondsFlag) Type() string { return "float" }
func (d *secondsFlag) Set(s string) error {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v < 0 || math.IsInf(v, 0) || math.IsNaN(v) {
		return errors.New("must be a number of seconds, not negative")
	}
	*d = secondsFlag(seconds(v))
	return nil
}

func runSim(cmd *cobra.Command, o simOptions) error {
	cfg := *o.cfg
	switch {
	case cfg.Token == "":
		return errors.New("--token must not be empty")
	case cfg.FaultRate < 0 || cfg.FaultRate > 1:
		return fmt.Errorf("--fault-rate %v: must be between 0 and 1", cfg.FaultRate)
	case cfg.SlowDelay <= 0:
		return fmt.Errorf("--slow-seconds %v: must be positive", cfg.SlowDelay.Seconds())
	case cfg.RateLimit < 0:
		return fmt.Errorf("--rate-limit %d: must not be negative", cfg.RateLimit)
	case cfg.RateWindow <= 0:
		return fmt.Errorf("--rate-window %s: must be positive", cfg.RateWindow)
	}
	sim := mirakotest.New(cfg)

	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", o.addr)
	if err != nil {
		return fmt.Errorf("sim: listen: %w", err)
	}
	srv := &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Fprintf(cmd.OutOrStdout(), "mirako simulator listening on http://%s\n", ln.Addr())

	select {
	case err := <-served:
		return fmt.Errorf("sim: serve: %w", err)
	case <-ctx.Done():
	}
	// Release stalled slow faults, then let in-flight requests finish.
	sim.Close()
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("sim: shutdown: %w", err)
	}
	return nil
}

func seconds(s float64) time.Duration {
	return time.Duration(s * float64(time.Second))
}
