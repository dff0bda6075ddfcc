package records

import (
	"strings"
	"testing"
	"time"
)

func TestBuildID(t *testing.T) {
	base := BuildID("avatar-portraits", "portraits/jane.jpg", "v1", "etag1")
	if len(base) != 32 {
		t.Fatalf("got id %q of length %d, want 32 hex characters", base, len(base))
	}
	if again := BuildID("avatar-portraits", "portraits/jane.jpg", "v1", "other-etag"); again != base {
		t.Errorf("same object version: got %s then %s, want the same id", base, again)
	}
	different := map[string]string{
		"new version":         BuildID("avatar-portraits", "portraits/jane.jpg", "v2", "etag1"),
		"other key":           BuildID("avatar-portraits", "portraits/jane2.jpg", "v1", "etag1"),
		"other bucket":        BuildID("other", "portraits/jane.jpg", "v1", "etag1"),
		"key/bucket boundary": BuildID("avatar-portraitsp", "ortraits/jane.jpg", "v1", "etag1"),
	}
	for name, id := range different {
		if id == base {
			t.Errorf("%s: got the same id %s", name, id)
		}
	}
	// Unversioned: the ETag decides, quoted as PutObject returns it or not as events carry it.
	if a, b := BuildID("b", "k", "", `"abc"`), BuildID("b", "k", "null", "abc"); a != b {
		t.Errorf("quoted and unquoted ETag: got %s and %s, want the same id", a, b)
	}
	if RetryBuildID(base, "exec-1") == RetryBuildID(base, "exec-2") || RetryBuildID(base, "exec-1") == base {
		t.Error("retries must get ids of their own")
	}
}

func TestCleanName(t *testing.T) {
	tests := []struct{ in, want, wantErr string }{
		{in: "  Jane Doe ", want: "Jane Doe"},
		{in: "Zoë 李", want: "Zoë 李"},
		{in: "   ", wantErr: "empty"},
		{in: strings.Repeat("é", MaxNameLength+1), wantErr: "101 characters long"},
		{in: "a\x00b", wantErr: "control character"},
		{in: "bad\xffutf8", wantErr: "UTF-8"},
	}
	for _, tc := range tests {
		got, err := CleanName(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("CleanName(%q): got error %v, want one saying %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("CleanName(%q): got %q, %v, want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestStatuses(t *testing.T) {
	terminal := map[Status]bool{StatusRejected: true, StatusReady: true, StatusError: true, StatusTimedOut: true, StatusFailed: true}
	for _, s := range Statuses {
		if s.Terminal() != terminal[s] {
			t.Errorf("%s: got Terminal %v, want %v", s, s.Terminal(), terminal[s])
		}
		if !s.Valid() {
			t.Errorf("%s is not Valid", s)
		}
	}
	if Status("DONE").Valid() {
		t.Error("DONE is Valid")
	}
}

func TestTimeFormat(t *testing.T) {
	tm := time.Date(2026, 11, 23, 10, 0, 2, 123456789, time.FixedZone("CET", 3600))
	got := FormatTime(tm)
	if got != "2026-11-23T09:00:02.123Z" {
		t.Errorf("got %s", got)
	}
	// The state machine writes $$.State.EnteredTime, which some engines format differently.
	for _, s := range []string{got, "2026-11-23T09:00:02.123456+00:00", "2026-11-23T09:00:02Z"} {
		if _, err := ParseTime(s); err != nil {
			t.Errorf("ParseTime(%q): %v", s, err)
		}
	}
}

func TestPublicDropsInternalFields(t *testing.T) {
	r := Record{BuildID: "b", ExecutionARN: "arn", SubmitStartedAt: "t", SubmitClaimedUntil: "u"}.Public()
	if r.ExecutionARN != "" || r.SubmitStartedAt != "" || r.SubmitClaimedUntil != "" || r.BuildID != "b" {
		t.Errorf("got %+v", r)
	}
}
