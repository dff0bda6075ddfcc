package submit

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/avatar-pipeline/avatar-pipeline/internal/pipeline"
	"github.com/avatar-pipeline/avatar-pipeline/internal/records"
)

// DurationQuerier is the part of the DynamoDB client the learned head start
// uses.
type DurationQuerier interface {
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

// LearnedHeadStart is a HeadStarter that starts polling just before the
// likely finish: it reads how long recent builds took (build_seconds of the
// newest READY records, through the by-status index) and waits until a
// little before the shortest of them. It reads the table at most once per
// TTL and falls back to the fixed head start when the history is thin or
// cannot be read: a failed read never fails a build.
//
// It is safe for concurrent use (the local stack runs Submit in-process).
type LearnedHeadStart struct {
	Table     DurationQuerier
	TableName string
	// Schedule supplies the interval between checks (recorded build times
	// overstate the real ones by up to one interval, the detection latency)
	// and the deadline, which bounds the head start.
	Schedule pipeline.Schedule
	// Samples, MinSamples and TTL default to LearnSamples, LearnMinSamples
	// and LearnTTL when zero.
	Samples    int
	MinSamples int
	TTL        time.Duration
	Log        *slog.Logger     // nil: slog.Default()
	Now        func() time.Time // time.Now when nil

	mu        sync.Mutex
	durations []time.Duration // newest first
	fetched   time.Time       // when durations were read; zero: never
}

// HeadStart implements HeadStarter.
func (l *LearnedHeadStart) HeadStart(ctx context.Context, fallback time.Duration) time.Duration {
	minSamples := l.MinSamples
	if minSamples <= 0 {
		minSamples = pipeline.LearnMinSamples
	}
	recent := l.recent(ctx)
	if len(recent) < minSamples {
		return fallback
	}
	return pipeline.LearnHeadStart(recent, fallback, l.Schedule.Interval, l.Schedule.Deadline)
}

// recent returns the durations of recent READY builds, newest first, from
// the cache when it is fresh.
func (l *LearnedHeadStart) recent(ctx context.Context) []time.Duration {
	ttl := l.TTL
	if ttl <= 0 {
		ttl = pipeline.LearnTTL
	}
	now := time.Now()
	if l.Now != nil {
		now = l.Now()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.fetched.IsZero() && now.Sub(l.fetched) < ttl && now.Sub(l.fetched) >= 0 {
		return l.durations
	}
	durations, err := l.query(ctx)
	// A failed read is remembered for a TTL too, with the durations read
	// before (if any): a table in trouble gets no Query per build.
	l.fetched = now
	if err != nil {
		log := l.Log
		if log == nil {
			log = slog.Default()
		}
		log.Warn("learned head start: cannot read recent build times; using what was read before, or the fixed head start",
			"error", err, "cached_builds", len(l.durations))
		return l.durations
	}
	l.durations = durations
	return durations
}

// query reads build_seconds of the newest READY records: one Query of the
// by-status index, newest created_at first, projecting the one attribute.
func (l *LearnedHeadStart) query(ctx context.Context) ([]time.Duration, error) {
	samples := l.Samples
	if samples <= 0 {
		samples = pipeline.LearnSamples
	}
	out, err := l.Table.Query(ctx, &dynamodb.QueryInput{
		TableName:                aws.String(l.TableName),
		IndexName:                aws.String(records.IndexByStatus),
		KeyConditionExpression:   aws.String("#status = :ready"),
		ProjectionExpression:     aws.String("#seconds"),
		ExpressionAttributeNames: map[string]string{"#status": records.AttrStatus, "#seconds": records.AttrBuildSeconds},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":ready": &types.AttributeValueMemberS{Value: string(records.StatusReady)},
		},
		ScanIndexForward: aws.Bool(false),
		Limit:            aws.Int32(int32(samples)),
	})
	if err != nil {
		return nil, fmt.Errorf("read recent build times: %w", err)
	}
	durations := make([]time.Duration, 0, len(out.Items))
	for _, item := range out.Items {
		n, ok := item[records.AttrBuildSeconds].(*types.AttributeValueMemberN)
		if !ok {
			continue // a READY record without a build time (written by hand, or by an older version)
		}
		s, err := strconv.ParseFloat(n.Value, 64)
		if err != nil || s <= 0 {
			continue
		}
		durations = append(durations, time.Duration(s*float64(time.Second)))
	}
	return durations, nil
}
