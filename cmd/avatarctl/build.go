package main

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/spf13/cobra"

	"github.com/avatar-pipeline/avatar-pipeline/internal/face"
	"github.com/avatar-pipeline/avatar-pipeline/internal/pipeline"
	"github.com/avatar-pipeline/avatar-pipeline/internal/portrait"
	"github.com/avatar-pipeline/avatar-pipeline/internal/records"
)

// keyPrefix is where `build` uploads portraits when --key is not given.
const keyPrefix = "portraits/"

type buildOptions struct {
	image string
	name  string
	key   string
	startOptions
}

// upload is what `build --json` prints: the uploaded object and the id of
// its build, under the record's attribute names.
type upload struct {
	BuildID   string `json:"build_id"`
	Name      string `json:"name"`
	Bucket    string `json:"bucket"`
	Key       string `json:"key"`
	VersionID string `json:"version_id,omitempty"`
	ETag      string `json:"etag,omitempty"`
	Size      int64  `json:"size"`
}

func newBuildCmd(g *globalOptions) *cobra.Command {
	o := buildOptions{}
	cmd := &cobra.Command{
		Use:   "build -i FILE --name NAME",
		Short: "Upload a portrait to build an avatar from it",
		Long: `Check a portrait with the checks the pipeline runs, then upload it to the
stack's bucket with the avatar's name as its avatar-name metadata, and print
the id of the build the upload starts. A portrait the checks reject is not
uploaded: its reasons are shown and avatarctl exits with status 2.

The build id is computed from the upload (bucket, key and version), so it is
known at once, before the pipeline has registered the build.

With --wait, follow the build as 'avatarctl wait' does, and exit with the
status of its outcome: 0 READY, 2 REJECTED, 3 ERROR, 4 TIMED_OUT, 5 FAILED,
6 still running at --timeout.`,
		Example: `  avatarctl build -i ada.jpg --name "Ada Lovelace"
  avatarctl build -i ada.jpg --name "Ada Lovelace" --key team/ada.jpg --wait
  avatarctl --local build -i ada.jpg --name Ada --json | jq -r .build_id`,
		Args: cobra.NoArgs,
		RunE: g.runE(func(cmd *cobra.Command, _ []string) error {
			return runBuild(cmd, g, o)
		}),
	}
	f := cmd.Flags()
	f.StringVarP(&o.image, "image", "i", "", "the portrait: a JPEG or PNG file (required)")
	f.StringVar(&o.name, "name", "", "the avatar's name (required)")
	f.StringVar(&o.key, "key", "", "the object key to upload to (default "+keyPrefix+"FILE NAME)")
	f.BoolVar(&o.wait, "wait", false, "wait for the build to end, showing its progress")
	f.BoolVar(&o.json, "json", false, "print the upload (build_id, name, bucket, key, version_id, etag, size) as JSON; with --wait, the final record")
	o.waitOptions.addFlags(f)
	cmd.MarkFlagRequired("image")
	cmd.MarkFlagRequired("name")
	cmd.MarkFlagFilename("image", "jpg", "jpeg", "png")
	return cmd
}

func runBuild(cmd *cobra.Command, g *globalOptions, o buildOptions) error {
	name, err := records.CleanName(o.name)
	if err != nil {
		return usageError(cmd, fmt.Errorf("--name: %w", err))
	}
	key := o.key
	if key == "" {
		key = defaultKey(o.image)
	} else if err := checkKey(key); err != nil {
		return usageError(cmd, err)
	}
	if err := o.waitOptions.check(); err != nil {
		return usageError(cmd, err)
	}
	out := cmd.OutOrStdout()

	// The same checks, with the same policy, as Submit runs on the upload.
	rep := checkFile(o.image, portrait.Policy{FaceDetector: face.New()})
	if rep.err != nil {
		return rep.err
	}
	if !o.json {
		if err := writeReports(out, []fileReport{rep}, styleFor(out)); err != nil {
			return err
		}
	}
	if !rep.accepted() {
		msg := fmt.Sprintf("%s was not uploaded: the pipeline would reject it", o.image)
		if o.json {
			msg += ": " + strings.Join(rep.Reasons, "; ")
		}
		return &codeError{code: exitRejected, msg: msg}
	}

	c, err := g.connect(cmd.Context())
	if err != nil {
		return err
	}
	up, err := put(cmd.Context(), c, o.image, key, name, rep)
	if err != nil {
		return err
	}
	headline := fmt.Sprintf("Uploaded s3://%s/%s", up.Bucket, up.Key)
	if up.VersionID != "" {
		headline += " (version " + up.VersionID + ")"
	}
	return o.report(cmd, c, up.BuildID, headline, up)
}

// put uploads the portrait with its avatar name and returns the upload,
// with the build id computed from PutObject's response.
func put(ctx context.Context, c *conn, path, key, name string, rep fileReport) (upload, error) {
	f, err := os.Open(path)
	if err != nil {
		return upload{}, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return upload{}, err
	}
	out, err := c.s3.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        aws.String(c.res.Bucket),
		Key:           aws.String(key),
		Body:          f,
		ContentLength: aws.Int64(info.Size()),
		ContentType:   aws.String(contentType(rep.Format)),
		Metadata:      map[string]string{pipeline.NameMetadata: metadataValue(name)},
	})
	if err != nil {
		return upload{}, fmt.Errorf("upload %s to s3://%s/%s: %w", path, c.res.Bucket, key, err)
	}
	up := upload{
		Name:      name,
		Bucket:    c.res.Bucket,
		Key:       key,
		VersionID: aws.ToString(out.VersionId),
		ETag:      strings.Trim(aws.ToString(out.ETag), `"`),
		Size:      info.Size(),
	}
	if up.VersionID == "null" {
		up.VersionID = ""
	}
	up.BuildID = records.BuildID(up.Bucket, up.Key, up.VersionID, up.ETag)
	return up, nil
}

func contentType(format portrait.Format) string {
	switch format {
	case portrait.JPEG:
		return "image/jpeg"
	case portrait.PNG:
		return "image/png"
	}
	return "application/octet-stream"
}

// metadataValue makes a name safe for S3 user metadata, which travels in an
// HTTP header: mime leaves a printable ASCII name as it is and encodes any
// other as RFC 2047 prescribes, the form S3 documents for such values (the
// name has no control characters: records.CleanName refuses them).
func metadataValue(name string) string {
	return mime.BEncoding.Encode("UTF-8", name)
}

// defaultKey is the key a portrait is uploaded to: keyPrefix and the file's
// name, with characters that need escaping in URLs replaced by '-'.
func defaultKey(path string) string {
	base := filepath.Base(path)
	var b strings.Builder
	dash := false
	for _, r := range base {
		ok := r < utf8.RuneSelf && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-')
		switch {
		case ok:
			b.WriteRune(r)
			dash = r == '-'
		case !dash:
			b.WriteByte('-')
			dash = true
		}
	}
	name := strings.Trim(strings.ReplaceAll(b.String(), "-.", "."), "-.")
	if name == "" {
		name = "portrait"
	}
	return keyPrefix + name
}

// checkKey checks a key given with --key.
func checkKey(key string) error {
	switch {
	case strings.TrimSpace(key) == "":
		return errors.New("--key is empty")
	case len(key) > 1024:
		return fmt.Errorf("--key is %d bytes long; S3 keys are at most 1024", len(key))
	case !utf8.ValidString(key):
		return errors.New("--key is not valid UTF-8")
	case strings.HasSuffix(key, "/"):
		return fmt.Errorf("--key %s ends with '/': name the object, not a folder", key)
	}
	return nil
}
