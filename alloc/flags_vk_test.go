package alloc_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vkassets/vkassets/alloc"
	"github.com/vkassets/vkassets/vk"
	"github.com/vkassets/vkassets/vk/vktest"
)

// TestLavapipeMapUnmap: on the real device with validation, bytes written
// through Map survive Unmap (the memory really unmapped) and reach the
// GPU, which copies them to a second buffer read through a later Map; the
// device-memory callbacks see every vkAllocateMemory and vkFreeMemory, and
// NeverAllocate makes none.
func TestLavapipeMapUnmap(t *testing.T) {
	d := vktest.Open(t)
	live := map[vk.DeviceMemory]uint64{}
	frees := 0
	a, err := alloc.New(alloc.Options{Device: d, Logger: vktest.Logger(t), DeviceMemoryCallbacks: alloc.DeviceMemoryCallbacks{
		Allocate: func(_ uint32, m vk.DeviceMemory, size uint64) { live[m] = size },
		Free: func(_ uint32, m vk.DeviceMemory, size uint64) {
			require.Equal(t, size, live[m])
			delete(live, m)
			frees++
		},
	}})
	require.NoError(t, err)
	o := alloc.AllocationOptions{Usage: alloc.UsageUpload}
	src, srcAl, err := a.CreateBuffer(4096, vk.BufferUsageTransferSrc|vk.BufferUsageTransferDst, o)
	require.NoError(t, err)
	calls := a.AllocateCalls()
	o.NeverAllocate = true
	dst, dstAl, err := a.CreateBuffer(4096, vk.BufferUsageTransferSrc|vk.BufferUsageTransferDst, o)
	require.NoError(t, err, "the first buffer's block has room")
	require.Equal(t, calls, a.AllocateCalls())
	_, _, err = a.CreateBuffer(1<<30, vk.BufferUsageTransferDst, o)
	require.ErrorIs(t, err, alloc.ErrWouldAllocate)
	require.Len(t, live, a.DeviceAllocations())

	blockMapped := func(al alloc.Allocation) int {
		for _, b := range a.Blocks() {
			if b.Memory == al.Memory {
				return b.MapRefCount
			}
		}
		return -1
	}
	m, err := a.Map(srcAl)
	require.NoError(t, err)
	for i := range m {
		m[i] = byte(i * 7)
	}
	want := bytes.Clone(m)
	require.NoError(t, a.Flush(srcAl, 0, ^uint64(0)))
	require.NoError(t, a.Unmap(srcAl))
	require.Zero(t, blockMapped(srcAl), "unmapped")
	require.ErrorIs(t, a.Unmap(srcAl), alloc.ErrNotMapped)

	pool, err := d.CreateCommandPool(vk.CommandPoolTransient)
	require.NoError(t, err)
	cmd, err := d.AllocateCommandBuffer(pool)
	require.NoError(t, err)
	fence, err := d.CreateFence(false)
	require.NoError(t, err)
	require.NoError(t, d.BeginCommandBuffer(cmd))
	d.CmdCopyBuffer(cmd, src, dst, 0, 0, 4096)
	d.CmdBarrier(cmd, vk.Barrier{SrcStage: vk.StageTransfer, DstStage: vk.StageHost, SrcAccess: vk.AccessTransferWrite, DstAccess: vk.AccessHostRead})
	require.NoError(t, d.EndCommandBuffer(cmd))
	require.NoError(t, d.Submit([]vk.CommandBuffer{cmd}, nil, nil, fence))
	require.NoError(t, d.WaitFence(fence, 10*time.Second))
	d.DestroyFence(fence)
	d.DestroyCommandPool(pool)

	got, err := a.Map(dstAl)
	require.NoError(t, err)
	require.NoError(t, a.Invalidate(dstAl, 0, ^uint64(0)))
	require.Equal(t, want, got, "the GPU copied what was written before Unmap")
	again, err := a.Map(srcAl)
	require.NoError(t, err)
	require.Equal(t, want, again, "the bytes survive Unmap and a later Map")
	require.Equal(t, 2, blockMapped(srcAl), "one block, two mappings")
	require.NoError(t, a.Unmap(srcAl))
	require.NoError(t, a.Unmap(dstAl))
	require.Zero(t, blockMapped(srcAl))

	// A mapping live at Close is unmapped and freed with its allocation.
	_, err = a.Map(dstAl)
	require.NoError(t, err)
	require.NoError(t, a.DestroyBuffer(src, srcAl))
	require.ErrorIs(t, a.Close(), alloc.ErrLeaks)
	require.NoError(t, a.DestroyBuffer(dst, dstAl))
	require.Zero(t, a.DeviceAllocations())
	require.Empty(t, live)
	require.Positive(t, frees)
}
