package dynamotest

import (
	"context"
	"maps"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Query reads the items of a table or index whose keys match the key
// condition, in sort key order (reversed when ScanIndexForward is false),
// a page of Limit items at a time. An index read sees the lagging copy
// while Lag is in effect.
func (db *DB) Query(_ context.Context, in *dynamodb.QueryInput, _ ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	t, err := db.begin("Query", in, in.TableName)
	if err != nil {
		return nil, err
	}
	defer db.mu.Unlock()
	if in.KeyConditionExpression == nil {
		return nil, validation("Query needs a KeyConditionExpression")
	}
	e, err := parse(in.ExpressionAttributeNames, in.ExpressionAttributeValues, nil, nil, in.KeyConditionExpression, in.FilterExpression, in.ProjectionExpression)
	if err != nil {
		return nil, err
	}
	source, partition, sort := t.items, t.Key, ""
	if in.IndexName != nil {
		if aws.ToBool(in.ConsistentRead) {
			return nil, validation("Consistent reads are not supported on global secondary indexes")
		}
		i := slices.IndexFunc(t.Indexes, func(ix Index) bool { return ix.Name == *in.IndexName })
		if i < 0 {
			return nil, validation("The table does not have the specified index: %s", *in.IndexName)
		}
		partition, sort = t.Indexes[i].Partition, t.Indexes[i].Sort
		if t.lagged != nil {
			source = t.lagged
		}
	}
	var found []item
	for _, it := range source {
		if _, ok := it[partition]; !ok {
			continue // not in the index
		}
		if _, ok := it[sort]; sort != "" && !ok {
			continue
		}
		match, err := e.test(e.keyCond, it)
		if err != nil {
			return nil, validation("%v", err)
		}
		if match {
			found = append(found, it)
		}
	}
	slices.SortFunc(found, func(a, b item) int {
		c := 0
		if sort != "" {
			c = compare(a[sort], b[sort])
		}
		if c == 0 || c == unordered {
			c = compare(a[t.Key], b[t.Key])
		}
		if !aws.ToBool(in.ScanIndexForward) && in.ScanIndexForward != nil {
			c = -c
		}
		return c
	})
	page, last := t.page(found, in.ExclusiveStartKey, in.Limit)
	items, err := e.filtered(page)
	out := &dynamodb.QueryOutput{Items: items, Count: int32(len(items)), LastEvaluatedKey: last}
	if in.Select == types.SelectCount {
		out.Items = nil
	}
	return out, err
}

// Scan reads every item of a table, in key order, a page at a time.
func (db *DB) Scan(_ context.Context, in *dynamodb.ScanInput, _ ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error) {
	t, err := db.begin("Scan", in, in.TableName)
	if err != nil {
		return nil, err
	}
	defer db.mu.Unlock()
	e, err := parse(in.ExpressionAttributeNames, in.ExpressionAttributeValues, nil, nil, nil, in.FilterExpression, in.ProjectionExpression)
	if err != nil {
		return nil, err
	}
	all := slices.Collect(maps.Values(t.items))
	slices.SortFunc(all, func(a, b item) int { return compare(a[t.Key], b[t.Key]) })
	page, last := t.page(all, in.ExclusiveStartKey, in.Limit)
	items, err := e.filtered(page)
	return &dynamodb.ScanOutput{Items: items, Count: int32(len(items)), LastEvaluatedKey: last}, err
}

// page cuts the items after start (an item key) to limit items, and
// returns the key to start the next page from, if there is more.
func (t *table) page(items []item, start map[string]types.AttributeValue, limit *int32) ([]item, map[string]types.AttributeValue) {
	if start != nil {
		i := slices.IndexFunc(items, func(it item) bool { return compare(it[t.Key], start[t.Key]) == 0 })
		items = items[i+1:]
	}
	if limit == nil || int(*limit) >= len(items) {
		return items, nil
	}
	items = items[:*limit]
	return items, maps.Clone(items[len(items)-1])
}

// filtered keeps the items the filter accepts, copied (a projection
// returns whole items here: the store decodes what it needs).
func (e *expressions) filtered(items []item) ([]map[string]types.AttributeValue, error) {
	out := make([]map[string]types.AttributeValue, 0, len(items))
	for _, it := range items {
		if e.filter != nil {
			ok, err := e.test(e.filter, it)
			if err != nil {
				return nil, validation("%v", err)
			}
			if !ok {
				continue
			}
		}
		out = append(out, maps.Clone(it))
	}
	return out, nil
}
