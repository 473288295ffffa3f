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
// first non-empty class at or above a size in O(1). Within a class the
// ranges form a treap: a binary search tree ordered by (size, offset) that
// is a heap of priorities hashed from the node indices, so O(log n) deep in
// expectation. Each node also holds, for its subtree, the largest capacity
// at the alignments 16, 64, 256, 1024, 4096 and 65536 (caps): how many bytes a
// range holds from its first aligned offset to its end. Nodes are kept in
// a slice and linked by index, both physically (address order, for
// coalescing) and in their class's tree (children and parent). A node is
// 68 bytes, caps included: a tree step reads one node, not a node and an
// array of caps beside it.
//
// An allocation takes the first range in (size, offset) order whose
// capacity at its alignment holds it: the smallest range that fits once
// aligned, the lowest among equal sizes, which is the range an exhaustive
// best fit over the free ranges sorted by (size, offset) chooses. In the
// size's own class the search descends the tree; above it, the classes come
// from the bitmaps, and the first whose root's caps hold the size has the
// range: one descent of its tree. The caps prune every subtree with no
// fitting range, so ranges too small once aligned are never walked: O(log n)
// in all, plus a look at the root of each non-empty class between the size
// and the size plus the alignment. The descents compare (size, offset) as
// one 128-bit number and index the children with the borrow: no branch to
// mispredict.
//
// A range leaves its tree by rotating down below its children and its caps
// are mended upward to the first ancestor whose caps do not change (the
// parent links: no descent); a range whose new size and offset keep its
// class and its place between its in-order neighbours (the front a take
// leaves, the survivor of a merge) changes in place (rekey). Only an
// insertion descends from the root.
//
// Where the caps cannot decide (an alignment between two tracked ones or
// above 65536, sizes of 4 GiB or more, a granularity whose pages conflict)
// they offer candidates that may miss; past maxMisses of them the search
// jumps to the first range of at least the worst-case padded size, which
// always fits (a cut, counted in tlsf.cuts; none on the project's traces,
// whose alignments are all tracked).
//
// The allocation goes at the aligned end of the range: the front stays
// free in the range's node; trailing padding below splitPad is carried in
// the allocation, from splitPad up it is a free range of its own. That is
// the placement trace.BestFitAsBlock reproduces, which the block's search
// equals allocation for allocation (TestExactBestFit): on the project's
// random traces it refuses exactly what the exhaustive search refuses.
const (
	slBits    = 5
	slCount   = 1 << slBits
	flCount   = 64 - slBits + 1
	maxProbes = 4
	// maxMisses is how many candidates that do not fit the search passes
	// over, in (size, offset) order, before it jumps to a range that holds
	// any padding.
	maxMisses = 8
	// capLevels is how many alignments the caps track: 16, 64, 256, 1024,
	// 4096 and 65536 (capShifts). An alignment between two of them (or 2, 4,
	// 8: below the first) is searched with the caps of the one below,
	// which may offer ranges that do not fit once aligned: misses.
	capLevels = 6
	// splitPad is the least trailing alignment padding that take files as
	// a free range of its own rather than carrying it in the allocation:
	// a 64 KiB-aligned image placed at the end of a range otherwise holds
	// up to 64 KiB that small buffers could use, until it is freed. Below
	// it, carrying the padding saves a node and a tree insertion.
	splitPad = 4096
	// none is the index of the sentinel, node 0: "no node" in every link.
	// Its state is never stateFree, and writes to its physical links are
	// harmless, so such a link can be followed or written without testing
	// it first. Its caps are all 0 and never written.
	none = int32(0)
	// indexBits is the width of a node index in a handle; a block holds at
	// most maxNodes nodes (ranges, free or not), and the other bits of the
	// handle carry a 32-bit generation.
	indexBits = 24
	maxNodes  = 1 << indexBits
)

// caps are a free node's subtree's largest capacities at the alignments
// 2^capShifts[j], saturated at 2^32-1.
type caps [capLevels]uint32

// capShifts are the log2 of the alignments the caps track. own, pull and
// insert are written out for them.
var capShifts = [capLevels]uint{4, 6, 8, 10, 12, 16}

const _ = uint(capLevels - 6)
const _ = uint(6 - capLevels)

// levelOf is, by log2 of an alignment, the search's cap level: 1 + the
// index of the largest tracked alignment not above it, 0 below 16 (the
// search then looks at the sizes alone).
var levelOf = func() (l [64]uint8) {
	for k := range l {
		for j, s := range capShifts {
			if uint(k) >= s {
				l[k] = uint8(j + 1)
			}
		}
	}
	return l
}()

type nodeState uint8

const (
	stateUnused nodeState = iota // on the slot free list
	stateFree                    // a free range, in a size class
	stateUsed                    // an allocation
)

type node struct {
	offset, size       uint64
	prevPhys, nextPhys int32 // address-order neighbours
	// kids are a free node's children in its class's tree, left and
	// right (an array, so that a descent indexes it with a comparison's
	// bit rather than branching); kids[1] links an unused slot to the next
	// one.
	kids [2]int32
	// gen changes each time an allocation of this slot ends (32 bits: a
	// slot is reused 2^32 times before a generation comes back), so a
	// handle to an allocation that is gone no longer matches.
	gen uint32
	// tag is, for a free node, the size class whose tree holds it and, for
	// an allocation, its trailing alignment padding (< splitPad). A node
	// is never both, so the two share 16 bits and the node stays 40 bytes.
	tag   uint16
	state nodeState
	kind  Kind
	// parent is a free node's parent in its class's tree (none at the
	// root), so that a range leaves its tree without a descent.
	parent int32
	// sub are a free node's subtree's caps. Kept in the node, so that a
	// tree step reads one node (68 bytes; 64 without the 1024 level
	// measured 5% faster on the random trace, but alignment 1024 then
	// parts from the exact best fit within a few thousand operations).
	sub caps
}

// An allocation's padding is below splitPad and a class below
// flCount*slCount: both fit the node's uint16.
const _ = uint16(splitPad - 1)
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
func before(a, b *node) bool { return less(a.size, a.offset, b.size, b.offset) }

// less reports whether (s1, o1) comes before (s2, o2).
func less(s1, o1, s2, o2 uint64) bool { return lessBit(s1, o1, s2, o2) != 0 }

// lessBit is less as 1 or 0: the borrow of the 128-bit subtraction, with
// no branch for a tree descent to mispredict.
func lessBit(s1, o1, s2, o2 uint64) uint64 {
	_, c := bits.Sub64(o1, o2, 0)
	_, c = bits.Sub64(s1, s2, c)
	return c
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
	unused   int32  // head of the unused-slot stack, linked by kids[1]
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
	t.nodes = make([]node, 1, 64) // the sentinel; the trees are empty
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
		t.unused = t.nodes[i].kids[1]
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
	for i := t.unused; need > 0 && i != none; i = t.nodes[i].kids[1] {
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
	n.kids[1] = t.unused
	t.unused = i
}

// capAt is free node n's capacity at alignment 2^k: the bytes from its
// first offset aligned to 2^k to its end, saturated (0 when none).
func capAt(n *node, k uint) uint32 {
	d := -n.offset & (1<<k - 1)
	if d >= n.size {
		return 0
	}
	return uint32(min(n.size-d, 1<<32-1))
}

// own are free node n's own capacities.
func own(n *node) caps {
	if n.size >= 1<<32 { // (rare: the saturation needs the 64-bit sizes)
		return ownWide(n)
	}
	// From the low 32 bits: the deficits are below 2^16.
	size, neg := uint32(n.size), uint32(-n.offset)
	return caps{
		capIn(size, neg&(1<<4-1)), capIn(size, neg&(1<<6-1)),
		capIn(size, neg&(1<<8-1)), capIn(size, neg&(1<<10-1)),
		capIn(size, neg&(1<<12-1)), capIn(size, neg&(1<<16-1)),
	}
}

// ownWide is own for a range of 4 GiB or more.
func ownWide(n *node) caps {
	var c caps
	for k := range c {
		c[k] = capAt(n, capShifts[k])
	}
	return c
}

// capIn is a capacity: size less the deficit d, or 0 when d takes it all.
func capIn(size, d uint32) uint32 {
	v := size - d
	if d >= size {
		v = 0
	}
	return v
}

// pull recomputes node x's caps from its own and its children's, and
// reports whether they changed. (Written out: the loop's own counting was
// a quarter of it.) Its own are computed again: cheaper than a cache line
// to keep them in.
func (t *tlsf) pull(x int32) bool {
	nodes := t.nodes
	n := &nodes[x]
	c := own(n)
	l, r, o := &nodes[n.kids[0]].sub, &nodes[n.kids[1]].sub, &n.sub
	v0, v1 := max(c[0], l[0], r[0]), max(c[1], l[1], r[1])
	v2, v3 := max(c[2], l[2], r[2]), max(c[3], l[3], r[3])
	v4, v5 := max(c[4], l[4], r[4]), max(c[5], l[5], r[5])
	diff := (v0 ^ o[0]) | (v1 ^ o[1]) | (v2 ^ o[2]) | (v3 ^ o[3]) | (v4 ^ o[4]) | (v5 ^ o[5])
	*o = caps{v0, v1, v2, v3, v4, v5}
	return diff != 0
}

// insertFree files node i, a free range, in its size's class: O(log n)
// expected in the class's ranges. Its tree links are all rewritten.
//
// It descends from the root to i's place, raising the caps of the nodes on
// the way to i's own where they are lower, hangs i there as a leaf and
// rotates it up while it outranks its parent (under 2 rotations expected).
func (t *tlsf) insertFree(i int32) {
	nodes := t.nodes
	n := &nodes[i]
	n.state = stateFree
	n.kids[0], n.kids[1] = none, none
	c := classOf(n.size)
	n.tag = uint16(c)
	o := own(n)
	p, x := none, t.roots[c]
	var side uint64 // which of p's kids i is: 1 when it comes after p
	var ps caps     // p's caps before i: its set's once i rotates above it
	for x != none {
		xn := &nodes[x]
		s := &xn.sub
		ps = *s
		*s = caps{max(o[0], s[0]), max(o[1], s[1]), max(o[2], s[2]), max(o[3], s[3]), max(o[4], s[4]), max(o[5], s[5])}
		p = x
		// (Ranges are distinct: after x is not before it.)
		side = lessBit(xn.size, xn.offset, n.size, n.offset)
		x = xn.kids[side&1]
	}
	n.parent = p
	n.sub = o
	if p == none {
		t.roots[c] = i
	} else {
		nodes[p].kids[side&1] = i
	}
	for pr, first := prio(i), true; ; first = false {
		p = n.parent
		if p == none || pr <= prio(p) {
			break
		}
		// i takes p's place, and p's subtree: p's caps are i's now, and p's
		// are computed again from what it keeps. The first time, i is a
		// leaf: p keeps what it had before i came, whose caps are ps.
		n.sub = nodes[p].sub
		t.rotateUp(i, p, c)
		if first {
			nodes[p].sub = ps
		} else {
			t.pull(p)
		}
	}
	fl := c >> slBits
	t.slBitmap[fl] |= 1 << (c & (slCount - 1))
	t.flBitmap |= 1 << fl
	t.freeCount++
}

// rotateUp turns node x, a child of p in class c's tree, into p's parent.
// Caps are the caller's to mend.
func (t *tlsf) rotateUp(x, p int32, c int) {
	nodes := t.nodes
	xn, pn := &nodes[x], &nodes[p]
	g := pn.parent
	if pn.kids[0] == x {
		pn.kids[0] = xn.kids[1]
		nodes[xn.kids[1]].parent = p // (the sentinel's parent: harmless)
		xn.kids[1] = p
	} else {
		pn.kids[1] = xn.kids[0]
		nodes[xn.kids[0]].parent = p
		xn.kids[0] = p
	}
	pn.parent = x
	xn.parent = g
	t.relink(g, p, x, c)
}

// relink makes node g (none: the root of class c's tree) point to y where
// it pointed to x.
func (t *tlsf) relink(g, x, y int32, c int) {
	switch {
	case g == none:
		t.roots[c] = y
	case t.nodes[g].kids[0] == x:
		t.nodes[g].kids[0] = y
	default:
		t.nodes[g].kids[1] = y
	}
}

// unlink takes free node i out of its class's tree. The node's size and
// offset must be those it was filed with: a free range is unlinked before
// it changes.
//
// It rotates i down below its children (under 2 rotations expected),
// splices it out, mends the caps of the nodes rotated above it and then of
// its ancestors, up to the first whose caps do not change: no descent.
func (t *tlsf) unlink(i int32) {
	nodes := t.nodes
	n := &nodes[i]
	c := int(n.tag)
	top := n.parent
	rotated := 0
	for n.kids[0] != none && n.kids[1] != none {
		ch := n.kids[0]
		if prio(n.kids[1]) > prio(n.kids[0]) {
			ch = n.kids[1]
		}
		t.rotateUp(ch, i, c)
		rotated++
	}
	ch := n.kids[0] | n.kids[1] // (one of them is none: 0)
	p := n.parent
	nodes[ch].parent = p
	t.relink(p, i, ch, c)
	// The rotated nodes hold other sets than before: their caps are
	// computed again. Above them, each ancestor's caps were those of its
	// set with i in it: once one's do not change, no higher one's do.
	for ; rotated > 0; rotated-- {
		t.pull(p)
		p = nodes[p].parent
	}
	for p = top; p != none && t.pull(p); p = nodes[p].parent {
	}
	if t.roots[c] == none {
		fl := c >> slBits
		t.slBitmap[fl] &^= 1 << (c & (slCount - 1))
		if t.slBitmap[fl] == 0 {
			t.flBitmap &^= 1 << fl
		}
	}
	t.freeCount--
}

// rekey gives free node i the range [off, off+size) where that keeps it
// in its class and its place in the tree's (size, offset) order: after
// its predecessor and before its successor. Then only the caps of i and
// of its ancestors change, up to the first whose do not: no removal and
// insertion. Otherwise it changes nothing and reports false.
func (t *tlsf) rekey(i int32, off, size uint64) bool {
	nodes := t.nodes
	n := &nodes[i]
	if classOf(size) != int(n.tag) {
		return false
	}
	if less(size, off, n.size, n.offset) {
		if p := t.step(i, 0); p != none && !less(nodes[p].size, nodes[p].offset, size, off) {
			return false
		}
	} else if s := t.step(i, 1); s != none && !less(size, off, nodes[s].size, nodes[s].offset) {
		return false
	}
	n.offset, n.size = off, size
	for x := i; x != none && t.pull(x); x = nodes[x].parent {
	}
	return true
}

// step is free node i's predecessor (d = 0) or successor (d = 1) in its
// tree's order, or none: O(1) expected.
func (t *tlsf) step(i int32, d int) int32 {
	nodes := t.nodes
	if x := nodes[i].kids[d]; x != none {
		for y := nodes[x].kids[1-d]; y != none; y = nodes[x].kids[1-d] {
			x = y
		}
		return x
	}
	for x, p := i, nodes[i].parent; p != none; x, p = p, nodes[p].parent {
		if nodes[p].kids[1-d] == x {
			return p
		}
	}
	return none
}

// find is the first free range at or after (size, off) in (size, offset)
// order whose capacity at cap level k (alignment 2^capShifts[k-1]; k = 0:
// its size) holds need, or none. In the class of size it descends the class's tree; above, the
// classes come in order from the bitmaps, and the first whose root's caps
// hold need has one: the search descends its tree. O(log n) in the
// ranges of the two classes, plus a look at the roots of the classes
// between, which only an alignment above the size makes more than one:
// the class of the size plus the alignment has one, so the look stops
// there at the latest.
func (t *tlsf) find(size, off uint64, k uint, need uint32) int32 {
	c := classOf(size)
	if i := t.fitting(t.roots[c], size, off, k, need); i != none {
		return i
	}
	for c = t.firstClass(c + 1); c >= 0; c = t.firstClass(c + 1) {
		r := t.roots[c]
		if k == 0 {
			return t.fitting(r, 0, 0, 0, need)
		}
		if t.nodes[r].sub[k-1] >= need {
			return t.leftmost(r, k, need)
		}
	}
	return none
}

// fitting is the first free range of the tree at root x at or after (size,
// off) in (size, offset) order whose capacity at cap level k holds need
// (k = 0: its size), or none: O(depth). It descends along (size, off) to
// the last node at or after it, while the caps say that a range there may
// fit; then it climbs back, looking at each node at or after (size, off)
// and its right subtree, deepest first (in order), and descends into the
// first subtree whose caps hold need, where a range fits.
func (t *tlsf) fitting(x int32, size, off uint64, k uint, need uint32) int32 {
	nodes := t.nodes
	if k == 0 {
		best := none
		for x != none {
			xn := &nodes[x]
			lt := lessBit(xn.size, xn.offset, size, off)
			if lt == 0 {
				best = x
			}
			x = xn.kids[lt&1]
		}
		return best
	}
	last := none
	for y := x; nodes[y].sub[k-1] >= need; { // (none's caps are 0)
		yn := &nodes[y]
		lt := lessBit(yn.size, yn.offset, size, off)
		if lt == 0 {
			last = y
		}
		y = yn.kids[lt&1]
	}
	sh := capShifts[k-1]
	for y := last; y != none; {
		yn := &nodes[y]
		if capAt(yn, sh) >= need {
			return y
		}
		if r := yn.kids[1]; nodes[r].sub[k-1] >= need {
			return t.leftmost(r, k, need)
		}
		// Up to the next ancestor entered from its left: the next node
		// in order, at or after (size, off) since the descent went left.
		for {
			p := yn.parent
			if p == none {
				return none
			}
			if nodes[p].kids[0] == y {
				y = p
				break
			}
			y, yn = p, &nodes[p]
		}
	}
	return none
}

// leftmost is the first range in order of the subtree at x, whose caps at
// level k (> 0) hold need, with a capacity that holds need: O(depth).
func (t *tlsf) leftmost(x int32, k uint, need uint32) int32 {
	nodes := t.nodes
	sh := capShifts[k-1]
	for {
		xn := &nodes[x]
		if l := xn.kids[0]; nodes[l].sub[k-1] >= need {
			x = l
			continue
		}
		if capAt(xn, sh) >= need {
			return x
		}
		x = xn.kids[1]
	}
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
// It is a best fit: the first free range in (size, offset) order that
// holds the request once aligned (and kept off conflicting pages) is
// taken, found through the caps in O(log n). Where they cannot decide,
// past maxMisses candidates that do not fit, it jumps to the first range
// of at least the worst-case padded size, whose every placement fits.
func (t *tlsf) alloc(size, align uint64, kind Kind) (ref, offset uint64, ok bool) {
	if size > t.size-t.used || len(t.nodes) > maxNodes-2 && !t.spareNodes() {
		return 0, 0, false
	}
	paged := t.granularity > 1 && kind != KindAny
	k := uint(levelOf[bits.TrailingZeros64(align)])
	// need is at least 1: the sentinel's caps (0) never hold it, which
	// ends the descents at none.
	need := uint32(min(max(size, 1), 1<<32-1))
	i := t.find(size, 0, k, need)
	for miss := 0; i != none; miss++ {
		if miss == maxMisses {
			w := t.worstCase(size, align, paged)
			if w == ^uint64(0) {
				return 0, 0, false
			}
			if t.n(i).size < w {
				t.cuts++
				if i = t.find(w, 0, 0, 0); i == none {
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
		i = t.find(n.size, n.offset+1, k, need)
	}
	return 0, 0, false
}

// take turns [off, off+size) of free node i into an allocation. What lies
// in front of it stays free in node i; what lies behind becomes a free
// node of its own from splitPad bytes up, and is carried by the
// allocation as its padding below that. It returns the allocation's
// reference.
func (t *tlsf) take(i int32, off, size uint64, kind Kind) uint64 {
	n := t.n(i)
	start, end := n.offset, n.end()
	// The front stays in node i: in its place in the tree when that still
	// is its place (no remove and insert).
	kept := off > start && t.rekey(i, start, off-start)
	if !kept {
		t.unlink(i)
	}
	if end-off-size >= splitPad { // too much to carry as padding: file it as free
		f := t.newNode() // first: it may move the nodes
		n = t.n(i)
		fn := t.n(f)
		fn.offset, fn.size = off+size, end-off-size
		fn.prevPhys, fn.nextPhys = i, n.nextPhys
		fn.kind = KindAny
		t.n(n.nextPhys).prevPhys = f
		n.nextPhys = f
		end = off + size
		if !kept {
			n.size = end - start
		}
		t.insertFree(f)
	}
	u := i
	if off > start {
		u = t.newNode()
		n = t.n(i)
		un := t.n(u)
		un.offset, un.size = off, end-off
		un.prevPhys, un.nextPhys = i, n.nextPhys
		t.n(n.nextPhys).prevPhys = u
		n.nextPhys = u
		if !kept {
			n.size = off - start
			t.insertFree(i)
		}
	}
	un := t.n(u)
	un.state = stateUsed
	un.kind = kind
	un.tag = uint16(end - off - size) // the padding
	t.used += size
	t.count++
	return uint64(un.gen)<<indexBits | uint64(u)
}

// free returns allocation i, merging it into free neighbours. A merge keeps
// the neighbour's node.
func (t *tlsf) free(i int32) {
	nodes := t.nodes // (in a register: nothing here grows it)
	n := &nodes[i]
	t.used -= n.size - uint64(n.tag) // (tag: the padding)
	t.count--
	n.kind = KindAny
	p, q := n.prevPhys, n.nextPhys
	prev, next := &nodes[p], &nodes[q]
	switch {
	case prev.state == stateFree:
		size := prev.size + n.size
		prev.nextPhys = q
		next.prevPhys = p
		t.releaseNode(i, n)
		if next.state == stateFree {
			t.unlink(q)
			size += next.size
			prev.nextPhys = next.nextPhys
			nodes[next.nextPhys].prevPhys = p
			t.releaseNode(q, next)
		}
		if !t.rekey(p, prev.offset, size) {
			t.unlink(p)
			prev.size = size
			t.insertFree(p)
		}
	case next.state == stateFree:
		next.prevPhys = p
		prev.nextPhys = q
		if !t.rekey(q, n.offset, next.size+n.size) {
			t.unlink(q)
			next.offset = n.offset
			next.size += n.size
			t.insertFree(q)
		}
		t.releaseNode(i, n)
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
	for r := t.n(i).kids[1]; r != none; r = t.n(i).kids[1] {
		i = r
	}
	return t.n(i).size
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
