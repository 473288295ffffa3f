package trace

import (
	"fmt"
	"testing"
)

// refusalTargets are the live targets of the refusal comparison: the live
// count walks within [lo, hi] after filling to start.
var refusalTargets = []struct{ lo, hi, start int }{
	{RandomLiveMin, RandomLiveMax, RandomLiveStart},
	{1000, 2500, 1500},
	{1500, 3000, 2000},
}

func refusals(t testing.TB, ops []Op, impl Impl) int {
	r, err := NewReplayer(ops)
	if err != nil {
		t.Fatal(err)
	}
	failed, _, _ := r.Replay(impl)
	return failed
}

// TestRefusalsAgainstBestFit replays random traces of four seeds and three
// live targets, and the benchmark's own random trace, on the TLSF block and
// on exact best fits over the same block, and requires that the block
// refuse, on each trace, no more allocations than the exhaustive search
// with the block's own placement and padding (BestFitAsBlock). It logs
// each trace's figures, and best fit placing at the end with the padding
// filed as free (BestFitAtEnd) and at the front (BestFit) beside them.
func TestRefusalsAgainstBestFit(t *testing.T) {
	n := 300_000
	if testing.Short() || raceEnabled {
		n = 100_000
	}
	type tr struct {
		name string
		ops  []Op
	}
	var traces []tr
	for _, tg := range refusalTargets {
		for seed := uint64(1); seed <= 4; seed++ {
			traces = append(traces, tr{fmt.Sprintf("live %d-%d, seed %d", tg.lo, tg.hi, seed), RandomWith(seed, n, tg.lo, tg.hi, tg.start)})
		}
	}
	random := Specs[0]
	traces = append(traces, tr{fmt.Sprintf("bench random (%d ops, seed 1)", random.DefaultOps), random.Generate(1, random.DefaultOps)})
	var ours, block, atEnd, front int
	for _, tc := range traces {
		o := refusals(t, tc.ops, VKAssets(DefaultBlockSize)())
		b := refusals(t, tc.ops, BestFitAsBlock(DefaultBlockSize)())
		e := refusals(t, tc.ops, BestFitAtEnd(DefaultBlockSize)())
		f := refusals(t, tc.ops, BestFit(DefaultBlockSize)())
		t.Logf("%s: refused by vkassets %d, best fit as the block %d, (end, padding filed) %d, (front) %d", tc.name, o, b, e, f)
		if o > b {
			t.Errorf("%s: vkassets refused %d allocations, the exact best fit with the same placement and padding %d", tc.name, o, b)
		}
		ours, block, atEnd, front = ours+o, block+b, atEnd+e, front+f
	}
	t.Logf("in all: vkassets %d, best fit as the block %d, (end, padding filed) %d, (front) %d", ours, block, atEnd, front)
}

// TestBestFit checks the reference itself: it takes the smallest range that
// fits (a hole, not the larger tail), places at the range's aligned start
// (or end), files the padding left as free ranges or carries it below the
// limit, coalesces, and refuses what no range holds.
func TestBestFit(t *testing.T) {
	for _, tc := range []struct {
		atEnd  bool
		carry  uint64
		want   uint64 // where 250 bytes aligned to 64 go
		ranges int    // free ranges then
	}{{false, 0, 128, 3}, {true, 0, 640, 3}, {true, 64, 640, 2}} {
		b := newBestFit(1000, tc.atEnd, tc.carry)().(*bestFit)
		h1, _ := b.Alloc(100, 1) // front: [0,100); end: [900,1000)
		h2, _ := b.Alloc(300, 1) // [100,400); [600,900)
		h3, _ := b.Alloc(100, 1) // [400,500); [500,600)
		b.Free(h2)               // a 300-byte hole, and a 500-byte range
		h4, ok := b.Alloc(250, 64)
		if !ok || h4-1 != tc.want {
			t.Errorf("atEnd %v: 250 bytes at %d (ok %v), want %d", tc.atEnd, h4-1, ok, tc.want)
		}
		if len(b.byOff) != tc.ranges || len(b.bySize) != tc.ranges {
			t.Errorf("atEnd %v, carry %d: free ranges %+v, want %d", tc.atEnd, tc.carry, b.byOff, tc.ranges)
		}
		for _, h := range []uint64{h1, h3, h4} {
			b.Free(h)
		}
		if len(b.byOff) != 1 || b.byOff[0] != (freeRange{0, 1000}) || len(b.bySize) != 1 {
			t.Errorf("atEnd %v: not coalesced: %+v", tc.atEnd, b.byOff)
		}
		if _, ok := b.Alloc(1001, 1); ok {
			t.Errorf("atEnd %v: 1001 bytes in a 1000-byte block", tc.atEnd)
		}
	}
}
