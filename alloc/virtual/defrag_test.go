package virtual

import (
	"fmt"
	"testing"
)

// defragWorld is what a planner test believes: the live allocations of a
// set of blocks, each with an identity that survives its moves.
type defragWorld struct {
	blocks []*Block
	models []*model
	aligns []map[uint64]uint64
	g      uint64
	// where is, by identity, the allocation's block and value.
	where map[int]placed
	kept  map[uint64]bool // handles given to Planner.Keep
}

type placed struct {
	block int
	a     Allocation
	kind  Kind
	align uint64
}

func newDefragWorld(sizes []uint64, g uint64) (*defragWorld, error) {
	w := &defragWorld{g: g, where: map[int]placed{}, kept: map[uint64]bool{}}
	for _, s := range sizes {
		b, err := New(Options{Size: s, Granularity: g})
		if err != nil {
			return nil, err
		}
		w.blocks = append(w.blocks, b)
		w.models = append(w.models, newModel())
		w.aligns = append(w.aligns, map[uint64]uint64{})
	}
	return w, nil
}

func (w *defragWorld) add(id, bi int, a Allocation, k Kind, align uint64) {
	w.where[id] = placed{bi, a, k, align}
	w.models[bi].add(a, k)
	w.aligns[bi][a.handle] = align
}

func (w *defragWorld) remove(id int) {
	p := w.where[id]
	delete(w.where, id)
	w.models[p.block].remove(p.a)
	delete(w.aligns[p.block], p.a.handle)
}

// check runs checkBlock on every block: no overlap, alignment and kinds
// kept, the block's accounting equal to the model's.
func (w *defragWorld) check() error {
	for i, b := range w.blocks {
		if err := checkBlock(b, w.models[i], w.aligns[i], w.g); err != nil {
			return fmt.Errorf("block %d: %w", i, err)
		}
	}
	return nil
}

// pass plans one pass, checks each move against the model, reserves the
// destinations in the model, and commits the moves commit says to (the
// others are cancelled). It returns the number of moves.
func (w *defragWorld) pass(p *Planner, commit func(k int) bool) (int, error) {
	byHandle := map[uint64]int{}
	for id, pl := range w.where {
		byHandle[pl.a.handle] = id
	}
	moves := p.Plan(w.blocks, nil)
	seen := map[int]bool{}
	var bytes uint64
	for k, m := range moves {
		if w.kept[m.Src.handle] {
			return 0, fmt.Errorf("move %d: an allocation the caller kept is planned again", k)
		}
		id, ok := byHandle[m.Src.handle]
		if !ok {
			return 0, fmt.Errorf("move %d: source %+v is not a live allocation", k, m.Src)
		}
		if seen[id] {
			return 0, fmt.Errorf("move %d: allocation %d moved twice in one pass", k, id)
		}
		seen[id] = true
		pl := w.where[id]
		if m.SrcBlock != pl.block || m.Src != pl.a {
			return 0, fmt.Errorf("move %d: source block %d %+v, allocation is in block %d %+v", k, m.SrcBlock, m.Src, pl.block, pl.a)
		}
		if m.Dst.Size != pl.a.Size || m.Kind != pl.kind || m.Align < pl.align || m.Dst.Offset%pl.align != 0 {
			return 0, fmt.Errorf("move %d: %+v (kind %v, align %d) for an allocation of %d bytes, kind %v, align %d",
				k, m.Dst, m.Kind, m.Align, pl.a.Size, pl.kind, pl.align)
		}
		if err := w.blocks[m.DstBlock].Check(m.Dst); err != nil {
			return 0, fmt.Errorf("move %d: destination not reserved: %v", k, err)
		}
		bytes += m.Src.Size
		// The reservation is live until committed or cancelled.
		w.add(-1-k, m.DstBlock, m.Dst, m.Kind, pl.align)
	}
	if p.MaxMoves > 0 && len(moves) > p.MaxMoves || p.MaxBytes > 0 && bytes > p.MaxBytes {
		return 0, fmt.Errorf("pass of %d moves, %d bytes over the limits %d moves, %d bytes", len(moves), bytes, p.MaxMoves, p.MaxBytes)
	}
	if err := w.check(); err != nil {
		return 0, fmt.Errorf("after planning: %w", err)
	}
	for k, m := range moves {
		id := byHandle[m.Src.handle]
		pl := w.where[id]
		w.remove(-1 - k)
		if commit(k) {
			if err := w.blocks[m.SrcBlock].Free(m.Src); err != nil {
				return 0, err
			}
			w.remove(id)
			w.add(id, m.DstBlock, m.Dst, pl.kind, pl.align)
		} else {
			if err := w.blocks[m.DstBlock].Free(m.Dst); err != nil {
				return 0, err
			}
			if k%2 == 0 { // the caller cannot move it: it stays, and must not come back
				p.Keep(m)
				w.kept[m.Src.handle] = true
			}
		}
	}
	return len(moves), w.check()
}

// FuzzDefragPlanner fills blocks with a random mix of allocations and
// frees, then defragments them pass by pass, committing or cancelling each
// move as the input says, and checks after every pass that the blocks keep
// their invariants (no overlap, alignment, kinds off each other's pages,
// accounting), that every live allocation is there exactly once with its
// size, that each pass keeps its limits, and that the defragmentation ends.
func FuzzDefragPlanner(f *testing.F) {
	f.Add([]byte{3, 1, 0, 0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120, 130, 140, 150})
	f.Add([]byte{2, 0, 3, 5, 200, 1, 2, 3, 4, 255, 254, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27})
	f.Add([]byte{4, 3, 1, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 6, 6, 6, 6})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 4 {
			return
		}
		next := func() byte {
			if len(data) == 0 {
				return 0
			}
			c := data[0]
			data = data[1:]
			return c
		}
		nb := 1 + int(next())%4
		flags := next()
		g := uint64(1)
		if flags&1 != 0 {
			g = 256
		}
		p := &Planner{Algorithm: DefragAlgorithm(flags >> 1 & 1)}
		lim := next()
		p.MaxMoves = int(lim & 7)
		p.MaxBytes = uint64(lim>>3) * 2048
		sizes := make([]uint64, nb)
		for i := range sizes {
			sizes[i] = 1 << (14 + i%3)
		}
		w, err := newDefragWorld(sizes, g)
		if err != nil {
			t.Fatal(err)
		}
		commitMask := next()
		id := 0
		for len(data) >= 2 {
			c, d := next(), next()
			if c&3 == 3 && len(w.where) > 0 { // free one
				for k, pl := range w.where {
					if err := w.blocks[pl.block].Free(pl.a); err != nil {
						t.Fatal(err)
					}
					w.remove(k)
					break
				}
				continue
			}
			size := 1 + uint64(d)*uint64(1+c>>5)*4
			align := uint64(1) << (c >> 2 & 7)
			kind := Kind(c & 3 % 3)
			bi := int(d) % nb
			a, err := w.blocks[bi].Allocate(size, align, kind)
			if err != nil {
				continue
			}
			w.add(id, bi, a, kind, align)
			id++
		}
		// Free about half, deterministically, to fragment.
		for k, pl := range w.where {
			if k%2 == int(commitMask)&1 {
				if err := w.blocks[pl.block].Free(pl.a); err != nil {
					t.Fatal(err)
				}
				w.remove(k)
			}
		}
		if err := w.check(); err != nil {
			t.Fatal(err)
		}
		ids := len(w.where)
		for pass := 0; ; pass++ {
			if pass == 10_000 {
				t.Fatal("the defragmentation does not end")
			}
			n, err := w.pass(p, func(k int) bool { return commitMask == 0 || (k+pass)%8 != int(commitMask)%8 })
			if err != nil {
				t.Fatalf("pass %d: %v", pass, err)
			}
			if n == 0 {
				break
			}
		}
		if len(w.where) != ids {
			t.Fatalf("%d allocations live after, %d before", len(w.where), ids)
		}
	})
}
