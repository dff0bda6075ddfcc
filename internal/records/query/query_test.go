package query

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/avatar-pipeline/avatar-pipeline/internal/local"
	"github.com/avatar-pipeline/avatar-pipeline/internal/records"
)

// The tests in this file run against DynamoDB as moto_server serves it: one
// server for the package, one table per test.

var moto struct {
	once   sync.Once
	server *local.Moto
	err    error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if moto.server != nil {
		moto.server.Close()
	}
	os.Exit(code)
}

// motoEndpoint starts moto_server once, as the local stack does, and returns
// its URL. The test fails when moto is not installed: these tests are the
// only check of the queries against a real DynamoDB API.
func motoEndpoint(t *testing.T) string {
	t.Helper()
	moto.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		// No Step Functions here: nothing needs moto's calls back to AWS.
		moto.server, moto.err = local.StartMoto(ctx, 0, nil)
	})
	if moto.err != nil {
		t.Fatal(moto.err)
	}
	return moto.server.URL
}

func newDB(t *testing.T) *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
		BaseEndpoint: aws.String(motoEndpoint(t)),
	})
}

// newTable creates a table shaped like the template's (keys and indexes)
// and fills it with recs.
func newTable(t *testing.T, db *dynamodb.Client, recs ...records.Record) string {
	t.Helper()
	ctx := context.Background()
	name := fmt.Sprintf("builds-%d", time.Now().UnixNano())
	s := types.ScalarAttributeTypeS
	_, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:   aws.String(name),
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String(records.AttrBuildID), AttributeType: s},
			{AttributeName: aws.String(records.AttrStatus), AttributeType: s},
			{AttributeName: aws.String(records.AttrCreatedAt), AttributeType: s},
			{AttributeName: aws.String(records.AttrAvatarID), AttributeType: s},
		},
		KeySchema: []types.KeySchemaElement{{AttributeName: aws.String(records.AttrBuildID), KeyType: types.KeyTypeHash}},
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{
			{
				IndexName: aws.String(records.IndexByStatus),
				KeySchema: []types.KeySchemaElement{
					{AttributeName: aws.String(records.AttrStatus), KeyType: types.KeyTypeHash},
					{AttributeName: aws.String(records.AttrCreatedAt), KeyType: types.KeyTypeRange},
				},
				Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
			},
			{
				IndexName:  aws.String(records.IndexByAvatar),
				KeySchema:  []types.KeySchemaElement{{AttributeName: aws.String(records.AttrAvatarID), KeyType: types.KeyTypeHash}},
				Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
			},
		},
	})
	if err != nil {
		t.Fatalf("create table: %v", err)
	}
	for _, r := range recs {
		item, err := attributevalue.MarshalMap(r)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(name), Item: item}); err != nil {
			t.Fatalf("put %s: %v", r.BuildID, err)
		}
	}
	return name
}

// fixture returns n records, one minute apart starting at 12:00, with
// statuses cycling through records.Statuses and avatar ids av-0, av-1, ….
func fixture(n int) []records.Record {
	base := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	recs := make([]records.Record, n)
	for i := range recs {
		recs[i] = records.Record{
			BuildID:   records.BuildID("bucket", fmt.Sprintf("portraits/%d.jpg", i), "", fmt.Sprint(i)),
			Status:    records.Statuses[i%len(records.Statuses)],
			Name:      fmt.Sprintf("Avatar %d", i),
			Bucket:    "bucket",
			Key:       fmt.Sprintf("portraits/%d.jpg", i),
			CreatedAt: records.FormatTime(base.Add(time.Duration(i) * time.Minute)),
			AvatarID:  fmt.Sprintf("av-%d", i),
			Themes:    []string{"Default"},
			Image:     &records.Image{Format: "jpeg", Width: 1024, Height: 1024},
		}
	}
	return recs
}

// spy counts the client's calls and caps Query pages at pageSize items,
// so that tests see List follow pages.
type spy struct {
	API
	pageSize      int32
	queries, scan atomic.Int32
}

func (s *spy) Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	s.queries.Add(1)
	if s.pageSize > 0 && (in.Limit == nil || *in.Limit > s.pageSize) {
		c := *in
		c.Limit = aws.Int32(s.pageSize)
		in = &c
	}
	return s.API.Query(ctx, in, opts...)
}

func (s *spy) Scan(ctx context.Context, in *dynamodb.ScanInput, opts ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error) {
	s.scan.Add(1)
	return s.API.Scan(ctx, in, opts...)
}

func ids(recs []records.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.BuildID
	}
	return out
}

func TestList(t *testing.T) {
	db := newDB(t)
	recs := fixture(20)
	table := newTable(t, db, recs...)
	newest := slices.Clone(recs)
	slices.Reverse(newest)
	ready := slices.DeleteFunc(slices.Clone(newest), func(r records.Record) bool { return r.Status != records.StatusReady })

	tests := []struct {
		name string
		opts ListOptions
		want []records.Record
	}{
		{"all", ListOptions{}, newest},
		{"limit", ListOptions{Limit: 7}, newest[:7]},
		{"status", ListOptions{Status: records.StatusReady}, ready},
		{"status limit", ListOptions{Status: records.StatusReady, Limit: 2}, ready[:2]},
		{"since", ListOptions{Since: time.Date(2025, 6, 1, 12, 15, 0, 0, time.UTC)}, newest[:5]},
		{"status since", ListOptions{Status: records.StatusReady, Since: time.Date(2025, 6, 1, 12, 12, 0, 0, time.UTC)}, ready[:1]},
		{"none since", ListOptions{Since: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &spy{API: db, pageSize: 2}
			r := &Reader{DB: s, Table: table}
			got, err := r.List(context.Background(), tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(ids(got), ids(tc.want)) {
				t.Errorf("got %v, want %v", ids(got), ids(tc.want))
			}
			if n := s.scan.Load(); n != 0 {
				t.Errorf("got %d scans, want none", n)
			}
			if len(got) > 0 && !slices.Equal(got[0].Themes, []string{"Default"}) {
				t.Errorf("got themes %v, want [Default]", got[0].Themes)
			}
		})
	}
}

func TestListFollowsPages(t *testing.T) {
	db := newDB(t)
	recs := fixture(16) // two READY builds, among others
	table := newTable(t, db, recs...)
	s := &spy{API: db, pageSize: 1}
	got, err := (&Reader{DB: s, Table: table}).List(context.Background(), ListOptions{Status: records.StatusReady})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("got %d builds, want 2", len(got))
	}
	if n := s.queries.Load(); n < 2 {
		t.Errorf("got %d queries, want at least 2 (one per page)", n)
	}
}

func TestListRejectsBadOptions(t *testing.T) {
	r := &Reader{DB: nil, Table: "t"}
	for _, o := range []ListOptions{{Status: "DONE"}, {Limit: -1}} {
		if _, err := r.List(context.Background(), o); err == nil {
			t.Errorf("List(%+v): got no error, want one", o)
		}
	}
}

func TestFind(t *testing.T) {
	db := newDB(t)
	recs := fixture(3)
	// Two builds whose ids share a prefix.
	a, b := recs[0], recs[1]
	a.BuildID = "abcd0000000000000000000000000001"
	b.BuildID = "abcd0000000000000000000000000002"
	a.AvatarID, b.AvatarID = "", ""
	c := recs[2]
	table := newTable(t, db, a, b, c)

	tests := []struct {
		name      string
		ref       string
		want      string
		wantErr   error
		wantScans int32
	}{
		{"build id", c.BuildID, c.BuildID, nil, 0},
		{"upper-case build id", upper(c.BuildID), c.BuildID, nil, 0},
		{"avatar id", c.AvatarID, c.BuildID, nil, 0},
		{"unique prefix", c.BuildID[:8], c.BuildID, nil, 1},
		{"longer prefix", "abcd00000000000000000000000000", "", nil, 1},
		{"unknown id", "ffffffffffffffffffffffffffffffff", "", ErrNotFound, 0},
		{"unknown prefix", "ffff", "", ErrNotFound, 1},
		{"short prefix", "abc", "", ErrNotFound, 0},
		{"not hex", "no-such-avatar", "", ErrNotFound, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &spy{API: db}
			got, err := (&Reader{DB: s, Table: table}).Find(context.Background(), tc.ref)
			if n := s.scan.Load(); n != tc.wantScans {
				t.Errorf("got %d scans, want %d", n, tc.wantScans)
			}
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("got error %v, want %v", err, tc.wantErr)
				}
				return
			}
			if tc.want == "" { // ambiguous
				var amb *AmbiguousError
				if !errors.As(err, &amb) {
					t.Fatalf("got error %v, want an AmbiguousError", err)
				}
				if want := []string{a.BuildID, b.BuildID}; !slices.Equal(amb.Matches, want) {
					t.Errorf("got matches %v, want %v", amb.Matches, want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.BuildID != tc.want {
				t.Errorf("got build %s, want %s", got.BuildID, tc.want)
			}
		})
	}
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'f' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

func TestAmbiguousErrorListsSome(t *testing.T) {
	e := &AmbiguousError{Prefix: "ab", Matches: []string{"ab1", "ab2"}, More: true}
	if got, want := e.Error(), `"ab" is the start of several build ids (ab1, ab2, …): give more characters`; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestMissingTable(t *testing.T) {
	r := &Reader{DB: newDB(t), Table: "no-such-table"}
	ctx := context.Background()
	var rnf *types.ResourceNotFoundException
	if _, err := r.Get(ctx, "x"); !errors.As(err, &rnf) {
		t.Errorf("Get: got %v, want a ResourceNotFoundException", err)
	}
	if _, err := r.List(ctx, ListOptions{}); !errors.As(err, &rnf) {
		t.Errorf("List: got %v, want a ResourceNotFoundException", err)
	}
}
