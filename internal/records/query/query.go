// Package query reads build records from the DynamoDB table: by id, by a
// unique prefix of one, by avatar id, and newest first by status through the
// by-status index. These are the reads `avatarctl` makes.
package query

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/avatar-pipeline/avatar-pipeline/internal/records"
)

// API is the part of the DynamoDB client the reads use.
type API interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	Scan(ctx context.Context, in *dynamodb.ScanInput, opts ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
}

// Reader reads build records from the table: the reads `avatarctl view`,
// `list` and `wait` make.
type Reader struct {
	DB    API
	Table string
}

// ErrNotFound is wrapped by the errors of reads that find no build.
var ErrNotFound = errors.New("no such build")

// AmbiguousError is the error of a lookup by prefix that matches more than
// one build.
type AmbiguousError struct {
	Prefix string
	// Matches are some of the matching build ids (at most maxMatches), sorted.
	Matches []string
	// More reports whether there are matches beyond Matches.
	More bool
}

func (e *AmbiguousError) Error() string {
	more := ""
	if e.More {
		more = ", …"
	}
	return fmt.Sprintf("%q is the start of several build ids (%s%s): give more characters",
		e.Prefix, strings.Join(e.Matches, ", "), more)
}

// maxMatches bounds the matches an AmbiguousError lists.
const maxMatches = 5

// BuildIDLength is the length of a build id: lowercase hexadecimal.
const BuildIDLength = 32

// MinPrefixLength is the shortest build id prefix Find looks up.
const MinPrefixLength = 4

// IsBuildID reports whether s has the shape of a build id.
func IsBuildID(s string) bool { return len(s) == BuildIDLength && isLowerHex(s) }

func isLowerHex(s string) bool {
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return s != ""
}

// Get reads the build with this id, with a strongly consistent read.
func (r *Reader) Get(ctx context.Context, buildID string) (records.Record, error) {
	out, err := r.DB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(r.Table),
		Key:            map[string]types.AttributeValue{records.AttrBuildID: &types.AttributeValueMemberS{Value: buildID}},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return records.Record{}, fmt.Errorf("read build %s from table %s: %w", buildID, r.Table, err)
	}
	if out.Item == nil {
		return records.Record{}, fmt.Errorf("build %s: %w", buildID, ErrNotFound)
	}
	return decode(out.Item, buildID)
}

// Find reads the build ref names: a build id, an avatar id (through the
// by-avatar index), or a unique prefix of a build id, tried in that order.
//
// DynamoDB cannot query a partition key by prefix, so a prefix is looked up
// by scanning the table's keys (a Scan with a begins_with filter, projecting
// only build_id): it reads the whole table. Exact build ids and avatar ids
// never scan.
func (r *Reader) Find(ctx context.Context, ref string) (records.Record, error) {
	ref = strings.TrimSpace(ref)
	if ref == "" {
		return records.Record{}, errors.New("find build: the id is empty")
	}
	rec, err := r.Get(ctx, ref)
	if !errors.Is(err, ErrNotFound) {
		return rec, err
	}
	rec, err = r.ByAvatar(ctx, ref)
	if !errors.Is(err, ErrNotFound) {
		return rec, err
	}
	lower := strings.ToLower(ref)
	switch {
	case !isLowerHex(lower) || len(lower) > BuildIDLength:
		return records.Record{}, fmt.Errorf("%q is neither a build id nor an avatar id: %w", ref, ErrNotFound)
	case len(lower) == BuildIDLength:
		if lower == ref {
			return records.Record{}, fmt.Errorf("build %s: %w", ref, ErrNotFound)
		}
		return r.Get(ctx, lower)
	case len(lower) < MinPrefixLength:
		return records.Record{}, fmt.Errorf("%q is too short for a build id prefix (at least %d characters): %w", ref, MinPrefixLength, ErrNotFound)
	}
	return r.ByPrefix(ctx, lower)
}

// ByAvatar reads the build that made the avatar, through the by-avatar
// index. If several records name the avatar, the newest is returned.
func (r *Reader) ByAvatar(ctx context.Context, avatarID string) (records.Record, error) {
	p := dynamodb.NewQueryPaginator(r.DB, &dynamodb.QueryInput{
		TableName:                 aws.String(r.Table),
		IndexName:                 aws.String(records.IndexByAvatar),
		KeyConditionExpression:    aws.String("#a = :a"),
		ExpressionAttributeNames:  map[string]string{"#a": records.AttrAvatarID},
		ExpressionAttributeValues: map[string]types.AttributeValue{":a": &types.AttributeValueMemberS{Value: avatarID}},
	})
	var found []records.Record
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return records.Record{}, fmt.Errorf("find the build of avatar %s in table %s: %w", avatarID, r.Table, err)
		}
		recs, err := decodeAll(page.Items)
		if err != nil {
			return records.Record{}, err
		}
		found = append(found, recs...)
	}
	if len(found) == 0 {
		return records.Record{}, fmt.Errorf("avatar %s: %w", avatarID, ErrNotFound)
	}
	slices.SortFunc(found, newestFirst)
	return found[0], nil
}

// ByPrefix reads the one build whose id starts with prefix. It scans the
// table's keys: DynamoDB has no prefix query on a partition key.
func (r *Reader) ByPrefix(ctx context.Context, prefix string) (records.Record, error) {
	p := dynamodb.NewScanPaginator(r.DB, &dynamodb.ScanInput{
		TableName:                 aws.String(r.Table),
		ProjectionExpression:      aws.String("#id"),
		FilterExpression:          aws.String("begins_with(#id, :p)"),
		ExpressionAttributeNames:  map[string]string{"#id": records.AttrBuildID},
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": &types.AttributeValueMemberS{Value: prefix}},
	})
	var ids []string
	for p.HasMorePages() && len(ids) <= maxMatches {
		page, err := p.NextPage(ctx)
		if err != nil {
			return records.Record{}, fmt.Errorf("look up build id prefix %s in table %s: %w", prefix, r.Table, err)
		}
		for _, item := range page.Items {
			if v, ok := item[records.AttrBuildID].(*types.AttributeValueMemberS); ok {
				ids = append(ids, v.Value)
			}
		}
	}
	switch {
	case len(ids) == 0:
		return records.Record{}, fmt.Errorf("no build id starts with %q: %w", prefix, ErrNotFound)
	case len(ids) > 1:
		slices.Sort(ids)
		e := &AmbiguousError{Prefix: prefix, Matches: ids}
		if len(ids) > maxMatches {
			e.Matches, e.More = ids[:maxMatches], true
		}
		return records.Record{}, e
	}
	return r.Get(ctx, ids[0])
}

// ListOptions select the builds List returns.
type ListOptions struct {
	// Status, if set, lists only builds in that status.
	Status records.Status
	// Limit is the most builds returned; 0 means no limit.
	Limit int
	// Since, if not zero, lists only builds created at or after it.
	Since time.Time
}

// List returns builds newest first (by created_at). It queries the
// by-status index, following its pages, and never scans the table: with a
// status it queries that status's partition; without one it queries every
// status's partition and merges them.
func (r *Reader) List(ctx context.Context, o ListOptions) ([]records.Record, error) {
	if o.Limit < 0 {
		return nil, fmt.Errorf("list builds: limit %d is negative", o.Limit)
	}
	if o.Status != "" {
		if !o.Status.Valid() {
			return nil, fmt.Errorf("list builds: unknown status %q", o.Status)
		}
		return r.listStatus(ctx, o.Status, o)
	}
	var (
		wg      sync.WaitGroup
		results = make([][]records.Record, len(records.Statuses))
		errs    = make([]error, len(records.Statuses))
	)
	for i, s := range records.Statuses {
		wg.Go(func() { results[i], errs[i] = r.listStatus(ctx, s, o) })
	}
	wg.Wait()
	// The partitions usually fail alike (no table, no network): report one.
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	all := slices.Concat(results...)
	slices.SortFunc(all, newestFirst)
	if o.Limit > 0 && len(all) > o.Limit {
		all = all[:o.Limit]
	}
	return all, nil
}

// listStatus queries one partition of the by-status index, newest first.
func (r *Reader) listStatus(ctx context.Context, s records.Status, o ListOptions) ([]records.Record, error) {
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(r.Table),
		IndexName:                 aws.String(records.IndexByStatus),
		KeyConditionExpression:    aws.String("#s = :s"),
		ExpressionAttributeNames:  map[string]string{"#s": records.AttrStatus},
		ExpressionAttributeValues: map[string]types.AttributeValue{":s": &types.AttributeValueMemberS{Value: string(s)}},
		ScanIndexForward:          aws.Bool(false),
	}
	if !o.Since.IsZero() {
		in.KeyConditionExpression = aws.String("#s = :s AND #c >= :since")
		in.ExpressionAttributeNames["#c"] = records.AttrCreatedAt
		in.ExpressionAttributeValues[":since"] = &types.AttributeValueMemberS{Value: records.FormatTime(o.Since)}
	}
	if o.Limit > 0 {
		in.Limit = aws.Int32(int32(min(o.Limit, 1000)))
	}
	var recs []records.Record
	p := dynamodb.NewQueryPaginator(r.DB, in)
	for p.HasMorePages() && (o.Limit == 0 || len(recs) < o.Limit) {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list %s builds in table %s: %w", s, r.Table, err)
		}
		got, err := decodeAll(page.Items)
		if err != nil {
			return nil, err
		}
		recs = append(recs, got...)
	}
	if o.Limit > 0 && len(recs) > o.Limit {
		recs = recs[:o.Limit]
	}
	return recs, nil
}

// newestFirst orders records by created_at, newest first, then by build id
// so that the order is total.
func newestFirst(a, b records.Record) int {
	if c := cmp.Compare(b.CreatedAt, a.CreatedAt); c != 0 {
		return c
	}
	return cmp.Compare(a.BuildID, b.BuildID)
}

func decode(item map[string]types.AttributeValue, id string) (records.Record, error) {
	var rec records.Record
	if err := attributevalue.UnmarshalMap(item, &rec); err != nil {
		return records.Record{}, fmt.Errorf("decode build %s: %w", id, err)
	}
	return rec, nil
}

func decodeAll(items []map[string]types.AttributeValue) ([]records.Record, error) {
	recs := make([]records.Record, 0, len(items))
	for _, item := range items {
		id := ""
		if v, ok := item[records.AttrBuildID].(*types.AttributeValueMemberS); ok {
			id = v.Value
		}
		rec, err := decode(item, id)
		if err != nil {
			return nil, err
		}
		recs = append(recs, rec)
	}
	return recs, nil
}
