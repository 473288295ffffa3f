package trace

import "testing"

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
// live targets on the TLSF block and on exact best fits over the same
// block, and requires that the block's bounded search refuse, over all of
// them, no more allocations than the exhaustive search with the block's
// own placement within a range (BestFitAtEnd). It logs each trace's
// figures, and best fit with front placement (BestFit) beside them.
func TestRefusalsAgainstBestFit(t *testing.T) {
	n := 300_000
	if testing.Short() || raceEnabled {
		n = 100_000
	}
	var ours, atEnd, front int
	for _, tg := range refusalTargets {
		for seed := uint64(1); seed <= 4; seed++ {
			ops := RandomWith(seed, n, tg.lo, tg.hi, tg.start)
			o := refusals(t, ops, VKAssets(DefaultBlockSize)())
			e := refusals(t, ops, BestFitAtEnd(DefaultBlockSize)())
			f := refusals(t, ops, BestFit(DefaultBlockSize)())
			t.Logf("live %d-%d, seed %d: refused by vkassets %d, best fit (end) %d, best fit (front) %d", tg.lo, tg.hi, seed, o, e, f)
			ours, atEnd, front = ours+o, atEnd+e, front+f
		}
	}
	t.Logf("in all: vkassets %d, best fit (end) %d, best fit (front) %d", ours, atEnd, front)
	if ours > atEnd {
		t.Errorf("vkassets refused %d allocations in all, the exact best fit with the same placement %d", ours, atEnd)
	}
}

// TestBestFit checks the reference itself: it takes the smallest range that
// fits (a hole, not the larger tail), places at the range's aligned start
// (or end), coalesces, and refuses what no range holds.
func TestBestFit(t *testing.T) {
	for _, tc := range []struct {
		atEnd bool
		want  uint64 // where 250 bytes aligned to 64 go
	}{{false, 128}, {true, 640}} {
		b := newBestFit(1000, tc.atEnd)().(*bestFit)
		h1, _ := b.Alloc(100, 1) // front: [0,100); end: [900,1000)
		h2, _ := b.Alloc(300, 1) // [100,400); [600,900)
		h3, _ := b.Alloc(100, 1) // [400,500); [500,600)
		b.Free(h2)               // a 300-byte hole, and a 500-byte range
		h4, ok := b.Alloc(250, 64)
		if !ok || h4-1 != tc.want {
			t.Errorf("atEnd %v: 250 bytes at %d (ok %v), want %d", tc.atEnd, h4-1, ok, tc.want)
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
