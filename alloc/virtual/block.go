package virtual

import (
	"errors"
	"fmt"
	"sync/atomic"
)

// Kind says what a range will hold, for bufferImageGranularity: linear
// resources (buffers, linear images) and optimal-tiling images must not share
// a granularity page. KindAny ranges never conflict.
type Kind uint8

// Kinds.
const (
	KindAny     Kind = iota // no granularity concern (virtual use)
	KindLinear              // a buffer or a linear-tiling image
	KindOptimal             // an optimal-tiling image
)

func (k Kind) String() string {
	switch k {
	case KindLinear:
		return "linear"
	case KindOptimal:
		return "optimal"
	}
	return "any"
}

func conflicts(a, b Kind) bool { return a != b && a != KindAny && b != KindAny }

// Algorithm is the sub-allocation algorithm of a block.
type Algorithm uint8

// Algorithms.
const (
	// AlgorithmTLSF is the general-purpose two-level segregated fit.
	AlgorithmTLSF Algorithm = iota
	// AlgorithmLinear allocates in order and reclaims space freed at either
	// end: a stack (free the newest first) or a ring (free the oldest first),
	// for staging and per-frame data.
	AlgorithmLinear
)

func (a Algorithm) String() string {
	if a == AlgorithmLinear {
		return "Linear"
	}
	return "TLSF"
}

// Errors of the sub-allocator. Each is returned wrapped with the values
// that were wrong; the block is unchanged.
var (
	ErrZeroSize         = errors.New("virtual: size is zero")
	ErrBadAlignment     = errors.New("virtual: alignment is not a power of two")
	ErrNoSpace          = errors.New("virtual: no free range large enough")
	ErrInvalidFree      = errors.New("virtual: allocation is not live in this block (double free or stale handle)")
	ErrForeignFree      = errors.New("virtual: allocation belongs to another block")
	ErrBlockSize        = errors.New("virtual: block size is zero")
	ErrBadGranularity   = errors.New("virtual: granularity is not a power of two")
	ErrUnknownAlgorithm = errors.New("virtual: unknown algorithm")
)

// metadata is what a block's sub-allocator does; TLSF and linear implement it.
type metadata interface {
	alloc(size, align uint64, kind Kind) (ref uint64, offset uint64, ok bool)
	// check validates ref and returns the allocation's offset and size.
	check(ref uint64) (offset, size uint64, ok bool)
	free(ref uint64)
	// usage is cheap: it is asked on every free.
	usage() (used uint64, allocations int)
	stats() blockStats
	walk(f func(r Range))
}

type blockStats struct {
	size, used   uint64
	allocations  int
	freeRanges   int
	largestFree  uint64
	unusedRanges uint64 // bytes in free ranges
}

// tlsf as metadata: ref is the node index and generation.

func (t *tlsf) checkRef(ref uint64) (uint64, uint64, bool) {
	i, ok := t.lookup(ref)
	if !ok {
		return 0, 0, false
	}
	n := t.n(i)
	return n.offset, n.size - uint64(n.tag), true // (tag: the padding)
}

type tlsfMeta struct{ *tlsf }

func (m tlsfMeta) alloc(size, align uint64, kind Kind) (uint64, uint64, bool) {
	return m.tlsf.alloc(size, align, kind)
}
func (m tlsfMeta) check(ref uint64) (uint64, uint64, bool) { return m.checkRef(ref) }
func (m tlsfMeta) free(ref uint64)                         { m.tlsf.free(int32(ref & (maxNodes - 1))) }
func (m tlsfMeta) usage() (uint64, int)                    { return m.used, m.count }
func (m tlsfMeta) stats() blockStats {
	return blockStats{size: m.size, used: m.used, allocations: m.count, freeRanges: m.freeCount,
		largestFree: m.largestFree(), unusedRanges: m.size - m.used}
}

var blockSerials atomic.Uint32

// nextBlockID numbers a new block: an 8-bit id for its handles (never 0,
// so that no handle is 0) and the first generation of its slots. The
// generations of blocks whose ids are equal start far apart (the serial
// times 2^32/φ), so that another block's handle is refused by its
// generation when the id does not tell them apart.
func nextBlockID() (id uint8, genBase uint32) {
	for {
		s := blockSerials.Add(1)
		if id := uint8(s); id != 0 {
			return id, s * 0x9e3779b9
		}
	}
}

// Options configure New.
type Options struct {
	Size      uint64
	Algorithm Algorithm
	// Granularity, when above 1, keeps KindLinear and KindOptimal ranges
	// off each other's pages (bufferImageGranularity).
	Granularity uint64
}

// Block allocates ranges of an abstract space of Size bytes, without
// any memory behind it: VMA's Block. It is what the device allocator
// runs on each VkDeviceMemory block.
//
// A Block is not safe for concurrent use.
type Block struct {
	meta metadata
	tlsf *tlsf // meta's TLSF, when it is one: the hot path skips the interface
	size uint64
	id   uint8
	algo Algorithm
}

// Handle layout: the block's 8-bit id, then the metadata's 56-bit
// reference (TLSF: a 32-bit generation and a 24-bit node index; linear: a
// 32-bit stamp and the low 24 bits of a sequence number).
const (
	refBits = 56
	refMask = 1<<refBits - 1
)

// Allocation is a range of a Block. The zero value is no
// allocation.
type Allocation struct {
	Offset, Size uint64
	handle       uint64 // block id (8) | metadata ref (56)
}

// IsZero reports whether a is the zero Allocation.
func (a Allocation) IsZero() bool { return a.handle == 0 }

// Handle is the allocation's handle alone, for callers that keep offsets
// and sizes in tables of their own; FreeHandle takes it back.
func (a Allocation) Handle() uint64 { return a.handle }

// FreeHandle frees the allocation a Handle names. Like Free, a stale handle
// or another block's is an error that changes nothing.
func (b *Block) FreeHandle(h uint64) error {
	if b.tlsf != nil && h != 0 && uint8(h>>refBits) == b.id && b.tlsf.freeRef(h&refMask) {
		return nil // the common case: a live TLSF allocation, checked and freed in one lookup
	}
	ref, err := b.ref(h, nil) // anything else: the checks again, for the error
	if err != nil {
		return err
	}
	b.release(ref)
	return nil
}

// New creates a block.
func New(opts Options) (*Block, error) {
	if opts.Size == 0 {
		return nil, ErrBlockSize
	}
	g := max(opts.Granularity, 1)
	if g&(g-1) != 0 {
		return nil, fmt.Errorf("%w: %d", ErrBadGranularity, g)
	}
	if opts.Algorithm > AlgorithmLinear {
		return nil, fmt.Errorf("%w: %d", ErrUnknownAlgorithm, opts.Algorithm)
	}
	id, genBase := nextBlockID()
	b := &Block{size: opts.Size, id: id, algo: opts.Algorithm}
	switch opts.Algorithm {
	case AlgorithmTLSF:
		b.tlsf = newTLSF(opts.Size, g, genBase)
		b.meta = tlsfMeta{b.tlsf}
	case AlgorithmLinear:
		b.meta = newLinear(opts.Size, g, genBase)
	}
	return b, nil
}

// CheckRequest validates a size and an alignment (0 means 1) and returns
// the alignment to use.
func CheckRequest(size, align uint64) (uint64, error) {
	if size == 0 || align&(align-1) != 0 { // (align 0 passes: 0&(0-1) is 0)
		return 0, badRequest(size, align)
	}
	return max(align, 1), nil
}

// badRequest is CheckRequest's error, out of line so that the check inlines.
func badRequest(size, align uint64) error {
	if size == 0 {
		return ErrZeroSize
	}
	return fmt.Errorf("%w: %d", ErrBadAlignment, align)
}

// Allocate reserves size bytes at an offset that is a multiple of align (0
// means 1), kept off conflicting kinds' granularity pages. ErrNoSpace when
// no free range holds it.
func (b *Block) Allocate(size, align uint64, kind Kind) (Allocation, error) {
	align, err := CheckRequest(size, align)
	if err != nil {
		return Allocation{}, err
	}
	var ref, off uint64
	var ok bool
	if b.tlsf != nil { // the common case, called directly so it can inline
		ref, off, ok = b.tlsf.alloc(size, align, kind)
	} else {
		ref, off, ok = b.meta.alloc(size, align, kind)
	}
	if !ok {
		return Allocation{}, ErrNoSpace
	}
	return Allocation{Offset: off, Size: size, handle: uint64(b.id)<<refBits | ref}, nil
}

// Check reports whether a is a live allocation of this block: nil, or the
// error Free would return. It changes nothing.
func (b *Block) Check(a Allocation) error {
	_, err := b.ref(a.handle, &a)
	return err
}

// Free returns an allocation. A double free, a stale handle or another
// block's allocation is an error and changes nothing. A handle stays
// refused until its node has been reused 2^32 times.
func (b *Block) Free(a Allocation) error {
	ref, err := b.ref(a.handle, &a)
	if err != nil {
		return err
	}
	b.release(ref)
	return nil
}

func (b *Block) release(ref uint64) {
	if b.tlsf != nil {
		b.tlsf.free(int32(ref & (maxNodes - 1)))
	} else {
		b.meta.free(ref)
	}
}

// ref checks handle h (and, when a is not nil, that a's offset and size
// are the allocation's) and returns the metadata's reference.
func (b *Block) ref(h uint64, a *Allocation) (uint64, error) {
	if h == 0 {
		return 0, fmt.Errorf("%w: zero Allocation", ErrInvalidFree)
	}
	if id := uint8(h >> refBits); id != b.id {
		return 0, fmt.Errorf("%w: block %d, not %d", ErrForeignFree, id, b.id)
	}
	ref := h & refMask
	var off, size uint64
	var ok bool
	if b.tlsf != nil {
		off, size, ok = b.tlsf.checkRef(ref)
	} else {
		off, size, ok = b.meta.check(ref)
	}
	if !ok {
		return 0, fmt.Errorf("%w: handle %#x", ErrInvalidFree, h)
	}
	if a != nil && (off != a.Offset || size != a.Size) {
		return 0, fmt.Errorf("%w: offset %d, size %d", ErrInvalidFree, a.Offset, a.Size)
	}
	return ref, nil
}

// Size is the block's size in bytes.
func (b *Block) Size() uint64 { return b.size }

// Algorithm is the block's algorithm.
func (b *Block) Algorithm() Algorithm { return b.algo }

// Used is the number of bytes allocated.
func (b *Block) Used() uint64 {
	u, _ := b.meta.usage()
	return u
}

// IsEmpty reports whether nothing is allocated.
func (b *Block) IsEmpty() bool {
	_, n := b.meta.usage()
	return n == 0
}

// Stats summarise a block.
type Stats struct {
	Size        uint64
	Used        uint64
	Allocations int
	FreeRanges  int
	LargestFree uint64
}

// Stats returns a snapshot.
func (b *Block) Stats() Stats {
	s := b.meta.stats()
	return Stats{Size: s.size, Used: s.used, Allocations: s.allocations, FreeRanges: s.freeRanges, LargestFree: s.largestFree}
}

// Range is one range of a block, allocated or free.
type Range struct {
	Offset, Size uint64
	Free         bool
	Kind         Kind
	// Padding marks a free range that is an allocation's alignment
	// padding: it comes back when that allocation is freed.
	Padding bool
}

// Walk calls f for every range, in address order.
func (b *Block) Walk(f func(Range)) { b.meta.walk(f) }
