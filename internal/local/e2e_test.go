package local

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/draw"
	"image/gif"
	"image/jpeg"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/avatar-pipeline/avatar-pipeline/internal/mirako/mirakotest"
	"github.com/avatar-pipeline/avatar-pipeline/internal/records"
	"github.com/avatar-pipeline/avatar-pipeline/internal/records/store"
)

// TestE2EPortraitBecomesReady: a portrait uploaded through the S3 API
// becomes a READY record with its avatar, themes, checks and build time,
// and the webhook receives exactly one notification, the documented JSON
// event.
func TestE2EPortraitBecomesReady(t *testing.T) {
	t.Parallel()
	s := StartTest(t, e2eOptions())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	began := time.Now()
	id := upload(ctx, t, s, "portraits/ada.jpg", PortraitJPEG(640, 640), "Ada Lovelace")
	rec := waitTerminal(ctx, t, s, id)
	t.Logf("READY after %s", time.Since(began).Round(time.Millisecond))

	if rec.Status != records.StatusReady {
		t.Fatalf("got status %s (reason %q, error %q), want READY", rec.Status, rec.Reason, rec.Error)
	}
	if rec.Name != "Ada Lovelace" {
		t.Errorf("got name %q, want the avatar-name metadata %q", rec.Name, "Ada Lovelace")
	}
	if rec.AvatarID == "" || len(rec.Themes) == 0 || rec.Checks < 1 || rec.BuildSeconds < 1 {
		t.Errorf("got avatar_id %q themes %v checks %d build_seconds %d, want all set", rec.AvatarID, rec.Themes, rec.Checks, rec.BuildSeconds)
	}
	if rec.Image == nil || rec.Image.Format != "jpeg" || rec.Image.Width != 640 || rec.Image.Height != 640 {
		t.Errorf("got image %+v, want jpeg 640×640", rec.Image)
	}
	if got := s.Sim.Stats().BuildsCreated; got != 1 {
		t.Errorf("got %d simulator builds, want 1", got)
	}

	waitEvent(ctx, t, s, id, "avatar.build.ready")
	// Give a stray second notification time to arrive.
	time.Sleep(time.Second)
	events := eventsFor(t, s.Notifications(), id)
	if len(events) != 1 {
		t.Fatalf("got %d notifications %+v, want 1", len(events), events)
	}
	// The summary `avatarctl local` prints on exit comes from the metric lines Notify wrote.
	if sum := s.Metrics.Summary(); !strings.Contains(sum, "1 builds finished: READY 1 (mean ") || !strings.Contains(sum, "status checks per build") {
		t.Errorf("got summary %q, want one READY build with its time and checks", sum)
	}
	ev := events[0]
	if ev.ID == "" || ev.Type != "avatar.build.ready" || ev.Time == "" {
		t.Errorf("got event id %q type %q time %q, want all set, type avatar.build.ready", ev.ID, ev.Type, ev.Time)
	}
	if _, err := time.Parse(time.RFC3339, ev.Time); err != nil {
		t.Errorf("got event time %q: %v", ev.Time, err)
	}
	if ev.Build.BuildID != id || ev.Build.Status != records.StatusReady || ev.Build.AvatarID != rec.AvatarID {
		t.Errorf("got event build %+v, want the READY record %s", ev.Build, id)
	}
	// The event's JSON carries the record's public field names.
	var raw map[string]json.RawMessage
	if err := s.Notifications()[0].Event(&raw); err != nil {
		t.Fatal(err)
	}
	var build map[string]any
	if err := json.Unmarshal(raw["build"], &build); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{records.AttrBuildID, records.AttrStatus, records.AttrName, records.AttrKey, records.AttrAvatarID, records.AttrThemes, records.AttrBuildSeconds} {
		if _, ok := build[k]; !ok {
			t.Errorf("event build has no %q: %v", k, build)
		}
	}
}

// TestE2EInvalidUploadsRejected: a portrait that fails a hard check
// (format, size, aspect, no face, two people) becomes REJECTED with a
// reason, is never sent to Mirako, and is notified.
func TestE2EInvalidUploadsRejected(t *testing.T) {
	t.Parallel()
	s := StartTest(t, e2eOptions())

	var gifBody bytes.Buffer
	if err := gif.Encode(&gifBody, portrait(600, 600), nil); err != nil {
		t.Fatal(err)
	}
	// A picture without a face: the portrait's background alone, the two
	// sides of a wide portrait.
	empty, wide := image.NewRGBA(image.Rect(0, 0, 640, 640)), portrait(1280, 640)
	draw.Draw(empty, image.Rect(0, 0, 320, 640), wide, image.Point{}, draw.Src)
	draw.Draw(empty, image.Rect(320, 0, 640, 640), wide, image.Pt(960, 0), draw.Src)
	// Two people: two portraits side by side, 16:9.
	pair := image.NewRGBA(image.Rect(0, 0, 1280, 720))
	draw.Draw(pair, image.Rect(0, 40, 640, 680), portrait(640, 640), image.Point{}, draw.Src)
	draw.Draw(pair, image.Rect(640, 40, 1280, 680), portrait(640, 640), image.Point{}, draw.Src)
	encode := func(img image.Image) []byte {
		var b bytes.Buffer
		if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 90}); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	tests := []struct {
		name string
		key  string
		body []byte
		want string // in the reason
	}{
		{"no face", "bad/landscape.jpg", encode(empty), "no face was found"},
		{"two people", "bad/pair.jpg", encode(pair), "2 faces were found"},
		{"wrong format", "bad/format.jpg", gifBody.Bytes(), "JPEG"},
		{"too small", "bad/small.jpg", PortraitJPEG(256, 256), "512"},
		{"wrong aspect", "bad/aspect.png", PortraitPNG(800, 600), "16:9"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			id := upload(ctx, t, s, tc.key, tc.body, "")
			rec := waitTerminal(ctx, t, s, id)
			if rec.Status != records.StatusRejected {
				t.Fatalf("got status %s (reason %q, error %q), want REJECTED", rec.Status, rec.Reason, rec.Error)
			}
			if !strings.Contains(rec.Reason, tc.want) {
				t.Errorf("got reason %q, want one mentioning %q", rec.Reason, tc.want)
			}
			if rec.AvatarID != "" {
				t.Errorf("got avatar_id %q, want none", rec.AvatarID)
			}
			events := waitEvent(ctx, t, s, id, "avatar.build.rejected")
			if len(events) != 1 || events[0].Build.Reason != rec.Reason {
				t.Errorf("got events %+v, want one rejection with the record's reason", events)
			}
		})
	}
	t.Cleanup(func() {
		if st := s.Sim.Stats(); st.BuildsCreated != 0 || st.Requests[mirakotest.EndpointBuild] != 0 {
			t.Errorf("got %d builds from %d requests at the simulator, want none: rejected portraits are never sent",
				st.BuildsCreated, st.Requests[mirakotest.EndpointBuild])
		}
	})
}

// TestE2EMirakoOutcomes: Mirako's failures end builds in the right status:
// an ERROR build is ERROR, a build that never finishes is TIMED_OUT at the
// deadline, and 402 (no credits) is FAILED with its reason.
func TestE2EMirakoOutcomes(t *testing.T) {
	t.Parallel()
	const deadline = 4
	o := e2eOptions()
	o.DeadlineSeconds = deadline
	s := StartTest(t, o)

	tests := []struct {
		name   string // the avatar name, whose tag scripts the simulator
		status records.Status
		event  string
		reason string // in the reason, if set
	}{
		{"Ada [error]", records.StatusError, "avatar.build.error", ""},
		{"Bob [stuck]", records.StatusTimedOut, "avatar.build.timed_out", ""},
		{"Cy [credits]", records.StatusFailed, "avatar.build.failed", "credits"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			id := upload(ctx, t, s, fmt.Sprintf("outcomes/%d.jpg", i), PortraitJPEG(640, 640), tc.name)
			rec := waitTerminal(ctx, t, s, id)
			if rec.Status != tc.status {
				t.Fatalf("got status %s (reason %q, error %q), want %s", rec.Status, rec.Reason, rec.Error, tc.status)
			}
			if rec.Reason == "" || !strings.Contains(strings.ToLower(rec.Reason), tc.reason) {
				t.Errorf("got reason %q, want one mentioning %q", rec.Reason, tc.reason)
			}
			if tc.status == records.StatusTimedOut {
				submitted, err1 := records.ParseTime(rec.SubmittedAt)
				finished, err2 := records.ParseTime(rec.FinishedAt)
				if err1 != nil || err2 != nil {
					t.Fatalf("got submitted_at %q finished_at %q: %v %v", rec.SubmittedAt, rec.FinishedAt, err1, err2)
				}
				// The last check lands on the deadline; allow for a check's
				// round trip on a busy machine.
				if took := finished.Sub(submitted); took < deadline*time.Second || took > (deadline+10)*time.Second {
					t.Errorf("got TIMED_OUT %s after submission, want at the %ds deadline", took, deadline)
				}
			}
			events := waitEvent(ctx, t, s, id, tc.event)
			if len(events) != 1 {
				t.Errorf("got events %+v, want one", events)
			}
		})
	}
}

// TestE2EDuplicateDelivery: the same upload event delivered twice, both
// through the queue (the pump starts it once) and straight to Step
// Functions under another name (as EventBridge may in AWS), while the first
// build runs, makes one record and one simulator avatar, and one
// notification.
func TestE2EDuplicateDelivery(t *testing.T) {
	t.Parallel()
	o := e2eOptions()
	o.BuildTime = 2 * time.Second
	s := StartTest(t, o)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfg := s.AWSConfig()
	sf := sfn.NewFromConfig(cfg)

	id := upload(ctx, t, s, "dup/portrait.jpg", PortraitJPEG(640, 640), "Dee")
	first := waitExecutions(ctx, t, sf, s.Resources.StateMachineARN, 1, false)[0]
	in, err := sf.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: first.ExecutionArn})
	if err != nil {
		t.Fatal(err)
	}
	event := aws.ToString(in.Input)

	if _, err := sqs.NewFromConfig(cfg).SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl: aws.String(s.Resources.EventQueueURL), MessageBody: aws.String(event),
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := sf.StartExecution(ctx, &sfn.StartExecutionInput{
		StateMachineArn: aws.String(s.Resources.StateMachineARN), Name: aws.String("second-delivery"), Input: aws.String(event),
	}); err != nil {
		t.Fatal(err)
	}

	rec := waitTerminal(ctx, t, s, id)
	if rec.Status != records.StatusReady {
		t.Fatalf("got status %s (reason %q), want READY", rec.Status, rec.Reason)
	}
	waitQueueEmpty(ctx, t, s)
	execs := waitExecutions(ctx, t, sf, s.Resources.StateMachineARN, 2, true)
	for _, e := range execs {
		if e.Status != sfntypes.ExecutionStatusSucceeded {
			t.Errorf("got execution %s %s, want SUCCEEDED", aws.ToString(e.Name), e.Status)
		}
	}
	all, err := reader(s).List(ctx, store.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 1 {
		t.Errorf("got %d records, want 1: %+v", len(all), all)
	}
	if got := s.Sim.Stats().BuildsCreated; got != 1 {
		t.Errorf("got %d simulator avatars, want 1", got)
	}
	waitEvent(ctx, t, s, id, "avatar.build.ready")
	time.Sleep(time.Second)
	if events := eventsFor(t, s.Notifications(), id); len(events) != 1 {
		t.Errorf("got %d notifications %+v, want 1", len(events), events)
	}
}

// TestE2EObjectKeys: keys with spaces, plus signs, unicode and nested
// prefixes reach the record as they were uploaded, and name the avatar
// when there is no avatar-name metadata.
func TestE2EObjectKeys(t *testing.T) {
	t.Parallel()
	s := StartTest(t, e2eOptions())
	tests := []struct {
		key, name string
	}{
		{"with spaces/Ada Lovelace portrait.jpg", "Ada Lovelace portrait"},
		{"plus+signs/a+b=c.jpg", "a+b=c"},
		{"ünïcødé/日本語の肖像.jpg", "日本語の肖像"},
		{"deeply/nested/prefix/with/many/levels/grace.png", "grace"},
		{"mixed + both/ö +x.jpeg", "ö +x"},
	}
	for _, tc := range tests {
		t.Run(tc.key, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			body := PortraitJPEG(640, 640)
			if strings.HasSuffix(tc.key, ".png") {
				body = PortraitPNG(640, 640)
			}
			id := upload(ctx, t, s, tc.key, body, "")
			rec := waitTerminal(ctx, t, s, id)
			if rec.Status != records.StatusReady {
				t.Fatalf("got status %s (reason %q, error %q), want READY", rec.Status, rec.Reason, rec.Error)
			}
			if rec.Key != tc.key || rec.Name != tc.name {
				t.Errorf("got key %q name %q, want %q %q", rec.Key, rec.Name, tc.key, tc.name)
			}
		})
	}
}

// waitExecutions waits until the state machine has n executions (all
// finished, if finished is set) and returns them.
func waitExecutions(ctx context.Context, t *testing.T, sf *sfn.Client, arn string, n int, finished bool) []sfntypes.ExecutionListItem {
	t.Helper()
	for {
		list, err := sf.ListExecutions(ctx, &sfn.ListExecutionsInput{StateMachineArn: aws.String(arn)})
		if err != nil {
			t.Fatal(err)
		}
		if len(list.Executions) > n {
			t.Fatalf("got %d executions, want %d", len(list.Executions), n)
		}
		done := len(list.Executions) == n
		for _, e := range list.Executions {
			if finished && e.Status == sfntypes.ExecutionStatusRunning {
				done = false
			}
		}
		if done {
			return list.Executions
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %d executions, got %d: %v", n, len(list.Executions), ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// waitQueueEmpty waits until the pump has consumed every event.
func waitQueueEmpty(ctx context.Context, t *testing.T, s *Stack) {
	t.Helper()
	q := sqs.NewFromConfig(s.AWSConfig())
	for {
		out, err := q.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
			QueueUrl: aws.String(s.Resources.EventQueueURL),
			AttributeNames: []sqstypes.QueueAttributeName{
				sqstypes.QueueAttributeNameApproximateNumberOfMessages,
				sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		if out.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessages)] == "0" &&
			out.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible)] == "0" {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("events still queued: %v: %v", out.Attributes, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// TestE2EFolderMarkersStartNothing: an empty object, such as the folder
// marker the S3 console's "Create folder" makes, is no portrait: the event
// rule lets it through to nothing, so it gets no record and no
// notification, while a portrait uploaded after it builds.
func TestE2EFolderMarkersStartNothing(t *testing.T) {
	t.Parallel()
	s := StartTest(t, e2eOptions())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	upload(ctx, t, s, "new folder/", nil, "")
	upload(ctx, t, s, "empty.jpg", []byte{}, "Empty")
	id := upload(ctx, t, s, "after/portrait.jpg", PortraitJPEG(512, 512), "After")
	if rec := waitTerminal(ctx, t, s, id); rec.Status != records.StatusReady {
		t.Fatalf("the portrait after: got %s (%s), want READY", rec.Status, rec.Reason)
	}
	ns, err := s.Delivered(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if recs := scanRecords(ctx, t, s); len(recs) != 1 {
		t.Errorf("got %d records, want only the portrait's: %+v", len(recs), recs)
	}
	for _, ev := range decodeEvents(t, ns) {
		if ev.Build.BuildID != id {
			t.Errorf("got a notification about %s, want only the portrait's", ev.Build.Key)
		}
	}
}

// TestE2EWarningsReachTheUser: a portrait that passes with a warning (a
// face too small in a large picture) is built, and the warning, code and
// sentence, is on its record and in its READY event.
func TestE2EWarningsReachTheUser(t *testing.T) {
	t.Parallel()
	s := StartTest(t, e2eOptions())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// A 640 px portrait in a 1000 px picture: the face is 12% of its height.
	small := image.NewRGBA(image.Rect(0, 0, 1000, 1000))
	draw.Draw(small, small.Bounds(), portrait(3000, 1000), image.Point{}, draw.Src) // the background left of the face
	draw.Draw(small, image.Rect(180, 180, 820, 820), portrait(640, 640), image.Point{}, draw.Src)
	var body bytes.Buffer
	if err := jpeg.Encode(&body, small, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	id := upload(ctx, t, s, "warn/small-face.jpg", body.Bytes(), "Small Face")
	rec := waitTerminal(ctx, t, s, id)
	if rec.Status != records.StatusReady {
		t.Fatalf("got %s (%s), want READY: a warning does not stop the build", rec.Status, rec.Reason)
	}
	hasSmall := func(ws []records.Warning) bool {
		return slices.ContainsFunc(ws, func(w records.Warning) bool {
			return w.Code == "small_face" && strings.Contains(w.Reason, "fills only")
		})
	}
	if !hasSmall(rec.Warnings) {
		t.Errorf("got record warnings %+v, want small_face with its sentence", rec.Warnings)
	}
	events := waitEvent(ctx, t, s, id, "avatar.build.ready")
	if len(events) != 1 || !hasSmall(events[0].Build.Warnings) {
		t.Errorf("got READY events %+v, want one carrying the small_face warning", events)
	}
}
