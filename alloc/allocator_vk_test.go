package alloc_test

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vkassets/vkassets/alloc"
	"github.com/vkassets/vkassets/vk"
	"github.com/vkassets/vkassets/vk/vktest"
)

// TestLavapipeBuffersAndImages runs the allocator on the real device with
// validation: hundreds of buffers and images bound into shared blocks, data
// written through persistent mappings and copied by the GPU between
// sub-allocations, then everything freed. Validation must stay silent (no
// overlap reports, no bad binds, no leaks) and the bytes must survive.
func TestLavapipeBuffersAndImages(t *testing.T) {
	d := vktest.Open(t)
	a, err := alloc.New(alloc.Options{Device: d, Logger: vktest.Logger(t)})
	require.NoError(t, err)

	type res struct {
		buf vk.Buffer
		img vk.Image
		al  alloc.Allocation
	}
	r := rand.New(rand.NewPCG(7, 9))
	var live []res
	for i := range 600 {
		if r.IntN(3) == 0 {
			w, h := uint32(1+r.IntN(128)), uint32(1+r.IntN(128))
			img, al, err := a.CreateImage(vk.ImageInfo{Format: vk.FormatR8G8B8A8Unorm, Width: w, Height: h,
				Usage: vk.ImageUsageSampled | vk.ImageUsageTransferDst}, alloc.AllocationOptions{Name: "image"})
			require.NoError(t, err, "image %d", i)
			live = append(live, res{img: img, al: al})
		} else {
			size := uint64(16 + r.IntN(1<<16))
			buf, al, err := a.CreateBuffer(size, vk.BufferUsageTransferSrc|vk.BufferUsageTransferDst,
				alloc.AllocationOptions{Usage: alloc.UsageUpload, Mapped: true, Name: "buffer"})
			require.NoError(t, err, "buffer %d", i)
			require.Len(t, al.Mapped, int(size))
			live = append(live, res{buf: buf, al: al})
		}
		if len(live) > 100 && r.IntN(2) == 0 {
			k := r.IntN(len(live))
			x := live[k]
			live = append(live[:k], live[k+1:]...)
			if x.buf != 0 {
				require.NoError(t, a.DestroyBuffer(x.buf, x.al))
			} else {
				require.NoError(t, a.DestroyImage(x.img, x.al))
			}
		}
	}
	require.Less(t, a.DeviceAllocations(), 20, "allocations share blocks")

	// GPU copies between two sub-allocated buffers of one block keep their bytes.
	var bufs []res
	for _, x := range live {
		if x.buf != 0 && len(bufs) < 2 && x.al.Size >= 4096 {
			bufs = append(bufs, x)
		}
	}
	require.Len(t, bufs, 2)
	src, dst := bufs[0], bufs[1]
	for i := range src.al.Mapped[:4096] {
		src.al.Mapped[i] = byte(i * 13)
	}
	require.NoError(t, a.Flush(src.al, 0, 4096))
	pool, err := d.CreateCommandPool(vk.CommandPoolTransient)
	require.NoError(t, err)
	cmd, err := d.AllocateCommandBuffer(pool)
	require.NoError(t, err)
	fence, err := d.CreateFence(false)
	require.NoError(t, err)
	require.NoError(t, d.BeginCommandBuffer(cmd))
	d.CmdCopyBuffer(cmd, src.buf, dst.buf, 0, 0, 4096)
	d.CmdBarrier(cmd, vk.Barrier{SrcStage: vk.StageTransfer, DstStage: vk.StageHost, SrcAccess: vk.AccessTransferWrite, DstAccess: vk.AccessHostRead})
	require.NoError(t, d.EndCommandBuffer(cmd))
	require.NoError(t, d.Submit([]vk.CommandBuffer{cmd}, nil, nil, fence))
	require.NoError(t, d.WaitFence(fence, 10*time.Second))
	require.NoError(t, a.Invalidate(dst.al, 0, 4096))
	require.True(t, bytes.Equal(src.al.Mapped[:4096], dst.al.Mapped[:4096]))
	d.DestroyFence(fence)
	d.DestroyCommandPool(pool)

	for _, x := range live {
		if x.buf != 0 {
			require.NoError(t, a.DestroyBuffer(x.buf, x.al))
		} else {
			require.NoError(t, a.DestroyImage(x.img, x.al))
		}
	}
	require.Empty(t, a.Leaks())
	require.NoError(t, a.Close())
	require.Zero(t, a.DeviceAllocations())
}

// TestLavapipeLeakReport: Close names what was not freed, and keeps its
// memory until it is.
func TestLavapipeLeakReport(t *testing.T) {
	d := vktest.Open(t)
	a, err := alloc.New(alloc.Options{Device: d})
	require.NoError(t, err)
	buf, al, err := a.CreateBuffer(1024, vk.BufferUsageVertex, alloc.AllocationOptions{Name: "hero-vertices"})
	require.NoError(t, err)
	d.DestroyBuffer(buf) // the memory is leaked, the buffer is not
	err = a.Close()
	require.ErrorIs(t, err, alloc.ErrLeaks)
	require.Contains(t, err.Error(), "hero-vertices")
	require.Equal(t, 1, a.DeviceAllocations(), "Close keeps the memory of live allocations")
	require.NoError(t, a.Free(al))
	require.Zero(t, a.DeviceAllocations(), "the last free of a block frees it")
}

func TestLavapipeBadInput(t *testing.T) {
	d := vktest.Open(t)
	a, err := alloc.New(alloc.Options{Device: d})
	require.NoError(t, err)
	defer func() { require.NoError(t, a.Close()) }()

	_, _, err = a.CreateBuffer(0, vk.BufferUsageVertex, alloc.AllocationOptions{})
	require.ErrorIs(t, err, alloc.ErrZeroSize)
	_, err = a.Allocate(vk.MemoryRequirements{Size: 100, Alignment: 3, TypeBits: 1}, alloc.AllocationOptions{})
	require.ErrorIs(t, err, alloc.ErrBadAlignment)
	_, err = a.Allocate(vk.MemoryRequirements{Size: 100, Alignment: 4, TypeBits: 0}, alloc.AllocationOptions{})
	require.ErrorIs(t, err, alloc.ErrNoMemoryType)
	_, _, err = a.CreateImage(vk.ImageInfo{Format: vk.FormatR8G8B8A8Unorm}, alloc.AllocationOptions{})
	require.ErrorIs(t, err, alloc.ErrZeroSize)

	al, err := a.Allocate(vk.MemoryRequirements{Size: 100, Alignment: 4, TypeBits: 1}, alloc.AllocationOptions{Name: "x"})
	require.NoError(t, err)
	before := a.Stats()
	require.NoError(t, a.Free(al))
	err = a.Free(al)
	require.True(t, errors.Is(err, alloc.ErrInvalidFree), "double free: %v", err)
	require.Error(t, a.Free(alloc.Allocation{}))
	other, err := alloc.New(alloc.Options{Device: d})
	require.NoError(t, err)
	al2, err := other.Allocate(vk.MemoryRequirements{Size: 100, Alignment: 4, TypeBits: 1}, alloc.AllocationOptions{})
	require.NoError(t, err)
	require.ErrorIs(t, a.Free(al2), alloc.ErrForeignFree)
	require.NoError(t, other.Free(al2))
	require.NoError(t, other.Close())
	require.Equal(t, before.Total.BlockCount, a.Stats().Total.BlockCount)
}
