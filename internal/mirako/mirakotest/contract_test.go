package mirakotest_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/avatar-pipeline/avatar-pipeline/internal/mirako"
	"github.com/avatar-pipeline/avatar-pipeline/internal/mirako/mirakotest"
)

const token = "mi-test-token"

// buildJSON is a build request body as the spec describes it.
func buildJSON(name string, img []byte) string {
	b, err := json.Marshal(map[string]string{"name": name, "image": base64.StdEncoding.EncodeToString(img)})
	if err != nil {
		panic(err)
	}
	return string(b)
}

// createAvatar builds an avatar through the plain HTTP API and returns its id.
func createAvatar(t *testing.T, url, name string) string {
	t.Helper()
	status, _, body, err := rawRequest(t, http.MethodPost, url+"/v1/avatar/async_build", token, "application/json", buildJSON(name, pngImage))
	if err != nil || status != http.StatusOK {
		t.Fatalf("create %q: got %d %s (%v), want 200", name, status, body, err)
	}
	var out struct {
		Data struct {
			AvatarID string `json:"avatar_id"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &out); err != nil || out.Data.AvatarID == "" {
		t.Fatalf("create %q: no avatar id in %s (%v)", name, body, err)
	}
	return out.Data.AvatarID
}

// TestResponsesFollowTheSpec sends requests for every success path, every scripted error and every
// fault that yields an HTTP answer, and validates each answer against the spec. The empty and garbled
// faults must not validate: that they do not shows the validator really checks bodies.
func TestResponsesFollowTheSpec(t *testing.T) {
	const build, avatarPath, list = "/v1/avatar/async_build", "/v1/avatar/{id}", "/v1/avatar/list"
	type call struct {
		method, path, token, contentType, body string
	}
	post := func(body string) call { return call{http.MethodPost, build, token, "application/json", body} }
	get := func(path string) call { return call{http.MethodGet, path, token, "", ""} }

	tests := []struct {
		name string
		cfg  func(*mirakotest.Config)
		// setup prepares the simulator; the id it returns replaces {id} in the call's path.
		setup      func(t *testing.T, sim *mirakotest.Simulator, url string, clock *fakeClock) string
		call       call
		wantStatus int
		// wantBody must occur in the answer, to show the case reached the state it means to.
		wantBody string
		// wantInvalid marks the faults that deliberately break the spec.
		wantInvalid bool
		// badRequest marks a request that itself breaks the spec: the validator must say so, and
		// must accept every other request of the table.
		badRequest bool
		// wantEmptyBody marks a 2xx answer spoilt to an empty body. The validator does not check
		// empty bodies, so it cannot object; the case checks the body is indeed empty.
		wantEmptyBody bool
	}{
		{name: "build png", call: post(buildJSON("Ada", pngImage)), wantStatus: 200, wantBody: `"avatar_id"`},
		{name: "build jpeg", call: post(buildJSON("Zoë \"Z\" <z>", jpegImage)), wantStatus: 200, wantBody: `"avatar_id"`},
		{
			name: "get pending",
			setup: func(t *testing.T, _ *mirakotest.Simulator, url string, _ *fakeClock) string {
				return createAvatar(t, url, "Ada")
			},
			call: get(avatarPath), wantStatus: 200, wantBody: `"status":"PENDING","supported_interactive_models":null,"themes":null`,
		},
		{
			name: "get building",
			setup: func(t *testing.T, _ *mirakotest.Simulator, url string, c *fakeClock) string {
				id := createAvatar(t, url, "Ada")
				c.Advance(5 * time.Second)
				return id
			},
			call: get(avatarPath), wantStatus: 200, wantBody: `"status":"BUILDING"`,
		},
		{
			name: "get ready",
			setup: func(t *testing.T, _ *mirakotest.Simulator, url string, c *fakeClock) string {
				id := createAvatar(t, url, "Ada")
				c.Advance(10 * time.Second)
				return id
			},
			call: get(avatarPath), wantStatus: 200, wantBody: `"status":"READY","supported_interactive_models":["metis-2.5"],"themes":[{"key_image":"https://`,
		},
		{
			name: "get error",
			setup: func(t *testing.T, _ *mirakotest.Simulator, url string, c *fakeClock) string {
				id := createAvatar(t, url, "Ada [error]")
				c.Advance(time.Hour)
				return id
			},
			call: get(avatarPath), wantStatus: 200, wantBody: `"status":"ERROR","supported_interactive_models":null,"themes":null`,
		},
		{
			name: "get stuck",
			setup: func(t *testing.T, _ *mirakotest.Simulator, url string, c *fakeClock) string {
				id := createAvatar(t, url, "Ada [stuck]")
				c.Advance(1000 * time.Hour)
				return id
			},
			call: get(avatarPath), wantStatus: 200, wantBody: `"status":"BUILDING"`,
		},
		{
			name: "list",
			setup: func(t *testing.T, _ *mirakotest.Simulator, url string, c *fakeClock) string {
				createAvatar(t, url, "Ada")
				c.Advance(time.Hour)
				createAvatar(t, url, "Bo [error]")
				return ""
			},
			call: get(list), wantStatus: 200, wantBody: `"name":"Bo [error]","status":"PENDING"`,
		},
		{name: "list empty", call: get(list), wantStatus: 200, wantBody: `{"data":null}`},
		{
			name: "delete",
			setup: func(t *testing.T, _ *mirakotest.Simulator, url string, _ *fakeClock) string {
				return createAvatar(t, url, "Ada")
			},
			call: call{http.MethodDelete, avatarPath, token, "", ""}, wantStatus: 204,
		},
		{
			name: "get deleted",
			setup: func(t *testing.T, _ *mirakotest.Simulator, url string, _ *fakeClock) string {
				id := createAvatar(t, url, "Ada")
				if status, _, body, err := rawRequest(t, http.MethodDelete, url+"/v1/avatar/"+id, token, "", ""); err != nil || status != 204 {
					t.Fatalf("delete: got %d %s (%v), want 204", status, body, err)
				}
				return id
			},
			call: get(avatarPath), wantStatus: 404, wantBody: `"title":"Not Found"`,
		},
		{name: "get unknown", call: get("/v1/avatar/a1b2c3d4-e5f6-7890-1234-567890abcdef"), wantStatus: 404},
		{name: "delete unknown", call: call{http.MethodDelete, "/v1/avatar/nope", token, "", ""}, wantStatus: 404},
		{name: "operation not simulated", call: get("/v1/voice/profiles"), wantStatus: 404},
		{name: "no token", call: call{http.MethodGet, list, "", "", ""}, wantStatus: 401, badRequest: true},
		{name: "wrong token", call: call{http.MethodPost, build, "mi-wrong", "application/json", buildJSON("Ada", pngImage)}, wantStatus: 401},
		{name: "credits", call: post(buildJSON("Ada [credits]", pngImage)), wantStatus: 402, wantBody: `"detail":"insufficient credits"`},
		{name: "forbidden", call: post(buildJSON("Ada [forbidden]", pngImage)), wantStatus: 403},
		{name: "invalid json", call: post(`{"name":"Ada","image":`), wantStatus: 400, wantBody: `"location":"body"`, badRequest: true},
		{name: "empty body", call: call{http.MethodPost, build, token, "application/json", ""}, wantStatus: 400, badRequest: true},
		{name: "not an object", call: post(`["Ada"]`), wantStatus: 422, wantBody: `"location":"body"`, badRequest: true},
		{name: "missing name", call: post(`{"image":"` + base64.StdEncoding.EncodeToString(pngImage) + `"}`), wantStatus: 422, wantBody: `"location":"body.name"`, badRequest: true},
		{name: "missing image", call: post(`{"name":"Ada"}`), wantStatus: 422, wantBody: `"location":"body.image"`, badRequest: true},
		{name: "extra field", call: post(`{"name":"Ada","image":"` + base64.StdEncoding.EncodeToString(pngImage) + `","seed":7}`), wantStatus: 422, wantBody: `"location":"body.seed"`, badRequest: true},
		{name: "name not a string", call: post(`{"name":7,"image":"` + base64.StdEncoding.EncodeToString(pngImage) + `"}`), wantStatus: 422, wantBody: `"location":"body.name"`, badRequest: true},
		{name: "image not base64", call: post(`{"name":"Ada","image":"data:image/png;base64,iVBORw0KGgo="}`), wantStatus: 422, wantBody: `"location":"body.image"`, badRequest: true},
		{name: "image not jpeg or png", call: post(buildJSON("Ada", []byte("GIF89a, not what Mirako takes"))), wantStatus: 422, wantBody: `"location":"body.image"`},
		{
			name: "image too large",
			cfg:  func(c *mirakotest.Config) { c.MaxImageBytes = 16 },
			call: post(buildJSON("Ada", pngImage)), wantStatus: 422, wantBody: `"location":"body.image"`,
		},
		{
			name: "body too large",
			cfg:  func(c *mirakotest.Config) { c.MaxBodyBytes = 64 },
			call: post(buildJSON("Ada", pngImage)), wantStatus: 413, wantBody: `"location":"body"`,
		},
		{name: "not json", call: call{http.MethodPost, build, token, "text/plain", buildJSON("Ada", pngImage)}, wantStatus: 415, badRequest: true},
		{
			name: "rate limited",
			cfg:  func(c *mirakotest.Config) { c.RateLimit = 1 },
			setup: func(t *testing.T, _ *mirakotest.Simulator, url string, _ *fakeClock) string {
				rawRequest(t, http.MethodGet, url+list, token, "", "")
				return ""
			},
			call: get(list), wantStatus: 429,
		},
		{
			name: "max builds",
			cfg:  func(c *mirakotest.Config) { c.MaxBuilds = 1 },
			setup: func(t *testing.T, _ *mirakotest.Simulator, url string, _ *fakeClock) string {
				createAvatar(t, url, "Ada")
				return ""
			},
			call: post(buildJSON("Bo", pngImage)), wantStatus: 429, wantBody: `"detail":"too many builds in progress`,
		},
		{name: "outage on post", cfg: func(c *mirakotest.Config) { c.Outage = time.Minute }, call: post(buildJSON("Ada", pngImage)), wantStatus: 503, wantBody: `"title":"Service Unavailable"`},
		{name: "outage on get", cfg: func(c *mirakotest.Config) { c.Outage = time.Minute }, call: get("/v1/avatar/a1b2c3d4-e5f6-7890-1234-567890abcdef"), wantStatus: 503},
		{name: "fault 429", setup: script(mirakotest.Fault429), call: get(list), wantStatus: 429},
		{name: "fault 500", setup: script(mirakotest.Fault500), call: post(buildJSON("Ada", pngImage)), wantStatus: 500},
		{name: "fault 503", setup: script(mirakotest.Fault503), call: get(list), wantStatus: 503},
		{name: "fault slow", setup: script(mirakotest.FaultSlow), call: post(buildJSON("Ada", pngImage)), wantStatus: 200},
		{name: "fault accept_then_slow", setup: script(mirakotest.FaultAcceptThenSlow), call: get(list), wantStatus: 200},
		{
			name: "fault by name on get",
			setup: func(t *testing.T, _ *mirakotest.Simulator, url string, _ *fakeClock) string {
				return createAvatar(t, url, "Ada [get:503x1]")
			},
			call: get(avatarPath), wantStatus: 503,
		},
		{name: "fault by name on post", call: post(buildJSON("Ada [429]", pngImage)), wantStatus: 429},
		{name: "fault empty", setup: script(mirakotest.FaultEmpty), call: get(list), wantStatus: 502, wantInvalid: true},
		{name: "fault garbled", setup: script(mirakotest.FaultGarbled), call: get(list), wantStatus: 502, wantInvalid: true},
		{name: "fault accept_then_garbled", setup: script(mirakotest.FaultAcceptThenGarbled), call: post(buildJSON("Ada", pngImage)), wantStatus: 200, wantInvalid: true},
		{name: "fault accept_then_empty", setup: script(mirakotest.FaultAcceptThenEmpty), call: get(list), wantStatus: 200, wantEmptyBody: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock := newFakeClock()
			cfg := mirakotest.Config{Token: token, BuildTime: 10 * time.Second, Now: clock.Now, SlowDelay: 10 * time.Millisecond}
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			sim, proxy, srv := newValidatedServer(t, cfg)
			id := ""
			if tc.setup != nil {
				id = tc.setup(t, sim, srv.URL, clock)
			}
			path := strings.Replace(tc.call.path, "{id}", id, 1)
			status, _, body, err := rawRequest(t, tc.call.method, srv.URL+path, tc.call.token, tc.call.contentType, tc.call.body)
			if err != nil {
				t.Fatalf("%s %s: %v", tc.call.method, path, err)
			}
			if status != tc.wantStatus {
				t.Errorf("status: got %d, want %d (body %s)", status, tc.wantStatus, body)
			}
			if !bytes.Contains(body, []byte(tc.wantBody)) {
				t.Errorf("body: got %s, want it to contain %s", body, tc.wantBody)
			}
			ex := proxy.last(t)
			switch {
			case ex.status != status:
				t.Errorf("recorded status: got %d, want %d", ex.status, status)
			case tc.wantEmptyBody:
				if len(body) != 0 {
					t.Errorf("body: got %s, want none", body)
				}
			case tc.wantInvalid && len(ex.respErrs) == 0:
				t.Errorf("%v: got a response that validates, want one that breaks the spec", ex)
			case !tc.wantInvalid && len(ex.respErrs) > 0:
				t.Errorf("%v: response violates the spec:\n%s", ex, strings.Join(ex.respErrs, "\n"))
			}
			if got := len(ex.reqErrs) > 0; got != tc.badRequest {
				t.Errorf("request violates the spec: got %v, want %v (%s)", got, tc.badRequest, strings.Join(ex.reqErrs, "; "))
			}
			// Every answer of the setup steps must follow the spec too.
			for _, e := range proxy.exchanges()[:len(proxy.exchanges())-1] {
				if len(e.respErrs) > 0 {
					t.Errorf("setup %v: response violates the spec:\n%s", e, strings.Join(e.respErrs, "\n"))
				}
			}
		})
	}
}

// script returns a setup that scripts fault f for the next request.
func script(f mirakotest.Fault) func(*testing.T, *mirakotest.Simulator, string, *fakeClock) string {
	return func(_ *testing.T, sim *mirakotest.Simulator, _ string, _ *fakeClock) string {
		sim.Script(f, 1)
		return ""
	}
}

// TestSpecValidatorCatchesViolations shows that the validator the contract tests rely on rejects the
// mistakes a simulator could make, so that its silence means something.
func TestSpecValidatorCatchesViolations(t *testing.T) {
	v := loadSpec(t)
	const id = "a1b2c3d4-e5f6-7890-1234-567890abcdef"
	tests := []struct {
		name, path, contentType, body string
		status                        int
	}{
		{"avatar with an extra member", "/v1/avatar/" + id, "application/json",
			`{"data":{"id":"` + id + `","user_id":"u","name":"n","status":"READY","progress":1}}`, 200},
		{"avatar without user_id", "/v1/avatar/" + id, "application/json", `{"data":{"id":"` + id + `","name":"n"}}`, 200},
		{"created_at not RFC 3339", "/v1/avatar/" + id, "application/json",
			`{"data":{"id":"` + id + `","user_id":"u","name":"n","created_at":"31/03/2026"}}`, 200},
		{"unknown status", "/v1/avatar/" + id, "application/json",
			`{"data":{"id":"` + id + `","user_id":"u","name":"n","status":"DONE"}}`, 200},
		{"theme without name", "/v1/avatar/" + id, "application/json",
			`{"data":{"id":"` + id + `","user_id":"u","name":"n","themes":[{"key_image":"https://x"}]}}`, 200},
		{"problem with an extra member", "/v1/avatar/list", "application/problem+json",
			`{"title":"Not Found","status":404,"code":"not_found"}`, 404},
		{"problem served as application/json", "/v1/avatar/list", "application/json", `{"title":"Not Found","status":404}`, 404},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, "http://sim"+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+token)
			resp := &http.Response{
				StatusCode: tc.status,
				Header:     http.Header{"Content-Type": {tc.contentType}},
				Body:       io.NopCloser(strings.NewReader(tc.body)),
				Request:    req,
			}
			if ok, errs := v.ValidateHttpResponse(req, resp); ok || len(errs) == 0 {
				t.Errorf("got valid, want a violation for %s", tc.body)
			}
		})
	}
}

// TestClientRequestsFollowTheSpec drives the real client through every operation and validates each
// request it sends, and each answer, against the spec.
func TestClientRequestsFollowTheSpec(t *testing.T) {
	sim, proxy, srv := newValidatedServer(t, mirakotest.Config{Token: token})
	c := mirako.NewClient(srv.URL, token)
	ctx := context.Background()

	var ids []string
	for _, tc := range []struct {
		name string
		img  []byte
	}{
		{"Ada", pngImage},
		{`Zoë "Z" <z> \ [portrait]`, jpegImage},
	} {
		id, err := c.Build(ctx, tc.name, bytes.NewReader(tc.img), int64(len(tc.img)))
		if err != nil {
			t.Fatalf("Build(%q): %v", tc.name, err)
		}
		ids = append(ids, id)
		a, err := c.Get(ctx, id)
		if err != nil {
			t.Fatalf("Get(%s): %v", id, err)
		}
		if a.ID != id || a.Name != tc.name || a.Status != mirako.StatusReady || len(a.Themes) == 0 || a.UserID == "" || a.CreatedAt.IsZero() {
			t.Errorf("Get(%s): got %+v, want the READY avatar %q with themes", id, a, tc.name)
		}
	}
	avatars, err := c.List(ctx)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(avatars) != 2 {
		t.Errorf("List: got %d avatars, want 2", len(avatars))
	}
	for _, id := range ids {
		if err := c.Delete(ctx, id); err != nil {
			t.Fatalf("Delete(%s): %v", id, err)
		}
	}
	if avatars, err := c.List(ctx); err != nil || len(avatars) != 0 {
		t.Errorf("List after Delete: got %d avatars (%v), want none", len(avatars), err)
	}

	seen := map[string]bool{}
	for _, ex := range proxy.exchanges() {
		seen[ex.method] = true
		if len(ex.reqErrs) > 0 {
			t.Errorf("%s %s: the client's request violates the spec:\n%s", ex.method, ex.path, strings.Join(ex.reqErrs, "\n"))
		}
		if len(ex.respErrs) > 0 {
			t.Errorf("%v: response violates the spec:\n%s", ex, strings.Join(ex.respErrs, "\n"))
		}
	}
	st := sim.Stats()
	for _, e := range []string{mirakotest.EndpointBuild, mirakotest.EndpointGet, mirakotest.EndpointList, mirakotest.EndpointDelete} {
		if st.Requests[e] == 0 {
			t.Errorf("Stats.Requests[%q]: got 0, want the client to have called it", e)
		}
	}
}

// corruptBody is a transport that replaces the build request's body with broken JSON, so that the
// simulator's genuine 400 can reach the real client, which never sends broken JSON itself.
type corruptBody struct{ next http.RoundTripper }

func (c corruptBody) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	const broken = `{"name":"Ada","image":`
	r = r.Clone(r.Context())
	r.Body, r.ContentLength, r.GetBody = io.NopCloser(strings.NewReader(broken)), int64(len(broken)), nil
	return c.next.RoundTrip(r)
}

// TestClientAndSimulatorAgreeOnErrors provokes every documented error status from the simulator and
// checks what the real client makes of it: an *APIError (a *RateLimitError for 429) with the status,
// title, detail and error details the simulator sent, Retry-After read, and the transient ones
// recognised as such.
func TestClientAndSimulatorAgreeOnErrors(t *testing.T) {
	type op func(ctx context.Context, c *mirako.Client) error
	build := func(name string, img []byte) op {
		return func(ctx context.Context, c *mirako.Client) error {
			_, err := c.Build(ctx, name, bytes.NewReader(img), int64(len(img)))
			return err
		}
	}
	get := func(id string) op {
		return func(ctx context.Context, c *mirako.Client) error { _, err := c.Get(ctx, id); return err }
	}
	list := func(ctx context.Context, c *mirako.Client) error { _, err := c.List(ctx); return err }

	tests := []struct {
		name          string
		cfg           func(*mirakotest.Config)
		token         string
		transport     func(http.RoundTripper) http.RoundTripper
		setup         func(sim *mirakotest.Simulator, c *mirako.Client)
		call          op
		wantStatus    int
		wantLocation  string // of the first error detail, if any
		wantRetry     time.Duration
		wantTransient bool
	}{
		{name: "400 broken json", transport: func(rt http.RoundTripper) http.RoundTripper { return corruptBody{rt} },
			call: build("Ada", pngImage), wantStatus: 400, wantLocation: "body"},
		{name: "401 wrong token", token: "mi-wrong", call: list, wantStatus: 401},
		{name: "402 credits", call: build("Ada [credits]", pngImage), wantStatus: 402},
		{name: "403 forbidden", call: build("Ada [forbidden]", pngImage), wantStatus: 403},
		{name: "404 get", call: get("a1b2c3d4-e5f6-7890-1234-567890abcdef"), wantStatus: 404},
		{name: "404 delete", call: func(ctx context.Context, c *mirako.Client) error { return c.Delete(ctx, "nope") }, wantStatus: 404},
		{name: "413 body", cfg: func(c *mirakotest.Config) { c.MaxBodyBytes = 64 }, call: build("Ada", pngImage), wantStatus: 413, wantLocation: "body"},
		{name: "422 not an image", call: build("Ada", []byte("plain text, not a portrait")), wantStatus: 422, wantLocation: "body.image"},
		{name: "429 rate limit", cfg: func(c *mirakotest.Config) { c.RateLimit = 1; c.RateWindow = 90 * time.Second },
			setup: func(_ *mirakotest.Simulator, c *mirako.Client) { _, _ = c.List(context.Background()) },
			call:  list, wantStatus: 429, wantRetry: 90 * time.Second, wantTransient: true},
		{name: "429 fault", cfg: func(c *mirakotest.Config) { c.RetryAfter = 3 * time.Second },
			setup: func(sim *mirakotest.Simulator, _ *mirako.Client) { sim.Script(mirakotest.Fault429, 1) },
			call:  build("Ada", pngImage), wantStatus: 429, wantRetry: 3 * time.Second, wantTransient: true},
		{name: "429 by name", call: build("Ada [429]", pngImage), wantStatus: 429, wantRetry: time.Second, wantTransient: true},
		{name: "429 max builds", cfg: func(c *mirakotest.Config) { c.MaxBuilds = 1; c.BuildTime = 45 * time.Second },
			setup: func(_ *mirakotest.Simulator, c *mirako.Client) {
				_, _ = c.Build(context.Background(), "Ada", bytes.NewReader(pngImage), int64(len(pngImage)))
			},
			call: build("Bo", pngImage), wantStatus: 429, wantRetry: 45 * time.Second, wantTransient: true},
		{name: "503 outage", cfg: func(c *mirakotest.Config) { c.Outage = 2 * time.Minute },
			call: get("x"), wantStatus: 503, wantTransient: true},
		{name: "500 fault", setup: func(sim *mirakotest.Simulator, _ *mirako.Client) { sim.Script(mirakotest.Fault500, 1) },
			call: list, wantStatus: 500, wantTransient: true},
		{name: "503 fault", setup: func(sim *mirakotest.Simulator, _ *mirako.Client) {
			sim.ScriptFor(mirakotest.EndpointBuild, mirakotest.Fault503, 1)
		},
			call: build("Ada", pngImage), wantStatus: 503, wantTransient: true},
		{name: "502 without body", setup: func(sim *mirakotest.Simulator, _ *mirako.Client) { sim.Script(mirakotest.FaultEmpty, 1) },
			call: get("x"), wantStatus: 502, wantTransient: true},
		{name: "502 garbled", setup: func(sim *mirakotest.Simulator, _ *mirako.Client) { sim.Script(mirakotest.FaultGarbled, 1) },
			call: list, wantStatus: 502, wantTransient: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := mirakotest.Config{Token: token, Now: newFakeClock().Now}
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			sim, proxy, srv := newValidatedServer(t, cfg)
			tok := token
			if tc.token != "" {
				tok = tc.token
			}
			var rt http.RoundTripper = http.DefaultTransport
			if tc.transport != nil {
				rt = tc.transport(rt)
			}
			c := mirako.NewClient(srv.URL, tok, mirako.WithHTTPClient(&http.Client{Transport: rt}))
			if tc.setup != nil {
				tc.setup(sim, c)
			}
			err := tc.call(context.Background(), c)

			var apiErr *mirako.APIError
			if !errors.As(err, &apiErr) {
				t.Fatalf("got %T %v, want an *mirako.APIError", err, err)
			}
			ex := proxy.last(t)
			if apiErr.StatusCode != tc.wantStatus || ex.status != tc.wantStatus {
				t.Errorf("status: got %d from the client and %d from the simulator, want %d", apiErr.StatusCode, ex.status, tc.wantStatus)
			}
			// What the simulator sent, when it was a readable problem; otherwise the status text.
			var sent struct {
				Title, Detail string
				Errors        []struct{ Location, Message string }
			}
			if json.Unmarshal(ex.body, &sent) != nil {
				sent.Title, sent.Detail, sent.Errors = http.StatusText(tc.wantStatus), "", nil
			}
			if apiErr.Title != sent.Title {
				t.Errorf("Title: got %q, want %q", apiErr.Title, sent.Title)
			}
			if apiErr.Detail != sent.Detail {
				t.Errorf("Detail: got %q, want %q", apiErr.Detail, sent.Detail)
			}
			if len(apiErr.Errors) != len(sent.Errors) {
				t.Errorf("Errors: got %+v, want %+v", apiErr.Errors, sent.Errors)
			} else {
				for i := range sent.Errors {
					if apiErr.Errors[i].Location != sent.Errors[i].Location || apiErr.Errors[i].Message != sent.Errors[i].Message {
						t.Errorf("Errors[%d]: got %+v, want %+v", i, apiErr.Errors[i], sent.Errors[i])
					}
				}
			}
			if tc.wantLocation != "" && (len(apiErr.Errors) == 0 || apiErr.Errors[0].Location != tc.wantLocation) {
				t.Errorf("Errors: got %+v, want the first at %q", apiErr.Errors, tc.wantLocation)
			}
			var rle *mirako.RateLimitError
			if gotRL := errors.As(err, &rle); gotRL != (tc.wantStatus == 429) {
				t.Errorf("*RateLimitError: got %v, want %v", gotRL, tc.wantStatus == 429)
			} else if gotRL && rle.RetryAfter != tc.wantRetry {
				t.Errorf("RetryAfter: got %s, want %s (header %q)", rle.RetryAfter, tc.wantRetry, ex.header.Get("Retry-After"))
			}
			if got := mirako.IsTransient(err); got != tc.wantTransient {
				t.Errorf("IsTransient: got %v, want %v", got, tc.wantTransient)
			}
		})
	}
}

// TestClientSeesFaults checks what the client makes of the faults that yield no usable answer, and
// that "after" faults leave the build in place while "before" faults create nothing.
func TestClientSeesFaults(t *testing.T) {
	tests := []struct {
		name        string
		fault       mirakotest.Fault
		n           int // requests scripted; 1 when zero
		endpoint    string
		build       bool // call Build, otherwise Get of an existing avatar
		wantCreated int  // builds created by the faulted call
	}{
		{name: "reset on build", fault: mirakotest.FaultReset, endpoint: mirakotest.EndpointBuild, build: true},
		// net/http's Transport retries an idempotent request once when a reused connection is
		// reset before any answer, so a GET fails only if the retry is reset too.
		{name: "reset on get", fault: mirakotest.FaultReset, n: 2, endpoint: mirakotest.EndpointGet},
		{name: "slow build", fault: mirakotest.FaultSlow, endpoint: mirakotest.EndpointBuild, build: true},
		{name: "slow get", fault: mirakotest.FaultSlow, endpoint: mirakotest.EndpointGet},
		{name: "accept then reset", fault: mirakotest.FaultAcceptThenReset, endpoint: mirakotest.EndpointBuild, build: true, wantCreated: 1},
		{name: "accept then slow", fault: mirakotest.FaultAcceptThenSlow, endpoint: mirakotest.EndpointBuild, build: true, wantCreated: 1},
		{name: "accept then garbled build", fault: mirakotest.FaultAcceptThenGarbled, endpoint: mirakotest.EndpointBuild, build: true, wantCreated: 1},
		{name: "accept then garbled get", fault: mirakotest.FaultAcceptThenGarbled, endpoint: mirakotest.EndpointGet},
		{name: "accept then empty build", fault: mirakotest.FaultAcceptThenEmpty, endpoint: mirakotest.EndpointBuild, build: true, wantCreated: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// SlowDelay is far beyond the client's timeouts; the stalled handler ends when the
			// client gives up or, at the latest, when the test's cleanup closes the simulator.
			sim, srv := mirakotest.NewServer(t, mirakotest.Config{Token: token, SlowDelay: time.Minute})
			c := mirako.NewClient(srv.URL, token, mirako.WithTimeout(300*time.Millisecond), mirako.WithUploadTimeout(300*time.Millisecond))
			ctx := context.Background()
			id, err := c.Build(ctx, "Ada", bytes.NewReader(pngImage), int64(len(pngImage)))
			if err != nil {
				t.Fatalf("first Build: %v", err)
			}
			n := max(tc.n, 1)
			sim.ScriptFor(tc.endpoint, tc.fault, n)
			if tc.build {
				_, err = c.Build(ctx, "Ada", bytes.NewReader(pngImage), int64(len(pngImage)))
			} else {
				_, err = c.Get(ctx, id)
			}
			var te *mirako.TransportError
			if !errors.As(err, &te) {
				t.Fatalf("got %T %v, want a *mirako.TransportError", err, err)
			}
			if !mirako.IsTransient(err) {
				t.Errorf("IsTransient(%v): got false, want true", err)
			}
			if tc.fault == mirakotest.FaultSlow && !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("got %v, want a timeout", err)
			}
			if got := sim.Stats().BuildsCreated - 1; got != tc.wantCreated {
				t.Errorf("builds created by the faulted call: got %d, want %d", got, tc.wantCreated)
			}
			if got := sim.Stats().Faults[tc.fault]; got != n {
				t.Errorf("Stats.Faults[%s]: got %d, want %d", tc.fault, got, n)
			}
			// The next call goes through: a fault is for one request.
			avatars, err := c.List(ctx)
			if err != nil {
				t.Fatalf("List after the fault: %v", err)
			}
			if len(avatars) != 1+tc.wantCreated {
				t.Errorf("List after the fault: got %d avatars, want %d", len(avatars), 1+tc.wantCreated)
			}
			if n := slices.IndexFunc(avatars, func(a mirako.Avatar) bool { return a.Name != "Ada" }); n >= 0 {
				t.Errorf("List: got %q, want only Ada", avatars[n].Name)
			}
		})
	}
}

// TestClientReadsTheAnswerToAnOversizedUpload checks that a client still uploading a body far over
// the limit reads the 413 rather than a broken connection: the simulator drains the body before it
// answers.
func TestClientReadsTheAnswerToAnOversizedUpload(t *testing.T) {
	sim, srv := mirakotest.NewServer(t, mirakotest.Config{Token: token, MaxBodyBytes: 64 << 10})
	c := mirako.NewClient(srv.URL, token)
	img := make([]byte, 4<<20) // about 5.6 MB of JSON, 85 times the limit
	copy(img, pngImage)
	for i := range 3 { // and again on the connection that is left
		_, err := c.Build(context.Background(), "Ada", bytes.NewReader(img), int64(len(img)))
		var apiErr *mirako.APIError
		if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("upload %d: got %T %v, want a 413 *mirako.APIError", i+1, err, err)
		}
	}
	if got := sim.Stats().BuildsCreated; got != 0 {
		t.Errorf("builds created: got %d, want 0", got)
	}
}
