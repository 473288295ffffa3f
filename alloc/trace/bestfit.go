package trace

import (
	"cmp"
	"slices"
)

// BestFit returns a factory of the reference Impl: an exact best fit over
// a sorted free list. Each allocation takes the smallest free range that
// holds it once aligned, at the range's aligned start; the front padding
// stays free. Frees coalesce with both neighbours. It is the yardstick of
// placement quality for tests and benchmarks (how many allocations a
// search that looks at every free range would refuse), not an allocator:
// its search walks the free ranges, and each free range costs a move of
// the sorted lists.
func BestFit(size uint64) func() Impl { return newBestFit(size, false, 0) }

// BestFitAtEnd is BestFit placing each allocation at the aligned end of
// the range it chose; the trailing padding left behind it is a free range.
func BestFitAtEnd(size uint64) func() Impl { return newBestFit(size, true, 0) }

// BlockPadding is the trailing alignment padding virtual.Block's TLSF
// carries in an allocation rather than filing it as a free range: below
// 4 KiB (its splitPad; virtual's tests check that the two agree).
const BlockPadding = 4096

// BestFitAsBlock is BestFitAtEnd with virtual.Block's handling of the
// padding: below BlockPadding bytes it stays in the allocation (and comes
// back free with it) instead of becoming a free range. It is the
// exhaustive search with the block's own placement, which the block's
// search equals (virtual's TestExactBestFit).
func BestFitAsBlock(size uint64) func() Impl { return newBestFit(size, true, BlockPadding) }

func newBestFit(size uint64, atEnd bool, carry uint64) func() Impl {
	return func() Impl {
		b := &bestFit{size: size, atEnd: atEnd, carry: carry, live: map[uint64]uint64{}}
		b.insert(freeRange{0, size})
		return b
	}
}

type freeRange struct{ off, size uint64 }

type bestFit struct {
	size   uint64
	atEnd  bool
	carry  uint64            // trailing padding below it stays in the allocation
	bySize []freeRange       // sorted by size, then offset
	byOff  []freeRange       // sorted by offset
	live   map[uint64]uint64 // offset → size (with any padding), of allocations
}

func sizeOrder(a, b freeRange) int {
	if c := cmp.Compare(a.size, b.size); c != 0 {
		return c
	}
	return cmp.Compare(a.off, b.off)
}

func (b *bestFit) BlockSize() uint64 { return b.size }

func (b *bestFit) insert(r freeRange) {
	i, _ := slices.BinarySearchFunc(b.bySize, r, sizeOrder)
	b.bySize = slices.Insert(b.bySize, i, r)
	j, _ := slices.BinarySearchFunc(b.byOff, r.off, func(x freeRange, off uint64) int { return cmp.Compare(x.off, off) })
	b.byOff = slices.Insert(b.byOff, j, r)
}

func (b *bestFit) remove(r freeRange) {
	i, _ := slices.BinarySearchFunc(b.bySize, r, sizeOrder)
	b.bySize = slices.Delete(b.bySize, i, i+1)
	j, _ := slices.BinarySearchFunc(b.byOff, r.off, func(x freeRange, off uint64) int { return cmp.Compare(x.off, off) })
	b.byOff = slices.Delete(b.byOff, j, j+1)
}

func (b *bestFit) Alloc(size, align uint64) (uint64, bool) {
	align = max(align, 1)
	i, _ := slices.BinarySearchFunc(b.bySize, freeRange{0, size}, sizeOrder)
	for ; i < len(b.bySize); i++ {
		r := b.bySize[i]
		if size > r.size {
			continue
		}
		off := (r.off + align - 1) &^ (align - 1)
		if b.atEnd {
			off = (r.off + r.size - size) &^ (align - 1)
		}
		if off < r.off || off+size > r.off+r.size {
			continue
		}
		b.remove(r)
		if off > r.off {
			b.insert(freeRange{r.off, off - r.off})
		}
		span := size
		if end := r.off + r.size; end-off-size < b.carry {
			span = end - off
		} else if off+size < end {
			b.insert(freeRange{off + size, end - off - size})
		}
		b.live[off] = span
		return off + 1, true
	}
	return 0, false
}

func (b *bestFit) Free(h uint64) {
	off := h - 1
	size, ok := b.live[off]
	if !ok {
		panic("bestfit: free of a handle that is not live")
	}
	delete(b.live, off)
	r := freeRange{off, size}
	j, _ := slices.BinarySearchFunc(b.byOff, off, func(x freeRange, o uint64) int { return cmp.Compare(x.off, o) })
	if j > 0 && b.byOff[j-1].off+b.byOff[j-1].size == off {
		prev := b.byOff[j-1]
		b.remove(prev)
		r = freeRange{prev.off, prev.size + r.size}
		j--
	}
	if j < len(b.byOff) && b.byOff[j].off == r.off+r.size {
		next := b.byOff[j]
		b.remove(next)
		r.size += next.size
	}
	b.insert(r)
}

// RandomWith is the random trace's generator (see Random) with other live
// targets: it fills to start live allocations, then the live count
// random-walks within [lo, hi].
func RandomWith(seed uint64, n, lo, hi, start int) []Op {
	b := newBuilder(seed, randomStreamSalt, n)
	b.walk(n, lo, hi, start, func() (uint64, uint64) {
		size := b.logUniform(RandomMinSize, RandomMaxSize)
		return size, RandomAligns[b.rng.IntN(len(RandomAligns))]
	})
	return b.ops
}
