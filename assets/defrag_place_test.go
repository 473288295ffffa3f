package assets_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vkassets/vkassets/alloc"
	"github.com/vkassets/vkassets/assets"
	"github.com/vkassets/vkassets/vk"
)

// TestDefragLeavesInPlace: what must not move stays where it is — a
// texture whose contents change after upload (NewEmptyTexture's: atlas
// pages) and a pinned texture — while the rest moves; bad policies are
// refused, and after Close every call answers ErrClosed.
func TestDefragLeavesInPlace(t *testing.T) {
	e := openDefragEnv(t, 2)
	var junk, keep []assets.Asset
	var pages []*assets.Texture2D
	for i := range 120 {
		switch {
		case i%10 == 3:
			p, err := e.m.NewEmptyTexture(fmt.Sprintf("page-%d", i), 32, 32)
			require.NoError(t, err)
			pages = append(pages, p)
		case i%2 == 0:
			tex, err := newTexture(e.m, fmt.Sprintf("t-%d", i), uint64(i), 32)
			require.NoError(t, err)
			if i%4 == 0 {
				junk = append(junk, tex)
			} else {
				keep = append(keep, tex)
			}
		default:
			b, err := e.m.NewBuffer(fmt.Sprintf("b-%d", i), vk.BufferUsageVertex, make([]byte, 8<<10))
			require.NoError(t, err)
			junk = append(junk, b)
		}
	}
	pinned := keep[len(keep)/2].(*assets.Texture2D)
	unpin, err := e.m.Pin(pinned)
	require.NoError(t, err)
	for _, a := range junk {
		drop(e.m, a)
	}
	require.ErrorIs(t, e.m.SetDefrag(assets.DefragPolicy{MaxMovesPerFrame: -1}), assets.ErrDefragPolicy)
	require.ErrorIs(t, e.m.SetDefrag(assets.DefragPolicy{Algorithm: 9}), assets.ErrDefragPolicy)
	p, err := e.m.DefragFrame() // off: nothing
	require.NoError(t, err)
	require.Zero(t, p)
	require.NoError(t, e.m.SetDefrag(assets.DefragPolicy{Algorithm: alloc.DefragFull}))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := e.m.DefragmentNow(ctx)
	require.NoError(t, err)
	moved := 0
	for _, a := range keep {
		if a.(*assets.Texture2D).Generation() > 0 {
			moved++
		}
	}
	t.Logf("%d of %d kept textures moved; %+v", moved, len(keep), st)
	require.Positive(t, moved)
	require.Positive(t, st.Skipped)
	for _, p := range pages {
		require.Zero(t, p.Generation(), "an atlas page moved")
	}
	require.Zero(t, pinned.Generation(), "a pinned texture moved")
	unpin()
	e.close(t)
	_, err = e.m.DefragFrame()
	require.ErrorIs(t, err, assets.ErrClosed)
	_, err = e.m.DefragmentNow(context.Background())
	require.ErrorIs(t, err, assets.ErrClosed)
	require.ErrorIs(t, e.m.SetDefrag(assets.DefragPolicy{MaxMovesPerFrame: 1}), assets.ErrClosed)
}

// TestDefragReleasesUnreferenced: with ReleaseUnreferenced, a cached
// asset nobody holds that a pass would move is released (the normal rule)
// instead; one that is held moves.
func TestDefragReleasesUnreferenced(t *testing.T) {
	e := openDefragEnv(t, 2)
	b, err := e.m.AddBundle("content", assets.SampleContent())
	require.NoError(t, err)
	ctx := context.Background()
	files := []string{"checker.png", "hero.png", "logo.jpg", "icons/coin.png", "icons/star.png"}
	var junk []assets.Asset
	var cached []*assets.Texture2D
	for i := range 60 {
		if i%12 == 6 {
			tex, err := b.LoadTexture(ctx, files[i/12]) // cached, count 0
			require.NoError(t, err)
			cached = append(cached, tex)
			continue
		}
		tex, err := newTexture(e.m, fmt.Sprintf("t-%d", i), uint64(i), 32)
		require.NoError(t, err)
		junk = append(junk, tex)
	}
	held := cached[0]
	require.NoError(t, e.m.AddRef(held))
	for _, a := range junk[:len(junk)-1] { // the last keeps its block
		drop(e.m, a)
	}
	require.NoError(t, e.m.SetDefrag(assets.DefragPolicy{Algorithm: alloc.DefragFull, ReleaseUnreferenced: true}))
	st, err := e.m.DefragmentNow(ctx)
	require.NoError(t, err)
	t.Logf("%+v", st)
	require.Positive(t, st.Released)
	gone := 0
	for _, tex := range cached[1:] {
		if assets.BaseOf(tex).State() != assets.Ready {
			gone++
		}
	}
	require.Equal(t, st.Released, gone, "the released are unreferenced cached textures")
	require.Equal(t, assets.Ready, assets.BaseOf(held).State())
	e.close(t)
}
