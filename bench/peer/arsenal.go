package main

import (
	"fmt"
	"math"

	"github.com/vkassets/vkassets/alloc/trace"
	"github.com/vkngwrapper/arsenal/memutils/metadata"
)

// arsenalStrategy is the strategy passed to CreateAllocationRequest: 0, no
// flag, which arsenal (like VMA) documents as "balanced" — the last branch
// of TLSFBlockMetadata.CreateAllocationRequest (next-larger class first,
// then the null block, then the best-fit class). It is what VMA's
// VmaVirtualBlock uses when VmaVirtualAllocationCreateInfo.flags has no
// strategy bit (it passes flags & STRATEGY_MASK through), so it is the like
// for like of virtual.Block.
const arsenalStrategy metadata.AllocationStrategy = 0

// arsenalImpl is a trace.Impl over arsenal's TLSF block metadata (a Go port
// of VMA's VmaBlockMetadata_TLSF). The handle is arsenal's own
// BlockAllocationHandle (the block node's address), so there is no side
// table. Each allocation is CreateAllocationRequest then Alloc, as
// VmaVirtualBlock_T::Allocate does.
type arsenalImpl struct {
	m    *metadata.TLSFBlockMetadata
	size uint64
}

// Arsenal returns a factory of Impls over arsenal TLSF blocks of size bytes,
// bufferImageGranularity 1 and a granularity handler that never conflicts.
func Arsenal(size uint64) func() trace.Impl {
	return func() trace.Impl {
		m := metadata.NewTLSFBlockMetadata(1, noGranularity{})
		m.Init(int(size))
		return &arsenalImpl{m: m, size: size}
	}
}

func (a *arsenalImpl) BlockSize() uint64 { return a.size }

func (a *arsenalImpl) Alloc(size, align uint64) (uint64, bool) {
	ok, req, err := a.m.CreateAllocationRequest(int(size), uint(max(align, 1)), false, 0, arsenalStrategy, math.MaxInt)
	if err != nil {
		panic(fmt.Sprintf("arsenal: CreateAllocationRequest(%d, %d): %v", size, align, err))
	}
	if !ok {
		return 0, false
	}
	if err := a.m.Alloc(req, 0, nil); err != nil {
		panic(fmt.Sprintf("arsenal: Alloc(%d, %d): %v", size, align, err))
	}
	return uint64(req.BlockAllocationHandle), true
}

func (a *arsenalImpl) Free(h uint64) {
	if err := a.m.Free(metadata.BlockAllocationHandle(h)); err != nil {
		panic(fmt.Sprintf("arsenal: Free: %v", err))
	}
}

// noGranularity is a metadata.GranularityCheck for virtual blocks: no
// allocation types conflict, nothing is tracked, requests are not rounded.
type noGranularity struct{}

var _ metadata.GranularityCheck = noGranularity{}

func (noGranularity) AllocRegions(allocType uint32, offset, size int) {}
func (noGranularity) FreeRegions(offset, size int)                    {}
func (noGranularity) Clear()                                          {}
func (noGranularity) CheckConflictAndAlignUp(allocOffset, allocSize, regionOffset, regionSize int, allocType uint32) (int, bool) {
	return allocOffset, false
}
func (noGranularity) RoundUpAllocRequest(allocType uint32, allocSize int, allocAlignment uint) (int, uint) {
	return allocSize, allocAlignment
}
func (noGranularity) AllocationsConflict(first, second uint32) bool { return false }
func (noGranularity) StartValidation() any                          { return nil }
func (noGranularity) Validate(ctx any, offset, size int) error      { return nil }
func (noGranularity) FinishValidation(ctx any) error                { return nil }
