package webhook

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// Standard Webhooks headers, set on every delivery.
const (
	HeaderID        = standardwebhooks.HeaderWebhookID
	HeaderTimestamp = standardwebhooks.HeaderWebhookTimestamp
	HeaderSignature = standardwebhooks.HeaderWebhookSignature
)

// secretPrefix starts a Standard Webhooks secret; the rest is the key in
// base64.
const secretPrefix = "whsec_"

// Sign returns the webhook-signature header for a delivery of body with
// the given webhook-id and timestamp. secrets holds one or more whsec_
// secrets separated by spaces, as during a rotation, and the header then
// carries one v1 signature per secret, so a receiver that knows either
// secret verifies. Errors never contain the secrets.
func Sign(secrets, id string, ts time.Time, body []byte) (string, error) {
	keys, err := parseSecrets(secrets)
	if err != nil {
		return "", err
	}
	return sign(keys, id, ts, body), nil
}

// sign computes one v1 signature per key with the Standard Webhooks
// library, whose NewWebhookRaw and Sign never fail.
func sign(keys [][]byte, id string, ts time.Time, body []byte) string {
	sigs := make([]string, len(keys))
	for i, key := range keys {
		wh, _ := standardwebhooks.NewWebhookRaw(key)
		sigs[i], _ = wh.Sign(id, ts, body)
	}
	return strings.Join(sigs, " ")
}

// parseSecrets decodes space-separated whsec_ secrets into keys. Its
// errors say which secret is wrong by position, never by value.
func parseSecrets(s string) ([][]byte, error) {
	fields := strings.Fields(s)
	if len(fields) == 0 {
		return nil, errors.New("no signing secret; store one whsec_ secret, or several separated by spaces while rotating")
	}
	keys := make([][]byte, len(fields))
	for i, f := range fields {
		b64, ok := strings.CutPrefix(f, secretPrefix)
		key, err := base64.StdEncoding.DecodeString(b64)
		if !ok || err != nil || len(key) == 0 {
			return nil, fmt.Errorf("signing secret %d of %d is not whsec_ followed by base64; "+
				"make one with: echo whsec_$(openssl rand -base64 32)", i+1, len(fields))
		}
		keys[i] = key
	}
	return keys, nil
}
