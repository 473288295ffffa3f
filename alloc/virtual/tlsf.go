package virtual

import (
	"math/bits"
	"slices"
)

// TLSF (two-level segregated fit) over the offsets of one block.
//
// Free ranges live in 64×32 size classes: the first level is the position of
// the size's highest bit, the second the next 5 bits. Two bitmaps find the
// first non-empty class at or above a size in O(1). Nodes are kept in a slice
// and linked by index, both physically (address order, for coalescing) and
// within their class's free list.
//
// Search is strictly bounded: at most maxProbes candidates are looked at,
// whatever the size, the alignment and the number of free ranges. A request
// whose worst-case padded size has a non-empty class always succeeds on that
// class's first node; smaller candidates are only probed, never walked.
const (
	slBits    = 5
	slCount   = 1 << slBits
	flCount   = 64 - slBits + 1
	maxProbes = 4
	// none is the index of the sentinel, node 0: "no node" in every link.
	// Its state is never stateFree, and writes to its links are harmless,
	// so a link can be followed or written without testing it first.
	none = int32(0)
	// splitPad is the least trailing alignment padding that take files as
	// a free range of its own rather than carrying it in the allocation:
	// a 64 KiB-aligned image placed at the end of a range otherwise holds
	// up to 64 KiB that small buffers could use, until it is freed. Below
	// it, carrying the padding saves a node and a free-list insertion.
	splitPad = 4096
	// indexBits is the width of a node index in a handle; a block holds at
	// most maxNodes nodes (ranges, free or not), and the other bits of the
	// handle carry a 32-bit generation.
	indexBits = 24
	maxNodes  = 1 << indexBits
)

type nodeState uint8

const (
	stateUnused nodeState = iota // on the slot free list
	stateFree                    // a free range, in a size class
	stateUsed                    // an allocation
)

type node struct {
	offset, size       uint64 // size is the span: an allocation's size plus its padding
	prevPhys, nextPhys int32  // address-order neighbours
	prevFree, nextFree int32  // size-class list (free), or slot list (unused)
	// gen changes each time an allocation of this slot ends (32 bits: a
	// slot is reused 2^32 times before a generation comes back), so a
	// handle to an allocation that is gone no longer matches.
	gen uint32
	// tag is, for a free node, the size class it is filed under and, for
	// an allocation, its trailing alignment padding (< splitPad). A node
	// is never both, so the two share 16 bits and the node stays 40 bytes.
	tag   uint16
	state nodeState
	kind  Kind
}

// An allocation's padding is below splitPad and a class below
// flCount*slCount: both fit the node's uint16.
const _ = uint16(splitPad - 1)
const _ = uint16(flCount*slCount - 1)

func (n *node) end() uint64 { return n.offset + n.size }

type tlsf struct {
	size        uint64
	granularity uint64 // bufferImageGranularity; 1 when no kind conflicts matter

	// nodes, linked by index. Growth moves them: a *node is not kept
	// across newNode.
	nodes []node
	// aligns holds, by node index, log2 of each allocation's alignment:
	// what a defragmentation must keep when it moves one.
	aligns   []uint8
	unused   int32  // head of the unused-slot stack, linked by nextFree
	genBase  uint32 // the first generation of every slot (per block, for foreign handles)
	flBitmap uint64
	slBitmap [flCount]uint32
	heads    [flCount * slCount]int32

	used      uint64 // bytes in allocations
	count     int    // allocations
	freeCount int    // free ranges
}

func newTLSF(size, granularity uint64, genBase uint32) *tlsf {
	t := &tlsf{size: size, granularity: max(granularity, 1), unused: none, genBase: genBase}
	t.nodes = make([]node, 1, 64) // the sentinel; the heads are all none
	t.aligns = make([]uint8, 1, 64)
	root := t.newNode()
	n := t.n(root)
	*n = node{offset: 0, size: size, prevPhys: none, nextPhys: none, gen: genBase}
	t.insertFree(root, n)
	return t
}

// classOf is the size class a free range of s bytes is filed under:
// fl*slCount + sl, where fl is the first level (the highest bit) and sl the
// next slBits bits.
func classOf(s uint64) int {
	if s < slCount {
		return int(s)
	}
	f := bits.Len64(s) - 1
	// (f-slBits+1)*slCount + (s>>(f-slBits) - slCount), folded: the top
	// bit of s>>(f-slBits) is the slCount.
	return (f-slBits)*slCount + int(s>>(f-slBits))
}

// classUp is the first class whose every range is at least s bytes, or
// flCount*slCount when no class can hold s.
func classUp(s uint64) int {
	if s >= slCount {
		f := bits.Len64(s) - 1
		round := uint64(1)<<(f-slBits) - 1
		if s+round < s {
			return flCount * slCount
		}
		s += round
	}
	return classOf(s)
}

// firstClass is the first non-empty class at or above class c, or -1.
func (t *tlsf) firstClass(c int) int {
	fl, sl := c>>slBits, c&(slCount-1)
	if fl >= flCount {
		return -1
	}
	slMap := t.slBitmap[fl] & (^uint32(0) << sl)
	if slMap == 0 {
		flMap := t.flBitmap & (^uint64(0) << (fl + 1))
		if fl+1 >= 64 || flMap == 0 {
			return -1
		}
		fl = bits.TrailingZeros64(flMap)
		slMap = t.slBitmap[fl]
	}
	return fl*slCount + bits.TrailingZeros32(slMap)
}

// newNode returns an unused node slot; it may move the nodes. alloc has
// made sure that there is one below maxNodes.
func (t *tlsf) newNode() int32 {
	if i := t.unused; i != none {
		t.unused = t.nodes[i].nextFree
		return i
	}
	if len(t.nodes) == cap(t.nodes) {
		// Double, so that a block of n nodes has copied fewer than n in
		// all (append grows large slices by a quarter: more copies).
		t.nodes = slices.Grow(t.nodes, max(len(t.nodes), 64))
	}
	t.nodes = append(t.nodes, node{gen: t.genBase})
	t.aligns = append(t.aligns, 0)
	return int32(len(t.nodes) - 1)
}

// spareNodes reports whether the two nodes an allocation may need (take
// splits off a free range and adds the allocation's node) are there: below
// maxNodes or on the unused stack. Only asked near maxNodes.
func (t *tlsf) spareNodes() bool {
	need := 2 - (maxNodes - len(t.nodes))
	for i := t.unused; need > 0 && i != none; i = t.nodes[i].nextFree {
		need--
	}
	return need <= 0
}

// n is node i.
func (t *tlsf) n(i int32) *node { return &t.nodes[i] }

// releaseNode puts node i (n) on the unused-slot stack.
func (t *tlsf) releaseNode(i int32, n *node) {
	n.state = stateUnused
	n.gen++ // the handle that named an allocation here is now stale
	n.nextFree = t.unused
	t.unused = i
}

// insertFree files free node i (n) under its size's class.
func (t *tlsf) insertFree(i int32, n *node) { t.insertClass(i, n, classOf(n.size)) }

func (t *tlsf) insertClass(i int32, n *node, c int) {
	n.tag = uint16(c)
	n.state = stateFree
	n.prevFree = none
	h := t.heads[c]
	n.nextFree = h
	t.nodes[h].prevFree = i
	t.heads[c] = i
	fl := c >> slBits
	t.slBitmap[fl] |= 1 << (c & (slCount - 1))
	t.flBitmap |= 1 << fl
	t.freeCount++
}

// unlink takes free node n out of its class's list.
func (t *tlsf) unlink(n *node) {
	nodes := t.nodes // (in a register: the stores below cannot change it)
	prev, next := n.prevFree, n.nextFree
	nodes[next].prevFree = prev
	if prev != none {
		nodes[prev].nextFree = next
	} else {
		c := int(n.tag)
		t.heads[c] = n.nextFree
		if n.nextFree == none {
			fl := c >> slBits
			t.slBitmap[fl] &^= 1 << (c & (slCount - 1))
			if t.slBitmap[fl] == 0 {
				t.flBitmap &^= 1 << fl
			}
		}
	}
	t.freeCount--
}

// resized refiles free node i (n), whose size changed, if its class did.
// Most splits and merges keep the class: then no list is touched.
func (t *tlsf) resized(i int32, n *node) {
	if c := classOf(n.size); c != int(n.tag) {
		t.unlink(n)
		t.insertClass(i, n, c)
	}
}

// fit places an allocation at the end of free node n: the offset, or false.
// Taking the end leaves the front of the range free in the same node,
// usually in the same size class, so no list has to change.
// Without a granularity to respect, it is small enough to inline into the
// search; fitPaged is the case with one.
func fit(n *node, size, align uint64) (uint64, bool) {
	off := (n.end() - size) &^ (align - 1) // garbage when size > n.size, and then unused
	return off, size <= n.size && off >= n.offset
}

// fitPaged is fit with a granularity: the ranges sharing the first and the
// last page of the placement are checked for a conflicting kind. Ranges of
// KindAny (and free ones) between do not separate conflicting neighbours,
// so the check walks past them, at most maxProbes ranges each way; past
// that it assumes a conflict, which costs at most a page.
func (t *tlsf) fitPaged(n *node, size, align uint64, kind Kind) (uint64, bool) {
	if size > n.size {
		return 0, false
	}
	end := n.end()
	g := t.granularity
	steps := 0
	for q := n.nextPhys; q != none; q = t.n(q).nextPhys {
		next := t.n(q)
		if !samePage(end-1, next.offset, g) {
			break
		}
		if conflicts(kind, next.kind) || steps == maxProbes {
			end = end / g * g
			break
		}
		steps++
	}
	if end < n.offset+size {
		return 0, false
	}
	off := (end - size) &^ (align - 1)
	if off < n.offset {
		return 0, false
	}
	steps = 0
	for p := n.prevPhys; p != none; p = t.n(p).prevPhys {
		prev := t.n(p)
		if !samePage(prev.end()-1, off, g) {
			break
		}
		if conflicts(prev.kind, kind) || steps == maxProbes {
			return 0, false
		}
		steps++
	}
	return off, true
}

// worstCase is the free range size that fits any placement of the request.
func (t *tlsf) worstCase(size, align uint64, paged bool) uint64 {
	pad := align - 1
	if paged {
		pad += 2 * (t.granularity - 1)
	}
	if size+pad < size {
		return ^uint64(0)
	}
	return size + pad
}

// alloc finds and takes a range. It returns the allocation's reference
// (its node's generation and index) and offset, or ok=false when no free
// range can hold the request (or the block has maxNodes nodes).
//
// It looks at three classes in turn, at most 4+4+1 nodes in all:
//
//  1. tight fit: the class size itself falls in, which holds ranges both
//     smaller and larger than size: one that holds it is the closest fit
//     there is, within 1/32;
//  2. good fit: the first class whose ranges all hold size bytes; its first
//     nodes may still miss once aligned;
//  3. guaranteed fit: the first class whose ranges hold any padding; its
//     first node always fits.
//
// Trying the tight fit first, rather than last, leaves the larger ranges
// to larger requests: on random traces (trace.RandomWith, four seeds and
// three live targets) it refuses 3,692 allocations where trying it last
// refused 4,015 and an exhaustive best fit with the same placement refuses
// 3,741 (TestRefusalsAgainstBestFit).
func (t *tlsf) alloc(size, align uint64, kind Kind) (ref, offset uint64, ok bool) {
	if size > t.size-t.used || len(t.nodes) > maxNodes-2 && !t.spareNodes() {
		return 0, 0, false
	}
	paged := t.granularity > 1 && kind != KindAny
	for step := range 3 {
		c, probes := -1, maxProbes
		switch step {
		case 0:
			c = classOf(size)
		case 1:
			c = t.firstClass(classUp(size))
		case 2:
			if w := t.worstCase(size, align, paged); w != ^uint64(0) {
				c, probes = t.firstClass(classUp(w)), 1
			}
		}
		if c < 0 {
			continue
		}
		i := t.heads[c]
		for p := 0; p < probes && i != none; p++ {
			n := t.n(i)
			off, ok := fit(n, size, align)
			if paged {
				off, ok = t.fitPaged(n, size, align, kind)
			}
			if ok {
				ref := t.take(i, off, size, kind)
				t.aligns[ref&(maxNodes-1)] = uint8(bits.TrailingZeros64(align))
				return ref, off, true
			}
			i = n.nextFree
		}
	}
	return 0, 0, false
}

// take turns [off, end of free node i) into an allocation of size bytes;
// what lies between off+size and the end is its padding. The front of the
// range, if any, stays free in node i. It returns the allocation's
// reference.
func (t *tlsf) take(i int32, off, size uint64, kind Kind) uint64 {
	span := t.n(i).end() - off
	if span-size >= splitPad { // too much to carry as padding: file it as free
		t.split(i, off+size)
		span = size
	}
	u := i
	var un *node
	if n := t.n(i); off == n.offset {
		t.unlink(n)
		un = n
	} else {
		u = t.newNode()
		n = t.n(i) // newNode may have moved it
		un = t.n(u)
		un.offset, un.size = off, span
		un.prevPhys, un.nextPhys = i, n.nextPhys
		t.n(n.nextPhys).prevPhys = u
		n.nextPhys = u
		n.size = off - n.offset
		t.resized(i, n)
	}
	un.state = stateUsed
	un.kind = kind
	un.tag = uint16(span - size) // the padding
	t.used += size
	t.count++
	return uint64(un.gen)<<indexBits | uint64(u)
}

// split cuts free node i at, filing [at, end) as a new free node.
func (t *tlsf) split(i int32, at uint64) {
	f := t.newNode() // first: it may move the nodes
	n, fn := t.n(i), t.n(f)
	fn.offset, fn.size = at, n.end()-at
	fn.prevPhys, fn.nextPhys = i, n.nextPhys
	fn.kind = KindAny
	t.n(n.nextPhys).prevPhys = f
	n.nextPhys = f
	n.size = at - n.offset
	t.resized(i, n)
	t.insertFree(f, fn)
}

// free returns allocation i, merging it into free neighbours. A merge keeps
// the neighbour's node, whose class usually does not change.
func (t *tlsf) free(i int32) {
	nodes := t.nodes // (in a register: nothing here grows it)
	n := &nodes[i]
	t.used -= n.size - uint64(n.tag) // (tag: the padding)
	t.count--
	n.kind = KindAny
	p, q := n.prevPhys, n.nextPhys
	var prev, next *node
	if pn := &nodes[p]; pn.state == stateFree {
		prev = pn
	}
	if qn := &nodes[q]; qn.state == stateFree {
		next = qn
	}
	switch {
	case prev != nil:
		prev.size += n.size
		prev.nextPhys = q
		nodes[q].prevPhys = p
		t.releaseNode(i, n)
		if next != nil {
			t.unlink(next)
			prev.size += next.size
			prev.nextPhys = next.nextPhys
			nodes[next.nextPhys].prevPhys = p
			t.releaseNode(q, next)
		}
		t.resized(p, prev)
	case next != nil:
		next.offset = n.offset
		next.size += n.size
		next.prevPhys = p
		nodes[p].nextPhys = q
		t.releaseNode(i, n)
		t.resized(q, next)
	default:
		n.gen++ // the handle that named this allocation is now stale
		t.insertFree(i, n)
	}
}

// freeRef frees the allocation ref names, if it is live: the checked free
// path in one node lookup.
func (t *tlsf) freeRef(ref uint64) bool {
	i := uint32(ref) & (maxNodes - 1)
	if i >= uint32(len(t.nodes)) {
		return false
	}
	if n := &t.nodes[i]; n.state != stateUsed || n.gen != uint32(ref>>indexBits) {
		return false
	}
	t.free(int32(i))
	return true
}

// lookup checks a reference's node index and generation.
func (t *tlsf) lookup(ref uint64) (int32, bool) {
	i := uint32(ref) & (maxNodes - 1)
	if i >= uint32(len(t.nodes)) || ref>>(indexBits+32) != 0 {
		return none, false
	}
	n := t.n(int32(i))
	return int32(i), n.state == stateUsed && n.gen == uint32(ref>>indexBits)
}

// largestFree is the size of the largest free range (0 when full).
func (t *tlsf) largestFree() uint64 {
	if t.flBitmap == 0 {
		return 0
	}
	fl := 63 - bits.LeadingZeros64(t.flBitmap)
	sl := 31 - bits.LeadingZeros32(t.slBitmap[fl])
	var largest uint64
	for i := t.heads[fl*slCount+sl]; i != none; i = t.n(i).nextFree {
		largest = max(largest, t.n(i).size)
	}
	return largest
}

// walk calls f for every range in address order, free or not. An
// allocation's padding is reported as a free range after it.
func (t *tlsf) walk(f func(Range)) {
	// The first range is the one with no physical predecessor; find it from
	// any node by walking back (at most once per call).
	i := int32(0)
	for t.n(i).state == stateUnused {
		i++
	}
	for t.n(i).prevPhys != none {
		i = t.n(i).prevPhys
	}
	for ; i != none; i = t.n(i).nextPhys {
		n := t.n(i)
		if pad := uint64(n.tag); n.state == stateUsed && pad > 0 {
			f(Range{Offset: n.offset, Size: n.size - pad, Kind: n.kind})
			f(Range{Offset: n.end() - pad, Size: pad, Free: true, Padding: true})
			continue
		}
		f(Range{Offset: n.offset, Size: n.size, Free: n.state == stateFree, Kind: n.kind})
	}
}

func alignUp(v, a uint64) uint64 { return (v + a - 1) &^ (a - 1) }

func samePage(a, b, page uint64) bool { return a/page == b/page }
