package virtual

import (
	"cmp"
	"fmt"
	"math/bits"
	"slices"
)

// Live is a live allocation as a defragmentation sees it: where it is,
// what kind it holds and the alignment it was allocated with, which a move
// keeps.
type Live struct {
	Allocation
	Kind  Kind
	Align uint64
}

// EachLive calls f for every live allocation of a TLSF block, in address
// order. A linear block reports none: it is never defragmented. It walks
// every range: a defragmentation's planning cost, not an allocation's.
func (b *Block) EachLive(f func(Live)) {
	t := b.tlsf
	if t == nil || t.count == 0 {
		return
	}
	i := int32(0)
	for t.n(i).state == stateUnused {
		i++
	}
	for t.n(i).prevPhys != none {
		i = t.n(i).prevPhys
	}
	for ; i != none; i = t.n(i).nextPhys {
		n := t.n(i)
		if n.state != stateUsed {
			continue
		}
		ref := uint64(n.gen)<<indexBits | uint64(i)
		f(Live{
			Allocation: Allocation{Offset: n.offset, Size: n.size - uint64(n.tag), handle: uint64(b.id)<<refBits | ref},
			Kind:       n.kind,
			Align:      1 << t.aligns[i],
		})
	}
}

// AllocateAt reserves size bytes at offset off, which must be a multiple
// of align and lie in one free range, kept off conflicting kinds'
// granularity pages: a defragmentation's compaction places an allocation
// lower in its block with it. ErrNoSpace when [off, off+size) is not free
// or conflicts. It finds the range by walking the block (TLSF blocks only).
func (b *Block) AllocateAt(off, size, align uint64, kind Kind) (Allocation, error) {
	align, err := CheckRequest(size, align)
	if err != nil {
		return Allocation{}, err
	}
	t := b.tlsf
	if t == nil || off%align != 0 || off+size < off || off+size > b.size {
		return Allocation{}, fmt.Errorf("%w: %d bytes at %d", ErrNoSpace, size, off)
	}
	if len(t.nodes) > maxNodes-2 && !t.spareNodes() {
		return Allocation{}, ErrNoSpace
	}
	for i := t.first(); i != none; i = t.n(i).nextPhys {
		n := t.n(i)
		if n.end() <= off {
			continue
		}
		if n.state != stateFree || n.offset > off || off+size > n.end() || !t.pagesClear(i, off, size, kind) {
			break
		}
		ref := t.take(i, off, size, kind)
		t.aligns[ref&(maxNodes-1)] = uint8(bits.TrailingZeros64(align))
		return Allocation{Offset: off, Size: size, handle: uint64(b.id)<<refBits | ref}, nil
	}
	return Allocation{}, fmt.Errorf("%w: %d bytes at %d", ErrNoSpace, size, off)
}

// first is the node at offset 0.
func (t *tlsf) first() int32 {
	i := int32(0)
	for t.n(i).state == stateUnused {
		i++
	}
	for t.n(i).prevPhys != none {
		i = t.n(i).prevPhys
	}
	return i
}

// pagesClear reports whether [off, off+size) inside free node i shares no
// granularity page with a range of a conflicting kind. The ranges between
// are free (KindAny); like fitPaged it looks at most maxProbes ranges each
// way and assumes a conflict past them.
func (t *tlsf) pagesClear(i int32, off, size uint64, kind Kind) bool {
	g := t.granularity
	if g <= 1 || kind == KindAny {
		return true
	}
	steps := 0
	for q := t.n(i).nextPhys; q != none; q = t.n(q).nextPhys {
		next := t.n(q)
		if !samePage(off+size-1, next.offset, g) {
			break
		}
		if conflicts(kind, next.kind) || steps == maxProbes {
			return false
		}
		steps++
	}
	steps = 0
	for p := t.n(i).prevPhys; p != none; p = t.n(p).prevPhys {
		prev := t.n(p)
		if !samePage(prev.end()-1, off, g) {
			break
		}
		if conflicts(prev.kind, kind) || steps == maxProbes {
			return false
		}
		steps++
	}
	return true
}

// DefragAlgorithm is how a defragmentation chooses its moves.
type DefragAlgorithm uint8

// Defragmentation algorithms.
const (
	// DefragFast empties whole blocks: the emptiest blocks whose live bytes
	// fit in the free space of the others move into those, fullest first,
	// each block all at once or not at all. Nothing moves within a block.
	DefragFast DefragAlgorithm = iota
	// DefragFull is DefragFast, then, when no more blocks can be emptied,
	// compaction: allocations move to the lowest free range below them in
	// their own block, which merges the holes between them into one range
	// at the top; then it tries to empty blocks again.
	DefragFull
)

func (a DefragAlgorithm) String() string {
	if a == DefragFull {
		return "full"
	}
	return "fast"
}

// Move is one move a Planner plans: the allocation Src of block SrcBlock
// goes to Dst, reserved in block DstBlock (the same block when a
// compaction moves it lower). Dst has Src's size, kind and alignment. Until
// the caller commits it (frees Src) or cancels it (frees Dst), both are
// live.
type Move struct {
	SrcBlock, DstBlock int
	Src, Dst           Allocation
	Kind               Kind
	Align              uint64
}

// Planner plans the passes of a defragmentation over a set of blocks. Each
// Plan reserves its moves' destinations in the blocks; the caller copies
// the data, then frees each move's Src (commit) or Dst (cancel) before the
// next Plan. A pass never moves an allocation into a range another move of
// the same pass frees, so its copies can run in any order.
//
// The zero Planner is a DefragFast planner without limits. A Planner is not
// safe for concurrent use, and neither are the blocks it plans over.
type Planner struct {
	Algorithm DefragAlgorithm
	// MaxBytes and MaxMoves limit each pass (0: no limit). An allocation
	// larger than MaxBytes never moves.
	MaxBytes uint64
	MaxMoves int
	// Movable, when set, says whether an allocation of blocks[block] may
	// move; one that may not keeps its block from being emptied.
	Movable func(block int, l Live) bool

	// failed: blocks that could not be emptied; they are no longer sources.
	failed map[*Block]bool
	// kept: the handles of allocations whose moves were ignored (Keep);
	// they stay where they are, and so does their block.
	kept map[uint64]bool
	live []Live // scratch
}

// Keep says that the caller did not carry out move m (it cancelled it:
// the allocation cannot move): the planner will not move that allocation
// again, so its block is not emptied either. Without it, a cancelled move
// is planned again in the next pass.
func (p *Planner) Keep(m Move) {
	if p.kept == nil {
		p.kept = map[uint64]bool{}
	}
	p.kept[m.Src.handle] = true
}

// movable reports whether l of blocks[bi] may move.
func (p *Planner) movable(bi int, l Live) bool {
	return !p.kept[l.handle] && (p.Movable == nil || p.Movable(bi, l))
}

// budget is what remains of a pass's limits.
type budget struct {
	bytes uint64
	moves int
}

func (p *Planner) newBudget() budget {
	b := budget{bytes: p.MaxBytes, moves: p.MaxMoves}
	if b.bytes == 0 {
		b.bytes = ^uint64(0)
	}
	if b.moves == 0 {
		b.moves = int(^uint(0) >> 1)
	}
	return b
}

func (b *budget) take(size uint64) bool {
	if b.moves == 0 || size > b.bytes {
		return false
	}
	b.moves--
	b.bytes -= size
	return true
}

// Plan plans one pass over blocks and appends its moves to moves. No move
// means the defragmentation is over. Blocks may change between passes
// (blocks added or removed, allocations made or freed), as long as the
// previous pass's moves were all committed or cancelled.
func (p *Planner) Plan(blocks []*Block, moves []Move) []Move {
	if p.failed == nil {
		p.failed = map[*Block]bool{}
	}
	start := len(moves)
	bud := p.newBudget()
	moves = p.planFast(blocks, moves, &bud)
	if len(moves) > start || p.Algorithm != DefragFull {
		return moves
	}
	moves = p.planCompact(blocks, moves, &bud)
	if len(moves) > start {
		clear(p.failed) // the holes moved: blocks may be emptied now
	}
	return moves
}

// planFast picks as sources the emptiest blocks whose live bytes together
// fit in the free bytes of the others, and moves every allocation of each
// into the others, fullest first.
func (p *Planner) planFast(blocks []*Block, moves []Move, bud *budget) []Move {
	var order []int
	for i, b := range blocks {
		if b != nil && b.tlsf != nil && !b.IsEmpty() {
			order = append(order, i)
		}
	}
	slices.SortStableFunc(order, func(x, y int) int { return cmp.Compare(blocks[x].Used(), blocks[y].Used()) })
	// Sources: a prefix of the non-failed blocks in that order, as long as
	// their bytes fit in the free bytes of the rest.
	var srcs, dsts []int
	var free uint64
	for _, i := range order {
		free += blocks[i].Size() - blocks[i].Used()
	}
	var need uint64
	for _, i := range order {
		b := blocks[i]
		if !p.failed[b] && need+b.Used() <= free-(b.Size()-b.Used()) {
			srcs = append(srcs, i)
			need += b.Used()
			free -= b.Size() - b.Used()
			continue
		}
		dsts = append(dsts, i)
	}
	slices.Reverse(dsts) // fullest first
	for _, s := range srcs {
		var ok bool
		if moves, ok = p.empty(blocks, s, dsts, moves, bud); !ok {
			return moves // the pass is full
		}
	}
	return moves
}

// empty plans the moves of every allocation of blocks[s] into dsts, or
// none (and marks the block failed) when one does not fit. It keeps what
// the budget allows and reports false when the budget ran out.
func (p *Planner) empty(blocks []*Block, s int, dsts []int, moves []Move, bud *budget) ([]Move, bool) {
	src := blocks[s]
	p.live = p.live[:0]
	movable := true
	src.EachLive(func(l Live) {
		if !p.movable(s, l) || p.MaxBytes != 0 && l.Size > p.MaxBytes {
			movable = false
		}
		p.live = append(p.live, l)
	})
	if !movable {
		p.failed[src] = true
		return moves, true
	}
	// Largest first: the large ones need the large holes.
	slices.SortStableFunc(p.live, func(x, y Live) int { return cmp.Compare(y.Size, x.Size) })
	start := len(moves)
	for _, l := range p.live {
		placed := false
		for _, d := range dsts {
			if dst, err := blocks[d].Allocate(l.Size, l.Align, l.Kind); err == nil {
				moves = append(moves, Move{SrcBlock: s, DstBlock: d, Src: l.Allocation, Dst: dst, Kind: l.Kind, Align: l.Align})
				placed = true
				break
			}
		}
		if !placed {
			p.failed[src] = true
			return cancel(blocks, moves, start), true
		}
	}
	keep := start
	for keep < len(moves) && bud.take(moves[keep].Src.Size) {
		keep++
	}
	if keep < len(moves) {
		return cancel(blocks, moves, keep), false
	}
	return moves, true
}

// planCompact moves allocations to the lowest free range below them in
// their own block, from the top of each block down, fullest block first.
func (p *Planner) planCompact(blocks []*Block, moves []Move, bud *budget) []Move {
	var order []int
	for i, b := range blocks {
		if b != nil && b.tlsf != nil && !b.IsEmpty() {
			order = append(order, i)
		}
	}
	slices.SortStableFunc(order, func(x, y int) int { return cmp.Compare(blocks[y].Used(), blocks[x].Used()) })
	for _, i := range order {
		b := blocks[i]
		p.live = p.live[:0]
		b.EachLive(func(l Live) {
			if p.movable(i, l) {
				p.live = append(p.live, l)
			}
		})
		for k := len(p.live) - 1; k >= 0; k-- {
			l := p.live[k]
			off, ok := b.tlsf.lowestFit(l.Offset, l.Size, l.Align, l.Kind)
			if !ok {
				continue
			}
			if bud.moves == 0 || l.Size > bud.bytes {
				return moves
			}
			dst, err := b.AllocateAt(off, l.Size, l.Align, l.Kind)
			if err != nil {
				continue
			}
			bud.take(l.Size)
			moves = append(moves, Move{SrcBlock: i, DstBlock: i, Src: l.Allocation, Dst: dst, Kind: l.Kind, Align: l.Align})
		}
	}
	return moves
}

// lowestFit is the lowest offset below limit where a request fits in a free
// range, walking the ranges from the bottom.
func (t *tlsf) lowestFit(limit, size, align uint64, kind Kind) (uint64, bool) {
	for i := t.first(); i != none; i = t.n(i).nextPhys {
		n := t.n(i)
		if n.offset >= limit {
			break
		}
		if n.state != stateFree {
			continue
		}
		// The aligned bottom of the range, else its first whole page (a
		// conflicting neighbour may share the bottom's page).
		for _, a := range [2]uint64{align, max(align, t.granularity)} {
			off := alignUp(n.offset, a)
			if off+size <= n.end() && off < limit && t.pagesClear(i, off, size, kind) {
				return off, true
			}
		}
	}
	return 0, false
}

// cancel frees the destinations of moves[from:] and drops them.
func cancel(blocks []*Block, moves []Move, from int) []Move {
	for _, m := range moves[from:] {
		_ = blocks[m.DstBlock].Free(m.Dst)
	}
	return moves[:from]
}
