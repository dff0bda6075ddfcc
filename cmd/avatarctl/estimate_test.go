package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/avatar-pipeline/avatar-pipeline/internal/dynamotest"
	"github.com/avatar-pipeline/avatar-pipeline/internal/records"
	"github.com/avatar-pipeline/avatar-pipeline/internal/records/store"
)

// TestEstimate: a queued build learns its place and, from the median of
// recent READY builds, when it should be READY; a building one only the
// latter; a finished one nothing.
func TestEstimate(t *testing.T) {
	ctx := context.Background()
	db := dynamotest.New(dynamotest.Builds("builds"))
	tbl := &store.Table{DB: db, Name: "builds"}
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	put := func(r records.Record) {
		item, _ := attributevalue.MarshalMap(r)
		if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &tbl.Name, Item: item}); err != nil {
			t.Fatal(err)
		}
	}
	if got := estimate(ctx, tbl, records.Record{Status: records.StatusBuilding, SubmittedAt: records.FormatTime(now)}, now); got != "" {
		t.Errorf("with no READY build yet: got %q, want nothing", got)
	}
	for i, secs := range []int64{600, 900, 1200} { // median 15 minutes
		put(records.Record{BuildID: fmt.Sprint("ready-", i), Status: records.StatusReady, BuildSeconds: secs,
			CreatedAt: records.FormatTime(now.Add(-time.Duration(i+1) * time.Hour))})
	}
	for i := range 2 {
		put(records.Record{BuildID: fmt.Sprint("queued-", i), Status: records.StatusQueued, CreatedAt: records.FormatTime(now.Add(-time.Duration(10-i) * time.Minute))})
	}
	queued := records.Record{BuildID: "me", Status: records.StatusQueued, CreatedAt: records.FormatTime(now.Add(-time.Minute)),
		NextAttemptAt: records.FormatTime(now.Add(5 * time.Minute))}
	put(queued)
	tests := []struct {
		rec  records.Record
		want string
	}{
		{queued, "place 3 in the queue; READY in about 20m (the median of the last 3 READY builds: 15m)"},
		{records.Record{Status: records.StatusBuilding, SubmittedAt: records.FormatTime(now.Add(-5 * time.Minute))}, "READY in about 10m (the median of the last 3 READY builds: 15m)"},
		{records.Record{Status: records.StatusPending, SubmittedAt: records.FormatTime(now.Add(-time.Hour))}, "READY any moment now (the median of the last 3 READY builds: 15m)"},
		{records.Record{Status: records.StatusReady}, ""},
	}
	for _, tc := range tests {
		if got := estimate(ctx, tbl, tc.rec, now); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.rec.Status, got, tc.want)
		}
	}
}
