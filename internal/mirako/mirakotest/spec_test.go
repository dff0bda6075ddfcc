package mirakotest_test

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"
	valerrors "github.com/pb33f/libopenapi-validator/errors"

	"github.com/avatar-pipeline/avatar-pipeline/internal/mirako/mirakotest"
)

// specPath is the vendored specification, relative to this package.
var specPath = filepath.Join("..", "openapi", "openapi.yaml")

var (
	specOnce      sync.Once
	specValidator validator.Validator
	specErr       error
)

// loadSpec returns a validator of Mirako's OpenAPI 3.1 spec, with format (date-time, uri) and content
// (contentEncoding: base64) assertions on. It fails the test if the spec cannot be found or read.
func loadSpec(t testing.TB) validator.Validator {
	t.Helper()
	specOnce.Do(func() {
		path := specPath
		raw, err := os.ReadFile(path)
		if err != nil {
			specErr = fmt.Errorf("the Mirako OpenAPI spec is missing: expected it at %s: %w", path, err)
			return
		}
		doc, err := libopenapi.NewDocument(raw)
		if err != nil {
			specErr = fmt.Errorf("parse %s: %w", path, err)
			return
		}
		v, errs := validator.NewValidator(doc, config.WithFormatAssertions(), config.WithContentAssertions())
		if len(errs) > 0 {
			specErr = fmt.Errorf("build validator for %s: %w", path, errors.Join(errs...))
			return
		}
		specValidator = v
	})
	if specErr != nil {
		t.Fatal(specErr)
	}
	return specValidator
}

// exchange is one request through a validatingProxy and what came back.
type exchange struct {
	method, path string
	status       int // 0: no answer (the connection was reset, or the client had gone)
	header       http.Header
	body         []byte
	reqErrs      []string // the request's violations of the spec
	respErrs     []string // the response's violations of the spec
}

func (e exchange) String() string {
	return fmt.Sprintf("%s %s → %d %s", e.method, e.path, e.status, e.body)
}

// validatingProxy sits in front of a handler: it validates every request against the spec, passes it
// on, records the answer as it is written and validates that too. Hijacking (a reset) passes through.
type validatingProxy struct {
	v    validator.Validator
	next http.Handler

	mu  sync.Mutex // the validator is not documented as safe for concurrent use
	log []exchange
}

// newValidatedServer starts the simulator behind a validatingProxy.
func newValidatedServer(t *testing.T, cfg mirakotest.Config) (*mirakotest.Simulator, *validatingProxy, *httptest.Server) {
	t.Helper()
	v := loadSpec(t)
	sim := mirakotest.New(cfg)
	proxy := &validatingProxy{v: v, next: sim}
	srv := httptest.NewServer(proxy)
	t.Cleanup(srv.Close)
	t.Cleanup(sim.Close)
	return sim, proxy, srv
}

func (p *validatingProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	clone := func() *http.Request {
		c := r.Clone(r.Context())
		c.Body = io.NopCloser(bytes.NewReader(body))
		return c
	}
	ex := exchange{method: r.Method, path: r.URL.Path}

	p.mu.Lock()
	_, errs := p.v.ValidateHttpRequestSync(clone())
	p.mu.Unlock()
	ex.reqErrs = describe(errs)

	cw := &captureWriter{ResponseWriter: w}
	p.next.ServeHTTP(cw, r)

	ex.status, ex.header, ex.body = cw.status, w.Header().Clone(), cw.body.Bytes()
	if ex.status != 0 {
		resp := &http.Response{
			StatusCode: ex.status,
			Header:     ex.header,
			Body:       io.NopCloser(bytes.NewReader(ex.body)),
			Request:    clone(),
		}
		p.mu.Lock()
		_, errs := p.v.ValidateHttpResponse(clone(), resp)
		p.mu.Unlock()
		ex.respErrs = describe(errs)
	}
	p.mu.Lock()
	p.log = append(p.log, ex)
	p.mu.Unlock()
}

// exchanges returns the log so far.
func (p *validatingProxy) exchanges() []exchange {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]exchange(nil), p.log...)
}

// last returns the latest exchange.
func (p *validatingProxy) last(t *testing.T) exchange {
	t.Helper()
	log := p.exchanges()
	if len(log) == 0 {
		t.Fatal("no exchange recorded")
	}
	return log[len(log)-1]
}

func describe(errs []*valerrors.ValidationError) []string {
	var out []string
	for _, e := range errs {
		s := e.Message
		if e.Reason != "" {
			s += ": " + e.Reason
		}
		for _, se := range e.SchemaValidationErrors {
			s += fmt.Sprintf(" [%s: %s]", se.FieldPath, se.Reason)
		}
		out = append(out, s)
	}
	return out
}

// captureWriter records what a handler writes. Unwrap lets http.ResponseController reach the
// underlying writer, so hijacking works through it.
type captureWriter struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (c *captureWriter) WriteHeader(status int) {
	if c.status == 0 {
		c.status = status
	}
	c.ResponseWriter.WriteHeader(status)
}

func (c *captureWriter) Write(p []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	c.body.Write(p)
	return c.ResponseWriter.Write(p)
}

func (c *captureWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// fakeClock is a Config.Now that moves only when told to.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 3, 31, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Small real images for build requests.
var (
	pngImage  = encodeImage(png.Encode)
	jpegImage = encodeImage(func(w io.Writer, m image.Image) error { return jpeg.Encode(w, m, nil) })
)

func encodeImage(enc func(io.Writer, image.Image) error) []byte {
	m := image.NewRGBA(image.Rect(0, 0, 8, 8))
	for i := range m.Pix {
		m.Pix[i] = byte(i)
	}
	m.Set(0, 0, color.White)
	var b bytes.Buffer
	if err := enc(&b, m); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// rawRequest sends a request like curl would and returns status, headers and body. A transport
// failure is returned as an error.
func rawRequest(t *testing.T, method, url, token, contentType, body string) (int, http.Header, []byte, error) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, raw, err
}
