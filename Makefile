# ynagw: the two commands a newcomer needs are `make demo` and `make test`.
GO ?= go

.PHONY: demo build test test-deps vet unit bench fuzz

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

# Every fuzz target of the module (found by scripts/fuzz.sh), one after the other, each
# for FUZZTIME (default 30s). Not part of `make test`; failing inputs land in the
# package's testdata/fuzz/ and become regression seeds.
FUZZTIME ?= 30s
fuzz:
	FUZZTIME=$(FUZZTIME) GO=$(GO) ./scripts/fuzz.sh
