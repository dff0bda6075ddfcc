package local

import (
	"context"
	"encoding/json"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	avatarpipeline "github.com/avatar-pipeline/avatar-pipeline"
	"github.com/avatar-pipeline/avatar-pipeline/internal/pipeline"
	"github.com/avatar-pipeline/avatar-pipeline/internal/records"
	"github.com/avatar-pipeline/avatar-pipeline/statemachine"
)

// TestE2ELocalStackMatchesTemplate reads back what a running local stack
// created and compares it with the template: table keys and indexes, the
// state machine's substitutions, the event pattern, the functions'
// environment variables and timeouts. Drift between the two fails here.
func TestE2ELocalStackMatchesTemplate(t *testing.T) {
	t.Parallel()
	s := StartTest(t, Options{PollSeconds: 7, DeadlineSeconds: 600})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfg := s.AWSConfig()

	t.Run("table", func(t *testing.T) {
		want, err := avatarpipeline.TableSchema()
		if err != nil {
			t.Fatal(err)
		}
		db := dynamodb.NewFromConfig(cfg)
		out, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(s.Resources.Table)})
		if err != nil {
			t.Fatal(err)
		}
		if got := tableSchema(out.Table); !reflect.DeepEqual(got, want) {
			t.Errorf("got table %+v, want the template's %+v", got, want)
		}
		if want.Partition.Name != records.AttrBuildID {
			t.Errorf("got partition key %q, want %q", want.Partition.Name, records.AttrBuildID)
		}
		for _, ix := range []string{records.IndexByStatus, records.IndexByAvatar} {
			if !slices.ContainsFunc(want.Indexes, func(i avatarpipeline.Index) bool { return i.Name == ix }) {
				t.Errorf("template has no index %q, which records queries", ix)
			}
		}
		backups, err := db.DescribeContinuousBackups(ctx, &dynamodb.DescribeContinuousBackupsInput{TableName: aws.String(s.Resources.Table)})
		if err != nil {
			t.Fatal(err)
		}
		if got := backups.ContinuousBackupsDescription.PointInTimeRecoveryDescription.PointInTimeRecoveryStatus; got != ddbtypes.PointInTimeRecoveryStatusEnabled {
			t.Errorf("got point-in-time recovery %s, want ENABLED", got)
		}
	})

	t.Run("bucket", func(t *testing.T) {
		c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
		v, err := c.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: aws.String(s.Resources.Bucket)})
		if err != nil {
			t.Fatal(err)
		}
		if v.Status != s3types.BucketVersioningStatusEnabled {
			t.Errorf("got versioning %q, want Enabled", v.Status)
		}
		// moto does not report EventBridgeConfiguration back; every test
		// whose upload starts a build shows that the notifications are on.
	})

	t.Run("event pattern", func(t *testing.T) {
		want, err := avatarpipeline.EventPattern(s.Resources.Bucket)
		if err != nil {
			t.Fatal(err)
		}
		rule, err := eventbridge.NewFromConfig(cfg).DescribeRule(ctx, &eventbridge.DescribeRuleInput{Name: aws.String(s.Resources.RuleName)})
		if err != nil {
			t.Fatal(err)
		}
		if !jsonEqual(t, []byte(aws.ToString(rule.EventPattern)), want) {
			t.Errorf("got rule pattern %s, want the template's %s", aws.ToString(rule.EventPattern), want)
		}
	})

	t.Run("state machine", func(t *testing.T) {
		subs, err := avatarpipeline.Substitutions()
		if err != nil {
			t.Fatal(err)
		}
		if got, want := slices.Sorted(maps.Keys(subs)), statemachine.Placeholders(); !slices.Equal(got, want) {
			t.Errorf("got template substitutions %v, want the definition's placeholders %v", got, want)
		}
		out, err := sfn.NewFromConfig(cfg).DescribeStateMachine(ctx, &sfn.DescribeStateMachineInput{StateMachineArn: aws.String(s.Resources.StateMachineARN)})
		if err != nil {
			t.Fatal(err)
		}
		def := aws.ToString(out.Definition)
		if strings.Contains(def, "${") {
			t.Errorf("the running definition has an unsubstituted placeholder: %s", def)
		}
		for logicalID, name := range FunctionNames {
			arn := s.base.gw.FunctionARN(name)
			if _, ok := s.base.gw.function(arn); !ok {
				t.Errorf("%s (%s) is not served by the gateway", logicalID, arn)
			}
			if !slices.Contains(slices.Collect(maps.Values(subs)), logicalID) {
				continue
			}
			if !strings.Contains(def, `"`+arn+`"`) {
				t.Errorf("the running definition does not call %s at %s", logicalID, arn)
			}
		}
		if !strings.Contains(def, `"`+s.Resources.Table+`"`) {
			t.Errorf("the running definition does not name table %s", s.Resources.Table)
		}
	})

	t.Run("function environments", func(t *testing.T) {
		keys := map[string][]string{
			avatarpipeline.SubmitFunction:      pipeline.SubmitEnv,
			avatarpipeline.CheckStatusFunction: pipeline.CheckStatusEnv,
			avatarpipeline.NotifyFunction:      pipeline.NotifyEnv,
		}
		for logicalID, name := range FunctionNames {
			tmpl, err := avatarpipeline.FunctionEnvironment(logicalID)
			if err != nil {
				t.Fatal(err)
			}
			got := slices.Sorted(maps.Keys(s.Env[name]))
			if want := slices.Sorted(maps.Keys(tmpl)); !slices.Equal(got, want) {
				t.Errorf("%s: got local variables %v, want the template's %v", name, got, want)
			}
			if want := slices.Sorted(slices.Values(keys[logicalID])); !slices.Equal(got, want) {
				t.Errorf("%s: got local variables %v, want the ones its config reads %v", name, got, want)
			}
			for k, v := range s.Env[name] {
				if v == avatarpipeline.TopicResource || v == avatarpipeline.TableResource || v == avatarpipeline.BucketResource {
					t.Errorf("%s: %s=%s is a template logical id, not a local resource", name, k, v)
				}
			}
			timeout, err := avatarpipeline.FunctionTimeout(logicalID)
			if err != nil {
				t.Fatal(err)
			}
			if fn, _ := s.base.gw.function(name); fn.Timeout != timeout {
				t.Errorf("%s: got timeout %s, want the template's %s", name, fn.Timeout, timeout)
			}
		}
		want := map[string]string{
			pipeline.EnvBuildsTable:  s.Resources.Table,
			pipeline.EnvMirakoURL:    s.MirakoURL,
			pipeline.EnvHeadStart:    "7",
			pipeline.EnvPollInterval: "7",
			pipeline.EnvDeadline:     "600",
		}
		for k, v := range want {
			if got := s.Env[SubmitFunctionName][k]; got != v {
				t.Errorf("submit: got %s=%q, want %q", k, got, v)
			}
		}
		if got := s.Env[NotifyFunctionName][pipeline.EnvTopicARN]; got != s.Resources.TopicARN {
			t.Errorf("notify: got %s=%q, want %q", pipeline.EnvTopicARN, got, s.Resources.TopicARN)
		}
		secret, err := secretsmanager.NewFromConfig(cfg).GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{
			SecretId: aws.String(s.Env[CheckFunctionName][pipeline.EnvMirakoSecretID]),
		})
		if err != nil {
			t.Fatalf("the functions' secret: %v", err)
		}
		if aws.ToString(secret.SecretString) == "" {
			t.Error("got an empty token secret")
		}
	})

	t.Run("webhook subscription", func(t *testing.T) {
		subs, err := sns.NewFromConfig(cfg).ListSubscriptionsByTopic(ctx, &sns.ListSubscriptionsByTopicInput{TopicArn: aws.String(s.Resources.TopicARN)})
		if err != nil {
			t.Fatal(err)
		}
		if len(subs.Subscriptions) != 1 || aws.ToString(subs.Subscriptions[0].Endpoint) != s.Endpoint+WebhookPath {
			t.Errorf("got subscriptions %+v, want the webhook at %s", subs.Subscriptions, s.Endpoint+WebhookPath)
		}
	})
}

// tableSchema reads a described table back into the template's terms.
func tableSchema(d *ddbtypes.TableDescription) avatarpipeline.Table {
	types := map[string]string{}
	for _, a := range d.AttributeDefinitions {
		types[aws.ToString(a.AttributeName)] = string(a.AttributeType)
	}
	keys := func(ks []ddbtypes.KeySchemaElement) (avatarpipeline.Key, *avatarpipeline.Key) {
		var part avatarpipeline.Key
		var sort *avatarpipeline.Key
		for _, k := range ks {
			key := avatarpipeline.Key{Name: aws.ToString(k.AttributeName), Type: types[aws.ToString(k.AttributeName)]}
			if k.KeyType == ddbtypes.KeyTypeHash {
				part = key
			} else {
				sort = &key
			}
		}
		return part, sort
	}
	var t avatarpipeline.Table
	t.Partition, t.Sort = keys(d.KeySchema)
	if d.BillingModeSummary != nil {
		t.BillingMode = string(d.BillingModeSummary.BillingMode)
	}
	for _, g := range d.GlobalSecondaryIndexes {
		ix := avatarpipeline.Index{Name: aws.ToString(g.IndexName)}
		ix.Partition, ix.Sort = keys(g.KeySchema)
		if g.Projection != nil {
			ix.Projection = string(g.Projection.ProjectionType)
		}
		t.Indexes = append(t.Indexes, ix)
	}
	slices.SortFunc(t.Indexes, func(a, b avatarpipeline.Index) int { return strings.Compare(a.Name, b.Name) })
	return t
}

// jsonEqual compares two JSON documents by value.
func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var va, vb any
	if err := json.Unmarshal(a, &va); err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	if err := json.Unmarshal(b, &vb); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return reflect.DeepEqual(va, vb)
}
