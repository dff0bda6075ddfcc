// Package avatarpipeline is the root of the module: template.yaml (the AWS
// SAM template) and the tests that check it and the sample events.
package avatarpipeline
