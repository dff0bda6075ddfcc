package store

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/avatar-pipeline/avatar-pipeline/internal/records"
)

// The pipeline's own limit on builds in flight at Mirako is one item of the
// table (key SlotsKey) whose string set holds the builds that have a slot.
// A build takes one with a conditional write, so the count is exact under
// concurrency, and gives it back by deleting itself from the set, which is
// idempotent: a release repeated, or made by the sweep for a build whose
// execution died, never frees a slot twice.

// SlotsKey is the key of the slots item; the state machine's ReleaseSlot
// task writes it too.
const SlotsKey = "#in-flight"

const (
	attrHolders = "holders"
	attrLimit   = "limit" // Slots.Limit: what estimates count a queue's turns by
)

// AcquireSlot gives the build a slot unless max are held by other builds;
// it reports whether the build holds one.
func (t *Table) AcquireSlot(ctx context.Context, id string, max int) (bool, error) {
	holders := expression.Name(attrHolders)
	cond := expression.AttributeNotExists(holders).
		Or(expression.Size(holders).LessThan(expression.Value(max))).
		Or(expression.Contains(holders, id))
	take := expression.Add(holders, expression.Value(&types.AttributeValueMemberSS{Value: []string{id}})).
		Set(expression.Name(attrLimit), expression.Value(max))
	_, err := t.update(ctx, SlotsKey, cond, take, types.ReturnValueNone)
	if ConditionFailed(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("take a slot for build %s: %w", id, err)
	}
	return true, nil
}

// ReleaseSlot gives the build's slot back, if it holds one.
func (t *Table) ReleaseSlot(ctx context.Context, id string) error {
	holders := expression.Name(attrHolders)
	_, err := t.update(ctx, SlotsKey, expression.AttributeExists(holders),
		expression.Delete(holders, expression.Value(&types.AttributeValueMemberSS{Value: []string{id}})), types.ReturnValueNone)
	if err != nil && !ConditionFailed(err) {
		return fmt.Errorf("release the slot of build %s: %w", id, err)
	}
	return nil
}

// Slots is what the slots item holds.
type Slots struct {
	Holders []string `dynamodbav:"holders,stringset,omitempty"` // the builds that hold a slot
	Limit   int      `dynamodbav:"limit"`                       // the limit the last build to take a slot took it under (0: none ever did)
}

// Slots reads the slots item, strongly consistent.
func (t *Table) Slots(ctx context.Context) (Slots, error) {
	var s Slots
	out, err := t.DB.GetItem(ctx, &dynamodb.GetItemInput{TableName: &t.Name, Key: key(SlotsKey), ConsistentRead: aws.Bool(true)})
	if err == nil {
		err = attributevalue.UnmarshalMap(out.Item, &s)
	}
	if err != nil {
		return Slots{}, fmt.Errorf("read the slots: %w", err)
	}
	return s, nil
}

// SlotHolders returns the builds that hold a slot, strongly consistent.
func (t *Table) SlotHolders(ctx context.Context) ([]string, error) {
	s, err := t.Slots(ctx)
	return s.Holders, err
}

// OutageKey is the key of the item that says how Mirako has been
// answering: its failures since it last answered, and any pause on posts.
const OutageKey = "#mirako-outage"

// Outage is the state of the outage item.
type Outage struct {
	Until    time.Time     // posts pause until then
	Pause    time.Duration // the length of the last pause (0: Mirako answered since)
	Failures int           // failures since the last pause or answer
}

type outageItem struct {
	Until    string  `dynamodbav:"until"`
	Pause    float64 `dynamodbav:"pause_seconds"`
	Failures int     `dynamodbav:"failures"`
}

// decodeOutage reads an outage item (none: the zero Outage).
func decodeOutage(item map[string]types.AttributeValue, what string) (Outage, error) {
	var o outageItem
	if err := attributevalue.UnmarshalMap(item, &o); err != nil {
		return Outage{}, fmt.Errorf("%s: %w", what, err)
	}
	until, _ := records.ParseTime(o.Until)
	return Outage{Until: until, Pause: time.Duration(o.Pause * float64(time.Second)), Failures: o.Failures}, nil
}

// Outage reads the outage item (the zero Outage when there is none).
func (t *Table) Outage(ctx context.Context) (Outage, error) {
	out, err := t.DB.GetItem(ctx, &dynamodb.GetItemInput{TableName: &t.Name, Key: key(OutageKey), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return Outage{}, fmt.Errorf("read the Mirako outage: %w", err)
	}
	return decodeOutage(out.Item, "read the Mirako outage")
}

// SetOutage replaces the outage item (the zero Outage: Mirako answers).
func (t *Table) SetOutage(ctx context.Context, o Outage) error {
	item, _ := attributevalue.MarshalMap(outageItem{Until: records.FormatTime(o.Until), Pause: o.Pause.Seconds(), Failures: o.Failures})
	item[records.AttrBuildID] = &types.AttributeValueMemberS{Value: OutageKey}
	if _, err := t.DB.PutItem(ctx, &dynamodb.PutItemInput{TableName: &t.Name, Item: item}); err != nil {
		return fmt.Errorf("record the Mirako outage: %w", err)
	}
	return nil
}

// CountFailure adds one failure to the outage item, atomically, and
// returns the item as it now is.
func (t *Table) CountFailure(ctx context.Context) (Outage, error) {
	out, err := t.update(ctx, OutageKey, expression.ConditionBuilder{}, expression.Add(expression.Name("failures"), expression.Value(1)), types.ReturnValueAllNew)
	if err != nil {
		return Outage{}, fmt.Errorf("count a Mirako failure: %w", err)
	}
	return decodeOutage(out.Attributes, "count a Mirako failure")
}
