package mirakotest

import (
	"bufio"
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// avatar is a build the simulator knows about.
type avatar struct {
	id, name, userID string
	createdAt        time.Time
	tags             nameTags
	gets             int // GETs counted against tags.get
}

// avatarJSON is the spec's AvatarResponse (additionalProperties: false). The lists are null until
// READY, as the spec allows and a Go server sends them.
type avatarJSON struct {
	CreatedAt                  string      `json:"created_at"`
	ID                         string      `json:"id"`
	Name                       string      `json:"name"`
	Status                     string      `json:"status"`
	SupportedInteractiveModels []string    `json:"supported_interactive_models"`
	Themes                     []themeJSON `json:"themes"`
	UserID                     string      `json:"user_id"`
}

// themeJSON is the spec's PresignedAvatarTheme.
type themeJSON struct {
	KeyImage  string `json:"key_image"`
	LiveVideo string `json:"live_video"`
	Name      string `json:"name"`
}

// statusOf is a's status at now; a [stuck] avatar stays BUILDING.
func (s *Simulator) statusOf(a *avatar, now time.Time) string {
	elapsed := now.Sub(a.createdAt)
	switch {
	case elapsed < s.cfg.BuildTime/10:
		return "PENDING"
	case a.tags.stuck || elapsed < s.cfg.BuildTime:
		return "BUILDING"
	case a.tags.fail:
		return "ERROR"
	}
	return "READY"
}

func (s *Simulator) viewLocked(a *avatar, now time.Time) avatarJSON {
	v := avatarJSON{CreatedAt: a.createdAt.UTC().Format(time.RFC3339Nano), ID: a.id, Name: a.name,
		Status: s.statusOf(a, now), UserID: a.userID}
	if v.Status == "READY" {
		// Presigned-looking URLs on a domain that never resolves: the pipeline must not fetch them.
		// metis-2.5 is the interactive model the spec names as the default.
		sig := sha256.Sum256([]byte(a.id + "/Default"))
		base := "https://assets.mirako.test/avatars/" + a.id + "/themes/default/"
		query := fmt.Sprintf("?X-Amz-Expires=3600&X-Amz-Signature=%x", sig[:16])
		v.SupportedInteractiveModels = []string{"metis-2.5"}
		v.Themes = []themeJSON{{Name: "Default", KeyImage: base + "key_image.png" + query, LiveVideo: base + "live_video.mp4" + query}}
	}
	return v
}

// get serves GetAvatarById.
func (s *Simulator) get(id string, faulted bool) *response {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.avatars[id]
	if a == nil {
		return problemResponse(http.StatusNotFound, "avatar "+id+" not found", nil)
	}
	resp := dataResponse(s.viewLocked(a, s.cfg.Now()))
	if t := a.tags.get; t != nil && !faulted {
		if a.gets++; t.n == 0 || a.gets <= t.n {
			resp.fault = t.fault
			s.stats.Faults[t.fault]++
		}
	}
	return resp
}

// list serves GetUserAvatarList: newest first, "data" null when there are none (as a Go server
// sends it).
func (s *Simulator) list() *response {
	s.mu.Lock()
	defer s.mu.Unlock()
	var data []avatarJSON
	for _, a := range slices.Backward(s.order) {
		data = append(data, s.viewLocked(a, s.cfg.Now()))
	}
	return dataResponse(data)
}

// delete serves DeleteAvatar.
func (s *Simulator) delete(id string) *response {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.avatars[id]
	if a == nil {
		return problemResponse(http.StatusNotFound, "avatar "+id+" not found", nil)
	}
	delete(s.avatars, id)
	s.order = slices.DeleteFunc(s.order, func(b *avatar) bool { return b == a })
	s.stats.BuildsDeleted++
	return &response{status: http.StatusNoContent, header: http.Header{}}
}

// nameTags are the outcomes an avatar name asks for.
type nameTags struct {
	fail, stuck, credits, forbidden bool      // [error], [stuck], [credits], [forbidden]
	post, get                       *tagFault // [F] or [FxN], [get:F] or [get:FxN]
}

// tagFault is a fault for the first n requests, or all of them when n is 0.
type tagFault struct {
	fault Fault
	n     int
}

var (
	tagPattern      = regexp.MustCompile(`\[([^\[\]]*)\]`)
	tagFaultPattern = regexp.MustCompile(`^(get:)?([a-z0-9_]+?)(?:x([0-9]+))?$`)
)

// parseTags reads a name's bracketed tags. Unknown tags are text; of two fault tags for the same
// requests, the first counts.
func parseTags(name string) nameTags {
	var t nameTags
	flags := map[string]*bool{"error": &t.fail, "stuck": &t.stuck, "credits": &t.credits, "forbidden": &t.forbidden}
	for _, m := range tagPattern.FindAllStringSubmatch(name, -1) {
		tag := strings.ToLower(strings.TrimSpace(m[1]))
		if flag := flags[tag]; flag != nil {
			*flag = true
			continue
		}
		fm := tagFaultPattern.FindStringSubmatch(tag)
		if fm == nil {
			continue
		}
		target, f := &t.post, Fault(fm[2])
		if fm[1] != "" {
			target = &t.get
		}
		n, err := strconv.Atoi(cmp.Or(fm[3], "0"))
		if *target != nil || !f.before() && !f.after() || err != nil || fm[3] != "" && n <= 0 {
			continue
		}
		*target = &tagFault{fault: f, n: n}
	}
	return t
}

// tooLarge is what decodeBuildBody answers once the body passes its limit; build makes the 413.
var tooLarge = &response{status: http.StatusRequestEntityTooLarge}

// build serves BuildAvatarAsync. faulted tells that the request already has a fault, so the name's
// fault tag is not used.
func (s *Simulator) build(r *http.Request, faulted bool) *response {
	if resp := checkContentType(r.Header.Get("Content-Type")); resp != nil {
		return resp
	}
	limit, name, resp := s.cfg.MaxBodyBytes, "", tooLarge
	if r.ContentLength <= limit {
		name, resp = decodeBuildBody(http.MaxBytesReader(nil, r.Body, limit), s.cfg.MaxImageBytes)
	}
	if resp == tooLarge {
		// Read on before answering, so that a client still uploading reads the 413, not a broken
		// pipe; beyond that net/http closes the connection.
		_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, limit))
		return problemResponse(http.StatusRequestEntityTooLarge, fmt.Sprintf("request body is too large limit=%d bytes", limit),
			[]errorDetail{{Location: "body", Message: fmt.Sprintf("request body is larger than %d bytes", limit)}})
	}
	if resp != nil {
		return resp
	}

	tags := parseTags(name)
	switch {
	case tags.credits:
		return problemResponse(http.StatusPaymentRequired, "insufficient credits", nil)
	case tags.forbidden:
		return problemResponse(http.StatusForbidden, "this API token is not allowed to build avatars", nil)
	}
	var f Fault
	if t := tags.post; t != nil && !faulted {
		s.mu.Lock()
		if s.posts[name]++; t.n == 0 || s.posts[name] <= t.n {
			f = t.fault
			s.stats.Faults[f]++ // now: a slow one stalls before the answer
		}
		s.mu.Unlock()
	}
	if f == FaultSlow {
		s.stall(r.Context())
	} else if f.before() {
		return &response{fault: f} // answered by deliver; nothing is created
	}

	s.mu.Lock()
	now := s.cfg.Now()
	if wait, full := s.buildsFullLocked(now); full {
		s.stats.RateLimited++
		resp = retryLater(http.StatusTooManyRequests, fmt.Sprintf("too many builds in progress: at most %d at once", s.cfg.MaxBuilds), wait)
	} else {
		a := &avatar{id: s.newIDLocked(), name: name, userID: s.userID, createdAt: now, tags: tags}
		s.avatars[a.id] = a
		s.order = append(s.order, a)
		s.stats.BuildsCreated++
		s.stats.BuildsByName[name]++
		resp = dataResponse(map[string]string{"avatar_id": a.id})
	}
	s.mu.Unlock()
	if f != FaultSlow { // a slow one has stalled already
		resp.fault = f
	}
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
		if st := s.statusOf(a, now); st == "PENDING" || st == "BUILDING" {
			n++
			if d := a.createdAt.Add(s.cfg.BuildTime).Sub(now); !a.tags.stuck && d < wait {
				wait = d
			}
		}
	}
	return wait, n >= s.cfg.MaxBuilds
}

// checkContentType accepts a JSON media type or none (JSON is assumed, as Huma does), else 415.
func checkContentType(ct string) *response {
	if mt, _, err := mime.ParseMediaType(ct); ct == "" || err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json")) {
		return nil
	}
	return problemResponse(http.StatusUnsupportedMediaType, "validation failed", []errorDetail{{
		Location: "body", Message: fmt.Sprintf("unsupported content type %q: send application/json", ct)}})
}

// decodeBuildBody validates a build body (AsyncBuildApiRequestBody) as a stream and returns the
// avatar's name or the problem: 400 for broken JSON, 422 for every missing, unexpected or invalid
// member at once, tooLarge past the limit. The image is checked, not kept.
func decodeBuildBody(body io.Reader, maxImage int64) (string, *response) {
	br := bufio.NewReaderSize(body, 64<<10)
	b, err := br.Peek(1)
	for ; err == nil && strings.IndexByte(" \t\r\n", b[0]) >= 0; b, err = br.Peek(1) {
		_, _ = br.ReadByte()
	}
	switch {
	case err == io.EOF:
		return "", problemResponse(http.StatusBadRequest, "request body is required", nil)
	case err != nil:
		return "", readFailure(err)
	case b[0] != '{': // JSON of another type (422), unless it is broken (400)
		rest, err := io.ReadAll(br)
		var v any
		if err == nil {
			err = json.Unmarshal(rest, &v)
		}
		if err != nil {
			return "", readFailure(err)
		}
		return "", validationFailure([]errorDetail{{Location: "body", Message: "expected object", Value: small(v)}})
	}

	dec := json.NewDecoder(br)
	dec.UseNumber()
	_, err = dec.Token() // '{'
	name, nameErr := "", &errorDetail{Location: "body.name", Message: "expected required property name to be present"}
	imageErr := &errorDetail{Location: "body.image", Message: "expected required property image to be present"}
	var errs []errorDetail
	for err == nil && dec.More() {
		var tok json.Token
		if tok, err = dec.Token(); err != nil {
			break
		}
		var v any
		switch key, _ := tok.(string); key { // object keys are strings
		case "name":
			if err = dec.Decode(&v); err == nil {
				name, nameErr = "", &errorDetail{Location: "body.name", Message: "expected string", Value: small(v)}
				if n, ok := v.(string); ok {
					name, nameErr = n, nil
				}
			}
		case "image":
			f := imageField{maxImage: maxImage, problem: &errorDetail{Location: "body.image", Message: "expected string"}}
			err = dec.Decode(&f)
			imageErr = f.problem
		default:
			if err = dec.Decode(&v); err == nil {
				errs = append(errs, errorDetail{Location: "body." + key, Message: "unexpected property", Value: small(v)})
			}
		}
	}
	if err == nil {
		_, err = dec.Token() // '}'
	}
	if _, next := dec.Token(); err == nil && next != io.EOF {
		if err = next; err == nil {
			err = errors.New("invalid character after top-level value")
		}
	}
	if err != nil {
		return "", readFailure(err)
	}
	for _, e := range []*errorDetail{nameErr, imageErr} {
		if e != nil {
			errs = append(errs, *e)
		}
	}
	if len(errs) > 0 {
		return "", validationFailure(errs)
	}
	return name, nil
}

// readFailure answers an error met while decoding: tooLarge past the limit, else 400.
func readFailure(err error) *response {
	if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
		return tooLarge
	}
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
	if b, err := json.Marshal(v); err == nil && len(b) <= 128 {
		return v
	}
	return nil
}

// imageField checks the image member as json.Decoder hands it over, straight from the decoder's
// buffer: the image is never copied unless it has escapes.
type imageField struct {
	maxImage int64
	problem  *errorDetail // "expected string" until a string is checked
}

func (f *imageField) UnmarshalJSON(raw []byte) error {
	if len(raw) < 2 || raw[0] != '"' {
		return nil // not echoed: it may be large
	}
	var src io.Reader = bytes.NewReader(raw[1 : len(raw)-1])
	if bytes.IndexByte(raw, '\\') >= 0 { // escapes (\/, \n) are legal JSON but rare in base64
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return err
		}
		src = strings.NewReader(s)
	}
	var sink imageSink
	msg := ""
	if _, err := io.Copy(&sink, base64.NewDecoder(base64.StdEncoding, src)); err != nil {
		msg = "expected base64-encoded image data: " + err.Error()
	} else if sink.n == 0 {
		msg = "image is empty: expected a JPEG or PNG image"
	} else if sink.n > f.maxImage {
		msg = fmt.Sprintf("image is %d bytes, more than the limit of %d bytes", sink.n, f.maxImage)
	} else if !bytes.HasPrefix(sink.head, []byte("\x89PNG\r\n\x1a\n")) && !bytes.HasPrefix(sink.head, []byte{0xff, 0xd8, 0xff}) {
		msg = "expected a JPEG or PNG image"
	}
	f.problem = nil
	if msg != "" {
		f.problem = &errorDetail{Location: "body.image", Message: msg}
	}
	return nil
}

// imageSink counts the decoded image and keeps its first bytes, for the format check.
type imageSink struct {
	head []byte
	n    int64
}

func (s *imageSink) Write(p []byte) (int, error) {
	s.head = append(s.head, p[:min(len(p), 8-len(s.head))]...)
	s.n += int64(len(p))
	return len(p), nil
}
