# The two commands the README gives first: `make run` and `make test`.
# Each installs what is missing (scripts/deps.sh) before it starts.

GO ?= go
export PATH := $(PATH):/usr/local/go/bin

.PHONY: all deps run test bench lint examples

all: test

deps:
	@scripts/deps.sh

# The main program: describe the device, then a validated smoke run.
run: deps
	$(GO) run ./cmd/vkassets info
	VKASSETS_VALIDATION=1 $(GO) run ./cmd/vkassets smoke

# The whole suite with the race detector, the validation layer on, and an X
# server (Xvfb) for the window tests.
test: deps
	$(GO) vet ./...
	VKASSETS_VALIDATION=1 xvfb-run -a $(GO) test -race -count=1 ./...

bench: deps
	$(GO) test -run '^$$' -bench . -benchmem ./...

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: the files above need formatting"; exit 1; }
	$(GO) vet ./...
