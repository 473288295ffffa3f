package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/vkassets/vkassets/alloc/trace"
)

// benchResults is what `vkassets bench alloc --json` prints.
type benchResults struct {
	Results []trace.Result `json:"results"`
	// Peer says where the arsenal figures came from, or why there are none.
	Peer string `json:"peer"`
	// BestFitRefused is, by trace, how many allocations the exhaustive
	// best fit with the block's own placement (trace.BestFitAsBlock: at the
	// aligned end of the smallest range that fits, carrying trailing
	// padding below 4 KiB) refuses on the same trace: the yardstick of the
	// refusals above, which vkassets' search equals. Not for the
	// adversarial trace, where its sorted lists take over a minute.
	BestFitRefused map[string]int `json:"best_fit_refused,omitempty"`
}

// benchAbout is what each benchmark does, by the name given after bench
// ("all" without one).
var benchAbout = map[string]string{
	"all": `Run the three benchmarks, alloc, retire and release, then the residency
replay with its defaults (vkassets bench NAME runs one: vkassets bench NAME
--help says what it measures); the flags other than --json are alloc's,
--seed residency's too.`,
	"alloc": `Replay the allocator traces (random, adversarial, gpumix) on vkassets, and
on arsenal (VMA's TLSF in Go) in the same process when --peer names a
folder holding the peer module (a checkout of the repository and a Go
toolchain); with --runs, each row is the median of R runs, the two taking
turns.`,
	"retire": `framesync: Poll with 1,000,000 pending and none due, and retiring 10,000
due buffers, on the chosen device.`,
	"release": `finalizer: ReleaseUnused over 1,000,000 assets, the cycle check on a
100,000-asset cycle, a non-forced release of a leaf, and ReleaseUnused
when 1,000 of 1,000,000 cached assets are unused.`,
	"residency": residencyAbout,
	"load":      loadAbout,
	"defrag":    defragAbout,
}

func runBench(args []string, stdout, stderr io.Writer) int {
	what := "all"
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		what, args = args[0], args[1:]
	}
	about, known := benchAbout[what]
	if !known {
		fmt.Fprintf(stderr, "vkassets bench: unknown benchmark %q (have: alloc, retire, release, residency, load, defrag)\n", what)
		return 2
	}
	name := "bench"
	if what != "all" {
		name += " " + what
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print the results as JSON")
	ops, seed, runs, peerDir := new(int), new(uint64), new(int), new(string)
	*runs = 1
	if what == "all" || what == "alloc" {
		fs.IntVar(ops, "ops", 0, "operations per trace (0: each trace's default)")
		fs.Uint64Var(seed, "seed", 1, "trace seed")
		fs.IntVar(runs, "runs", 1, "measured runs of each impl on each trace; the median run is reported")
		fs.StringVar(peerDir, "peer", "bench/peer", "the peer benchmark module (arsenal); empty to skip it")
	}
	var loadFiles []string
	if what == "load" {
		fs.Func("file", "a file to load (repeat for several)", func(v string) error {
			loadFiles = append(loadFiles, v)
			return nil
		})
	}
	var ro residencyOptions
	if what == "residency" {
		fs.Uint64Var(&ro.seed, "seed", 1, "trace seed: the same seed replays the same scenes and visits")
		fs.IntVar(&ro.visits, "visits", 200, "scene visits in the trace")
		fs.IntVar(&ro.frames, "frames", 3, "frames rendered per visit (Collect at the end of each)")
	}
	var do defragOptions
	if what == "defrag" {
		fs.Uint64Var(&do.seed, "seed", 1, "gpumix trace seed")
		fs.IntVar(&do.ops, "ops", 300_000, "operations of the gpumix trace")
		fs.Uint64Var(&do.maxBytes, "max-bytes-per-pass", 0, "DefragOptions.MaxBytesPerPass (0: no limit)")
		fs.IntVar(&do.maxMoves, "max-moves-per-pass", 0, "DefragOptions.MaxMovesPerPass (0: no limit)")
		fs.StringVar(&do.part, "part", "all", "allocator (the gpumix trace), assets (the asset manager's automatic defragmentation on lavapipe) or all")
		fs.Uint64Var(&do.assetBytes, "max-bytes-per-frame", 16<<20, "the assets part's DefragPolicy.MaxBytesPerFrame")
	}
	if code, ok := parseFlags(fs, about, args, stdout, stderr); !ok {
		return code
	}
	if what == "defrag" {
		if do.ops < 1 || do.maxMoves < 0 {
			fmt.Fprintf(stderr, "vkassets bench defrag: --ops must be at least 1 and --max-moves-per-pass not negative\n")
			return 2
		}
		if do.part != "all" && do.part != "allocator" && do.part != "assets" || do.assetBytes == 0 {
			fmt.Fprintf(stderr, "vkassets bench defrag: --part is allocator, assets or all (not %q); --max-bytes-per-frame is not 0\n", do.part)
			return 2
		}
		var out struct {
			Allocator []defragResult      `json:"allocator,omitempty"`
			Assets    []assetDefragResult `json:"assets,omitempty"`
		}
		var err error
		if do.part != "assets" {
			if out.Allocator, err = benchDefrag(stderr, do); err != nil {
				fmt.Fprintf(stderr, "vkassets bench defrag: %v\n", err)
				return 1
			}
		}
		if do.part != "allocator" {
			if out.Assets, err = benchDefragAssets(stderr, do.seed, do.assetBytes); err != nil {
				fmt.Fprintf(stderr, "vkassets bench defrag: assets: %v\n", err)
				return 1
			}
		}
		if *asJSON {
			writeJSON(stdout, out)
			return 0
		}
		if out.Allocator != nil {
			printDefrag(stdout, out.Allocator)
		}
		if out.Assets != nil {
			if out.Allocator != nil {
				fmt.Fprintln(stdout)
			}
			printDefragAssets(stdout, out.Assets)
		}
		return 0
	}
	if what == "residency" {
		return runBenchResidency(ro, *asJSON, stdout, stderr)
	}
	if what == "load" {
		return benchLoad(loadFiles, *asJSON, stdout, stderr)
	}
	if *runs < 1 {
		fmt.Fprintf(stderr, "vkassets bench: --runs must be at least 1, not %d\n", *runs)
		return 2
	}
	if what == "all" {
		return benchAll(stdout, stderr, *asJSON, *ops, *seed, *runs, *peerDir)
	}
	if what == "retire" {
		res, err := benchRetire(stderr)
		if err != nil {
			fmt.Fprintf(stderr, "vkassets bench retire: %v\n", err)
			return 1
		}
		if *asJSON {
			writeJSON(stdout, res)
			return 0
		}
		fmt.Fprintf(stdout, "device %s (timeline %v)\n", res.Device, res.Timeline)
		fmt.Fprintf(stdout, "poll, %d pending, none due   %8.1f ns   (driver query alone %.1f ns, queue alone %.1f ns)\n", res.Pending, res.PollIdleNs, res.QueryNs, res.QueuePollIdleNs)
		fmt.Fprintf(stdout, "retire 10,000 due buffers     %8.3f ms   (vkDestroyBuffer alone %.3f ms; queue alone %.3f ms)\n",
			res.Retire10kMs, res.Destroy10kMs, res.QueueRetire10kMs)
		return 0
	}
	if what == "release" {
		res, err := benchRelease(stderr)
		if err != nil {
			fmt.Fprintf(stderr, "vkassets bench release: %v\n", err)
			return 1
		}
		if *asJSON {
			writeJSON(stdout, res)
			return 0
		}
		fmt.Fprintf(stdout, "ReleaseUnused, 1,000,000 cached assets  %10.1f ms\n", res.ReleaseUnused1MMs)
		fmt.Fprintf(stdout, "cycle check, 100,000-asset cycle        %10.2f ms\n", res.CycleCheck100kMs)
		fmt.Fprintf(stdout, "non-forced release of a leaf            %10.0f ns\n", res.ReleaseLeafNs)
		fmt.Fprintf(stdout, "ReleaseUnused, 1,000 of 1,000,000 unused %9.2f ms\n", res.ReleaseUnusedFewMs)
		return 0
	}
	res, err := benchAlloc(stderr, *ops, *seed, *runs, *peerDir)
	if err != nil {
		fmt.Fprintf(stderr, "vkassets bench alloc: %v\n", err)
		return 1
	}
	if *asJSON {
		writeJSON(stdout, res)
		return 0
	}
	printBench(stdout, res)
	return 0
}

// benchAlloc replays the allocator traces. With the peer module at hand
// (a checkout of the repository and a Go toolchain), it runs there, so that
// vkassets and arsenal are measured in one process; otherwise vkassets runs
// alone, here.
//
// With runs above 1 each result is the median of that many runs (see
// trace.Median).
func benchAlloc(progress io.Writer, ops int, seed uint64, runs int, peerDir string) (benchResults, error) {
	if peerDir != "" {
		if _, err := os.Stat(filepath.Join(peerDir, "go.mod")); err == nil {
			fmt.Fprintf(progress, "running the traces on vkassets and arsenal in %s ...\n", peerDir)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, "go", "run", ".", "--json", fmt.Sprintf("--ops=%d", ops), fmt.Sprintf("--seed=%d", seed), fmt.Sprintf("--runs=%d", runs))
			cmd.Dir = peerDir
			cmd.Stderr = progress
			out, err := cmd.Output()
			if err != nil {
				return benchResults{}, fmt.Errorf("peer benchmark in %s: %w", peerDir, err)
			}
			var res benchResults
			if err := json.Unmarshal(bytes.TrimSpace(out), &res); err != nil {
				return benchResults{}, fmt.Errorf("peer benchmark output: %w", err)
			}
			res.Peer = "arsenal memutils v1.1.3, same process (" + peerDir + ")"
			res.BestFitRefused = bestFitRefusals(progress, ops, seed)
			return res, nil
		}
	}
	res := benchResults{Peer: "none: the peer module " + peerDir + " was not found (run from the repository root)"}
	if peerDir == "" {
		res.Peer = "none: skipped (--peer \"\")"
	}
	for _, s := range trace.Specs {
		n := ops
		if n == 0 {
			n = s.DefaultOps
		}
		fmt.Fprintf(progress, "%s: %d operations, %d run(s) ...\n", s.Name, n, runs)
		tr := s.Generate(seed, n)
		rs := make([]trace.Result, runs)
		for i := range rs {
			rs[i] = trace.Run(s.Name, "vkassets", tr, trace.VKAssets(s.BlockSize))
		}
		res.Results = append(res.Results, trace.Median(rs))
	}
	if len(res.Results) == 0 {
		return res, errors.New("no traces")
	}
	res.BestFitRefused = bestFitRefusals(progress, ops, seed)
	return res, nil
}

// bestFitRefusals replays each trace but the adversarial one on the
// exhaustive best fit with the block's placement (trace.BestFitAsBlock) and
// counts its refusals.
func bestFitRefusals(progress io.Writer, ops int, seed uint64) map[string]int {
	out := map[string]int{}
	for _, s := range trace.Specs {
		if s.Name == "adversarial" {
			continue
		}
		n := ops
		if n == 0 {
			n = s.DefaultOps
		}
		fmt.Fprintf(progress, "%s: best fit ...\n", s.Name)
		r, err := trace.NewReplayer(s.Generate(seed, n))
		if err != nil {
			continue
		}
		out[s.Name], _, _ = r.Replay(trace.BestFitAsBlock(s.BlockSize)())
	}
	return out
}

func printBench(w io.Writer, res benchResults) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "trace\timpl\tops\tns/op\tp99.9 ns\tallocs/op\trefused\tbest fit refused\tutilization\t")
	for _, r := range res.Results {
		bf := "-"
		if n, ok := res.BestFitRefused[r.Trace]; ok {
			bf = fmt.Sprint(n)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%.1f\t%.0f\t%.4f\t%d\t%s\t%.3f\t\n", r.Trace, r.Impl, r.Ops, r.NsPerOp, r.P999Ns, r.AllocsPerOp, r.Failed, bf, r.Utilization)
	}
	tw.Flush()
	if len(res.BestFitRefused) > 0 {
		fmt.Fprintln(w, "best fit: exhaustive, with vkassets' placement (the aligned end of the smallest range that fits, trailing padding below 4 KiB carried)")
	}
	fmt.Fprintf(w, "peer: %s\n", res.Peer)
}

// benchAll runs the four benchmarks: {"alloc": …, "retire": …, "release": …,
// "residency": …} with --json.
func benchAll(stdout, stderr io.Writer, asJSON bool, ops int, seed uint64, runs int, peerDir string) int {
	al, err := benchAlloc(stderr, ops, seed, runs, peerDir)
	if err != nil {
		fmt.Fprintf(stderr, "vkassets bench alloc: %v\n", err)
		return 1
	}
	re, err := benchRetire(stderr)
	if err != nil {
		fmt.Fprintf(stderr, "vkassets bench retire: %v\n", err)
		return 1
	}
	rl, err := benchRelease(stderr)
	if err != nil {
		fmt.Fprintf(stderr, "vkassets bench release: %v\n", err)
		return 1
	}
	ro := residencyOptions{seed: seed, visits: 200, frames: 3, scenes: 12}
	rs, err := benchResidency(stderr, residencyLogger(stderr), ro)
	if err != nil {
		fmt.Fprintf(stderr, "vkassets bench residency: %v\n", err)
		return residencyExit(err, rs)
	}
	if asJSON {
		writeJSON(stdout, map[string]any{"alloc": al, "retire": re, "release": rl, "residency": rs})
		return 0
	}
	printBench(stdout, al)
	fmt.Fprintf(stdout, "\nretire: poll with %d pending, none due %.1f ns; 10,000 due buffers %.3f ms (vkDestroyBuffer alone %.3f ms)\n",
		re.Pending, re.PollIdleNs, re.Retire10kMs, re.Destroy10kMs)
	fmt.Fprintf(stdout, "release: ReleaseUnused over 1,000,000 %.1f ms; cycle check of 100,000 %.2f ms; a leaf %.0f ns; 1,000 unused of 1,000,000 %.2f ms\n",
		rl.ReleaseUnused1MMs, rl.CycleCheck100kMs, rl.ReleaseLeafNs, rl.ReleaseUnusedFewMs)
	fmt.Fprintln(stdout, "\nresidency:")
	printResidency(stdout, rs)
	return 0
}
