package local

import (
	"context"
	"encoding/json"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// EventSource does locally what an SQS event source mapping does in AWS,
// which moto cannot: it receives batches from a queue, invokes a function
// with them as an SQS event (aws-lambda-go's events.SQSEvent), and deletes
// the messages the function did not report as failures. A failed message
// becomes visible again after its visibility timeout (which the function
// may change), with its receive count one higher.
type EventSource struct {
	Queue interface {
		EventQueue
		DeleteMessageBatch(ctx context.Context, in *sqs.DeleteMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error)
	}
	QueueURL, QueueARN string
	Function           Function
	Logf               func(format string, args ...any)
}

// Run delivers batches until ctx is done.
func (e *EventSource) Run(ctx context.Context) {
	poll(ctx, e.Queue, e.QueueURL, 1, e.Logf, func(ms []sqstypes.Message) { e.deliver(ctx, ms) })
}

func (e *EventSource) deliver(ctx context.Context, ms []sqstypes.Message) {
	ev := events.SQSEvent{}
	for _, m := range ms {
		ev.Records = append(ev.Records, events.SQSMessage{MessageId: aws.ToString(m.MessageId), ReceiptHandle: aws.ToString(m.ReceiptHandle),
			Body: aws.ToString(m.Body), Attributes: m.Attributes, EventSource: "aws:sqs", EventSourceARN: e.QueueARN, AWSRegion: Region})
	}
	payload, _ := json.Marshal(ev)
	out, fail := Run(e.Function, functionARN(e.Function.Name), newRequestID(), payload)
	if fail != nil { // the whole batch comes back, as in AWS
		e.Logf("%s failed (%s): %s", e.Function.Name, fail.Type, fail.Message)
		return
	}
	var resp events.SQSEventResponse
	json.Unmarshal(out, &resp)
	failed := map[string]bool{}
	for _, f := range resp.BatchItemFailures {
		failed[f.ItemIdentifier] = true
	}
	var done []sqstypes.DeleteMessageBatchRequestEntry
	for _, m := range ms {
		if !failed[aws.ToString(m.MessageId)] {
			done = append(done, sqstypes.DeleteMessageBatchRequestEntry{Id: m.MessageId, ReceiptHandle: m.ReceiptHandle})
		}
	}
	if len(done) > 0 {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if _, err := e.Queue.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(e.QueueURL), Entries: done}); err != nil {
			e.Logf("delete delivered events from %s: %v", e.QueueURL, err)
		}
	}
}
