// Package secret reads secrets from AWS Secrets Manager: the Mirako API
// token, once per function instance (CheckStatus at cold start, Submit when
// it first calls Mirako), and the webhook's signing secret. It is apart from
// awsconfig so that the functions that need no secret (Notify) do not link a
// Secrets Manager client.
package secret

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"
)

// Reader is the part of the Secrets Manager client Read uses.
type Reader interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// Read reads the Mirako API token; its caller keeps the value for the life
// of the function instance. Errors name the secret and how to fix it, never
// its value.
func Read(ctx context.Context, sm Reader, secretID string) (string, error) {
	value, err := ReadString(ctx, sm, secretID, "the Mirako API token", "TOKEN")
	if err == nil && value == "" {
		err = errors.New("secret " + secretID + " is empty; store the Mirako API token as its SecretString")
	}
	return value, err
}

// ReadString reads a secret's string, trimmed. what names what it holds and
// example stands for its value in the create-secret command the errors
// suggest; errors never contain the value.
func ReadString(ctx context.Context, sm Reader, secretID, what, example string) (string, error) {
	out, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(secretID)})
	if err != nil {
		var api smithy.APIError
		if errors.As(err, &api) {
			switch api.ErrorCode() {
			case "ResourceNotFoundException":
				return "", fmt.Errorf("secret %q does not exist; store %s in it "+
					"(aws secretsmanager create-secret --name %s --secret-string %s): %w", secretID, what, secretID, example, err)
			case "AccessDeniedException":
				return "", fmt.Errorf("the function's role may not read secret %q; grant it secretsmanager:GetSecretValue "+
					"on the secret (and kms:Decrypt on its key, if it has its own): %w", secretID, err)
			}
		}
		return "", fmt.Errorf("read secret %q: %w", secretID, err)
	}
	return strings.TrimSpace(aws.ToString(out.SecretString)), nil
}
