package mirako

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"
)

// received is what the test server saw of one build request.
type received struct {
	contentLength    int64
	transferEncoding []string
	bodyLen          int
	name             string
	image            []byte
}

// buildServer answers async_build with the documented 200 after decoding the request the way Mirako
// would: JSON, then base64.
func buildServer(t *testing.T, mux *http.ServeMux, got *received) {
	mux.HandleFunc("POST /v1/avatar/async_build", func(w http.ResponseWriter, r *http.Request) {
		raw, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("server: read body: %v", err)
			return
		}
		var req struct {
			Name  *string `json:"name"`
			Image *string `json:"image"`
		}
		if err := json.Unmarshal(raw, &req); err != nil || req.Name == nil || req.Image == nil {
			t.Errorf("server: body is not {name, image}: %v", err)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		image, err := base64.StdEncoding.DecodeString(*req.Image)
		if err != nil {
			t.Errorf("server: image is not standard base64: %v", err)
		}
		*got = received{r.ContentLength, r.TransferEncoding, len(raw), *req.Name, image}
		w.Header().Set("Content-Type", "application/json")
		w.Write(readTestdata(t, "build.json"))
	})
}

func TestBuildStreamsImage(t *testing.T) {
	for _, size := range []int{0, 1, 2, 3, 1<<20 + 1, 10 << 20} {
		t.Run(strconv.Itoa(size)+" bytes", func(t *testing.T) {
			c, mux, _ := setup(t)
			var got received
			buildServer(t, mux, &got)
			image := randomImage(size)
			_, wantLen := BuildBody("Ada", bytes.NewReader(image), int64(size))

			id, err := c.Build(context.Background(), "Ada", bytes.NewReader(image), int64(size))
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			if id != testAvatarID {
				t.Errorf("id = %q, want %q", id, testAvatarID)
			}
			if !bytes.Equal(got.image, image) {
				t.Errorf("server decoded %d image bytes, want the %d sent (equal: false)", len(got.image), size)
			}
			if got.name != "Ada" {
				t.Errorf("name = %q, want %q", got.name, "Ada")
			}
			if got.contentLength != wantLen || int64(got.bodyLen) != wantLen {
				t.Errorf("Content-Length %d, body %d bytes; want both %d", got.contentLength, got.bodyLen, wantLen)
			}
			if len(got.transferEncoding) != 0 {
				t.Errorf("Transfer-Encoding = %v, want none (a declared length)", got.transferEncoding)
			}
		})
	}
}

func TestBuildName(t *testing.T) {
	for _, name := range []string{`"quoted" \back\slash`, "Zoë 李 🙂", "ctl\x00\x01\n\t\x1f", "</script>&"} {
		c, mux, _ := setup(t)
		var got received
		buildServer(t, mux, &got)
		if _, err := c.Build(context.Background(), name, bytes.NewReader([]byte{1, 2, 3, 4}), 4); err != nil {
			t.Fatalf("Build(%q): %v", name, err)
		}
		if got.name != name {
			t.Errorf("server got name %q, want %q", got.name, name)
		}
	}
}

func TestBuildImageProblems(t *testing.T) {
	boom := errors.New("s3: connection reset while reading object")
	tests := []struct {
		name     string
		image    io.Reader
		size     int64
		wantErr  error
		wantSent bool // whether the request may reach the server at all
	}{
		{"shorter", bytes.NewReader(randomImage(9)), 10, ErrImageSize, true},
		{"much shorter", bytes.NewReader(randomImage(1 << 20)), 2 << 20, ErrImageSize, true},
		{"longer", bytes.NewReader(randomImage(11)), 10, ErrImageSize, true},
		{"much longer", bytes.NewReader(randomImage(2 << 20)), 1 << 20, ErrImageSize, true},
		{"reader fails", io.MultiReader(bytes.NewReader(randomImage(100_000)), iotest.ErrReader(boom)), 200_000, boom, true},
		{"negative size", bytes.NewReader(nil), -1, ErrImageSize, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, mux, srv := setup(t)
			var requests, complete atomic.Int32
			mux.HandleFunc("POST /v1/avatar/async_build", func(w http.ResponseWriter, r *http.Request) {
				requests.Add(1)
				if _, err := io.ReadAll(r.Body); err == nil {
					complete.Add(1)
				}
				w.Write(readTestdata(t, "build.json"))
			})
			_, err := c.Build(context.Background(), "Ada", tc.image, tc.size)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want one wrapping %v", err, tc.wantErr)
			}
			var te *TransportError
			var ae *APIError
			if errors.As(err, &te) || errors.As(err, &ae) || IsTransient(err) {
				t.Errorf("err = %T %v: want neither a transport nor an API error, not transient", err, err)
			}
			if !strings.HasPrefix(err.Error(), "mirako: POST /v1/avatar/async_build: ") {
				t.Errorf("err = %q, want it to name the call", err)
			}
			checkNoSecret(t, err)
			srv.Close() // waits for the handler
			if n := complete.Load(); n != 0 {
				t.Errorf("server read %d complete bodies, want 0", n)
			}
			if n := requests.Load(); !tc.wantSent && n != 0 {
				t.Errorf("server saw %d requests, want 0", n)
			}
		})
	}
	t.Run("nil reader", func(t *testing.T) {
		c, _, _ := setup(t)
		if _, err := c.Build(context.Background(), "Ada", nil, 0); err == nil {
			t.Error("Build with a nil reader succeeded")
		}
	})
}

func TestGet(t *testing.T) {
	tests := []struct {
		file string
		want Avatar
	}{
		{"avatar_ready.json", Avatar{
			ID:                         "a1b2c3d4-e5f6-7890-1234-567890abcdef",
			UserID:                     "f47ac10b-58cc-4372-a567-0e02b2c3d479",
			Name:                       `Ada "the first" Lovelace`,
			CreatedAt:                  time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC),
			Status:                     StatusReady,
			SupportedInteractiveModels: []string{"metis-2.5"},
			Themes: []Theme{
				{Name: "Default", KeyImage: "https://cdn.example.com/a1b2/default.png?X-Amz-Signature=abc", LiveVideo: "https://cdn.example.com/a1b2/default.mp4?X-Amz-Signature=def"},
				{Name: "Studio"},
			},
		}},
		{"avatar_building.json", Avatar{
			ID:        "b2c3d4e5-f6a7-8901-2345-67890abcdef1",
			UserID:    "f47ac10b-58cc-4372-a567-0e02b2c3d479",
			Name:      "Zoë 🙂",
			CreatedAt: time.Date(2026, 3, 1, 11, 5, 30, 250e6, time.UTC),
			Status:    StatusBuilding,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			c, mux, _ := setup(t)
			mux.HandleFunc("GET /v1/avatar/{id}", func(w http.ResponseWriter, r *http.Request) {
				if got := r.PathValue("id"); got != tc.want.ID {
					t.Errorf("server got id %q, want %q", got, tc.want.ID)
				}
				w.Header().Set("Content-Type", "application/json")
				w.Write(readTestdata(t, tc.file))
			})
			got, err := c.Get(context.Background(), tc.want.ID)
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			if !got.CreatedAt.Equal(tc.want.CreatedAt) {
				t.Errorf("CreatedAt = %v, want %v", got.CreatedAt, tc.want.CreatedAt)
			}
			got.CreatedAt = tc.want.CreatedAt // compared above; locations differ
			if !reflect.DeepEqual(*got, tc.want) {
				t.Errorf("Get = %+v, want %+v", *got, tc.want)
			}
		})
	}
}

func TestGetEscapesID(t *testing.T) {
	tests := []struct {
		id, wantPath string
	}{
		{"abc", "/v1/avatar/abc"},
		{"a/b", "/v1/avatar/a%2Fb"},
		{"a b?c#d", "/v1/avatar/a%20b%3Fc%23d"},
		{"../list", "/v1/avatar/..%2Flist"},
	}
	for _, tc := range tests {
		t.Run(tc.id, func(t *testing.T) {
			c, mux, _ := setup(t)
			var gotPath, gotID string
			mux.HandleFunc("GET /v1/avatar/{id}", func(w http.ResponseWriter, r *http.Request) {
				gotPath, gotID = r.URL.EscapedPath(), r.PathValue("id")
				http.Error(w, "", http.StatusNotFound)
			})
			_, err := c.Get(context.Background(), tc.id)
			var ae *APIError
			if !errors.As(err, &ae) || ae.StatusCode != http.StatusNotFound {
				t.Fatalf("err = %v, want a 404 *APIError", err)
			}
			if gotPath != tc.wantPath || gotID != tc.id {
				t.Errorf("server got path %q (id %q), want %q (id %q)", gotPath, gotID, tc.wantPath, tc.id)
			}
			if ae.Path != tc.wantPath {
				t.Errorf("APIError.Path = %q, want %q", ae.Path, tc.wantPath)
			}
		})
	}
}

func TestInvalidIDs(t *testing.T) {
	c, mux, _ := setup(t)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("request sent: %s %s", r.Method, r.URL.Path)
	})
	for _, id := range []string{"", ".", ".."} {
		if _, err := c.Get(context.Background(), id); err == nil || IsTransient(err) {
			t.Errorf("Get(%q) err = %v, want a permanent error", id, err)
		}
		if err := c.Delete(context.Background(), id); err == nil || IsTransient(err) {
			t.Errorf("Delete(%q) err = %v, want a permanent error", id, err)
		}
	}
	if _, err := c.Get(context.Background(), "list"); err == nil {
		t.Error(`Get("list") succeeded; it would have called the list operation`)
	}
}

func TestList(t *testing.T) {
	tests := []struct {
		file    string
		wantIDs []string
	}{
		{"list.json", []string{"a1b2c3d4-e5f6-7890-1234-567890abcdef", "b2c3d4e5-f6a7-8901-2345-67890abcdef1"}},
		{"list_null.json", []string{}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			c, mux, _ := setup(t)
			mux.HandleFunc("GET /v1/avatar/list", func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.Write(readTestdata(t, tc.file))
			})
			got, err := c.List(context.Background())
			if err != nil {
				t.Fatalf("List: %v", err)
			}
			if got == nil {
				t.Fatal("List = nil, want a non-nil slice")
			}
			ids := []string{}
			for _, a := range got {
				ids = append(ids, a.ID)
			}
			if !reflect.DeepEqual(ids, tc.wantIDs) {
				t.Errorf("ids = %v, want %v", ids, tc.wantIDs)
			}
		})
	}
	t.Run("nulls decode to nil slices", func(t *testing.T) {
		c, mux, _ := setup(t)
		mux.HandleFunc("GET /v1/avatar/list", func(w http.ResponseWriter, r *http.Request) {
			w.Write(readTestdata(t, "list.json"))
		})
		got, err := c.List(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if a := got[1]; a.Status != StatusError || a.Themes != nil || a.SupportedInteractiveModels != nil {
			t.Errorf("second avatar = %+v, want ERROR with nil themes and models", a)
		}
		if a := got[0]; len(a.Themes) != 1 || a.Themes[0].KeyImage == "" || a.Themes[0].LiveVideo != "" {
			t.Errorf("first avatar themes = %+v, want one with a key image only", a.Themes)
		}
	})
}

func TestDelete(t *testing.T) {
	for _, status := range []int{http.StatusNoContent, http.StatusOK} {
		c, mux, _ := setup(t)
		var deleted string
		mux.HandleFunc("DELETE /v1/avatar/{id}", func(w http.ResponseWriter, r *http.Request) {
			deleted = r.PathValue("id")
			w.WriteHeader(status)
		})
		if err := c.Delete(context.Background(), testAvatarID); err != nil {
			t.Fatalf("Delete answered %d: %v", status, err)
		}
		if deleted != testAvatarID {
			t.Errorf("server deleted %q, want %q", deleted, testAvatarID)
		}
	}
}

// TestGarbledSuccess: a 2xx answer that is not the documented JSON is a *TransportError, not data.
func TestGarbledSuccess(t *testing.T) {
	bodies := []struct {
		name string
		body string
		ok   []string // calls for which this body is in fact acceptable
	}{
		{"empty", "", nil},
		{"not JSON", "<html>502 Bad Gateway</html>", nil},
		{"truncated JSON", `{"data":{"id":"a1`, nil},
		{"no data", `{"avatar_id":"x","id":"x"}`, nil},
		{"data null", `{"data":null}`, []string{"List"}},
		{"data empty object", `{"data":{}}`, nil},
		{"data of the wrong type", `{"data":"x"}`, nil},
		{"a JSON array", `[]`, nil},
		{"empty avatar id", `{"data":{"avatar_id":""}}`, nil},
	}
	for _, tc := range calls[:3] { // Delete reads no body
		for _, b := range bodies {
			t.Run(tc.name+"/"+b.name, func(t *testing.T) {
				c, mux, _ := setup(t)
				mux.HandleFunc(tc.method+" "+tc.path, func(w http.ResponseWriter, r *http.Request) {
					_, _ = io.Copy(io.Discard, r.Body)
					w.Header().Set("Content-Type", "application/json")
					io.WriteString(w, b.body)
				})
				err := tc.do(context.Background(), c)
				for _, ok := range b.ok {
					if ok == tc.name {
						if err != nil {
							t.Errorf("err = %v, want success", err)
						}
						return
					}
				}
				checkTransportError(t, err, tc.method, tc.path)
			})
		}
	}
}

// TestTruncatedSuccess: a 200 whose body ends before its Content-Length.
func TestTruncatedSuccess(t *testing.T) {
	for _, tc := range calls[:3] {
		t.Run(tc.name, func(t *testing.T) {
			c, mux, _ := setup(t)
			mux.HandleFunc(tc.method+" "+tc.path, func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				w.Header().Set("Content-Type", "application/json")
				w.Header().Set("Content-Length", "500")
				io.WriteString(w, `{"data":{"avatar_id":"`+testAvatarID+`"}}`)
			})
			err := tc.do(context.Background(), c)
			checkTransportError(t, err, tc.method, tc.path)
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("err = %v, want one wrapping io.ErrUnexpectedEOF", err)
			}
		})
	}
}
