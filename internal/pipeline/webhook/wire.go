package webhook

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/avatar-pipeline/avatar-pipeline/internal/pipeline"
	"github.com/avatar-pipeline/avatar-pipeline/internal/secret"
	"github.com/aws/aws-lambda-go/events"
)

// Environment variable names of the webhook function.
const (
	EnvURL      = "WEBHOOK_URL"       // the receiver: https, or http to a loopback host
	EnvSecretID = "WEBHOOK_SECRET_ID" // Secrets Manager secret holding the whsec_ secret(s)
	EnvQueueURL = "WEBHOOK_QUEUE_URL" // the queue the events come from, to schedule retries
	// EnvRetrySeconds, when set, makes every retry wait that long instead
	// of DefaultSchedule's: for the local stack and its tests only.
	EnvRetrySeconds = "WEBHOOK_RETRY_SECONDS"
)

// Env lists the function's variables, for the template's checks.
var Env = []string{EnvURL, EnvSecretID, EnvQueueURL}

const (
	// AttemptTimeout bounds one POST, answer included.
	AttemptTimeout = 10 * time.Second
	// SecretTTL is how long the signing secret is used before it is read
	// again, so a rotation takes effect without a redeploy.
	SecretTTL = 5 * time.Minute
	// secretTimeout bounds one read of the secret.
	secretTimeout = 5 * time.Second
)

// Config is what the handler is built from.
type Config struct {
	URL      string
	SecretID string
	QueueURL string
}

// Lambda is the webhook function's handler, built from its runtime.
func Lambda(rt pipeline.Runtime) func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
	return pipeline.Serve("webhook", rt, NewFromEnv, (*Handler).Handle)
}

// NewFromEnv builds the webhook function from its environment. It makes no
// AWS call: the secret is read on first use.
func NewFromEnv(_ context.Context, cfg aws.Config, rt pipeline.Runtime) (*Handler, error) {
	c := Config{
		URL:      strings.TrimSpace(rt.Getenv(EnvURL)),
		SecretID: strings.TrimSpace(rt.Getenv(EnvSecretID)),
		QueueURL: strings.TrimSpace(rt.Getenv(EnvQueueURL)),
	}
	h, err := New(c, sqs.NewFromConfig(cfg), secretsmanager.NewFromConfig(cfg), rt.Log)
	if v := strings.TrimSpace(rt.Getenv(EnvRetrySeconds)); v != "" && err == nil {
		n, perr := strconv.Atoi(v)
		if perr != nil || n < 1 {
			return nil, fmt.Errorf("%s=%q is not a positive number of seconds", EnvRetrySeconds, v)
		}
		h.Schedule = Schedule{Delays: slices.Repeat([]time.Duration{time.Duration(n) * time.Second}, MaxAttempts-1)}
	}
	return h, err
}

// New builds a handler, refusing a URL it must not post to.
func New(c Config, queue Queue, sm secret.Reader, log *slog.Logger) (*Handler, error) {
	if err := checkURL(c.URL); err != nil {
		return nil, err
	}
	if c.SecretID == "" {
		return nil, errors.New(EnvSecretID + " is not set; set it to the name of the Secrets Manager secret holding the whsec_ signing secret")
	}
	if c.QueueURL == "" {
		return nil, errors.New(EnvQueueURL + " is not set; set it to the URL of the queue the function reads, so it can schedule retries")
	}
	return &Handler{
		Schedule: DefaultSchedule,
		url:      c.URL,
		queueURL: c.QueueURL,
		queue:    queue,
		secret:   &secretCache{read: func(ctx context.Context) ([][]byte, error) { return readKeys(ctx, sm, c.SecretID) }},
		client: &http.Client{
			Timeout: AttemptTimeout,
			// A redirect is a failed attempt: following it would send a
			// signed event to a URL nobody configured.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		log: log,
		now: time.Now,
	}, nil
}

// checkURL allows https anywhere and http only to a loopback host, which
// is what the local stack's receiver listens on.
func checkURL(raw string) error {
	if raw == "" {
		return errors.New(EnvURL + " is not set; set it to the receiver's https URL")
	}
	u, err := url.Parse(raw)
	if err != nil {
		// Only the reason: the URL itself may hold a password.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("%s is not a URL (%v); set it to the receiver's https URL", EnvURL, err)
	}
	host := u.Hostname()
	switch {
	case host == "":
		return fmt.Errorf("%s %q has no host; set it to the receiver's full https URL, such as https://example.com/hooks/avatars", EnvURL, u.Redacted())
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && isLoopback(host):
		return nil
	case u.Scheme == "http":
		return fmt.Errorf("%s %q uses plain http to %s; use https (plain http is allowed only to 127.0.0.1, ::1 or localhost, for the local stack)", EnvURL, u.Redacted(), host)
	default:
		return fmt.Errorf("%s %q has scheme %q; use an https URL", EnvURL, u.Redacted(), u.Scheme)
	}
}

func isLoopback(host string) bool {
	ip := net.ParseIP(host)
	return host == "localhost" || ip != nil && ip.IsLoopback()
}

// readKeys reads and decodes the signing secret. Errors name the secret
// and the fix, never its value.
func readKeys(ctx context.Context, sm secret.Reader, id string) ([][]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, secretTimeout)
	defer cancel()
	value, err := secret.ReadString(ctx, sm, id, "the receiver's signing secret", "whsec_...")
	if err != nil {
		return nil, err
	}
	keys, err := parseSecrets(value)
	if err != nil {
		return nil, fmt.Errorf("webhook secret %q: %w", id, err)
	}
	return keys, nil
}

// secretCache holds the signing keys: read on first use, and again once
// they are SecretTTL old.
type secretCache struct {
	read func(context.Context) ([][]byte, error)

	mu   sync.Mutex
	keys [][]byte
	at   time.Time
}

// get returns the keys. When a re-read fails it returns the keys read
// before along with the error, and tries again on the next call.
func (c *secretCache) get(ctx context.Context, now time.Time) ([][]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.keys != nil && now.Sub(c.at) < SecretTTL {
		return c.keys, nil
	}
	keys, err := c.read(ctx)
	if err != nil {
		return c.keys, err
	}
	c.keys, c.at = keys, now
	return keys, nil
}
