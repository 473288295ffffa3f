package virtual

import (
	"errors"
	"fmt"
)

// Errors of AllocateUpper.
var (
	// ErrNotLinear: an upper-address allocation in a TLSF block.
	ErrNotLinear = errors.New("virtual: upper-address allocations need the linear algorithm")
	// ErrRingInUse: an upper-address allocation in a linear block whose
	// allocations wrap around its end (a ring buffer): a block is a double
	// stack or a ring, not both at once, as in VMA.
	ErrRingInUse = errors.New("virtual: linear block in use as a ring buffer: no upper-address allocation")
)

// AllocateUpper reserves size bytes at the top of a linear block, below
// the previous upper-address allocations: the second stack of VMA's double
// stack (VMA_ALLOCATION_CREATE_UPPER_ADDRESS_BIT). The two stacks grow
// towards each other; when they meet, both fail with ErrNoSpace, and frees
// at either top reopen the space. While the block has upper-address
// allocations its lower allocations do not wrap around (they fail with
// ErrNoSpace instead), and while the lower ones wrap (a ring) an
// upper-address allocation fails with ErrRingInUse. Free takes either kind.
func (b *Block) AllocateUpper(size, align uint64, kind Kind) (Allocation, error) {
	align, err := CheckRequest(size, align)
	if err != nil {
		return Allocation{}, err
	}
	l, ok := b.meta.(*linear)
	if !ok {
		return Allocation{}, fmt.Errorf("%w: the block is %v", ErrNotLinear, b.algo)
	}
	ref, off, err := l.allocUpper(size, align, kind)
	if err != nil {
		return Allocation{}, err
	}
	return Allocation{Offset: off, Size: size, handle: uint64(b.id)<<refBits | ref}, nil
}

// upperBottom is where the upper stack begins: the block's end when it
// is empty.
func (l *linear) upperBottom() uint64 {
	if n := len(l.upper); n > 0 {
		return l.upper[n-1].offset
	}
	return l.size
}

// upperConflict reports whether a range of kind ending at end shares a
// granularity page with a conflicting upper entry, walking past KindAny
// and freed entries on that page (at most maxProbes; past that it answers
// yes, as place does).
func (l *linear) upperConflict(end uint64, kind Kind) bool {
	g := l.granularity
	if g <= 1 || kind == KindAny {
		return false
	}
	for i, steps := len(l.upper)-1, 0; i >= 0; i-- {
		e := &l.upper[i]
		if !samePage(end-1, e.offset, g) {
			return false
		}
		if (!e.free && conflicts(kind, e.kind)) || steps == maxProbes {
			return true
		}
		steps++
	}
	return false
}

// allocUpper places an allocation below the upper stack and above the
// lower entries.
func (l *linear) allocUpper(size, align uint64, kind Kind) (uint64, uint64, error) {
	if l.wrapped() {
		return 0, 0, ErrRingInUse
	}
	if len(l.upper) == maxNodes {
		return 0, 0, ErrNoSpace
	}
	low := uint64(0)
	if !l.empty() {
		low = l.at(l.head - 1).end()
	}
	g := l.granularity
	end := l.upperBottom()
	if l.upperConflict(end, kind) {
		end &^= g - 1
	}
	if end < size {
		return 0, 0, ErrNoSpace
	}
	off := (end - size) &^ (align - 1)
	if g > 1 && kind != KindAny {
		for s, steps := int64(l.head)-1, 0; s >= int64(l.tail); s-- {
			e := l.at(uint64(s))
			if !samePage(e.end()-1, off, g) {
				break
			}
			if (!e.free && conflicts(e.kind, kind)) || steps == maxProbes {
				off &^= g - 1
				break
			}
			steps++
		}
	}
	if off < low {
		return 0, 0, ErrNoSpace
	}
	l.stamp++
	l.upper = append(l.upper, lentry{offset: off, size: size, kind: kind, stamp: l.stamp})
	l.used += size
	l.count++
	return uint64(l.stamp)<<indexBits | uint64(len(l.upper)-1), off, nil
}
