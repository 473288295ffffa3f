package virtual

// linear allocates in order, like VMA's linear algorithm: each allocation
// goes after the newest one, wrapping to the start of the block when the end
// is reached and the oldest allocations there are gone. Space comes back when
// the oldest allocations are freed (a ring: per-frame data, staging) or the
// newest (a stack); a range freed in the middle is reclaimed once the ranges
// between it and either end are freed too.
//
// Allocations are kept in a deque in allocation order; a reference is the
// low indexBits bits of the allocation's sequence number (the deque holds
// at most maxNodes entries, so they name one) and the allocation's 32-bit
// stamp, so Free is O(1) and reclaiming is amortised O(1). Sequence numbers
// are reused when a stack's newest entries are freed; stamps are not (for
// 2^32 allocations), so a stale reference is refused.
type linear struct {
	size        uint64
	granularity uint64

	entries    []lentry // circular, len is a power of two
	tail, head uint64   // sequence numbers: live entries are [tail, head)
	used       uint64
	count      int    // live (not freed) entries
	stamp      uint32 // the last allocation's stamp

	// upper is the second stack of a double stack (allocUpper): entries
	// from the block's end downwards, in allocation order, so upper[0] is
	// the highest. A freed entry stays until those allocated after it are
	// freed too. It is empty while the lower entries wrap (a ring), and
	// they do not wrap while it is not.
	upper []lentry
}

type lentry struct {
	offset, size uint64
	stamp        uint32
	free         bool
	kind         Kind
}

func (e *lentry) end() uint64 { return e.offset + e.size }

func newLinear(size, granularity uint64, stamp uint32) *linear {
	return &linear{size: size, granularity: max(granularity, 1), entries: make([]lentry, 16), stamp: stamp}
}

func (l *linear) at(seq uint64) *lentry { return &l.entries[seq&uint64(len(l.entries)-1)] }

func (l *linear) empty() bool { return l.head == l.tail }

// wrapped reports whether the newest entries sit below the oldest.
func (l *linear) wrapped() bool {
	return !l.empty() && l.at(l.head-1).offset < l.at(l.tail).offset
}

// place tries [off, off+size) after the entry prev (a sequence number, or
// none for the block start) and below limit, where next (or none) begins.
// Like TLSF's fit, the granularity check walks past KindAny and freed
// entries sharing the page, at most maxProbes of them.
func (l *linear) place(off, size, align, limit uint64, prev, next int64, kind Kind) (uint64, bool) {
	off = alignUp(off, align)
	g := l.granularity
	check := g > 1 && kind != KindAny
	if check {
		for s, steps := prev, 0; s >= int64(l.tail); s-- {
			e := l.at(uint64(s))
			if e.offset > off || !samePage(e.end()-1, off, g) {
				break
			}
			if (!e.free && conflicts(e.kind, kind)) || steps == maxProbes {
				off = alignUp(off, g)
				break
			}
			steps++
		}
	}
	end := off + size
	if end < off || end > limit {
		return 0, false
	}
	if check {
		for s, steps := next, 0; s >= 0 && s < int64(l.head); s++ {
			e := l.at(uint64(s))
			if e.offset < end || !samePage(end-1, e.offset, g) {
				break
			}
			if (!e.free && conflicts(kind, e.kind)) || steps == maxProbes {
				return 0, false
			}
			steps++
		}
	}
	return off, true
}

func (l *linear) alloc(size, align uint64, kind Kind) (uint64, uint64, bool) {
	var off uint64
	var ok bool
	newest, oldest := int64(l.head)-1, int64(l.tail)
	top := l.upperBottom()
	switch {
	case l.empty():
		off, ok = l.place(0, size, align, top, -1, -1, kind)
	case l.wrapped():
		off, ok = l.place(l.at(l.head-1).end(), size, align, l.at(l.tail).offset, newest, oldest, kind)
	default:
		if off, ok = l.place(l.at(l.head-1).end(), size, align, top, newest, -1, kind); !ok && len(l.upper) == 0 {
			off, ok = l.place(0, size, align, l.at(l.tail).offset, -1, oldest, kind)
		}
	}
	if ok && len(l.upper) > 0 && l.upperConflict(off+size, kind) {
		ok = false
	}
	if !ok || l.head-l.tail == maxNodes {
		return 0, 0, false
	}
	if l.head-l.tail == uint64(len(l.entries)) {
		l.grow()
	}
	l.stamp++
	*l.at(l.head) = lentry{offset: off, size: size, kind: kind, stamp: l.stamp}
	seq := l.head
	l.head++
	l.used += size
	l.count++
	return uint64(l.stamp)<<indexBits | seq&(maxNodes-1), off, true
}

// entry is the live entry ref names, or nil; upper says it is one of
// the upper stack's. Stamps are unique (for 2^32 allocations), so at most
// one of the two stacks holds ref's.
func (l *linear) entry(ref uint64) (e *lentry, upper bool) {
	if ref>>(indexBits+32) != 0 {
		return nil, false
	}
	stamp := uint32(ref >> indexBits)
	// The one sequence number in [tail, tail+maxNodes) with ref's low bits.
	if seq := l.tail + (ref-l.tail)&(maxNodes-1); seq < l.head {
		if e := l.at(seq); !e.free && e.stamp == stamp {
			return e, false
		}
	}
	if i := ref & (maxNodes - 1); i < uint64(len(l.upper)) {
		if e := &l.upper[i]; !e.free && e.stamp == stamp {
			return e, true
		}
	}
	return nil, false
}

func (l *linear) grow() {
	next := make([]lentry, 2*len(l.entries))
	for s := l.tail; s != l.head; s++ {
		next[s&uint64(len(next)-1)] = *l.at(s)
	}
	l.entries = next
}

func (l *linear) check(ref uint64) (uint64, uint64, bool) {
	e, _ := l.entry(ref)
	if e == nil {
		return 0, 0, false
	}
	return e.offset, e.size, true
}

// free frees the entry ref names; check has accepted ref.
func (l *linear) free(ref uint64) {
	e, upper := l.entry(ref)
	e.free = true
	l.used -= e.size
	l.count--
	if upper {
		for len(l.upper) > 0 && l.upper[len(l.upper)-1].free {
			l.upper = l.upper[:len(l.upper)-1]
		}
		return
	}
	for !l.empty() && l.at(l.tail).free {
		l.tail++
	}
	for !l.empty() && l.at(l.head-1).free {
		l.head--
	}
}

func (l *linear) usage() (uint64, int) { return l.used, l.count }

func (l *linear) stats() blockStats {
	s := blockStats{size: l.size, used: l.used, allocations: l.count, unusedRanges: l.size - l.used}
	l.walk(func(r Range) {
		if r.Free {
			s.freeRanges++
		}
	})
	switch {
	case l.empty():
		s.largestFree = l.upperBottom()
	case l.wrapped():
		s.largestFree = l.at(l.tail).offset - l.at(l.head-1).end()
	default:
		s.largestFree = max(l.upperBottom()-l.at(l.head-1).end(), l.at(l.tail).offset)
	}
	return s
}

// walk reports ranges in address order: entries (freed ones as free ranges)
// and the gaps between them.
func (l *linear) walk(f func(Range)) {
	pos := uint64(0)
	emit := func(e *lentry) {
		if e.offset > pos {
			f(Range{Offset: pos, Size: e.offset - pos, Free: true})
		}
		f(Range{Offset: e.offset, Size: e.size, Free: e.free, Kind: e.kind})
		pos = e.end()
	}
	if l.wrapped() {
		// In address order a wrapped deque starts at its first low entry.
		first := l.tail + 1
		for l.at(first).offset >= l.at(l.tail).offset {
			first++
		}
		for s := first; s != l.head; s++ {
			emit(l.at(s))
		}
		for s := l.tail; s != first; s++ {
			emit(l.at(s))
		}
	} else {
		for s := l.tail; s != l.head; s++ {
			emit(l.at(s))
		}
		for i := len(l.upper) - 1; i >= 0; i-- {
			emit(&l.upper[i])
		}
	}
	if pos < l.size {
		f(Range{Offset: pos, Size: l.size - pos, Free: true})
	}
}
