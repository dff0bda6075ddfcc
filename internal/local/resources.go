package local

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
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

	avatarpipeline "github.com/avatar-pipeline/avatar-pipeline"
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
	DeadLetterQueueName = "avatar-upload-events-dead"
	RuleName            = "avatar-object-created"
	SubmitFunctionName  = "avatar-submit"
	CheckFunctionName   = "avatar-checkstatus"
	NotifyFunctionName  = "avatar-notify"

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

// FunctionNames maps the template's function logical ids to local names.
var FunctionNames = map[string]string{
	avatarpipeline.SubmitFunction:      SubmitFunctionName,
	avatarpipeline.CheckStatusFunction: CheckFunctionName,
	avatarpipeline.NotifyFunction:      NotifyFunctionName,
}

// Resources names everything the local stack created.
type Resources struct {
	Bucket          string
	Table           string
	TopicARN        string
	SecretID        string
	StateMachineARN string
	EventQueueURL   string
	DeadLetterURL   string
	RuleName        string
	WebhookSubARN   string
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
	// WebhookURL, when set, is subscribed to the topic over HTTP.
	WebhookURL string
}

// Provision creates the stack's resources through the AWS APIs at cfg's
// endpoint, shaped by the template's definitions: the versioned bucket with
// EventBridge notifications, the event rule (the template's pattern) with
// an SQS queue as its target in place of the state machine, the table with
// the template's keys and indexes, the topic, the secret and the state
// machine.
func Provision(ctx context.Context, cfg aws.Config, in ProvisionInput) (Resources, error) {
	r := Resources{Bucket: BucketName, Table: TableName, SecretID: in.SecretID, RuleName: RuleName}

	sm := secretsmanager.NewFromConfig(cfg)
	if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name:         aws.String(in.SecretID),
		SecretString: aws.String(in.Token),
	}); err != nil {
		return r, fmt.Errorf("create secret %s: %w", in.SecretID, err)
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

	q := sqs.NewFromConfig(cfg)
	r.DeadLetterURL, err = createQueue(ctx, q, DeadLetterQueueName, nil)
	if err != nil {
		return r, err
	}
	deadARN := "arn:aws:sqs:" + Region + ":" + Account + ":" + DeadLetterQueueName
	redrive, _ := json.Marshal(map[string]string{"deadLetterTargetArn": deadARN, "maxReceiveCount": fmt.Sprint(maxReceives)})
	r.EventQueueURL, err = createQueue(ctx, q, EventQueueName, map[string]string{
		string(sqstypes.QueueAttributeNameRedrivePolicy):     string(redrive),
		string(sqstypes.QueueAttributeNameVisibilityTimeout): fmt.Sprint(visibilityTimeout),
	})
	if err != nil {
		return r, err
	}

	pattern, err := avatarpipeline.EventPattern(r.Bucket)
	if err != nil {
		return r, err
	}
	eb := eventbridge.NewFromConfig(cfg)
	if _, err := eb.PutRule(ctx, &eventbridge.PutRuleInput{
		Name:         aws.String(RuleName),
		EventPattern: aws.String(string(pattern)),
		Description:  aws.String("S3 Object Created in " + r.Bucket + ": one build per upload (locally through a queue)"),
	}); err != nil {
		return r, fmt.Errorf("create rule %s: %w", RuleName, err)
	}
	if _, err := eb.PutTargets(ctx, &eventbridge.PutTargetsInput{
		Rule: aws.String(RuleName),
		Targets: []ebtypes.Target{{
			Id:  aws.String("pump"),
			Arn: aws.String("arn:aws:sqs:" + Region + ":" + Account + ":" + EventQueueName),
		}},
	}); err != nil {
		return r, fmt.Errorf("target rule %s at queue %s: %w", RuleName, EventQueueName, err)
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

	if in.WebhookURL != "" {
		sub, err := sns.NewFromConfig(cfg).Subscribe(ctx, &sns.SubscribeInput{
			TopicArn:              aws.String(r.TopicARN),
			Protocol:              aws.String("http"),
			Endpoint:              aws.String(in.WebhookURL),
			ReturnSubscriptionArn: true,
		})
		if err != nil {
			return r, fmt.Errorf("subscribe %s to %s: %w", in.WebhookURL, TopicName, err)
		}
		r.WebhookSubARN = aws.ToString(sub.SubscriptionArn)
	}
	return r, nil
}

// createTable creates the builds table with the template's key schema and
// indexes, and turns point-in-time recovery on as the template does.
func createTable(ctx context.Context, db *dynamodb.Client, name string) error {
	schema, err := avatarpipeline.TableSchema()
	if err != nil {
		return err
	}
	in := TableInput(name, schema)
	if _, err := db.CreateTable(ctx, in); err != nil {
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

// TableInput turns the template's table schema into a CreateTable request.
func TableInput(name string, t avatarpipeline.Table) *dynamodb.CreateTableInput {
	defs := map[string]string{}
	keys := func(part avatarpipeline.Key, sort *avatarpipeline.Key) []ddbtypes.KeySchemaElement {
		defs[part.Name] = part.Type
		ks := []ddbtypes.KeySchemaElement{{AttributeName: aws.String(part.Name), KeyType: ddbtypes.KeyTypeHash}}
		if sort != nil {
			defs[sort.Name] = sort.Type
			ks = append(ks, ddbtypes.KeySchemaElement{AttributeName: aws.String(sort.Name), KeyType: ddbtypes.KeyTypeRange})
		}
		return ks
	}
	in := &dynamodb.CreateTableInput{
		TableName:   aws.String(name),
		KeySchema:   keys(t.Partition, t.Sort),
		BillingMode: ddbtypes.BillingMode(t.BillingMode),
	}
	if in.BillingMode == "" {
		in.BillingMode = ddbtypes.BillingModePayPerRequest
	}
	for _, ix := range t.Indexes {
		in.GlobalSecondaryIndexes = append(in.GlobalSecondaryIndexes, ddbtypes.GlobalSecondaryIndex{
			IndexName:  aws.String(ix.Name),
			KeySchema:  keys(ix.Partition, ix.Sort),
			Projection: &ddbtypes.Projection{ProjectionType: ddbtypes.ProjectionType(ix.Projection)},
		})
	}
	for _, name := range slices.Sorted(maps.Keys(defs)) {
		in.AttributeDefinitions = append(in.AttributeDefinitions, ddbtypes.AttributeDefinition{
			AttributeName: aws.String(name), AttributeType: ddbtypes.ScalarAttributeType(defs[name]),
		})
	}
	return in
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

// createQueue creates an SQS queue and returns its URL.
func createQueue(ctx context.Context, q *sqs.Client, name string, attrs map[string]string) (string, error) {
	out, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
	if err != nil {
		return "", fmt.Errorf("create queue %s: %w", name, err)
	}
	return aws.ToString(out.QueueUrl), nil
}
