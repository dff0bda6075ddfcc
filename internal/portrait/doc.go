// Package portrait checks a portrait before it is sent to Mirako, whose avatar build costs
// credits and up to 45 minutes: a bad photo found afterwards wastes both.
//
// Mirako's guidance is: JPG or PNG, at least 512×512, at most 10 MB, square or wide 16:9; a
// clear frontal face, even lighting, minimal background, one person, sharp. The package turns
// the first half into hard rules and the second into a quality report.
//
// [Header] reads only the start of the file — typically a few hundred bytes, further only when
// the file puts its header further in — and applies the hard rules: the format by its magic
// bytes (a ".png" that is a JPEG is judged as a JPEG), the size, the displayed dimensions (EXIF
// orientation applied, so a phone photo is judged as people see it), the aspect ratio, animation,
// JPEG variants Go cannot decode, and caps that refuse decompression bombs before anything large
// is allocated.
//
// [Check] applies the same rules, then decodes the image in full, under a memory cap estimated
// from the header, which proves the file is neither corrupt nor truncated. It measures the
// decoded image while downscaling it in one pass to a working copy whose shorter side is
// [AnalysisSide] pixels, lets the full image go, and computes the quality metrics on the copy:
// exposure, contrast, sharpness (variance of the Laplacian), colourfulness, compression
// artefacts (estimated JPEG quality and 8×8 blocking), background busyness, transparency. Each
// finding is a warning, or a rejection under a strict [Policy]. With a [FaceDetector] in the
// Policy it also checks for exactly one, large enough, evenly lit face.
//
// Bad content is never an error: Check returns a [Report] with verdict "reject" and reasons a
// person can act on, each with a stable machine-readable code. Check and Header return an error
// only when reading fails.
//
// README.md in this directory gives every threshold and what it is based on: Mirako's guidance,
// published sources, and measurements on real portrait photos (tools/facecal quality re-runs them).
package portrait
