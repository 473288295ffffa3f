package trace

import "testing"

// refusalTraces are the random traces of the refusal comparison: several
// seeds and live targets (the live count walks within [lo, hi]).
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

// TestRefusalsNoWorseThanBestFit: on random traces of several seeds and
// live targets, the TLSF block refuses no more allocations than an exact
// best fit over the same block.
func TestRefusalsNoWorseThanBestFit(t *testing.T) {
	n := 300_000
	if testing.Short() {
		n = 100_000
	}
	var ours, best int
	for _, tg := range refusalTargets {
		for seed := uint64(1); seed <= 4; seed++ {
			ops := RandomWith(seed, n, tg.lo, tg.hi, tg.start)
			o := refusals(t, ops, VKAssets(DefaultBlockSize)())
			b := refusals(t, ops, BestFit(DefaultBlockSize)())
			t.Logf("live %d-%d seed %d: vkassets %d refusals, best fit %d", tg.lo, tg.hi, seed, o, b)
			if o > b {
				t.Errorf("live %d-%d seed %d: vkassets refused %d allocations, best fit %d", tg.lo, tg.hi, seed, o, b)
			}
			ours += o
			best += b
		}
	}
	t.Logf("in all: vkassets %d, best fit %d", ours, best)
}
