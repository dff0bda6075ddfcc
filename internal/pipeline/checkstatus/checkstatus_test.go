package checkstatus

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/avatar-pipeline/avatar-pipeline/internal/lambdatest"
	"github.com/avatar-pipeline/avatar-pipeline/internal/mirako"
	"github.com/avatar-pipeline/avatar-pipeline/internal/pipeline"
	"github.com/avatar-pipeline/avatar-pipeline/internal/records"
)

const testAvatarID = "a1b2c3d4-e5f6-7890-1234-567890abcdef"

var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

// mirakoServer answers GET /v1/avatar/{id} with the given status and body.
func mirakoServer(t *testing.T, status int, body string, header map[string]string) *mirako.Client {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/avatar/{id}", func(w http.ResponseWriter, r *http.Request) {
		for k, v := range header {
			w.Header().Set(k, v)
		}
		if status >= 400 {
			w.Header().Set("Content-Type", "application/problem+json")
		} else {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return mirako.NewClient(srv.URL, "mi-secret-token")
}

func avatarJSON(status string, themes string) string {
	return fmt.Sprintf(`{"data":{"id":%q,"user_id":"f47ac10b-58cc-4372-a567-0e02b2c3d479","name":"Jane Doe",
		"created_at":"2026-11-23T10:00:02Z","status":%q,"supported_interactive_models":null,"themes":%s}}`,
		testAvatarID, status, themes)
}

func goldenInput(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCheckStatus(t *testing.T) {
	submitted := time.Date(2026, 11, 23, 10, 0, 2, 0, time.UTC)
	tests := []struct {
		name         string
		now          time.Time
		status       int
		body         string
		wantOutcome  pipeline.Outcome
		wantStatus   records.Status
		wantChecks   int
		wantWait     int
		wantThemes   []string
		wantSeconds  int64
		wantErrType  string
		wantErrCount int
		header       map[string]string
	}{
		{name: "still pending", now: submitted.Add(3 * time.Minute), status: 200, body: avatarJSON("PENDING", "null"),
			wantOutcome: pipeline.OutcomeWaiting, wantStatus: "PENDING", wantChecks: 4, wantWait: 30},
		{name: "now building", now: submitted.Add(3 * time.Minute), status: 200, body: avatarJSON("BUILDING", "null"),
			wantOutcome: pipeline.OutcomeProgress, wantStatus: "BUILDING", wantChecks: 4, wantWait: 30},
		{name: "ready", now: submitted.Add(44 * time.Minute), status: 200,
			body:        avatarJSON("READY", `[{"name":"Default","key_image":"https://x/k.png","live_video":"https://x/l.mp4"},{"name":"Casual"}]`),
			wantOutcome: pipeline.OutcomeFinished, wantStatus: "READY", wantChecks: 4, wantWait: 30, wantThemes: []string{"Default", "Casual"}, wantSeconds: 44 * 60},
		{name: "error", now: submitted.Add(10 * time.Minute), status: 200, body: avatarJSON("ERROR", "null"),
			wantOutcome: pipeline.OutcomeFinished, wantStatus: "ERROR", wantChecks: 4, wantWait: 30, wantSeconds: 600},
		{name: "deadline passed, still building", now: submitted.Add(3*time.Hour + time.Second), status: 200, body: avatarJSON("BUILDING", "null"),
			wantOutcome: pipeline.OutcomeFinished, wantStatus: "TIMED_OUT", wantChecks: 4, wantSeconds: 3*3600 + 1},
		{name: "ready at the last check, just past the deadline", now: submitted.Add(3*time.Hour + time.Second), status: 200,
			body:        avatarJSON("READY", `[{"name":"Default"}]`),
			wantOutcome: pipeline.OutcomeFinished, wantStatus: "READY", wantChecks: 4, wantThemes: []string{"Default"}, wantSeconds: 3*3600 + 1},
		{name: "deadline passed and Mirako down", now: submitted.Add(3*time.Hour + time.Second), status: 503, body: "",
			wantOutcome: pipeline.OutcomeFinished, wantStatus: "TIMED_OUT", wantChecks: 4, wantSeconds: 3*3600 + 1},
		{name: "last wait cut to the deadline", now: submitted.Add(3*time.Hour - 10*time.Second), status: 200, body: avatarJSON("PENDING", "null"),
			wantOutcome: pipeline.OutcomeWaiting, wantStatus: "PENDING", wantChecks: 4, wantWait: 10},
		{name: "transient fault is tolerated", now: submitted.Add(5 * time.Minute), status: 503, body: "",
			wantOutcome: pipeline.OutcomeWaiting, wantStatus: "PENDING", wantChecks: 4, wantWait: 30},
		{name: "rate limit waits as long as Mirako asks", now: submitted.Add(5 * time.Minute), status: 429,
			body: `{"title":"Too Many Requests","status":429}`, header: map[string]string{"Retry-After": "90"},
			wantOutcome: pipeline.OutcomeWaiting, wantStatus: "PENDING", wantChecks: 4, wantWait: 90},
		{name: "unknown avatar is permanent", now: submitted.Add(5 * time.Minute), status: 404,
			body: `{"title":"Not Found","status":404,"detail":"avatar not found"}`, wantErrType: "MirakoRejectedError"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := &Handler{
				Config: pipeline.CheckStatusConfig{Interval: 30 * time.Second},
				Mirako: mirakoServer(t, tc.status, tc.body, tc.header),
				Log:    quietLog,
				Now:    func() time.Time { return tc.now },
			}
			out, err := lambda.NewHandler(h.Handle).Invoke(context.Background(), goldenInput(t, "checkstatus_building.json"))
			if tc.wantErrType != "" {
				if err == nil || lambdatest.ErrorType(err) != tc.wantErrType {
					t.Fatalf("got error %v (type %s), want type %s", err, lambdatest.ErrorType(err), tc.wantErrType)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var st pipeline.State
			if err := json.Unmarshal(out, &st); err != nil {
				t.Fatal(err)
			}
			if st.Outcome != tc.wantOutcome || st.Status != tc.wantStatus {
				t.Errorf("got outcome %s status %s, want %s %s", st.Outcome, st.Status, tc.wantOutcome, tc.wantStatus)
			}
			if st.Checks != tc.wantChecks {
				t.Errorf("got checks %d, want %d", st.Checks, tc.wantChecks)
			}
			if tc.wantOutcome != pipeline.OutcomeFinished && st.WaitSeconds != tc.wantWait {
				t.Errorf("got wait %d, want %d", st.WaitSeconds, tc.wantWait)
			}
			if !reflect.DeepEqual(st.Themes, tc.wantThemes) && !(len(st.Themes) == 0 && len(tc.wantThemes) == 0) {
				t.Errorf("got themes %v, want %v", st.Themes, tc.wantThemes)
			}
			if tc.wantOutcome == pipeline.OutcomeFinished {
				if st.BuildSeconds != tc.wantSeconds {
					t.Errorf("got build_seconds %d, want %d", st.BuildSeconds, tc.wantSeconds)
				}
				if st.FinishedAt == "" {
					t.Error("finished build has no finished_at")
				}
				if st.Status != records.StatusReady && st.Reason == "" {
					t.Errorf("terminal %s without a reason", st.Status)
				}
				// The READY record write reads themes_attr and build_seconds: they must be in the JSON.
				var raw map[string]json.RawMessage
				json.Unmarshal(out, &raw)
				for _, k := range []string{"themes_attr", "build_seconds", "checks", "finished_at"} {
					if _, ok := raw[k]; !ok {
						t.Errorf("output lacks %s, which the record write reads", k)
					}
				}
			}
		})
	}
}

// TestCheckStatusWaitsOutAnOutage: a hundred failed checks in a row are
// still waited out, as long as the deadline allows.
func TestCheckStatusWaitsOutAnOutage(t *testing.T) {
	h := &Handler{
		Config: pipeline.CheckStatusConfig{Interval: 30 * time.Second},
		Mirako: mirakoServer(t, 503, ``, nil),
		Log:    quietLog,
		Now:    func() time.Time { return time.Date(2026, 11, 23, 10, 10, 0, 0, time.UTC) },
	}
	var in pipeline.StepInput
	json.Unmarshal(goldenInput(t, "checkstatus_building.json"), &in)
	for i := range 100 {
		st, err := h.Handle(context.Background(), in)
		if err != nil || st.Outcome != pipeline.OutcomeWaiting {
			t.Fatalf("check %d: got %s, %v, want WAITING", i, st.Outcome, err)
		}
		in.Build = st
	}
}

func TestLogsCarryRequestAndBuild(t *testing.T) {
	out, err := os.CreateTemp(t.TempDir(), "stdout")
	if err != nil {
		t.Fatal(err)
	}
	stdout := os.Stdout
	os.Stdout = out
	log := lambdacontext.NewLogger()
	os.Stdout = stdout
	h := &Handler{Config: pipeline.CheckStatusConfig{Interval: 30 * time.Second}, Mirako: mirakoServer(t, 200, avatarJSON("BUILDING", "null"), nil), Log: log}
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "req-7"})
	st := pipeline.State{Record: records.Record{BuildID: "b-logged", AvatarID: testAvatarID, Status: records.StatusPending},
		Deadline: records.FormatTime(time.Now().Add(time.Hour))}
	if _, err := h.Handle(ctx, pipeline.StepInput{Build: st}); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(out.Name())
	if l := strings.TrimSpace(string(raw)); l == "" || !strings.Contains(l, "requestId=req-7") || !strings.Contains(l, "build_id=b-logged") {
		t.Errorf("got log %q, want lines with the request id and the build id", l)
	}
}
