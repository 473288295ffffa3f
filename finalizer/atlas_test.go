package finalizer_test

import (
	"bytes"
	"context"
	"image"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkassets/vkassets/alloc"
	"github.com/vkassets/vkassets/assets"
	"github.com/vkassets/vkassets/finalizer"
	"github.com/vkassets/vkassets/vk"
)

// readBack copies a region of a texture to host memory.
func readBack(t *testing.T, e *env, a *alloc.Allocator, tex *assets.Texture2D, r image.Rectangle) []byte {
	t.Helper()
	size := uint64(r.Dx() * r.Dy() * 4)
	buf, mem, err := a.CreateBuffer(size, vk.BufferUsageTransferDst, alloc.AllocationOptions{Usage: alloc.UsageReadback, Mapped: true})
	require.NoError(t, err)
	defer func() { require.NoError(t, a.DestroyBuffer(buf, mem)) }()
	d := e.dev
	serial, err := e.sync.OneShot(func(cmd vk.CommandBuffer) error {
		d.CmdBarrier(cmd, vk.Barrier{SrcStage: vk.StageFragmentShader, DstStage: vk.StageTransfer, SrcAccess: vk.AccessShaderRead, DstAccess: vk.AccessTransferRead,
			Image: tex.Handles().Image, OldLayout: vk.LayoutShaderReadOnlyOptimal, NewLayout: vk.LayoutTransferSrcOptimal})
		d.CmdCopyImageToBuffer(cmd, tex.Handles().Image, vk.LayoutTransferSrcOptimal, buf, vk.BufferImageCopy{X: int32(r.Min.X), Y: int32(r.Min.Y), Width: uint32(r.Dx()), Height: uint32(r.Dy())})
		d.CmdBarrier(cmd, vk.Barrier{SrcStage: vk.StageTransfer, DstStage: vk.StageHost, SrcAccess: vk.AccessTransferWrite, DstAccess: vk.AccessHostRead})
		d.CmdBarrier(cmd, vk.Barrier{SrcStage: vk.StageTransfer, DstStage: vk.StageFragmentShader, SrcAccess: vk.AccessTransferRead, DstAccess: vk.AccessShaderRead,
			Image: tex.Handles().Image, OldLayout: vk.LayoutTransferSrcOptimal, NewLayout: vk.LayoutShaderReadOnlyOptimal})
		return nil
	})
	require.NoError(t, err)
	assets.Use(serial, tex)
	require.NoError(t, e.sync.Wait(context.Background(), serial))
	require.NoError(t, a.Invalidate(mem, 0, size))
	return append([]byte(nil), mem.Mapped...)
}

// TestDynamicAtlas: small frames share an atlas page; releasing a packed
// frame frees its cell and releases its own texture, never the page while
// other frames are on it; the last frame's release retires the page.
func TestDynamicAtlas(t *testing.T) {
	e, a := openWithAlloc(t)
	at := e.fin.NewAtlas(e.m, e.dev, finalizer.AtlasOptions{PageSize: 128, MaxFrame: 32})
	star, coin, heart := e.sprite(t, "icons/star.png"), e.sprite(t, "icons/coin.png"), e.sprite(t, "icons/heart.png")
	starPixels := readBack(t, e, a, star.Texture(), star.Rect())
	starTex := star.Source
	for _, f := range []*assets.SpriteFrame{star, coin, heart} {
		require.NoError(t, at.Pack(f))
		require.NoError(t, e.m.AddRef(f))
	}
	require.Equal(t, 1, at.Pages(), "three 16x16 frames share one page")
	page := star.Texture()
	require.Same(t, page, coin.Texture())
	require.NotEqual(t, star.Rect(), coin.Rect())
	require.Equal(t, 4, page.RefCount(), "one per frame on it, and the atlas's")
	require.True(t, bytes.Equal(starPixels, readBack(t, e, a, page, star.Rect())), "the frame's pixels are in its cell")

	big := e.sprite(t, "checker.png") // 64x64
	require.ErrorIs(t, at.Pack(big), finalizer.ErrTooBig)

	// Release the star: its cell and its own texture go, the page stays.
	starCell := star.Rect()
	require.NoError(t, e.m.DecRef(star))
	e.fin.Collect()
	require.NotEqual(t, assets.Ready, star.State())
	require.NotEqual(t, assets.Ready, starTex.State(), "the frame's original texture is released")
	require.Equal(t, assets.Ready, page.State(), "never the atlas while frames are on it")
	require.Equal(t, 3, page.RefCount())
	again := e.sprite(t, "icons/star.png")
	require.NoError(t, at.Pack(again))
	require.Equal(t, starCell, again.Rect(), "the freed cell is reused")
	require.NoError(t, e.m.AddRef(again))

	// The last frames go: the page is released and retired.
	for _, f := range []*assets.SpriteFrame{coin, heart, again} {
		require.NoError(t, e.m.DecRef(f))
	}
	e.fin.Collect()
	require.Zero(t, at.Pages())
	require.NotEqual(t, assets.Ready, page.State())
	require.NoError(t, e.sync.Flush(context.Background()))
	require.Equal(t, assets.Destroyed, page.State())
}
