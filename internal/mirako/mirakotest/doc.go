// Package mirakotest is a simulator of the part of the Mirako API the pipeline uses, faithful to
// Mirako's published OpenAPI 3.1 specification (internal/mirako/openapi, vendored), with
// scripted outcomes and fault injection. It is an http.Handler: mount it anywhere, start it with
// NewServer in a test, or run it standalone with `avatarctl sim`.
//
// # Endpoints
//
//	POST   /v1/avatar/async_build  {"name", "image"} → 200 {"data":{"avatar_id": <uuid>}}   (BuildAvatarAsync)
//	GET    /v1/avatar/{id}         → 200 {"data": AvatarResponse}                             (GetAvatarById)
//	GET    /v1/avatar/list         → 200 {"data": [AvatarResponse…]}, null when empty          (GetUserAvatarList)
//	DELETE /v1/avatar/{id}         → 204                                                      (DeleteAvatar)
//	GET    /_sim/stats             → the Stats JSON; no auth, never faulted, not counted
//
// Every /v1 request needs "Authorization: Bearer <Config.Token>" (401 otherwise). Every error is an
// application/problem+json ErrorModel with only the members the spec allows (title, status, detail and,
// for validation failures, errors[] whose location names the field), like the Huma framework the
// spec was generated from writes them. The one exception is on purpose: the "empty" and "garbled"
// faults below send what a broken gateway would.
//
// An avatar is PENDING for the first tenth of Config.BuildTime, BUILDING until BuildTime has passed,
// then READY, with one theme ("Default", key_image and live_video URLs) and supported_interactive_models
// ["metis-2.5"]; until READY both are null. created_at is RFC 3339 (UTC, nanoseconds); user_id is a
// UUID derived from the token. The list is newest first.
//
// # The build request
//
// The body is decoded as a stream. Checks, in order, with the answer each failure gets:
//
//	Content-Type present and not JSON                              415 (errors[0].location "body")
//	body larger than Config.MaxBodyBytes (declared or actual)      413 (errors[0].location "body")
//	empty body                                                     400 "request body is required"
//	not JSON                                                       400 (errors[0].location "body")
//	JSON but not an object                                         422 (location "body")
//	a member other than name and image                             422 (location "body.<member>")
//	name or image missing                                          422 (location "body.name" / "body.image")
//	name or image not a string                                     422 (location "body.name" / "body.image")
//	image not standard, padded base64 (line breaks are ignored)    422 (location "body.image")
//	decoded image larger than Config.MaxImageBytes                 422 (location "body.image")
//	decoded image not a JPEG or PNG (by its magic bytes)           422 (location "body.image")
//
// All 422 problems found in one body are reported together. 413 was chosen for an oversized body
// because it is the status HTTP defines for it and what Huma answers; the spec's default response
// covers any status.
//
// # Scripted outcomes by avatar name
//
// A test can choose an avatar's fate through its name alone, without touching the pipeline. Tags are
// written in square brackets anywhere in the name ("Ada [error]"); several may be combined.
//
//	[error]        the build ends in ERROR instead of READY (after the usual PENDING and BUILDING)
//	[stuck]        the build never leaves BUILDING
//	[credits]      the POST gets 402 Payment Required ("insufficient credits"); nothing is created
//	[forbidden]    the POST gets 403 Forbidden; nothing is created
//	[F]            every POST with this name gets fault F (any Fault below, e.g. [429], [reset],
//	               [accept_then_reset])
//	[FxN]          only the first N POSTs with this exact name get fault F, later ones succeed
//	               (e.g. [503x2]: two 503s, then the build is created)
//	[get:F], [get:FxN]
//	               every (or the first N) GET /v1/avatar/{id} of an avatar with this name gets fault F
//
// A name's tags apply after the body was validated. A fault from the name behaves like the same fault
// from a script: "before" faults create nothing, accept_then_* faults create the avatar and then
// spoil the answer. [credits] and [forbidden] win over fault tags. A request that already drew a
// scripted or random fault does not also use its name's fault tag (and does not count towards N).
//
// # Faults
//
// Faults are injected by rate (Config.FaultRate, drawn from Config.FaultKinds with a generator seeded by
// Config.Seed), by script (Script, ScriptFor) and by name (above). A request gets at most one fault;
// a per-endpoint script is used first, then the global script, then the random draw. Scripted and
// random faults stand for the infrastructure in front of the API: they hit any /v1 request, before
// authentication and the rate limit. Stats.Faults counts them all by kind.
//
// "Before" faults happen before the request is processed, so they never change state (a POST creates
// nothing):
//
//	429                429 problem+json with Retry-After (Config.RetryAfter, whole seconds)
//	500, 503           500 / 503 problem+json
//	empty              502 Bad Gateway with no body at all (Mirako documents that not every error has one)
//	garbled            502 with Content-Type application/problem+json and a cut, corrupted body
//	reset              the TCP connection is reset (RST) without an answer
//	slow               the answer stalls for Config.SlowDelay; if the client is still there then, the
//	                   request is processed normally, otherwise it is not processed at all
//
// "After" faults process the request (a POST creates the avatar, a DELETE deletes it), then spoil the
// answer; only scripts, names and Config.FaultKinds use them:
//
//	accept_then_reset    the connection is reset instead of the answer: the client sees an error although
//	                     the build exists (a pipeline must adopt it, not post again)
//	accept_then_slow     the answer is held for Config.SlowDelay (dropped if the client has gone)
//	accept_then_garbled  the real status line with the body cut in half and corrupted
//	accept_then_empty    the real status line and headers with an empty body
//
// A 204 has no body to spoil: accept_then_garbled and accept_then_empty deliver it intact.
// Responses of the empty, garbled and accept_then_garbled/empty faults deliberately do not validate
// against the spec; every other response does.
//
// Two things worth knowing when scripting resets. net/http's Transport retries a GET once, on a fresh
// connection, when a reused connection is reset before any answer: a GET fails only if two resets are
// scripted. It does not retry a POST or a DELETE that way. And resets, like a
// stall the client gives up on, need a real connection: served into an httptest.ResponseRecorder they
// panic with http.ErrAbortHandler.
//
// # Rate limit
//
// With Config.RateLimit > 0, each token may make RateLimit authenticated /v1 requests per fixed
// Config.RateWindow; the excess gets 429 with Retry-After set to the seconds until the window ends.
//
// # Build capacity and outage
//
// With Config.MaxBuilds > 0, a POST while that many avatars are PENDING or BUILDING gets 429 with
// Retry-After (until the first of them finishes) and creates nothing. With Config.Outage > 0, every
// /v1 request gets 503 with Retry-After for that long after New, before faults and authentication.
//
// # Determinism and concurrency
//
// Avatar ids and random fault draws come from generators seeded by Config.Seed, one each, so a
// sequence of requests yields the same ids and faults on every run whatever the fault rate; requests
// that race each other are served in whatever order they arrive. Status progression follows
// Config.Now. The Simulator is safe for concurrent use; its counters are read with Stats or at
// GET /_sim/stats.
//
// # Benchmark stand-ins
//
// PatternReader and Sink are not part of the simulation: they stand in for an S3 object body and
// for Mirako in the benchmarks of the build upload, and do as little as they can, so that what a
// benchmark counts is the client's work.
package mirakotest
