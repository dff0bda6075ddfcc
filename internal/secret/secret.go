// Package secret reads the Mirako API token from AWS Secrets Manager, once
// per cold start. It is apart from awsconfig so that the functions that need
// no secret (Notify) do not link a Secrets Manager client.
package secret

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// Reader is the part of the Secrets Manager client Read uses.
type Reader interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// Read reads a secret's string, such as the Mirako API token, once
// at cold start. Errors name the secret, never its value.
func Read(ctx context.Context, sm Reader, secretID string) (string, error) {
	out, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(secretID)})
	if err != nil {
		return "", fmt.Errorf("read secret %q: %w", secretID, err)
	}
	value := strings.TrimSpace(aws.ToString(out.SecretString))
	if value == "" {
		return "", errors.New("secret " + secretID + " is empty; store the Mirako API token as its SecretString")
	}
	return value, nil
}
