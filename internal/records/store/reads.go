package store

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
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/avatar-pipeline/avatar-pipeline/internal/records"
)

// The reads below use the indexes, which DynamoDB updates a moment after
// the table: they serve people (avatarctl) and estimates (the learned head
// start), never a decision that must be exact.

// AmbiguousError is the error of a lookup by prefix that matches more than
// one build.
type AmbiguousError struct {
	Prefix  string
	Matches []string // some of the matching ids, sorted
	More    bool     // there are matches beyond Matches
}

func (e *AmbiguousError) Error() string {
	more := ""
	if e.More {
		more = ", …"
	}
	return fmt.Sprintf("%q is the start of several build ids (%s%s): give more characters",
		e.Prefix, strings.Join(e.Matches, ", "), more)
}

const (
	maxMatches = 5
	// BuildIDLength is the length of a build id, in lowercase hexadecimal.
	BuildIDLength = 32
	// MinPrefixLength is the shortest build id prefix Find looks up.
	MinPrefixLength = 4
)

// IsBuildID reports whether s has the shape of a build id.
func IsBuildID(s string) bool { return len(s) == BuildIDLength && isLowerHex(s) }

func isLowerHex(s string) bool {
	return s != "" && strings.Trim(s, "0123456789abcdef") == ""
}

// Find reads the build ref names: a build id, an avatar id, or a unique
// prefix of a build id (at least MinPrefixLength characters), tried in that
// order. A prefix is looked up by scanning the table's keys, because
// DynamoDB cannot query a partition key by prefix.
func (t *Table) Find(ctx context.Context, ref string) (records.Record, error) {
	ref = strings.TrimSpace(ref)
	if ref == "" {
		return records.Record{}, errors.New("find build: the id is empty")
	}
	for _, read := range []func(context.Context, string) (records.Record, error){t.Load, t.ByAvatar} {
		if rec, err := read(ctx, ref); !errors.Is(err, ErrNotFound) {
			return rec, err
		}
	}
	lower := strings.ToLower(ref)
	switch {
	case !isLowerHex(lower) || len(lower) > BuildIDLength:
		return records.Record{}, fmt.Errorf("%q is neither a build id nor an avatar id: %w", ref, ErrNotFound)
	case len(lower) == BuildIDLength && lower != ref:
		return t.Load(ctx, lower)
	case len(lower) == BuildIDLength:
		return records.Record{}, fmt.Errorf("build %s: %w", ref, ErrNotFound)
	case len(lower) < MinPrefixLength:
		return records.Record{}, fmt.Errorf("%q is too short for a build id prefix (at least %d characters): %w", ref, MinPrefixLength, ErrNotFound)
	}
	return t.byPrefix(ctx, lower)
}

// ByAvatar reads the newest build whose record names the avatar, through
// the by-avatar index.
func (t *Table) ByAvatar(ctx context.Context, avatarID string) (records.Record, error) {
	found, err := t.query(ctx, records.IndexByAvatar, expression.Key(records.AttrAvatarID).Equal(expression.Value(avatarID)), true, 0)
	if err != nil {
		return records.Record{}, fmt.Errorf("find the build of avatar %s: %w", avatarID, err)
	}
	if len(found) == 0 {
		return records.Record{}, fmt.Errorf("avatar %s: %w", avatarID, ErrNotFound)
	}
	slices.SortFunc(found, newestFirst)
	return found[0], nil
}

// byPrefix reads the one build whose id starts with prefix.
func (t *Table) byPrefix(ctx context.Context, prefix string) (records.Record, error) {
	expr, err := expression.NewBuilder().
		WithFilter(expression.Name(records.AttrBuildID).BeginsWith(prefix)).
		WithProjection(expression.NamesList(expression.Name(records.AttrBuildID))).Build()
	if err != nil {
		return records.Record{}, err
	}
	p := dynamodb.NewScanPaginator(t.DB, &dynamodb.ScanInput{TableName: &t.Name, FilterExpression: expr.Filter(),
		ProjectionExpression: expr.Projection(), ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values()})
	var ids []string
	for p.HasMorePages() && len(ids) <= maxMatches {
		page, err := p.NextPage(ctx)
		if err != nil {
			return records.Record{}, fmt.Errorf("look up build id prefix %s in table %s: %w", prefix, t.Name, err)
		}
		for _, item := range page.Items {
			if v, ok := item[records.AttrBuildID].(*types.AttributeValueMemberS); ok {
				ids = append(ids, v.Value)
			}
		}
	}
	slices.Sort(ids)
	switch {
	case len(ids) == 0:
		return records.Record{}, fmt.Errorf("no build id starts with %q: %w", prefix, ErrNotFound)
	case len(ids) > maxMatches:
		return records.Record{}, &AmbiguousError{Prefix: prefix, Matches: ids[:maxMatches], More: true}
	case len(ids) > 1:
		return records.Record{}, &AmbiguousError{Prefix: prefix, Matches: ids}
	}
	return t.Load(ctx, ids[0])
}

// All reads every build record by scanning the table (the ownership
// markers and the slots item left out): for a small table only, such as the local stack's.
func (t *Table) All(ctx context.Context) ([]records.Record, error) {
	var out []records.Record
	for p := dynamodb.NewScanPaginator(t.DB, &dynamodb.ScanInput{TableName: &t.Name, ConsistentRead: aws.Bool(true)}); p.HasMorePages(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("scan table %s: %w", t.Name, err)
		}
		for _, item := range page.Items {
			if id, _ := item[records.AttrBuildID].(*types.AttributeValueMemberS); id == nil || strings.HasPrefix(id.Value, avatarPrefix) || id.Value == SlotsKey || id.Value == OutageKey {
				continue // the avatar ownership markers and the slots item
			}
			rec, err := decode(item)
			if err != nil {
				return nil, err
			}
			out = append(out, rec)
		}
	}
	return out, nil
}

// ListOptions select the builds List returns.
type ListOptions struct {
	Status records.Status // only this status, if set
	Limit  int            // at most this many; 0 for all
	Since  time.Time      // only builds created at or after it, if set
}

// List returns builds newest first. It queries the by-status index, one
// status partition with Status, every status's partition merged without
// it, and never scans.
func (t *Table) List(ctx context.Context, o ListOptions) ([]records.Record, error) {
	if o.Limit < 0 {
		return nil, fmt.Errorf("list builds: limit %d is negative", o.Limit)
	}
	statuses := records.Statuses
	if o.Status != "" {
		if !o.Status.Valid() {
			return nil, fmt.Errorf("list builds: unknown status %q", o.Status)
		}
		statuses = []records.Status{o.Status}
	}
	var wg sync.WaitGroup
	results := make([][]records.Record, len(statuses))
	errs := make([]error, len(statuses))
	for i, s := range statuses {
		k := expression.Key(records.AttrStatus).Equal(expression.Value(s))
		if !o.Since.IsZero() {
			k = k.And(expression.Key(records.AttrCreatedAt).GreaterThanEqual(expression.Value(records.FormatTime(o.Since))))
		}
		wg.Go(func() { results[i], errs[i] = t.query(ctx, records.IndexByStatus, k, false, o.Limit) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("list builds in table %s: %w", t.Name, err)
	}
	all := slices.Concat(results...)
	slices.SortFunc(all, newestFirst)
	if o.Limit > 0 && len(all) > o.Limit {
		all = all[:o.Limit]
	}
	return all, nil
}

// RecentDurations returns how long the newest READY builds took (up to n),
// newest first: the history the learned head start reads.
func (t *Table) RecentDurations(ctx context.Context, n int) ([]time.Duration, error) {
	recs, err := t.query(ctx, records.IndexByStatus, expression.Key(records.AttrStatus).Equal(expression.Value(records.StatusReady)), false, n)
	if err != nil {
		return nil, fmt.Errorf("read recent build times: %w", err)
	}
	var out []time.Duration
	for _, r := range recs {
		if r.BuildSeconds > 0 {
			out = append(out, time.Duration(r.BuildSeconds)*time.Second)
		}
	}
	return out, nil
}

// QueuePosition counts the QUEUED builds created before rec: how many
// wait ahead of it.
func (t *Table) QueuePosition(ctx context.Context, rec records.Record) (int, error) {
	k := expression.Key(records.AttrStatus).Equal(expression.Value(records.StatusQueued)).
		And(expression.Key(records.AttrCreatedAt).LessThan(expression.Value(rec.CreatedAt)))
	expr, err := expression.NewBuilder().WithKeyCondition(k).Build()
	if err != nil {
		return 0, err
	}
	n := 0
	p := dynamodb.NewQueryPaginator(t.DB, &dynamodb.QueryInput{TableName: &t.Name, IndexName: aws.String(records.IndexByStatus),
		KeyConditionExpression: expr.KeyCondition(), ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values(),
		Select: types.SelectCount})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return 0, fmt.Errorf("count the builds queued before %s: %w", rec.BuildID, err)
		}
		n += int(page.Count)
	}
	return n, nil
}

// query reads an index partition, following pages until limit records
// (0: all), in sort key order or newest first.
func (t *Table) query(ctx context.Context, index string, k expression.KeyConditionBuilder, forward bool, limit int) ([]records.Record, error) {
	expr, err := expression.NewBuilder().WithKeyCondition(k).Build()
	if err != nil {
		return nil, err
	}
	in := &dynamodb.QueryInput{TableName: &t.Name, IndexName: aws.String(index), KeyConditionExpression: expr.KeyCondition(),
		ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values(), ScanIndexForward: aws.Bool(forward)}
	if limit > 0 {
		in.Limit = aws.Int32(int32(min(limit, 1000)))
	}
	var recs []records.Record
	for p := dynamodb.NewQueryPaginator(t.DB, in); p.HasMorePages() && (limit == 0 || len(recs) < limit); {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, item := range page.Items {
			rec, err := decode(item)
			if err != nil {
				return nil, err
			}
			recs = append(recs, rec)
		}
	}
	if limit > 0 && len(recs) > limit {
		recs = recs[:limit]
	}
	return recs, nil
}

// newestFirst orders records by created_at, newest first, then by id.
func newestFirst(a, b records.Record) int {
	return cmp.Or(cmp.Compare(b.CreatedAt, a.CreatedAt), cmp.Compare(a.BuildID, b.BuildID))
}
