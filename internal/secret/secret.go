// Package secret reads the Mirako API token from AWS Secrets Manager, once
// per function instance: CheckStatus at cold start, Submit when it first
// calls Mirako. It is apart from awsconfig so that the functions that need
// no secret (Notify) do not link a Secrets Manager client.
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

// Read reads a secret's string, such as the Mirako API token; its caller
// keeps the value for the life of the function instance. Errors name the
// secret and how to fix it, never its value.
func Read(ctx context.Context, sm Reader, secretID string) (string, error) {
	out, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(secretID)})
	if err != nil {
		var api smithy.APIError
		if errors.As(err, &api) {
			switch api.ErrorCode() {
			case "ResourceNotFoundException":
				return "", fmt.Errorf("secret %q does not exist; store the Mirako API token in it "+
					"(aws secretsmanager create-secret --name %s --secret-string TOKEN): %w", secretID, secretID, err)
			case "AccessDeniedException":
				return "", fmt.Errorf("the function's role may not read secret %q; grant it secretsmanager:GetSecretValue "+
					"on the secret (and kms:Decrypt on its key, if it has its own): %w", secretID, err)
			}
		}
		return "", fmt.Errorf("read secret %q: %w", secretID, err)
	}
	value := strings.TrimSpace(aws.ToString(out.SecretString))
	if value == "" {
		return "", errors.New("secret " + secretID + " is empty; store the Mirako API token as its SecretString")
	}
	return value, nil
}
