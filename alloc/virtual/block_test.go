package virtual

import (
	"cmp"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// model is what a test believes is allocated in a block.
type model struct {
	live map[uint64]Allocation // by handle
	kind map[uint64]Kind
	used uint64
}

func newModel() *model {
	return &model{live: map[uint64]Allocation{}, kind: map[uint64]Kind{}}
}

func (m *model) add(a Allocation, k Kind) {
	m.live[a.handle] = a
	m.kind[a.handle] = k
	m.used += a.Size
}

func (m *model) remove(a Allocation) {
	delete(m.live, a.handle)
	delete(m.kind, a.handle)
	m.used -= a.Size
}

// checkBlock verifies every invariant of a block against the model: live
// allocations inside the block, not overlapping, aligned as asked, no
// conflicting kinds on one granularity page, the walk covering the block
// exactly with the same allocations, TLSF free ranges coalesced, and the
// accounting.
func checkBlock(b *Block, m *model, aligns map[uint64]uint64, granularity uint64) error {
	live := make([]Allocation, 0, len(m.live))
	for _, a := range m.live {
		live = append(live, a)
	}
	slices.SortFunc(live, func(x, y Allocation) int { return cmp.Compare(x.Offset, y.Offset) })
	for i, a := range live {
		if a.Offset+a.Size > b.Size() || a.Offset+a.Size < a.Offset {
			return fmt.Errorf("allocation [%d,+%d) outside the block of %d", a.Offset, a.Size, b.Size())
		}
		if al := aligns[a.handle]; al > 1 && a.Offset%al != 0 {
			return fmt.Errorf("allocation at %d not aligned to %d", a.Offset, al)
		}
		if i > 0 && live[i-1].Offset+live[i-1].Size > a.Offset {
			return fmt.Errorf("allocations [%d,+%d) and [%d,+%d) overlap", live[i-1].Offset, live[i-1].Size, a.Offset, a.Size)
		}
		if granularity > 1 {
			for j := i + 1; j < len(live) && live[j].Offset/granularity <= (a.Offset+a.Size-1)/granularity; j++ {
				if conflicts(m.kind[a.handle], m.kind[live[j].handle]) {
					return fmt.Errorf("%v at [%d,+%d) and %v at [%d,+%d) share a %d-byte page",
						m.kind[a.handle], a.Offset, a.Size, m.kind[live[j].handle], live[j].Offset, live[j].Size, granularity)
				}
			}
		}
	}
	var pos, used uint64
	var walked []Range
	prevFree := false
	var err error
	b.Walk(func(r Range) {
		if err != nil {
			return
		}
		if r.Offset != pos {
			err = fmt.Errorf("walk: range at %d, expected %d", r.Offset, pos)
		}
		if r.Size == 0 {
			err = fmt.Errorf("walk: empty range at %d", r.Offset)
		}
		if r.Free && !r.Padding && prevFree && b.Algorithm() == AlgorithmTLSF {
			err = fmt.Errorf("walk: adjacent free ranges at %d were not coalesced", r.Offset)
		}
		prevFree = r.Free && !r.Padding
		pos = r.Offset + r.Size
		if !r.Free {
			used += r.Size
			walked = append(walked, r)
		}
	})
	if err != nil {
		return err
	}
	if pos != b.Size() {
		return fmt.Errorf("walk covers %d bytes of %d", pos, b.Size())
	}
	if len(walked) != len(live) {
		return fmt.Errorf("walk shows %d allocations, model %d", len(walked), len(live))
	}
	for i, r := range walked {
		if r.Offset != live[i].Offset || r.Size != live[i].Size {
			return fmt.Errorf("walk shows [%d,+%d), model [%d,+%d)", r.Offset, r.Size, live[i].Offset, live[i].Size)
		}
	}
	s := b.Stats()
	if s.Used != m.used || used != m.used {
		return fmt.Errorf("used: stats %d, walk %d, model %d", s.Used, used, m.used)
	}
	if s.Allocations != len(m.live) {
		return fmt.Errorf("allocations: stats %d, model %d", s.Allocations, len(m.live))
	}
	if b.tlsf != nil {
		return checkClasses(b.tlsf)
	}
	return nil
}

// checkClasses checks the TLSF's size classes: every free node is in the
// tree of the class of its size, once, and records that class; each tree
// is in strict (size, offset) order and a heap of priorities, without a
// cycle; each node's caps are its subtree's largest capacities; the
// bitmaps mark exactly the non-empty classes; freeCount counts the free
// nodes.
func checkClasses(t *tlsf) error {
	listed := 0
	for c, root := range t.roots {
		fl, sl := c>>slBits, c&(slCount-1)
		if (root != none) != (t.slBitmap[fl]&(1<<sl) != 0) {
			return fmt.Errorf("class %d: root %d but bitmap bit %v", c, root, t.slBitmap[fl]&(1<<sl) != 0)
		}
		var last *node
		var visit func(i int32, parent uint32, up int32) (caps, error)
		visit = func(i int32, parent uint32, up int32) (caps, error) {
			if i == none {
				return caps{}, nil
			}
			n := t.n(i)
			switch {
			case listed > len(t.nodes):
				return caps{}, fmt.Errorf("class %d: the tree has a cycle", c)
			case n.state != stateFree:
				return caps{}, fmt.Errorf("class %d: node %d is in the tree but not free (state %d)", c, i, n.state)
			case int(n.tag) != c || classOf(n.size) != c:
				return caps{}, fmt.Errorf("class %d: node %d of %d bytes (class %d) records class %d", c, i, n.size, classOf(n.size), n.tag)
			case prio(i) > parent:
				return caps{}, fmt.Errorf("class %d: node %d outranks its parent", c, i)
			case n.parent != up:
				return caps{}, fmt.Errorf("class %d: node %d records parent %d, is under %d", c, i, n.parent, up)
			}
			listed++
			l, err := visit(n.kids[0], prio(i), i)
			if err != nil {
				return caps{}, err
			}
			if last != nil && !before(last, n) {
				return caps{}, fmt.Errorf("class %d: [%d,+%d) after [%d,+%d): not in (size, offset) order", c, n.offset, n.size, last.offset, last.size)
			}
			last = n
			r, err := visit(n.kids[1], prio(i), i)
			if err != nil {
				return caps{}, err
			}
			cp := own(n)
			for k := range cp {
				cp[k] = max(cp[k], l[k], r[k])
			}
			if cp != n.sub {
				return caps{}, fmt.Errorf("class %d: node %d: caps %v, its subtree's %v", c, i, n.sub, cp)
			}
			return cp, nil
		}
		if _, err := visit(root, ^uint32(0), none); err != nil {
			return err
		}
	}
	for fl, m := range t.slBitmap {
		if (m != 0) != (t.flBitmap&(1<<fl) != 0) {
			return fmt.Errorf("first level %d: second-level map %#x but first-level bit %v", fl, m, t.flBitmap&(1<<fl) != 0)
		}
	}
	free := 0
	for i := range t.nodes {
		if t.nodes[i].state == stateFree {
			free++
		}
	}
	if listed != free || free != t.freeCount {
		return fmt.Errorf("%d free nodes, %d listed, freeCount %d", free, listed, t.freeCount)
	}
	return nil
}

// exercise runs ops random operations on a block, checking after each when
// every is true (else every 64 steps and at the end).
func exercise(t testing.TB, b *Block, granularity uint64, ops []op, every bool) {
	t.Helper()
	m := newModel()
	aligns := map[uint64]uint64{}
	var order []Allocation // allocation order, for linear frees
	for step, o := range ops {
		switch {
		case o.free && len(order) > 0:
			i := int(o.pick % uint64(len(order)))
			if b.Algorithm() == AlgorithmLinear {
				// Free at one end most of the time, like a ring or a stack.
				switch o.pick % 4 {
				case 0, 1:
					i = 0
				case 2:
					i = len(order) - 1
				}
			}
			a := order[i]
			order = slices.Delete(order, i, i+1)
			if err := b.Free(a); err != nil {
				t.Fatalf("step %d: free [%d,+%d): %v", step, a.Offset, a.Size, err)
			}
			m.remove(a)
			delete(aligns, a.handle)
			// The same handle again is a double free and changes nothing.
			before := snapshot(b)
			if err := b.Free(a); !errors.Is(err, ErrInvalidFree) {
				t.Fatalf("step %d: double free returned %v", step, err)
			}
			if after := snapshot(b); !slices.Equal(before, after) {
				t.Fatalf("step %d: a rejected double free changed the block", step)
			}
		case !o.free:
			a, err := b.Allocate(o.size, o.align, o.kind)
			if errors.Is(err, ErrNoSpace) {
				continue
			}
			if err != nil {
				t.Fatalf("step %d: allocate %d/%d: %v", step, o.size, o.align, err)
			}
			m.add(a, o.kind)
			aligns[a.handle] = o.align
			order = append(order, a)
		}
		if every || step%64 == 0 || step == len(ops)-1 {
			if err := checkBlock(b, m, aligns, granularity); err != nil {
				t.Fatalf("step %d: %v", step, err)
			}
		}
	}
	for _, a := range order {
		if err := b.Free(a); err != nil {
			t.Fatal(err)
		}
		m.remove(a)
	}
	if err := checkBlock(b, m, aligns, granularity); err != nil {
		t.Fatal(err)
	}
	if s := b.Stats(); s.Used != 0 || s.Allocations != 0 || s.LargestFree != b.Size() {
		t.Fatalf("after freeing everything: %+v", s)
	}
}

type op struct {
	free  bool
	size  uint64
	align uint64
	kind  Kind
	pick  uint64
}

func snapshot(b *Block) []Range {
	var rs []Range
	b.Walk(func(r Range) { rs = append(rs, r) })
	return rs
}

// decodeOps turns fuzz bytes into operations: 6 bytes each.
func decodeOps(data []byte, maxSize uint64) []op {
	var ops []op
	for len(data) >= 6 {
		c := data[:6]
		data = data[6:]
		ops = append(ops, op{
			free:  c[0]&1 == 1,
			size:  1 + (uint64(c[1])|uint64(c[2])<<8|uint64(c[3])<<16)%maxSize,
			align: 1 << (c[4] % 13),
			kind:  Kind(c[5] % 3),
			pick:  uint64(c[5]) | uint64(c[1])<<8,
		})
	}
	return ops
}

func randomOps(r *rand.Rand, n int, maxSize uint64) []op {
	ops := make([]op, n)
	for i := range ops {
		ops[i] = op{
			free:  r.IntN(2) == 0,
			size:  1 + r.Uint64N(maxSize),
			align: 1 << r.IntN(13),
			kind:  Kind(r.IntN(3)),
			pick:  r.Uint64(),
		}
	}
	return ops
}

func TestVirtualBlockRandom(t *testing.T) {
	for _, algo := range []Algorithm{AlgorithmTLSF, AlgorithmLinear} {
		for _, g := range []uint64{1, 64, 1024, 65536} {
			t.Run(fmt.Sprintf("%v/granularity=%d", algo, g), func(t *testing.T) {
				r := rand.New(rand.NewPCG(uint64(g), uint64(algo)))
				b, err := New(Options{Size: 1 << 22, Algorithm: algo, Granularity: g})
				if err != nil {
					t.Fatal(err)
				}
				exercise(t, b, g, randomOps(r, 20_000, 1<<16), false)
			})
		}
	}
}

func FuzzVirtualBlock(f *testing.F) {
	f.Add([]byte{0, 10, 0, 0, 3, 1, 0, 20, 0, 0, 8, 2, 1, 0, 0, 0, 0, 0})
	f.Add([]byte{0, 255, 255, 0, 12, 0, 0, 1, 0, 0, 0, 1, 1, 7, 0, 0, 0, 2, 0, 3, 3, 0, 4, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		g := uint64(1) << (len(data) % 11)
		algo := Algorithm(len(data) / 6 % 2)
		b, err := New(Options{Size: 1 << 20, Algorithm: algo, Granularity: g})
		if err != nil {
			t.Fatal(err)
		}
		exercise(t, b, g, decodeOps(data, 1<<17), true)
	})
}

// TestCheckBlockCatchesCorruption proves the oracle: planted corruptions of
// a block's state must each be reported.
func TestCheckBlockCatchesCorruption(t *testing.T) {
	setup := func() (*Block, *model, map[uint64]uint64, *tlsf) {
		b, _ := New(Options{Size: 1 << 16, Granularity: 256})
		m, aligns := newModel(), map[uint64]uint64{}
		for i, k := range []Kind{KindLinear, KindOptimal, KindLinear} {
			a, err := b.Allocate(100+uint64(i), 64, k)
			if err != nil {
				t.Fatal(err)
			}
			m.add(a, k)
			aligns[a.handle] = 64
		}
		if err := checkBlock(b, m, aligns, 256); err != nil {
			t.Fatalf("clean block reported: %v", err)
		}
		return b, m, aligns, b.meta.(tlsfMeta).tlsf
	}
	cases := map[string]func(b *Block, m *model, aligns map[uint64]uint64, tl *tlsf){
		"overlap": func(b *Block, m *model, _ map[uint64]uint64, _ *tlsf) {
			for h, a := range m.live {
				if a.Offset > 0 {
					a.Offset -= 64
					m.live[h] = a
					break
				}
			}
		},
		"misaligned": func(_ *Block, _ *model, aligns map[uint64]uint64, _ *tlsf) {
			for h := range aligns {
				aligns[h] = 1 << 20
			}
		},
		"granularity": func(b *Block, m *model, _ map[uint64]uint64, _ *tlsf) {
			a, _ := b.Allocate(8, 1, KindAny)
			m.add(a, KindOptimal) // the model says optimal; placed with no page check
			b2, _ := b.Allocate(8, 1, KindAny)
			m.add(b2, KindLinear)
		},
		"accounting": func(_ *Block, _ *model, _ map[uint64]uint64, tl *tlsf) { tl.used++ },
		// A free node whose record of its class is not the tree it is in.
		"misfiled": func(_ *Block, _ *model, _ map[uint64]uint64, tl *tlsf) {
			for i := range tl.nodes {
				if n := &tl.nodes[i]; n.state == stateFree {
					n.tag++
					return
				}
			}
		},
		// A free node whose caps are not its subtree's.
		"stale caps": func(_ *Block, _ *model, _ map[uint64]uint64, tl *tlsf) {
			for i := range tl.nodes {
				if n := &tl.nodes[i]; n.state == stateFree {
					n.sub[capLevels-1]++
					return
				}
			}
		},
		// A free node whose record of its parent is not the node above it.
		"stale parent": func(_ *Block, _ *model, _ map[uint64]uint64, tl *tlsf) {
			for i := range tl.nodes {
				if n := &tl.nodes[i]; n.state == stateFree {
					n.parent = int32(i)
					return
				}
			}
		},
		"unlisted": func(_ *Block, _ *model, _ map[uint64]uint64, tl *tlsf) {
			for i := range tl.nodes {
				if n := &tl.nodes[i]; n.state == stateFree {
					tl.unlink(int32(i))
					tl.freeCount++
					return
				}
			}
		},
		"uncoalesced": func(_ *Block, _ *model, _ map[uint64]uint64, tl *tlsf) {
			// Split a free range in two without merging.
			for i := range len(tl.nodes) {
				n := tl.n(int32(i))
				if n.state == stateFree && n.size > 2 {
					tl.unlink(int32(i))
					half := n.size / 2
					f := tl.newNode()
					n = tl.n(int32(i))
					*tl.n(f) = node{offset: n.offset + half, size: n.size - half, prevPhys: int32(i), nextPhys: n.nextPhys}
					if n.nextPhys != none {
						tl.n(n.nextPhys).prevPhys = f
					}
					n.size = half
					n.nextPhys = f
					tl.insertFree(int32(i))
					tl.insertFree(f)
					return
				}
			}
		},
	}
	for name, corrupt := range cases {
		t.Run(name, func(t *testing.T) {
			b, m, aligns, tl := setup()
			corrupt(b, m, aligns, tl)
			if err := checkBlock(b, m, aligns, 256); err == nil {
				t.Fatal("the corruption was not reported")
			} else {
				t.Logf("reported: %v", err)
			}
		})
	}
}

func TestVirtualBlockBadInput(t *testing.T) {
	for _, algo := range []Algorithm{AlgorithmTLSF, AlgorithmLinear} {
		t.Run(algo.String(), func(t *testing.T) {
			b, err := New(Options{Size: 4096, Algorithm: algo})
			if err != nil {
				t.Fatal(err)
			}
			a, err := b.Allocate(100, 16, KindAny)
			if err != nil {
				t.Fatal(err)
			}
			before := snapshot(b)
			other, _ := New(Options{Size: 4096, Algorithm: algo})
			foreign, _ := other.Allocate(100, 16, KindAny)
			checks := []struct {
				name string
				err  error
				want error
			}{
				{"zero size", second(b.Allocate(0, 1, KindAny)), ErrZeroSize},
				{"alignment 3", second(b.Allocate(10, 3, KindAny)), ErrBadAlignment},
				{"too large", second(b.Allocate(8192, 1, KindAny)), ErrNoSpace},
				{"zero allocation", b.Free(Allocation{}), ErrInvalidFree},
				{"foreign", b.Free(foreign), ErrForeignFree},
				{"forged offset", b.Free(Allocation{Offset: a.Offset + 1, Size: a.Size, handle: a.handle}), ErrInvalidFree},
			}
			for _, c := range checks {
				if !errors.Is(c.err, c.want) {
					t.Errorf("%s: got %v, want %v", c.name, c.err, c.want)
				}
			}
			if after := snapshot(b); !slices.Equal(before, after) {
				t.Fatal("bad input changed the block")
			}
			if err := b.Free(a); err != nil {
				t.Fatal(err)
			}
			if err := b.Free(a); !errors.Is(err, ErrInvalidFree) {
				t.Fatalf("double free: %v", err)
			}
		})
	}
	if _, err := New(Options{}); !errors.Is(err, ErrBlockSize) {
		t.Errorf("size 0: %v", err)
	}
	if _, err := New(Options{Size: 10, Granularity: 3}); !errors.Is(err, ErrBadGranularity) {
		t.Errorf("granularity 3: %v", err)
	}
	if _, err := New(Options{Size: 10, Algorithm: 9}); !errors.Is(err, ErrUnknownAlgorithm) {
		t.Errorf("algorithm 9: %v", err)
	}
}

func second[T any](_ T, err error) error { return err }

// TestLinearRingAndStack: a ring reuses space freed at the front, a stack at
// the back.
func TestLinearRingAndStack(t *testing.T) {
	b, _ := New(Options{Size: 1000, Algorithm: AlgorithmLinear})
	var ring []Allocation
	for i := range 10 {
		a, err := b.Allocate(100, 1, KindAny)
		if err != nil {
			t.Fatalf("fill %d: %v", i, err)
		}
		ring = append(ring, a)
	}
	if _, err := b.Allocate(1, 1, KindAny); !errors.Is(err, ErrNoSpace) {
		t.Fatalf("full block: %v", err)
	}
	// Ring: free the two oldest, the next allocation wraps to offset 0.
	_ = b.Free(ring[0])
	_ = b.Free(ring[1])
	a, err := b.Allocate(150, 1, KindAny)
	if err != nil || a.Offset != 0 {
		t.Fatalf("wrap: %+v %v", a, err)
	}
	// Stack: free the newest, its space is reused at once.
	_ = b.Free(a)
	a2, err := b.Allocate(200, 1, KindAny)
	if err != nil || a2.Offset != 0 {
		t.Fatalf("stack reuse: %+v %v", a2, err)
	}
}

func TestVirtualBlockZeroAllocs(t *testing.T) {
	b, _ := New(Options{Size: 1 << 28, Granularity: 1024})
	r := rand.New(rand.NewPCG(1, 2))
	live := make([]Allocation, 0, 1024)
	for range 512 { // warm the node slice
		a, _ := b.Allocate(1+r.Uint64N(1<<16), 256, KindLinear)
		live = append(live, a)
	}
	allocs := testing.AllocsPerRun(10_000, func() {
		i := r.IntN(len(live))
		_ = b.Free(live[i])
		a, err := b.Allocate(1+r.Uint64N(1<<16), 1<<r.IntN(13), Kind(r.IntN(3)))
		if err == nil {
			live[i] = a
		} else {
			live[i] = live[len(live)-1]
			live = live[:len(live)-1]
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per alloc/free pair", allocs)
	}
}

func TestFreeHandle(t *testing.T) {
	b, _ := New(Options{Size: 4096})
	a, err := b.Allocate(100, 16, KindAny)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := New(Options{Size: 4096})
	if err := other.FreeHandle(a.Handle()); !errors.Is(err, ErrForeignFree) {
		t.Fatalf("foreign handle: %v", err)
	}
	if err := b.FreeHandle(a.Handle()); err != nil {
		t.Fatal(err)
	}
	if err := b.FreeHandle(a.Handle()); !errors.Is(err, ErrInvalidFree) {
		t.Fatalf("stale handle: %v", err)
	}
	if err := b.FreeHandle(0); !errors.Is(err, ErrInvalidFree) {
		t.Fatalf("zero handle: %v", err)
	}
}

// TestLargePaddingIsFree: an allocation placed at the end of a range with a
// large alignment (a 64 KiB-aligned image) does not carry the tail up to the
// range's end as padding: from 4 KiB up it is a free range others can use.
func TestLargePaddingIsFree(t *testing.T) {
	b, err := New(Options{Size: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	img, err := b.Allocate(100, 1<<16, KindAny)
	if err != nil {
		t.Fatal(err)
	}
	var after *Range
	b.Walk(func(r Range) {
		if r.Offset == img.Offset+img.Size {
			after = &r
		}
	})
	if after == nil || !after.Free || after.Padding || after.Size < 4096 {
		t.Fatalf("range after a 64 KiB-aligned 100-byte allocation: %+v; want a free range, not padding", after)
	}
	if st := b.Stats(); st.FreeRanges != 2 {
		t.Fatalf("%d free ranges, want 2 (in front of the allocation and after it)", st.FreeRanges)
	}
	// Small padding is still carried: one node fewer.
	c, _ := New(Options{Size: 1 << 20})
	x, _ := c.Allocate(100, 1024, KindAny)
	c.Walk(func(r Range) {
		if r.Offset == x.Offset+x.Size && !r.Padding {
			t.Fatalf("padding of %d bytes filed as a free range: %+v", r.Size, r)
		}
	})
}

// TestGenerationDoesNotWrap reuses one node slot past 2^16 (and 2^17)
// allocations: a handle from before stays refused all the way, by Free,
// FreeHandle and Check, and the live allocation in the slot is untouched.
// (With 16-bit generations the 65,536th reuse matched the stale handle.)
func TestGenerationDoesNotWrap(t *testing.T) {
	b, _ := New(Options{Size: 1 << 20})
	stale, err := b.Allocate(256, 256, KindAny)
	if err != nil {
		t.Fatal(err)
	}
	slot := stale.handle & (maxNodes - 1)
	if err := b.Free(stale); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 1<<17+3; i++ {
		a, err := b.Allocate(256, 256, KindAny)
		if err != nil {
			t.Fatal(err)
		}
		if a.handle&(maxNodes-1) != slot || a.Offset != stale.Offset || a.Size != stale.Size {
			t.Fatalf("reuse %d: the allocation is not in the stale handle's slot and range", i)
		}
		if err := b.Check(stale); !errors.Is(err, ErrInvalidFree) {
			t.Fatalf("reuse %d of the slot: the stale handle was accepted (%v)", i, err)
		}
		if i&(1<<16-1) == 0 { // the reuses where a 16-bit generation comes back
			if err := b.Free(stale); !errors.Is(err, ErrInvalidFree) {
				t.Fatalf("reuse %d: Free of the stale handle: %v", i, err)
			}
			if err := b.FreeHandle(stale.Handle()); !errors.Is(err, ErrInvalidFree) {
				t.Fatalf("reuse %d: FreeHandle of the stale handle: %v", i, err)
			}
			if b.Stats().Allocations != 1 {
				t.Fatalf("reuse %d: the live allocation was freed", i)
			}
		}
		if err := b.Free(a); err != nil {
			t.Fatal(err)
		}
	}
}

// TestLinearStaleHandleAfterStackReuse: a stack reuses the sequence number
// of the allocation freed last; its stale handle is refused and the new
// allocation in its place stays live.
func TestLinearStaleHandleAfterStackReuse(t *testing.T) {
	b, _ := New(Options{Size: 4096, Algorithm: AlgorithmLinear})
	first, _ := b.Allocate(100, 1, KindAny)
	top, _ := b.Allocate(100, 1, KindAny)
	if err := b.Free(top); err != nil {
		t.Fatal(err)
	}
	again, err := b.Allocate(100, 1, KindAny)
	if err != nil || again.Offset != top.Offset {
		t.Fatalf("stack reuse: %+v %v", again, err)
	}
	if err := b.Free(top); !errors.Is(err, ErrInvalidFree) {
		t.Fatalf("stale handle of the reused position: %v", err)
	}
	if err := b.FreeHandle(top.Handle()); !errors.Is(err, ErrInvalidFree) {
		t.Fatalf("stale FreeHandle: %v", err)
	}
	if st := b.Stats(); st.Allocations != 2 {
		t.Fatalf("%d allocations, want 2", st.Allocations)
	}
	for _, a := range []Allocation{again, first} {
		if err := b.Free(a); err != nil {
			t.Fatal(err)
		}
	}
}

// TestForeignHandleSameBlockID: blocks 256 apart share their 8-bit id; the
// other block's handle is still refused, by its generation, and changes
// nothing.
func TestForeignHandleSameBlockID(t *testing.T) {
	for _, algo := range []Algorithm{AlgorithmTLSF, AlgorithmLinear} {
		b, _ := New(Options{Size: 4096, Algorithm: algo})
		var other *Block
		for range 1 << 20 { // 256 unless other tests make blocks meanwhile
			if other, _ = New(Options{Size: 4096, Algorithm: algo}); other.id == b.id {
				break
			}
		}
		if other.id != b.id {
			t.Fatal("no block with the same id")
		}
		mine, _ := b.Allocate(100, 16, KindAny)
		theirs, _ := other.Allocate(100, 16, KindAny)
		if mine.Offset != theirs.Offset || mine.handle&(maxNodes-1) != theirs.handle&(maxNodes-1) {
			t.Fatalf("%v: the two allocations should share offset and slot", algo)
		}
		before := snapshot(b)
		if err := b.Free(theirs); !errors.Is(err, ErrInvalidFree) {
			t.Fatalf("%v: foreign allocation with the same block id: %v", algo, err)
		}
		if err := b.FreeHandle(theirs.Handle()); !errors.Is(err, ErrInvalidFree) {
			t.Fatalf("%v: foreign handle with the same block id: %v", algo, err)
		}
		if !slices.Equal(before, snapshot(b)) {
			t.Fatalf("%v: a refused free changed the block", algo)
		}
	}
}

// TestRekeyKeepsOrder changes free ranges' keys in place where rekey
// accepts it: it must accept exactly the keys that keep the range's class
// and its place between its in-order neighbours, and leave the trees
// valid (checkClasses).
func TestRekeyKeepsOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(16, 1))
	accepted, refused := 0, 0
	for round := range 300 {
		tl := newTLSF(1<<20, 1, 0)
		var refs []uint64
		for range 200 {
			// Sizes close together, so that classes hold several ranges.
			if ref, _, ok := tl.alloc(uint64(3000+rng.IntN(200)), 1, KindAny); ok {
				refs = append(refs, ref)
			}
		}
		for k, r := range refs {
			if k%2 == 0 {
				i, _ := tl.lookup(r)
				tl.free(i)
			}
		}
		for range 50 {
			var free []int32
			for i := range tl.nodes {
				if tl.nodes[i].state == stateFree {
					free = append(free, int32(i))
				}
			}
			i := free[rng.IntN(len(free))]
			n := &tl.nodes[i]
			size, off := n.size, n.offset
			was := fmt.Sprintf("[%d,+%d)", off, size)
			switch rng.IntN(3) {
			case 0:
				size = max(1, size-uint64(rng.IntN(40)))
			case 1:
				size += uint64(rng.IntN(40))
			default:
				off -= uint64(rng.IntN(int(min(off, 40)) + 1))
				size += n.offset - off
			}
			// The expected answer, from the class's ranges in order.
			var class []int32
			var visit func(x int32)
			visit = func(x int32) {
				if x != none {
					visit(tl.nodes[x].kids[0])
					class = append(class, x)
					visit(tl.nodes[x].kids[1])
				}
			}
			visit(tl.roots[n.tag])
			k := slices.Index(class, i)
			want := classOf(size) == int(n.tag) &&
				(k == 0 || less(tl.nodes[class[k-1]].size, tl.nodes[class[k-1]].offset, size, off)) &&
				(k == len(class)-1 || less(size, off, tl.nodes[class[k+1]].size, tl.nodes[class[k+1]].offset))
			if got := tl.rekey(i, off, size); got != want {
				t.Fatalf("round %d: rekey of %s to [%d,+%d): %v, want %v", round, was, off, size, got, want)
			}
			if want {
				accepted++
			} else {
				refused++
			}
			if err := checkClasses(tl); err != nil {
				t.Fatalf("round %d: after rekey to [%d,+%d): %v", round, off, size, err)
			}
		}
	}
	t.Logf("%d keys accepted in place, %d refused", accepted, refused)
}
