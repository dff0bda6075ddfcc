// Package store owns the build records' DynamoDB access: every read and
// write of a record outside the state machine's own updateItem tasks goes
// through a Table method named for what it does. Conditions are built with
// the SDK's expression builder, never by hand.
//
// Besides one item per build, the table holds one small item per avatar a
// build has recorded (key "avatar#<id>", attribute owner): it makes "which
// build owns this avatar" a strongly consistent read and a conditional
// write, where the by-avatar index would be eventually consistent.
package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/avatar-pipeline/avatar-pipeline/internal/records"
)

// DB is the part of the DynamoDB client the store uses.
type DB interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	Scan(ctx context.Context, in *dynamodb.ScanInput, opts ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

// Table is the builds table.
type Table struct {
	DB   DB
	Name string
}

// ErrNotFound is wrapped by the errors of reads that find no build.
var ErrNotFound = errors.New("no such build")

// ConditionFailed reports whether err is a write refused for its
// condition: the record is not in the state the write expected.
func ConditionFailed(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}

const (
	attrOwner    = "owner"
	avatarPrefix = "avatar#"
)

func key(id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{records.AttrBuildID: &types.AttributeValueMemberS{Value: id}}
}

// owned is the condition every write after admission carries: the record
// still belongs to the execution writing, and no avatar is recorded yet.
func owned(execution string) expression.ConditionBuilder {
	return expression.Name(records.AttrExecutionARN).Equal(expression.Value(execution)).
		And(expression.AttributeNotExists(expression.Name(records.AttrAvatarID)))
}

// Register writes a new build's record unless one with its id exists, and
// returns the record that is there now: rec, or the one an earlier
// delivery of the same upload wrote.
func (t *Table) Register(ctx context.Context, rec records.Record) (records.Record, error) {
	item, err := attributevalue.MarshalMap(rec)
	if err != nil {
		return rec, fmt.Errorf("register %s: %w", rec.BuildID, err)
	}
	expr, err := expression.NewBuilder().WithCondition(expression.AttributeNotExists(expression.Name(records.AttrBuildID))).Build()
	if err != nil {
		return rec, err
	}
	_, err = t.DB.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: &t.Name, Item: item, ConditionExpression: expr.Condition(),
		ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values(),
	})
	if ConditionFailed(err) {
		return t.Load(ctx, rec.BuildID)
	}
	if err != nil {
		return rec, fmt.Errorf("register %s: %w", rec.BuildID, err)
	}
	return rec, nil
}

// Load reads a record with a strongly consistent read.
func (t *Table) Load(ctx context.Context, id string) (records.Record, error) {
	out, err := t.DB.GetItem(ctx, &dynamodb.GetItemInput{TableName: &t.Name, Key: key(id), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return records.Record{}, fmt.Errorf("read build %s from table %s: %w", id, t.Name, err)
	}
	if out.Item == nil {
		return records.Record{}, fmt.Errorf("build %s: %w", id, ErrNotFound)
	}
	return decode(out.Item)
}

// TakeOver hands a build that is not finished from execution previous to
// execution (a resume after its execution died). Two take-overs of one
// build cannot both succeed: the loser's condition fails.
func (t *Table) TakeOver(ctx context.Context, id, previous, execution string, now time.Time) (records.Record, error) {
	cond := expression.Name(records.AttrExecutionARN).Equal(expression.Value(previous)).
		And(expression.Name(records.AttrStatus).In(expression.Value(records.StatusReceived),
			expression.Value(records.StatusPending), expression.Value(records.StatusBuilding)))
	update := expression.Set(expression.Name(records.AttrExecutionARN), expression.Value(execution)).
		Set(expression.Name(records.AttrUpdatedAt), expression.Value(records.FormatTime(now)))
	out, err := t.update(ctx, id, cond, update, types.ReturnValueAllNew)
	if err != nil {
		return records.Record{}, fmt.Errorf("take over build %s: %w", id, err)
	}
	return decode(out.Attributes)
}

// SetImage records the portrait as the checks saw it: its image and
// warnings (a rejected portrait is never claimed).
func (t *Table) SetImage(ctx context.Context, rec records.Record) error {
	if rec.Image == nil && len(rec.Warnings) == 0 {
		return nil
	}
	if _, err := t.update(ctx, rec.BuildID, owned(rec.ExecutionARN), portraitOf(rec, expression.UpdateBuilder{}), types.ReturnValueNone); err != nil {
		return fmt.Errorf("record the portrait of build %s: %w", rec.BuildID, err)
	}
	return nil
}

// portraitOf adds the portrait's image and warnings to an update.
func portraitOf(rec records.Record, update expression.UpdateBuilder) expression.UpdateBuilder {
	if rec.Image != nil {
		update = update.Set(expression.Name(records.AttrImage), expression.Value(rec.Image))
	}
	if len(rec.Warnings) > 0 {
		update = update.Set(expression.Name(records.AttrWarnings), expression.Value(rec.Warnings))
	}
	return update
}

// Claim records that execution is about to post the build to Mirako, and
// until when it may still be posting. It is a compare-and-set on the
// claim the caller read (seen, "" for none), so of two attempts at once
// only one claims. The portrait as checked (image, warnings) is recorded
// with it.
func (t *Table) Claim(ctx context.Context, rec records.Record, seen string, now, until time.Time) error {
	started := expression.Name(records.AttrSubmitStartedAt)
	prior := expression.AttributeNotExists(started)
	if seen != "" {
		prior = started.Equal(expression.Value(seen))
	}
	update := expression.Set(started, expression.Value(records.FormatTime(now))).
		Set(expression.Name(records.AttrClaimedUntil), expression.Value(records.FormatTime(until))).
		Set(expression.Name(records.AttrUpdatedAt), expression.Value(records.FormatTime(now)))
	if _, err := t.update(ctx, rec.BuildID, owned(rec.ExecutionARN).And(prior), portraitOf(rec, update), types.ReturnValueNone); err != nil {
		return fmt.Errorf("claim the post of build %s: %w", rec.BuildID, err)
	}
	return nil
}

// Release shortens execution's claim (the one that started at started) to
// end at until, once its post has failed.
func (t *Table) Release(ctx context.Context, id, execution, started string, until time.Time) error {
	cond := owned(execution).And(expression.Name(records.AttrSubmitStartedAt).Equal(expression.Value(started)))
	update := expression.Set(expression.Name(records.AttrClaimedUntil), expression.Value(records.FormatTime(until)))
	if _, err := t.update(ctx, id, cond, update, types.ReturnValueNone); err != nil {
		return fmt.Errorf("release the claim on build %s: %w", id, err)
	}
	return nil
}

// SetAvatar records the avatar Mirako made for the build, which is then
// PENDING, and makes the build the avatar's owner, in one transaction: it
// fails (ConditionFailed) if the build has an avatar or another execution
// already, or if another build owns the avatar.
func (t *Table) SetAvatar(ctx context.Context, id, execution, avatarID string, now time.Time) error {
	ownerIsUs := expression.AttributeNotExists(expression.Name(records.AttrBuildID)).
		Or(expression.Name(attrOwner).Equal(expression.Value(id)))
	mark, err := expression.NewBuilder().WithCondition(ownerIsUs).Build()
	if err != nil {
		return err
	}
	at := records.FormatTime(now)
	rec, err := expression.NewBuilder().WithCondition(owned(execution)).WithUpdate(
		expression.Set(expression.Name(records.AttrAvatarID), expression.Value(avatarID)).
			Set(expression.Name(records.AttrStatus), expression.Value(records.StatusPending)).
			Set(expression.Name(records.AttrSubmittedAt), expression.Value(at)).
			Set(expression.Name(records.AttrUpdatedAt), expression.Value(at)).
			Remove(expression.Name(records.AttrReason)).Remove(expression.Name(records.AttrNextAttemptAt))).Build()
	if err != nil {
		return err
	}
	_, err = t.DB.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Put: &types.Put{TableName: &t.Name, Item: map[string]types.AttributeValue{
			records.AttrBuildID: &types.AttributeValueMemberS{Value: avatarPrefix + avatarID},
			attrOwner:           &types.AttributeValueMemberS{Value: id},
		}, ConditionExpression: mark.Condition(), ExpressionAttributeNames: mark.Names(), ExpressionAttributeValues: mark.Values()}},
		{Update: &types.Update{TableName: &t.Name, Key: key(id), UpdateExpression: rec.Update(),
			ConditionExpression: rec.Condition(), ExpressionAttributeNames: rec.Names(), ExpressionAttributeValues: rec.Values()}},
	}})
	var canceled *types.TransactionCanceledException
	if errors.As(err, &canceled) {
		for _, r := range canceled.CancellationReasons {
			if aws.ToString(r.Code) == "ConditionalCheckFailed" {
				err = &types.ConditionalCheckFailedException{Message: aws.String(
					"the build has an avatar or another owner, or another build owns avatar " + avatarID)}
			}
		}
	}
	if err != nil {
		return fmt.Errorf("record avatar %s of build %s: %w", avatarID, id, err)
	}
	return nil
}

// Queue records that the build waits for Mirako's capacity: QUEUED, why
// (rec.Reason), when it next asks, and its portrait as checked.
func (t *Table) Queue(ctx context.Context, rec records.Record, next, now time.Time) error {
	update := expression.Set(expression.Name(records.AttrStatus), expression.Value(records.StatusQueued)).
		Set(expression.Name(records.AttrReason), expression.Value(rec.Reason)).
		Set(expression.Name(records.AttrNextAttemptAt), expression.Value(records.FormatTime(next))).
		Set(expression.Name(records.AttrUpdatedAt), expression.Value(records.FormatTime(now)))
	if _, err := t.update(ctx, rec.BuildID, owned(rec.ExecutionARN), portraitOf(rec, update), types.ReturnValueNone); err != nil {
		return fmt.Errorf("queue build %s: %w", rec.BuildID, err)
	}
	return nil
}

// OwnerOf returns the build that owns the avatar, or "" if none does, with
// a strongly consistent read.
func (t *Table) OwnerOf(ctx context.Context, avatarID string) (string, error) {
	out, err := t.DB.GetItem(ctx, &dynamodb.GetItemInput{TableName: &t.Name, Key: key(avatarPrefix + avatarID), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return "", fmt.Errorf("find the build of avatar %s: %w", avatarID, err)
	}
	owner, _ := out.Item[attrOwner].(*types.AttributeValueMemberS)
	if owner == nil {
		return "", nil
	}
	return owner.Value, nil
}

// update applies an UpdateItem with a condition.
func (t *Table) update(ctx context.Context, id string, cond expression.ConditionBuilder, update expression.UpdateBuilder, rv types.ReturnValue) (*dynamodb.UpdateItemOutput, error) {
	b := expression.NewBuilder().WithUpdate(update)
	if cond.IsSet() { // the zero ConditionBuilder: unconditional
		b = b.WithCondition(cond)
	}
	expr, err := b.Build()
	if err != nil {
		return nil, err
	}
	return t.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &t.Name, Key: key(id), ConditionExpression: expr.Condition(), UpdateExpression: expr.Update(),
		ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values(), ReturnValues: rv,
	})
}

func decode(item map[string]types.AttributeValue) (records.Record, error) {
	var rec records.Record
	if err := attributevalue.UnmarshalMap(item, &rec); err != nil {
		return rec, fmt.Errorf("decode build record: %w", err)
	}
	return rec, nil
}
