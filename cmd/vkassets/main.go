// Command vkassets is the front door of the vkassets module: a demo of the
// asset system on the chosen device, a report of that device, a smoke test
// of the Vulkan layer, and the benchmarks.
//
//	vkassets demo [--frames N] [--frames-in-flight N] [--seed S] [--out DIR] [--json] [--inspect ADDR]
//	vkassets info [--json]   the chosen device, its memory heaps and types, limits, budgets
//	vkassets smoke           create a buffer and an image, copy, submit, wait, destroy
//	vkassets bench alloc     the allocator traces, against arsenal when bench/peer is at hand
//	vkassets bench residency scene visits under a memory budget, against release on switch and Belady
//	vkassets diff [--json] BEFORE.json AFTER.json   compare two inspector snapshots
//	vkassets help [command]  the usage, or a command's own (as vkassets <command> --help)
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
	"slices"
	"strings"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage: vkassets <command> [flags]

commands:
  demo     render sprite and mesh scenes with N frames in flight while assets are
           loaded (local and remote), switched, locked, released; writes frames,
           VMA statistics, a block map and a memory chart to --out (default out/)
           [--frames N] [--frames-in-flight N] [--seed S] [--out DIR] [--json] [--window]
           [--inspect ADDR]  serve the live inspector (a browser page) on ADDR
  stress   random asset traffic for N frames, 1-3 in flight, synchronization
           validation on; exits non-zero on any validation error or leak
           [--frames N] [--seed S] [--faults RATE] [--lose-at FRAME] [--json] [--inspect ADDR]
           --faults fails that fraction of vkAllocateMemory, vkCreateBuffer/Image,
           vkMapMemory, vkQueueSubmit, fence waits, asset reads and HTTP loads;
           --lose-at loses the device at that frame, then goes on with a new one
  info     describe the Vulkan device vkassets chooses (--json for JSON)
  smoke    create a buffer and an image, record a copy, submit, wait and destroy
  bench [alloc|retire|release|residency] [--json]
           all four without a name
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
  bench residency [--json] [--seed N] [--visits N] [--frames N]
           replay seeded scene visits at budgets of 50%, 100% and 150% of the
           working set with residency on, against release on switch,
           keep-everything and the offline reference (Belady); hit rates,
           bytes loaded, peaks, load time saved, frames to relieve pressure
  bench defrag [--json] [--seed S] [--ops N] [--max-bytes-per-pass B] [--max-moves-per-pass N]
           replay the gpumix trace through the Allocator on a simulated GTX
           1080 Ti, then defragment it (fast and full): live/reserved before
           and after, blocks freed, bytes moved, moves, passes, planning time
  diff [--json] BEFORE.json AFTER.json
           compare two inspector snapshots (inspector.Snapshot.WriteJSON): assets
           freed, survived, added, and freed but still waiting for the GPU, with bytes
  help [command]
           this text, or a command's own usage (the same as: vkassets <command> --help)

environment:
  VKASSETS_DEVICE=<index|name>   choose a device
  VKASSETS_VALIDATION=1          turn on VK_LAYER_KHRONOS_validation
  VKASSETS_SYNC_VALIDATION=1     also turn on synchronization validation
`

// commands are the subcommands, in the order the usage gives them.
var commands = []string{"demo", "stress", "info", "smoke", "bench", "diff", "help"}

const infoAbout = `Describe the Vulkan device vkassets chooses (VKASSETS_DEVICE picks one by
index or name): its Vulkan and driver versions, memory heaps with their
budgets, memory types, and the limits the allocator works with.`

const smokeAbout = `Smoke-test the Vulkan layer: create a buffer and an image, record a copy,
submit, wait and destroy, printing each step with its time.`

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
		asJSON := fs.Bool("json", false, "print one JSON object")
		if code, ok := parseFlags(fs, infoAbout, rest, stdout, stderr); !ok {
			return code
		}
		err = runInfo(stdout, logger, *asJSON)
	case "smoke":
		fs := flag.NewFlagSet("smoke", flag.ContinueOnError)
		if code, ok := parseFlags(fs, smokeAbout, rest, stdout, stderr); !ok {
			return code
		}
		err = runSmoke(stdout, logger, false)
	case "bench":
		return runBench(rest, stdout, stderr)
	case "demo":
		return runDemo(rest, stdout, stderr)
	case "stress":
		return runStress(rest, stdout, stderr)
	case "diff":
		return runDiff(rest, stdout, stderr)
	case "help", "-h", "-help", "--help":
		if len(rest) == 0 {
			fmt.Fprint(stdout, usage)
			return 0
		}
		if rest[0] == "help" || !slices.Contains(commands, rest[0]) {
			return unknownCommand(rest[0], stderr)
		}
		// The command's own --help: the same text, the same way.
		return run(append(slices.Clone(rest), "--help"), stdout, stderr)
	default:
		return unknownCommand(cmd, stderr)
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

func unknownCommand(cmd string, stderr io.Writer) int {
	fmt.Fprintf(stderr, "vkassets: unknown command %q: the commands are %s\n(vkassets help prints the usage)\n",
		cmd, strings.Join(commands, ", "))
	return 2
}

// parseFlags parses a subcommand's arguments with fs, whose name is the
// subcommand's ("demo", "bench alloc"); about says what the subcommand does.
// It reports whether the subcommand should go on, and the exit status when
// not: 0 after -h or --help, with the subcommand's usage on stdout; 2 after
// a bad flag or an argument that is not a flag, with the error and the
// usage on stderr.
func parseFlags(fs *flag.FlagSet, about string, args []string, stdout, stderr io.Writer) (code int, ok bool) {
	fs.SetOutput(io.Discard) // the errors are printed here, with the command's name
	fs.Usage = func() {}
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		printUsage(stdout, fs, about)
		return 0, false
	case err != nil:
		fmt.Fprintf(stderr, "vkassets %s: %v\n\n", fs.Name(), err)
		printUsage(stderr, fs, about)
		return 2, false
	case fs.NArg() > 0:
		fmt.Fprintf(stderr, "vkassets %s: unexpected arguments %q: the command takes flags only\n\n", fs.Name(), fs.Args())
		printUsage(stderr, fs, about)
		return 2, false
	}
	return 0, true
}

// printUsage writes a subcommand's usage: the synopsis, what it does, and
// its flags with their defaults.
func printUsage(w io.Writer, fs *flag.FlagSet, about string) {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	if n == 0 {
		fmt.Fprintf(w, "usage: vkassets %s\n\n%s\n\nflags: none\n", fs.Name(), about)
		return
	}
	fmt.Fprintf(w, "usage: vkassets %s [flags]\n\n%s\n\nflags:\n", fs.Name(), about)
	fs.VisitAll(func(f *flag.Flag) {
		typ, text := flag.UnquoteUsage(f)
		name := "--" + f.Name
		if typ != "" {
			name += " " + typ
		}
		switch f.DefValue {
		case "", "0", "false":
		default:
			text += fmt.Sprintf(" (default %s)", f.DefValue)
		}
		fmt.Fprintf(w, "  %s\n        %s\n", name, text)
	})
}

var errValidation = errors.New("validation errors reported")

// writeJSON prints v as indented JSON.
func writeJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
