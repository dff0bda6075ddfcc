package local

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/avatar-pipeline/avatar-pipeline/internal/pipeline"
	"github.com/avatar-pipeline/avatar-pipeline/internal/records"
	"github.com/avatar-pipeline/avatar-pipeline/internal/records/query"
)

// e2eOptions are quick settings for end-to-end tests: builds of a second,
// a status check every second.
func e2eOptions() Options {
	return Options{BuildTime: time.Second, PollSeconds: 1}
}

// portrait draws a w×h picture shaped like a portrait (a lit face with
// eyes and mouth on a textured background), so that it passes the
// portrait checks the way a photo does: colour, contrast, sharp edges.
func portrait(w, h int) image.Image {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	rng := rand.New(rand.NewPCG(1, 2))
	cx, cy := float64(w)/2, float64(h)/2
	rx, ry := float64(min(w, h))*0.28, float64(min(w, h))*0.36
	for y := range h {
		for x := range w {
			n := rng.IntN(24)
			c := color.RGBA{uint8(40 + 80*x/w + n), uint8(70 + n), uint8(120 + 60*y/h + n), 255}
			dx, dy := (float64(x)-cx)/rx, (float64(y)-cy)/ry
			if dx*dx+dy*dy <= 1 {
				shade := 1 - 0.25*dx
				c = color.RGBA{uint8(math.Min(255, 225*shade) - float64(n)/2), uint8(180*shade) - uint8(n/2), uint8(150*shade) - uint8(n/2), 255}
				for _, ex := range []float64{-0.4, 0.4} {
					ddx, ddy := dx-ex, dy+0.25
					if ddx*ddx+ddy*ddy*4 < 0.02 {
						c = color.RGBA{30, 20, 15, 255}
					}
				}
				if dy > 0.45 && dy < 0.55 && math.Abs(dx) < 0.35 {
					c = color.RGBA{150, 40, 50, 255}
				}
			}
			img.Set(x, y, c)
		}
	}
	return img
}

// portraitJPEG encodes portrait(w, h) as a JPEG.
func portraitJPEG(t *testing.T, w, h int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, portrait(w, h), &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// portraitPNG encodes portrait(w, h) as a PNG.
func portraitPNG(t *testing.T, w, h int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, portrait(w, h)); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// upload puts a portrait into the stack's bucket through the S3 API, with
// the avatar name as user metadata (none when name is empty), and returns
// the id its build will have.
func upload(ctx context.Context, t *testing.T, s *Stack, key string, body []byte, name string) string {
	t.Helper()
	in := &s3.PutObjectInput{Bucket: aws.String(s.Resources.Bucket), Key: aws.String(key), Body: bytes.NewReader(body)}
	if name != "" {
		in.Metadata = map[string]string{"avatar-name": name}
	}
	out, err := s3.NewFromConfig(s.AWSConfig(), func(o *s3.Options) { o.UsePathStyle = true }).PutObject(ctx, in)
	if err != nil {
		t.Fatalf("upload %q: %v", key, err)
	}
	return records.BuildID(s.Resources.Bucket, key, aws.ToString(out.VersionId), aws.ToString(out.ETag))
}

// reader reads the stack's build records.
func reader(s *Stack) *query.Reader {
	return &query.Reader{DB: dynamodb.NewFromConfig(s.AWSConfig()), Table: s.Resources.Table}
}

// waitTerminal waits until the build's record has a terminal status.
func waitTerminal(ctx context.Context, t *testing.T, s *Stack, buildID string) records.Record {
	t.Helper()
	r := reader(s)
	for {
		rec, err := r.Get(ctx, buildID)
		switch {
		case err == nil && rec.Status.Terminal():
			return rec
		case err != nil && !errors.Is(err, query.ErrNotFound):
			t.Fatalf("read build %s: %v", buildID, err)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("build %s: no terminal status (last %q): %v", buildID, rec.Status, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// eventsFor returns the notification events about one build.
func eventsFor(t *testing.T, ns []Notification, buildID string) []pipeline.Event {
	t.Helper()
	var out []pipeline.Event
	for _, n := range ns {
		var ev pipeline.Event
		if err := n.Event(&ev); err != nil {
			t.Errorf("notification is not a JSON event: %v: %s", err, n.Message)
			continue
		}
		if ev.Build.BuildID == buildID {
			out = append(out, ev)
		}
	}
	return out
}

// waitEvent waits for a notification about the build and returns all of
// the build's events so far.
func waitEvent(ctx context.Context, t *testing.T, s *Stack, buildID, typ string) []pipeline.Event {
	t.Helper()
	var events []pipeline.Event
	_, err := s.Webhook.Wait(ctx, func(ns []Notification) bool {
		events = eventsFor(t, ns, buildID)
		for _, ev := range events {
			if ev.Type == typ {
				return true
			}
		}
		return false
	})
	if err != nil {
		t.Fatalf("build %s: no %s notification (got %v): %v", buildID, typ, events, err)
	}
	return events
}
