package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/term"

	"github.com/avatar-pipeline/avatar-pipeline/internal/records"
)

// style is how human output is drawn: for a terminal (aligned tables,
// shortened ids, relative times, a spinner) or not (tab-separated lines,
// whole values), with colour or without.
type style struct {
	tty   bool
	color bool
	now   time.Time
}

// styleFor is the style for output to w: a terminal gets the terminal
// style, and colour unless NO_COLOR is set to anything but the empty string
// (as no-color.org defines it) or TERM is dumb.
func styleFor(w io.Writer) style {
	f, ok := w.(*os.File)
	return newStyle(ok && term.IsTerminal(int(f.Fd())), os.Getenv, time.Now())
}

// newStyle is the style for a terminal (tty) or not, in an environment.
func newStyle(tty bool, getenv func(string) string, now time.Time) style {
	return style{tty: tty, color: tty && getenv("NO_COLOR") == "" && getenv("TERM") != "dumb", now: now}
}

// ANSI SGR codes.
const (
	sgrBold   = "1"
	sgrDim    = "2"
	sgrRed    = "31"
	sgrGreen  = "32"
	sgrYellow = "33"
	sgrCyan   = "36"
)

func (s style) paint(sgr, text string) string {
	if !s.color || text == "" {
		return text
	}
	return "\x1b[" + sgr + "m" + text + "\x1b[0m"
}

// statusColor is the colour of a status: green done, red failed, yellow
// under way.
func statusColor(st records.Status) string {
	switch st {
	case records.StatusReady:
		return sgrGreen
	case records.StatusRejected, records.StatusError, records.StatusTimedOut, records.StatusFailed:
		return sgrRed
	case records.StatusPending, records.StatusBuilding:
		return sgrYellow
	}
	return sgrCyan
}

func (s style) status(st records.Status) string { return s.paint(statusColor(st), string(st)) }

// writeJSON writes v as indented JSON and a newline.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// shortIDLength is how much of a build id the terminal style shows: plenty
// to be unique, and a prefix `view` accepts.
const shortIDLength = 12

func (s style) id(buildID string) string {
	if s.tty && len(buildID) > shortIDLength {
		return buildID[:shortIDLength]
	}
	return buildID
}

// truncate shortens text to n characters, marking the cut.
func truncate(text string, n int) string {
	if utf8.RuneCountInString(text) <= n {
		return text
	}
	r := []rune(text)
	return string(r[:n-1]) + "…"
}

// pad right-pads text to n characters.
func pad(text string, n int) string {
	if c := utf8.RuneCountInString(text); c < n {
		return text + strings.Repeat(" ", n-c)
	}
	return text
}

// bytesText writes a size in SI units, as "1.2 MB".
func bytesText(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %cB", float64(n)/float64(div), "kMGTPE"[exp])
}

// durationText writes a duration rounded to the second, as "1h2m3s".
func durationText(d time.Duration) string {
	d = max(d, 0).Round(time.Second)
	h, m, sec := int(d/time.Hour), int(d/time.Minute)%60, int(d/time.Second)%60
	var b strings.Builder
	if h > 0 {
		fmt.Fprintf(&b, "%dh", h)
	}
	if m > 0 || (h > 0 && sec > 0) {
		fmt.Fprintf(&b, "%dm", m)
	}
	if sec > 0 || b.Len() == 0 {
		fmt.Fprintf(&b, "%ds", sec)
	}
	return b.String()
}

// ago writes how long before now a record time was, as "5m ago"; a time
// that does not parse is shown as it is.
func (s style) ago(recordTime string) string {
	t, err := records.ParseTime(recordTime)
	if err != nil {
		return recordTime
	}
	d := s.now.Sub(t)
	switch {
	case d < 0:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	}
	return fmt.Sprintf("%dd ago", int(d.Hours()/24))
}

// writeRecord writes one build, as `view` shows it.
func writeRecord(w io.Writer, r records.Record, s style) error {
	var b strings.Builder
	line := func(label, value string) {
		if value != "" {
			fmt.Fprintf(&b, "%s %s\n", s.paint(sgrBold, pad(label+":", 12)), value)
		}
	}
	line("Build", r.BuildID)
	line("Status", s.status(r.Status))
	line("Name", r.Name)
	line("Avatar", r.AvatarID)
	for i, theme := range r.Themes {
		if i == 0 {
			line("Themes", theme)
		} else {
			fmt.Fprintf(&b, "%s %s\n", pad("", 12), theme)
		}
	}
	line("Reason", r.Reason)
	if r.Status == records.StatusQueued {
		line("Next try", r.NextAttemptAt)
	}
	line("Error", r.Error)
	for i, w := range r.Warnings {
		if i == 0 {
			line("Warnings", w.Reason+" ("+w.Code+")")
		} else {
			fmt.Fprintf(&b, "%s %s (%s)\n", pad("", 12), w.Reason, w.Code)
		}
	}
	if r.Bucket != "" || r.Key != "" {
		line("Object", fmt.Sprintf("s3://%s/%s", r.Bucket, r.Key))
	}
	line("Version", r.VersionID)
	line("ETag", r.ETag)
	if r.Size > 0 {
		line("Size", fmt.Sprintf("%s (%d bytes)", bytesText(r.Size), r.Size))
	}
	if r.Image != nil {
		line("Image", fmt.Sprintf("%s %d×%d", r.Image.Format, r.Image.Width, r.Image.Height))
	}
	line("Checks", fmt.Sprint(r.Checks))
	line("Created", r.CreatedAt)
	line("Submitted", r.SubmittedAt)
	line("Updated", r.UpdatedAt)
	line("Finished", r.FinishedAt)
	if r.BuildSeconds > 0 {
		line("Build time", durationText(time.Duration(r.BuildSeconds)*time.Second))
	}
	line("Retry of", r.RetryOf)
	line("Execution", r.ExecutionARN)
	_, err := io.WriteString(w, b.String())
	return err
}

// writeList writes builds as `list` shows them: on a terminal, a table with
// a header, short ids and relative times; otherwise one tab-separated line
// per build (build_id, status, name, avatar_id, created_at) with whole
// values, for scripts.
func writeList(w io.Writer, recs []records.Record, s style) error {
	var b strings.Builder
	if !s.tty {
		for _, r := range recs {
			fmt.Fprintf(&b, "%s\t%s\t%s\t%s\t%s\n", r.BuildID, r.Status, tsvField(r.Name), r.AvatarID, r.CreatedAt)
		}
		_, err := io.WriteString(w, b.String())
		return err
	}
	if len(recs) == 0 {
		_, err := io.WriteString(w, "No builds.\n")
		return err
	}
	header := []string{"BUILD", "STATUS", "NAME", "AVATAR", "CREATED"}
	rows := make([][]string, len(recs))
	for i, r := range recs {
		rows[i] = []string{s.id(r.BuildID), string(r.Status), truncate(tsvField(r.Name), 30), r.AvatarID, s.ago(r.CreatedAt)}
	}
	widths := make([]int, len(header))
	for _, row := range append([][]string{header}, rows...) {
		for i, cell := range row {
			widths[i] = max(widths[i], utf8.RuneCountInString(cell))
		}
	}
	cells := func(row []string, paint func(col int, text string) string) {
		for i, cell := range row {
			text := cell
			if i < len(row)-1 {
				text = pad(cell, widths[i]+2)
			}
			b.WriteString(paint(i, text))
		}
		b.WriteString("\n")
	}
	cells(header, func(_ int, text string) string { return s.paint(sgrBold, text) })
	for i, row := range rows {
		cells(row, func(col int, text string) string {
			if col == 1 {
				return s.paint(statusColor(recs[i].Status), text)
			}
			return text
		})
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// tsvField keeps a value on one field of a tab-separated line or a table
// cell, turning tabs and line breaks into spaces.
func tsvField(v string) string {
	return strings.NewReplacer("\t", " ", "\n", " ", "\r", " ").Replace(v)
}
