package assets_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vkassets/vkassets/assets"
	"github.com/vkassets/vkassets/vk/vktest"
)

// TestForeignAssetsRefused: two managers share a device, an allocator and
// a Sync. Every method of one that takes an asset refuses the other's
// (ErrForeign) and changes nothing: the asset's counts, lock and state
// are its own manager's, guarded by that manager's lock. Before the
// refusal, A.Release of B's texture panicked in A's graph walk (index out
// of range), and the counts were written under the wrong lock.
func TestForeignAssetsRefused(t *testing.T) {
	e := open(t, assets.Options{Logger: vktest.Logger(t)})
	mb, err := assets.New(assets.Options{Device: e.dev, Allocator: e.alloc, Sync: e.sync, Logger: vktest.Logger(t)})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, mb.Close()) })
	bb, err := mb.AddBundle("content", content)
	require.NoError(t, err)
	ctx := context.Background()
	theirs, err := bb.LoadSpriteFrame(ctx, "hero.png")
	require.NoError(t, err)
	mine, err := e.b.LoadSpriteFrame(ctx, "hero.png")
	require.NoError(t, err)
	sem, err := e.dev.CreateTimelineSemaphore(0)
	require.NoError(t, err)
	t.Cleanup(func() { e.dev.DestroySemaphore(sem) })
	tl, err := e.sync.AddTimeline("compute", sem)
	require.NoError(t, err)

	for _, a := range []assets.Asset{theirs, theirs.Texture()} {
		before := assets.BaseOf(a).RefCount()
		_, err := e.m.Release(a, true)
		require.ErrorIs(t, err, assets.ErrForeign)
		require.ErrorIs(t, e.m.AddRef(a), assets.ErrForeign)
		require.ErrorIs(t, e.m.DecRef(a), assets.ErrForeign)
		require.ErrorIs(t, e.m.Lock(a), assets.ErrForeign)
		require.False(t, e.m.IsLocked(a))
		e.m.Unlock(a)
		unpin, err := e.m.Pin(a)
		require.ErrorIs(t, err, assets.ErrForeign)
		require.Nil(t, unpin)
		require.ErrorIs(t, e.m.UseAt(tl.At(1), a), assets.ErrForeign)
		require.Equal(t, assets.Ready, assets.BaseOf(a).State(), "%v", a)
		require.Equal(t, before, assets.BaseOf(a).RefCount(), "%v", a)
	}
	// A locked asset of B stays locked when A is asked to unlock it.
	require.NoError(t, mb.Lock(theirs))
	e.m.Unlock(theirs)
	require.True(t, mb.IsLocked(theirs))
	mb.Unlock(theirs)
	// Each manager still releases its own.
	n, err := mb.Release(theirs, true)
	require.NoError(t, err)
	require.Positive(t, n)
	n, err = e.m.Release(mine, true)
	require.NoError(t, err)
	require.Positive(t, n)
	require.NoError(t, e.sync.Flush(ctx))
}
