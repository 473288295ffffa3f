package vk_test

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkassets/vkassets/vk"
	"github.com/vkassets/vkassets/vk/vktest"
)

// boundImage is a w×h RGBA8 image usable as a transfer source and
// destination, bound to its own memory, destroyed at the end of the test.
func boundImage(t testing.TB, d *vk.Device, w, h uint32) vk.Image {
	t.Helper()
	img, err := d.CreateImage(vk.ImageInfo{Format: vk.FormatR8G8B8A8Unorm, Width: w, Height: h,
		Usage: vk.ImageUsageTransferDst | vk.ImageUsageTransferSrc})
	require.NoError(t, err)
	req := d.ImageRequirements(img)
	mem, err := d.AllocateMemory(vk.MemoryAllocateInfo{Size: req.Size, TypeIndex: hostMemoryType(t, d, req.TypeBits), DedicatedImage: img})
	require.NoError(t, err)
	require.NoError(t, d.BindImageMemory(img, mem, 0))
	t.Cleanup(func() {
		d.DestroyImage(img)
		d.FreeMemory(mem)
	})
	return img
}

// TestCmdBarriersOrdersCopies: more images than one vkCmdPipelineBarrier
// takes (so two batches) are transitioned by one CmdBarriers, with a
// buffer barrier of other stages in the same call, then filled from a
// staging buffer, transitioned again by one CmdBarriers, and read back,
// with a filled buffer's bytes copied after the first call: under
// synchronization validation, every image and the buffer come back as
// written, and the observer saw every barrier, once, as given.
func TestCmdBarriersOrdersCopies(t *testing.T) {
	d := vktest.OpenWith(t, vktest.Options{SyncValidation: true})
	const n = vk.MaxBarriersPerCall + 8
	const w, h = 4, 4
	const imgSize = w * h * 4
	const fillSize, fillValue = 256, 0x5a5a1234
	src, srcMem := boundBuffer(t, d, n*imgSize, vk.BufferUsageTransferSrc)
	fill, fillMem := boundBuffer(t, d, fillSize, vk.BufferUsageTransferSrc|vk.BufferUsageTransferDst)
	out, outMem := boundBuffer(t, d, n*imgSize+fillSize, vk.BufferUsageTransferDst)
	t.Cleanup(func() {
		for _, b := range []vk.Buffer{src, fill, out} {
			d.DestroyBuffer(b)
		}
		for _, m := range []vk.DeviceMemory{srcMem, fillMem, outMem} {
			d.FreeMemory(m)
		}
	})
	imgs := make([]vk.Image, n)
	for i := range imgs {
		imgs[i] = boundImage(t, d, w, h)
	}
	want := make([]byte, n*imgSize)
	for i := range want {
		want[i] = byte(i*13 + i/imgSize)
	}
	m, err := d.MapMemory(srcMem, 0, uint64(len(want)))
	require.NoError(t, err)
	copy(m, want)
	d.UnmapMemory(srcMem)

	var seen []vk.Barrier
	d.SetCommandObserver(func(c vk.Command) {
		if c.Op == "vkCmdPipelineBarrier" {
			seen = append(seen, c.Barrier)
		}
	})
	var before, after []vk.Barrier
	for _, img := range imgs {
		before = append(before, vk.Barrier{SrcStage: vk.StageTopOfPipe, DstStage: vk.StageTransfer, DstAccess: vk.AccessTransferWrite,
			Image: img, OldLayout: vk.LayoutUndefined, NewLayout: vk.LayoutTransferDstOptimal})
		after = append(after, vk.Barrier{SrcStage: vk.StageTransfer, DstStage: vk.StageTransfer, SrcAccess: vk.AccessTransferWrite, DstAccess: vk.AccessTransferRead,
			Image: img, OldLayout: vk.LayoutTransferDstOptimal, NewLayout: vk.LayoutTransferSrcOptimal})
	}
	// Last of the first call, in its second batch: the fill's write before
	// the copy's read (a transfer source stage the images' barriers lack).
	before = append(before, vk.Barrier{SrcStage: vk.StageTransfer, DstStage: vk.StageTransfer,
		SrcAccess: vk.AccessTransferWrite, DstAccess: vk.AccessTransferRead, Buffer: fill})
	vktest.Submit(t, d, func(cmd vk.CommandBuffer) {
		d.CmdFillBuffer(cmd, fill, 0, fillSize, fillValue)
		d.CmdBarriers(cmd, before)
		d.CmdCopyBuffer(cmd, fill, out, 0, n*imgSize, fillSize)
		for i, img := range imgs {
			d.CmdCopyBufferToImage(cmd, src, img, vk.LayoutTransferDstOptimal, vk.BufferImageCopy{BufferOffset: uint64(i * imgSize), Width: w, Height: h})
		}
		d.CmdBarriers(cmd, after)
		for i, img := range imgs {
			d.CmdCopyImageToBuffer(cmd, img, vk.LayoutTransferSrcOptimal, out, vk.BufferImageCopy{BufferOffset: uint64(i * imgSize), Width: w, Height: h})
		}
		d.CmdBarrier(cmd, vk.Barrier{SrcStage: vk.StageTransfer, DstStage: vk.StageHost, SrcAccess: vk.AccessTransferWrite, DstAccess: vk.AccessHostRead})
	})
	d.SetCommandObserver(nil)

	got, err := d.MapMemory(outMem, 0, n*imgSize+fillSize)
	require.NoError(t, err)
	defer d.UnmapMemory(outMem)
	for i := range n {
		require.Equal(t, want[i*imgSize:(i+1)*imgSize], got[i*imgSize:(i+1)*imgSize], "image %d", i)
	}
	for off := n * imgSize; off < n*imgSize+fillSize; off += 4 {
		require.Equal(t, uint32(fillValue), binary.LittleEndian.Uint32(got[off:]), "filled buffer at %d", off-n*imgSize)
	}
	wantSeen := append(append(append([]vk.Barrier(nil), before...), after...),
		vk.Barrier{SrcStage: vk.StageTransfer, DstStage: vk.StageHost, SrcAccess: vk.AccessTransferWrite, DstAccess: vk.AccessHostRead})
	require.Equal(t, wantSeen, seen, "barriers the observer saw")
}

// TestCmdBarriersEmpty: no barrier records nothing (no zero-stage
// vkCmdPipelineBarrier for the layer to report).
func TestCmdBarriersEmpty(t *testing.T) {
	d := vktest.Open(t)
	vktest.Submit(t, d, func(cmd vk.CommandBuffer) {
		d.CmdBarriers(cmd, nil)
		d.CmdBarriers(cmd, []vk.Barrier{})
	})
}

// TestCmdBarriersAllocatesNothing: a call of more barriers than one
// batch, from an array on the caller's stack, allocates nothing, with or
// without a command observer.
func TestCmdBarriersAllocatesNothing(t *testing.T) {
	d := vktest.Open(t)
	pool, err := d.CreateCommandPool(0)
	require.NoError(t, err)
	defer d.DestroyCommandPool(pool)
	cmd, err := d.AllocateCommandBuffer(pool)
	require.NoError(t, err)
	buf, mem := boundBuffer(t, d, 4096, vk.BufferUsageTransferDst)
	defer func() {
		d.DestroyBuffer(buf)
		d.FreeMemory(mem)
	}()
	require.NoError(t, d.BeginCommandBuffer(cmd))
	for _, observed := range []bool{false, true} {
		seen := 0
		if observed {
			d.SetCommandObserver(func(c vk.Command) {
				if c.Op == "vkCmdPipelineBarrier" {
					seen++
				}
			})
		}
		allocs := testing.AllocsPerRun(50, func() {
			var bs [vk.MaxBarriersPerCall + 3]vk.Barrier
			for i := range bs {
				bs[i] = vk.Barrier{SrcStage: vk.StageTransfer, DstStage: vk.StageTransfer,
					SrcAccess: vk.AccessTransferWrite, DstAccess: vk.AccessTransferWrite,
					Buffer: buf, Offset: uint64(i * 64), Size: 64}
			}
			d.CmdBarriers(cmd, bs[:])
		})
		d.SetCommandObserver(nil)
		require.Zero(t, allocs, "CmdBarriers allocates (observer: %v)", observed)
		if observed {
			require.Equal(t, 51*(vk.MaxBarriersPerCall+3), seen, "barriers observed")
		}
	}
	require.NoError(t, d.EndCommandBuffer(cmd))
}

// BenchmarkImageBarriers records the transitions of 200 images (what a
// defragmentation pass of 100 textures records before its copies) one
// CmdBarrier each, or in one CmdBarriers; per iteration, in a command
// buffer begun anew.
func BenchmarkImageBarriers(b *testing.B) {
	d := openBench(b)
	pool, err := d.CreateCommandPool(vk.CommandPoolResetCommandBuffer)
	require.NoError(b, err)
	b.Cleanup(func() { d.DestroyCommandPool(pool) })
	cmd, err := d.AllocateCommandBuffer(pool)
	require.NoError(b, err)
	bs := make([]vk.Barrier, 200)
	for i := range bs {
		bs[i] = vk.Barrier{SrcStage: vk.StageTopOfPipe, DstStage: vk.StageTransfer, DstAccess: vk.AccessTransferWrite,
			Image: boundImage(b, d, 4, 4), OldLayout: vk.LayoutUndefined, NewLayout: vk.LayoutTransferDstOptimal}
	}
	for _, batched := range []bool{false, true} {
		name := "CmdBarrier"
		if batched {
			name = "CmdBarriers"
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := d.BeginCommandBuffer(cmd); err != nil {
					b.Fatal(err)
				}
				if batched {
					d.CmdBarriers(cmd, bs)
				} else {
					for _, x := range bs {
						d.CmdBarrier(cmd, x)
					}
				}
				if err := d.EndCommandBuffer(cmd); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
