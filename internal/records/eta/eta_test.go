package eta_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/avatar-pipeline/avatar-pipeline/internal/dynamotest"
	"github.com/avatar-pipeline/avatar-pipeline/internal/records"
	"github.com/avatar-pipeline/avatar-pipeline/internal/records/eta"
	"github.com/avatar-pipeline/avatar-pipeline/internal/records/store"
)

// TestOf: a building build should be READY a median build after its
// submission; a queued one a median build after its next attempt, plus a
// median build for each turn of the slots ahead of it once the pipeline's
// limit holds builds back; a finished one has no estimate.
func TestOf(t *testing.T) {
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
	building := records.Record{BuildID: "b", Status: records.StatusBuilding, SubmittedAt: records.FormatTime(now)}
	if got := eta.Of(ctx, tbl, building); got != (eta.Estimate{}) {
		t.Errorf("with no READY build yet: got %+v, want nothing", got)
	}
	for i, secs := range []int64{600, 900, 1200, 3000} { // median 20 minutes (the upper of the middle two)
		put(records.Record{BuildID: fmt.Sprint("ready-", i), Status: records.StatusReady, BuildSeconds: secs,
			CreatedAt: records.FormatTime(now.Add(-time.Duration(i+1) * time.Hour))})
	}
	for i := range 4 {
		put(records.Record{BuildID: fmt.Sprint("queued-", i), Status: records.StatusQueued, CreatedAt: records.FormatTime(now.Add(-time.Duration(10-i) * time.Minute))})
	}
	next := now.Add(5 * time.Minute)
	queued := records.Record{BuildID: "me", Status: records.StatusQueued, CreatedAt: records.FormatTime(now.Add(-time.Minute)), NextAttemptAt: records.FormatTime(next)}
	put(queued)
	typical := 20 * time.Minute
	if got, want := eta.Of(ctx, tbl, building), (eta.Estimate{Ready: now.Add(typical), Typical: typical, Basis: 4}); got != want {
		t.Errorf("building: got %+v, want %+v", got, want)
	}
	if got, want := eta.Of(ctx, tbl, queued), (eta.Estimate{Place: 5, Ready: next.Add(typical), Typical: typical, Basis: 4}); got != want {
		t.Errorf("queued, no limit: got %+v, want %+v", got, want)
	}
	for _, id := range []string{"s1", "s2"} { // 4 ahead, a limit of 3 slots: one turn before its own
		if ok, err := tbl.AcquireSlot(ctx, id, 3); !ok || err != nil {
			t.Fatalf("take a slot for %s: %v %v", id, ok, err)
		}
	}
	if got, want := eta.Of(ctx, tbl, queued), (eta.Estimate{Place: 5, Ready: next.Add(2 * typical), Typical: typical, Basis: 4}); got != want {
		t.Errorf("queued behind 3 slots: got %+v, want %+v", got, want)
	}
	if got := eta.Of(ctx, tbl, records.Record{Status: records.StatusReady}); got != (eta.Estimate{}) {
		t.Errorf("READY: got %+v, want nothing", got)
	}
}
