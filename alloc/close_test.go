package alloc_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkassets/vkassets/alloc"
	"github.com/vkassets/vkassets/vk"
)

// reusingDevice hands the allocator VkDeviceMemory handles the way a driver
// that recycles them does (lavapipe without the validation layer, whose
// handle wrapping never reuses one): the handle freed last is the next one
// given out. It translates them to the wrapped device's handles, and
// records every use of a handle that is not live.
type reusingDevice struct {
	alloc.Device
	mu       sync.Mutex
	real     map[vk.DeviceMemory]vk.DeviceMemory // ours → the wrapped device's
	free     []vk.DeviceMemory
	next     vk.DeviceMemory
	misuse   []string
	freedBuf []vk.Buffer // buffers destroyed, in order
}

func newReusingDevice(d alloc.Device) *reusingDevice {
	return &reusingDevice{Device: d, real: map[vk.DeviceMemory]vk.DeviceMemory{}, next: 0x1000}
}

func (r *reusingDevice) AllocateMemory(info vk.MemoryAllocateInfo) (vk.DeviceMemory, error) {
	m, err := r.Device.AllocateMemory(info)
	if err != nil {
		return 0, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var h vk.DeviceMemory
	if n := len(r.free); n > 0 {
		h, r.free = r.free[n-1], r.free[:n-1]
	} else {
		r.next++
		h = r.next
	}
	r.real[h] = m
	return h, nil
}

func (r *reusingDevice) lookup(op string, h vk.DeviceMemory) vk.DeviceMemory {
	r.mu.Lock()
	defer r.mu.Unlock()
	m, ok := r.real[h]
	if !ok {
		r.misuse = append(r.misuse, fmt.Sprintf("%s of memory %#x, which is not live", op, uint64(h)))
	}
	return m
}

func (r *reusingDevice) FreeMemory(h vk.DeviceMemory) {
	m := r.lookup("vkFreeMemory", h)
	if m == 0 {
		return
	}
	r.mu.Lock()
	delete(r.real, h)
	r.free = append(r.free, h)
	r.mu.Unlock()
	r.Device.FreeMemory(m)
}

func (r *reusingDevice) MapMemory(h vk.DeviceMemory, offset, size uint64) ([]byte, error) {
	return r.Device.MapMemory(r.lookup("vkMapMemory", h), offset, size)
}
func (r *reusingDevice) UnmapMemory(h vk.DeviceMemory) {
	r.Device.UnmapMemory(r.lookup("vkUnmapMemory", h))
}
func (r *reusingDevice) FlushMemory(h vk.DeviceMemory, offset, size uint64) error {
	return r.Device.FlushMemory(r.lookup("vkFlushMappedMemoryRanges", h), offset, size)
}
func (r *reusingDevice) InvalidateMemory(h vk.DeviceMemory, offset, size uint64) error {
	return r.Device.InvalidateMemory(r.lookup("vkInvalidateMappedMemoryRanges", h), offset, size)
}
func (r *reusingDevice) BindBufferMemory(b vk.Buffer, h vk.DeviceMemory, offset uint64) error {
	return r.Device.BindBufferMemory(b, r.lookup("vkBindBufferMemory", h), offset)
}
func (r *reusingDevice) BindImageMemory(img vk.Image, h vk.DeviceMemory, offset uint64) error {
	return r.Device.BindImageMemory(img, r.lookup("vkBindImageMemory", h), offset)
}
func (r *reusingDevice) DestroyBuffer(b vk.Buffer) {
	r.mu.Lock()
	r.freedBuf = append(r.freedBuf, b)
	r.mu.Unlock()
	r.Device.DestroyBuffer(b)
}

func (r *reusingDevice) noMisuse(t testing.TB) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	require.Empty(t, r.misuse)
}

// TestStaleDedicatedFreeAfterHandleReuse: a dedicated allocation is freed,
// the driver gives its VkDeviceMemory handle to the next one, and the stale
// copy of the first is handed back to Free, DestroyBuffer, Map and Flush.
// Each refuses it and the newer allocation lives on.
func TestStaleDedicatedFreeAfterHandleReuse(t *testing.T) {
	sd := sim(t, "1080 Ti")
	d := newReusingDevice(sd)
	a := newAllocator(t, d, alloc.Options{})
	req := vk.MemoryRequirements{Size: 1 << 20, Alignment: 256, TypeBits: 1 << 9}
	opts := alloc.AllocationOptions{Dedicated: true, Mapped: true, Name: "old"}

	old, err := a.Allocate(req, opts)
	require.NoError(t, err)
	require.True(t, old.Dedicated())
	require.NoError(t, a.Free(old))
	opts.Name = "new"
	cur, err := a.Allocate(req, opts)
	require.NoError(t, err)
	require.Equal(t, old.Memory, cur.Memory, "the driver reused the handle")

	require.ErrorIs(t, a.Free(old), alloc.ErrInvalidFree)
	_, err = a.Map(old)
	require.ErrorIs(t, err, alloc.ErrInvalidFree)
	require.ErrorIs(t, a.Flush(old, 0, 64), alloc.ErrInvalidFree)
	require.Equal(t, []alloc.Leak{{Name: "new", Size: 1 << 20, MemoryType: 9, Dedicated: true}}, a.Leaks())
	require.Equal(t, 1, sd.LiveAllocations())

	// The same with buffers: the stale pair's buffer is not destroyed either.
	require.NoError(t, a.Free(cur))
	buf1, al1, err := a.CreateBuffer(1<<20, vk.BufferUsageVertex, alloc.AllocationOptions{Dedicated: true, Name: "b1"})
	require.NoError(t, err)
	require.NoError(t, a.DestroyBuffer(buf1, al1))
	buf2, al2, err := a.CreateBuffer(1<<20, vk.BufferUsageVertex, alloc.AllocationOptions{Dedicated: true, Name: "b2"})
	require.NoError(t, err)
	require.Equal(t, al1.Memory, al2.Memory, "the driver reused the handle")
	d.mu.Lock()
	destroyed := len(d.freedBuf)
	d.mu.Unlock()
	require.ErrorIs(t, a.DestroyBuffer(buf1, al1), alloc.ErrInvalidFree)
	d.mu.Lock()
	require.Len(t, d.freedBuf, destroyed, "a refused DestroyBuffer destroys nothing")
	d.mu.Unlock()
	require.Equal(t, "b2", a.Leaks()[0].Name)

	require.NoError(t, a.DestroyBuffer(buf2, al2))
	require.ErrorIs(t, a.DestroyBuffer(buf2, al2), alloc.ErrInvalidFree)
	require.NoError(t, a.Close())
	d.noMisuse(t)
	noViolations(t, sd)
	require.Empty(t, sd.Leaks())
}

// TestStaleBlockAllocation: an allocation whose block was freed, and one
// whose range was freed and reused, are refused.
func TestStaleBlockAllocation(t *testing.T) {
	sd := sim(t, "1080 Ti")
	d := newReusingDevice(sd)
	a := newAllocator(t, d, alloc.Options{EmptyBlocks: alloc.FreeEmptyBlocks})
	req := vk.MemoryRequirements{Size: 4096, Alignment: 256, TypeBits: 1 << 9}
	x, err := a.Allocate(req, alloc.AllocationOptions{Name: "x"})
	require.NoError(t, err)
	require.NoError(t, a.Free(x)) // frees the block
	y, err := a.Allocate(req, alloc.AllocationOptions{Name: "y"})
	require.NoError(t, err)
	require.Equal(t, x.Memory, y.Memory, "a new block, with the same handle")
	require.Equal(t, x.Offset, y.Offset)
	require.ErrorIs(t, a.Free(x), alloc.ErrInvalidFree)
	_, err = a.Map(x)
	require.ErrorIs(t, err, alloc.ErrInvalidFree)

	z, err := a.Allocate(req, alloc.AllocationOptions{Name: "z"})
	require.NoError(t, err)
	require.NoError(t, a.Free(y))
	y2, err := a.Allocate(req, alloc.AllocationOptions{Name: "y2"}) // y's range again
	require.NoError(t, err)
	require.Equal(t, y.Offset, y2.Offset)
	require.ErrorIs(t, a.Free(y), alloc.ErrInvalidFree)
	require.Len(t, a.Leaks(), 2)
	require.NoError(t, a.Free(y2))
	require.NoError(t, a.Free(z))
	require.NoError(t, a.Close())
	d.noMisuse(t)
	noViolations(t, sd)
}

// TestClosedAllocatorAllocatesNothing: after Close every call that would
// allocate, map or flush returns ErrClosed and no driver call is made.
func TestClosedAllocatorAllocatesNothing(t *testing.T) {
	d := sim(t, "1080 Ti")
	a := newAllocator(t, d, alloc.Options{})
	req := vk.MemoryRequirements{Size: 4096, Alignment: 256, TypeBits: ^uint32(0)}
	live, err := a.Allocate(req, alloc.AllocationOptions{Usage: alloc.UsageUpload, Name: "live"})
	require.NoError(t, err)
	err = a.Close()
	require.ErrorIs(t, err, alloc.ErrLeaks)
	require.Contains(t, err.Error(), `"live"`)
	calls, mems := d.AllocateCalls(), d.LiveAllocations()

	_, err = a.NewPool(alloc.PoolOptions{Name: "late", MemoryType: 9, BlockSize: 1 << 20, MinBlocks: 2})
	require.ErrorIs(t, err, alloc.ErrClosed)
	_, err = a.Allocate(req, alloc.AllocationOptions{})
	require.ErrorIs(t, err, alloc.ErrClosed)
	_, err = a.Allocate(req, alloc.AllocationOptions{Dedicated: true})
	require.ErrorIs(t, err, alloc.ErrClosed)
	_, _, err = a.CreateBuffer(4096, vk.BufferUsageVertex, alloc.AllocationOptions{})
	require.ErrorIs(t, err, alloc.ErrClosed)
	_, _, err = a.CreateImage(vk.ImageInfo{Format: vk.FormatR8G8B8A8Unorm, Width: 64, Height: 64, Usage: vk.ImageUsageSampled}, alloc.AllocationOptions{})
	require.ErrorIs(t, err, alloc.ErrClosed)
	_, err = a.Map(live)
	require.ErrorIs(t, err, alloc.ErrClosed)
	require.ErrorIs(t, a.Flush(live, 0, 16), alloc.ErrClosed)
	require.ErrorIs(t, a.Invalidate(live, 0, 16), alloc.ErrClosed)
	_, err = a.FindMemoryType(^uint32(0), alloc.AllocationOptions{})
	require.ErrorIs(t, err, alloc.ErrClosed)
	require.Zero(t, a.TrimEmptyBlocks())

	require.Equal(t, calls, d.AllocateCalls(), "no vkAllocateMemory after Close")
	require.Equal(t, mems, d.LiveAllocations())
	require.Len(t, a.Leaks(), 1, "nothing new is live")
	require.NoError(t, a.Close(), "Close again")
	require.NoError(t, a.Free(live))
	require.Zero(t, d.LiveAllocations())
	require.Empty(t, d.Leaks())
	noViolations(t, d)
}

// TestClosedPool: a closed pool allocates nothing, before or after the
// allocator is closed; its live allocations keep their block until freed.
func TestClosedPool(t *testing.T) {
	d := sim(t, "1080 Ti")
	a := newAllocator(t, d, alloc.Options{})
	p, err := a.NewPool(alloc.PoolOptions{Name: "ring", MemoryType: 9, BlockSize: 1 << 20, MinBlocks: 2})
	require.NoError(t, err)
	require.Equal(t, 2, d.LiveAllocations())
	req := vk.MemoryRequirements{Size: 4096, Alignment: 256, TypeBits: 1 << 9}
	kept, err := a.Allocate(req, alloc.AllocationOptions{Pool: p, Name: "kept"})
	require.NoError(t, err)
	buf, bal, err := a.CreateBuffer(4096, vk.BufferUsageVertex, alloc.AllocationOptions{Pool: p, Name: "pool-buffer"})
	require.NoError(t, err)

	err = p.Close()
	require.ErrorIs(t, err, alloc.ErrLeaks)
	require.Contains(t, err.Error(), `"kept"`)
	require.Contains(t, err.Error(), `"pool-buffer"`)
	require.Equal(t, 1, d.LiveAllocations(), "the empty MinBlocks block is freed, the used one kept")
	calls := d.AllocateCalls()
	for _, o := range []alloc.AllocationOptions{{Pool: p}, {Pool: p, Dedicated: true}} {
		_, err = a.Allocate(req, o)
		require.ErrorIs(t, err, alloc.ErrClosed)
	}
	_, _, err = a.CreateBuffer(4096, vk.BufferUsageVertex, alloc.AllocationOptions{Pool: p})
	require.ErrorIs(t, err, alloc.ErrClosed)
	require.Equal(t, calls, d.AllocateCalls())
	require.Len(t, a.Leaks(), 2, "nothing from the closed pool was added")
	require.NoError(t, p.Close(), "Close again")

	// The allocator goes on; its Close still names the pool's live allocations.
	other, err := a.Allocate(req, alloc.AllocationOptions{Name: "default"})
	require.NoError(t, err)
	require.NoError(t, a.Free(other))
	err = a.Close()
	require.ErrorIs(t, err, alloc.ErrLeaks)
	require.Contains(t, err.Error(), `"kept"`)

	require.NoError(t, a.DestroyBuffer(buf, bal))
	require.Equal(t, 1, d.LiveAllocations())
	require.NoError(t, a.Free(kept))
	require.Zero(t, d.LiveAllocations(), "the last free of the pool's block freed it")
	require.Empty(t, a.Blocks())
	noViolations(t, d)
	require.Empty(t, d.Leaks())

	// A pool of another allocator is refused.
	b := newAllocator(t, sim(t, "1080 Ti"), alloc.Options{})
	q, err := b.NewPool(alloc.PoolOptions{Name: "theirs", MemoryType: 9, BlockSize: 1 << 20})
	require.NoError(t, err)
	c := newAllocator(t, d, alloc.Options{})
	_, err = c.Allocate(req, alloc.AllocationOptions{Pool: q})
	require.ErrorIs(t, err, alloc.ErrForeignPool)
	require.NoError(t, q.Close())
	require.NoError(t, b.Close())
	require.NoError(t, c.Close())
}

// TestCloseUnderLiveAllocationsSim: Close with buffers, images, a dedicated
// allocation and a pool's allocation live frees no memory they are bound
// to (the simulated device rejects freeing memory with resources bound),
// names them all, and the later frees release everything.
func TestCloseUnderLiveAllocationsSim(t *testing.T) {
	d := sim(t, "1080 Ti")
	a := newAllocator(t, d, alloc.Options{})
	p, err := a.NewPool(alloc.PoolOptions{Name: "pool", MemoryType: 9, BlockSize: 1 << 20, MinBlocks: 1})
	require.NoError(t, err)
	live := churn(t, a, rand.New(rand.NewPCG(5, 5)), 300, nil)
	buf, al, err := a.CreateBuffer(64<<20, vk.BufferUsageVertex, alloc.AllocationOptions{Dedicated: true, Name: "dedicated"})
	require.NoError(t, err)
	live = append(live, resource{buf: buf, al: al})
	buf, al, err = a.CreateBuffer(4096, vk.BufferUsageVertex, alloc.AllocationOptions{Pool: p, Name: "pooled"})
	require.NoError(t, err)
	live = append(live, resource{buf: buf, al: al})

	err = a.Close()
	noViolations(t, d) // no memory freed under a bound resource
	require.ErrorIs(t, err, alloc.ErrLeaks)
	require.Contains(t, err.Error(), fmt.Sprintf("%d:", len(live)))
	require.Contains(t, err.Error(), `"dedicated"`)
	require.Contains(t, err.Error(), `"pooled"`)
	require.Len(t, a.Leaks(), len(live))
	for _, x := range live {
		require.NoError(t, x.destroy(a))
		require.Error(t, x.destroy(a))
	}
	require.Empty(t, a.Leaks())
	require.Zero(t, a.DeviceAllocations())
	require.NoError(t, p.Close())
	noViolations(t, d)
	require.Empty(t, d.Leaks())
}

type namedResource struct {
	resource
	name string
}

// TestConcurrentClose: goroutines allocate, create buffers, make and close
// pools and free, while others close the allocator and the pools. Every
// call succeeds or returns ErrClosed; one Close reports the live
// allocations, the others return nil; nothing succeeds after Close has
// returned; once everything is freed no memory is left. Run with -race.
func TestConcurrentClose(t *testing.T) {
	for round := range 8 {
		t.Run(fmt.Sprint(round), func(t *testing.T) {
			d := sim(t, "RX 480")
			a := newAllocator(t, d, alloc.Options{})
			upload, err := a.FindMemoryType(^uint32(0), alloc.AllocationOptions{Usage: alloc.UsageUpload})
			require.NoError(t, err)
			const workers, closers = 4, 3
			var (
				wg      sync.WaitGroup
				made    atomic.Int64
				closed  atomic.Bool
				mu      sync.Mutex
				live    []namedResource
				pools   []*alloc.Pool
				unknown []error
				closeEr []error
			)
			fail := func(err error) {
				mu.Lock()
				unknown = append(unknown, err)
				mu.Unlock()
			}
			for w := range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					r := rand.New(rand.NewPCG(uint64(round), uint64(w)))
					var mine []namedResource
					var pool *alloc.Pool
					defer func() {
						mu.Lock()
						live = append(live, mine...)
						mu.Unlock()
					}()
					for i := 0; ; i++ {
						wasClosed := closed.Load() // Close has returned: nothing may allocate
						var err error
						allocating := true
						switch k := r.IntN(10); {
						case k == 0 && pool == nil:
							pool, err = a.NewPool(alloc.PoolOptions{Name: fmt.Sprintf("pool-%d", w), MemoryType: upload, BlockSize: 1 << 20, MinBlocks: 1})
							if err == nil {
								mu.Lock()
								pools = append(pools, pool)
								mu.Unlock()
							} else {
								pool = nil
							}
						case k == 1 && pool != nil:
							allocating = false
							_ = pool.Close() // leaks or not: checked at the end
						case k < 4 && len(mine) > 0:
							allocating = false
							j := r.IntN(len(mine))
							err = mine[j].destroy(a)
							mine[j] = mine[len(mine)-1]
							mine = mine[:len(mine)-1]
						default:
							o := alloc.AllocationOptions{Name: fmt.Sprintf("w%d-%d", w, i), Dedicated: k == 4, Usage: alloc.UsageUpload}
							if k == 5 && pool != nil {
								o.Pool = pool
							}
							var buf vk.Buffer
							var al alloc.Allocation
							buf, al, err = a.CreateBuffer(uint64(256+r.IntN(1<<16)), vk.BufferUsageVertex, o)
							if err == nil {
								mine = append(mine, namedResource{resource{buf: buf, al: al}, o.Name})
								made.Add(1)
							}
						}
						switch {
						case err != nil && (!allocating || !errors.Is(err, alloc.ErrClosed)):
							fail(err)
						case err == nil && allocating && wasClosed:
							fail(fmt.Errorf("worker %d call %d allocated after Close returned", w, i))
						}
						if wasClosed && i%50 == 49 {
							return // a few more calls after Close, then stop
						}
					}
				}()
			}
			for range closers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for made.Load() < 100 {
						runtime.Gosched()
					}
					err := a.Close()
					closed.Store(true)
					mu.Lock()
					closeEr = append(closeEr, err)
					mu.Unlock()
				}()
			}
			wg.Wait()
			require.Empty(t, unknown)
			reports, report := 0, ""
			for _, err := range closeEr {
				if err != nil {
					require.ErrorIs(t, err, alloc.ErrLeaks)
					reports++
					report = err.Error()
				}
			}
			for _, x := range live { // live since before Close: named
				require.Contains(t, report, fmt.Sprintf("%q", x.name))
			}
			require.LessOrEqual(t, reports, 1, "one Close reports")
			if len(live) > 0 { // made before their list was closed: Close saw them
				require.Equal(t, 1, reports, "the live allocations were reported")
			}
			t.Logf("made %d, live at the end %d, pools %d, reports %d", made.Load(), len(live), len(pools), reports)

			// After Close: nothing allocates.
			calls := d.AllocateCalls()
			_, _, err = a.CreateBuffer(256, vk.BufferUsageVertex, alloc.AllocationOptions{})
			require.ErrorIs(t, err, alloc.ErrClosed)
			for _, p := range pools {
				_, err = a.Allocate(vk.MemoryRequirements{Size: 256, Alignment: 256, TypeBits: 1 << upload}, alloc.AllocationOptions{Pool: p})
				require.ErrorIs(t, err, alloc.ErrClosed)
			}
			require.Equal(t, calls, d.AllocateCalls())

			require.Len(t, a.Leaks(), len(live))
			noViolations(t, d)
			for _, x := range live {
				require.NoError(t, x.destroy(a))
			}
			for _, p := range pools {
				_ = p.Close()
			}
			require.Empty(t, a.Leaks())
			require.Zero(t, a.DeviceAllocations())
			require.Zero(t, d.LiveAllocations())
			require.Empty(t, d.Leaks())
			noViolations(t, d)
		})
	}
}
