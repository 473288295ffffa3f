package assets_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vkassets/vkassets/assets"
	"github.com/vkassets/vkassets/framesync"
	"github.com/vkassets/vkassets/vk"
)

// TestUseAtAppTimelines: an app that submits on its own timelines claims
// assets at their points from several goroutines while a forced release
// races the claims. Every claim that succeeded is in the released
// texture's LastUses, and its GPU objects wait until both timelines have
// passed their last use: not destroyed while either is short of it.
func TestUseAtAppTimelines(t *testing.T) {
	e := open(t, assets.Options{})
	ctx := context.Background()
	var lines [2]framesync.Timeline
	var sems [2]vk.Semaphore
	var signalled [2]uint64
	for i := range lines {
		var err error
		sems[i], err = e.dev.CreateTimelineSemaphore(0)
		require.NoError(t, err)
		t.Cleanup(func() { e.dev.DestroySemaphore(sems[i]) })
		lines[i], err = e.sync.AddTimeline([]string{"graphics", "compute"}[i], sems[i])
		require.NoError(t, err)
	}
	for round := range 10 {
		s, err := e.b.LoadSpriteFrame(ctx, "icons/star.png")
		require.NoError(t, err)
		tex := s.Texture()
		var claimed [2]atomic.Uint64
		// This round's points are above every value signalled so far: the
		// claims of a round can run far (a millisecond of claims without
		// the race detector is hundreds of thousands), and a round whose
		// points a timeline had already passed would find its texture
		// rightly destroyed at once.
		base := max(signalled[0], signalled[1]) + 1
		for i, tl := range lines { // one claim on each that surely lands
			v := base
			require.NoError(t, e.m.UseAt(tl.At(v), s))
			claimed[i].Store(v)
		}
		var wg sync.WaitGroup
		start := make(chan struct{})
		for g := range 4 {
			wg.Go(func() {
				<-start
				tl := lines[g%2]
				for i := uint64(1); ; i++ {
					v := base + i*4 + uint64(g)
					if err := e.m.UseAt(tl.At(v), s); err != nil {
						require.ErrorIs(t, err, assets.ErrReleased)
						return
					}
					c := &claimed[g%2]
					for old := c.Load(); v > old && !c.CompareAndSwap(old, v); old = c.Load() {
					}
				}
			})
		}
		close(start)
		time.Sleep(time.Millisecond)
		_, err = e.m.Release(s, true)
		require.NoError(t, err)
		wg.Wait()
		for _, tl := range lines { // no claim lands after the release, on any timeline
			require.ErrorIs(t, e.m.UseAt(tl.At(1<<62), tex), assets.ErrReleased)
		}
		u := assets.BaseOf(tex).LastUses()
		for i, tl := range lines {
			require.GreaterOrEqual(t, u[tl.Index()], claimed[i].Load(), "round %d: a claim on %v is missing from LastUses", round, tl)
		}
		require.NoError(t, e.sync.Flush(ctx)) // the upload's serial
		live := e.liveAllocations()
		// One timeline passes its last use, then the other.
		for i, tl := range lines {
			_, err := e.sync.Poll()
			require.NoError(t, err)
			require.Equal(t, assets.Retiring, tex.State(), "round %d: destroyed before %v passed %d", round, tl, u[tl.Index()])
			require.Equal(t, live, e.liveAllocations(), "round %d: memory freed before %v passed %d", round, tl, u[tl.Index()])
			signalled[i] = max(u[tl.Index()], signalled[i]+1)
			require.NoError(t, e.dev.SignalSemaphore(sems[i], signalled[i]))
		}
		_, err = e.sync.Poll()
		require.NoError(t, err)
		require.Equal(t, assets.Destroyed, tex.State(), "round %d: both timelines passed, the texture is still %v", round, tex.State())
		require.Less(t, e.liveAllocations(), live, "round %d: the texture's memory outlived both timelines", round)
	}
}

// TestUseAtRefusals: a point on a timeline the Manager's Sync did not
// register, or removed, or too large to pack, is refused and claims
// nothing.
func TestUseAtRefusals(t *testing.T) {
	e := open(t, assets.Options{})
	s, err := e.b.LoadSpriteFrame(context.Background(), "hero.png")
	require.NoError(t, err)
	sem, err := e.dev.CreateTimelineSemaphore(0)
	require.NoError(t, err)
	defer e.dev.DestroySemaphore(sem)
	other, err := framesync.New(framesync.Options{Device: e.dev})
	require.NoError(t, err)
	defer other.Close()
	foreign, err := other.AddTimeline("compute", sem)
	require.NoError(t, err)
	tl, err := e.sync.AddTimeline("compute", sem)
	require.NoError(t, err)

	require.ErrorIs(t, e.m.UseAt(foreign.At(5), s), framesync.ErrUnknownTimeline)
	require.ErrorIs(t, e.m.UseAt(framesync.Timeline{}.At(5), s), framesync.ErrUnknownTimeline)
	require.ErrorContains(t, e.m.UseAt(tl.At(1<<63), s), "value too large")
	require.Equal(t, framesync.Use{}, framesync.Use{1: assets.BaseOf(s.Texture()).LastUses()[1]}, "a refused claim marked nothing")
	require.NoError(t, e.m.UseAt(tl.At(7), s))
	require.EqualValues(t, 7, assets.BaseOf(s.Texture()).LastUses()[tl.Index()])
	require.NoError(t, e.dev.SignalSemaphore(sem, 7))
	require.NoError(t, e.sync.RemoveTimeline(tl))
	require.ErrorIs(t, e.m.UseAt(tl.At(8), s), framesync.ErrTimelineRemoved)
}
