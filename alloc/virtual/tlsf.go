package virtual

import (
	"math/bits"
	"slices"
)

// TLSF (two-level segregated fit) over the offsets of one block, searched
// as an exact best fit.
//
// Free ranges live in 64×32 size classes: the first level is the position of
// the size's highest bit, the second the next 5 bits. Two bitmaps find the
// first non-empty class at or above a size in O(1). Within a class the free
// ranges form a treap (a binary search tree that is a heap of priorities
// hashed from the node indices, so expected O(log n) deep) ordered by
// (size, offset). Nodes are kept in a slice and linked by index, both
// physically (address order, for coalescing) and in their class's tree.
//
// An allocation takes the smallest free range that holds it once aligned,
// the lowest offset among equal sizes: the range an exhaustive best fit
// over the free ranges sorted by (size, offset) would choose
// (trace.BestFitAtEnd), found in O(log n). Candidates too small once
// aligned are passed over in order, at most maxMisses of them; then the
// search jumps to the first range of at least the worst-case padded size,
// which always fits (a cut: counted in tlsf.cuts, 0 on the project's random
// traces). The allocation goes at the aligned end of the range; what is
// left in front and behind stays free, as two ranges.
const (
	slBits    = 5
	slCount   = 1 << slBits
	flCount   = 64 - slBits + 1
	maxProbes = 4
	// maxMisses is how many candidates too small once aligned the search
	// passes over, in (size, offset) order, before it jumps to a range that
	// holds any padding.
	maxMisses = 8
	// none is the index of the sentinel, node 0: "no node" in every link.
	// Its state is never stateFree, and writes to its physical links are
	// harmless, so such a link can be followed or written without testing
	// it first. No tree links to it but as "no child".
	none = int32(0)
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
	offset, size       uint64
	prevPhys, nextPhys int32 // address-order neighbours
	// left and right are a free node's children in its class's tree;
	// right links an unused slot to the next one.
	left, right int32
	// gen changes each time an allocation of this slot ends (32 bits: a
	// slot is reused 2^32 times before a generation comes back), so a
	// handle to an allocation that is gone no longer matches.
	gen uint32
	// class is, for a free node, the size class it is filed under.
	class uint16
	state nodeState
	kind  Kind
}

// A class fits the node's uint16.
const _ = uint16(flCount*slCount - 1)

// prio is node i's priority in its class's treap: a bijective hash of the
// index (lowbias32), so that priorities are distinct and independent of
// the ranges' sizes and offsets.
func prio(i int32) uint32 {
	x := uint32(i)
	x ^= x >> 16
	x *= 0x7feb352d
	x ^= x >> 15
	x *= 0x846ca68b
	x ^= x >> 16
	return x
}

// before reports whether free range a comes before b in (size, offset)
// order.
func before(a, b *node) bool {
	return a.size < b.size || a.size == b.size && a.offset < b.offset
}

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
	unused   int32  // head of the unused-slot stack, linked by right
	genBase  uint32 // the first generation of every slot (per block, for foreign handles)
	flBitmap uint64
	slBitmap [flCount]uint32
	roots    [flCount * slCount]int32 // each class's tree

	used      uint64 // bytes in allocations
	count     int    // allocations
	freeCount int    // free ranges
	// cuts counts the searches that passed over maxMisses candidates and
	// jumped, maybe past a smaller range that fitted: where the search may
	// part from an exact best fit (tests read it).
	cuts uint64
}

func newTLSF(size, granularity uint64, genBase uint32) *tlsf {
	t := &tlsf{size: size, granularity: max(granularity, 1), unused: none, genBase: genBase}
	t.nodes = make([]node, 1, 64) // the sentinel; the roots are all none
	t.aligns = make([]uint8, 1, 64)
	root := t.newNode()
	n := t.n(root)
	*n = node{offset: 0, size: size, prevPhys: none, nextPhys: none, gen: genBase}
	t.insertFree(root)
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
		t.unused = t.nodes[i].right
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
// adds the allocation's node and one for the rest of the range) are there:
// below maxNodes or on the unused stack. Only asked near maxNodes.
func (t *tlsf) spareNodes() bool {
	need := 2 - (maxNodes - len(t.nodes))
	for i := t.unused; need > 0 && i != none; i = t.nodes[i].right {
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
	n.right = t.unused
	t.unused = i
}

// insertFree files node i, a free range, in its size's class: a treap
// insertion, O(log n) expected. Its links are all rewritten.
func (t *tlsf) insertFree(i int32) {
	nodes := t.nodes // (in a register: nothing here grows it)
	n := &nodes[i]
	c := classOf(n.size)
	n.class = uint16(c)
	n.state = stateFree
	p := prio(i)
	// Down to where i's priority puts it ...
	link := &t.roots[c]
	for x := *link; x != none && prio(x) > p; x = *link {
		if before(n, &nodes[x]) {
			link = &nodes[x].left
		} else {
			link = &nodes[x].right
		}
	}
	// ... and split the subtree there around i.
	x := *link
	*link = i
	l, r := &n.left, &n.right
	for x != none {
		xn := &nodes[x]
		if before(xn, n) {
			*l = x
			l = &xn.right
			x = xn.right
		} else {
			*r = x
			r = &xn.left
			x = xn.left
		}
	}
	*l, *r = none, none
	fl := c >> slBits
	t.slBitmap[fl] |= 1 << (c & (slCount - 1))
	t.flBitmap |= 1 << fl
	t.freeCount++
}

// unlink takes free node i out of its class's tree. The node's size and
// offset must be those it was filed with: a free range is unlinked before
// it changes.
func (t *tlsf) unlink(i int32) {
	nodes := t.nodes
	n := &nodes[i]
	c := int(n.class)
	link := &t.roots[c]
	for x := *link; x != i; x = *link {
		if x == none {
			panic("virtual: a free range is missing from its size class")
		}
		if before(n, &nodes[x]) {
			link = &nodes[x].left
		} else {
			link = &nodes[x].right
		}
	}
	// Merge i's subtrees in its place.
	a, b := n.left, n.right
	for a != none && b != none {
		if prio(a) > prio(b) {
			*link = a
			link = &nodes[a].right
			a = nodes[a].right
		} else {
			*link = b
			link = &nodes[b].left
			b = nodes[b].left
		}
	}
	*link = a | b // (one of them is none, 0)
	if t.roots[c] == none {
		fl := c >> slBits
		t.slBitmap[fl] &^= 1 << (c & (slCount - 1))
		if t.slBitmap[fl] == 0 {
			t.flBitmap &^= 1 << fl
		}
	}
	t.freeCount--
}

// ceil is the first free range of class c at or after (size, off) in
// (size, offset) order, or none.
func (t *tlsf) ceil(c int, size, off uint64) int32 {
	nodes := t.nodes
	best := none
	for x := t.roots[c]; x != none; {
		xn := &nodes[x]
		if xn.size > size || xn.size == size && xn.offset >= off {
			best = x
			x = xn.left
		} else {
			x = xn.right
		}
	}
	return best
}

// atLeast is the first free range at or after (size, off) in (size,
// offset) order, over all classes, or none.
func (t *tlsf) atLeast(size, off uint64) int32 {
	c := classOf(size)
	if i := t.ceil(c, size, off); i != none {
		return i
	}
	if c = t.firstClass(c + 1); c < 0 {
		return none
	}
	i := t.roots[c]
	for l := t.nodes[i].left; l != none; l = t.nodes[i].left {
		i = l
	}
	return i
}

// fit places an allocation at the end of free node n: the offset, or false.
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
// It is a best fit: the candidates are the free ranges of at least size
// bytes in (size, offset) order, from the smallest, and the first that
// holds the request once aligned (and kept off conflicting pages) is
// taken. Past maxMisses candidates that do not, it jumps to the first
// range of at least the worst-case padded size, whose every placement
// fits: O(log n) in all, whatever the alignment.
func (t *tlsf) alloc(size, align uint64, kind Kind) (ref, offset uint64, ok bool) {
	if size > t.size-t.used || len(t.nodes) > maxNodes-2 && !t.spareNodes() {
		return 0, 0, false
	}
	paged := t.granularity > 1 && kind != KindAny
	i := t.atLeast(size, 0)
	for miss := 0; i != none; miss++ {
		if miss == maxMisses {
			w := t.worstCase(size, align, paged)
			if w == ^uint64(0) {
				return 0, 0, false
			}
			if n := t.n(i); n.size < w {
				t.cuts++
				if i = t.atLeast(w, 0); i == none {
					return 0, 0, false
				}
			}
		}
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
		if miss >= maxMisses { // the worst-case range did not fit: cannot happen
			return 0, 0, false
		}
		i = t.atLeast(n.size, n.offset+1)
	}
	return 0, 0, false
}

// take turns [off, off+size) of free node i into an allocation. What lies
// in front of it stays free in node i, what lies behind becomes a free
// node of its own. It returns the allocation's reference.
func (t *tlsf) take(i int32, off, size uint64, kind Kind) uint64 {
	t.unlink(i)
	n := t.n(i)
	start, end := n.offset, n.end()
	if off+size < end {
		f := t.newNode() // first: it may move the nodes
		n = t.n(i)
		fn := t.n(f)
		fn.offset, fn.size = off+size, end-off-size
		fn.prevPhys, fn.nextPhys = i, n.nextPhys
		fn.kind = KindAny
		t.n(n.nextPhys).prevPhys = f
		n.nextPhys = f
		n.size = off + size - start
		t.insertFree(f)
	}
	u := i
	if off > start {
		u = t.newNode()
		n = t.n(i)
		un := t.n(u)
		un.offset, un.size = off, size
		un.prevPhys, un.nextPhys = i, n.nextPhys
		t.n(n.nextPhys).prevPhys = u
		n.nextPhys = u
		n.size = off - start
		t.insertFree(i)
	}
	un := t.n(u)
	un.state = stateUsed
	un.kind = kind
	t.used += size
	t.count++
	return uint64(un.gen)<<indexBits | uint64(u)
}

// free returns allocation i, merging it into free neighbours. A merge keeps
// the neighbour's node.
func (t *tlsf) free(i int32) {
	nodes := t.nodes // (in a register: nothing here grows it)
	n := &nodes[i]
	t.used -= n.size
	t.count--
	n.kind = KindAny
	p, q := n.prevPhys, n.nextPhys
	prev, next := &nodes[p], &nodes[q]
	switch {
	case prev.state == stateFree:
		t.unlink(p)
		prev.size += n.size
		prev.nextPhys = q
		next.prevPhys = p
		t.releaseNode(i, n)
		if next.state == stateFree {
			t.unlink(q)
			prev.size += next.size
			prev.nextPhys = next.nextPhys
			nodes[next.nextPhys].prevPhys = p
			t.releaseNode(q, next)
		}
		t.insertFree(p)
	case next.state == stateFree:
		t.unlink(q)
		next.offset = n.offset
		next.size += n.size
		next.prevPhys = p
		prev.nextPhys = q
		t.releaseNode(i, n)
		t.insertFree(q)
	default:
		n.gen++ // the handle that named this allocation is now stale
		t.insertFree(i)
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

// largestFree is the size of the largest free range (0 when full): the
// last of the highest non-empty class, O(log n).
func (t *tlsf) largestFree() uint64 {
	if t.flBitmap == 0 {
		return 0
	}
	fl := 63 - bits.LeadingZeros64(t.flBitmap)
	sl := 31 - bits.LeadingZeros32(t.slBitmap[fl])
	i := t.roots[fl*slCount+sl]
	for r := t.n(i).right; r != none; r = t.n(i).right {
		i = r
	}
	return t.n(i).size
}

// walk calls f for every range in address order, free or not.
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
		f(Range{Offset: n.offset, Size: n.size, Free: n.state == stateFree, Kind: n.kind})
	}
}

func alignUp(v, a uint64) uint64 { return (v + a - 1) &^ (a - 1) }

func samePage(a, b, page uint64) bool { return a/page == b/page }
