package mirako

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"
	valerrors "github.com/pb33f/libopenapi-validator/errors"
)

// The contract tests check the client's requests, and the answers this package's tests feed it,
// against Mirako's published specification, openapi/openapi.yaml (vendored).

var (
	specOnce      sync.Once
	specValidator validator.Validator
	specErr       error
)

// specPath is the vendored specification, relative to this package.
func specPath(*testing.T) string { return filepath.Join("openapi", "openapi.yaml") }

// openAPIValidator parses the specification once per test binary. Format (date-time, uri) and content
// (contentEncoding: base64) assertions are on, so that the image of a build request is checked too.
func openAPIValidator(t *testing.T) validator.Validator {
	t.Helper()
	path := specPath(t)
	specOnce.Do(func() {
		raw, err := os.ReadFile(path)
		if err != nil {
			specErr = err
			return
		}
		doc, err := libopenapi.NewDocument(raw)
		if err != nil {
			specErr = fmt.Errorf("parse %s: %w", path, err)
			return
		}
		v, errs := validator.NewValidator(doc, config.WithFormatAssertions(), config.WithContentAssertions())
		if len(errs) > 0 {
			specErr = fmt.Errorf("validator for %s: %v", path, errs)
			return
		}
		specValidator = v
	})
	if specErr != nil {
		t.Fatal(specErr)
	}
	return specValidator
}

func describe(errs []*valerrors.ValidationError) string {
	var b strings.Builder
	for _, e := range errs {
		fmt.Fprintf(&b, "\n  %s: %s", e.Message, e.Reason)
		for _, se := range e.SchemaValidationErrors {
			fmt.Fprintf(&b, "\n    %s: %s", se.FieldPath, se.Reason)
		}
	}
	return b.String()
}

// TestRequestsMatchSpec sends each call to a server that validates the request against the spec.
func TestRequestsMatchSpec(t *testing.T) {
	v := openAPIValidator(t)
	names := []string{"Ada", `quote " and \ backslash`, "Zoë 🙂\n"}
	for _, tc := range calls {
		for _, name := range names {
			t.Run(tc.name+"/"+name, func(t *testing.T) {
				c, mux, _ := setup(t)
				validated := false
				mux.HandleFunc(tc.method+" "+tc.path, func(w http.ResponseWriter, r *http.Request) {
					if ok, errs := v.ValidateHttpRequestSync(r); !ok {
						t.Errorf("request does not match the spec:%s", describe(errs))
					}
					validated = true
					writeSuccess(w, tc.name)
				})
				var err error
				if tc.name == "Build" {
					image := randomImage(1000)
					_, err = c.Build(context.Background(), name, bytes.NewReader(image), int64(len(image)))
				} else {
					err = tc.do(context.Background(), c)
				}
				if err != nil {
					t.Fatal(err)
				}
				if !validated {
					t.Error("the handler never ran")
				}
			})
		}
	}
}

// TestTestdataMatchesSpec checks that the answers in testdata are ones the spec allows, so that the
// tests above decode what Mirako documents and not something easier.
func TestTestdataMatchesSpec(t *testing.T) {
	v := openAPIValidator(t)
	tests := []struct {
		file         string
		method, path string
		status       int
		contentType  string
	}{
		{"build.json", http.MethodPost, "/v1/avatar/async_build", 200, "application/json"},
		{"avatar_ready.json", http.MethodGet, "/v1/avatar/" + testAvatarID, 200, "application/json"},
		{"avatar_building.json", http.MethodGet, "/v1/avatar/" + testAvatarID, 200, "application/json"},
		{"list.json", http.MethodGet, "/v1/avatar/list", 200, "application/json"},
		{"list_null.json", http.MethodGet, "/v1/avatar/list", 200, "application/json"},
		{"problem_402.json", http.MethodPost, "/v1/avatar/async_build", 402, "application/problem+json"},
		{"problem_422.json", http.MethodPost, "/v1/avatar/async_build", 422, "application/problem+json"},
		{"problem_422.json", http.MethodGet, "/v1/avatar/list", 422, "application/problem+json"},
	}
	for _, tc := range tests {
		t.Run(tc.file+"/"+tc.method+" "+tc.path, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, DefaultBaseURL+tc.path, nil)
			body := readTestdata(t, tc.file)
			resp := &http.Response{
				StatusCode: tc.status,
				Header:     http.Header{"Content-Type": {tc.contentType}},
				Body:       io.NopCloser(bytes.NewReader(body)),
				Request:    req,
			}
			if ok, errs := v.ValidateHttpResponse(req, resp); !ok {
				t.Errorf("%s is not a valid %d answer to %s %s:%s", tc.file, tc.status, tc.method, tc.path, describe(errs))
			}
		})
	}
}

// TestValidatorRejects guards the contract tests themselves: the validator must notice a body that
// breaks the spec, or the tests above prove nothing.
func TestValidatorRejects(t *testing.T) {
	v := openAPIValidator(t)
	req := httptest.NewRequest(http.MethodPost, "/v1/avatar/async_build", strings.NewReader(`{"name":"Ada","image":"AAAA","extra":1}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+testToken)
	if ok, _ := v.ValidateHttpRequestSync(req); ok {
		t.Error("a build request with an extra member validated; additionalProperties: false is not enforced")
	}
	req = httptest.NewRequest(http.MethodPost, "/v1/avatar/async_build", strings.NewReader(`{"name":"Ada","image":"not base64!"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+testToken)
	if ok, _ := v.ValidateHttpRequestSync(req); ok {
		t.Error("a build request whose image is not base64 validated; contentEncoding: base64 is not enforced")
	}
	get := httptest.NewRequest(http.MethodGet, "/v1/avatar/"+testAvatarID, nil)
	resp := &http.Response{
		StatusCode: 200,
		Header:     http.Header{"Content-Type": {"application/json"}},
		Body:       io.NopCloser(strings.NewReader(`{"data":{"id":"x","name":"n","status":"READY"}}`)),
		Request:    get,
	}
	if ok, _ := v.ValidateHttpResponse(get, resp); ok {
		t.Error("an avatar without its required members validated")
	}
}
