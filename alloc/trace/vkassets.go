package trace

import (
	"errors"

	"github.com/vkassets/vkassets/alloc/virtual"
)

// VKAssets returns a factory of Impls over virtual.Block (TLSF, no
// granularity, KindAny) of size bytes.
//
// virtual.Allocation's handle is unexported, so the adapter keeps the
// allocations in a side table and hands out its index; that lookup (a few
// ns) is charged to vkassets.
func VKAssets(size uint64) func() Impl {
	return func() Impl {
		b, err := virtual.New(virtual.Options{Size: size, Algorithm: virtual.AlgorithmTLSF})
		if err != nil {
			panic(err)
		}
		return &vkImpl{b: b, size: size, allocs: make([]virtual.Allocation, 0, 1024)}
	}
}

type vkImpl struct {
	b      *virtual.Block
	size   uint64
	allocs []virtual.Allocation // by handle
	spare  []uint32             // free handles
}

func (v *vkImpl) BlockSize() uint64 { return v.size }

func (v *vkImpl) Alloc(size, align uint64) (uint64, bool) {
	a, err := v.b.Allocate(size, align, virtual.KindAny)
	if err != nil {
		if errors.Is(err, virtual.ErrNoSpace) {
			return 0, false
		}
		panic(err)
	}
	if n := len(v.spare); n > 0 {
		h := v.spare[n-1]
		v.spare = v.spare[:n-1]
		v.allocs[h] = a
		return uint64(h), true
	}
	v.allocs = append(v.allocs, a)
	return uint64(len(v.allocs) - 1), true
}

func (v *vkImpl) Free(h uint64) {
	if err := v.b.Free(v.allocs[h]); err != nil {
		panic(err)
	}
	v.allocs[h] = virtual.Allocation{}
	v.spare = append(v.spare, uint32(h))
}
