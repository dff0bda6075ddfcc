package awsconfig

import (
	"context"
	"strings"
	"testing"
)

func TestFromEnv(t *testing.T) {
	env := map[string]string{"AWS_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "secret",
		"AWS_SESSION_TOKEN": "tok", "AWS_ENDPOINT_URL": "http://127.0.0.1:4566"}
	cfg, err := FromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	creds, err := cfg.Credentials.Retrieve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Region != "eu-west-1" || creds.AccessKeyID != "AKID" || creds.SessionToken != "tok" || *cfg.BaseEndpoint != "http://127.0.0.1:4566" {
		t.Errorf("got region %s creds %+v endpoint %v", cfg.Region, creds, cfg.BaseEndpoint)
	}
	_, err = FromEnv(func(string) string { return "" })
	if err == nil || !strings.Contains(err.Error(), "AWS_REGION") || !strings.Contains(err.Error(), "AWS_ACCESS_KEY_ID") {
		t.Errorf("got %v, want an error naming what is missing", err)
	}
}
