package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"

	"github.com/avatar-pipeline/avatar-pipeline/internal/metrics"
	"github.com/avatar-pipeline/avatar-pipeline/internal/pipeline"
	"github.com/avatar-pipeline/avatar-pipeline/internal/records"
)

// Publisher is the part of the SNS client Notify uses.
type Publisher interface {
	Publish(ctx context.Context, in *sns.PublishInput, opts ...func(*sns.Options)) (*sns.PublishOutput, error)
}

// Message attribute names, for subscription filter policies.
const (
	AttrStatus   = "status"
	AttrBuildID  = "build_id"
	AttrAvatarID = "avatar_id"
)

// Handler is the Notify function: it publishes a build's news to the topic.
type Handler struct {
	Config  pipeline.NotifyConfig
	SNS     Publisher
	Log     *slog.Logger
	Metrics *metrics.Emitter // nil records no metrics
	Now     func() time.Time // time.Now when nil
}

// Handle is the Lambda handler: it publishes the build's news, or with
// step "describe", describes a failure (see Describe).
func (h *Handler) Handle(ctx context.Context, in pipeline.StepInput) (pipeline.State, error) {
	if in.Step == pipeline.StepDescribe {
		return Describe(in.Build), nil
	}
	return in.Build, h.publish(ctx, in)
}

// Describe makes a failed build's state FAILED with a reason a person
// reads: a Lambda error's message (its cause is the error's JSON), another
// error's cause, or its name.
func Describe(st pipeline.State) pipeline.State {
	st.Status = records.StatusFailed
	if st.Error == nil {
		st.Reason, st.ErrorName = "the pipeline failed without saying why", "Unknown"
		return st
	}
	st.ErrorName, st.Reason = st.Error.Error, st.Error.Error
	var lambdaErr struct {
		Message string `json:"errorMessage"`
	}
	switch {
	case json.Unmarshal([]byte(st.Error.Cause), &lambdaErr) == nil && lambdaErr.Message != "":
		st.Reason = lambdaErr.Message
	case strings.TrimSpace(st.Error.Cause) != "":
		st.Reason = st.Error.Cause
	}
	return st
}

func (h *Handler) publish(ctx context.Context, in pipeline.StepInput) error {
	now := time.Now().UTC()
	if h.Now != nil {
		now = h.Now().UTC()
	}
	st := in.Build
	if st.ExecutionARN == "" {
		st.ExecutionARN = in.ExecutionARN
	}
	if st.Bucket == "" && len(st.Detail) > 0 { // admission failed: only the event is known
		var d struct {
			Bucket struct{ Name string } `json:"bucket"`
			Object struct{ Key string }  `json:"object"`
		}
		if err := json.Unmarshal(st.Detail, &d); err == nil {
			st.Bucket, st.Key = d.Bucket.Name, d.Object.Key
		}
	}
	if !st.Status.Valid() {
		return fmt.Errorf("notify: build %s has no valid status (%q)", st.BuildID, st.Status)
	}
	ev := pipeline.NewEvent(st, now)
	msg, err := message(ev)
	if err != nil {
		return fmt.Errorf("notify %s: %w", st.BuildID, err)
	}
	attrs := map[string]snstypes.MessageAttributeValue{
		AttrStatus: {DataType: aws.String("String"), StringValue: aws.String(string(st.Status))},
	}
	if st.BuildID != "" {
		attrs[AttrBuildID] = snstypes.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(st.BuildID)}
	}
	if st.AvatarID != "" {
		attrs[AttrAvatarID] = snstypes.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(st.AvatarID)}
	}
	_, err = h.SNS.Publish(ctx, &sns.PublishInput{
		TopicArn:          aws.String(h.Config.TopicARN),
		Message:           aws.String(msg),
		MessageStructure:  aws.String("json"),
		Subject:           aws.String(Subject(st.Record)),
		MessageAttributes: attrs,
	})
	if err != nil {
		return &pipeline.PublishFailedError{BuildID: st.BuildID, Err: err}
	}
	h.Metrics.Build(st.Record)
	h.Log.InfoContext(ctx, "notified", "build_id", st.BuildID, "avatar_id", st.AvatarID, "execution", st.ExecutionARN,
		"status", st.Status, "event_id", ev.ID)
	return nil
}

// message builds the SNS message for MessageStructure json: the JSON event
// for the default, http and https protocols, and a text for email.
func message(ev pipeline.Event) (string, error) {
	event, err := json.Marshal(ev)
	if err != nil {
		return "", err
	}
	out, err := json.Marshal(map[string]string{
		"default": string(event),
		"http":    string(event),
		"https":   string(event),
		"email":   EmailText(ev.Build),
	})
	return string(out), err
}

// Subject is the email subject: ASCII only, one line, under 100
// characters, as SNS requires.
func Subject(r records.Record) string {
	name := strings.Map(func(c rune) rune {
		if c < 0x20 || c > 0x7e {
			return -1
		}
		return c
	}, r.Name)
	s := fmt.Sprintf("Avatar build %s", r.Status)
	if name = strings.TrimSpace(name); name != "" {
		s += ": " + name
	}
	if len(s) > 99 {
		s = s[:96] + "..."
	}
	return s
}

// EmailText is the human text of a notification.
func EmailText(r records.Record) string {
	var b strings.Builder
	name := r.Name
	if name == "" {
		name = r.Key
	}
	switch r.Status {
	case records.StatusReady:
		fmt.Fprintf(&b, "Your avatar %q is READY.\n\n", name)
	case records.StatusRejected:
		fmt.Fprintf(&b, "The portrait for %q was REJECTED and was not sent to Mirako.\n\nReason: %s\n\n", name, r.Reason)
	case records.StatusPending, records.StatusBuilding:
		fmt.Fprintf(&b, "The portrait for %q was submitted to Mirako; the build is %s.\n\n", name, r.Status)
	default:
		fmt.Fprintf(&b, "The build of %q ended %s.\n\nReason: %s\n\n", name, r.Status, r.Reason)
	}
	row := func(label, value string) {
		if value != "" {
			fmt.Fprintf(&b, "%-10s %s\n", label+":", value)
		}
	}
	row("Build", r.BuildID)
	row("Avatar", r.AvatarID)
	if len(r.Themes) > 0 {
		row("Themes", strings.Join(r.Themes, ", "))
	}
	if r.BuildSeconds > 0 {
		row("Took", fmt.Sprintf("%s (%d status checks)", time.Duration(r.BuildSeconds)*time.Second, r.Checks))
	}
	if r.Bucket != "" {
		portrait := fmt.Sprintf("s3://%s/%s", r.Bucket, r.Key)
		if r.Image != nil {
			portrait += fmt.Sprintf(" (%s %d×%d, %d bytes)", strings.ToUpper(r.Image.Format), r.Image.Width, r.Image.Height, r.Size)
		}
		row("Portrait", portrait)
	}
	switch r.Status {
	case records.StatusRejected:
		b.WriteString("\nFix the portrait and upload it again; `avatarctl check FILE` shows what Mirako needs.\n")
	case records.StatusError, records.StatusTimedOut, records.StatusFailed:
		if r.BuildID != "" {
			fmt.Fprintf(&b, "\nTry again with: avatarctl retry %s\n", r.BuildID)
		}
	}
	if r.BuildID != "" {
		fmt.Fprintf(&b, "Details: avatarctl view %s\n", r.BuildID)
	}
	return b.String()
}
