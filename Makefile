# The two commands the README gives first: `make run` and `make test`.
# Each installs what is missing (scripts/deps.sh) before it starts.

GO ?= go
export PATH := $(PATH):/usr/local/go/bin

FUZZTIME ?= 30s

.PHONY: all deps run test bench fuzz lint fault-sweep ktx2-interop

all: test

deps:
	@scripts/deps.sh

# The main program: the demo, with the validation layer on. It renders sprite
# and mesh scenes while assets are loaded, switched, locked and released, and
# writes frames, VMA statistics, a block map and a memory chart to out/.
run: deps
	$(GO) run ./cmd/vkassets info
	VKASSETS_VALIDATION=1 $(GO) run ./cmd/vkassets demo --out out

# The whole suite with the race detector, the validation layer on, and an X
# server (Xvfb) for the window tests.
test: deps
	$(GO) vet ./...
	$(GO) build ./...
	VKASSETS_VALIDATION=1 xvfb-run -a $(GO) test -race -count=1 ./...

# Go benchmarks of every package, then the allocator traces against the
# peer (arsenal) in one process.
bench: deps
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 20x ./...
	$(GO) run ./cmd/vkassets bench alloc

# Each fuzz target for FUZZTIME (default 30s).
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzVirtualBlock$$' -fuzztime $(FUZZTIME) ./alloc/virtual
	$(GO) test -run '^$$' -fuzz '^FuzzDefragPlanner$$' -fuzztime $(FUZZTIME) ./alloc/virtual
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeImage$$' -fuzztime $(FUZZTIME) ./assets
	$(GO) test -run '^$$' -fuzz '^FuzzGLTF$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 2s ./assets # minimizing a 67 KB sample model stalls it otherwise
	$(GO) test -run '^$$' -fuzz '^FuzzKTX2$$' -fuzztime $(FUZZTIME) ./assets
	$(GO) test -run '^$$' -fuzz '^FuzzManifest$$' -fuzztime $(FUZZTIME) ./assets
	$(GO) test -run '^$$' -fuzz '^FuzzRemoteResponse$$' -fuzztime $(FUZZTIME) ./assets
	$(GO) test -run '^$$' -fuzz '^FuzzReleasePolicy$$' -fuzztime $(FUZZTIME) ./finalizer

# stress --faults for seeds 1-20 x rates 0.01, 0.05, 0.2 x 3,000 frames
# (docs/reliability.md has the table); SEEDS, RATES and FRAMES narrow it.
fault-sweep: deps
	scripts/fault-sweep.sh

# Writes assets/testdata/ktx2 again with ktx-parse (an independent KTX2
# implementation; Zstandard levels by the zstd command or node:zlib) and
# records the tools' versions in its TOOLS.txt.
ktx2-interop: deps
	cd scripts/ktx2-interop && node write.mjs ../../assets/testdata/ktx2

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: the files above need formatting"; exit 1; }
	$(GO) vet ./...
