package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	smithyrand "github.com/aws/smithy-go/rand"
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
			c, rec, err := g.find(cmd.Context(), args[0])
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

// retryInput is the workflow input of a retry: an EventBridge event, plus
// the retry_of field the pipeline reads.
type retryInput struct {
	events.EventBridgeEvent
	RetryOf string `json:"retry_of"`
}

// retryEvent is the workflow input that retries rec: the "Object Created"
// event of rec's object, in the shape S3 sends it to EventBridge, with
// retry_of set to rec's build id. The region and account are the state
// machine's.
func retryEvent(rec records.Record, stateMachineARN string, now time.Time) ([]byte, error) {
	if rec.Bucket == "" || rec.Key == "" {
		return nil, fmt.Errorf("build %s names no object (bucket %q, key %q): there is nothing to retry", rec.BuildID, rec.Bucket, rec.Key)
	}
	object := map[string]any{"key": eventKey(rec.Key), "size": rec.Size, "etag": rec.ETag}
	if rec.VersionID != "" {
		object["version-id"] = rec.VersionID
	}
	detail, err := json.Marshal(map[string]any{"version": "0", "bucket": map[string]string{"name": rec.Bucket}, "object": object,
		"request-id": randomHex(8), "requester": "avatarctl", "reason": "PutObject"})
	if err != nil {
		return nil, err
	}
	id, err := smithyrand.NewUUID(rand.Reader).GetUUID()
	if err != nil {
		return nil, err
	}
	e := retryInput{RetryOf: rec.BuildID}
	e.Version, e.ID, e.DetailType, e.Source = "0", id, "Object Created", "aws.s3"
	// arn:aws:states:REGION:ACCOUNT:stateMachine:NAME
	if parts := strings.Split(stateMachineARN, ":"); len(parts) >= 5 {
		e.Region, e.AccountID = parts[3], parts[4]
	}
	e.Time = now.UTC().Truncate(time.Second)
	e.Resources = []string{"arn:aws:s3:::" + rec.Bucket}
	e.Detail = detail
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
