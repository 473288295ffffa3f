package alloc_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkassets/vkassets/alloc"
	"github.com/vkassets/vkassets/alloc/virtual"
	"github.com/vkassets/vkassets/vk"
	"github.com/vkassets/vkassets/vk/vktest"
)

// TestPoolDoubleStack: a linear pool of one block is a double stack:
// lower allocations rise from 0, UpperAddress ones fall from the end, with
// corruption margins around both; when they meet an allocation of either
// kind fails with ErrNoSpace (no second block: MaxBlocks 1), freeing the
// top of either stack reopens it, a byte planted past an upper
// allocation's end is found; UpperAddress without a linear pool, or with
// dedicated memory, is ErrUpperAddress, and a block used as a ring takes
// none (ErrRingInUse). The dump stays valid.
func TestPoolDoubleStack(t *testing.T) {
	d := sim(t, "1080 Ti")
	a := newAllocator(t, d, alloc.Options{DetectCorruption: true})
	const block = 1 << 20
	pool, err := a.NewPool(alloc.PoolOptions{Name: "frame", MemoryType: 9, BlockSize: block, MaxBlocks: 1, Algorithm: alloc.AlgorithmLinear})
	require.NoError(t, err)
	req := func(n uint64) vk.MemoryRequirements {
		return vk.MemoryRequirements{Size: n, Alignment: 256, TypeBits: 1 << 9}
	}
	low := alloc.AllocationOptions{Pool: pool, Mapped: true, Name: "low"}
	up := alloc.AllocationOptions{Pool: pool, Mapped: true, Name: "up", UpperAddress: true}

	l1, err := a.Allocate(req(300<<10), low)
	require.NoError(t, err)
	u1, err := a.Allocate(req(300<<10), up)
	require.NoError(t, err)
	require.Less(t, l1.Offset, uint64(4096), "lower from the start")
	require.Greater(t, u1.Offset+u1.Size, uint64(block-4096), "upper from the end")
	u2, err := a.Allocate(req(300<<10), up)
	require.NoError(t, err)
	require.Less(t, u2.Offset+u2.Size, u1.Offset, "below the previous upper one")
	require.Equal(t, l1.Memory, u2.Memory)

	_, err = a.Allocate(req(300<<10), low)
	require.ErrorIs(t, err, alloc.ErrNoSpace, "the stacks meet")
	_, err = a.Allocate(req(300<<10), up)
	require.ErrorIs(t, err, alloc.ErrNoSpace)
	require.Equal(t, 1, len(a.Blocks()), "no second block")

	require.NoError(t, a.Free(u2))
	u3, err := a.Allocate(req(300<<10), up)
	require.NoError(t, err, "the upper top freed reopens it")
	require.Equal(t, u2.Offset, u3.Offset)

	beyond(u3.Mapped, 1)[0]++
	err = a.CheckCorruption(1 << 9)
	require.ErrorIs(t, err, alloc.ErrCorruption)
	require.Contains(t, err.Error(), `"up"`)
	dumpOf(t, a)
	require.ErrorIs(t, a.Free(u3), alloc.ErrCorruption)

	// Refusals.
	_, err = a.Allocate(req(256), alloc.AllocationOptions{UpperAddress: true})
	require.ErrorIs(t, err, alloc.ErrUpperAddress, "no pool")
	tlsf, err := a.NewPool(alloc.PoolOptions{Name: "tlsf", MemoryType: 9, BlockSize: block})
	require.NoError(t, err)
	_, err = a.Allocate(req(256), alloc.AllocationOptions{Pool: tlsf, UpperAddress: true})
	require.ErrorIs(t, err, alloc.ErrUpperAddress, "a TLSF pool")
	_, err = a.Allocate(req(256), alloc.AllocationOptions{Pool: pool, UpperAddress: true, Dedicated: true})
	require.ErrorIs(t, err, alloc.ErrUpperAddress, "dedicated")
	require.NoError(t, tlsf.Close())

	// A ring: fill, free the oldest, wrap; then no upper allocation.
	require.NoError(t, a.Free(u1))
	l2, err := a.Allocate(req(600<<10), low)
	require.NoError(t, err)
	require.NoError(t, a.Free(l1))
	l3, err := a.Allocate(req(200<<10), low)
	require.NoError(t, err)
	require.Less(t, l3.Offset, l2.Offset, "wrapped to the start")
	_, err = a.Allocate(req(256), up)
	require.ErrorIs(t, err, virtual.ErrRingInUse)

	require.NoError(t, a.Free(l2))
	require.NoError(t, a.Free(l3))
	require.NoError(t, pool.Close())
	require.NoError(t, a.Close())
	noViolations(t, d)
	require.Empty(t, d.Leaks())
}

// TestLavapipeDoubleStack: on the real device with validation, buffers
// from both ends of a linear pool's block; a GPU copy from an upper one to
// a lower one carries the bytes.
func TestLavapipeDoubleStack(t *testing.T) {
	d := vktest.Open(t)
	a, err := alloc.New(alloc.Options{Device: d, Logger: vktest.Logger(t), DetectCorruption: true})
	require.NoError(t, err)
	typ, err := a.FindMemoryType(^uint32(0), alloc.AllocationOptions{Usage: alloc.UsageUpload})
	require.NoError(t, err)
	pool, err := a.NewPool(alloc.PoolOptions{Name: "frame", MemoryType: typ, BlockSize: 1 << 20, MaxBlocks: 1, Algorithm: alloc.AlgorithmLinear})
	require.NoError(t, err)
	usage := vk.BufferUsageTransferSrc | vk.BufferUsageTransferDst
	lowBuf, lowAl, err := a.CreateBuffer(4096, usage, alloc.AllocationOptions{Pool: pool, Mapped: true})
	require.NoError(t, err)
	upBuf, upAl, err := a.CreateBuffer(4096, usage, alloc.AllocationOptions{Pool: pool, Mapped: true, UpperAddress: true})
	require.NoError(t, err)
	require.Equal(t, lowAl.Memory, upAl.Memory)
	require.Greater(t, upAl.Offset, uint64(1<<20-8192))
	want := pattern(4096, 9)
	copy(upAl.Mapped, want)
	gpuCopy(t, d, upBuf, lowBuf, 0, 0, 4096)
	require.Equal(t, want, lowAl.Mapped)
	require.NoError(t, a.CheckCorruption(1<<typ))
	require.NoError(t, a.DestroyBuffer(upBuf, upAl))
	require.NoError(t, a.DestroyBuffer(lowBuf, lowAl))
	require.NoError(t, pool.Close())
	require.NoError(t, a.Close())
}
