package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/smithy-go"
	"github.com/spf13/cobra"

	"github.com/avatar-pipeline/avatar-pipeline/internal/local"
	"github.com/avatar-pipeline/avatar-pipeline/internal/records/store"
)

// defaultStack is the stack name when neither --stack nor AVATAR_STACK
// gives one.
const defaultStack = "avatar-pipeline"

// The local stack as `avatarctl --local` reaches it: the address `make
// local` listens on, and its fixed resource names (the local stack's own
// constants, so the two cannot drift apart).
const localEndpoint = "http://" + local.DefaultAddr

// localResources names the local stack's resources in region.
func localResources(region string) resources {
	return resources{
		Bucket:          local.BucketName,
		Table:           local.TableName,
		TopicARN:        fmt.Sprintf("arn:aws:sns:%s:%s:%s", region, local.Account, local.TopicName),
		StateMachineARN: fmt.Sprintf("arn:aws:states:%s:%s:stateMachine:%s", region, local.Account, local.StateMachineName),
	}
}

// resources are the stack's resources the commands use: the template's
// outputs BucketName, TableName, TopicArn and StateMachineArn.
type resources struct {
	Bucket          string
	Table           string
	TopicARN        string
	StateMachineARN string
}

// globalOptions are the flags every command shares, and the connection
// they lead to, made on first use.
type globalOptions struct {
	local    bool
	stack    string
	region   string
	profile  string
	endpoint string

	conn *conn // set by connect
}

func (g *globalOptions) addFlags(root *cobra.Command) {
	f := root.PersistentFlags()
	f.BoolVar(&g.local, "local", false, "use the local stack (make local) at "+localEndpoint)
	f.StringVar(&g.stack, "stack", "", "CloudFormation stack whose outputs name the resources (default $AVATAR_STACK, else "+defaultStack+")")
	f.StringVar(&g.region, "region", "", "AWS region (default: AWS_REGION or the profile's; us-east-1 with --local)")
	f.StringVar(&g.profile, "profile", "", "AWS shared config profile (default: AWS_PROFILE)")
	f.StringVar(&g.endpoint, "endpoint", "", "AWS endpoint URL for every service (default: AWS_ENDPOINT_URL; "+localEndpoint+" with --local)")
}

// conn is a connection to the pipeline's resources.
type conn struct {
	cfg       aws.Config
	local     bool
	stackName string
	endpoint  string // "" for AWS's own endpoints
	res       resources

	db     *dynamodb.Client
	s3     *s3.Client
	sfn    *sfn.Client
	reader *store.Table
}

// where describes the stack for messages.
func (c *conn) where() string {
	if c.local {
		return "the local stack at " + c.endpoint
	}
	s := fmt.Sprintf("stack %s in %s", c.stackName, c.cfg.Region)
	if c.endpoint != "" {
		s += " at " + c.endpoint
	}
	return s
}

// connect loads the AWS configuration and finds the stack's resources.
func (g *globalOptions) connect(ctx context.Context) (*conn, error) {
	if g.conn != nil {
		return g.conn, nil
	}
	if g.local && g.stack != "" {
		return nil, errors.New("--local and --stack exclude each other: use one")
	}
	cfg, err := g.loadConfig(ctx)
	if err != nil {
		return nil, err
	}
	c := &conn{cfg: cfg, local: g.local, endpoint: aws.ToString(cfg.BaseEndpoint)}
	if g.local {
		c.res = localResources(cfg.Region)
	} else {
		c.stackName = cmp.Or(g.stack, os.Getenv("AVATAR_STACK"), defaultStack)
		if c.res, err = c.stackResources(ctx); err != nil {
			return nil, err
		}
	}

	// A custom endpoint (an emulator) rarely serves virtual-hosted buckets.
	pathStyle := c.endpoint != ""
	c.db = dynamodb.NewFromConfig(cfg)
	c.s3 = s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = pathStyle })
	c.sfn = sfn.NewFromConfig(cfg)
	c.reader = &store.Table{DB: c.db, Name: c.res.Table}
	g.conn = c
	return c, nil
}

// loadConfig loads the AWS configuration the global flags ask for, with a
// region and credentials: for --local its region, endpoint and, when none
// are configured, dummy credentials.
func (g *globalOptions) loadConfig(ctx context.Context) (aws.Config, error) {
	region, imdsState := g.region, imds.ClientDefaultEnableState
	if g.local {
		region = cmp.Or(region, local.Region)
		imdsState = imds.ClientDisabled // nothing local should wait for EC2's metadata service
	}
	// An empty option leaves the setting to the environment and the profile.
	cfg, err := config.LoadDefaultConfig(ctx, config.WithSharedConfigProfile(g.profile), config.WithRegion(region),
		config.WithBaseEndpoint(g.endpoint), config.WithEC2IMDSClientEnableState(imdsState))
	if err != nil {
		return cfg, fmt.Errorf("load the AWS configuration: %w", err)
	}
	if g.local {
		if cfg.BaseEndpoint == nil {
			cfg.BaseEndpoint = aws.String(localEndpoint)
		}
		// The local stack accepts any credentials: use the configured
		// ones if there are any, dummy ones otherwise.
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if _, err := cfg.Credentials.Retrieve(rctx); err != nil {
			cfg.Credentials = credentials.NewStaticCredentialsProvider("local", "local", "")
		}
		return cfg, nil
	}
	if cfg.Region == "" {
		return cfg, errors.New("no AWS region is configured: pass --region, set AWS_REGION, or set a region in your profile (aws configure)")
	}
	if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
		return cfg, &hintError{
			msg: "no usable AWS credentials: configure them with 'aws configure' (or 'aws sso login'), " +
				"set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or choose a profile with --profile or AWS_PROFILE; " +
				"for the local stack, use --local",
			err: err,
		}
	}
	return cfg, nil
}

// stackResources reads the resources from the CloudFormation stack's
// outputs.
func (c *conn) stackResources(ctx context.Context) (resources, error) {
	var res resources
	out, err := cloudformation.NewFromConfig(c.cfg).DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(c.stackName)})
	if err != nil {
		var ae smithy.APIError
		if errors.As(err, &ae) && ae.ErrorCode() == "ValidationError" && strings.Contains(ae.ErrorMessage(), "does not exist") {
			return res, &hintError{
				msg: fmt.Sprintf("CloudFormation stack %q not found in %s: deploy it (sam build && sam deploy --guided), "+
					"name your stack with --stack NAME or AVATAR_STACK, or use --local for the local stack", c.stackName, c.cfg.Region),
				err: err,
			}
		}
		return res, c.explain(fmt.Errorf("read the outputs of stack %s: %w", c.stackName, err))
	}
	if len(out.Stacks) == 0 {
		return res, fmt.Errorf("CloudFormation stack %q not found in %s", c.stackName, c.cfg.Region)
	}
	st := out.Stacks[0]
	values := map[string]string{}
	for _, o := range st.Outputs {
		values[aws.ToString(o.OutputKey)] = aws.ToString(o.OutputValue)
	}
	var missing []string
	for _, o := range []struct {
		name  string
		field *string
	}{{"BucketName", &res.Bucket}, {"TableName", &res.Table}, {"TopicArn", &res.TopicARN}, {"StateMachineArn", &res.StateMachineARN}} {
		if *o.field = values[o.name]; *o.field == "" {
			missing = append(missing, o.name)
		}
	}
	if len(missing) > 0 {
		return res, fmt.Errorf("stack %s (%s) has no output %s: is it an avatar-pipeline stack? Deploy the current template, or name the right stack with --stack",
			c.stackName, st.StackStatus, strings.Join(missing, ", "))
	}
	return res, nil
}

// hintError is an error that says what to do, followed by its cause.
type hintError struct {
	msg string
	err error
}

func (e *hintError) Error() string { return e.msg + "\n  cause: " + e.err.Error() }
func (e *hintError) Unwrap() error { return e.err }

// explain turns errors whose usual cause is known into ones that say what
// to do: a table or state machine that is not there, a stack that is not
// running, credentials AWS refuses.
func (c *conn) explain(err error) error {
	var (
		he  *hintError
		ce  *codeError
		rnf *ddbtypes.ResourceNotFoundException
		smd *sfntypes.StateMachineDoesNotExist
		ae  smithy.APIError
		oe  *net.OpError
	)
	switch {
	case err == nil, errors.As(err, &he), errors.As(err, &ce):
		return err
	case errors.As(err, &oe) && oe.Op == "dial":
		if c.local {
			return &hintError{msg: fmt.Sprintf("cannot reach the local stack at %s: is it running? Start it with 'make local' (or 'avatarctl local')", c.endpoint), err: err}
		}
		return &hintError{msg: fmt.Sprintf("cannot reach the AWS endpoint of %s: check the network, --endpoint and AWS_ENDPOINT_URL", c.where()), err: err}
	case errors.As(err, &rnf):
		return c.missing("table", c.res.Table, "TableName", err)
	case errors.As(err, &smd):
		return c.missing("state machine", c.res.StateMachineARN, "StateMachineArn", err)
	case errors.As(err, &ae) && ae.ErrorCode() == "NoSuchBucket":
		return c.missing("bucket", c.res.Bucket, "BucketName", err)
	case errors.As(err, &ae) && slices.Contains(credentialErrors, ae.ErrorCode()):
		return &hintError{msg: "AWS refused the credentials: refresh them ('aws sso login', 'aws configure') or choose another profile with --profile", err: err}
	case errors.As(err, &ae) && (ae.ErrorCode() == "AccessDenied" || ae.ErrorCode() == "AccessDeniedException"):
		return &hintError{msg: fmt.Sprintf("AWS denied access to a resource of %s: your identity needs permission to use the stack's bucket, table and state machine", c.where()), err: err}
	}
	return err
}

// missing explains err, which says that a resource of the stack (a table,
// state machine or bucket, read from output) is not there.
func (c *conn) missing(kind, name, output string, err error) error {
	if c.local {
		return &hintError{msg: fmt.Sprintf("%s %s not found at %s: is the local stack running? Start it with 'make local' (or 'avatarctl local')",
			kind, name, c.endpoint), err: err}
	}
	return &hintError{msg: fmt.Sprintf("%s %s (output %s of %s) not found: was the stack deleted? Check it with 'aws cloudformation describe-stacks --stack-name %s'",
		kind, name, output, c.where(), c.stackName), err: err}
}

// credentialErrors are the error codes of requests whose credentials are
// unknown, expired or wrong.
var credentialErrors = []string{"UnrecognizedClientException", "InvalidClientTokenId", "InvalidAccessKeyId",
	"ExpiredToken", "ExpiredTokenException", "InvalidSignatureException", "SignatureDoesNotMatch"}
