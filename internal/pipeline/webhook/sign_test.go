package webhook

import (
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

var (
	oldKey    = "the old signing key, 32 bytes..."
	newKey    = "the new signing key, 32 bytes..."
	oldSecret = "whsec_" + base64.StdEncoding.EncodeToString([]byte(oldKey))
	newSecret = "whsec_" + base64.StdEncoding.EncodeToString([]byte(newKey))
)

// verify checks a delivery with the Standard Webhooks library, as a
// receiver would.
func verify(t *testing.T, secret string, header http.Header, body []byte) error {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	return wh.Verify(body, header)
}

// verifySignature is verify for a test that moves the clock: it leaves out
// the check that the timestamp is within 5 minutes of now.
func verifySignature(t *testing.T, secret string, header http.Header, body []byte) error {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	return wh.VerifyIgnoringTimestamp(body, header)
}

func headers(id string, ts time.Time, sig string) http.Header {
	h := http.Header{}
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(HeaderSignature, sig)
	return h
}

func TestSignMatchesTheLibrary(t *testing.T) {
	body := []byte(`{"id":"evt-1","type":"avatar.build.ready"}`)
	ts := time.Now()
	got, err := Sign(oldSecret, "evt-1", ts, body)
	if err != nil {
		t.Fatal(err)
	}
	wh, _ := standardwebhooks.NewWebhook(oldSecret)
	want, _ := wh.Sign("evt-1", ts, body)
	if got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	tests := []struct {
		name       string
		id, ts     string
		body       string
		wantVerify bool
	}{
		{"as signed", "evt-1", "", string(body), true},
		{"tampered body", "evt-1", "", strings.Replace(string(body), "ready", "error", 1), false},
		{"other id", "evt-2", "", string(body), false},
		{"other timestamp", "evt-1", strconv.FormatInt(ts.Unix()-1, 10), string(body), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := headers(tc.id, ts, got)
			if tc.ts != "" {
				h.Set(HeaderTimestamp, tc.ts)
			}
			if err := verify(t, oldSecret, h, []byte(tc.body)); (err == nil) != tc.wantVerify {
				t.Errorf("got verification error %v, want verified %v", err, tc.wantVerify)
			}
		})
	}
}

func TestSignRotation(t *testing.T) {
	body := []byte(`{"id":"evt-1"}`)
	ts := time.Now()
	sig, err := Sign(oldSecret+"  "+newSecret+"\n", "evt-1", ts, body)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(strings.Fields(sig)); n != 2 {
		t.Fatalf("got %d signatures in %q, want one per secret", n, sig)
	}
	other := "whsec_" + base64.StdEncoding.EncodeToString([]byte("a key nobody was given"))
	for _, tc := range []struct {
		name, secret string
		want         bool
	}{{"old only", oldSecret, true}, {"new only", newSecret, true}, {"neither", other, false}} {
		if err := verify(t, tc.secret, headers("evt-1", ts, sig), body); (err == nil) != tc.want {
			t.Errorf("receiver knowing %s: got %v, want verified %v", tc.name, err, tc.want)
		}
	}
}

func TestSignRefusesBadSecrets(t *testing.T) {
	tests := []struct{ name, secrets, want string }{
		{"empty", " ", "no signing secret"},
		{"no prefix", "c2VjcmV0LXdpdGhvdXQtcHJlZml4", "secret 1 of 1 is not whsec_"},
		{"not base64", "whsec_sekrit!value", "secret 1 of 1 is not whsec_"},
		{"empty key", "whsec_", "secret 1 of 1"},
		{"second of two", oldSecret + " whsec_sekrit!value", "secret 2 of 2 is not whsec_"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Sign(tc.secrets, "evt-1", time.Now(), nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
			for _, secret := range []string{"sekrit", "c2VjcmV0", oldSecret[6:]} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q contains the secret", err)
				}
			}
		})
	}
}
