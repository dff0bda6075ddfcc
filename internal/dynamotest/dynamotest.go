// Package dynamotest is an in-memory DynamoDB for unit tests, with the
// service's documented semantics where the pipeline relies on them:
//   - a write's condition and its effect are one atomic step, and a failed
//     condition is a ConditionalCheckFailedException (in a transaction, a
//     TransactionCanceledException whose reasons say which item failed);
//   - global secondary indexes are eventually consistent: Lag freezes what
//     index reads see until CatchUp, as a lagging index would;
//   - expressions are parsed and evaluated, and a name or value the
//     request defines but does not use is a ValidationException, as it is
//     in DynamoDB.
//
// It covers the operations and the expression forms the pipeline's store
// uses, which the SDK's expression builder writes; anything else is an
// error, so a test never passes on a silently ignored clause.
package dynamotest

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
)

// Index is a global secondary index: its partition and sort key
// attributes (Sort may be empty). It projects all attributes.
type Index struct{ Name, Partition, Sort string }

// Table is the shape of a table: its partition key and its indexes.
type Table struct {
	Name, Key string
	Indexes   []Index
}

// Builds is the shape of the pipeline's builds table, as template.yaml
// defines it.
func Builds(name string) Table {
	return Table{Name: name, Key: "build_id", Indexes: []Index{
		{Name: "by-status", Partition: "status", Sort: "created_at"},
		{Name: "by-avatar", Partition: "avatar_id"},
	}}
}

type item = map[string]types.AttributeValue

// DB is the in-memory database. It is safe for concurrent use.
type DB struct {
	// Fail, when set, is called before every operation with its name
	// ("PutItem", ...) and input; an error it returns is the call's answer.
	Fail func(op string, in any) error

	mu     sync.Mutex
	tables map[string]*table
}

type table struct {
	Table
	items  map[string]item // by partition key value
	lagged map[string]item // what index reads see while lagging; nil when current
}

// New returns a database with these tables, empty.
func New(tables ...Table) *DB {
	db := &DB{tables: map[string]*table{}}
	for _, t := range tables {
		db.tables[t.Name] = &table{Table: t, items: map[string]item{}}
	}
	return db
}

// Lag makes index reads see the tables as they are now until CatchUp.
func (db *DB) Lag() {
	db.mu.Lock()
	defer db.mu.Unlock()
	for _, t := range db.tables {
		t.lagged = copyItems(t.items)
	}
}

// CatchUp brings the indexes up to date again.
func (db *DB) CatchUp() {
	db.mu.Lock()
	defer db.mu.Unlock()
	for _, t := range db.tables {
		t.lagged = nil
	}
}

// Items returns a copy of every item of a table, for tests to inspect.
func (db *DB) Items(name string) []map[string]types.AttributeValue {
	db.mu.Lock()
	defer db.mu.Unlock()
	t := db.tables[name]
	if t == nil {
		return nil
	}
	return slices.Collect(maps.Values(copyItems(t.items)))
}

func copyItems(in map[string]item) map[string]item {
	out := make(map[string]item, len(in))
	for k, v := range in {
		out[k] = maps.Clone(v)
	}
	return out
}

func validation(format string, args ...any) error {
	return &smithy.GenericAPIError{Code: "ValidationException", Message: fmt.Sprintf(format, args...)}
}

func conditionFailed() error {
	return &types.ConditionalCheckFailedException{Message: aws.String("The conditional request failed")}
}

// begin takes the lock and looks the table up.
func (db *DB) begin(op string, in any, name *string) (*table, error) {
	if db.Fail != nil {
		if err := db.Fail(op, in); err != nil {
			return nil, err
		}
	}
	db.mu.Lock()
	t := db.tables[aws.ToString(name)]
	if t == nil {
		db.mu.Unlock()
		return nil, &types.ResourceNotFoundException{Message: aws.String("Requested resource not found: table " + aws.ToString(name))}
	}
	return t, nil
}

func (t *table) keyOf(it item) (string, error) {
	s, ok := it[t.Key].(*types.AttributeValueMemberS)
	if !ok || s.Value == "" || len(it) == 0 {
		return "", validation("the key %s must be a non-empty string", t.Key)
	}
	return s.Value, nil
}

// expressions parses a request's expressions and checks that every name and
// value it defines is used.
type expressions struct {
	*parser
	cond, keyCond, filter *node
	actions               []*node
}

func parse(names map[string]string, values map[string]types.AttributeValue, cond, update, keyCond, filter, projection *string) (*expressions, error) {
	e := &expressions{parser: &parser{names: names, values: values, used: map[string]bool{}}}
	var err error
	for _, c := range []struct {
		src *string
		out **node
	}{{cond, &e.cond}, {keyCond, &e.keyCond}, {filter, &e.filter}} {
		err = e.run(c.src, func() (err error) { *c.out, err = e.condition(); return err })
		if err != nil {
			return nil, err
		}
	}
	if err := e.run(update, func() (err error) { e.actions, err = e.update(); return err }); err != nil {
		return nil, err
	}
	if err := e.run(projection, e.projection); err != nil {
		return nil, err
	}
	for k := range names {
		if !e.used[k] {
			return nil, validation("Value provided in ExpressionAttributeNames unused in expressions: keys: {%s}", k)
		}
	}
	for k := range values {
		if !e.used[k] {
			return nil, validation("Value provided in ExpressionAttributeValues unused in expressions: keys: {%s}", k)
		}
	}
	return e, nil
}

// run parses one expression (if given) with rule, which must consume it all.
func (e *expressions) run(src *string, rule func() error) error {
	if src == nil {
		return nil
	}
	toks, err := tokenize(*src)
	if err == nil {
		e.toks, e.pos = toks, 0
		err = rule()
	}
	if err == nil && e.pos < len(e.toks) {
		err = fmt.Errorf("unexpected %q", e.peek())
	}
	if err != nil {
		return validation("invalid expression %q: %v", *src, err)
	}
	return nil
}

// holds reports whether the condition (if any) holds for it (nil: absent).
func (e *expressions) holds(it item) (bool, error) {
	if e.cond == nil {
		return true, nil
	}
	if it == nil {
		it = item{}
	}
	ok, err := e.test(e.cond, it)
	if err != nil {
		return false, validation("%v", err)
	}
	return ok, nil
}

// GetItem reads one item; reads of the table are always consistent.
func (db *DB) GetItem(_ context.Context, in *dynamodb.GetItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	t, err := db.begin("GetItem", in, in.TableName)
	if err != nil {
		return nil, err
	}
	defer db.mu.Unlock()
	id, err := t.keyOf(in.Key)
	if err != nil {
		return nil, err
	}
	return &dynamodb.GetItemOutput{Item: maps.Clone(t.items[id])}, nil
}

// PutItem writes an item if its condition holds.
func (db *DB) PutItem(_ context.Context, in *dynamodb.PutItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	t, err := db.begin("PutItem", in, in.TableName)
	if err != nil {
		return nil, err
	}
	defer db.mu.Unlock()
	return &dynamodb.PutItemOutput{}, t.put(&types.Put{Item: in.Item, ConditionExpression: in.ConditionExpression,
		ExpressionAttributeNames: in.ExpressionAttributeNames, ExpressionAttributeValues: in.ExpressionAttributeValues}, true)
}

func (t *table) put(in *types.Put, apply bool) error {
	id, err := t.keyOf(in.Item)
	if err != nil {
		return err
	}
	e, err := parse(in.ExpressionAttributeNames, in.ExpressionAttributeValues, in.ConditionExpression, nil, nil, nil, nil)
	if err != nil {
		return err
	}
	if ok, err := e.holds(t.items[id]); err != nil || !ok {
		return cmpErr(err)
	}
	if apply {
		t.items[id] = maps.Clone(in.Item)
	}
	return nil
}

func cmpErr(err error) error {
	if err != nil {
		return err
	}
	return conditionFailed()
}

// UpdateItem changes (or creates) an item if its condition holds.
func (db *DB) UpdateItem(_ context.Context, in *dynamodb.UpdateItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	t, err := db.begin("UpdateItem", in, in.TableName)
	if err != nil {
		return nil, err
	}
	defer db.mu.Unlock()
	old, updated, err := t.update(&types.Update{Key: in.Key, UpdateExpression: in.UpdateExpression, ConditionExpression: in.ConditionExpression,
		ExpressionAttributeNames: in.ExpressionAttributeNames, ExpressionAttributeValues: in.ExpressionAttributeValues}, true)
	if err != nil {
		return nil, err
	}
	out := &dynamodb.UpdateItemOutput{}
	switch in.ReturnValues {
	case types.ReturnValueAllNew:
		out.Attributes = maps.Clone(updated)
	case types.ReturnValueAllOld:
		out.Attributes = old
	case types.ReturnValueNone, "":
	default:
		return nil, validation("ReturnValues %s is not supported here", in.ReturnValues)
	}
	return out, nil
}

func (t *table) update(in *types.Update, apply bool) (old, updated item, err error) {
	id, err := t.keyOf(in.Key)
	if err != nil {
		return nil, nil, err
	}
	e, err := parse(in.ExpressionAttributeNames, in.ExpressionAttributeValues, in.ConditionExpression, in.UpdateExpression, nil, nil, nil)
	if err != nil {
		return nil, nil, err
	}
	old = t.items[id]
	if ok, err := e.holds(old); err != nil || !ok {
		return nil, nil, cmpErr(err)
	}
	updated = maps.Clone(old)
	if updated == nil {
		updated = maps.Clone(in.Key)
	}
	if err := e.apply(e.actions, updated); err != nil {
		return nil, nil, validation("%v", err)
	}
	if _, ok := updated[t.Key]; !ok {
		return nil, nil, validation("an update cannot remove the key %s", t.Key)
	}
	if apply {
		t.items[id] = updated
	}
	return maps.Clone(old), updated, nil
}

// TransactWriteItems applies every write or none: if any condition fails,
// nothing changes and the cancellation reasons say which.
func (db *DB) TransactWriteItems(_ context.Context, in *dynamodb.TransactWriteItemsInput, _ ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	if db.Fail != nil {
		if err := db.Fail("TransactWriteItems", in); err != nil {
			return nil, err
		}
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	run := func(apply bool) ([]types.CancellationReason, bool, error) {
		reasons := make([]types.CancellationReason, len(in.TransactItems))
		failed := false
		for i, w := range in.TransactItems {
			var err error
			switch {
			case w.Put != nil && db.tables[aws.ToString(w.Put.TableName)] != nil:
				err = db.tables[aws.ToString(w.Put.TableName)].put(w.Put, apply)
			case w.Update != nil && db.tables[aws.ToString(w.Update.TableName)] != nil:
				_, _, err = db.tables[aws.ToString(w.Update.TableName)].update(w.Update, apply)
			default:
				return nil, false, validation("transaction item %d: only Put and Update on known tables are supported here", i)
			}
			reasons[i].Code = aws.String("None")
			if err != nil {
				if _, ok := err.(*types.ConditionalCheckFailedException); !ok {
					return nil, false, err
				}
				reasons[i].Code, failed = aws.String("ConditionalCheckFailed"), true
			}
		}
		return reasons, failed, nil
	}
	reasons, failed, err := run(false)
	if err != nil {
		return nil, err
	}
	if failed {
		return nil, &types.TransactionCanceledException{Message: aws.String("Transaction cancelled"), CancellationReasons: reasons}
	}
	_, _, err = run(true)
	return &dynamodb.TransactWriteItemsOutput{}, err
}
