package local

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/avatar-pipeline/avatar-pipeline/internal/mirako/mirakotest"
)

// The permission proof: every AWS request a function makes on the local
// stack is judged against the roles the SAM transform makes of
// template.yaml, by tools/permissions/check.py (AWS's SAM translator and
// moto's IAM policy evaluator). The whole suite records into suiteAccess,
// judged in TestMain; TestPermissions (make permissions) runs a scenario
// that makes every kind of request, and the self-test that deleting any
// action a function uses is noticed.

// suiteAccess collects the requests of every stack the package's tests start.
var suiteAccess LogBuffer

// permissionResources are the local values of the template's names, for
// resolving the translated policies (tools/permissions/README.md).
func permissionResources() map[string]any {
	fn := func(name string) map[string]string {
		return map[string]string{"Ref": name, "Arn": "arn:aws:lambda:" + Region + ":" + Account + ":function:" + name}
	}
	queue := func(name string) map[string]string {
		return map[string]string{"Ref": "https://sqs." + Region + ".amazonaws.com/" + Account + "/" + name, "Arn": arn("sqs", name), "QueueName": name}
	}
	return map[string]any{
		"AWS::Region": Region, "AWS::AccountId": Account, "AWS::Partition": "aws", "AWS::StackName": "avatar-pipeline",
		"PortraitBucket":         map[string]string{"Ref": BucketName, "Arn": "arn:aws:s3:::" + BucketName},
		"BuildsTable":            map[string]string{"Ref": TableName, "Arn": arn("dynamodb", "table/"+TableName)},
		"BuildEventsTopic":       map[string]string{"Ref": arn("sns", TopicName), "TopicName": TopicName},
		"SubmitFunction":         fn(SubmitFunctionName),
		"CheckStatusFunction":    fn(CheckFunctionName),
		"NotifyFunction":         fn(NotifyFunctionName),
		"SweepFunction":          fn(SweepFunctionName),
		"WebhookFunction":        fn(WebhookFunctionName),
		"WebhookQueue":           queue(WebhookQueueName),
		"WebhookDeadLetterQueue": queue(WebhookQueueName + "-dead"),
		"BuildStateMachine":      map[string]string{"Ref": arn("states", "stateMachine:"+StateMachineName), "Name": StateMachineName},
	}
}

// checkPermissions runs the proof on recorded requests and returns its report.
func checkPermissions(requests []byte, selfTest bool) (string, error) {
	dir, err := os.MkdirTemp("", "permissions-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	res, _ := json.Marshal(permissionResources())
	reqPath, resPath := filepath.Join(dir, "requests.jsonl"), filepath.Join(dir, "resources.json")
	if err := os.WriteFile(reqPath, requests, 0o644); err != nil {
		return "", err
	}
	if err := os.WriteFile(resPath, res, 0o644); err != nil {
		return "", err
	}
	args := []string{filepath.Join("..", "..", "tools", "permissions", "check.py"), filepath.Join("..", "..", "template.yaml"), reqPath, resPath}
	if selfTest {
		args = append(args[:1], append([]string{"--self-test"}, args[1:]...)...)
	}
	out, err := exec.Command("python3", args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("python3 %s: %w (install the tools with: python3 -m pip install -r tools/requirements.txt)", strings.Join(args, " "), err)
	}
	return string(out), nil
}

// TestPermissions makes every kind of request the functions make (a READY
// build with the learned head start and the submission notice, a rejected
// portrait, an adopted avatar), then proves them allowed
// and every action used necessary.
func TestPermissions(t *testing.T) {
	t.Parallel()
	var access LogBuffer
	o := e2eOptions()
	o.AccessLog, o.NotifyOnSubmit = &access, true
	o.FaultKinds = nil
	s := StartTest(t, o)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s.Sim.ScriptFor(mirakotest.EndpointBuild, mirakotest.FaultAcceptThenReset, 1) // the first build adopts
	ids := uploadAll(ctx, t, s, []object{
		{key: "portraits/ada.jpg", name: "Ada", body: PortraitJPEG(640, 640)},
		{key: "portraits/tiny.png", name: "Tiny", body: PortraitPNG(100, 100)},
	})
	for _, id := range ids {
		waitTerminal(ctx, t, s, id)
	}
	report, err := checkPermissions([]byte(access.String()), false)
	t.Logf("permission proof:\n%s", report)
	if err != nil {
		t.Fatal(err)
	}
	mutations, err := checkPermissions([]byte(access.String()), true)
	t.Logf("self-test:\n%s", mutations)
	if err != nil {
		t.Fatal(err)
	}
	report += mutations
	for _, want := range []string{"SubmitFunction", "CheckStatusFunction", "NotifyFunction", "dynamodb:PutItem", "sns:Publish", "secretsmanager:GetSecretValue"} {
		if !strings.Contains(report, want) {
			t.Errorf("the report does not mention %s: the scenario did not exercise it", want)
		}
	}
}
