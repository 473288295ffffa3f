package assets_test

import (
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vkassets/vkassets/alloc"
	"github.com/vkassets/vkassets/assets"
	"github.com/vkassets/vkassets/framesync"
)

// Adversarial tests of the automatic defragmentation: claims, releases,
// closes and loads from other goroutines and timelines while passes move
// assets.

// rangeLive reports whether the allocator still holds a live range at
// al's memory and offset.
func rangeLive(a *alloc.Allocator, al alloc.Allocation) bool {
	for _, b := range a.Blocks() {
		if b.Memory != al.Memory {
			continue
		}
		for _, r := range b.Ranges {
			if r.Offset == al.Offset {
				return !r.Free
			}
		}
	}
	return false
}

// TestDefragBreakOtherTimelineUse: an app that submits on a timeline of
// its own claims the scene's textures and buffers there (UseAt), then a
// pass moves them. The old objects and their memory must wait for that
// timeline too, not only for the copy and the frame timeline: while the
// app's timeline is short of its claim, the pass may not end (the sources
// stay allocated, Handles().Memory stays zero).
func TestDefragBreakOtherTimelineUse(t *testing.T) {
	e := openDefragEnv(t, 2)
	rng := rand.New(rand.NewPCG(11, 11))
	sc := fragment(t, e, rng, 160)
	sem, err := e.d.CreateTimelineSemaphore(0)
	require.NoError(t, err)
	t.Cleanup(func() { e.d.DestroySemaphore(sem) })
	tl, err := e.s.AddTimeline("compute", sem)
	require.NoError(t, err)

	type claimed struct {
		a   assets.Asset
		old alloc.Allocation
		gen uint64
	}
	handles := func(a assets.Asset) (alloc.Allocation, uint64) {
		switch x := a.(type) {
		case *assets.Texture2D:
			h := x.Handles()
			return h.Memory, h.Generation
		case *assets.Buffer:
			h := x.Handles()
			return h.Memory, h.Generation
		}
		panic("kind")
	}
	var all []claimed
	for _, a := range append([]assets.Asset{sc.cube.Vertices, sc.cube.Indices}, assetsOf(sc.texs)...) {
		require.NoError(t, e.m.UseAt(tl.At(100), a))
		mem, gen := handles(a)
		all = append(all, claimed{a: a, old: mem, gen: gen})
	}
	require.NoError(t, e.s.Flush(t.Context()))
	require.NoError(t, e.m.SetDefrag(assets.DefragPolicy{MaxMovesPerFrame: 256, RestartAfterFrames: 1}))
	var moved []claimed
	for i := 0; i < 20 && len(moved) == 0; i++ {
		_, err := e.m.DefragFrame() // outside any frame: the copies go at once
		require.NoError(t, err)
		require.NoError(t, e.s.Flush(t.Context()))
		for _, c := range all {
			if _, gen := handles(c.a); gen != c.gen {
				moved = append(moved, c)
			}
		}
	}
	require.NotEmpty(t, moved, "a claimed asset moved")
	t.Logf("%+v", e.m.DefragStats())
	// The copy and every frame are done; the app's timeline is at 0.
	require.NoError(t, e.s.Flush(t.Context()))
	_, err = e.s.Poll()
	require.NoError(t, err)
	for _, c := range moved {
		mem, _ := handles(c.a)
		require.True(t, mem.IsZero(), "%v: its pass ended while %v is short of its claim", c.a, tl)
		require.True(t, rangeLive(e.a, c.old), "%v: its old memory was freed while %v is short of its claim", c.a, tl)
	}
	// The app's timeline passes the claim: the pass ends.
	require.NoError(t, e.d.SignalSemaphore(sem, 100))
	c := moved[0]
	for i := 0; i < 5000; i++ {
		if mem, _ := handles(c.a); !mem.IsZero() {
			break
		}
		_, err = e.s.Poll()
		require.NoError(t, err)
		runtime.Gosched()
		time.Sleep(time.Millisecond)
	}
	mem, _ := handles(c.a)
	require.False(t, mem.IsZero(), "%v: the pass did not end once %v passed the claim", c.a, tl)
	require.NoError(t, e.m.SetDefrag(assets.DefragPolicy{}))
	e.close(t)
}

func assetsOf[T assets.Asset](xs []T) []assets.Asset {
	out := make([]assets.Asset, len(xs))
	for i, x := range xs {
		out[i] = x
	}
	return out
}

var _ framesync.Serial
