package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/spf13/cobra"

	"github.com/avatar-pipeline/avatar-pipeline/internal/records"
)

type retryOptions struct {
	force bool
	startOptions
}

// retried is what `retry --json` prints without --wait.
type retried struct {
	BuildID      string `json:"build_id"`
	RetryOf      string `json:"retry_of"`
	ExecutionARN string `json:"execution_arn"`
}

func newRetryCmd(g *globalOptions) *cobra.Command {
	o := retryOptions{}
	cmd := &cobra.Command{
		Use:   "retry ID",
		Short: "Build the avatar of a build's portrait again",
		Long: `Start a new build of the same uploaded object as the build ID names (a
build id, a unique prefix of one, or an avatar id), outside the pipeline's
deduplication: the workflow is started with the object's "Object Created"
event plus "retry_of", and the new build's record names the build it
retries. Print the new build's id.

A build that has not ended is retried only with --force. With --wait,
follow the new build as 'avatarctl wait' does.`,
		Example: `  avatarctl retry 3f2a9c1b
  avatarctl retry --wait 3f2a9c1b`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: g.runE(func(cmd *cobra.Command, args []string) error {
			if err := o.waitOptions.check(); err != nil {
				return usageError(cmd, err)
			}
			c, err := g.connect(cmd.Context())
			if err != nil {
				return err
			}
			rec, err := find(cmd.Context(), c, args[0])
			if err != nil {
				return err
			}
			if !rec.Status.Terminal() && !o.force {
				return fmt.Errorf("build %s is %s and has not ended: retry it once it has, or pass --force to start another build of the same object now",
					rec.BuildID, rec.Status)
			}
			input, err := retryEvent(rec, c.res.StateMachineARN, time.Now())
			if err != nil {
				return err
			}
			started, err := c.sfn.StartExecution(cmd.Context(), &sfn.StartExecutionInput{
				StateMachineArn: aws.String(c.res.StateMachineARN),
				Name:            aws.String(executionName(rec.BuildID, time.Now())),
				Input:           aws.String(string(input)),
			})
			if err != nil {
				return fmt.Errorf("start a retry of build %s: %w", rec.BuildID, err)
			}
			r := retried{
				BuildID:      records.RetryBuildID(rec.BuildID, aws.ToString(started.ExecutionArn)),
				RetryOf:      rec.BuildID,
				ExecutionARN: aws.ToString(started.ExecutionArn),
			}
			return o.report(cmd, c, r.BuildID, fmt.Sprintf("Retrying build %s of s3://%s/%s", rec.BuildID, rec.Bucket, rec.Key), r)
		}),
	}
	f := cmd.Flags()
	f.BoolVar(&o.wait, "wait", false, "wait for the new build to end, showing its progress")
	f.BoolVar(&o.json, "json", false, "print the new build (build_id, retry_of, execution_arn) as JSON; with --wait, its final record")
	f.BoolVar(&o.force, "force", false, "retry a build that has not ended yet")
	o.waitOptions.addFlags(f)
	return cmd
}

// objectCreated is an EventBridge "Object Created" event from Amazon S3, in
// the shape EventBridge delivers it, plus the retry_of field `retry` adds.
type objectCreated struct {
	Version    string   `json:"version"`
	ID         string   `json:"id"`
	DetailType string   `json:"detail-type"`
	Source     string   `json:"source"`
	Account    string   `json:"account"`
	Time       string   `json:"time"`
	Region     string   `json:"region"`
	Resources  []string `json:"resources"`
	Detail     struct {
		Version string `json:"version"`
		Bucket  struct {
			Name string `json:"name"`
		} `json:"bucket"`
		Object struct {
			Key       string `json:"key"`
			Size      int64  `json:"size"`
			ETag      string `json:"etag"`
			VersionID string `json:"version-id,omitempty"`
		} `json:"object"`
		RequestID string `json:"request-id"`
		Requester string `json:"requester"`
		Reason    string `json:"reason"`
	} `json:"detail"`
	RetryOf string `json:"retry_of"`
}

// retryEvent is the workflow input that retries rec: the "Object Created"
// event of rec's object, with retry_of set to rec's build id. The region
// and account are the state machine's.
func retryEvent(rec records.Record, stateMachineARN string, now time.Time) ([]byte, error) {
	if rec.Bucket == "" || rec.Key == "" {
		return nil, fmt.Errorf("build %s names no object (bucket %q, key %q): there is nothing to retry", rec.BuildID, rec.Bucket, rec.Key)
	}
	var e objectCreated
	e.Version = "0"
	e.ID = randomUUID()
	e.DetailType = "Object Created"
	e.Source = "aws.s3"
	// arn:aws:states:REGION:ACCOUNT:stateMachine:NAME
	if parts := strings.Split(stateMachineARN, ":"); len(parts) >= 5 {
		e.Region, e.Account = parts[3], parts[4]
	}
	e.Time = now.UTC().Format(time.RFC3339)
	e.Resources = []string{"arn:aws:s3:::" + rec.Bucket}
	e.Detail.Version = "0"
	e.Detail.Bucket.Name = rec.Bucket
	e.Detail.Object.Key = eventKey(rec.Key)
	e.Detail.Object.Size = rec.Size
	e.Detail.Object.ETag = rec.ETag
	e.Detail.Object.VersionID = rec.VersionID
	e.Detail.RequestID = randomHex(8)
	e.Detail.Requester = "avatarctl"
	e.Detail.Reason = "PutObject"
	e.RetryOf = rec.BuildID
	return json.Marshal(e)
}

// eventKey encodes a key as S3 event notifications do: form-encoded ("red
// flower.jpg" becomes "red+flower.jpg"), with slashes kept.
func eventKey(key string) string {
	return strings.ReplaceAll(url.QueryEscape(key), "%2F", "/")
}

// executionName names a retry's execution: readable, and unique.
func executionName(buildID string, now time.Time) string {
	return fmt.Sprintf("retry-%s-%s-%s", buildID[:min(len(buildID), 12)], now.UTC().Format("20060102T150405Z"), randomHex(4))
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// randomUUID returns a version 4 UUID, the form of EventBridge event ids.
func randomUUID() string {
	b := make([]byte, 16)
	rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
