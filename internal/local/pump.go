package local

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"path"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// EventQueue is the part of the SQS client the pump uses.
type EventQueue interface {
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, opts ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessage(ctx context.Context, in *sqs.DeleteMessageInput, opts ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error)
}

// ExecutionStarter is the part of the Step Functions client the pump uses.
type ExecutionStarter interface {
	StartExecution(ctx context.Context, in *sfn.StartExecutionInput, opts ...func(*sfn.Options)) (*sfn.StartExecutionOutput, error)
}

// Pump does locally what the template's EventBridge rule target does in
// AWS, which moto cannot: it starts one execution of the state machine per
// S3 event, with the event, exactly as EventBridge delivered it, as input.
// The rule delivers to an SQS queue; the pump long-polls it.
type Pump struct {
	Queue           EventQueue
	Workflow        ExecutionStarter
	QueueURL        string
	StateMachineARN string
	// Logf reports each event's fate.
	Logf func(format string, args ...any)
	// Wait is the long-poll wait in seconds (default 2): how long Run may
	// take to notice that its context is done.
	Wait int32
}

// Run pumps events until ctx is done.
func (p *Pump) Run(ctx context.Context) {
	poll(ctx, p.Queue, p.QueueURL, p.Wait, p.Logf, func(ms []sqstypes.Message) {
		for _, m := range ms {
			p.handle(ctx, m)
		}
	})
}

// poll long-polls a queue (wait seconds, default 2: how long it may take
// to notice that ctx is done) and hands each batch to handle, until ctx is
// done. Each message carries its receive count and sending time.
func poll(ctx context.Context, q EventQueue, url string, wait int32, logf func(string, ...any), handle func([]sqstypes.Message)) {
	if wait <= 0 {
		wait = 2
	}
	for ctx.Err() == nil {
		out, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl:                    aws.String(url),
			MaxNumberOfMessages:         10,
			WaitTimeSeconds:             wait,
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll},
		})
		if err != nil {
			if ctx.Err() == nil {
				logf("receive from %s: %v", url, err)
				select {
				case <-ctx.Done():
				case <-time.After(time.Second):
				}
			}
			continue
		}
		if len(out.Messages) > 0 {
			handle(out.Messages)
		}
	}
}

// handle starts the execution for one event and deletes the message once
// the execution exists. An event whose execution could not be started stays
// in the queue: it comes back after the visibility timeout, and the queue's
// redrive policy parks it in the dead-letter queue after a few tries.
func (p *Pump) handle(ctx context.Context, m sqstypes.Message) {
	body := aws.ToString(m.Body)
	name := ExecutionName([]byte(body))
	out, err := p.Workflow.StartExecution(ctx, &sfn.StartExecutionInput{
		StateMachineArn: aws.String(p.StateMachineARN),
		Name:            aws.String(name),
		Input:           aws.String(body),
	})
	var exists *sfntypes.ExecutionAlreadyExists
	var invalid *sfntypes.InvalidExecutionInput
	switch {
	case err == nil:
		p.Logf("upload %s: started execution %s", describeEvent([]byte(body)), aws.ToString(out.ExecutionArn))
	case errors.As(err, &exists):
		// The same event again (EventBridge and SQS deliver at least once):
		// its execution was started before.
		p.Logf("upload %s: duplicate event, execution %s already started", describeEvent([]byte(body)), name)
	case errors.As(err, &invalid):
		p.Logf("pump: dropping an event that is not valid execution input: %v", err)
	default:
		if ctx.Err() == nil {
			p.Logf("pump: start execution %s: %v (the event will be retried)", name, err)
		}
		return
	}
	if _, err := p.Queue.DeleteMessage(ctx, &sqs.DeleteMessageInput{
		QueueUrl:      aws.String(p.QueueURL),
		ReceiptHandle: m.ReceiptHandle,
	}); err != nil && ctx.Err() == nil {
		p.Logf("pump: delete event %s: %v", aws.ToString(m.MessageId), err)
	}
}

// s3Event is the part of an S3 "Object Created" event that identifies it.
type s3Event struct {
	ID     string `json:"id"`
	Detail struct {
		Bucket struct {
			Name string `json:"name"`
		} `json:"bucket"`
		Object struct {
			Key       string `json:"key"`
			VersionID string `json:"version-id"`
			ETag      string `json:"etag"`
			ETagMoto  string `json:"eTag"`
			Sequencer string `json:"sequencer"`
		} `json:"object"`
	} `json:"detail"`
}

// ExecutionName names the execution of one event, deterministically, so
// that a second delivery of the same event asks for the same name and Step
// Functions refuses to start it twice (StartExecution with the name of an
// existing execution never starts another).
//
// In AWS the event id alone identifies an event. moto gives every S3 event
// the same id, so the name hashes the id together with the object's
// identity (bucket, key, version id, ETag, sequencer): deliveries of one
// event agree on all of them, two uploads differ in version id. The name
// starts with the object's base name, for people reading execution lists,
// and keeps to the characters and length (80) AWS allows.
func ExecutionName(event []byte) string {
	h := sha256.New()
	var e s3Event
	prefix := "event"
	if json.Unmarshal(event, &e) == nil && e.ID != "" {
		o := e.Detail.Object
		for _, s := range []string{e.ID, e.Detail.Bucket.Name, o.Key, o.VersionID, o.ETag + o.ETagMoto, o.Sequencer} {
			h.Write([]byte(s))
			h.Write([]byte{0})
		}
		if p := nameChars(strings.TrimSuffix(path.Base(o.Key), path.Ext(o.Key))); p != "" {
			prefix = p
		}
	} else {
		h.Write(event)
	}
	if len(prefix) > 40 {
		prefix = prefix[:40]
	}
	return prefix + "-" + hex.EncodeToString(h.Sum(nil))[:32]
}

// nameChars keeps the characters AWS allows in every execution name
// (ASCII letters, digits, - and _), replacing runs of others by one _.
func nameChars(s string) string {
	var b strings.Builder
	under := false
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
			under = false
		case !under:
			b.WriteByte('_')
			under = true
		}
	}
	return strings.Trim(b.String(), "_")
}

// describeEvent names an event's object for log lines.
func describeEvent(event []byte) string {
	var e s3Event
	if json.Unmarshal(event, &e) != nil || e.Detail.Object.Key == "" {
		return "(not an S3 event)"
	}
	return "s3://" + e.Detail.Bucket.Name + "/" + e.Detail.Object.Key
}
