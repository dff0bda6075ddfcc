// Package awsconfig builds the AWS SDK configuration of a Lambda function
// from the environment the Lambda runtime gives it.
//
// The SDK's config.LoadDefaultConfig also knows shared config files, SSO,
// IMDS and web identity, and links their clients into every binary: about
// 1.8 MB of each bootstrap, for sources a function never uses. In Lambda,
// the region and the execution role's credentials are environment
// variables, and that is all this reads.
package awsconfig

import (
	"errors"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// FromEnv returns the configuration for the region and credentials in the
// environment (AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
// AWS_SESSION_TOKEN), with AWS_ENDPOINT_URL as the endpoint of every
// service when set. getenv is os.Getenv in a function's main.
func FromEnv(getenv func(string) string) (aws.Config, error) {
	region := strings.TrimSpace(getenv("AWS_REGION"))
	if region == "" {
		region = strings.TrimSpace(getenv("AWS_DEFAULT_REGION"))
	}
	key, secret := getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY")
	var missing []string
	if region == "" {
		missing = append(missing, "AWS_REGION")
	}
	if key == "" || secret == "" {
		missing = append(missing, "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
	}
	if len(missing) > 0 {
		return aws.Config{}, errors.New("AWS configuration: " + strings.Join(missing, ", ") +
			" not set; the Lambda runtime sets them, elsewhere export them")
	}
	cfg := aws.Config{
		Region: region,
		Credentials: aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(
			key, secret, getenv("AWS_SESSION_TOKEN"))),
	}
	if ep := strings.TrimSpace(getenv("AWS_ENDPOINT_URL")); ep != "" {
		cfg.BaseEndpoint = aws.String(ep)
	}
	return cfg, nil
}
