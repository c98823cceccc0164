# ynagw: the two commands a newcomer needs are `make demo` and `make test`.
GO ?= go

.PHONY: demo build test test-deps vet unit bench bench-load fuzz

# The production binary (README "Production set-up"): static, with the version from
# git (ynagw --version); VERSION=v1.2.3 or BIN=path override.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null)
BIN ?= bin/ynagw

demo:
	$(GO) run ./cmd/ynagw demo

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/ynagw

test-deps:
	./scripts/install-test-deps.sh

vet:
	$(GO) vet ./...

unit:
	$(GO) test -race -count=1 -timeout 15m ./...

# The test command (what CI runs): install missing peers, vet, race tests.
test: test-deps vet unit

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# Load benchmark for sizing hardware (e2e/loadbench_test.go): CALLS calls (default 200,
# 16 set-ups in flight) through the built daemon, desk phone (plain RTP) to simulated
# network (WebRTC, DTLS-SRTP), 50 packets/s each way; prints set-up rate, relay CPU per
# packet, calls per core, RSS and goroutines per call. Not part of `make test`.
CALLS ?= 200
WINDOW ?= 10s
bench-load:
	YNAGW_LOAD_CALLS=$(CALLS) YNAGW_LOAD_WINDOW=$(WINDOW) $(GO) test -count=1 -timeout 30m -run '^TestLoadBenchmark$$' -v ./e2e/

# Every fuzz target of the module (found by scripts/fuzz.sh), one after the other, each
# for FUZZTIME (default 30s). Not part of `make test`; failing inputs land in the
# package's testdata/fuzz/ and become regression seeds.
FUZZTIME ?= 30s
fuzz:
	FUZZTIME=$(FUZZTIME) GO=$(GO) ./scripts/fuzz.sh
