package local

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/avatar-pipeline/avatar-pipeline/internal/records"
	"github.com/avatar-pipeline/avatar-pipeline/internal/records/store"
)

// progress logs each build's status changes by scanning the table: a local
// table holds a handful of records, and a scan a second costs nothing.
type progress struct {
	table  *store.Table
	printf func(format string, args ...any)
	seen   map[string]string // build id → the last line printed for it
}

// run scans every interval until ctx is done.
func (p *progress) run(ctx context.Context, every time.Duration) {
	for {
		if err := p.scan(ctx); err != nil && ctx.Err() == nil {
			p.printf("progress: %v", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
	}
}

// scan reads the table and prints the builds whose status changed.
func (p *progress) scan(ctx context.Context) error {
	if p.seen == nil {
		p.seen = map[string]string{}
	}
	recs, err := p.table.All(ctx)
	if err != nil {
		return err
	}
	for _, r := range recs {
		if line := progressLine(r); p.seen[r.BuildID] != line {
			p.seen[r.BuildID] = line
			p.printf("%s", line)
		}
	}
	return nil
}

// progressLine describes a build's state in one line.
func progressLine(r records.Record) string {
	var b strings.Builder
	fmt.Fprintf(&b, "build %s %q (s3://%s/%s): %s", r.BuildID, r.Name, r.Bucket, r.Key, r.Status)
	if r.AvatarID != "" {
		fmt.Fprintf(&b, " avatar %s", r.AvatarID)
	}
	if r.Checks > 0 {
		fmt.Fprintf(&b, ", %d checks", r.Checks)
	}
	if r.Status == records.StatusReady && r.BuildSeconds > 0 {
		fmt.Fprintf(&b, ", built in %ds", r.BuildSeconds)
	}
	if len(r.Themes) > 0 {
		fmt.Fprintf(&b, ", themes %s", strings.Join(r.Themes, ", "))
	}
	if r.Reason != "" {
		fmt.Fprintf(&b, ": %s", r.Reason)
	}
	return b.String()
}
