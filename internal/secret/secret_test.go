package secret

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"
)

type secrets map[string]string

func (s secrets) GetSecretValue(_ context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	v, ok := s[*in.SecretId]
	switch {
	case *in.SecretId == "forbidden":
		return nil, &smithy.GenericAPIError{Code: "AccessDeniedException", Message: "not authorized to perform: secretsmanager:GetSecretValue"}
	case !ok:
		return nil, &smithy.GenericAPIError{Code: "ResourceNotFoundException", Message: "Secrets Manager can't find the specified secret."}
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
	if err == nil || !strings.Contains(err.Error(), `"missing"`) || !strings.Contains(err.Error(), "create-secret --name missing") {
		t.Errorf("missing secret: got %v, want an error naming it and how to create it", err)
	}
	_, err = Read(context.Background(), sm, "forbidden")
	if err == nil || !strings.Contains(err.Error(), `"forbidden"`) || !strings.Contains(err.Error(), "secretsmanager:GetSecretValue") {
		t.Errorf("unreadable secret: got %v, want an error naming it and the permission", err)
	}
}
