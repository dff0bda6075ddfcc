package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/avatar-pipeline/avatar-pipeline/internal/local"
	"github.com/avatar-pipeline/avatar-pipeline/internal/mirako"
	"github.com/avatar-pipeline/avatar-pipeline/internal/pipeline"
	"github.com/avatar-pipeline/avatar-pipeline/internal/pipeline/sweep"
	"github.com/avatar-pipeline/avatar-pipeline/internal/records"
	"github.com/avatar-pipeline/avatar-pipeline/internal/secret"
)

// TestE2ESweep: a build whose execution died while it polled (here: a
// record left PENDING by an execution that no longer exists, with a real
// avatar at the simulator) is found by sweep and re-driven; the new
// execution carries it to READY without posting it to Mirako again.
func TestE2ESweep(t *testing.T) {
	s := localStack(t)
	t.Parallel()
	ctx := context.Background()
	name := "Swept build"
	token, err := secret.Read(ctx, secretsmanager.NewFromConfig(s.AWSConfig()), s.Env[local.SubmitFunctionName][pipeline.EnvMirakoSecretID])
	if err != nil {
		t.Fatal(err)
	}
	img := local.PortraitJPEG(512, 512)
	avatarID, err := mirako.NewClient(s.MirakoURL, token).Build(ctx, name, bytes.NewReader(img), int64(len(img)))
	if err != nil {
		t.Fatal(err)
	}
	// Submitted a moment ago (so its deadline is ahead), its execution already gone.
	long := records.FormatTime(time.Now().Add(-2 * time.Second))
	rec := records.Record{
		BuildID: records.BuildID(s.Resources.Bucket, "portraits/swept.jpg", "v-swept", ""), Status: records.StatusPending,
		Name: name, Bucket: s.Resources.Bucket, Key: "portraits/swept.jpg", VersionID: "v-swept", Size: 1234,
		AvatarID: avatarID, CreatedAt: long, SubmittedAt: long, UpdatedAt: long,
		ExecutionARN: "arn:aws:states:us-east-1:123456789012:execution:avatar-build:died-long-ago",
	}
	item, err := attributevalue.MarshalMap(rec)
	if err != nil {
		t.Fatal(err)
	}
	db := dynamodb.NewFromConfig(s.AWSConfig())
	if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.Resources.Table), Item: item}); err != nil {
		t.Fatal(err)
	}

	dry := onLocal(t, s, "sweep", "--older-than=1s", "--dry-run", "--json")
	var report []sweep.Result
	if err := json.Unmarshal([]byte(dry.stdout), &report); err != nil {
		t.Fatalf("sweep --json: %q: %v", dry.stdout, err)
	}
	if !hasSwept(report, rec.BuildID, "would resume") {
		t.Fatalf("dry run: got %+v, want build %s to be one it would resume", report, rec.BuildID)
	}
	if got := decodeRecord(t, onLocal(t, s, "view", "--json", rec.BuildID)); got.ExecutionARN != rec.ExecutionARN {
		t.Fatal("the dry run changed the record")
	}

	r := onLocal(t, s, "sweep", "--older-than=1s", "--json")
	if err := json.Unmarshal([]byte(r.stdout), &report); err != nil || !hasSwept(report, rec.BuildID, "resumed") {
		t.Fatalf("sweep: got %q (%v), want build %s resumed", r.stdout, err, rec.BuildID)
	}
	w := onLocal(t, s, "wait", waitFlags, "--timeout=60s", "--json", rec.BuildID)
	final := decodeRecord(t, w)
	if final.Status != records.StatusReady || final.ExecutionARN == rec.ExecutionARN || final.AvatarID != avatarID {
		t.Errorf("after the sweep: got %s owned by %s with avatar %s, want READY reached by a new execution with avatar %s",
			final.Status, final.ExecutionARN, final.AvatarID, avatarID)
	}
	if n := s.Sim.Stats().BuildsByName[name]; n != 1 {
		t.Errorf("Mirako got %d builds named %q, want 1: re-driving must not post again", n, name)
	}
	if again := onLocal(t, s, "sweep", "--older-than=1s"); strings.Contains(again.stdout, rec.BuildID) {
		t.Errorf("a second sweep still lists the finished build: %q", again.stdout)
	}
}

func hasSwept(report []sweep.Result, id, action string) bool {
	for _, r := range report {
		if r.BuildID == id && r.Action == action {
			return true
		}
	}
	return false
}
