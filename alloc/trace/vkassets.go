package trace

import (
	"errors"

	"github.com/vkassets/vkassets/alloc/virtual"
)

// VKAssets returns a factory of Impls over virtual.Block (TLSF, no
// granularity, KindAny) of size bytes. The handle is the allocation's own
// (virtual.Allocation.Handle), as arsenal's adapter hands out its node.
func VKAssets(size uint64) func() Impl {
	return func() Impl {
		b, err := virtual.New(virtual.Options{Size: size, Algorithm: virtual.AlgorithmTLSF})
		if err != nil {
			panic(err)
		}
		return &vkImpl{b: b, size: size}
	}
}

type vkImpl struct {
	b    *virtual.Block
	size uint64
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
	return a.Handle(), true
}

func (v *vkImpl) Free(h uint64) {
	if err := v.b.FreeHandle(h); err != nil {
		panic(err)
	}
}
