package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/avatar-pipeline/avatar-pipeline/internal/face"
	"github.com/avatar-pipeline/avatar-pipeline/internal/portrait"
)

// fileReport is the portrait report of one file: `check --json` prints an
// array of them, with the field names of portrait.Report and the file's name.
type fileReport struct {
	File string `json:"file"`
	portrait.Report
	// Faces shadows Report's, which is omitted when empty: check --json
	// always prints it, [] when no face was found.
	Faces []portrait.FoundFace `json:"faces"` // boxes in the picture's pixels

	// err is a failure to read the file: no verdict could be reached.
	err error
}

func (r fileReport) accepted() bool { return r.err == nil && r.Accepted() }

// checkFile runs the portrait checks on a file, as Submit runs them on the
// uploaded object (with policy).
func checkFile(path string, policy portrait.Policy) fileReport {
	failed := func(err error) fileReport {
		return fileReport{File: path, Report: portrait.Report{Verdict: portrait.Reject, Reasons: []string{err.Error()},
			ReasonCodes: []string{"unreadable"}, Warnings: []string{}, WarningCodes: []string{}}, Faces: []portrait.FoundFace{}, err: err}
	}
	f, err := os.Open(path)
	if err != nil {
		return failed(err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return failed(err)
	}
	if info.IsDir() {
		return failed(fmt.Errorf("%s is a directory", path))
	}
	// Check's reasons and warnings are never nil, so they print as [].
	rep, err := portrait.Check(f, info.Size(), policy)
	if err != nil {
		return failed(fmt.Errorf("read %s: %w", path, err))
	}
	rep.Metrics = nil // the quality measures are not part of check's output
	return fileReport{File: path, Report: rep, Faces: append([]portrait.FoundFace{}, rep.Faces...)}
}

// writeReports writes portrait reports for people: a line per file with its
// verdict, format, dimensions and size, then its reasons and warnings.
func writeReports(w io.Writer, reps []fileReport, s style) error {
	var b strings.Builder
	for _, r := range reps {
		if r.err != nil {
			fmt.Fprintf(&b, "%s: %s %s\n", r.File, s.paint(sgrRed, "error"), r.err)
			continue
		}
		verdict := s.paint(sgrGreen, string(r.Verdict))
		if !r.accepted() {
			verdict = s.paint(sgrRed, string(r.Verdict))
		}
		var facts []string
		if r.Format != "" {
			facts = append(facts, string(r.Format))
		}
		if r.Width > 0 && r.Height > 0 {
			facts = append(facts, fmt.Sprintf("%d×%d", r.Width, r.Height))
		}
		facts = append(facts, bytesText(r.Bytes))
		fmt.Fprintf(&b, "%s: %s (%s)\n", r.File, verdict, strings.Join(facts, ", "))
		for _, reason := range r.Reasons {
			fmt.Fprintf(&b, "  %s %s\n", s.paint(sgrRed, "reason:"), reason)
		}
		for _, warning := range r.Warnings {
			fmt.Fprintf(&b, "  %s %s\n", s.paint(sgrYellow, "warning:"), warning)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

type checkOptions struct {
	json   bool
	strict bool
}

func newCheckCmd() *cobra.Command {
	o := checkOptions{}
	cmd := &cobra.Command{
		Use:   "check FILE...",
		Short: "Check portraits the way the pipeline will",
		Long: `Check portraits with the checks the pipeline's Submit step runs before it
sends one to Mirako: format (JPEG or PNG, by content), file size, dimensions,
aspect ratio, and quality (exposure, contrast, sharpness, colour,
compression). Quality findings are warnings; --strict makes them reasons to
reject, as a strict pipeline would.

Exit status 0 only if every file is acceptable; 2 if any is rejected; 1 if
a file cannot be read. No AWS access is needed.`,
		Example: `  avatarctl check portrait.jpg
  avatarctl check --json photos/*.jpg | jq '.[] | select(.verdict == "reject") | .file'`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			return runCheck(cmd, files, o)
		},
	}
	cmd.Flags().BoolVar(&o.json, "json", false, "print a JSON array with one object per file: file, verdict, reasons, reason_codes, warnings, warning_codes, faces (box x0,y0,x1,y1, kind, eyes), format, width, height, bytes")
	cmd.Flags().BoolVar(&o.strict, "strict", false, "reject portraits with quality warnings too")
	return cmd
}

func runCheck(cmd *cobra.Command, files []string, o checkOptions) error {
	reps := make([]fileReport, len(files))
	for i, f := range files {
		reps[i] = checkFile(f, portrait.Policy{Strict: o.strict, FaceDetector: face.New()})
	}
	out := cmd.OutOrStdout()
	var err error
	if o.json {
		err = writeJSON(out, reps)
	} else {
		err = writeReports(out, reps, styleFor(out))
	}
	if err != nil {
		return err
	}
	code := exitOK
	for _, r := range reps {
		switch {
		case r.err != nil:
			code = exitError
		case !r.accepted() && code == exitOK:
			code = exitRejected
		}
	}
	if code != exitOK {
		return &codeError{code: code}
	}
	return nil
}
