// Command peer replays the alloc/trace traces on vkassets'
// virtual.Block and on arsenal's memutils TLSF (a Go port of VMA's
// TLSF) with the same operations, and prints a table or, with --json,
// {"results":[...]} for docs/benchmarks.md.
//
//	go run . [--ops N] [--seed S] [--runs R] [--trace random,adversarial,gpumix] [--json]
//
// With --runs R, each impl replays each trace R times, the impls taking
// turns (vkassets first on odd runs, arsenal first on even ones), and each
// row is the run with the median ns/op: on a noisy machine one run of each
// can put the ratio anywhere in a ±25% band.
//
// It is its own module (bench/peer) so that the root module does not
// depend on arsenal.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/vkassets/vkassets/alloc/trace"
)

// impl is one allocator under comparison.
type impl struct {
	name string
	new  func(size uint64) func() trace.Impl
}

var impls = []impl{
	{"vkassets", trace.VKAssets},
	{"arsenal", Arsenal},
}

func main() {
	ops := flag.Int("ops", 0, "operations per trace (0: each trace's default: random 2,000,000, adversarial 1,000,000, gpumix 300,000)")
	seed := flag.Uint64("seed", 1, "trace seed")
	traces := flag.String("trace", "", "comma-separated traces to run (default: all)")
	runs := flag.Int("runs", 1, "measured runs of each impl on each trace; the median run is reported")
	asJSON := flag.Bool("json", false, `print {"results":[...]} instead of a table`)
	flag.Parse()

	specs, err := selectSpecs(*traces)
	if err != nil {
		fmt.Fprintln(os.Stderr, "peer:", err)
		os.Exit(2)
	}
	if *runs < 1 {
		fmt.Fprintln(os.Stderr, "peer: --runs must be at least 1")
		os.Exit(2)
	}
	if *ops < 0 {
		fmt.Fprintln(os.Stderr, "peer: --ops must not be negative")
		os.Exit(2)
	}

	var results []trace.Result
	for _, s := range specs {
		n := s.DefaultOps
		if *ops > 0 {
			n = *ops
		}
		fmt.Fprintf(os.Stderr, "peer: %s: %d ops, seed %d, block %d MiB, %d run(s)\n", s.Name, n, *seed, s.BlockSize>>20, *runs)
		results = append(results, runSpec(s, *seed, n, *runs)...)
	}

	if *asJSON {
		err = writeJSON(os.Stdout, results)
	} else {
		err = writeTable(os.Stdout, results)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "peer:", err)
		os.Exit(1)
	}
}

func selectSpecs(list string) ([]trace.Spec, error) {
	if list == "" {
		return trace.Specs, nil
	}
	var out []trace.Spec
	for name := range strings.SplitSeq(list, ",") {
		i := slices.IndexFunc(trace.Specs, func(s trace.Spec) bool { return s.Name == name })
		if i < 0 {
			return nil, fmt.Errorf("unknown trace %q", name)
		}
		out = append(out, trace.Specs[i])
	}
	return out, nil
}

// runSpec generates one trace and runs every impl on the same ops, runs
// times, the impls taking turns; each impl's result is its run with the
// median ns/op (the lower of the two middle ones for an even count).
func runSpec(s trace.Spec, seed uint64, n, runs int) []trace.Result {
	ops := s.Generate(seed, n)
	all := make([][]trace.Result, len(impls))
	for r := range runs {
		for k := range impls {
			if r%2 == 1 {
				k = len(impls) - 1 - k // the other order, so that neither always goes first
			}
			im := impls[k]
			all[k] = append(all[k], trace.Run(s.Name, im.name, ops, im.new(s.BlockSize)))
		}
	}
	out := make([]trace.Result, 0, len(impls))
	for _, rs := range all {
		out = append(out, trace.Median(rs))
	}
	return out
}

func writeJSON(w io.Writer, results []trace.Result) error {
	if results == nil {
		results = []trace.Result{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		Results []trace.Result `json:"results"`
	}{results})
}

func writeTable(w io.Writer, results []trace.Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "trace\timpl\tops\tns/op\tp99.9 ns\tmax ns\tallocs/op\tfailed\tutil\t")
	for i, r := range results {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%.1f\t%.0f\t%.0f\t%.4f\t%d\t%.3f\t\n",
			r.Trace, r.Impl, r.Ops, r.NsPerOp, r.P999Ns, r.MaxNs, r.AllocsPerOp, r.Failed, r.Utilization)
		if i+1 == len(results) || results[i+1].Trace != r.Trace {
			if v, a, ok := pair(results, r.Trace); ok {
				fmt.Fprintf(tw, "%s\tvkassets/arsenal\t\t%s\t%s\t%s\t\t\t\t\n",
					r.Trace, ratio(v.NsPerOp, a.NsPerOp), ratio(v.P999Ns, a.P999Ns), ratio(v.MaxNs, a.MaxNs))
			}
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintln(w, "\nns/op: wall time of the measured pass; p99.9 and max: per op, each including a clock read (~20-40 ns).")
	return err
}

// pair finds the vkassets and arsenal results of a trace.
func pair(results []trace.Result, name string) (v, a trace.Result, ok bool) {
	var hv, ha bool
	for _, r := range results {
		if r.Trace != name {
			continue
		}
		switch r.Impl {
		case "vkassets":
			v, hv = r, true
		case "arsenal":
			a, ha = r, true
		}
	}
	return v, a, hv && ha
}

func ratio(x, y float64) string {
	if y == 0 {
		return "-"
	}
	return fmt.Sprintf("%.3gx", x/y)
}
