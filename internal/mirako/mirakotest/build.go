package mirakotest

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"
)

// errBodyTooLarge is what limitedBody returns once the body goes past its limit.
var errBodyTooLarge = errors.New("request body too large")

// build serves BuildAvatarAsync. faulted tells whether the request already has a fault, in which case
// the name's fault tag is not used.
func (s *Simulator) build(r *http.Request, faulted bool) *response {
	if resp := checkContentType(r.Header.Get("Content-Type")); resp != nil {
		return resp
	}
	limit := s.cfg.MaxBodyBytes
	if r.ContentLength > limit {
		drain(r.Body, limit)
		return tooLarge(limit)
	}
	req, resp := decodeBuildBody(&limitedBody{r: r.Body, left: limit}, s.cfg.MaxImageBytes)
	if resp != nil {
		if resp.status == http.StatusRequestEntityTooLarge {
			drain(r.Body, limit)
			return tooLarge(limit)
		}
		return resp
	}

	tags := parseTags(req.name)
	switch {
	case tags.credits:
		return problemResponse(http.StatusPaymentRequired, "insufficient credits", nil)
	case tags.forbidden:
		return problemResponse(http.StatusForbidden, "this API token is not allowed to build avatars", nil)
	}
	var f Fault
	if t := tags.post; t != nil && !faulted {
		s.mu.Lock()
		s.posts[req.name]++
		if k := s.posts[req.name]; t.n == 0 || k <= t.n {
			f = t.fault
			s.stats.Faults[f]++ // counted now: a slow one stalls below, before the answer
		}
		s.mu.Unlock()
	}
	stalled := false
	switch {
	case f == FaultSlow:
		if !s.stall(r.Context()) {
			return &response{fault: f, dropped: true}
		}
		stalled = true
	case f.before():
		return &response{fault: f} // answered by deliver; nothing is created
	}

	s.mu.Lock()
	now := s.cfg.Now()
	if wait, full := s.buildsFullLocked(now); full {
		s.stats.RateLimited++
		s.mu.Unlock()
		resp = problemResponse(http.StatusTooManyRequests,
			fmt.Sprintf("too many builds in progress: at most %d at once", s.cfg.MaxBuilds), nil)
		resp.header.Set("Retry-After", retryAfterSeconds(wait))
		resp.fault, resp.stalled = f, stalled
		return resp
	}
	a := &avatar{id: s.newIDLocked(), name: req.name, userID: s.userID, createdAt: now, tags: tags}
	s.avatars[a.id] = a
	s.order = append(s.order, a)
	s.stats.BuildsCreated++
	s.stats.BuildsByName[a.name]++
	s.mu.Unlock()

	type output struct {
		AvatarID string `json:"avatar_id"`
	}
	resp = jsonResponse(http.StatusOK, struct {
		Data output `json:"data"`
	}{output{a.id}})
	resp.fault, resp.stalled = f, stalled
	return resp
}

// buildsFullLocked reports whether MaxBuilds avatars are PENDING or BUILDING at now, and how long
// until the first of them finishes; a [stuck] one never does, so with only those the wait is BuildTime.
func (s *Simulator) buildsFullLocked(now time.Time) (time.Duration, bool) {
	if s.cfg.MaxBuilds <= 0 {
		return 0, false
	}
	n, wait := 0, s.cfg.BuildTime
	for _, a := range s.avatars {
		if st := s.statusOf(a, now); st == statusPending || st == statusBuilding {
			n++
			if d := a.createdAt.Add(s.cfg.BuildTime).Sub(now); !a.tags.stuck && d < wait {
				wait = d
			}
		}
	}
	return wait, n >= s.cfg.MaxBuilds
}

// checkContentType accepts a JSON media type or none (JSON is assumed, as Huma does); anything else
// gets 415.
func checkContentType(ct string) *response {
	if ct == "" {
		return nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json")) {
		return nil
	}
	return problemResponse(http.StatusUnsupportedMediaType, "validation failed", []errorDetail{{
		Location: "body",
		Message:  fmt.Sprintf("unsupported content type %q: send application/json", ct),
	}})
}

func tooLarge(limit int64) *response {
	return problemResponse(http.StatusRequestEntityTooLarge,
		fmt.Sprintf("request body is too large limit=%d bytes", limit),
		[]errorDetail{{Location: "body", Message: fmt.Sprintf("request body is larger than %d bytes", limit)}})
}

// drain reads up to limit more bytes of an oversized body before the answer, so that a client still
// uploading reads the 413 instead of a broken pipe; beyond that net/http closes the connection.
func drain(body io.Reader, limit int64) {
	_, _ = io.Copy(io.Discard, io.LimitReader(body, limit))
}

// buildRequest is a validated AsyncBuildApiRequestBody. The image is checked, not kept.
type buildRequest struct {
	name string
}

// decodeBuildBody reads and validates a build request body as a stream. It returns a problem answer
// (400, 413 or 422) when the body is not acceptable.
func decodeBuildBody(body io.Reader, maxImage int64) (buildRequest, *response) {
	br := bufio.NewReaderSize(body, 64<<10)
	first, err := peekNonSpace(br)
	switch {
	case err == io.EOF:
		return buildRequest{}, problemResponse(http.StatusBadRequest, "request body is required", nil)
	case err != nil:
		return buildRequest{}, readFailure(err)
	case first != '{':
		// Not an object: tell broken JSON (400) from JSON of the wrong type (422).
		rest, err := io.ReadAll(br)
		if err != nil {
			return buildRequest{}, readFailure(err)
		}
		var v any
		if err := json.Unmarshal(rest, &v); err != nil {
			return buildRequest{}, syntaxFailure(err)
		}
		return buildRequest{}, validationFailure([]errorDetail{{Location: "body", Message: "expected object", Value: small(v)}})
	}

	dec := json.NewDecoder(br)
	dec.UseNumber()
	if _, err := dec.Token(); err != nil { // the '{' peeked above
		return buildRequest{}, readFailure(err)
	}
	var (
		req                 buildRequest
		haveName, haveImage bool
		nameErr, imageErr   *errorDetail
		unexpected          []errorDetail
	)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return buildRequest{}, readFailure(err)
		}
		key, _ := tok.(string) // object keys are always strings
		switch key {
		case "name":
			var v any
			if err := dec.Decode(&v); err != nil {
				return buildRequest{}, readFailure(err)
			}
			haveName, nameErr = true, nil
			if name, ok := v.(string); ok {
				req.name = name
			} else {
				nameErr = &errorDetail{Location: "body.name", Message: "expected string", Value: small(v)}
			}
		case "image":
			f := imageField{maxImage: maxImage}
			if err := dec.Decode(&f); err != nil {
				return buildRequest{}, readFailure(err)
			}
			haveImage, imageErr = true, f.problem
			if !f.seen {
				imageErr = &errorDetail{Location: "body.image", Message: "expected string"}
			}
		default:
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				return buildRequest{}, readFailure(err)
			}
			var v any
			_ = json.Unmarshal(raw, &v) // raw is valid JSON
			unexpected = append(unexpected, errorDetail{Location: "body." + key, Message: "unexpected property", Value: small(v)})
		}
	}
	if _, err := dec.Token(); err != nil { // '}'
		return buildRequest{}, readFailure(err)
	}
	switch _, err := dec.Token(); {
	case err == nil:
		return buildRequest{}, syntaxFailure(errors.New("invalid character after top-level value"))
	case err != io.EOF:
		return buildRequest{}, readFailure(err)
	}

	errs := unexpected
	if !haveName {
		nameErr = &errorDetail{Location: "body.name", Message: "expected required property name to be present"}
	}
	if !haveImage {
		imageErr = &errorDetail{Location: "body.image", Message: "expected required property image to be present"}
	}
	for _, e := range []*errorDetail{nameErr, imageErr} {
		if e != nil {
			errs = append(errs, *e)
		}
	}
	if len(errs) > 0 {
		return buildRequest{}, validationFailure(errs)
	}
	return req, nil
}

// readFailure answers an error met while decoding: the body went past the limit (413), or it is not
// JSON (400).
func readFailure(err error) *response {
	if errors.Is(err, errBodyTooLarge) {
		// A placeholder: build, which knows the limit, answers with tooLarge.
		return &response{status: http.StatusRequestEntityTooLarge}
	}
	return syntaxFailure(err)
}

func syntaxFailure(err error) *response {
	msg := err.Error()
	if errors.Is(err, io.ErrUnexpectedEOF) {
		msg = "unexpected end of JSON input"
	}
	return problemResponse(http.StatusBadRequest, "validation failed", []errorDetail{{Location: "body", Message: msg}})
}

func validationFailure(errs []errorDetail) *response {
	return problemResponse(http.StatusUnprocessableEntity, "validation failed", errs)
}

// small returns v if it is small enough to echo in an error detail, nil otherwise.
func small(v any) any {
	b, err := json.Marshal(v)
	if err != nil || len(b) > 128 {
		return nil
	}
	return v
}

// peekNonSpace returns the first byte that is not JSON whitespace, without consuming it.
func peekNonSpace(br *bufio.Reader) (byte, error) {
	for {
		b, err := br.Peek(1)
		if err != nil {
			return 0, err
		}
		switch b[0] {
		case ' ', '\t', '\r', '\n':
			_, _ = br.ReadByte()
		default:
			return b[0], nil
		}
	}
}

// imageField checks the image member as json.Decoder hands it over. UnmarshalJSON gets the raw value
// straight from the decoder's buffer, so an image without escapes is checked without a copy: the
// only large buffer is the decoder's own.
type imageField struct {
	maxImage int64
	seen     bool // UnmarshalJSON ran (encoding/json may skip it for null)
	problem  *errorDetail
}

func (f *imageField) UnmarshalJSON(raw []byte) error {
	f.seen = true
	if len(raw) < 2 || raw[0] != '"' {
		// The value is not echoed: it may be large.
		f.problem = &errorDetail{Location: "body.image", Message: "expected string"}
		return nil
	}
	var src io.Reader
	if inner := raw[1 : len(raw)-1]; bytes.IndexByte(inner, '\\') < 0 {
		src = bytes.NewReader(inner)
	} else {
		// Escapes (such as \/ or \n) are legal JSON but rare in base64: unquote a copy.
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return err
		}
		src = strings.NewReader(s)
	}
	f.problem = checkImage(src, f.maxImage)
	return nil
}

// checkImage decodes the base64 image as a stream, keeping only its first bytes, and returns the
// problem with it, if any.
func checkImage(image io.Reader, maxImage int64) *errorDetail {
	var sink imageSink
	if _, err := io.Copy(&sink, base64.NewDecoder(base64.StdEncoding, image)); err != nil {
		return &errorDetail{Location: "body.image", Message: "expected base64-encoded image data: " + err.Error()}
	}
	switch {
	case sink.n == 0:
		return &errorDetail{Location: "body.image", Message: "image is empty: expected a JPEG or PNG image"}
	case sink.n > maxImage:
		return &errorDetail{Location: "body.image",
			Message: fmt.Sprintf("image is %d bytes, more than the limit of %d bytes", sink.n, maxImage)}
	case !isJPEG(sink.head[:]) && !isPNG(sink.head[:]):
		return &errorDetail{Location: "body.image", Message: "expected a JPEG or PNG image"}
	}
	return nil
}

// imageSink counts the decoded image and keeps its first bytes for the format check.
type imageSink struct {
	head [8]byte
	n    int64
}

func (s *imageSink) Write(p []byte) (int, error) {
	if s.n < int64(len(s.head)) {
		copy(s.head[s.n:], p)
	}
	s.n += int64(len(p))
	return len(p), nil
}

var pngMagic = []byte("\x89PNG\r\n\x1a\n")

func isPNG(head []byte) bool  { return bytes.HasPrefix(head, pngMagic) }
func isJPEG(head []byte) bool { return bytes.HasPrefix(head, []byte{0xff, 0xd8, 0xff}) }

// limitedBody reads at most left bytes and fails with errBodyTooLarge when there is more.
type limitedBody struct {
	r    io.Reader
	left int64
}

func (l *limitedBody) Read(p []byte) (int, error) {
	if l.left <= 0 {
		// Probe for one more byte to tell "exactly at the limit" from "past it".
		var one [1]byte
		for range 100 {
			n, err := l.r.Read(one[:])
			if n > 0 {
				return 0, errBodyTooLarge
			}
			if err != nil {
				return 0, err
			}
		}
		return 0, io.ErrNoProgress
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	return n, err
}
