package alloc_test

import (
	"testing"

	"github.com/vkassets/vkassets/alloc"
	"github.com/vkassets/vkassets/alloc/simdev"
	"github.com/vkassets/vkassets/alloc/trace"
	"github.com/vkassets/vkassets/vk"
)

// gpuMixDefrag replays the gpumix trace through the allocator on the
// simulated 1080 Ti, as BenchmarkGPUMix does, then defragments the state
// it ends in.
type gpuMixDefrag struct {
	before, after float64 // live/reserved
	calls         int     // vkAllocateMemory calls, replay and defragmentation
	stats         alloc.DefragStats
}

func runGPUMixDefrag(tb testing.TB, ops []trace.Op, o alloc.DefragOptions) gpuMixDefrag {
	d, _ := simdev.LoadWith("1080 Ti", simdev.Options{Unchecked: true})
	a, _ := alloc.New(alloc.Options{Device: d})
	defer a.Close()
	slots := map[int]alloc.Allocation{}
	var live uint64
	for _, o := range ops {
		if o.Free {
			if al, ok := slots[o.Slot]; ok {
				live -= al.Size
				if err := a.Free(al); err != nil {
					tb.Fatal(err)
				}
				delete(slots, o.Slot)
			}
			continue
		}
		kind := alloc.KindLinear
		if o.Align == trace.GPUMixImageAlign {
			kind = alloc.KindOptimal
		}
		al, err := a.Allocate(vk.MemoryRequirements{Size: o.Size, Alignment: o.Align, TypeBits: 1 << 7},
			alloc.AllocationOptions{Kind: kind, UserData: o.Slot})
		if err == nil {
			slots[o.Slot] = al
			live += al.Size
		}
	}
	var r gpuMixDefrag
	r.before = float64(live) / float64(a.Stats().Total.BlockBytes)
	st, err := a.Defragment(o, func(from, to alloc.Allocation) {
		ud, _ := a.UserData(to)
		slot := ud.(int)
		if slots[slot].Memory != from.Memory || slots[slot].Offset != from.Offset {
			tb.Fatalf("slot %d moved from %v+%d, held at %v+%d", slot, from.Memory, from.Offset, slots[slot].Memory, slots[slot].Offset)
		}
		to.Size = slots[slot].Size
		slots[slot] = to
	})
	if err != nil {
		tb.Fatal(err)
	}
	r.stats = st
	s := a.Stats()
	r.after = float64(live) / float64(s.Total.BlockBytes)
	r.calls = s.AllocateCalls
	for slot, al := range slots {
		if err := a.Free(al); err != nil {
			tb.Fatalf("slot %d after the defragmentation: %v", slot, err)
		}
	}
	return r
}

// BenchmarkGPUMixDefrag reports live/reserved before and after an
// allocator-level defragmentation of the gpumix trace's end state.
func BenchmarkGPUMixDefrag(b *testing.B) {
	ops := trace.GPUMix(1, 300_000)
	for _, algo := range []alloc.DefragAlgorithm{alloc.DefragFast, alloc.DefragFull} {
		b.Run(algo.String(), func(b *testing.B) {
			var r gpuMixDefrag
			for b.Loop() {
				r = runGPUMixDefrag(b, ops, alloc.DefragOptions{Algorithm: algo})
			}
			b.ReportMetric(r.before, "live/reserved-before")
			b.ReportMetric(r.after, "live/reserved-after")
			b.ReportMetric(float64(r.calls), "vkAllocateMemory")
			b.ReportMetric(float64(r.stats.BlocksFreed), "blocks-freed")
			b.ReportMetric(float64(r.stats.BytesMoved)/(1<<20), "MiB-moved")
			b.ReportMetric(float64(r.stats.AllocationsMoved), "moves")
			b.ReportMetric(float64(r.stats.Passes), "passes")
			b.ReportMetric(float64(r.stats.Planning.Microseconds()), "planning-µs")
		})
	}
}

// TestGPUMixDefragCriterion is the figure as a test (not a timed
// one): after an allocator-level defragmentation, the gpumix trace's end
// state has live/reserved ≥ 0.90 (0.82 before), with at most 16
// vkAllocateMemory calls in all, and the defragmentation freed blocks.
func TestGPUMixDefragCriterion(t *testing.T) {
	ops := trace.GPUMix(1, 300_000)
	for _, algo := range []alloc.DefragAlgorithm{alloc.DefragFast, alloc.DefragFull} {
		r := runGPUMixDefrag(t, ops, alloc.DefragOptions{Algorithm: algo})
		t.Logf("%v: live/reserved %.3f -> %.3f, %d vkAllocateMemory, %+v", algo, r.before, r.after, r.calls, r.stats)
		if r.after < 0.90 || r.calls > 16 || r.stats.BlocksFreed == 0 {
			t.Errorf("%v: live/reserved %.3f after (want ≥ 0.90), %d vkAllocateMemory calls (want ≤ 16), %d blocks freed",
				algo, r.after, r.calls, r.stats.BlocksFreed)
		}
	}
}
