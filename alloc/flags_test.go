package alloc_test

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"testing"
	"weak"

	"github.com/stretchr/testify/require"

	"github.com/vkassets/vkassets/alloc"
	"github.com/vkassets/vkassets/alloc/simdev"
	"github.com/vkassets/vkassets/vk"
)

// small is 64 KiB of the 1080 Ti's device-local types: a block's worth of
// them share one VkDeviceMemory.
var small = vk.MemoryRequirements{Size: 64 << 10, Alignment: 256, TypeBits: 1<<7 | 1<<8}

// anyType allows every memory type of d.
func anyType(d *simdev.Device) uint32 { return 1<<len(d.Physical().Memory.Types) - 1 }

// TestNeverAllocate: NeverAllocate allocates from existing blocks only and
// fails with ErrWouldAllocate, calling neither vkAllocateMemory nor the
// pressure handler, where that is not enough.
func TestNeverAllocate(t *testing.T) {
	d := sim(t, "1080 Ti")
	a := newAllocator(t, d, alloc.Options{})
	handlerCalls := 0
	a.SetPressureHandler(func(alloc.Pressure) bool { handlerCalls++; return true })
	never := alloc.AllocationOptions{Kind: alloc.KindLinear, NeverAllocate: true, Name: "never"}

	_, err := a.Allocate(small, never)
	require.ErrorIs(t, err, alloc.ErrWouldAllocate)
	require.Contains(t, err.Error(), `"never"`)
	require.Zero(t, d.AllocateCalls(), "no block yet: nothing may be allocated")

	first, err := a.Allocate(small, alloc.AllocationOptions{Kind: alloc.KindLinear})
	require.NoError(t, err)
	calls := d.AllocateCalls()
	var held []alloc.Allocation
	for {
		al, err := a.Allocate(small, never)
		if err != nil {
			require.ErrorIs(t, err, alloc.ErrWouldAllocate)
			break
		}
		require.Equal(t, first.Memory, al.Memory, "from the existing block")
		held = append(held, al)
	}
	require.NotEmpty(t, held)
	require.Equal(t, calls, d.AllocateCalls(), "the block filled up without a new vkAllocateMemory")

	// Dedicated, required or preferred (larger than half a block), would allocate too.
	_, err = a.Allocate(small, alloc.AllocationOptions{Kind: alloc.KindLinear, NeverAllocate: true, Dedicated: true})
	require.ErrorIs(t, err, alloc.ErrWouldAllocate)
	_, err = a.Allocate(bigLocal, alloc.AllocationOptions{Kind: alloc.KindLinear, NeverAllocate: true})
	require.ErrorIs(t, err, alloc.ErrWouldAllocate)
	require.Equal(t, calls, d.AllocateCalls())
	require.Zero(t, handlerCalls, "NeverAllocate is not a lack of memory")

	// Freeing makes room again.
	require.NoError(t, a.Free(held[0]))
	al, err := a.Allocate(small, never)
	require.NoError(t, err)
	held[0] = al

	// Every allowed memory type's blocks are tried: type 8 has a block, 7 none.
	only8 := small
	only8.TypeBits = 1 << 8
	in8, err := a.Allocate(only8, alloc.AllocationOptions{Kind: alloc.KindLinear})
	require.NoError(t, err)
	calls = d.AllocateCalls()
	al8, err := a.Allocate(small, alloc.AllocationOptions{Kind: alloc.KindLinear, NeverAllocate: true, Required: vk.MemoryDeviceLocal})
	require.NoError(t, err, "the second memory type's block has room")
	require.Equal(t, uint32(8), al8.MemoryType)
	require.Equal(t, calls, d.AllocateCalls())
	held = append(held, in8, al8)

	// A custom pool's minimum blocks are existing blocks.
	p, err := a.NewPool(alloc.PoolOptions{Name: "p", MemoryType: 7, BlockSize: 1 << 20, MinBlocks: 1})
	require.NoError(t, err)
	calls = d.AllocateCalls()
	pal, err := a.Allocate(small, alloc.AllocationOptions{Kind: alloc.KindLinear, NeverAllocate: true, Pool: p})
	require.NoError(t, err)
	require.Equal(t, calls, d.AllocateCalls())
	require.NoError(t, a.Free(pal))
	require.NoError(t, p.Close())

	for _, al := range append(held, first) {
		require.NoError(t, a.Free(al))
	}
	require.NoError(t, a.Close())
	noViolations(t, d)
	require.Zero(t, d.LiveAllocations())
}

// TestWithinBudget: WithinBudget fails one allocation with
// ErrBudgetExceeded where Options.StayWithinBudget is off and others go
// over, and the pressure handler is asked to make room as for any budget
// failure.
func TestWithinBudget(t *testing.T) {
	d, err := simdev.LoadWith("1080 Ti", simdev.Options{Budget: true, BudgetFraction: 0.5})
	require.NoError(t, err)
	a := newAllocator(t, d, alloc.Options{})
	held := fillHeap(t, a, 1) // 3 GiB of a 5.4 GiB budget

	_, err = a.Allocate(bigLocal, alloc.AllocationOptions{Name: "within", WithinBudget: true})
	require.ErrorIs(t, err, alloc.ErrBudgetExceeded)
	require.Contains(t, err.Error(), `"within"`)
	require.Equal(t, 1, d.LiveAllocations(), "nothing allocated for it")

	over, err := a.Allocate(bigLocal, alloc.AllocationOptions{Name: "over"})
	require.NoError(t, err, "without WithinBudget the heap may go over its budget")
	require.NoError(t, a.Free(over))

	var got []alloc.Pressure
	a.SetPressureHandler(func(p alloc.Pressure) bool {
		got = append(got, p)
		require.NoError(t, a.Free(held[0]))
		held = held[1:]
		return true
	})
	al, err := a.Allocate(bigLocal, alloc.AllocationOptions{Name: "within", WithinBudget: true})
	require.NoError(t, err, "the handler made room")
	require.Len(t, got, 1)
	require.ErrorIs(t, got[0].Err, alloc.ErrBudgetExceeded)
	require.Equal(t, "within", got[0].Name)
	require.Equal(t, 1, a.Stats().PressureRecovered)
	closeClean(t, d, a, append(held, al))
}

// memoryTracker is DeviceMemoryCallbacks that check each call against the
// simulated driver and keep the live memories.
type memoryTracker struct {
	t      *testing.T
	d      *simdev.Device
	mu     sync.Mutex
	live   map[vk.DeviceMemory]uint64
	allocs int
	frees  int
}

func newMemoryTracker(t *testing.T, d *simdev.Device) *memoryTracker {
	return &memoryTracker{t: t, d: d, live: map[vk.DeviceMemory]uint64{}}
}

func (m *memoryTracker) callbacks() alloc.DeviceMemoryCallbacks {
	return alloc.DeviceMemoryCallbacks{
		Allocate: func(typ uint32, mem vk.DeviceMemory, size uint64) {
			info, ok := m.d.Memory(mem)
			m.mu.Lock()
			defer m.mu.Unlock()
			m.allocs++
			if !ok || info.TypeIndex != typ || info.Size != size {
				m.t.Errorf("Allocate callback for %#x (type %d, %d bytes): the driver has %v, %v", mem, typ, size, info, ok)
			}
			if _, dup := m.live[mem]; dup {
				m.t.Errorf("Allocate callback twice for %#x", mem)
			}
			m.live[mem] = size
		},
		Free: func(typ uint32, mem vk.DeviceMemory, size uint64) {
			info, ok := m.d.Memory(mem)
			m.mu.Lock()
			defer m.mu.Unlock()
			m.frees++
			if !ok || info.TypeIndex != typ || info.Size != size {
				m.t.Errorf("Free callback for %#x after vkFreeMemory, or for the wrong memory: %v, %v", mem, info, ok)
			}
			if m.live[mem] != size {
				m.t.Errorf("Free callback for %#x without its Allocate callback", mem)
			}
			delete(m.live, mem)
		},
	}
}

// matches checks that the callbacks saw what the driver holds.
func (m *memoryTracker) matches() {
	m.t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	mems := m.d.Memories()
	require.Len(m.t, m.live, len(mems))
	for _, mem := range mems {
		require.Equal(m.t, mem.Size, m.live[mem.Memory], "memory %#x", mem.Memory)
	}
}

// TestDeviceMemoryCallbacks: every vkAllocateMemory and vkFreeMemory of
// blocks and dedicated allocations is told, after and before the call,
// through churn, failures, trimming, Close and frees after Close.
func TestDeviceMemoryCallbacks(t *testing.T) {
	d := sim(t, "1080 Ti")
	m := newMemoryTracker(t, d)
	a := newAllocator(t, d, alloc.Options{DeviceMemoryCallbacks: m.callbacks(), EmptyBlocks: alloc.KeepEmptyBlocks})
	r := rand.New(rand.NewPCG(3, 4))
	live := churn(t, a, r, 400, nil)
	m.matches()
	ded, err := a.Allocate(vk.MemoryRequirements{Size: 4096, Alignment: 256, TypeBits: anyType(d)},
		alloc.AllocationOptions{Dedicated: true, Mapped: true, Usage: alloc.UsageUpload})
	require.NoError(t, err)
	m.matches()

	before := m.allocs
	d.FailNext(2, vk.ErrorOutOfDeviceMemory) // both device-local types
	_, err = a.Allocate(small, alloc.AllocationOptions{Dedicated: true})
	require.Error(t, err)
	require.Equal(t, before, m.allocs, "no callback for a failed vkAllocateMemory")

	for _, x := range live[:len(live)-1] {
		require.NoError(t, x.destroy(a))
	}
	require.Positive(t, a.TrimEmptyBlocks())
	m.matches()
	require.Error(t, a.Close(), "leaks")
	m.matches()
	for _, x := range live[len(live)-1:] {
		require.NoError(t, x.destroy(a))
	}
	require.NoError(t, a.Free(ded))
	m.matches()
	require.Empty(t, m.live)
	require.Equal(t, m.allocs, m.frees)
	require.Equal(t, a.AllocateCalls()-d.InjectedFailures(), m.allocs)
	noViolations(t, d)
}

// TestDeviceMemoryCallbacksConcurrent: callbacks run on many goroutines at
// once, and may read the allocator's lock-free counters.
func TestDeviceMemoryCallbacksConcurrent(t *testing.T) {
	d := sim(t, "1080 Ti")
	m := newMemoryTracker(t, d)
	cb := m.callbacks()
	var a *alloc.Allocator
	inner := cb.Allocate
	cb.Allocate = func(typ uint32, mem vk.DeviceMemory, size uint64) {
		require.Positive(t, a.DeviceAllocations())
		inner(typ, mem, size)
	}
	a = newAllocator(t, d, alloc.Options{DeviceMemoryCallbacks: cb, EmptyBlocks: alloc.FreeEmptyBlocks, PreferredBlockSize: 1 << 20})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				o := alloc.AllocationOptions{Kind: alloc.KindLinear, Dedicated: (g+i)%7 == 0}
				al, err := a.Allocate(small, o)
				if err != nil {
					t.Error(err)
					return
				}
				if err := a.Free(al); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	require.NoError(t, a.Close())
	m.matches()
	require.Empty(t, m.live)
	require.Equal(t, a.AllocateCalls(), m.allocs)
	noViolations(t, d)
}

type payload struct{ tag string }

// TestUserData: user data is kept with the allocation, replaced by
// SetUserData, let go of at Free (a stale copy of the Allocation does not
// keep it alive) and shown nowhere.
func TestUserData(t *testing.T) {
	d := sim(t, "1080 Ti")
	a := newAllocator(t, d, alloc.Options{})
	secret := "user-data-not-for-the-dump"

	sub, err := a.Allocate(small, alloc.AllocationOptions{Kind: alloc.KindLinear, UserData: &payload{secret}})
	require.NoError(t, err)
	ded, err := a.Allocate(small, alloc.AllocationOptions{Dedicated: true, Name: "ded", UserData: &payload{secret}})
	require.NoError(t, err)
	plain, err := a.Allocate(small, alloc.AllocationOptions{Kind: alloc.KindLinear})
	require.NoError(t, err)
	for _, al := range []alloc.Allocation{sub, ded} {
		v, ok := a.UserData(al)
		require.True(t, ok)
		require.Equal(t, secret, v.(*payload).tag)
	}
	v, ok := a.UserData(plain)
	require.True(t, ok)
	require.Nil(t, v)
	require.NoError(t, a.SetUserData(plain, 42))
	v, _ = a.UserData(plain)
	require.Equal(t, 42, v)

	var js bytes.Buffer
	require.NoError(t, a.WriteStatsJSON(&js))
	validateDump(t, js.Bytes())
	require.NotContains(t, js.String(), secret)
	require.NotContains(t, strings.Join(leakNames(a), " "), secret)

	// Free lets go of it, though a copy of the Allocation remains.
	weakSub, weakDed := setWeak(t, a, sub), setWeak(t, a, ded)
	for _, al := range []alloc.Allocation{sub, ded, plain} {
		require.NoError(t, a.Free(al))
		v, ok := a.UserData(al)
		require.False(t, ok)
		require.Nil(t, v)
		require.ErrorIs(t, a.SetUserData(al, 1), alloc.ErrInvalidFree)
	}
	runtime.GC()
	require.Nil(t, weakSub.Value(), "a freed sub-allocation's user data is let go")
	require.Nil(t, weakDed.Value(), "a freed dedicated allocation's user data is let go")
	runtime.KeepAlive(sub)
	runtime.KeepAlive(ded)
	require.NoError(t, a.Close())
	noViolations(t, d)
}

// setWeak gives al fresh user data and returns a weak pointer to it.
func setWeak(t *testing.T, a *alloc.Allocator, al alloc.Allocation) weak.Pointer[payload] {
	p := &payload{"weak"}
	require.NoError(t, a.SetUserData(al, p))
	return weak.Make(p)
}

func leakNames(a *alloc.Allocator) []string {
	var out []string
	for _, l := range a.Leaks() {
		out = append(out, l.String())
	}
	return out
}

// mapRefs is the MapRefCount of the block (or dedicated memory) of al.
func mapRefs(t *testing.T, a *alloc.Allocator, al alloc.Allocation) int {
	t.Helper()
	for _, b := range a.Blocks() {
		if b.Memory == al.Memory {
			require.Equal(t, b.MapRefCount > 0, b.Mapped)
			return b.MapRefCount
		}
	}
	t.Fatalf("no block for memory %#x", al.Memory)
	return 0
}

// driverMapped reports whether the simulated driver has al's memory mapped.
func driverMapped(t *testing.T, d *simdev.Device, al alloc.Allocation) bool {
	t.Helper()
	info, ok := d.Memory(al.Memory)
	require.True(t, ok)
	return info.Mapped
}

// TestMapUnmapCounted: Map and Unmap count a block's mappings, persistent
// ones included; the memory is unmapped at 0, the bytes are the same while
// mapped and kept across an unmap; a wrong Unmap changes nothing.
func TestMapUnmapCounted(t *testing.T) {
	for _, dedicated := range []bool{false, true} {
		t.Run(map[bool]string{false: "block", true: "dedicated"}[dedicated], func(t *testing.T) {
			d := sim(t, "1080 Ti")
			a := newAllocator(t, d, alloc.Options{})
			req := vk.MemoryRequirements{Size: 4096, Alignment: 256, TypeBits: anyType(d)}
			o := alloc.AllocationOptions{Usage: alloc.UsageUpload, Kind: alloc.KindLinear, Dedicated: dedicated, Name: "a"}
			al, err := a.Allocate(req, o)
			require.NoError(t, err)
			require.False(t, driverMapped(t, d, al))
			require.ErrorIs(t, a.Unmap(al), alloc.ErrNotMapped, "Unmap without Map")
			require.Zero(t, mapRefs(t, a, al))
			noViolations(t, d)

			b1, err := a.Map(al)
			require.NoError(t, err)
			copy(b1, "kept across unmap")
			b2, err := a.Map(al)
			require.NoError(t, err)
			require.Same(t, &b1[0], &b2[0], "the same bytes while mapped")
			require.Equal(t, 2, mapRefs(t, a, al))
			require.NoError(t, a.Unmap(al))
			require.Equal(t, 1, mapRefs(t, a, al))
			require.True(t, driverMapped(t, d, al))
			require.NoError(t, a.Unmap(al))
			require.Zero(t, mapRefs(t, a, al))
			require.False(t, driverMapped(t, d, al), "unmapped at the last Unmap")
			require.ErrorIs(t, a.Unmap(al), alloc.ErrNotMapped, "double Unmap")
			b3, err := a.Map(al)
			require.NoError(t, err)
			require.Equal(t, "kept across unmap", string(b3[:17]))
			require.NoError(t, a.Unmap(al))

			// A persistent mapping holds a reference for the allocation's life.
			o.Mapped, o.Name = true, "persistent"
			p, err := a.Allocate(req, o)
			require.NoError(t, err)
			require.Equal(t, 1, mapRefs(t, a, p))
			require.ErrorIs(t, a.Unmap(p), alloc.ErrNotMapped, "only persistently mapped")
			require.Equal(t, 1, mapRefs(t, a, p))
			pm, err := a.Map(p)
			require.NoError(t, err)
			require.Same(t, &p.Mapped[0], &pm[0])
			require.NoError(t, a.Unmap(p))
			require.True(t, driverMapped(t, d, p))

			// Free gives back the allocation's own references.
			_, err = a.Map(al)
			require.NoError(t, err)
			if !dedicated {
				require.Equal(t, al.Memory, p.Memory)
				require.Equal(t, 2, mapRefs(t, a, al))
				var js bytes.Buffer
				require.NoError(t, a.WriteStatsJSON(&js))
				validateDump(t, js.Bytes())
				require.Equal(t, 2, dumpMapRefCount(t, js.Bytes()))
			}
			require.NoError(t, a.Free(p))
			if !dedicated {
				require.Equal(t, 1, mapRefs(t, a, al))
			}
			require.NoError(t, a.Free(al))
			require.ErrorIs(t, a.Unmap(al), alloc.ErrInvalidFree, "stale")
			require.NoError(t, a.Close())
			noViolations(t, d)
			require.Zero(t, d.LiveAllocations())
		})
	}
}

// dumpMapRefCount is the MapRefCount of the statistics JSON's only block.
func dumpMapRefCount(t *testing.T, js []byte) int {
	var dump struct {
		DefaultPools map[string]struct {
			Blocks map[string]struct{ MapRefCount int }
		}
	}
	require.NoError(t, json.Unmarshal(js, &dump))
	n, blocks := 0, 0
	for _, p := range dump.DefaultPools {
		for _, b := range p.Blocks {
			n += b.MapRefCount
			blocks++
		}
	}
	require.Equal(t, 1, blocks)
	return n
}

// TestMapUnmapClose: mappings live at Close leak nothing and break
// nothing; Unmap and Free still work after it and the memory is freed.
func TestMapUnmapClose(t *testing.T) {
	d := sim(t, "1080 Ti")
	a := newAllocator(t, d, alloc.Options{})
	req := vk.MemoryRequirements{Size: 4096, Alignment: 256, TypeBits: anyType(d)}
	var als []alloc.Allocation
	for _, o := range []alloc.AllocationOptions{
		{Usage: alloc.UsageUpload, Kind: alloc.KindLinear},
		{Usage: alloc.UsageUpload, Kind: alloc.KindLinear, Mapped: true},
		{Usage: alloc.UsageUpload, Dedicated: true},
	} {
		al, err := a.Allocate(req, o)
		require.NoError(t, err)
		_, err = a.Map(al)
		require.NoError(t, err)
		als = append(als, al)
	}
	require.ErrorIs(t, a.Close(), alloc.ErrLeaks)
	_, err := a.Map(als[0])
	require.ErrorIs(t, err, alloc.ErrClosed)
	require.NoError(t, a.Unmap(als[0]))
	for _, al := range als {
		require.NoError(t, a.Free(al))
	}
	noViolations(t, d)
	require.Zero(t, d.LiveAllocations())
}

// TestMapUnmapConcurrent: Map and Unmap of allocations of one block on many
// goroutines keep the count right under the race detector.
func TestMapUnmapConcurrent(t *testing.T) {
	d := sim(t, "1080 Ti")
	a := newAllocator(t, d, alloc.Options{})
	req := vk.MemoryRequirements{Size: 4096, Alignment: 256, TypeBits: anyType(d)}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		al, err := a.Allocate(req, alloc.AllocationOptions{Usage: alloc.UsageUpload, Kind: alloc.KindLinear})
		require.NoError(t, err)
		wg.Go(func() {
			for i := range 300 {
				m, err := a.Map(al)
				if err == nil {
					m[0] = byte(i)
					err = a.Unmap(al)
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- a.Free(al)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.NoError(t, a.Close())
	noViolations(t, d)
	require.Zero(t, d.LiveAllocations())
}
