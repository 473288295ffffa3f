package alloc_test

import (
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkassets/vkassets/alloc"
	"github.com/vkassets/vkassets/alloc/simdev"
	"github.com/vkassets/vkassets/vk"
)

// Adversarial tests of the defragmentation API: what other goroutines do
// to a pass's sources and to the allocator while the pass is open.

// fragmentRaw makes n raw host-visible allocations (not mapped) and frees
// a random half; it returns the rest.
func fragmentRaw(t *testing.T, a *alloc.Allocator, n int, seed uint64) []alloc.Allocation {
	r := rand.New(rand.NewPCG(seed, 5))
	var als []alloc.Allocation
	for i := range n {
		al, err := a.Allocate(vk.MemoryRequirements{Size: uint64(256 + r.IntN(64<<10)), Alignment: 256, TypeBits: ^uint32(0)},
			alloc.AllocationOptions{Usage: alloc.UsageUpload, Kind: alloc.KindLinear, UserData: i})
		require.NoError(t, err)
		als = append(als, al)
	}
	r.Shuffle(len(als), func(i, j int) { als[i], als[j] = als[j], als[i] })
	for _, al := range als[n/2:] {
		require.NoError(t, a.Free(al))
	}
	return als[:n/2]
}

// allMapRefs is the mapping references of every block, and the blocks mapped.
func allMapRefs(a *alloc.Allocator) (refs, mapped int) {
	for _, b := range a.Blocks() {
		refs += b.MapRefCount
		if b.Mapped {
			mapped++
		}
	}
	return refs, mapped
}

// TestDefragBreakMapDuringPass: another goroutine maps (Map) a source of
// the open pass after it was planned — the planner leaves mapped
// allocations alone, but this one was not mapped yet. The application
// carries the move out (MoveCopy). The mapping must follow the allocation:
// Unmap of its new value undoes it, an unrelated mapping of the
// destination block is not undone by it, and once every Map is undone no
// block stays mapped.
func TestDefragBreakMapDuringPass(t *testing.T) {
	d, err := simdev.Load("1080 Ti")
	require.NoError(t, err)
	a, err := alloc.New(alloc.Options{Device: d, PreferredBlockSize: 4 << 20})
	require.NoError(t, err)
	live := fragmentRaw(t, a, 400, 21)
	require.Zero(t, first(allMapRefs(a)))

	dfr, err := a.BeginDefragmentation(alloc.DefragOptions{})
	require.NoError(t, err)
	moves, err := dfr.BeginPass()
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(moves), 2)
	x := moves[0].Src
	var wg sync.WaitGroup
	wg.Go(func() { // the mapping, from elsewhere, during the pass
		p, err := a.Map(x)
		if err != nil {
			t.Errorf("map: %v", err)
			return
		}
		p[0] = 1
	})
	wg.Wait()
	require.NoError(t, dfr.EndPass()) // every move MoveCopy
	dst := moves[0].Dst
	require.False(t, dst.IsZero(), "the application's move took place")
	for i := range live {
		for _, m := range moves {
			if sameRange(live[i], m.Src) && !m.Dst.IsZero() {
				live[i] = m.Dst
			}
		}
	}
	// An unrelated allocation of the destination block, mapped.
	var y alloc.Allocation
	for _, al := range live {
		if al.Memory == dst.Memory && !sameRange(al, dst) {
			y = al
			break
		}
	}
	require.False(t, y.IsZero(), "another allocation lives in the destination block")
	_, err = a.Map(y)
	require.NoError(t, err)

	// The Map of x is undone through its new value.
	require.NoError(t, a.Unmap(dst), "Unmap of the moved allocation undoes the Map made during the pass")
	for _, b := range a.Blocks() {
		if b.Memory == dst.Memory {
			require.True(t, b.Mapped, "the destination block was unmapped under another allocation's mapping")
			require.Equal(t, 1, b.MapRefCount, "the destination block's mappings: y's")
		}
	}
	require.NoError(t, a.Unmap(y))
	refs, mapped := allMapRefs(a)
	require.Zero(t, refs, "every Map undone: no mapping reference left")
	require.Zero(t, mapped, "every Map undone: no block mapped")
	require.ErrorIs(t, a.Unmap(dst), alloc.ErrNotMapped, "a second Unmap")
	dfr.End()
	for _, al := range live {
		require.NoError(t, a.Free(al))
	}
	require.NoError(t, a.Close())
	require.Zero(t, a.DeviceAllocations())
	require.Empty(t, d.Violations())
}

func first[T any](v T, _ ...any) T { return v }

func sameRange(x, y alloc.Allocation) bool { return x.Memory == y.Memory && x.Offset == y.Offset }
