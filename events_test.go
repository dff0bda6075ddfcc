package avatarpipeline

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"

	"github.com/avatar-pipeline/avatar-pipeline/internal/pipeline"
)

// TestSampleEventsMatchTheContract: the events/ inputs for `sam local
// invoke` decode, field for field, into the types the functions take.
func TestSampleEventsMatchTheContract(t *testing.T) {
	for file, v := range map[string]any{
		"events/submit-admit.json":  &pipeline.SubmitInput{},
		"events/submit-submit.json": &pipeline.SubmitInput{},
		"events/checkstatus.json":   &pipeline.StepInput{},
		"events/notify.json":        &pipeline.StepInput{},
	} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		d := json.NewDecoder(bytes.NewReader(b))
		d.DisallowUnknownFields()
		if err := d.Decode(v); err != nil {
			t.Errorf("%s does not decode into %T: %v", file, v, err)
		}
	}
	b, err := os.ReadFile("events/s3-object-created.json")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pipeline.ParseObjectCreated(b); err != nil {
		t.Errorf("events/s3-object-created.json: %v", err)
	}
}
