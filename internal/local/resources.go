package local

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/avatar-pipeline/avatar-pipeline/internal/pipeline/webhook"
	"github.com/avatar-pipeline/avatar-pipeline/internal/records"
)

// The local stack's region and account: moto's defaults, so that the ARNs
// moto makes and the ones the stack computes agree.
const (
	Region  = "us-east-1"
	Account = "123456789012"
)

// Local names of the resources and functions. The template leaves names to
// CloudFormation; locally they are fixed, so that `avatarctl --local` and
// `aws --endpoint-url` users can name them.
const (
	BucketName          = "avatar-portraits"
	TableName           = "avatar-builds"
	TopicName           = "avatar-build-events"
	StateMachineName    = "avatar-build"
	EventQueueName      = "avatar-upload-events"
	RuleName            = "avatar-object-created"
	WebhookQueueName    = "avatar-webhook-events"
	WebhookSecretName   = "avatar-pipeline/webhook-secret"
	SubmitFunctionName  = "avatar-submit"
	CheckFunctionName   = "avatar-checkstatus"
	NotifyFunctionName  = "avatar-notify"
	SweepFunctionName   = "avatar-sweep"
	WebhookFunctionName = "avatar-webhook"

	// workflowRole is the role the state machine claims; moto does not
	// check it.
	workflowRole = "arn:aws:iam::" + Account + ":role/avatar-build-workflow"
	// maxReceives is how often the pump may fail to start an execution for
	// one event before the queue parks it in the dead-letter queue, as
	// EventBridge's retry policy and DeadLetterConfig do in AWS.
	maxReceives = 5
	// visibilityTimeout is how long a received event stays hidden before
	// another receive may retry it.
	visibilityTimeout = 10
)

// Resources names everything the local stack created.
type Resources struct {
	Bucket           string
	Table            string
	TopicARN         string
	SecretARN        string
	WebhookSecretARN string
	StateMachineARN  string
	EventQueueURL    string
	DeadLetterURL    string
	WebhookQueueURL  string
	WebhookDeadURL   string
}

// Config returns an AWS configuration for the endpoint: the local region,
// static dummy credentials, and nothing read from the environment or from
// ~/.aws (a developer's profile must not redirect local calls to AWS).
func Config(endpoint string) aws.Config {
	return aws.Config{
		Region:       Region,
		Credentials:  credentials.NewStaticCredentialsProvider("local", "local", ""),
		BaseEndpoint: aws.String(endpoint),
	}
}

// ProvisionInput is what Provision creates.
type ProvisionInput struct {
	// Definition is the state machine's Amazon States Language, rendered.
	Definition string
	// Token is stored as the Mirako token secret's SecretString.
	Token string
	// SecretID is the secret's name.
	SecretID string
	// WebhookSecret is stored as the webhook signing secret's SecretString.
	WebhookSecret string
}

// Provision creates the stack's resources through the AWS APIs at cfg's
// endpoint, shaped by the template's definitions: the versioned bucket with
// EventBridge notifications, the event rule (the template's pattern) with
// an SQS queue as its target in place of the state machine, the table with
// the template's keys and indexes, the topic, the secrets, the state
// machine and the webhook's queue.
func Provision(ctx context.Context, cfg aws.Config, in ProvisionInput) (Resources, error) {
	r := Resources{Bucket: BucketName, Table: TableName}
	sm, q := secretsmanager.NewFromConfig(cfg), sqs.NewFromConfig(cfg)
	var err error
	if r.SecretARN, err = createSecret(ctx, sm, in.SecretID, in.Token); err != nil {
		return r, err
	}
	if err := createTable(ctx, dynamodb.NewFromConfig(cfg), r.Table); err != nil {
		return r, err
	}
	topic, err := sns.NewFromConfig(cfg).CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(TopicName)})
	if err != nil {
		return r, fmt.Errorf("create topic %s: %w", TopicName, err)
	}
	r.TopicARN = aws.ToString(topic.TopicArn)
	if err := createBucket(ctx, s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true }), r.Bucket); err != nil {
		return r, err
	}
	if r.EventQueueURL, r.DeadLetterURL, err = createQueue(ctx, q, EventQueueName, maxReceives, visibilityTimeout); err != nil {
		return r, err
	}
	if err := createRule(ctx, eventbridge.NewFromConfig(cfg), r.Bucket); err != nil {
		return r, err
	}
	out, err := sfn.NewFromConfig(cfg).CreateStateMachine(ctx, &sfn.CreateStateMachineInput{
		Name:       aws.String(StateMachineName),
		Definition: aws.String(in.Definition),
		RoleArn:    aws.String(workflowRole),
		Type:       sfntypes.StateMachineTypeStandard,
	})
	if err != nil {
		return r, fmt.Errorf("create state machine %s: %w", StateMachineName, err)
	}
	r.StateMachineARN = aws.ToString(out.StateMachineArn)

	// The template's webhook delivery: the signing secret, and the queue
	// subscribed to the topic, raw, whose dead-letter queue takes an event
	// after webhook.MaxAttempts receives.
	if r.WebhookSecretARN, err = createSecret(ctx, sm, WebhookSecretName, in.WebhookSecret); err != nil {
		return r, err
	}
	if r.WebhookQueueURL, r.WebhookDeadURL, err = createQueue(ctx, q, WebhookQueueName, webhook.MaxAttempts, 180); err != nil {
		return r, err
	}
	if _, err := sns.NewFromConfig(cfg).Subscribe(ctx, &sns.SubscribeInput{
		TopicArn: aws.String(r.TopicARN), Protocol: aws.String("sqs"), Endpoint: aws.String(arn("sqs", WebhookQueueName)),
		Attributes: map[string]string{"RawMessageDelivery": "true"},
	}); err != nil {
		return r, fmt.Errorf("subscribe queue %s to %s: %w", WebhookQueueName, TopicName, err)
	}
	return r, nil
}

// createRule makes the template's event rule for the bucket, with the
// event queue as its target in place of the state machine.
func createRule(ctx context.Context, eb *eventbridge.Client, bucket string) error {
	if _, err := eb.PutRule(ctx, &eventbridge.PutRuleInput{
		Name:         aws.String(RuleName),
		EventPattern: aws.String(EventPattern(bucket)),
		Description:  aws.String("S3 Object Created in " + bucket + ": one build per upload (locally through a queue)"),
	}); err != nil {
		return fmt.Errorf("create rule %s: %w", RuleName, err)
	}
	if _, err := eb.PutTargets(ctx, &eventbridge.PutTargetsInput{
		Rule:    aws.String(RuleName),
		Targets: []ebtypes.Target{{Id: aws.String("pump"), Arn: aws.String(arn("sqs", EventQueueName))}},
	}); err != nil {
		return fmt.Errorf("target rule %s at queue %s: %w", RuleName, EventQueueName, err)
	}
	return nil
}

// createSecret stores value as the secret name and returns its ARN.
func createSecret(ctx context.Context, sm *secretsmanager.Client, name, value string) (string, error) {
	out, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(value)})
	if err != nil {
		return "", fmt.Errorf("create secret %s: %w", name, err)
	}
	return aws.ToString(out.ARN), nil
}

// EventPattern is the template's event rule pattern for the bucket, with
// PortraitPrefix at its default: every object (or object version) created
// in it that is not empty.
func EventPattern(bucket string) string {
	b, _ := json.Marshal(map[string]any{"source": []string{"aws.s3"}, "detail-type": []string{"Object Created"},
		"detail": map[string]any{"bucket": map[string]any{"name": []string{bucket}},
			"object": map[string]any{"size": []any{map[string]any{"numeric": []any{">", 0}}}}}})
	return string(b)
}

// TableInput is the template's builds table: partition key build_id, the
// by-status (status, created_at) and by-avatar (avatar_id) indexes
// projecting everything, on demand.
func TableInput(name string) *dynamodb.CreateTableInput {
	attr := func(n string) ddbtypes.AttributeDefinition {
		return ddbtypes.AttributeDefinition{AttributeName: aws.String(n), AttributeType: ddbtypes.ScalarAttributeTypeS}
	}
	key := func(n string, t ddbtypes.KeyType) ddbtypes.KeySchemaElement {
		return ddbtypes.KeySchemaElement{AttributeName: aws.String(n), KeyType: t}
	}
	all := &ddbtypes.Projection{ProjectionType: ddbtypes.ProjectionTypeAll}
	return &dynamodb.CreateTableInput{
		TableName:            aws.String(name),
		BillingMode:          ddbtypes.BillingModePayPerRequest,
		AttributeDefinitions: []ddbtypes.AttributeDefinition{attr(records.AttrBuildID), attr(records.AttrStatus), attr(records.AttrCreatedAt), attr(records.AttrAvatarID)},
		KeySchema:            []ddbtypes.KeySchemaElement{key(records.AttrBuildID, ddbtypes.KeyTypeHash)},
		GlobalSecondaryIndexes: []ddbtypes.GlobalSecondaryIndex{
			{IndexName: aws.String(records.IndexByStatus), Projection: all,
				KeySchema: []ddbtypes.KeySchemaElement{key(records.AttrStatus, ddbtypes.KeyTypeHash), key(records.AttrCreatedAt, ddbtypes.KeyTypeRange)}},
			{IndexName: aws.String(records.IndexByAvatar), Projection: all,
				KeySchema: []ddbtypes.KeySchemaElement{key(records.AttrAvatarID, ddbtypes.KeyTypeHash)}},
		},
	}
}

// createTable creates the builds table and turns point-in-time recovery
// on, as the template does.
func createTable(ctx context.Context, db *dynamodb.Client, name string) error {
	if _, err := db.CreateTable(ctx, TableInput(name)); err != nil {
		return fmt.Errorf("create table %s: %w", name, err)
	}
	if err := dynamodb.NewTableExistsWaiter(db).Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)}, 30*time.Second); err != nil {
		return fmt.Errorf("wait for table %s: %w", name, err)
	}
	if _, err := db.UpdateContinuousBackups(ctx, &dynamodb.UpdateContinuousBackupsInput{
		TableName: aws.String(name),
		PointInTimeRecoverySpecification: &ddbtypes.PointInTimeRecoverySpecification{
			PointInTimeRecoveryEnabled: aws.Bool(true),
		},
	}); err != nil {
		return fmt.Errorf("enable point-in-time recovery on %s: %w", name, err)
	}
	return nil
}

// createBucket creates the portrait bucket as the template does, minus its
// TLS-only policy (the local endpoint is plain HTTP): versioning on,
// EventBridge notifications on, public access blocked, SSE-S3.
func createBucket(ctx context.Context, c *s3.Client, name string) error {
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		return fmt.Errorf("create bucket %s: %w", name, err)
	}
	if _, err := c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{
		Bucket:                  aws.String(name),
		VersioningConfiguration: &s3types.VersioningConfiguration{Status: s3types.BucketVersioningStatusEnabled},
	}); err != nil {
		return fmt.Errorf("turn versioning on for bucket %s: %w", name, err)
	}
	if _, err := c.PutBucketNotificationConfiguration(ctx, &s3.PutBucketNotificationConfigurationInput{
		Bucket: aws.String(name),
		NotificationConfiguration: &s3types.NotificationConfiguration{
			EventBridgeConfiguration: &s3types.EventBridgeConfiguration{},
		},
	}); err != nil {
		return fmt.Errorf("turn EventBridge notifications on for bucket %s: %w", name, err)
	}
	if _, err := c.PutPublicAccessBlock(ctx, &s3.PutPublicAccessBlockInput{
		Bucket: aws.String(name),
		PublicAccessBlockConfiguration: &s3types.PublicAccessBlockConfiguration{
			BlockPublicAcls: aws.Bool(true), BlockPublicPolicy: aws.Bool(true),
			IgnorePublicAcls: aws.Bool(true), RestrictPublicBuckets: aws.Bool(true),
		},
	}); err != nil {
		return fmt.Errorf("block public access to bucket %s: %w", name, err)
	}
	if _, err := c.PutBucketEncryption(ctx, &s3.PutBucketEncryptionInput{
		Bucket: aws.String(name),
		ServerSideEncryptionConfiguration: &s3types.ServerSideEncryptionConfiguration{
			Rules: []s3types.ServerSideEncryptionRule{{
				ApplyServerSideEncryptionByDefault: &s3types.ServerSideEncryptionByDefault{SSEAlgorithm: s3types.ServerSideEncryptionAes256},
			}},
		},
	}); err != nil {
		return fmt.Errorf("turn encryption on for bucket %s: %w", name, err)
	}
	return nil
}

// createQueue creates the queue name, with visibility seconds of
// visibility timeout, and its dead-letter queue, name-dead, which takes a
// message after maxReceives receives; it returns both URLs.
func createQueue(ctx context.Context, q *sqs.Client, name string, maxReceives, visibility int) (url, deadURL string, err error) {
	dead, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name + "-dead")})
	if err != nil {
		return "", "", fmt.Errorf("create queue %s-dead: %w", name, err)
	}
	redrive, _ := json.Marshal(map[string]any{"deadLetterTargetArn": arn("sqs", name+"-dead"), "maxReceiveCount": maxReceives})
	out, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: map[string]string{
		string(sqstypes.QueueAttributeNameRedrivePolicy):     string(redrive),
		string(sqstypes.QueueAttributeNameVisibilityTimeout): strconv.Itoa(visibility),
	}})
	if err != nil {
		return "", "", fmt.Errorf("create queue %s: %w", name, err)
	}
	return aws.ToString(out.QueueUrl), aws.ToString(dead.QueueUrl), nil
}
