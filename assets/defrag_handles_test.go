package assets_test

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vkassets/vkassets/alloc"
	"github.com/vkassets/vkassets/assets"
	"github.com/vkassets/vkassets/framesync"
)

// handlesOf are a moved asset's Memory and Generation, read through
// Handles.
func handlesOf(a assets.Asset) (alloc.Allocation, uint64) {
	switch x := a.(type) {
	case *assets.Texture2D:
		h := x.Handles()
		return h.Memory, h.Generation
	case *assets.Buffer:
		h := x.Handles()
		return h.Memory, h.Generation
	}
	panic("not a texture or buffer")
}

// TestDefragHandlesMemoryWhileMoving: from a move's swap until its pass
// ends, Handles().Memory says where the new objects are bound (Memory,
// Offset, Size, MemoryType: exactly what the allocation committed at the
// pass's end says), not zero; the allocator refuses that value until then
// and changes nothing. The pass cannot end before the test looks: its
// copies travel with the frame being recorded.
func TestDefragHandlesMemoryWhileMoving(t *testing.T) {
	e := openDefragEnv(t, 2)
	ctx := context.Background()
	sc := fragment(t, e, rand.New(rand.NewPCG(3, 3)), 160)
	for _, a := range sc.junk {
		drop(e.m, a)
	}
	require.NoError(t, e.s.WaitIdle())
	movable := []assets.Asset{sc.cube.Vertices, sc.cube.Indices}
	for _, tex := range sc.texs {
		movable = append(movable, tex)
	}
	before := make([]alloc.Allocation, len(movable))
	gens := make([]uint64, len(movable))
	for i, a := range movable {
		before[i], gens[i] = handlesOf(a)
	}
	require.NoError(t, e.m.SetDefrag(assets.DefragPolicy{MaxBytesPerFrame: 1 << 20, Algorithm: alloc.DefragFull}))

	// The first DefragFrame starts the planner; the frame in which a later
	// one records the planned pass stays open while the test looks.
	var f *framesync.Frame
	var pass assets.DefragPass
	deadline := time.Now().Add(time.Minute)
	for {
		var err error
		f, err = e.s.BeginFrame(ctx)
		require.NoError(t, err)
		frames := e.m.DefragStats().Frames
		pass, err = e.m.DefragFrame()
		require.NoError(t, err)
		if e.m.DefragStats().Frames > frames {
			break
		}
		require.NoError(t, e.s.EndFrame(f))
		require.True(t, time.Now().Before(deadline), "no pass recorded within a minute")
		time.Sleep(time.Millisecond) // the planner runs
	}
	require.Positive(t, pass.Moved)
	type pending struct {
		a   assets.Asset
		mem alloc.Allocation
		gen uint64
	}
	var moved []pending
	for i, a := range movable {
		mem, gen := handlesOf(a)
		if gen == gens[i] {
			continue
		}
		require.False(t, mem.IsZero(), "%v: Handles().Memory after the swap", a)
		require.NotEqual(t, [2]uint64{uint64(before[i].Memory), before[i].Offset}, [2]uint64{uint64(mem.Memory), mem.Offset}, "%v: a new place", a)
		require.Equal(t, before[i].Size, mem.Size, "%v", a)
		require.Equal(t, before[i].MemoryType, mem.MemoryType, "%v", a)
		_, known := e.a.UserData(mem)
		require.False(t, known, "%v: the allocator knows the destination only once the pass ends", a)
		require.ErrorIs(t, e.a.Free(mem), alloc.ErrInvalidFree, "%v", a)
		moved = append(moved, pending{a: a, mem: mem, gen: gen})
	}
	require.NotEmpty(t, moved, "drawn assets moved")
	require.NoError(t, e.s.EndFrame(f))

	// Once the pass has ended, the committed allocation is at the same
	// place, and it is the asset's.
	require.NoError(t, e.s.Wait(ctx, f.Serial()))
	for _, p := range moved {
		deadline := time.Now().Add(10 * time.Second)
		var mem alloc.Allocation
		var gen uint64
		for {
			_, _ = e.s.Poll()
			mem, gen = handlesOf(p.a)
			if ud, ok := e.a.UserData(mem); ok {
				require.Equal(t, p.a, ud, "%v: the committed allocation is the asset's", p.a)
				break
			}
			require.True(t, time.Now().Before(deadline), "%v: the pass did not end", p.a)
			time.Sleep(time.Millisecond)
		}
		require.Equal(t, p.gen, gen, "%v: no other move", p.a)
		require.Equal(t, p.mem.Memory, mem.Memory, "%v", p.a)
		require.Equal(t, p.mem.Offset, mem.Offset, "%v", p.a)
		require.Equal(t, p.mem.Size, mem.Size, "%v", p.a)
		require.Equal(t, p.mem.MemoryType, mem.MemoryType, "%v", p.a)
	}
	t.Logf("%d of %d drawn assets moved; %+v", len(moved), len(movable), pass)
	e.close(t)
}
