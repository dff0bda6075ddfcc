package pipeline

import (
	"reflect"
	"testing"
)

func TestParseObjectCreated(t *testing.T) {
	tests := []struct {
		name, event           string
		wantKeys              []string
		wantETag, wantVersion string
		wantErr               bool
	}{
		{name: "AWS shape, encoded key",
			event:    `{"source":"aws.s3","detail-type":"Object Created","detail":{"bucket":{"name":"b"},"object":{"key":"portraits/red+flower%2B1+%C3%A9.jpg","size":5,"etag":"abc","version-id":"v1"}}}`,
			wantKeys: []string{"portraits/red flower+1 é.jpg", "portraits/red+flower%2B1+%C3%A9.jpg"}, wantETag: "abc", wantVersion: "v1"},
		{name: "plain key with unicode",
			event:    `{"source":"aws.s3","detail-type":"Object Created","detail":{"bucket":{"name":"b"},"object":{"key":"a/b/Zoë.png","size":5,"eTag":"e2","version-id":null}}}`,
			wantKeys: []string{"a/b/Zoë.png"}, wantETag: "e2"},
		{name: "literal percent that does not decode",
			event:    `{"source":"aws.s3","detail-type":"Object Created","detail":{"bucket":{"name":"b"},"object":{"key":"100%.jpg","etag":"e"}}}`,
			wantKeys: []string{"100%.jpg"}, wantETag: "e"},
		{name: "version null", event: `{"source":"aws.s3","detail-type":"Object Created","detail":{"bucket":{"name":"b"},"object":{"key":"k","etag":"e","version-id":"null"}}}`,
			wantKeys: []string{"k"}, wantETag: "e"},
		{name: "wrong source", event: `{"source":"aws.ec2","detail-type":"Object Created","detail":{}}`, wantErr: true},
		{name: "no key", event: `{"source":"aws.s3","detail-type":"Object Created","detail":{"bucket":{"name":"b"},"object":{}}}`, wantErr: true},
		{name: "not JSON", event: `{`, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := ParseObjectCreated([]byte(tc.event))
			if (err != nil) != tc.wantErr {
				t.Fatalf("got error %v, want error %v", err, tc.wantErr)
			}
			if tc.wantErr {
				return
			}
			if got := ev.KeyCandidates(); !reflect.DeepEqual(got, tc.wantKeys) {
				t.Errorf("got keys %q, want %q", got, tc.wantKeys)
			}
			if ev.Detail.Object.ETag != tc.wantETag || ev.Detail.Object.VersionID != tc.wantVersion {
				t.Errorf("got etag %q version %q, want %q %q", ev.Detail.Object.ETag, ev.Detail.Object.VersionID, tc.wantETag, tc.wantVersion)
			}
		})
	}
}

func TestDefaultName(t *testing.T) {
	for in, want := range map[string]string{"a/b/Jane Doe.jpg": "Jane Doe", "x.tar.png": "x.tar", "noext": "noext", ".hidden": ".hidden", "dir/": ""} {
		if got := DefaultName(in); got != want {
			t.Errorf("DefaultName(%q): got %q, want %q", in, got, want)
		}
	}
}
