package secret

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

type secrets map[string]string

func (s secrets) GetSecretValue(_ context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	v, ok := s[*in.SecretId]
	if !ok {
		return nil, errors.New("ResourceNotFoundException: no such secret")
	}
	return &secretsmanager.GetSecretValueOutput{SecretString: &v}, nil
}

func TestRead(t *testing.T) {
	sm := secrets{"tok": "  mi-abc\n", "empty": " "}
	if got, err := Read(context.Background(), sm, "tok"); err != nil || got != "mi-abc" {
		t.Errorf("got %q, %v, want mi-abc", got, err)
	}
	_, err := Read(context.Background(), sm, "empty")
	if err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("empty secret: got %v", err)
	}
	_, err = Read(context.Background(), sm, "missing")
	if err == nil || !strings.Contains(err.Error(), `"missing"`) {
		t.Errorf("missing secret: got %v, want an error naming it", err)
	}
}
