package virtual_test

import (
	"fmt"
	"testing"

	"github.com/vkassets/vkassets/alloc/trace"
	"github.com/vkassets/vkassets/alloc/virtual"
)

// lockstep replays ops on a TLSF block and on the exact best fit with the
// same placement and padding (trace.BestFitAsBlock) side by side, and reports the first
// operation where they part: an allocation placed elsewhere, or refused by
// one only. It returns the refusals and the block's cuts.
func lockstep(ops []trace.Op) (refused int, cuts uint64, err error) {
	slots := 0
	for _, o := range ops {
		slots = max(slots, o.Slot+1)
	}
	blk, err := virtual.New(virtual.Options{Size: trace.DefaultBlockSize})
	if err != nil {
		return 0, 0, err
	}
	ref := trace.BestFitAsBlock(trace.DefaultBlockSize)()
	ours := make([]virtual.Allocation, slots)
	theirs := make([]uint64, slots)
	for k, o := range ops {
		if o.Free {
			if !ours[o.Slot].IsZero() {
				if err := blk.Free(ours[o.Slot]); err != nil {
					return 0, 0, fmt.Errorf("op %d: %w", k, err)
				}
				ref.Free(theirs[o.Slot])
				ours[o.Slot] = virtual.Allocation{}
			}
			continue
		}
		a, err := blk.Allocate(o.Size, o.Align, virtual.KindAny)
		h, ok := ref.Alloc(o.Size, o.Align)
		switch {
		case (err == nil) != ok:
			return 0, 0, fmt.Errorf("op %d: %d bytes aligned to %d: block %v, best fit ok %v (cuts %d)", k, o.Size, o.Align, err, ok, virtual.Cuts(blk))
		case ok && a.Offset != h-1: // (the best fit's handle is its offset + 1)
			return 0, 0, fmt.Errorf("op %d: %d bytes aligned to %d: block at %d, best fit at %d (cuts %d)", k, o.Size, o.Align, a.Offset, h-1, virtual.Cuts(blk))
		case ok:
			ours[o.Slot], theirs[o.Slot] = a, h
		default:
			refused++
		}
	}
	return refused, virtual.Cuts(blk), nil
}

// TestExactBestFit replays the random traces of the refusal comparison
// (trace.RandomWith, four seeds, three live targets) and the benchmark's own
// random trace on a block and on the exact best fit with the block's
// placement and padding in lockstep: every allocation must go where the
// best fit puts it, and be refused where it refuses. It logs how often the
// search's bound cut in (a jump past maxMisses candidates), where the two
// may part.
func TestExactBestFit(t *testing.T) {
	if virtual.SplitPad != trace.BlockPadding {
		t.Fatalf("the block carries padding below %d bytes, trace.BestFitAsBlock below %d", virtual.SplitPad, trace.BlockPadding)
	}
	n := 300_000
	if testing.Short() {
		n = 100_000
	}
	type tr struct {
		name string
		ops  []trace.Op
	}
	var traces []tr
	for _, tg := range []struct{ lo, hi, start int }{
		{trace.RandomLiveMin, trace.RandomLiveMax, trace.RandomLiveStart},
		{1000, 2500, 1500},
		{1500, 3000, 2000},
	} {
		for seed := uint64(1); seed <= 4; seed++ {
			traces = append(traces, tr{fmt.Sprintf("live %d-%d, seed %d", tg.lo, tg.hi, seed), trace.RandomWith(seed, n, tg.lo, tg.hi, tg.start)})
		}
	}
	random := trace.Specs[0]
	traces = append(traces, tr{"bench random", random.Generate(1, random.DefaultOps)})
	for _, tc := range traces {
		refused, cuts, err := lockstep(tc.ops)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		t.Logf("%s: %d refused by both, %d cuts", tc.name, refused, cuts)
	}
}
