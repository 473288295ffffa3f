package virtual

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestDoubleStackLayout: lower allocations go up from 0, upper ones down
// from the end; when the two stacks meet both kinds fail with ErrNoSpace;
// freeing the top of either stack reopens exactly that space; freeing in
// the middle of the upper stack is reclaimed when the entries below it go.
func TestDoubleStackLayout(t *testing.T) {
	b, _ := New(Options{Size: 1000, Algorithm: AlgorithmLinear})
	lo1, _ := b.Allocate(300, 1, KindAny)
	lo2, _ := b.Allocate(100, 1, KindAny)
	up1, err := b.AllocateUpper(200, 1, KindAny)
	if err != nil || up1.Offset != 800 {
		t.Fatalf("first upper: %+v %v", up1, err)
	}
	up2, err := b.AllocateUpper(150, 8, KindAny)
	if err != nil || up2.Offset != 648 { // (800-150) aligned down to 8
		t.Fatalf("second upper: %+v %v", up2, err)
	}
	if lo1.Offset != 0 || lo2.Offset != 300 {
		t.Fatalf("lower: %d %d", lo1.Offset, lo2.Offset)
	}
	// 248 bytes between 400 and 648.
	if _, err := b.Allocate(249, 1, KindAny); !errors.Is(err, ErrNoSpace) {
		t.Fatalf("lower past the upper stack: %v", err)
	}
	if _, err := b.AllocateUpper(249, 1, KindAny); !errors.Is(err, ErrNoSpace) {
		t.Fatalf("upper past the lower stack: %v", err)
	}
	mid, err := b.Allocate(248, 1, KindAny)
	if err != nil || mid.Offset != 400 {
		t.Fatalf("the stacks meet: %+v %v", mid, err)
	}
	if s := b.Stats(); s.Used != 300+100+200+150+248 || s.Allocations != 5 {
		t.Fatalf("stats: %+v", s)
	}
	if _, err := b.AllocateUpper(1, 1, KindAny); !errors.Is(err, ErrNoSpace) {
		t.Fatalf("full: %v", err)
	}
	// Freeing the upper top (up2) reopens its 152 bytes at the upper end.
	if err := b.Free(up2); err != nil {
		t.Fatal(err)
	}
	if a, err := b.AllocateUpper(152, 1, KindAny); err != nil || a.Offset != 648 {
		t.Fatalf("reopened: %+v %v", a, err)
	} else {
		up2 = a
	}
	// up1 freed while up2 lives: nothing reopens until up2 goes.
	_ = b.Free(up1)
	if _, err := b.AllocateUpper(1, 1, KindAny); !errors.Is(err, ErrNoSpace) {
		t.Fatalf("middle of the upper stack: %v", err)
	}
	_ = b.Free(up2)
	_ = b.Free(mid)
	if a, err := b.AllocateUpper(600, 1, KindAny); err != nil || a.Offset != 400 {
		t.Fatalf("both upper entries gone: %+v %v", a, err)
	}
	if err := b.Free(up1); !errors.Is(err, ErrInvalidFree) {
		t.Fatalf("double free of an upper allocation: %v", err)
	}
}

// TestDoubleStackRefusals: an upper-address allocation in a TLSF block is
// ErrNotLinear; in a linear block used as a ring (its allocations wrapped
// around the end) ErrRingInUse; and while upper allocations live, the
// lower stack does not wrap around.
func TestDoubleStackRefusals(t *testing.T) {
	tl, _ := New(Options{Size: 1000})
	if _, err := tl.AllocateUpper(10, 1, KindAny); !errors.Is(err, ErrNotLinear) {
		t.Fatalf("TLSF: %v", err)
	}
	b, _ := New(Options{Size: 1000, Algorithm: AlgorithmLinear})
	var ring []Allocation
	for range 10 {
		a, _ := b.Allocate(100, 1, KindAny)
		ring = append(ring, a)
	}
	_ = b.Free(ring[0])
	w, err := b.Allocate(100, 1, KindAny)
	if err != nil || w.Offset != 0 {
		t.Fatalf("wrap: %+v %v", w, err)
	}
	if _, err := b.AllocateUpper(10, 1, KindAny); !errors.Is(err, ErrRingInUse) {
		t.Fatalf("ring: %v", err)
	}

	d, _ := New(Options{Size: 1000, Algorithm: AlgorithmLinear})
	first, _ := d.Allocate(400, 1, KindAny)
	_, _ = d.Allocate(400, 1, KindAny)
	up, _ := d.AllocateUpper(100, 1, KindAny)
	_ = d.Free(first) // 400 free at the start, 100 between the stacks
	if _, err := d.Allocate(200, 1, KindAny); !errors.Is(err, ErrNoSpace) {
		t.Fatalf("wrapped under a double stack: %v", err)
	}
	_ = d.Free(up)
	if a, err := d.Allocate(200, 1, KindAny); err != nil || a.Offset != 800 {
		t.Fatalf("no upper any more, the end is free: %+v %v", a, err)
	}
}

// TestDoubleStackRandom: random lower and upper allocations and frees at
// the stacks' tops and in their middles, with granularity, every
// invariant of checkBlock after each step (no overlap, alignment, kinds
// apart by pages, the walk covering the block, the accounting), a double
// free refused without change, and the block whole at the end.
func TestDoubleStackRandom(t *testing.T) {
	for _, g := range []uint64{1, 256, 4096} {
		t.Run(fmt.Sprintf("granularity=%d", g), func(t *testing.T) {
			r := rand.New(rand.NewPCG(g, 9))
			b, _ := New(Options{Size: 1 << 20, Algorithm: AlgorithmLinear, Granularity: g})
			m := newModel()
			aligns := map[uint64]uint64{}
			var lower, upper []Allocation
			full, ring, both := 0, 0, 0 // refusals: the stacks met, the lower one wrapped; steps with both stacks
			for step := range 6000 {
				free := func(list *[]Allocation) {
					if len(*list) == 0 {
						return
					}
					i := len(*list) - 1 // the top, mostly
					if r.IntN(3) == 0 {
						i = r.IntN(len(*list))
					}
					a := (*list)[i]
					*list = slices.Delete(*list, i, i+1)
					if err := b.Free(a); err != nil {
						t.Fatalf("step %d: free: %v", step, err)
					}
					m.remove(a)
					before := snapshot(b)
					if err := b.Free(a); !errors.Is(err, ErrInvalidFree) || !slices.Equal(before, snapshot(b)) {
						t.Fatalf("step %d: double free: %v", step, err)
					}
				}
				size, align, kind := 1+r.Uint64N(1<<15), uint64(1)<<r.IntN(10), Kind(r.IntN(3))
				switch r.IntN(6) {
				case 0, 1:
					a, err := b.Allocate(size, align, kind)
					if err == nil {
						m.add(a, kind)
						aligns[a.handle] = align
						lower = append(lower, a)
					} else if !errors.Is(err, ErrNoSpace) {
						t.Fatal(err)
					} else {
						full++
					}
				case 2, 3:
					a, err := b.AllocateUpper(size, align, kind)
					if err == nil {
						m.add(a, kind)
						aligns[a.handle] = align
						upper = append(upper, a)
					} else if errors.Is(err, ErrRingInUse) {
						ring++ // the lower stack wrapped while the upper one was empty
					} else if !errors.Is(err, ErrNoSpace) {
						t.Fatalf("step %d: upper: %v", step, err)
					} else {
						full++
					}
				case 4:
					free(&lower)
				case 5:
					free(&upper)
				}
				if err := checkBlock(b, m, aligns, g); err != nil {
					t.Fatalf("step %d: %v", step, err)
				}
				if len(lower) > 0 && len(upper) > 0 {
					both++
				}
			}
			if both < 1000 || full < 100 {
				t.Fatalf("the trace did not fill both stacks: %d steps with both, %d refusals", both, full)
			}
			t.Logf("%d steps with both stacks, %d refusals where they met, %d upper ones while the lower stack was a ring", both, full, ring)
			for _, a := range append(lower, upper...) {
				if err := b.Free(a); err != nil {
					t.Fatal(err)
				}
				m.remove(a)
			}
			if s := b.Stats(); s.Used != 0 || s.Allocations != 0 || s.LargestFree != b.Size() {
				t.Fatalf("after freeing everything: %+v", s)
			}
			if err := checkBlock(b, m, aligns, g); err != nil {
				t.Fatal(err)
			}
		})
	}
}
