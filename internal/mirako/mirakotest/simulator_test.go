package mirakotest_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/avatar-pipeline/avatar-pipeline/internal/mirako/mirakotest"
)

// serve sends one request straight to the handler, without a network.
func serve(h http.Handler, method, path, tok, body string, header ...string) *httptest.ResponseRecorder {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, rd)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// problemBody is a problem+json answer.
type problemBody struct {
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Errors []struct {
		Location string `json:"location"`
		Message  string `json:"message"`
		Value    any    `json:"value"`
	} `json:"errors"`
}

// problemOf decodes a problem+json answer and checks its title and status match the status line.
func problemOf(t *testing.T, rec *httptest.ResponseRecorder) problemBody {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type: got %q, want application/problem+json (status %d, body %s)", ct, rec.Code, rec.Body)
	}
	var p problemBody
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatalf("problem body %s: %v", rec.Body, err)
	}
	if p.Status != rec.Code || p.Title != http.StatusText(rec.Code) {
		t.Errorf("problem status/title: got %d %q, want %d %q", p.Status, p.Title, rec.Code, http.StatusText(rec.Code))
	}
	return p
}

func locations(p problemBody) []string {
	var out []string
	for _, e := range p.Errors {
		out = append(out, e.Location)
	}
	return out
}

func TestBuildRequestValidation(t *testing.T) {
	b64 := base64.StdEncoding.EncodeToString(pngImage)
	tests := []struct {
		name          string
		body          string
		contentType   string
		cfg           func(*mirakotest.Config)
		chunked       bool // hide the length, so only the streamed count can tell the size
		wantStatus    int
		wantLocations []string
	}{
		{name: "valid", body: `{"name":"Ada","image":"` + b64 + `"}`, wantStatus: 200},
		{name: "members in any order, whitespace", body: "\n\t {\"image\" : \"" + b64 + "\" ,\r\n \"name\":\"Ada\"} \n", wantStatus: 200},
		{name: "escaped slashes and line breaks in base64", body: `{"name":"Ada","image":"` + strings.ReplaceAll(b64[:40], "/", `\/`) + `\n` + b64[40:] + `"}`, wantStatus: 200},
		{name: "no content type", body: `{"name":"Ada","image":"` + b64 + `"}`, contentType: "-", wantStatus: 200},
		{name: "problem+json-ish media type", body: `{"name":"Ada","image":"` + b64 + `"}`, contentType: "application/vnd.api+json; charset=utf-8", wantStatus: 200},
		{name: "duplicate name, last wins", body: `{"name":7,"image":"` + b64 + `","name":"Ada"}`, wantStatus: 200},
		{name: "empty name is allowed by the spec", body: `{"name":"","image":"` + b64 + `"}`, wantStatus: 200},
		{name: "every problem at once", body: `{"seed":1,"name":null,"style":{"a":[1,2]}}`, wantStatus: 422,
			wantLocations: []string{"body.seed", "body.style", "body.name", "body.image"}},
		{name: "empty object", body: `{}`, wantStatus: 422, wantLocations: []string{"body.name", "body.image"}},
		{name: "image not a string", body: `{"name":"Ada","image":[1,2]}`, wantStatus: 422, wantLocations: []string{"body.image"}},
		{name: "image null", body: `{"name":"Ada","image":null}`, wantStatus: 422, wantLocations: []string{"body.image"}},
		{name: "image a number", body: `{"name":"Ada","image":12}`, wantStatus: 422, wantLocations: []string{"body.image"}},
		{name: "image with a unicode escape", body: `{"name":"Ada","image":"\u0069VBORw0KGgo="}`, wantStatus: 200},
		{name: "unpadded base64", body: `{"name":"Ada","image":"` + strings.TrimRight(b64, "=") + `x"}`, wantStatus: 422, wantLocations: []string{"body.image"}},
		{name: "url-safe base64", body: `{"name":"Ada","image":"` + strings.NewReplacer("+", "-", "/", "_").Replace(b64) + `"}`,
			wantStatus: 422, wantLocations: []string{"body.image"}},
		{name: "empty image", body: `{"name":"Ada","image":""}`, wantStatus: 422, wantLocations: []string{"body.image"}},
		{name: "jpeg", body: `{"name":"Ada","image":"` + base64.StdEncoding.EncodeToString(jpegImage) + `"}`, wantStatus: 200},
		{name: "png signature cut short", body: `{"name":"Ada","image":"` + base64.StdEncoding.EncodeToString(pngImage[:4]) + `"}`,
			wantStatus: 422, wantLocations: []string{"body.image"}},
		{name: "string body", body: `"Ada"`, wantStatus: 422, wantLocations: []string{"body"}},
		{name: "broken after a valid member", body: `{"name":"Ada",`, wantStatus: 400, wantLocations: []string{"body"}},
		{name: "two objects", body: `{"name":"Ada","image":"` + b64 + `"}{}`, wantStatus: 400, wantLocations: []string{"body"}},
		{name: "trailing garbage", body: `{"name":"Ada","image":"` + b64 + `"} x`, wantStatus: 400, wantLocations: []string{"body"}},
		{name: "not json at all", body: `name=Ada`, wantStatus: 400, wantLocations: []string{"body"}},
		{name: "empty", body: ``, wantStatus: 400},
		{name: "form content type", body: `{"name":"Ada","image":"` + b64 + `"}`, contentType: "application/x-www-form-urlencoded", wantStatus: 415, wantLocations: []string{"body"}},
		{name: "declared length over the limit", body: `{"name":"Ada","image":"` + b64 + `"}`,
			cfg: func(c *mirakotest.Config) { c.MaxBodyBytes = 100 }, wantStatus: 413, wantLocations: []string{"body"}},
		{name: "streamed length over the limit", body: `{"name":"Ada","image":"` + b64 + `"}`, chunked: true,
			cfg: func(c *mirakotest.Config) { c.MaxBodyBytes = 100 }, wantStatus: 413, wantLocations: []string{"body"}},
		{name: "exactly at the limit", body: `{"name":"Ada","image":"` + b64 + `"}`, chunked: true,
			cfg: func(c *mirakotest.Config) { c.MaxBodyBytes = int64(len(`{"name":"Ada","image":"` + b64 + `"}`)) }, wantStatus: 200},
		{name: "image at the limit", body: `{"name":"Ada","image":"` + b64 + `"}`,
			cfg: func(c *mirakotest.Config) { c.MaxImageBytes = int64(len(pngImage)) }, wantStatus: 200},
		{name: "image over the limit", body: `{"name":"Ada","image":"` + b64 + `"}`,
			cfg: func(c *mirakotest.Config) { c.MaxImageBytes = int64(len(pngImage)) - 1 }, wantStatus: 422, wantLocations: []string{"body.image"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := mirakotest.Config{Token: token}
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			sim := mirakotest.New(cfg)
			req := httptest.NewRequest(http.MethodPost, "/v1/avatar/async_build", strings.NewReader(tc.body))
			req.Header.Set("Authorization", "Bearer "+token)
			switch tc.contentType {
			case "":
				req.Header.Set("Content-Type", "application/json")
			case "-":
			default:
				req.Header.Set("Content-Type", tc.contentType)
			}
			if tc.chunked {
				req.ContentLength = -1
				req.Body = io.NopCloser(strings.NewReader(tc.body)) // a reader of unknown length
			}
			rec := httptest.NewRecorder()
			sim.ServeHTTP(rec, req)
			if rec.Code != tc.wantStatus {
				t.Fatalf("status: got %d %s, want %d", rec.Code, rec.Body, tc.wantStatus)
			}
			wantCreated := 0
			if tc.wantStatus == 200 {
				wantCreated = 1
			} else {
				p := problemOf(t, rec)
				if got := locations(p); !reflect.DeepEqual(got, tc.wantLocations) {
					t.Errorf("locations: got %q, want %q (%+v)", got, tc.wantLocations, p.Errors)
				}
			}
			if got := sim.Stats().BuildsCreated; got != wantCreated {
				t.Errorf("builds created: got %d, want %d", got, wantCreated)
			}
		})
	}
}

// TestErrorsDoNotEchoSecrets checks the token and the image never come back in an error.
func TestErrorsDoNotEchoSecrets(t *testing.T) {
	sim := mirakotest.New(mirakotest.Config{Token: token})
	rec := serve(sim, http.MethodGet, "/v1/avatar/list", "mi-secret-guess", "")
	if rec.Code != 401 || strings.Contains(rec.Body.String(), "mi-secret-guess") {
		t.Errorf("401: got %d %s, want no echo of the token", rec.Code, rec.Body)
	}
	if got := rec.Header().Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
		t.Errorf("WWW-Authenticate: got %q, want a Bearer challenge", got)
	}
	img := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte("not an image "), 20))
	rec = serve(sim, http.MethodPost, "/v1/avatar/async_build", token, `{"name":"Ada","image":"`+img+`"}`)
	if rec.Code != 422 || strings.Contains(rec.Body.String(), img[:20]) {
		t.Errorf("422: got %d %s, want no echo of the image", rec.Code, rec.Body)
	}
}

// getAvatar reads an avatar's JSON through the handler.
func getAvatar(t *testing.T, h http.Handler, id string) map[string]any {
	t.Helper()
	rec := serve(h, http.MethodGet, "/v1/avatar/"+id, token, "")
	if rec.Code != 200 {
		t.Fatalf("GET %s: got %d %s, want 200", id, rec.Code, rec.Body)
	}
	var out struct{ Data map[string]any }
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	return out.Data
}

func postAvatar(t *testing.T, h http.Handler, name string) string {
	t.Helper()
	rec := serve(h, http.MethodPost, "/v1/avatar/async_build", token, buildJSON(name, pngImage), "Content-Type", "application/json")
	if rec.Code != 200 {
		t.Fatalf("POST %q: got %d %s, want 200", name, rec.Code, rec.Body)
	}
	var out struct {
		Data struct {
			AvatarID string `json:"avatar_id"`
		} `json:"data"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || out.Data.AvatarID == "" {
		t.Fatalf("POST %q: no avatar id in %s (%v)", name, rec.Body, err)
	}
	return out.Data.AvatarID
}

func TestStatusProgression(t *testing.T) {
	type step struct {
		at   time.Duration // since the POST
		want string
	}
	tests := []struct {
		name      string
		avatar    string
		buildTime time.Duration
		steps     []step
	}{
		{"normal", "Ada", 100 * time.Second, []step{
			{0, "PENDING"}, {9*time.Second + 999*time.Millisecond, "PENDING"}, {10 * time.Second, "BUILDING"},
			{99 * time.Second, "BUILDING"}, {100 * time.Second, "READY"}, {100 * time.Hour, "READY"}}},
		{"error", "Ada [error]", 100 * time.Second, []step{
			{0, "PENDING"}, {50 * time.Second, "BUILDING"}, {100 * time.Second, "ERROR"}}},
		{"stuck", "Ada [stuck]", 100 * time.Second, []step{
			{0, "PENDING"}, {10 * time.Second, "BUILDING"}, {1000 * time.Hour, "BUILDING"}}},
		{"instant", "Ada", 0, []step{{0, "READY"}}},
		{"instant error", "[ERROR] Ada", 0, []step{{0, "ERROR"}}},
		{"instant stuck", "Ada [ stuck ]", 0, []step{{0, "BUILDING"}, {time.Hour, "BUILDING"}}},
		{"unknown tags are text", "Ada [vip] [x9]", 0, []step{{0, "READY"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock := newFakeClock()
			start := clock.Now()
			sim := mirakotest.New(mirakotest.Config{Token: token, BuildTime: tc.buildTime, Now: clock.Now})
			id := postAvatar(t, sim, tc.avatar)
			for _, st := range tc.steps {
				clock.Advance(start.Add(st.at).Sub(clock.Now()))
				a := getAvatar(t, sim, id)
				if a["status"] != st.want {
					t.Errorf("at %s: got %v, want %s", st.at, a["status"], st.want)
				}
				ready := st.want == "READY"
				if (a["themes"] != nil) != ready || (a["supported_interactive_models"] != nil) != ready {
					t.Errorf("at %s (%s): got themes %v and models %v, want them only when READY", st.at, st.want, a["themes"], a["supported_interactive_models"])
				}
				if a["created_at"] != start.Format(time.RFC3339Nano) || a["name"] != tc.avatar || a["id"] != id || a["user_id"] == "" {
					t.Errorf("at %s: got %v, want id, name, user_id and created_at %s", st.at, a, start.Format(time.RFC3339Nano))
				}
			}
		})
	}
}

func TestListAndDelete(t *testing.T) {
	clock := newFakeClock()
	sim := mirakotest.New(mirakotest.Config{Token: token, Now: clock.Now})
	list := func() []string {
		rec := serve(sim, http.MethodGet, "/v1/avatar/list", token, "")
		var out struct {
			Data []struct{ Name string } `json:"data"`
		}
		if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &out) != nil {
			t.Fatalf("list: got %d %s", rec.Code, rec.Body)
		}
		var names []string
		for _, a := range out.Data {
			names = append(names, a.Name)
		}
		return names
	}
	if rec := serve(sim, http.MethodGet, "/v1/avatar/list", token, ""); rec.Body.String() != `{"data":null}` {
		t.Errorf("empty list: got %s, want {\"data\":null}", rec.Body)
	}
	ids := map[string]string{}
	for _, name := range []string{"A", "B", "C"} {
		ids[name] = postAvatar(t, sim, name)
	}
	if got, want := list(), []string{"C", "B", "A"}; !reflect.DeepEqual(got, want) {
		t.Errorf("list: got %q, want newest first %q", got, want)
	}
	if rec := serve(sim, http.MethodDelete, "/v1/avatar/"+ids["B"], token, ""); rec.Code != 204 || rec.Body.Len() != 0 {
		t.Errorf("delete: got %d %q, want 204 without body", rec.Code, rec.Body)
	}
	if rec := serve(sim, http.MethodDelete, "/v1/avatar/"+ids["B"], token, ""); rec.Code != 404 {
		t.Errorf("delete again: got %d, want 404", rec.Code)
	}
	if got, want := list(), []string{"C", "A"}; !reflect.DeepEqual(got, want) {
		t.Errorf("list after delete: got %q, want %q", got, want)
	}
	st := sim.Stats()
	if st.BuildsCreated != 3 || st.BuildsDeleted != 1 || st.Avatars["READY"] != 2 {
		t.Errorf("stats: got created %d, deleted %d, avatars %v; want 3, 1, 2 READY", st.BuildsCreated, st.BuildsDeleted, st.Avatars)
	}
}

func TestRoutes(t *testing.T) {
	tests := []struct {
		method, path string
		wantStatus   int
		wantAllow    string
		wantEndpoint string
	}{
		{http.MethodGet, "/v1/avatar/async_build", 405, "POST", mirakotest.EndpointOther},
		{http.MethodPut, "/v1/avatar/list", 405, "GET", mirakotest.EndpointOther},
		{http.MethodPatch, "/v1/avatar/some-id", 405, "GET, DELETE", mirakotest.EndpointOther},
		{http.MethodGet, "/v1/avatar/a/b", 404, "", mirakotest.EndpointOther},
		{http.MethodGet, "/v1/avatar/", 404, "", mirakotest.EndpointOther},
		{http.MethodGet, "/v1/voice/profiles", 404, "", mirakotest.EndpointOther},
		{http.MethodGet, "/v1/avatar/list", 200, "", mirakotest.EndpointList},
		{http.MethodGet, "/v1/avatar/some-id", 404, "", mirakotest.EndpointGet},
		{http.MethodDelete, "/v1/avatar/some-id", 404, "", mirakotest.EndpointDelete},
		{http.MethodGet, "/", 404, "", ""},
		{http.MethodGet, "/v2/avatar/list", 404, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			sim := mirakotest.New(mirakotest.Config{Token: token})
			rec := serve(sim, tc.method, tc.path, token, "")
			if rec.Code != tc.wantStatus {
				t.Fatalf("status: got %d, want %d", rec.Code, tc.wantStatus)
			}
			if rec.Code != 200 {
				problemOf(t, rec)
			}
			if got := rec.Header().Get("Allow"); got != tc.wantAllow {
				t.Errorf("Allow: got %q, want %q", got, tc.wantAllow)
			}
			want := map[string]int{}
			if tc.wantEndpoint != "" {
				want[tc.wantEndpoint] = 1
			}
			if got := sim.Stats().Requests; !reflect.DeepEqual(got, want) {
				t.Errorf("Stats.Requests: got %v, want %v", got, want)
			}
		})
	}
}

func TestNameTags(t *testing.T) {
	tests := []struct {
		name        string
		avatar      string
		posts       int
		wantStatus  []int // of each POST
		wantCreated int
		wantGets    []int // statuses of GETs of the created avatar
	}{
		{name: "credits", avatar: "Ada [credits]", posts: 2, wantStatus: []int{402, 402}},
		{name: "forbidden", avatar: "[forbidden] Ada", posts: 1, wantStatus: []int{403}},
		{name: "credits win over faults", avatar: "Ada [500] [credits]", posts: 1, wantStatus: []int{402}},
		{name: "fault every time", avatar: "Ada [500]", posts: 3, wantStatus: []int{500, 500, 500}},
		{name: "fault twice", avatar: "Ada [503x2]", posts: 4, wantStatus: []int{503, 503, 200, 200}, wantCreated: 2},
		{name: "429 once", avatar: "Ada [429x1]", posts: 2, wantStatus: []int{429, 200}, wantCreated: 1},
		{name: "empty once", avatar: "Ada [emptyx1]", posts: 2, wantStatus: []int{502, 200}, wantCreated: 1},
		{name: "accept then garbled", avatar: "Ada [accept_then_garbledx1]", posts: 2, wantStatus: []int{200, 200}, wantCreated: 2},
		{name: "get faults", avatar: "Ada [get:500x2]", posts: 1, wantStatus: []int{200}, wantCreated: 1, wantGets: []int{500, 500, 200}},
		{name: "get fault every time", avatar: "Ada [get:429]", posts: 1, wantStatus: []int{200}, wantCreated: 1, wantGets: []int{429, 429}},
		{name: "post and get faults", avatar: "Ada [503x1] [get:503x1]", posts: 2, wantStatus: []int{503, 200}, wantCreated: 1, wantGets: []int{503, 200}},
		{name: "unknown fault is text", avatar: "Ada [418]", posts: 1, wantStatus: []int{200}, wantCreated: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sim := mirakotest.New(mirakotest.Config{Token: token})
			var id string
			for i := 0; i < tc.posts; i++ {
				rec := serve(sim, http.MethodPost, "/v1/avatar/async_build", token, buildJSON(tc.avatar, pngImage))
				if rec.Code != tc.wantStatus[i] {
					t.Fatalf("POST %d: got %d %s, want %d", i+1, rec.Code, rec.Body, tc.wantStatus[i])
				}
				var out struct {
					Data struct {
						AvatarID string `json:"avatar_id"`
					} `json:"data"`
				}
				if json.Unmarshal(rec.Body.Bytes(), &out) == nil && out.Data.AvatarID != "" {
					id = out.Data.AvatarID
				}
			}
			st := sim.Stats()
			if st.BuildsCreated != tc.wantCreated || st.BuildsByName[tc.avatar] != tc.wantCreated {
				t.Errorf("builds: got %d (by name %v), want %d", st.BuildsCreated, st.BuildsByName, tc.wantCreated)
			}
			if tc.wantGets != nil && id == "" {
				t.Fatal("no avatar id to GET")
			}
			for i, want := range tc.wantGets {
				if rec := serve(sim, http.MethodGet, "/v1/avatar/"+id, token, ""); rec.Code != want {
					t.Errorf("GET %d: got %d, want %d", i+1, rec.Code, want)
				}
			}
		})
	}
}

// TestNameTagsAndScripts checks a request with a scripted fault does not also use its name's fault tag,
// nor count against its N.
func TestNameTagsAndScripts(t *testing.T) {
	sim := mirakotest.New(mirakotest.Config{Token: token})
	sim.Script(mirakotest.Fault500, 1)
	var got []int
	for range 3 {
		got = append(got, serve(sim, http.MethodPost, "/v1/avatar/async_build", token, buildJSON("Ada [429x1]", pngImage)).Code)
	}
	if want := []int{500, 429, 200}; !reflect.DeepEqual(got, want) {
		t.Errorf("statuses: got %v, want %v", got, want)
	}
	if f := sim.Stats().Faults; f[mirakotest.Fault500] != 1 || f[mirakotest.Fault429] != 1 {
		t.Errorf("Stats.Faults: got %v, want one 500 and one 429", f)
	}
}

func TestScripts(t *testing.T) {
	sim := mirakotest.New(mirakotest.Config{Token: token})
	sim.Script(mirakotest.Fault500, 2)
	sim.Script(mirakotest.Fault503, 1)
	sim.ScriptFor(mirakotest.EndpointGet, mirakotest.Fault429, 1)
	sim.Script(mirakotest.Fault500, 0) // no-op

	id := "a1b2c3d4-e5f6-7890-1234-567890abcdef"
	steps := []struct {
		path string
		want int
	}{
		{"/v1/avatar/list", 500},
		{"/v1/avatar/" + id, 429}, // the per-endpoint script first
		{"/v1/avatar/" + id, 500},
		{"/v1/avatar/list", 503},
		{"/v1/avatar/list", 200},
		{"/v1/avatar/" + id, 404},
	}
	for i, st := range steps {
		if got := serve(sim, http.MethodGet, st.path, token, "").Code; got != st.want {
			t.Errorf("request %d (%s): got %d, want %d", i+1, st.path, got, st.want)
		}
	}
	want := map[mirakotest.Fault]int{mirakotest.Fault500: 2, mirakotest.Fault503: 1, mirakotest.Fault429: 1}
	if got := sim.Stats().Faults; !reflect.DeepEqual(got, want) {
		t.Errorf("Stats.Faults: got %v, want %v", got, want)
	}
	// Faults come before authentication: they stand for the infrastructure in front of the API.
	sim.Script(mirakotest.Fault503, 1)
	if got := serve(sim, http.MethodGet, "/v1/avatar/list", "", "").Code; got != 503 {
		t.Errorf("unauthenticated request with a scripted 503: got %d, want 503", got)
	}
}

func TestScriptPanicsOnUnknownNames(t *testing.T) {
	sim := mirakotest.New(mirakotest.Config{})
	tests := map[string]func(){
		"fault":          func() { sim.Script("teapot", 1) },
		"endpoint":       func() { sim.ScriptFor("GET /v1/avatars", mirakotest.Fault500, 1) },
		"endpoint fault": func() { sim.ScriptFor(mirakotest.EndpointGet, "", 1) },
		"config kinds":   func() { mirakotest.New(mirakotest.Config{FaultKinds: []mirakotest.Fault{"nope"}}) },
		"config rate":    func() { mirakotest.New(mirakotest.Config{FaultRate: 1.5}) },
	}
	for name, f := range tests {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("got no panic, want one")
				}
			}()
			f()
		})
	}
}

// statusSequence builds n avatars, then polls the list n times, and returns every status; the
// recorder cannot take resets or stalls, so the faults are drawn from the others.
func statusSequence(seed int64, rate float64, n int, script bool) ([]int, []string) {
	sim := mirakotest.New(mirakotest.Config{
		Token: token, Seed: seed, FaultRate: rate,
		FaultKinds: []mirakotest.Fault{mirakotest.Fault429, mirakotest.Fault500, mirakotest.Fault503, mirakotest.FaultEmpty,
			mirakotest.FaultGarbled, mirakotest.FaultAcceptThenGarbled, mirakotest.FaultAcceptThenEmpty},
	})
	var statuses []int
	var ids []string
	for i := range n {
		if script && i == n/2 {
			sim.Script(mirakotest.Fault500, 1)
		}
		rec := serve(sim, http.MethodPost, "/v1/avatar/async_build", token, buildJSON(fmt.Sprint("A", i), pngImage))
		statuses = append(statuses, rec.Code)
		var out struct {
			Data struct {
				AvatarID string `json:"avatar_id"`
			} `json:"data"`
		}
		if json.Unmarshal(rec.Body.Bytes(), &out) == nil {
			ids = append(ids, out.Data.AvatarID)
		} else {
			ids = append(ids, "")
		}
	}
	for range n {
		statuses = append(statuses, serve(sim, http.MethodGet, "/v1/avatar/list", token, "").Code)
	}
	return statuses, ids
}

func TestRandomFaultsAreDeterministic(t *testing.T) {
	const n = 100
	a, idsA := statusSequence(7, 0.3, n, false)
	b, idsB := statusSequence(7, 0.3, n, false)
	if !reflect.DeepEqual(a, b) || !reflect.DeepEqual(idsA, idsB) {
		t.Fatalf("same seed: got different runs\n%v\n%v", a, b)
	}
	c, _ := statusSequence(8, 0.3, n, false)
	if reflect.DeepEqual(a, c) {
		t.Errorf("seeds 7 and 8: got the same faults, want different ones")
	}
	faulted := 0
	for _, s := range a {
		if s != 200 {
			faulted++
		}
	}
	// 2n requests at rate 0.3, with 2/7 of the faults answering 200 (accept_then_*): about 43
	// non-200 answers; the bounds only catch a rate that is not applied at all.
	if faulted < 20 || faulted > 70 {
		t.Errorf("non-200 answers at rate 0.3: got %d of %d, want about 43", faulted, 2*n)
	}
	// Ids depend on the seed only, not on which requests were faulted.
	_, idsNoFaults := statusSequence(7, 0, n, false)
	if idsNoFaults[0] == "" || idsA[0] != "" && idsA[0] != idsNoFaults[0] {
		t.Errorf("first id: got %q with faults and %q without, want the same", idsA[0], idsNoFaults[0])
	}
	// A script does not shift the random draw of the other requests.
	d, _ := statusSequence(7, 0.3, n, true)
	for i := range a {
		if i != n/2 && a[i] != d[i] {
			t.Errorf("request %d: got %d with a script elsewhere, want %d", i, d[i], a[i])
		}
	}
}

// TestMaxBuilds fills the build capacity, N avatars in flight, and checks the next POST is refused
// with the wait until the first of them finishes, and accepted again once it has.
func TestMaxBuilds(t *testing.T) {
	for _, n := range []int{1, 3} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			clock := newFakeClock()
			sim := mirakotest.New(mirakotest.Config{Token: token, MaxBuilds: n, BuildTime: 100 * time.Second, Now: clock.Now})
			post := func(name string) *httptest.ResponseRecorder {
				return serve(sim, http.MethodPost, "/v1/avatar/async_build", token, buildJSON(name, pngImage))
			}
			first := postAvatar(t, sim, "first")
			for i := 1; i < n; i++ {
				clock.Advance(10 * time.Second)
				postAvatar(t, sim, fmt.Sprint("next ", i))
			}
			// The first build finishes 100s after it was posted.
			wantRetry := fmt.Sprint(100 - 10*(n-1))
			rec := post("one too many")
			if rec.Code != 429 || rec.Header().Get("Retry-After") != wantRetry {
				t.Fatalf("POST %d: got %d Retry-After %q %s, want 429 Retry-After %s", n+1, rec.Code, rec.Header().Get("Retry-After"), rec.Body, wantRetry)
			}
			if p := problemOf(t, rec); !strings.Contains(p.Detail, fmt.Sprintf("at most %d", n)) {
				t.Errorf("detail: got %q, want it to name the limit %d", p.Detail, n)
			}
			// A body that is not acceptable is still told so first.
			if rec := serve(sim, http.MethodPost, "/v1/avatar/async_build", token, `{"name":"Ada"}`); rec.Code != 422 {
				t.Errorf("invalid POST while full: got %d, want 422", rec.Code)
			}
			// Half a second before the first build is READY: still full, and the wait rounds up.
			clock.Advance(time.Duration(100-10*(n-1))*time.Second - 500*time.Millisecond)
			if rec := post("one too many"); rec.Code != 429 || rec.Header().Get("Retry-After") != "1" {
				t.Errorf("POST 0.5s before a build ends: got %d Retry-After %q, want 429 Retry-After 1", rec.Code, rec.Header().Get("Retry-After"))
			}
			clock.Advance(500 * time.Millisecond)
			if got := getAvatar(t, sim, first)["status"]; got != "READY" {
				t.Fatalf("first build: got %v, want READY", got)
			}
			if rec := post("one too many"); rec.Code != 200 {
				t.Errorf("POST once a build ended: got %d %s, want 200", rec.Code, rec.Body)
			}
			st := sim.Stats()
			if st.BuildsCreated != n+1 || st.BuildsByName["one too many"] != 1 || st.RateLimited != 2 {
				t.Errorf("stats: got %d builds (%v), %d rate limited; want %d, one of the refused name, 2", st.BuildsCreated, st.BuildsByName, st.RateLimited, n+1)
			}
			if rec := post("full again"); rec.Code != 429 {
				t.Errorf("POST with %d in flight again: got %d, want 429", n, rec.Code)
			}
		})
	}
}

// TestMaxBuildsStuckAndDeleted: a [stuck] build holds its place for ever (the wait offered is the
// build time), and deleting it frees the place.
func TestMaxBuildsStuckAndDeleted(t *testing.T) {
	clock := newFakeClock()
	sim := mirakotest.New(mirakotest.Config{Token: token, MaxBuilds: 1, BuildTime: 30 * time.Second, Now: clock.Now})
	id := postAvatar(t, sim, "Ada [stuck]")
	clock.Advance(time.Hour)
	rec := serve(sim, http.MethodPost, "/v1/avatar/async_build", token, buildJSON("Bo", pngImage))
	if rec.Code != 429 || rec.Header().Get("Retry-After") != "30" {
		t.Errorf("POST behind a stuck build: got %d Retry-After %q, want 429 Retry-After 30", rec.Code, rec.Header().Get("Retry-After"))
	}
	if rec := serve(sim, http.MethodDelete, "/v1/avatar/"+id, token, ""); rec.Code != 204 {
		t.Fatalf("DELETE: got %d, want 204", rec.Code)
	}
	postAvatar(t, sim, "Bo")
}

// TestMaxBuildsUnderConcurrency posts at once from many goroutines: exactly MaxBuilds are created.
func TestMaxBuildsUnderConcurrency(t *testing.T) {
	sim := mirakotest.New(mirakotest.Config{Token: token, MaxBuilds: 3, BuildTime: time.Hour})
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			serve(sim, http.MethodPost, "/v1/avatar/async_build", token, buildJSON(fmt.Sprint("A", i), pngImage))
		})
	}
	wg.Wait()
	if st := sim.Stats(); st.BuildsCreated != 3 || st.RateLimited != 17 || st.Responses["200"] != 3 || st.Responses["429"] != 17 {
		t.Errorf("got %d created, %d rate limited, responses %v; want 3, 17", st.BuildsCreated, st.RateLimited, st.Responses)
	}
}

// TestOutage: for Outage after New every /v1 request gets 503, whatever it is, and nothing else
// happens; at the end of it to the nanosecond, the simulator serves again.
func TestOutage(t *testing.T) {
	clock := newFakeClock()
	sim := mirakotest.New(mirakotest.Config{Token: token, Outage: 90 * time.Second, Now: clock.Now})
	sim.Script(mirakotest.Fault500, 1) // waits for the end of the outage
	requests := []struct{ method, path, tok, body string }{
		{http.MethodGet, "/v1/avatar/list", token, ""},
		{http.MethodPost, "/v1/avatar/async_build", token, buildJSON("Ada", pngImage)},
		{http.MethodGet, "/v1/avatar/a1b2c3d4-e5f6-7890-1234-567890abcdef", "", ""},
		{http.MethodDelete, "/v1/avatar/x", "mi-wrong", ""},
		{http.MethodGet, "/v1/voice/profiles", token, ""},
	}
	steps := []struct {
		advance   time.Duration
		wantRetry string
	}{{0, "90"}, {30 * time.Second, "60"}, {60*time.Second - time.Nanosecond, "1"}}
	for _, st := range steps {
		clock.Advance(st.advance)
		for _, r := range requests {
			rec := serve(sim, r.method, r.path, r.tok, r.body)
			if rec.Code != 503 || rec.Header().Get("Retry-After") != st.wantRetry {
				t.Errorf("%s %s during the outage: got %d Retry-After %q, want 503 Retry-After %s", r.method, r.path, rec.Code, rec.Header().Get("Retry-After"), st.wantRetry)
			}
			problemOf(t, rec)
		}
	}
	if rec := serve(sim, http.MethodGet, "/_sim/stats", "", ""); rec.Code != 200 {
		t.Errorf("stats during the outage: got %d, want 200", rec.Code)
	}
	st := sim.Stats()
	if st.BuildsCreated != 0 || st.Responses["503"] != 15 || len(st.Faults) != 0 || st.Requests[mirakotest.EndpointBuild] != 3 {
		t.Errorf("stats after the outage: got %d builds, responses %v, faults %v, requests %v; want none, 15 503s, no faults, 3 POSTs",
			st.BuildsCreated, st.Responses, st.Faults, st.Requests)
	}
	if left := sim.OutageLeft(clock.Now()); left != time.Nanosecond {
		t.Errorf("OutageLeft a nanosecond before its end: got %s", left)
	}
	clock.Advance(time.Nanosecond)
	if left := sim.OutageLeft(clock.Now().Add(time.Hour)); left != 0 {
		t.Errorf("OutageLeft after the outage: got %s, want 0", left)
	}
	if rec := serve(sim, http.MethodGet, "/v1/avatar/list", token, ""); rec.Code != 500 {
		t.Errorf("first request after the outage: got %d, want the scripted 500", rec.Code)
	}
	postAvatar(t, sim, "Ada")
}

func TestRateLimit(t *testing.T) {
	clock := newFakeClock()
	sim := mirakotest.New(mirakotest.Config{Token: token, RateLimit: 2, RateWindow: 10 * time.Second, Now: clock.Now})
	steps := []struct {
		advance    time.Duration
		tok        string
		wantStatus int
		wantRetry  string
	}{
		{0, token, 200, ""},
		{0, "", 401, ""}, // unauthenticated requests do not count
		{time.Second, token, 200, ""},
		{0, token, 429, "9"},
		{3500 * time.Millisecond, token, 429, "6"}, // rounded up
		{5500 * time.Millisecond, token, 200, ""},  // a new window
		{0, token, 200, ""},
		{0, token, 429, "10"},
	}
	for i, st := range steps {
		clock.Advance(st.advance)
		rec := serve(sim, http.MethodGet, "/v1/avatar/list", st.tok, "")
		if rec.Code != st.wantStatus || rec.Header().Get("Retry-After") != st.wantRetry {
			t.Errorf("step %d: got %d Retry-After %q, want %d %q", i+1, rec.Code, rec.Header().Get("Retry-After"), st.wantStatus, st.wantRetry)
		}
		if rec.Code == 429 {
			problemOf(t, rec)
		}
	}
	if got := sim.Stats().RateLimited; got != 3 {
		t.Errorf("Stats.RateLimited: got %d, want 3", got)
	}
}

func TestStatsEndpoint(t *testing.T) {
	sim, srv := mirakotest.NewServer(t, mirakotest.Config{Token: token})
	createAvatar(t, srv.URL, "Ada")
	createAvatar(t, srv.URL, "Ada")
	sim.Script(mirakotest.Fault503, 1)
	rawRequest(t, http.MethodGet, srv.URL+"/v1/avatar/list", token, "", "")

	status, header, body, err := rawRequest(t, http.MethodGet, srv.URL+"/_sim/stats", "", "", "")
	if err != nil || status != 200 || header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET /_sim/stats: got %d %s %s (%v), want 200 JSON", status, header.Get("Content-Type"), body, err)
	}
	var got map[string]any
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"builds_created": 2.0,
		"builds_by_name": map[string]any{"Ada": 2.0},
		"builds_deleted": 0.0,
		"avatars":        map[string]any{"READY": 2.0},
		"requests":       map[string]any{mirakotest.EndpointBuild: 2.0, mirakotest.EndpointList: 1.0},
		"responses":      map[string]any{"200": 2.0, "503": 1.0},
		"faults":         map[string]any{"503": 1.0},
		"rate_limited":   0.0,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("stats:\ngot  %v\nwant %v", got, want)
	}
	if status, _, _, _ := rawRequest(t, http.MethodPost, srv.URL+"/_sim/stats", "", "", "{}"); status != 405 {
		t.Errorf("POST /_sim/stats: got %d, want 405", status)
	}
}

// TestSlowFaults checks a slow answer comes after SlowDelay, and that Close releases a stall at once.
func TestSlowFaults(t *testing.T) {
	sim, srv := mirakotest.NewServer(t, mirakotest.Config{Token: token, SlowDelay: 200 * time.Millisecond})
	sim.Script(mirakotest.FaultSlow, 1)
	start := time.Now()
	if status, _, body, err := rawRequest(t, http.MethodGet, srv.URL+"/v1/avatar/list", token, "", ""); err != nil || status != 200 {
		t.Fatalf("slow GET: got %d %s (%v), want 200", status, body, err)
	}
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Errorf("slow GET: answered after %s, want at least 200ms", d)
	}

	sim2, srv2 := mirakotest.NewServer(t, mirakotest.Config{Token: token, SlowDelay: time.Hour})
	sim2.Script(mirakotest.FaultSlow, 1)
	done := make(chan error, 1)
	go func() {
		_, _, _, err := rawRequest(t, http.MethodGet, srv2.URL+"/v1/avatar/list", token, "", "")
		done <- err
	}()
	for sim2.Stats().Faults[mirakotest.FaultSlow] == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	sim2.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Error("stalled GET after Close: got an answer, want the connection dropped")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("stalled GET still pending 5s after Close")
	}
}

// TestSlowFaultsByName: a [slow] name stalls before the avatar is created, an [accept_then_slow]
// one after; a client that gives up during a [slow] stall leaves nothing created.
func TestSlowFaultsByName(t *testing.T) {
	sim, srv := mirakotest.NewServer(t, mirakotest.Config{Token: token, SlowDelay: 200 * time.Millisecond})
	for _, name := range []string{"Ada [slowx1]", "Bo [accept_then_slowx1]"} {
		start := time.Now()
		status, _, body, err := rawRequest(t, http.MethodPost, srv.URL+"/v1/avatar/async_build", token, "application/json", buildJSON(name, pngImage))
		if err != nil || status != 200 {
			t.Fatalf("POST %q: got %d %s (%v), want 200", name, status, body, err)
		}
		if d := time.Since(start); d < 200*time.Millisecond {
			t.Errorf("POST %q: answered after %s, want at least 200ms", name, d)
		}
		if got := sim.Stats().BuildsByName[name]; got != 1 {
			t.Errorf("builds of %q: got %d, want 1", name, got)
		}
	}

	sim2, srv2 := mirakotest.NewServer(t, mirakotest.Config{Token: token, SlowDelay: time.Hour})
	client := &http.Client{Timeout: 200 * time.Millisecond}
	req, _ := http.NewRequest(http.MethodPost, srv2.URL+"/v1/avatar/async_build", strings.NewReader(buildJSON("Cy [slow]", pngImage)))
	req.Header.Set("Authorization", "Bearer "+token)
	if resp, err := client.Do(req); err == nil {
		resp.Body.Close()
		t.Fatal("POST Cy [slow]: got an answer, want a timeout")
	}
	// The handler notices the client has gone, drops the request and creates nothing.
	for start := time.Now(); sim2.Stats().Faults[mirakotest.FaultSlow] != 1 || time.Since(start) < 100*time.Millisecond; time.Sleep(10 * time.Millisecond) {
		if time.Since(start) > 5*time.Second {
			t.Fatal("no slow fault counted within 5s")
		}
	}
	if st := sim2.Stats(); st.BuildsCreated != 0 || len(st.Responses) != 0 {
		t.Errorf("after the client left: got %d builds, responses %v; want none", st.BuildsCreated, st.Responses)
	}
}

func TestResets(t *testing.T) {
	for _, f := range []mirakotest.Fault{mirakotest.FaultReset, mirakotest.FaultAcceptThenReset} {
		t.Run(string(f), func(t *testing.T) {
			sim, srv := mirakotest.NewServer(t, mirakotest.Config{Token: token})
			sim.Script(f, 1)
			_, _, _, err := rawRequest(t, http.MethodPost, srv.URL+"/v1/avatar/async_build", token, "application/json", buildJSON("Ada", pngImage))
			if err == nil {
				t.Fatal("got an answer, want a reset")
			}
			want := 0
			if f == mirakotest.FaultAcceptThenReset {
				want = 1
			}
			if got := sim.Stats().BuildsByName["Ada"]; got != want {
				t.Errorf("builds of Ada: got %d, want %d", got, want)
			}
		})
	}
}

// TestConcurrentUse hammers one simulator from many goroutines, faults included; run with -race.
func TestConcurrentUse(t *testing.T) {
	sim, srv := mirakotest.NewServer(t, mirakotest.Config{Token: token, FaultRate: 0.2, Seed: 3, SlowDelay: 10 * time.Millisecond})
	const workers, each = 8, 15
	var wg sync.WaitGroup
	var mu sync.Mutex
	created := 0
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				name := fmt.Sprintf("w%d-%d", w, i)
				status, _, body, err := rawRequest(t, http.MethodPost, srv.URL+"/v1/avatar/async_build", token, "application/json", buildJSON(name, pngImage))
				var out struct {
					Data struct {
						AvatarID string `json:"avatar_id"`
					} `json:"data"`
				}
				if err != nil || status != 200 || json.Unmarshal(body, &out) != nil {
					continue
				}
				mu.Lock()
				created++
				mu.Unlock()
				rawRequest(t, http.MethodGet, srv.URL+"/v1/avatar/"+out.Data.AvatarID, token, "", "")
				rawRequest(t, http.MethodGet, srv.URL+"/v1/avatar/list", token, "", "")
				rawRequest(t, http.MethodGet, srv.URL+"/_sim/stats", "", "", "")
				if i%3 == 0 {
					rawRequest(t, http.MethodDelete, srv.URL+"/v1/avatar/"+out.Data.AvatarID, token, "", "")
				}
				_ = sim.Stats()
			}
		}()
	}
	wg.Wait()
	st := sim.Stats()
	if st.BuildsCreated < created {
		t.Errorf("builds created: got %d, want at least the %d answered", st.BuildsCreated, created)
	}
	if st.Requests[mirakotest.EndpointBuild] != workers*each {
		t.Errorf("build requests: got %d, want %d", st.Requests[mirakotest.EndpointBuild], workers*each)
	}
	total := 0
	for _, n := range st.Faults {
		total += n
	}
	if total == 0 {
		t.Error("faults: got none at rate 0.2")
	}
}

// BenchmarkBuild10MiB posts a 10 MiB image (about 14 MB of JSON) straight to the handler.
func BenchmarkBuild10MiB(b *testing.B) {
	img := make([]byte, 10<<20)
	copy(img, pngImage)
	body := buildJSON("Ada", img)
	sim := mirakotest.New(mirakotest.Config{Token: token})
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		rec := serve(sim, http.MethodPost, "/v1/avatar/async_build", token, body)
		if rec.Code != 200 {
			b.Fatalf("got %d %s", rec.Code, rec.Body)
		}
	}
}
