// Command vkassets is the front door of the vkassets module: a demo of the
// asset system on the chosen device, a report of that device, a smoke test
// of the Vulkan layer, and the benchmarks.
//
//	vkassets demo [--frames N] [--frames-in-flight N] [--seed S] [--out DIR] [--json]
//	vkassets info [--json]   the chosen device, its memory heaps and types, limits, budgets
//	vkassets smoke           create a buffer and an image, copy, submit, wait, destroy
//	vkassets bench alloc     the allocator traces, against arsenal when bench/peer is at hand
//
// VKASSETS_DEVICE picks a device by index or name; VKASSETS_VALIDATION=1
// turns the Khronos validation layer on.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage: vkassets <command> [flags]

commands:
  demo     render sprite and mesh scenes with N frames in flight while assets are
           loaded (local and remote), switched, locked, released; writes frames,
           VMA statistics, a block map and a memory chart to --out (default out/)
           [--frames N] [--frames-in-flight N] [--seed S] [--out DIR] [--json]
  stress   random asset traffic for N frames, 1-3 in flight, synchronization
           validation on; exits non-zero on any validation error or leak
           [--frames N] [--seed S] [--faults RATE] [--lose-at FRAME] [--json]
           --faults fails that fraction of vkAllocateMemory, vkCreateBuffer/Image,
           vkMapMemory, vkQueueSubmit, fence waits, asset reads and HTTP loads;
           --lose-at loses the device at that frame, then goes on with a new one
  info     describe the Vulkan device vkassets chooses (--json for JSON)
  smoke    create a buffer and an image, record a copy, submit, wait and destroy
  bench [alloc|retire|release] [--json]
           all three without a name
  bench alloc [--json] [--ops N] [--seed S] [--runs R] [--peer DIR]
           replay the allocator traces (random, adversarial, gpumix) on vkassets,
           and on arsenal (VMA's TLSF in Go) in the same process when DIR
           (default bench/peer) holds the peer module; with --runs, each
           row is the median of R runs, the two taking turns
  bench retire [--json]
           framesync: Poll with 1,000,000 pending and none due, and retiring
           10,000 due buffers, on the chosen device
  bench release [--json]
           finalizer: ReleaseUnused over 1,000,000 assets, the cycle check on
           100,000, a non-forced release of a leaf

environment:
  VKASSETS_DEVICE=<index|name>   choose a device
  VKASSETS_VALIDATION=1          turn on VK_LAYER_KHRONOS_validation
  VKASSETS_SYNC_VALIDATION=1     also turn on synchronization validation
`

// run is main without the exit, for tests: it returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	var err error
	switch cmd, rest := args[0], args[1:]; cmd {
	case "info":
		fs := flag.NewFlagSet("info", flag.ContinueOnError)
		fs.SetOutput(stderr)
		asJSON := fs.Bool("json", false, "print one JSON object")
		if fs.Parse(rest) != nil {
			return 2
		}
		err = runInfo(stdout, logger, *asJSON)
	case "smoke":
		fs := flag.NewFlagSet("smoke", flag.ContinueOnError)
		fs.SetOutput(stderr)
		if fs.Parse(rest) != nil {
			return 2
		}
		err = runSmoke(stdout, logger, false)
	case "bench":
		return runBench(rest, stdout, stderr)
	case "demo":
		return runDemo(rest, stdout, stderr)
	case "stress":
		return runStress(rest, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "vkassets: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "vkassets %s: %v\n", args[0], err)
		if errors.Is(err, errValidation) {
			return 3
		}
		return 1
	}
	return 0
}

var errValidation = errors.New("validation errors reported")

// writeJSON prints v as indented JSON.
func writeJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
