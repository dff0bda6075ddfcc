package avatarpipeline

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/avatar-pipeline/avatar-pipeline/internal/pipeline"
	"github.com/avatar-pipeline/avatar-pipeline/internal/pipeline/submit"
	"github.com/avatar-pipeline/avatar-pipeline/internal/pipeline/webhook"
	"github.com/avatar-pipeline/avatar-pipeline/internal/records"
	"github.com/avatar-pipeline/avatar-pipeline/statemachine"
)

// root returns the parsed template, failing the test if it does not parse.
func root(t *testing.T) map[string]any {
	t.Helper()
	r, err := parsed()
	if err != nil {
		t.Fatalf("template.yaml does not parse: %v", err)
	}
	return r
}

// get walks a path of mapping keys and sequence indexes ("0", "1", ...).
func get(t *testing.T, v any, path ...string) any {
	t.Helper()
	for i, k := range path {
		switch c := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = c[k]; !ok {
				t.Fatalf("template: %s not found", strings.Join(path[:i+1], "."))
			}
		case []any:
			var n int
			if _, err := fmt.Sscan(k, &n); err != nil || n < 0 || n >= len(c) {
				t.Fatalf("template: %s: no item %s", strings.Join(path[:i], "."), k)
			}
			v = c[n]
		default:
			t.Fatalf("template: %s is a %T, not a mapping or sequence", strings.Join(path[:i], "."), v)
		}
	}
	return v
}

func resourcesOfType(t *testing.T, typ string) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for id, r := range get(t, root(t), "Resources").(map[string]any) {
		rm := r.(map[string]any)
		if rm["Type"] == typ {
			out[id] = rm
		}
	}
	return out
}

func ref(name string) map[string]any { return map[string]any{"Ref": name} }

func getAtt(res, attr string) map[string]any {
	return map[string]any{"Fn::GetAtt": []any{res, attr}}
}

func TestTemplateParses(t *testing.T) {
	r := root(t)
	if got, want := r["Transform"], "AWS::Serverless-2016-10-31"; got != want {
		t.Errorf("Transform: got %v, want %v", got, want)
	}
	wantTypes := map[string]string{
		SubmitFunction:      "AWS::Serverless::Function",
		CheckStatusFunction: "AWS::Serverless::Function",
		NotifyFunction:      "AWS::Serverless::Function",
		BucketResource:      "AWS::S3::Bucket",
		TableResource:       "AWS::DynamoDB::Table",
		TopicResource:       "AWS::SNS::Topic",
		StateMachine:        "AWS::Serverless::StateMachine",
		DeadLetterQueue:     "AWS::SQS::Queue",
		"AlarmTopic":        "AWS::SNS::Topic",
		"Dashboard":         "AWS::CloudWatch::Dashboard",
	}
	for id, want := range wantTypes {
		if got := get(t, r, "Resources", id, "Type"); got != want {
			t.Errorf("%s: got type %v, want %s", id, got, want)
		}
	}
}

func TestShortFormTags(t *testing.T) {
	src := []byte(`
A: !Ref Thing
B: !GetAtt Thing.Arn
C: !Sub "x-${Thing}"
D: !If [Cond, !Ref Thing, !Ref AWS::NoValue]
E: !Select [0, !Split [":", !Ref Url]]
F: !Condition Cond
G: plain
H: 30
I: "30"
`)
	got, err := parse(src)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"A": ref("Thing"),
		"B": getAtt("Thing", "Arn"),
		"C": map[string]any{"Fn::Sub": "x-${Thing}"},
		"D": map[string]any{"Fn::If": []any{"Cond", ref("Thing"), ref("AWS::NoValue")}},
		"E": map[string]any{"Fn::Select": []any{0, map[string]any{"Fn::Split": []any{":", ref("Url")}}}},
		"F": map[string]any{"Condition": "Cond"},
		"G": "plain",
		"H": 30,
		"I": "30",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %#v,\nwant %#v", got, want)
	}
}

func TestFunctions(t *testing.T) {
	r := root(t)
	globals := get(t, r, "Globals", "Function").(map[string]any)
	for key, want := range map[string]any{
		"Runtime":       "provided.al2023",
		"Architectures": []any{"arm64"},
		"Handler":       "bootstrap",
		"Tracing":       "Active",
	} {
		if got := globals[key]; !reflect.DeepEqual(got, want) {
			t.Errorf("Globals.Function.%s: got %v, want %v", key, got, want)
		}
	}
	if got, want := get(t, globals, "LoggingConfig", "LogFormat"), "JSON"; got != want {
		t.Errorf("Globals.Function.LoggingConfig.LogFormat: got %v, want %v", got, want)
	}

	tests := []struct {
		function string
		timeout  time.Duration
		memory   int
	}{
		{SubmitFunction, 300 * time.Second, 512},
		{CheckStatusFunction, 30 * time.Second, 128},
		{NotifyFunction, 30 * time.Second, 128},
		{"SweepFunction", 120 * time.Second, 128},
		{"WebhookFunction", 30 * time.Second, 128},
	}
	if got := slices.Sorted(maps.Keys(resourcesOfType(t, "AWS::Serverless::Function"))); !slices.Equal(got, slices.Sorted(slices.Values(Functions))) {
		t.Errorf("functions: got %v, want %v", got, Functions)
	}
	for _, tc := range tests {
		t.Run(tc.function, func(t *testing.T) {
			res := get(t, r, "Resources", tc.function).(map[string]any)
			if got := get(t, res, "Metadata", "BuildMethod"); got != "makefile" {
				t.Errorf("Metadata.BuildMethod: got %v, want makefile", got)
			}
			if got := get(t, res, "Properties", "CodeUri"); got != "." {
				t.Errorf("CodeUri: got %v, want .", got)
			}
			timeout, err := FunctionTimeout(tc.function)
			if err != nil {
				t.Fatal(err)
			}
			if timeout != tc.timeout {
				t.Errorf("Timeout: got %v, want %v", timeout, tc.timeout)
			}
			memory := globals["MemorySize"]
			if m, ok := res["Properties"].(map[string]any)["MemorySize"]; ok {
				memory = m
			}
			if memory != tc.memory {
				t.Errorf("MemorySize: got %v, want %d", memory, tc.memory)
			}
			// Logs go to an explicit log group with a retention period.
			lg, ok := refName(get(t, res, "Properties", "LoggingConfig", "LogGroup"))
			if !ok {
				t.Fatalf("LoggingConfig.LogGroup is not a !Ref")
			}
			if got := get(t, r, "Resources", lg, "Properties", "RetentionInDays"); !reflect.DeepEqual(got, ref("LogRetentionDays")) {
				t.Errorf("%s RetentionInDays: got %v, want !Ref LogRetentionDays", lg, got)
			}
		})
	}
}

func TestSubstitutionsMatchDefinition(t *testing.T) {
	// TestStateMachine checks that DefinitionUri is the file the statemachine
	// package embeds.
	placeholders := statemachine.Placeholders()

	subs, err := Substitutions()
	if err != nil {
		t.Fatal(err)
	}
	if got := slices.Sorted(maps.Keys(subs)); !slices.Equal(got, placeholders) {
		t.Errorf("DefinitionSubstitutions keys: got %v, want the placeholders of build.asl.json: %v", got, placeholders)
	}
	want := map[string]string{
		"SubmitFunctionArn":      SubmitFunction,
		"CheckStatusFunctionArn": CheckStatusFunction,
		"NotifyFunctionArn":      NotifyFunction,
		"BuildsTable":            TableResource,
		"Partition":              "AWS::Partition",
	}
	if !maps.Equal(subs, want) {
		t.Errorf("Substitutions: got %v, want %v", subs, want)
	}
}

// statements collects every IAM policy statement in v (any mapping with
// Effect and Action or NotAction), with the path it was found at.
func statements(v any, path string, out map[string]map[string]any) {
	switch c := v.(type) {
	case map[string]any:
		_, action := c["Action"]
		_, notAction := c["NotAction"]
		if _, ok := c["Effect"]; ok && (action || notAction) {
			out[path] = c
			return
		}
		for k, e := range c {
			statements(e, path+"."+k, out)
		}
	case []any:
		for i, e := range c {
			statements(e, fmt.Sprintf("%s.%d", path, i), out)
		}
	}
}

func stringList(v any) []string {
	switch c := v.(type) {
	case string:
		return []string{c}
	case []any:
		var out []string
		for _, e := range c {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func TestIAMNamesActionsAndResources(t *testing.T) {
	found := map[string]map[string]any{}
	statements(get(t, root(t), "Resources"), "Resources", found)
	if len(found) == 0 {
		t.Fatal("no IAM statements found")
	}
	for path, st := range found {
		if _, ok := st["NotAction"]; ok {
			t.Errorf("%s: NotAction grants everything else; name the actions", path)
		}
		for _, a := range stringList(st["Action"]) {
			if !strings.Contains(a, "*") {
				continue
			}
			// The TLS-only bucket policy is the one wildcard: a Deny, which
			// can only take permissions away, over every S3 action.
			if st["Effect"] == "Deny" && a == "s3:*" && strings.HasPrefix(path, "Resources.PortraitBucketPolicy.") {
				continue
			}
			t.Errorf("%s: action %q has a wildcard", path, a)
		}
		if st["Effect"] != "Allow" {
			continue
		}
		// A "*" resource only where the actions support no resource-level
		// permissions (Step Functions' log delivery).
		if res := stringList(st["Resource"]); slices.Contains(res, "*") && st["Sid"] != "WorkflowLogDelivery" {
			t.Errorf("%s: Resource \"*\"; name the resource", path)
		}
	}

	// SAM policy templates are expanded by SAM; only those known to grant
	// named actions on the resource they are given are allowed, and no
	// managed policies (strings), which could grant anything.
	allowedTemplates := []string{"S3ReadPolicy", "LambdaInvokePolicy", "SNSPublishMessagePolicy", "Statement"}
	for _, id := range []string{SubmitFunction, CheckStatusFunction, NotifyFunction, StateMachine} {
		for i, p := range get(t, root(t), "Resources", id, "Properties", "Policies").([]any) {
			pm, ok := p.(map[string]any)
			if !ok {
				t.Errorf("%s Policies[%d]: got %v, want a policy template or statements", id, i, p)
				continue
			}
			for name := range pm {
				if !slices.Contains(allowedTemplates, name) {
					t.Errorf("%s Policies[%d]: policy template %s is not on the reviewed list %v", id, i, name, allowedTemplates)
				}
			}
		}
	}
}

func TestBucketIsPrivateAndTLSOnly(t *testing.T) {
	r := root(t)
	props := get(t, r, "Resources", BucketResource, "Properties")
	for _, k := range []string{"BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"} {
		if got := get(t, props, "PublicAccessBlockConfiguration", k); got != true {
			t.Errorf("PublicAccessBlockConfiguration.%s: got %v, want true", k, got)
		}
	}
	checks := []struct {
		path []string
		want any
	}{
		{[]string{"VersioningConfiguration", "Status"}, "Enabled"},
		{[]string{"NotificationConfiguration", "EventBridgeConfiguration", "EventBridgeEnabled"}, true},
		{[]string{"OwnershipControls", "Rules", "0", "ObjectOwnership"}, "BucketOwnerEnforced"},
		{[]string{"BucketEncryption", "ServerSideEncryptionConfiguration", "0", "ServerSideEncryptionByDefault", "SSEAlgorithm"}, "AES256"},
	}
	for _, c := range checks {
		if got := get(t, props, c.path...); got != c.want {
			t.Errorf("%s: got %v, want %v", strings.Join(c.path, "."), got, c.want)
		}
	}

	var tlsDeny bool
	for id, pol := range resourcesOfType(t, "AWS::S3::BucketPolicy") {
		if !reflect.DeepEqual(get(t, pol, "Properties", "Bucket"), ref(BucketResource)) {
			continue
		}
		for _, s := range get(t, pol, "Properties", "PolicyDocument", "Statement").([]any) {
			st := s.(map[string]any)
			cond, _ := st["Condition"].(map[string]any)
			b, _ := cond["Bool"].(map[string]any)
			if st["Effect"] != "Deny" || b["aws:SecureTransport"] != "false" || st["Principal"] != "*" {
				continue
			}
			want := []any{getAtt(BucketResource, "Arn"), map[string]any{"Fn::Sub": "${PortraitBucket.Arn}/*"}}
			if !reflect.DeepEqual(st["Resource"], want) {
				t.Errorf("%s TLS deny: got resources %v, want the bucket and its objects", id, st["Resource"])
			}
			tlsDeny = true
		}
	}
	if !tlsDeny {
		t.Error("no bucket policy denies requests without aws:SecureTransport")
	}
}

func TestTableSchema(t *testing.T) {
	got, err := TableSchema()
	if err != nil {
		t.Fatal(err)
	}
	want := Table{
		Partition:   Key{Name: "build_id", Type: "S"},
		BillingMode: "PAY_PER_REQUEST",
		Indexes: []Index{
			{Name: "by-avatar", Partition: Key{Name: "avatar_id", Type: "S"}, Projection: "ALL"},
			{Name: "by-status", Partition: Key{Name: "status", Type: "S"}, Sort: &Key{Name: "created_at", Type: "S"}, Projection: "ALL"},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
	props := get(t, root(t), "Resources", TableResource, "Properties")
	if got := get(t, props, "PointInTimeRecoverySpecification", "PointInTimeRecoveryEnabled"); got != true {
		t.Errorf("PointInTimeRecoveryEnabled: got %v, want true", got)
	}
	if got := get(t, props, "SSESpecification", "SSEEnabled"); got != true {
		t.Errorf("SSEEnabled: got %v, want true", got)
	}
}

func TestEventPattern(t *testing.T) {
	got, err := EventPattern("avatar-portraits")
	if err != nil {
		t.Fatal(err)
	}
	want := `{"source":["aws.s3"],"detail-type":["Object Created"],"detail":{"bucket":{"name":["avatar-portraits"]},"object":{"size":[{"numeric":[">",0]}]}}}`
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestEventRuleRetriesAndDeadLetters(t *testing.T) {
	r := root(t)
	event := get(t, r, "Resources", StateMachine, "Properties", "Events", ObjectCreatedEvent).(map[string]any)
	if got := event["Type"]; got != "EventBridgeRule" {
		t.Errorf("event type: got %v, want EventBridgeRule", got)
	}
	props := event["Properties"].(map[string]any)
	if got, want := get(t, props, "DeadLetterConfig", "Arn"), getAtt(DeadLetterQueue, "Arn"); !reflect.DeepEqual(got, want) {
		t.Errorf("DeadLetterConfig.Arn: got %v, want %v", got, want)
	}
	for _, k := range []string{"MaximumEventAgeInSeconds", "MaximumRetryAttempts"} {
		if n, ok := get(t, props, "RetryPolicy", k).(int); !ok || n <= 0 {
			t.Errorf("RetryPolicy.%s: got %v, want a positive number", k, n)
		}
	}
	if got := get(t, r, "Resources", DeadLetterQueue, "Properties", "SqsManagedSseEnabled"); got != true {
		t.Errorf("dead-letter queue SqsManagedSseEnabled: got %v, want true", got)
	}
	// SAM names the rule it generates <state machine><event>; the queue policy
	// must let exactly that rule send its dead letters.
	rule := StateMachine + ObjectCreatedEvent
	st := get(t, r, "Resources", "DeadLetterQueuePolicy", "Properties", "PolicyDocument", "Statement", "0")
	if got, want := get(t, st, "Condition", "ArnEquals", "aws:SourceArn"), getAtt(rule, "Arn"); !reflect.DeepEqual(got, want) {
		t.Errorf("dead-letter queue policy source: got %v, want %v", got, want)
	}
}

func TestStateMachine(t *testing.T) {
	props := get(t, root(t), "Resources", StateMachine, "Properties")
	checks := []struct {
		path []string
		want any
	}{
		{[]string{"Type"}, "STANDARD"},
		{[]string{"DefinitionUri"}, "statemachine/build.asl.json"},
		{[]string{"Tracing", "Enabled"}, true},
		{[]string{"Logging", "Level"}, "ERROR"},
		{[]string{"Logging", "IncludeExecutionData"}, false},
	}
	for _, c := range checks {
		if got := get(t, props, c.path...); got != c.want {
			t.Errorf("%s: got %v, want %v", strings.Join(c.path, "."), got, c.want)
		}
	}
}

func TestAlarms(t *testing.T) {
	alarms := resourcesOfType(t, "AWS::CloudWatch::Alarm")
	// What each alarm watches: namespace/metric plus the resource it names.
	watched := map[string]bool{}
	for id, a := range alarms {
		props := a["Properties"].(map[string]any)
		for _, k := range []string{"AlarmActions", "OKActions"} {
			if got, want := props[k], []any{ref("AlarmTopic")}; !reflect.DeepEqual(got, want) {
				t.Errorf("%s %s: got %v, want %v", id, k, got, want)
			}
		}
		if got := props["TreatMissingData"]; got != "notBreaching" {
			t.Errorf("%s TreatMissingData: got %v, want notBreaching", id, got)
		}
		metrics := []map[string]any{props}
		if ms, ok := props["Metrics"].([]any); ok {
			metrics = nil
			for _, m := range ms {
				if stat, ok := m.(map[string]any)["MetricStat"]; ok {
					metrics = append(metrics, get(t, stat, "Metric").(map[string]any))
				}
			}
		}
		for _, m := range metrics {
			dims := ""
			for _, d := range m["Dimensions"].([]any) {
				v, ok := d.(map[string]any)["Value"].(map[string]any)
				if !ok {
					continue // a literal, such as a DynamoDB operation name
				}
				if name, ok := refName(v); ok {
					dims = name
				} else if ga, ok := v["Fn::GetAtt"].([]any); ok {
					dims = ga[0].(string)
				}
			}
			watched[fmt.Sprintf("%s/%s/%s", m["Namespace"], m["MetricName"], dims)] = true
		}
	}
	want := []string{
		"AWS/States/ExecutionsFailed/" + StateMachine,
		"AWS/States/ExecutionsTimedOut/" + StateMachine,
		"AWS/States/ExecutionsAborted/" + StateMachine,
		"AWS/States/ExecutionTime/" + StateMachine,
		"AWS/SQS/ApproximateNumberOfMessagesVisible/" + DeadLetterQueue,
		"AWS/DynamoDB/ThrottledRequests/" + TableResource,
	}
	for _, f := range Functions {
		want = append(want, "AWS/Lambda/Errors/"+f, "AWS/Lambda/Throttles/"+f)
	}
	for _, w := range want {
		if !watched[w] {
			t.Errorf("no alarm watches %s", w)
		}
	}
	if got := get(t, root(t), "Resources", "AlarmEmailSubscription", "Condition"); got != "HasAlarmEmail" {
		t.Errorf("AlarmEmailSubscription condition: got %v, want HasAlarmEmail", got)
	}
}

// subRE matches a ${Name} or ${Name.Attribute} reference in an Fn::Sub string.
var subRE = regexp.MustCompile(`\$\{([A-Za-z0-9:]+)(\.[A-Za-z0-9.]+)?\}`)

func TestDashboardBody(t *testing.T) {
	r := root(t)
	body, ok := get(t, r, "Resources", "Dashboard", "Properties", "DashboardBody", "Fn::Sub").(string)
	if !ok {
		t.Fatal("DashboardBody is not a !Sub string")
	}
	resources := get(t, r, "Resources").(map[string]any)
	params := get(t, r, "Parameters").(map[string]any)
	for _, m := range subRE.FindAllStringSubmatch(body, -1) {
		name := m[1]
		_, isRes := resources[name]
		_, isParam := params[name]
		if !isRes && !isParam && !strings.HasPrefix(name, "AWS::") {
			t.Errorf("DashboardBody refers to ${%s%s}, which the template does not define", name, m[2])
		}
	}
	var dash struct {
		Widgets []struct {
			Type       string `json:"type"`
			Properties struct {
				Title   string `json:"title"`
				Metrics []any  `json:"metrics"`
			} `json:"properties"`
		} `json:"widgets"`
	}
	rendered := subRE.ReplaceAllString(body, "x")
	if err := json.Unmarshal([]byte(rendered), &dash); err != nil {
		t.Fatalf("DashboardBody is not JSON once substituted: %v", err)
	}
	metrics, _ := json.Marshal(dash)
	for _, want := range []string{
		`"AvatarPipeline","Builds","Status"`,
		`"AvatarPipeline","BuildSeconds","Status"`,
		`"stat":"p50"`,
		`"stat":"p90"`,
		`"AvatarPipeline","StatusChecks","Status"`,
		`MetricName=\"MirakoErrors\"`,
		`{AvatarPipeline,StatusCode}`,
		`"AWS/States","ExecutionsFailed"`,
	} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("dashboard: no metric matching %s", want)
		}
	}
}

func TestParametersAndOutputs(t *testing.T) {
	defaults, err := ParameterDefaults()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"MirakoSecretName":         "avatar-pipeline/mirako-token",
		"MirakoApiUrl":             "https://mirako.co",
		"HeadStartSeconds":         "120",
		"PollIntervalSeconds":      "30",
		"DeadlineSeconds":          "10800",
		"NotifyOnSubmit":           "false",
		"LearnedHeadStart":         "true",
		"StrictPortraitChecks":     "false",
		"PortraitPrefix":           "",
		"QueueDeadlineSeconds":     "86400",
		"MaxBuildsInFlight":        "0",
		"NotificationEmail":        "",
		"WebhookUrl":               "",
		"WebhookSecretName":        "avatar-pipeline/webhook-secret",
		"NotificationFilterPolicy": "",
		"LogLevel":                 "INFO",
		"LogRetentionDays":         "30",
		"AlarmEmail":               "",
	}
	if !maps.Equal(defaults, want) {
		t.Errorf("parameter defaults: got %v, want %v", defaults, want)
	}
	outputs := get(t, root(t), "Outputs").(map[string]any)
	wantOutputs := []string{"AlarmTopicArn", "BucketName", "DashboardName", "DeadLetterQueueUrl", "StateMachineArn", "TableName", "TopicArn", "WebhookDeadLetterQueueUrl"}
	if got := slices.Sorted(maps.Keys(outputs)); !slices.Equal(got, wantOutputs) {
		t.Errorf("outputs: got %v, want %v", got, wantOutputs)
	}
}

// TestScheduleBoundsFitTheHistoryLimit: whatever the poll parameters are
// set to within their bounds, the functions accept the schedule: the most
// checks it can take (the shortest head start and interval, the longest
// deadline) stay within pipeline.MaxChecks.
func TestScheduleBoundsFitTheHistoryLimit(t *testing.T) {
	params := get(t, root(t), "Parameters")
	bound := func(name, which string) time.Duration {
		t.Helper()
		n, ok := get(t, params, name, which).(int)
		if !ok || n <= 0 {
			t.Fatalf("parameter %s %s: got %v, want a positive number of seconds", name, which, get(t, params, name, which))
		}
		return time.Duration(n) * time.Second
	}
	worst := pipeline.Schedule{
		HeadStart: bound("HeadStartSeconds", "MinValue"),
		Interval:  bound("PollIntervalSeconds", "MinValue"),
		Deadline:  bound("DeadlineSeconds", "MaxValue"),
	}
	if err := worst.Validate(); err != nil {
		t.Errorf("the parameters' bounds allow a schedule the functions refuse: %v", err)
	}
	t.Logf("the parameters' bounds allow at most %d checks (MaxChecks %d)", worst.Checks(), pipeline.MaxChecks)
}

func TestNotificationSubscriptions(t *testing.T) {
	r := root(t)
	for id, cond := range map[string]string{"NotificationEmailSubscription": "HasNotificationEmail", "WebhookSubscription": "HasWebhookUrl"} {
		sub := get(t, r, "Resources", id).(map[string]any)
		if sub["Condition"] != cond {
			t.Errorf("%s condition: got %v, want %s", id, sub["Condition"], cond)
		}
		if got := get(t, sub, "Properties", "TopicArn"); !reflect.DeepEqual(got, ref(TopicResource)) {
			t.Errorf("%s TopicArn: got %v, want !Ref %s", id, got, TopicResource)
		}
		wantPolicy := map[string]any{"Fn::If": []any{"HasFilterPolicy", ref("NotificationFilterPolicy"), ref("AWS::NoValue")}}
		if got := get(t, sub, "Properties", "FilterPolicy"); !reflect.DeepEqual(got, wantPolicy) {
			t.Errorf("%s FilterPolicy: got %v, want %v", id, got, wantPolicy)
		}
		wantScope := map[string]any{"Fn::If": []any{"HasFilterPolicy", "MessageAttributes", ref("AWS::NoValue")}}
		if got := get(t, sub, "Properties", "FilterPolicyScope"); !reflect.DeepEqual(got, wantScope) {
			t.Errorf("%s FilterPolicyScope: got %v, want %v", id, got, wantScope)
		}
	}
}

// matches reports whether an event matches an EventBridge pattern made of
// nested objects and lists of exact values or numeric ranges (the only
// forms ours uses at its defaults; the e2e tests run moto's matcher).
func matches(pattern, event any) bool {
	switch p := pattern.(type) {
	case map[string]any:
		e, ok := event.(map[string]any)
		if !ok {
			return false
		}
		for k, sub := range p {
			if !matches(sub, e[k]) {
				return false
			}
		}
		return true
	case []any:
		return slices.ContainsFunc(p, func(v any) bool {
			if m, ok := v.(map[string]any); ok && m["numeric"] != nil {
				ops, _ := m["numeric"].([]any)
				n, isNum := event.(float64)
				for i := 0; isNum && i+1 < len(ops); i += 2 {
					bound, _ := ops[i+1].(float64)
					switch ops[i] {
					case ">":
						isNum = n > bound
					case ">=":
						isNum = n >= bound
					case "<":
						isNum = n < bound
					case "<=":
						isNum = n <= bound
					default:
						isNum = false
					}
				}
				return isNum
			}
			return reflect.DeepEqual(v, event)
		})
	}
	return false
}

func readJSON(t *testing.T, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return v
}

func TestSampleEvents(t *testing.T) {
	dir := "events"
	event := readJSON(t, filepath.Join(dir, "s3-object-created.json"))

	bucket := get(t, event, "detail", "bucket", "name").(string)
	raw, err := EventPattern(bucket)
	if err != nil {
		t.Fatal(err)
	}
	var pattern any
	if err := json.Unmarshal(raw, &pattern); err != nil {
		t.Fatal(err)
	}
	if !matches(pattern, event) {
		t.Errorf("events/s3-object-created.json does not match the rule's pattern %s", raw)
	}
	if matches(pattern, map[string]any{"source": "aws.s3", "detail-type": "Object Deleted", "detail": event["detail"]}) {
		t.Error("an Object Deleted event matches the rule's pattern")
	}
	folder := map[string]any{"bucket": map[string]any{"name": bucket}, "object": map[string]any{"key": "new folder/", "size": 0.0}}
	if matches(pattern, map[string]any{"source": "aws.s3", "detail-type": "Object Created", "detail": folder}) {
		t.Error("a folder marker (an empty object) matches the rule's pattern")
	}

	admit := readJSON(t, filepath.Join(dir, "submit-admit.json"))
	if admit["step"] != "admit" || !reflect.DeepEqual(admit["event"], event) {
		t.Errorf("events/submit-admit.json: want step admit with the event of s3-object-created.json")
	}
	submitStep := readJSON(t, filepath.Join(dir, "submit-submit.json"))
	if submitStep["step"] != "submit" {
		t.Errorf("events/submit-submit.json step: got %v, want submit", submitStep["step"])
	}
	// The build the other samples carry is the build of the sample upload.
	object := get(t, event, "detail", "object").(map[string]any)
	key, _ := object["key"].(string)
	versionID, _ := object["version-id"].(string)
	etag, _ := object["etag"].(string)
	buildID := records.BuildID(bucket, key, versionID, etag)
	for file, status := range map[string]string{
		"submit-submit.json": "RECEIVED",
		"checkstatus.json":   "PENDING",
		"notify.json":        "READY",
	} {
		v := readJSON(t, filepath.Join(dir, file))
		build, ok := v["build"].(map[string]any)
		if !ok {
			t.Errorf("events/%s: no build state", file)
			continue
		}
		if build["status"] != status {
			t.Errorf("events/%s status: got %v, want %s", file, build["status"], status)
		}
		if build["key"] != key {
			t.Errorf("events/%s key: got %v, want the sample event's key %q", file, build["key"], key)
		}
		if build["build_id"] != buildID {
			t.Errorf("events/%s build_id: got %v, want %s, the build id of the sample event's object", file, build["build_id"], buildID)
		}
	}
}

// TestSubmitOutlastsItsClaim: Submit's calls to Mirako end before the
// function's timeout, and the state machine retries SubmitInProgressError
// for longer than every claim on the POST that a single Submit state can
// meet may last, so a build whose claiming attempt vanished is posted once
// the claim lapses rather than recorded FAILED. A retrier's attempts are
// counted across the whole state, so the worst case adds them all up:
//   - an attempt that failed with a Lambda service error may still be
//     running: its claim lasts the function's timeout and ClaimMargin;
//   - one that timed out, or whose post's outcome is unknown, leaves a claim
//     of at most ClaimMargin behind it;
//   - and once, a claim whose release DynamoDB refused: it lasts the
//     function's timeout and ClaimMargin too.
func TestSubmitOutlastsItsClaim(t *testing.T) {
	timeout, err := FunctionTimeout(SubmitFunction)
	if err != nil {
		t.Fatal(err)
	}
	if submit.UploadTimeout >= timeout {
		t.Errorf("the upload's timeout %s is not shorter than the function's %s", submit.UploadTimeout, timeout)
	}
	retries := func(name string) (statemachine.Retrier, bool) {
		for _, r := range statemachine.Build().States["Submit"].Retry {
			if slices.Contains(r.ErrorEquals, name) {
				return r, true
			}
		}
		return statemachine.Retrier{}, false
	}
	worst := timeout + submit.ClaimMargin // the lost release
	for _, name := range []string{"Lambda.ServiceException", "Sandbox.Timedout", "MirakoUnavailableError"} {
		r, ok := retries(name)
		if !ok {
			t.Fatalf("Submit does not retry %s", name)
		}
		claim := submit.ClaimMargin
		if name == "Lambda.ServiceException" {
			claim += timeout
		}
		worst += time.Duration(r.Attempts()) * claim
	}
	r, ok := retries("SubmitInProgressError")
	if !ok {
		t.Fatal("Submit does not retry SubmitInProgressError")
	}
	if r.JitterStrategy == "FULL" {
		t.Errorf("the retry of SubmitInProgressError is jittered: its total wait must be certain")
	}
	var total time.Duration
	interval := r.IntervalSeconds
	for range r.Attempts() {
		total += time.Duration(interval * float64(time.Second))
		interval *= max(r.BackoffRate, 1)
		if r.MaxDelaySeconds > 0 {
			interval = min(interval, r.MaxDelaySeconds)
		}
	}
	if total <= worst {
		t.Errorf("Submit retries SubmitInProgressError for %s in all, want more than %s", total, worst)
	}
}

// TestNoLiteralPartition: ARNs are built with the stack's partition
// (${AWS::Partition}, the definition's ${Partition}), so the stack deploys
// in China and GovCloud regions too.
func TestNoLiteralPartition(t *testing.T) {
	for _, file := range []string{"template.yaml", "statemachine/build.asl.json"} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(b), "\n") {
			if strings.Contains(line, "arn:aws:") {
				t.Errorf("%s:%d: a literal arn:aws: partition: %s", file, i+1, strings.TrimSpace(line))
			}
		}
	}
}

// TestWebhookRetriesMatchTheQueue: the webhook queue moves an event to its
// dead-letter queue after exactly the attempts the function's schedule makes.
func TestWebhookRetriesMatchTheQueue(t *testing.T) {
	redrive := get(t, root(t), "Resources", "WebhookQueue", "Properties", "RedrivePolicy").(map[string]any)
	if got := fmt.Sprint(redrive["maxReceiveCount"]); got != fmt.Sprint(webhook.MaxAttempts) {
		t.Errorf("maxReceiveCount %s, want webhook.MaxAttempts = %d", got, webhook.MaxAttempts)
	}
}

// TestBucketRefusesKMSUploads: Submit has no KMS grant, so the bucket
// policy refuses, at upload time, a PutObject that asks for a KMS key.
func TestBucketRefusesKMSUploads(t *testing.T) {
	stmts := get(t, root(t), "Resources", "PortraitBucketPolicy", "Properties", "PolicyDocument", "Statement").([]any)
	for _, st := range stmts {
		m := st.(map[string]any)
		if m["Sid"] != "DenyKMSEncryptedUploads" {
			continue
		}
		cond, _ := m["Condition"].(map[string]any)["StringEquals"].(map[string]any)["s3:x-amz-server-side-encryption"].([]any)
		if m["Effect"] != "Deny" || m["Principal"] != "*" || m["Action"] != "s3:PutObject" || !slices.Contains(cond, any("aws:kms")) || !slices.Contains(cond, any("aws:kms:dsse")) {
			t.Errorf("got %v, want a Deny of s3:PutObject to everyone with aws:kms or aws:kms:dsse encryption", m)
		}
		return
	}
	t.Error("the bucket policy has no DenyKMSEncryptedUploads statement")
}
