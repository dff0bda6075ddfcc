# avatar-pipeline: build, check, run and deploy.
#
#   make test     every test, unit and end to end (then the race detector on the concurrent packages)
#   make permissions  the permission proof alone: the functions' requests against the SAM transform's roles
#   make lint     gofmt, go vet, cfn-lint, the ASL validator
#   make ci       lint + test + the five Lambda builds, with their sizes
#   make sizes    build the five arm64 binaries into bin/ and print their sizes
#   make bench    every figure of BENCHMARKS.md (name value unit)
#   make fuzz     each fuzz target of the portrait checks for FUZZTIME (15s)
#   make local    run the whole pipeline on this machine (avatarctl local)
#   make deploy   sam build && sam deploy --guided
#   make clean    remove bin/ and .aws-sam/
#
# `sam build` calls build-SubmitFunction, build-CheckStatusFunction and
# build-NotifyFunction (BuildMethod: makefile in template.yaml), with
# ARTIFACTS_DIR set to where the function's bootstrap must go.

SHELL := /bin/bash
GO ?= go
# Runs a command with moto_server, cfn-lint and the SAM translator on PATH,
# setting them up in .venv on a fresh machine (tools/requirements.txt).
PYTOOLS := tools/with-python-tools

# Logical ids of the functions in template.yaml; build-<Name>Function builds
# ./functions/<name, lower case>.
FUNCTIONS := SubmitFunction CheckStatusFunction NotifyFunction SweepFunction WebhookFunction
BUILD_TARGETS := $(addprefix build-,$(FUNCTIONS))

# provided.al2023 on Graviton: a static arm64 binary named bootstrap, without
# the RPC shim (lambda.norpc) and without symbols or build paths.
GOBUILD := CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build -trimpath -tags lambda.norpc -ldflags='-s -w'

# Binary size goals in bytes (10 MiB, 7 MiB and 9 MiB): small bootstraps start
# cold faster. MiB, not decimal MB: a bare Lambda that only publishes to SNS
# with aws-sdk-go-v2 is already 7.08 MB, so the decimal reading could not be
# met by any function built on the SDK. Submit carries the image decoders and
# the face models; the sweep and the webhook function use two SDK clients each
# (DynamoDB and Step Functions; SQS and Secrets Manager), about 1 MB apiece,
# and no upload waits on their cold start.
SIZE_GOAL_SUBMIT := 10485760
SIZE_GOAL_OTHER := 7340032
SIZE_GOAL_TWO_CLIENTS := 9437184

# The race detector slows tests several times and, on a 2-core machine,
# recompiles every dependency once more; it runs on the packages that have
# goroutines or shared state (streaming upload, local gateway and pump,
# metrics, concurrent reads), not on the whole module.
RACE_PKGS ?= ./internal/mirako/... ./internal/local/... ./internal/metrics/... ./internal/records/...

FUZZ_PKG ?= ./internal/portrait
FUZZTIME ?= 15s

BIN ?= bin

.DEFAULT_GOAL := help
.PHONY: help $(BUILD_TARGETS) test permissions lint ci sizes bench local deploy fuzz clean

help:
	@sed -n 's/^#   //p' $(firstword $(MAKEFILE_LIST))

# One rule for the three functions: build-SubmitFunction builds ./functions/submit.
$(BUILD_TARGETS): build-%Function:
	$(if $(ARTIFACTS_DIR),,$(error ARTIFACTS_DIR is not set: sam build sets it; for a local build run make sizes))
	$(GOBUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/$(shell printf '%s' '$*' | tr '[:upper:]' '[:lower:]')

test:
	$(PYTOOLS) $(GO) test -count=1 -timeout 20m ./...
	$(PYTOOLS) $(GO) test -race -count=1 -timeout 20m $(RACE_PKGS)

# The whole suite runs the proof too, over every request its stacks made.
permissions:
	$(PYTOOLS) $(GO) test -count=1 -run '^TestPermissions$$' -v ./internal/local

lint:
	@unformatted=$$(gofmt -l $$(find . -name '*.go' -not -path './.*' -not -path './vendor/*')); \
	if [ -n "$$unformatted" ]; then echo "gofmt -l lists files to format:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(PYTOOLS) cfn-lint template.yaml
	@# An independent Amazon States Language validator (npm's asl-validator).
	cd tools/asl && npm ci --silent --no-audit --no-fund && node check.js

# Builds each function through its SAM target into $(BIN)/<name>/bootstrap,
# prints the sizes and fails when one is over its goal.
sizes:
	@set -e; for f in $(FUNCTIONS); do \
		name=$$(printf '%s' "$${f%Function}" | tr '[:upper:]' '[:lower:]'); \
		$(MAKE) --no-print-directory build-$$f ARTIFACTS_DIR="$(abspath $(BIN))/$$name" >/dev/null; \
	done
	@status=0; printf '%-12s %12s %12s\n' function bytes goal; \
	for f in $(FUNCTIONS); do \
		name=$$(printf '%s' "$${f%Function}" | tr '[:upper:]' '[:lower:]'); \
		size=$$(wc -c < "$(BIN)/$$name/bootstrap"); size=$$((size)); \
		goal=$(SIZE_GOAL_OTHER); case $$name in submit) goal=$(SIZE_GOAL_SUBMIT);; sweep|webhook) goal=$(SIZE_GOAL_TWO_CLIENTS);; esac; \
		mark=ok; if [ "$$size" -gt "$$goal" ]; then mark="OVER GOAL"; status=1; fi; \
		printf '%-12s %12d %12d  %s\n' "$$name" "$$size" "$$goal" "$$mark"; \
	done; exit $$status

# The three builds go to a temporary directory, so ci leaves no artifacts.
ci: lint test
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	$(MAKE) --no-print-directory sizes BIN="$$tmp"

bench:
	@# Every figure of BENCHMARKS.md, one "name value unit" line each on
	@# standard output; progress and the goal verdicts on standard error.
	@# The arm64 bootstraps (their sizes) and builds for this machine (their
	@# cold starts), each with the empty reference function, go to a
	@# temporary directory. BENCHFLAGS=-strict fails on a missed goal.
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	hostarch=$$($(GO) env GOHOSTARCH); \
	for f in $(FUNCTIONS); do \
		name=$$(printf '%s' "$${f%Function}" | tr '[:upper:]' '[:lower:]'); \
		$(MAKE) --no-print-directory build-$$f ARTIFACTS_DIR="$$tmp/arm64/$$name" >/dev/null; \
		$(subst GOARCH=arm64,GOARCH=$$hostarch,$(GOBUILD)) -o "$$tmp/host/$$name" ./functions/$$name; \
	done; \
	$(GOBUILD) -o "$$tmp/arm64/emptylambda/bootstrap" ./tools/benchreport/emptylambda; \
	$(subst GOARCH=arm64,GOARCH=$$hostarch,$(GOBUILD)) -o "$$tmp/host/emptylambda" ./tools/benchreport/emptylambda; \
	$(GO) build -o "$$tmp/benchreport" ./tools/benchreport; \
	"$$tmp/benchreport" -bin "$$tmp/arm64" -hostbin "$$tmp/host" $(BENCHFLAGS)

local:
	$(PYTOOLS) $(GO) run ./cmd/avatarctl local --poll-seconds 5

# Needs the AWS SAM CLI and credentials. The first run asks for the stack name,
# region and parameters (the Mirako secret must exist) and saves the answers
# in samconfig.toml; later runs can use `sam build && sam deploy`.
deploy:
	sam build
	sam deploy --guided

# Each fuzz target of the portrait checks for FUZZTIME (go test runs one
# fuzz target at a time).
fuzz:
	@targets=$$($(GO) test -list '^Fuzz' $(FUZZ_PKG) | grep '^Fuzz' || true); \
	if [ -z "$$targets" ]; then echo "no fuzz targets in $(FUZZ_PKG)" >&2; exit 1; fi; \
	for f in $$targets; do \
		echo "$(GO) test -fuzz $$f -fuzztime $(FUZZTIME) $(FUZZ_PKG)"; \
		$(GO) test -run '^$$' -fuzz "^$${f}\$$" -fuzztime $(FUZZTIME) $(FUZZ_PKG) || exit 1; \
	done

clean:
	rm -rf $(BIN) .aws-sam
