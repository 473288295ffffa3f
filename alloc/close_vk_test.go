package alloc_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vkassets/vkassets/alloc"
	"github.com/vkassets/vkassets/vk"
	"github.com/vkassets/vkassets/vk/vktest"
)

// TestLavapipeDoubleDestroy: a second DestroyBuffer or DestroyImage of the
// same pair is refused before the Vulkan object is touched, so the
// validation layer sees no vkDestroyBuffer/vkDestroyImage of a dead handle
// (VUID-vkDestroyBuffer-buffer-parameter), for sub-allocated and dedicated
// memory alike.
func TestLavapipeDoubleDestroy(t *testing.T) {
	d := vktest.Open(t)
	a, err := alloc.New(alloc.Options{Device: d, Logger: vktest.Logger(t)})
	require.NoError(t, err)
	for _, dedicated := range []bool{false, true} {
		o := alloc.AllocationOptions{Dedicated: dedicated, Name: fmt.Sprint("dedicated=", dedicated)}
		buf, bal, err := a.CreateBuffer(4096, vk.BufferUsageVertex, o)
		require.NoError(t, err)
		img, ial, err := a.CreateImage(vk.ImageInfo{Format: vk.FormatR8G8B8A8Unorm, Width: 32, Height: 32, Usage: vk.ImageUsageSampled}, o)
		require.NoError(t, err)
		require.Equal(t, dedicated, bal.Dedicated())
		require.NoError(t, a.DestroyBuffer(buf, bal))
		require.ErrorIs(t, a.DestroyBuffer(buf, bal), alloc.ErrInvalidFree)
		require.NoError(t, a.DestroyImage(img, ial))
		require.ErrorIs(t, a.DestroyImage(img, ial), alloc.ErrInvalidFree)
		require.ErrorIs(t, a.Free(bal), alloc.ErrInvalidFree)
	}
	// Concurrent destroys of one pair: exactly one destroys it.
	for range 20 {
		buf, al, err := a.CreateBuffer(4096, vk.BufferUsageVertex, alloc.AllocationOptions{})
		require.NoError(t, err)
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for i := range errs {
			wg.Go(func() { errs[i] = a.DestroyBuffer(buf, al) })
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			if err == nil {
				ok++
			} else {
				require.ErrorIs(t, err, alloc.ErrInvalidFree)
			}
		}
		require.Equal(t, 1, ok)
	}
	require.NoError(t, a.Close())
}

// TestLavapipeCloseUnderLiveAllocations closes the allocator first, while
// buffers (sub-allocated, dedicated, in a pool) and an image are live and a
// submission that writes them is in flight, then waits for the GPU and frees
// them. Close names every live allocation and frees none of their memory
// (VUID-vkFreeMemory-memory-00677 stays silent); after the frees no memory
// is left (the device's destruction reports none).
func TestLavapipeCloseUnderLiveAllocations(t *testing.T) {
	d := vktest.Open(t)
	a, err := alloc.New(alloc.Options{Device: d, Logger: vktest.Logger(t)})
	require.NoError(t, err)
	pool, err := a.NewPool(alloc.PoolOptions{Name: "frame-ring", MemoryType: 0, BlockSize: 1 << 20, MinBlocks: 2, Algorithm: alloc.AlgorithmLinear})
	require.NoError(t, err)

	type res struct {
		buf vk.Buffer
		al  alloc.Allocation
	}
	var bufs []res
	for i, o := range []alloc.AllocationOptions{
		{Name: "vertices"}, {Name: "indices"}, {Name: "big-dedicated", Dedicated: true}, {Name: "per-frame", Pool: pool},
	} {
		buf, al, err := a.CreateBuffer(uint64(64<<10)*uint64(i+1), vk.BufferUsageTransferDst|vk.BufferUsageVertex, o)
		require.NoError(t, err)
		bufs = append(bufs, res{buf, al})
	}
	img, ial, err := a.CreateImage(vk.ImageInfo{Format: vk.FormatR8G8B8A8Unorm, Width: 64, Height: 64, Usage: vk.ImageUsageSampled}, alloc.AllocationOptions{Name: "texture"})
	require.NoError(t, err)
	scratch, sal, err := a.CreateBuffer(4096, vk.BufferUsageVertex, alloc.AllocationOptions{Name: "scratch"})
	require.NoError(t, err)
	require.NoError(t, a.DestroyBuffer(scratch, sal))

	cpool, err := d.CreateCommandPool(vk.CommandPoolTransient)
	require.NoError(t, err)
	cmd, err := d.AllocateCommandBuffer(cpool)
	require.NoError(t, err)
	fence, err := d.CreateFence(false)
	require.NoError(t, err)
	require.NoError(t, d.BeginCommandBuffer(cmd))
	for _, b := range bufs {
		d.CmdFillBuffer(cmd, b.buf, 0, b.al.Size&^3, 0xabcdabcd)
	}
	require.NoError(t, d.EndCommandBuffer(cmd))
	require.NoError(t, d.Submit([]vk.CommandBuffer{cmd}, nil, nil, fence))

	// Closed from another goroutine, with the submission in flight.
	errc := make(chan error, 2)
	go func() { errc <- a.Close() }()
	go func() { errc <- a.Close() }()
	var report error
	for range 2 {
		if err := <-errc; err != nil {
			require.Nil(t, report, "one Close reports")
			report = err
		}
	}
	require.ErrorIs(t, report, alloc.ErrLeaks)
	for _, name := range []string{"vertices", "indices", "big-dedicated", "per-frame", "texture"} {
		require.Contains(t, report.Error(), fmt.Sprintf("%q", name))
	}
	require.NotContains(t, report.Error(), "scratch")
	require.Len(t, a.Leaks(), 5)
	_, err = a.NewPool(alloc.PoolOptions{Name: "late", MemoryType: 0, MinBlocks: 1})
	require.ErrorIs(t, err, alloc.ErrClosed)
	_, _, err = a.CreateBuffer(4096, vk.BufferUsageVertex, alloc.AllocationOptions{})
	require.ErrorIs(t, err, alloc.ErrClosed)

	require.NoError(t, d.WaitFence(fence, 10*time.Second))
	d.DestroyFence(fence)
	d.DestroyCommandPool(cpool)
	for _, b := range bufs {
		require.NoError(t, a.DestroyBuffer(b.buf, b.al))
	}
	require.NoError(t, a.DestroyImage(img, ial))
	require.Empty(t, a.Leaks())
	require.Zero(t, a.DeviceAllocations(), "the last free of each block freed it")
	require.NoError(t, pool.Close())
	require.NoError(t, a.Close())
}
