package alloc_test

import (
	"errors"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkassets/vkassets/alloc"
	"github.com/vkassets/vkassets/alloc/simdev"
	"github.com/vkassets/vkassets/vk"
)

// Adversarial tests of the defragmentation API: what other goroutines do
// to a pass's sources and to the allocator while the pass is open.

// fragmentRaw makes n raw host-visible allocations (not mapped) and frees
// a random half; it returns the rest.
func fragmentRaw(t *testing.T, a *alloc.Allocator, n int, seed uint64) []alloc.Allocation {
	r := rand.New(rand.NewPCG(seed, 5))
	var als []alloc.Allocation
	for i := range n {
		al, err := a.Allocate(vk.MemoryRequirements{Size: uint64(256 + r.IntN(64<<10)), Alignment: 256, TypeBits: ^uint32(0)},
			alloc.AllocationOptions{Usage: alloc.UsageUpload, Kind: alloc.KindLinear, UserData: i})
		require.NoError(t, err)
		als = append(als, al)
	}
	r.Shuffle(len(als), func(i, j int) { als[i], als[j] = als[j], als[i] })
	for _, al := range als[n/2:] {
		require.NoError(t, a.Free(al))
	}
	return als[:n/2]
}

// allMapRefs is the number of blocks with mapping references (counted
// per block: a block's count below 0 does not hide another's above), and
// of the blocks mapped.
func allMapRefs(a *alloc.Allocator) (refs, mapped int) {
	for _, b := range a.Blocks() {
		if b.MapRefCount != 0 {
			refs++
		}
		if b.Mapped {
			mapped++
		}
	}
	return refs, mapped
}

// TestDefragBreakMapDuringPass: another goroutine maps (Map) a source of
// the open pass after it was planned — the planner leaves mapped
// allocations alone, but this one was not mapped yet. The application
// carries the move out (MoveCopy). The mapping must follow the allocation:
// Unmap of its new value undoes it, an unrelated mapping of the
// destination block is not undone by it, and once every Map is undone no
// block stays mapped.
func TestDefragBreakMapDuringPass(t *testing.T) {
	d, err := simdev.Load("1080 Ti")
	require.NoError(t, err)
	a, err := alloc.New(alloc.Options{Device: d, PreferredBlockSize: 4 << 20})
	require.NoError(t, err)
	live := fragmentRaw(t, a, 400, 21)
	require.Zero(t, first(allMapRefs(a)))

	dfr, err := a.BeginDefragmentation(alloc.DefragOptions{})
	require.NoError(t, err)
	moves, err := dfr.BeginPass()
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(moves), 2)
	x, z := moves[0].Src, moves[1].Src
	var wg sync.WaitGroup
	wg.Go(func() { // the mappings, from elsewhere, during the pass
		for _, al := range []alloc.Allocation{x, z} {
			p, err := a.Map(al)
			if err != nil {
				t.Errorf("map: %v", err)
				return
			}
			p[0] = 1
		}
	})
	wg.Wait()
	// z's resource is destroyed instead: its mapping goes with it, as
	// with Free.
	moves[1].Op = alloc.MoveDestroy
	for i := range live {
		if sameRange(live[i], z) {
			live = append(live[:i], live[i+1:]...)
			break
		}
	}
	require.NoError(t, dfr.EndPass()) // the others MoveCopy
	dst := moves[0].Dst
	require.False(t, dst.IsZero(), "the application's move took place")
	for i := range live {
		for _, m := range moves {
			if sameRange(live[i], m.Src) && !m.Dst.IsZero() {
				live[i] = m.Dst
			}
		}
	}
	// An unrelated allocation of the destination block, mapped.
	var y alloc.Allocation
	for _, al := range live {
		if al.Memory == dst.Memory && !sameRange(al, dst) {
			y = al
			break
		}
	}
	require.False(t, y.IsZero(), "another allocation lives in the destination block")
	_, err = a.Map(y)
	require.NoError(t, err)

	// The Map of x is undone through its new value.
	require.NoError(t, a.Unmap(dst), "Unmap of the moved allocation undoes the Map made during the pass")
	for _, b := range a.Blocks() {
		if b.Memory == dst.Memory {
			require.True(t, b.Mapped, "the destination block was unmapped under another allocation's mapping")
			require.Equal(t, 1, b.MapRefCount, "the destination block's mappings: y's")
		}
	}
	require.NoError(t, a.Unmap(y))
	refs, mapped := allMapRefs(a)
	require.Zero(t, refs, "every Map undone: no mapping reference left")
	require.Zero(t, mapped, "every Map undone: no block mapped")
	require.ErrorIs(t, a.Unmap(dst), alloc.ErrNotMapped, "a second Unmap")
	dfr.End()
	for _, al := range live {
		require.NoError(t, a.Free(al))
	}
	require.NoError(t, a.Close())
	require.Zero(t, a.DeviceAllocations())
	require.Empty(t, d.Violations())
}

func first[T any](v T, _ ...any) T { return v }

func sameRange(x, y alloc.Allocation) bool { return x.Memory == y.Memory && x.Offset == y.Offset }

// owned is an allocation of TestDefragBreakConcurrentMaps's defragmenter,
// with the Maps not yet undone on it; mu guards the table's entries.
type owned struct {
	al    alloc.Allocation
	maps  int
	freed bool
}

// TestDefragBreakConcurrentMaps: one goroutine owns allocations and
// defragments them (carrying out its moves, ignoring the others', freeing
// some of its sources during passes, ending some defragmentations with a
// pass open), another maps and unmaps the owner's allocations through the
// owner's table, and two more allocate, map, unmap and free their own.
// Every Map that succeeded is undone by one Unmap of the allocation's
// value at that time; at the end no mapping reference is left, no block
// is mapped, nothing leaks and the simulated driver saw no violation.
func TestDefragBreakConcurrentMaps(t *testing.T) {
	for seed := range uint64(4) {
		d, err := simdev.Load("1080 Ti")
		require.NoError(t, err)
		a, err := alloc.New(alloc.Options{Device: d, PreferredBlockSize: 1 << 20})
		require.NoError(t, err)
		var mu sync.Mutex // guards table, its entries and sources
		var table []*owned
		var sources []*owned // the owner's entries the open pass moves
		for _, al := range fragmentRaw(t, a, 300, seed) {
			table = append(table, &owned{al: al})
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		var followed atomic.Int64
		wg.Go(func() { // the mapper
			r := rand.New(rand.NewPCG(seed, 1))
			for {
				select {
				case <-stop:
					return
				default:
				}
				mu.Lock()
				e := table[r.IntN(len(table))]
				if len(sources) > 0 && r.IntN(2) == 0 { // the adversary: a source of the open pass
					e = sources[r.IntN(len(sources))]
				}
				al, freed, maps := e.al, e.freed, e.maps
				mu.Unlock()
				if freed {
					continue
				}
				if maps > 0 && r.IntN(4) != 0 {
					mu.Lock()
					if e.freed || e.maps == 0 {
						mu.Unlock()
						continue
					}
					// Under the table's lock: the owner does not move
					// or free it meanwhile.
					err := a.Unmap(e.al)
					if err == nil {
						e.maps--
					}
					mu.Unlock()
					if err != nil {
						t.Errorf("unmap of a mapped allocation: %v", err)
						return
					}
					continue
				}
				if _, err := a.Map(al); err != nil {
					continue // moved or freed meanwhile: a stale value, refused
				}
				mu.Lock()
				// Moved meanwhile, the Map followed it (undone on the new
				// value); freed, its mappings went with it.
				if !e.freed {
					e.maps++
				}
				if !sameRange(e.al, al) {
					followed.Add(1)
				}
				mu.Unlock()
			}
		})
		for g := range uint64(2) { // allocators of their own
			wg.Go(func() {
				r := rand.New(rand.NewPCG(seed, 10+g))
				type mine struct {
					al   alloc.Allocation
					maps int
				}
				var own []mine
				defer func() {
					for _, m := range own {
						for range m.maps {
							if err := a.Unmap(m.al); err != nil {
								t.Error(err)
							}
						}
						if err := a.Free(m.al); err != nil {
							t.Error(err)
						}
					}
				}()
				for {
					select {
					case <-stop:
						return
					default:
					}
					switch k := r.IntN(4); {
					case len(own) < 10 || k == 0 && len(own) < 40:
						al, err := a.Allocate(vk.MemoryRequirements{Size: uint64(256 + r.IntN(16<<10)), Alignment: 256, TypeBits: ^uint32(0)},
							alloc.AllocationOptions{Usage: alloc.UsageUpload, Kind: alloc.KindLinear, UserData: "churn"})
						if err != nil {
							t.Error(err)
							return
						}
						own = append(own, mine{al: al})
					case k == 1:
						i := r.IntN(len(own))
						if _, err := a.Map(own[i].al); err != nil {
							t.Error(err)
							return
						}
						own[i].maps++
					case k == 2:
						i := r.IntN(len(own))
						if own[i].maps > 0 {
							if err := a.Unmap(own[i].al); err != nil {
								t.Error(err)
								return
							}
							own[i].maps--
						}
					default:
						i := r.IntN(len(own))
						if err := a.Free(own[i].al); err != nil {
							t.Error(err)
							return
						}
						own = append(own[:i], own[i+1:]...)
					}
				}
			})
		}
		// The owner defragments.
		r := rand.New(rand.NewPCG(seed, 2))
		moved := 0
		for round := 0; round < 20; round++ {
			dfr, err := a.BeginDefragmentation(alloc.DefragOptions{MaxMovesPerPass: 8, Algorithm: alloc.DefragAlgorithm(r.IntN(2))})
			require.NoError(t, err)
			for pass := 0; pass < 20; pass++ {
				moves, err := dfr.BeginPass()
				require.NoError(t, err)
				if len(moves) == 0 {
					break
				}
				entry := make([]*owned, len(moves))
				mu.Lock()
				for i := range moves {
					moves[i].Op = alloc.MoveIgnore
					for _, e := range table {
						if !e.freed && sameRange(e.al, moves[i].Src) {
							entry[i] = e
							moves[i].Op = alloc.MoveCopy
						}
					}
				}
				sources = sources[:0]
				for _, e := range entry {
					if e != nil {
						sources = append(sources, e)
					}
				}
				mu.Unlock()
				for i, e := range entry {
					if e != nil && r.IntN(8) == 0 { // a source freed during its pass
						mu.Lock()
						require.NoError(t, a.Free(e.al))
						e.freed, e.maps = true, 0
						mu.Unlock()
						entry[i] = nil
					}
				}
				// The copies take a while: the others go on meanwhile.
				for range 100 {
					runtime.Gosched()
				}
				if r.IntN(10) == 0 {
					dfr.End() // with the pass open: given back
					break
				}
				mu.Lock() // the moves and the table change together
				require.NoError(t, dfr.EndPass())
				sources = sources[:0]
				for i, e := range entry {
					if e != nil && !moves[i].Dst.IsZero() {
						e.al = moves[i].Dst
						moved++
					}
				}
				mu.Unlock()
			}
			dfr.End()
		}
		close(stop)
		wg.Wait()
		for _, e := range table {
			if e.freed {
				continue
			}
			for range e.maps {
				require.NoError(t, a.Unmap(e.al))
			}
			require.NoError(t, a.Free(e.al))
		}
		refs, mapped := allMapRefs(a)
		t.Logf("seed %d: %d moved, %d maps followed a move", seed, moved, followed.Load())
		require.Positive(t, moved)
		require.Zero(t, refs, "blocks with mapping references left")
		require.Zero(t, mapped, "blocks left mapped")
		require.NoError(t, a.Close())
		require.Zero(t, a.DeviceAllocations())
		require.Empty(t, d.Violations())
	}
}

// TestDefragBreakBeginEndRace: eight goroutines begin defragmentations at
// once, run a pass and end it (some End with the pass open, some End a
// defragmentation another goroutine owns, some call EndPass and End
// twice). A defragmentation begins only once the one before it has ended;
// an ended one refuses passes with ErrDefragEnded; its second End changes
// nothing (the next one still begins); every allocation stays live and
// Close finds exactly them.
func TestDefragBreakBeginEndRace(t *testing.T) {
	d, err := simdev.Load("1080 Ti")
	require.NoError(t, err)
	a, err := alloc.New(alloc.Options{Device: d, PreferredBlockSize: 1 << 20})
	require.NoError(t, err)
	live := fragmentRaw(t, a, 300, 31)
	var runs, refused atomic.Int64
	var mu sync.Mutex // guards ending and cur
	ending := map[*alloc.Defragmentation]bool{}
	var cur *alloc.Defragmentation // the last begun
	end := func(dfr *alloc.Defragmentation) alloc.DefragStats {
		mu.Lock()
		ending[dfr] = true // before End: a Begin after End sees it
		mu.Unlock()
		return dfr.End()
	}
	var shared atomic.Pointer[alloc.Defragmentation] // a running one, for others to End
	var wg sync.WaitGroup
	for g := range uint64(8) {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(g, 31))
			for range 200 {
				dfr, err := a.BeginDefragmentation(alloc.DefragOptions{MaxMovesPerPass: 4})
				if err != nil {
					if !errors.Is(err, alloc.ErrDefragmenting) {
						t.Errorf("begin: %v", err)
						return
					}
					refused.Add(1)
					if o := shared.Load(); o != nil && r.IntN(8) == 0 {
						end(o) // someone else's
					}
					runtime.Gosched()
					continue
				}
				mu.Lock()
				if cur != nil && !ending[cur] {
					t.Errorf("a defragmentation began while another had not ended")
				}
				cur = dfr
				mu.Unlock()
				runs.Add(1)
				moves, err := dfr.BeginPass()
				if err != nil && !errors.Is(err, alloc.ErrDefragEnded) {
					t.Errorf("begin pass: %v", err)
				}
				for i := range moves {
					moves[i].Op = alloc.MoveIgnore // nobody owns them here
				}
				shared.Store(dfr) // after the Ops are set: others may End it now
				runtime.Gosched()
				if r.IntN(3) != 0 {
					if err := dfr.EndPass(); err != nil && !errors.Is(err, alloc.ErrDefragEnded) && !errors.Is(err, alloc.ErrPassState) {
						t.Errorf("end pass: %v", err)
					}
				}
				shared.CompareAndSwap(dfr, nil)
				st := end(dfr)
				if st2 := end(dfr); st2 != st {
					t.Errorf("a second End changed the totals: %+v, %+v", st, st2)
				}
				if _, err := dfr.BeginPass(); !errors.Is(err, alloc.ErrDefragEnded) {
					t.Errorf("begin pass after End: %v", err)
				}
				if err := dfr.EndPass(); !errors.Is(err, alloc.ErrDefragEnded) {
					t.Errorf("end pass after End: %v", err)
				}
			}
		})
	}
	wg.Wait()
	t.Logf("%d ran, %d refused", runs.Load(), refused.Load())
	require.Positive(t, runs.Load())
	dfr, err := a.BeginDefragmentation(alloc.DefragOptions{})
	require.NoError(t, err, "every defragmentation ended")
	dfr.End()
	for _, al := range live {
		_, ok := a.UserData(al)
		require.True(t, ok, "an ignored move left the allocation where it was")
		require.NoError(t, a.Free(al))
	}
	require.NoError(t, a.Close())
	require.Zero(t, a.DeviceAllocations())
	require.Empty(t, d.Violations())
}
