package local

import (
	"cmp"
	"context"
	crand "crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/avatar-pipeline/avatar-pipeline/internal/mirako"
	"github.com/avatar-pipeline/avatar-pipeline/internal/mirako/mirakotest"
	"github.com/avatar-pipeline/avatar-pipeline/internal/pipeline/sweep"
	"github.com/avatar-pipeline/avatar-pipeline/internal/records/store"
	"github.com/avatar-pipeline/avatar-pipeline/statemachine"
)

// Default addresses of `avatarctl local`.
const (
	DefaultAddr    = "127.0.0.1:4566"
	DefaultSimAddr = "127.0.0.1:4567"
)

// Options configure a local stack. The zero value runs the simulator with
// instant builds on free ports.
type Options struct {
	// Addr is the gateway's listen address, the stack's AWS endpoint
	// ("127.0.0.1:0" or empty: a free port). It must be a loopback (or
	// unspecified) address: moto's Step Functions engine calls back to
	// localhost at its port.
	Addr string
	// SimAddr is the Mirako simulator's listen address (empty: a free port).
	SimAddr string
	// BuildTime is how long a simulated build takes.
	BuildTime time.Duration
	// FaultRate is the simulator's rate of transient faults, 0 to 1.
	FaultRate float64
	// FaultKinds are the faults the simulator draws from at FaultRate
	// (empty: its default, the "before" faults, which create nothing;
	// mirakotest.AllFaults adds the accept_then_* faults, which create the
	// avatar and then lose the answer).
	FaultKinds []mirakotest.Fault
	// SlowDelay is how long the simulator's slow faults stall (zero: its
	// default, longer than the client's timeout for status checks).
	SlowDelay time.Duration
	// SimToken is the token the simulator accepts, stored as the stack's
	// Mirako secret (empty: "local-sim-token"). Tests set a distinctive one
	// to look for leaks.
	SimToken string
	// Seed seeds the simulator's avatar ids and faults.
	Seed int64
	// PollSeconds, when positive, is the functions' HEAD_START_SECONDS and
	// POLL_INTERVAL_SECONDS (the template's defaults otherwise); unless
	// DeadlineSeconds is set, it also shortens DEADLINE_SECONDS to what
	// pipeline.MaxChecks checks at that interval can reach.
	PollSeconds int
	// DeadlineSeconds, when positive, is the functions' DEADLINE_SECONDS.
	DeadlineSeconds int
	// NotifyOnSubmit, when true, sets NOTIFY_ON_SUBMIT to true.
	NotifyOnSubmit bool
	// StrictChecks makes every portrait warning a rejection
	// (STRICT_PORTRAIT_CHECKS).
	StrictChecks bool
	// MaxInFlight is MAX_BUILDS_IN_FLIGHT: the most builds at Mirako at once
	// (0: no limit of the pipeline's own).
	MaxInFlight int
	// MirakoToken, when set, makes the stack use the real Mirako API at
	// MirakoURL (default: the template's, https://mirako.co) with this
	// token instead of the simulator.
	MirakoToken string
	MirakoURL   string
	// Out receives the stack's log: builds' progress, notifications,
	// failed invocations (nil: discarded).
	Out io.Writer
	// SimMaxBuilds and SimOutage are the simulator's capacity (0: none)
	// and its outage at start (see mirakotest.Config).
	SimMaxBuilds int
	SimOutage    time.Duration
	// WebhookURL is where the webhook function delivers (empty: the stack's
	// own receiver, which verifies and prints each delivery).
	WebhookURL string
	// WebhookSecret is the signing secret, whsec_… (empty: one is made).
	WebhookSecret string
	// WebhookRetrySeconds, when positive, is every delivery retry's wait,
	// instead of the production schedule's (about a day in all).
	WebhookRetrySeconds int
	// SweepEvery is how often the sweep runs, as the deployed schedule
	// runs it every 15 minutes (zero: every 15 minutes; negative: never).
	SweepEvery time.Duration
	// AccessLog, when set, receives every AWS request the functions make,
	// as IAM sees it (see Gateway.RecordAccess): the permission proof's input.
	AccessLog io.Writer
	// Verbose also sends the functions' own logs and moto's request log to
	// Out.
	Verbose bool
}

// Stack is a running local stack: moto behind the gateway, the resources,
// the in-process functions, the pump, the webhook and, unless the real
// Mirako is used, the simulator.
type Stack struct {
	// Endpoint is the AWS endpoint of the stack, http://127.0.0.1:PORT.
	Endpoint string
	// Resources names what the stack created.
	Resources Resources
	// MirakoURL is the Mirako API the functions call.
	MirakoURL string
	// Sim is the simulator, nil when the real Mirako is used.
	Sim *mirakotest.Simulator
	// Webhook is the stack's own receiver of the signed deliveries.
	Webhook *Webhook
	// WebhookSecret is the deliveries' signing secret.
	WebhookSecret string
	// Env is each function's environment, by local function name.
	Env map[string]map[string]string
	// Metrics tallies the functions' metric lines (Metrics.Summary).
	Metrics Tally

	out     *printer
	base    *base
	simSrv  *http.Server
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	closeMu sync.Once
}

// Start starts a local stack. On error, everything started so far is
// stopped again.
func Start(ctx context.Context, o Options) (*Stack, error) {
	s := &Stack{out: newPrinter(o.Out), MirakoURL: cmp.Or(o.MirakoURL, mirako.DefaultBaseURL)}
	ok := false
	defer func() {
		if !ok {
			s.Close()
		}
	}()
	// The simulator first: its port is part of the functions' environment.
	token := o.MirakoToken
	if token == "" {
		var err error
		if token, err = s.startSim(o); err != nil {
			return nil, err
		}
	}
	var motoLog io.Writer
	if o.Verbose {
		motoLog = prefixWriter{s.out, "moto: "}
	}
	b, err := startBase(ctx, o.Addr, s.out.printf, motoLog)
	if err != nil {
		return nil, err
	}
	s.base, s.Endpoint = b, b.endpoint
	if err := s.provision(ctx, o, token); err != nil {
		return nil, err
	}
	s.run(o, s.register(o))
	ok = true
	return s, nil
}

// startSim starts the Mirako simulator and returns the token it accepts.
func (s *Stack) startSim(o Options) (string, error) {
	ln, err := listen(o.SimAddr, "the Mirako simulator")
	if err != nil {
		return "", err
	}
	token := cmp.Or(o.SimToken, "local-sim-token")
	s.Sim = mirakotest.New(mirakotest.Config{Token: token, BuildTime: o.BuildTime, FaultRate: o.FaultRate,
		FaultKinds: o.FaultKinds, SlowDelay: o.SlowDelay, Seed: o.Seed, MaxBuilds: o.SimMaxBuilds, Outage: o.SimOutage})
	s.simSrv = &http.Server{Handler: s.Sim, ReadHeaderTimeout: 10 * time.Second}
	go s.simSrv.Serve(ln)
	s.MirakoURL = "http://" + hostPort(ln.Addr())
	return token, nil
}

// provision mounts the webhook receiver, creates the resources and sets
// the functions' environment.
func (s *Stack) provision(ctx context.Context, o Options, token string) error {
	definition, err := Definition()
	if err != nil {
		return err
	}
	s.WebhookSecret = cmp.Or(o.WebhookSecret, newWebhookSecret())
	if s.Webhook, err = NewWebhook(s.WebhookSecret, s.out.notification); err != nil {
		return err
	}
	s.base.gw.Mount(WebhookPath, s.Webhook)
	s.Resources, err = Provision(ctx, Config(s.Endpoint), ProvisionInput{
		Definition:    definition,
		Token:         token,
		SecretID:      defaultSecretName,
		WebhookSecret: s.WebhookSecret,
	})
	if err != nil {
		return err
	}
	s.Env = environment(o, s.Endpoint, s.MirakoURL, s.Resources)
	return nil
}

// register builds the functions from their environment, as their mains
// do, registers them with the gateway and returns them by name. Their
// metric lines are printed as CloudWatch would receive them, and tallied
// for the summary on exit.
func (s *Stack) register(o Options) map[string]Function {
	if o.AccessLog != nil {
		var principals []string
		for _, fn := range functions {
			principals = append(principals, fn.LogicalID)
		}
		s.base.gw.RecordAccess(o.AccessLog, principals, map[string]string{defaultSecretName: s.Resources.SecretARN, WebhookSecretName: s.Resources.WebhookSecretARN})
	}
	var logOut io.Writer = io.Discard
	if o.Verbose {
		logOut = s.out
	}
	registered := map[string]Function{}
	for _, fn := range functions {
		stdout := io.MultiWriter(prefixWriter{s.out, fn.Name + " metrics: "}, &s.Metrics)
		rt := runtimeOf(s.Env[fn.Name], prefixWriter{logOut, fn.Name + ": "}, stdout)
		registered[fn.Name] = Function{Name: fn.Name, Handler: fn.Handler(rt), Timeout: fn.Timeout}
		s.base.gw.Register(registered[fn.Name])
	}
	return registered
}

// run starts what AWS would run and moto cannot, until Close: the pump,
// the webhook queue's event source, the sweep's schedule, and the progress
// log.
func (s *Stack) run(o Options, fns map[string]Function) {
	cfg := Config(s.Endpoint)
	bg, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	pump := &Pump{Queue: sqs.NewFromConfig(cfg), Workflow: sfn.NewFromConfig(cfg), QueueURL: s.Resources.EventQueueURL,
		StateMachineARN: s.Resources.StateMachineARN, Logf: s.out.printf}
	deliveries := &EventSource{Queue: sqs.NewFromConfig(cfg), QueueURL: s.Resources.WebhookQueueURL, QueueARN: arn("sqs", WebhookQueueName),
		Function: fns[WebhookFunctionName], Logf: s.out.printf}
	prog := &progress{table: &store.Table{DB: dynamodb.NewFromConfig(cfg), Name: s.Resources.Table}, printf: s.out.printf}
	s.wg.Go(func() { pump.Run(bg) })
	s.wg.Go(func() { deliveries.Run(bg) })
	s.wg.Go(func() { prog.run(bg, time.Second) })
	if o.SweepEvery >= 0 {
		s.wg.Go(func() { s.sweepEvery(bg, cmp.Or(o.SweepEvery, 15*time.Minute), fns[SweepFunctionName]) })
	}
}

// sweepEvery runs the sweep function on a schedule, as the deployed
// stack's EventBridge schedule does.
func (s *Stack) sweepEvery(ctx context.Context, every time.Duration, fn Function) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
		out, fail := Run(fn, functionARN(fn.Name), newRequestID(), []byte("{}"))
		var did sweep.Summary
		switch {
		case fail != nil:
			s.out.printf("sweep failed: %s: %s", fail.Type, fail.Message)
		case json.Unmarshal(out, &did) != nil || did != sweep.Summary{}:
			s.out.printf("sweep: %s", out)
		}
	}
}

// newWebhookSecret makes a Standard Webhooks signing secret.
func newWebhookSecret() string {
	b := make([]byte, 24)
	crand.Read(b)
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}

// AWSConfig returns an AWS configuration for the stack's endpoint. S3
// clients made from it need UsePathStyle.
func (s *Stack) AWSConfig() aws.Config { return Config(s.Endpoint) }

// Notifications returns the notifications the webhook has received.
func (s *Stack) Notifications() []Notification { return s.Webhook.Notifications() }

// Done is closed if moto_server exits while the stack runs.
func (s *Stack) Done() <-chan struct{} { return s.base.moto.Done() }

// Close stops everything the stack started. It is safe to call more than
// once.
func (s *Stack) Close() error {
	s.closeMu.Do(func() {
		if s.cancel != nil {
			s.cancel()
		}
		s.wg.Wait()
		if s.base != nil {
			s.base.close()
		}
		if s.Sim != nil {
			s.Sim.Close() // ends stalled "slow" faults, so shutdown need not wait them out
		}
		if s.simSrv != nil {
			shutdown(s.simSrv)
		}
	})
	return nil
}

// base is the gateway, listening, with moto behind it.
type base struct {
	gw       *Gateway
	srv      *http.Server
	moto     *Moto
	endpoint string
}

// startBase listens at addr, starts moto with the gateway's port as its
// callback port, and points the gateway at it.
func startBase(ctx context.Context, addr string, logf func(string, ...any), motoLog io.Writer) (*base, error) {
	ln, err := listen(addr, "the local AWS endpoint")
	if err != nil {
		return nil, err
	}
	tcp := ln.Addr().(*net.TCPAddr)
	if !tcp.IP.IsLoopback() && !tcp.IP.IsUnspecified() {
		ln.Close()
		return nil, fmt.Errorf("local stack: %s is not a loopback address; moto calls the functions back at localhost:%d", addr, tcp.Port)
	}
	b := &base{
		gw:       NewGateway(logf),
		endpoint: "http://" + hostPort(ln.Addr()),
	}
	b.srv = &http.Server{Handler: b.gw, ReadHeaderTimeout: 30 * time.Second}
	go b.srv.Serve(ln)
	b.moto, err = StartMoto(ctx, tcp.Port, motoLog)
	if err != nil {
		shutdown(b.srv)
		return nil, err
	}
	u, err := url.Parse(b.moto.URL)
	if err != nil {
		b.close()
		return nil, fmt.Errorf("moto address %q: %w", b.moto.URL, err)
	}
	b.gw.SetBackend(u)
	return b, nil
}

func (b *base) close() {
	if b.moto != nil {
		b.moto.Close()
	}
	shutdown(b.srv)
}

// shutdown stops a server, giving requests in flight a moment.
func shutdown(srv *http.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if srv.Shutdown(ctx) != nil {
		srv.Close()
	}
}

// listen listens on addr (a free loopback port when empty), with a clear
// message when the port is taken.
func listen(addr, what string) (net.Listener, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if errors.Is(err, syscall.EADDRINUSE) {
		return nil, fmt.Errorf("cannot serve %s at %s: the address is already in use (is another local stack running? stop it, or choose another address)", what, addr)
	}
	if err != nil {
		return nil, fmt.Errorf("cannot serve %s at %s: %w", what, addr, err)
	}
	return ln, nil
}

// hostPort is a listener's address as clients should dial it: an
// unspecified host becomes 127.0.0.1.
func hostPort(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok || !tcp.IP.IsUnspecified() {
		return a.String()
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(tcp.Port))
}

// Definition renders the state machine with the template's substitutions,
// each resource replaced by its local counterpart.
func Definition() (string, error) {
	return statemachine.Render(map[string]string{
		"SubmitFunctionArn":      functionARN(SubmitFunctionName),
		"CheckStatusFunctionArn": functionARN(CheckFunctionName),
		"NotifyFunctionArn":      functionARN(NotifyFunctionName),
		"BuildsTable":            TableName,
		"Partition":              "aws",
	})
}

// printer serializes the stack's log lines, each with the time of day.
type printer struct {
	mu sync.Mutex
	w  io.Writer
}

func newPrinter(w io.Writer) *printer {
	if w == nil {
		w = io.Discard
	}
	return &printer{w: w}
}

func (p *printer) printf(format string, args ...any) {
	line := strings.TrimRight(fmt.Sprintf(format, args...), "\n")
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "%s %s\n", time.Now().Format("15:04:05"), line)
}

func (p *printer) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.w.Write(b)
}

// notification prints one notification: its event type and the JSON
// event itself.
func (p *printer) notification(n Notification) {
	var ev struct {
		Type string `json:"type"`
	}
	n.Event(&ev)
	if ev.Type == "" {
		ev.Type = "notification"
	}
	p.printf("webhook: %s %s", ev.Type, n.Message)
}

// prefixWriter writes each write (a log line) with a prefix.
type prefixWriter struct {
	w      io.Writer
	prefix string
}

func (p prefixWriter) Write(b []byte) (int, error) {
	if _, err := p.w.Write(append([]byte(p.prefix), b...)); err != nil {
		return 0, err
	}
	return len(b), nil
}
