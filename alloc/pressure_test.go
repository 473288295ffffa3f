package alloc_test

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vkassets/vkassets/alloc"
	"github.com/vkassets/vkassets/alloc/simdev"
	"github.com/vkassets/vkassets/vk"
)

// bigLocal is 3 GiB of the 1080 Ti's device-local types (7 and 8, heap 0
// of 11127 MiB): three fit, a fourth does not.
var bigLocal = vk.MemoryRequirements{Size: 3 << 30, Alignment: 256, TypeBits: 1<<7 | 1<<8}

// fillHeap allocates n bigLocal allocations.
func fillHeap(t *testing.T, a *alloc.Allocator, n int) []alloc.Allocation {
	t.Helper()
	var held []alloc.Allocation
	for i := range n {
		al, err := a.Allocate(bigLocal, alloc.AllocationOptions{Name: fmt.Sprintf("held-%d", i)})
		require.NoError(t, err)
		held = append(held, al)
	}
	return held
}

// pressureCase is a 1080 Ti whose device-local heap is full: by the
// driver's count (out of device memory) or by the budget.
type pressureCase struct {
	name     string
	opts     simdev.Options
	alloc    alloc.Options
	fill     int
	sentinel error
}

var pressureCases = []pressureCase{
	{name: "out-of-device-memory", fill: 3, sentinel: vk.ErrOutOfDeviceMemory},
	{name: "over-budget", opts: simdev.Options{Budget: true, BudgetFraction: 0.5},
		alloc: alloc.Options{StayWithinBudget: true}, fill: 1, sentinel: alloc.ErrBudgetExceeded},
}

func (c pressureCase) setup(t *testing.T) (*simdev.Device, *alloc.Allocator, []alloc.Allocation) {
	t.Helper()
	d, err := simdev.LoadWith("1080 Ti", c.opts)
	require.NoError(t, err)
	a := newAllocator(t, d, c.alloc)
	return d, a, fillHeap(t, a, c.fill)
}

// closeClean frees held, closes the allocator and checks nothing is left.
func closeClean(t *testing.T, d *simdev.Device, a *alloc.Allocator, held []alloc.Allocation) {
	t.Helper()
	for _, al := range held {
		require.NoError(t, a.Free(al))
	}
	require.NoError(t, a.Close())
	noViolations(t, d)
	require.Empty(t, d.Leaks())
	require.Zero(t, d.LiveAllocations())
}

// TestPressureHandlerRecovers: the heap is full, the handler frees a held
// allocation and the allocation succeeds on its second try, for Allocate,
// CreateBuffer and CreateImage.
func TestPressureHandlerRecovers(t *testing.T) {
	makers := map[string]func(a *alloc.Allocator) (resource, error){
		"Allocate": func(a *alloc.Allocator) (resource, error) {
			al, err := a.Allocate(bigLocal, alloc.AllocationOptions{Name: "new"})
			return resource{al: al}, err
		},
		"CreateBuffer": func(a *alloc.Allocator) (resource, error) {
			buf, al, err := a.CreateBuffer(bigLocal.Size, vk.BufferUsageVertex,
				alloc.AllocationOptions{Name: "new", Required: vk.MemoryDeviceLocal})
			return resource{buf: buf, al: al}, err
		},
		"CreateImage": func(a *alloc.Allocator) (resource, error) {
			img, al, err := a.CreateImage(vk.ImageInfo{Format: vk.FormatR8G8B8A8Unorm, Width: 32768, Height: 32768,
				Usage: vk.ImageUsageSampled}, alloc.AllocationOptions{Name: "new", Required: vk.MemoryDeviceLocal})
			return resource{img: img, al: al}, err
		},
	}
	for _, c := range pressureCases {
		for what, create := range makers {
			t.Run(c.name+"/"+what, func(t *testing.T) {
				d, a, held := c.setup(t)
				var got []alloc.Pressure
				a.SetPressureHandler(func(p alloc.Pressure) bool {
					got = append(got, p)
					if len(held) == 0 {
						return false
					}
					require.NoError(t, a.Free(held[0]))
					held = held[1:]
					return true
				})
				r, err := create(a)
				require.NoError(t, err)
				require.Len(t, got, 1)
				require.Equal(t, uint32(0), got[0].Heap)
				require.GreaterOrEqual(t, got[0].Size, uint64(3<<30))
				require.Equal(t, "new", got[0].Name)
				require.ErrorIs(t, got[0].Err, c.sentinel)
				s := a.Stats()
				require.Equal(t, 1, s.PressureEvents)
				require.Equal(t, 1, s.PressureRecovered)
				if r.buf != 0 || r.img != 0 {
					require.NoError(t, r.destroy(a))
				} else {
					require.NoError(t, a.Free(r.al))
				}
				closeClean(t, d, a, held)
			})
		}
	}
}

// TestPressureHandlerDeclines: a handler that frees nothing and says so
// leaves the allocation's error as it was, and nothing leaks.
func TestPressureHandlerDeclines(t *testing.T) {
	for _, c := range pressureCases {
		t.Run(c.name, func(t *testing.T) {
			d, a, held := c.setup(t)
			calls := 0
			a.SetPressureHandler(func(alloc.Pressure) bool { calls++; return false })
			_, err := a.Allocate(bigLocal, alloc.AllocationOptions{Name: "doomed"})
			require.ErrorIs(t, err, c.sentinel)
			require.Contains(t, err.Error(), `"doomed"`)
			_, _, err = a.CreateBuffer(bigLocal.Size, vk.BufferUsageVertex,
				alloc.AllocationOptions{Name: "doomed buffer", Required: vk.MemoryDeviceLocal})
			require.ErrorIs(t, err, c.sentinel)
			require.Contains(t, err.Error(), `"doomed buffer"`)
			require.Equal(t, 2, calls)
			s := a.Stats()
			require.Equal(t, 2, s.PressureEvents)
			require.Zero(t, s.PressureRecovered)
			closeClean(t, d, a, held)
		})
	}
}

// TestPressureHandlerBounded: a handler that always answers true but frees
// nothing is called a bounded number of times, and the error comes back.
func TestPressureHandlerBounded(t *testing.T) {
	for _, c := range pressureCases {
		t.Run(c.name, func(t *testing.T) {
			d, a, held := c.setup(t)
			calls := 0
			a.SetPressureHandler(func(alloc.Pressure) bool { calls++; return true })
			_, err := a.Allocate(bigLocal, alloc.AllocationOptions{Name: "doomed"})
			require.ErrorIs(t, err, c.sentinel)
			require.Contains(t, err.Error(), `"doomed"`)
			require.Equal(t, 2, calls)
			require.Equal(t, 2, a.Stats().PressureEvents)
			require.Zero(t, a.Stats().PressureRecovered)
			closeClean(t, d, a, held)
		})
	}
}

// TestPressureHandlerOnlyForMemory: errors that are not a lack of memory,
// and every error after Close, do not call the handler.
func TestPressureHandlerOnlyForMemory(t *testing.T) {
	d, a, held := pressureCases[0].setup(t)
	calls := 0
	a.SetPressureHandler(func(alloc.Pressure) bool { calls++; return true })
	_, err := a.Allocate(vk.MemoryRequirements{Size: 1 << 20, Alignment: 256}, alloc.AllocationOptions{})
	require.ErrorIs(t, err, alloc.ErrNoMemoryType)
	_, err = a.Allocate(vk.MemoryRequirements{Alignment: 256, TypeBits: 1 << 7}, alloc.AllocationOptions{})
	require.ErrorIs(t, err, alloc.ErrZeroSize)
	_, err = a.Allocate(vk.MemoryRequirements{Size: 1 << 20, Alignment: 3, TypeBits: 1 << 7}, alloc.AllocationOptions{})
	require.ErrorIs(t, err, alloc.ErrBadAlignment)
	require.Zero(t, calls)

	// The handler closes the allocator: the retry says ErrClosed, and
	// nothing calls the handler again.
	a.SetPressureHandler(func(alloc.Pressure) bool {
		calls++
		require.ErrorIs(t, a.Close(), alloc.ErrLeaks)
		return true
	})
	_, err = a.Allocate(bigLocal, alloc.AllocationOptions{})
	require.ErrorIs(t, err, alloc.ErrClosed)
	require.Equal(t, 1, calls)
	_, err = a.Allocate(bigLocal, alloc.AllocationOptions{})
	require.ErrorIs(t, err, alloc.ErrClosed)
	_, _, err = a.CreateBuffer(bigLocal.Size, vk.BufferUsageVertex, alloc.AllocationOptions{})
	require.ErrorIs(t, err, alloc.ErrClosed)
	require.Equal(t, 1, calls)
	require.Zero(t, a.Stats().PressureRecovered)

	// Removed, it is not called.
	a.SetPressureHandler(nil)
	closeClean(t, d, a, held)
	require.Equal(t, 1, calls)
}

// TestPressureHandlerNotWhenClosed: an allocation that runs out of memory
// while Close runs does not call the handler.
func TestPressureHandlerNotWhenClosed(t *testing.T) {
	d, a, held := pressureCases[0].setup(t)
	calls := 0
	a.SetPressureHandler(func(alloc.Pressure) bool { calls++; return true })
	d.SetAllocateHook(func(vk.MemoryAllocateInfo) error {
		require.ErrorIs(t, a.Close(), alloc.ErrLeaks)
		return &vk.Error{Op: "vkAllocateMemory", Result: vk.ErrorOutOfDeviceMemory}
	})
	_, err := a.Allocate(bigLocal, alloc.AllocationOptions{Dedicated: true})
	require.ErrorIs(t, err, vk.ErrOutOfDeviceMemory, "the first memory type's error")
	require.Zero(t, calls)
	d.SetAllocateHook(nil)
	closeClean(t, d, a, held)
}

// withTimeout runs f and fails the test if it does not return within d: a
// handler called under a lock it then takes would hang instead.
func withTimeout(t *testing.T, d time.Duration, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("no answer in %v: deadlock?", d)
	}
}

// TestPressureHandlerReentrant: the handler is called with no lock held,
// so it may allocate and free in the very memory type that is full.
func TestPressureHandlerReentrant(t *testing.T) {
	d, a, held := pressureCases[0].setup(t)
	small := vk.MemoryRequirements{Size: 64 << 10, Alignment: 256, TypeBits: 1 << 7}
	a.SetPressureHandler(func(p alloc.Pressure) bool {
		al, err := a.Allocate(small, alloc.AllocationOptions{Kind: alloc.KindLinear, Name: "from the handler"})
		require.NoError(t, err)
		require.NotEmpty(t, a.Stats().Heaps)
		require.NoError(t, a.Free(al))
		a.TrimEmptyBlocks()
		if len(held) == 0 {
			return false
		}
		require.NoError(t, a.Free(held[0]))
		held = held[1:]
		return true
	})
	var al alloc.Allocation
	var err error
	withTimeout(t, 10*time.Second, func() { al, err = a.Allocate(bigLocal, alloc.AllocationOptions{Name: "new"}) })
	require.NoError(t, err)
	require.NoError(t, a.Free(al))
	require.Equal(t, 1, a.Stats().PressureRecovered)
	closeClean(t, d, a, held)
}

// TestPressureConcurrent: four goroutines allocate and free in the full
// heap's memory type while another hits pressure. The handler waits until
// they have made progress, which they can only do if it holds no lock of
// theirs, then frees what the allocation needs. Run with -race.
func TestPressureConcurrent(t *testing.T) {
	d, a, held := pressureCases[0].setup(t)
	var made atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := vk.MemoryRequirements{Size: uint64(g+1) << 16, Alignment: 256, TypeBits: 1 << 7}
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				al, err := a.Allocate(req, alloc.AllocationOptions{Kind: alloc.KindLinear, Name: fmt.Sprintf("churn-%d-%d", g, i)})
				if err == nil {
					err = a.Free(al)
				}
				if err != nil {
					t.Error(err)
					return
				}
				made.Add(1)
			}
		}()
	}
	a.SetPressureHandler(func(alloc.Pressure) bool {
		start := made.Load()
		deadline := time.Now().Add(10 * time.Second)
		for made.Load() < start+100 {
			if time.Now().After(deadline) {
				t.Error("the other goroutines made no progress during the handler")
				return false
			}
			time.Sleep(time.Millisecond)
		}
		if len(held) == 0 {
			return false
		}
		require.NoError(t, a.Free(held[0]))
		held = held[1:]
		return true
	})
	al, err := a.Allocate(bigLocal, alloc.AllocationOptions{Name: "new"})
	close(stop)
	wg.Wait()
	require.NoError(t, err)
	require.NoError(t, a.Free(al))
	s := a.Stats()
	require.Equal(t, 1, s.PressureEvents)
	require.Equal(t, 1, s.PressureRecovered)
	closeClean(t, d, a, held)
}

// TestAllocatedBytes: AllocatedBytes agrees with Stats after a mix of
// buffers, images, raw allocations padded to granularity pages, dedicated
// allocations and a custom pool, some freed; on a device whose
// device-local heaps are two.
func TestAllocatedBytes(t *testing.T) {
	for _, name := range []string{"1080 Ti", "RX 480"} {
		t.Run(name, func(t *testing.T) {
			d := sim(t, name)
			a := newAllocator(t, d, alloc.Options{})
			pool, err := a.NewPool(alloc.PoolOptions{Name: "pool", MemoryType: 0, BlockSize: 16 << 20})
			require.NoError(t, err)
			r := rand.New(rand.NewPCG(uint64(len(name)), 7))
			live := churn(t, a, r, 600, nil)
			var raw []alloc.Allocation
			for i := range 200 {
				o := alloc.AllocationOptions{Name: fmt.Sprintf("raw-%d", i)} // KindAny: padded
				switch i % 4 {
				case 1:
					o.Dedicated = true
				case 2:
					o.Pool = pool
				}
				al, err := a.Allocate(vk.MemoryRequirements{Size: uint64(1000 + 37*i), Alignment: 16, TypeBits: ^uint32(0)}, o)
				require.NoError(t, err)
				raw = append(raw, al)
			}
			for i := 0; i < len(raw); i += 3 {
				require.NoError(t, a.Free(raw[i]))
			}
			check := func() {
				t.Helper()
				s := a.Stats()
				require.Equal(t, s.Total.AllocationBytes, a.AllocatedBytes(0))
				var local uint64
				for _, h := range s.Heaps {
					if h.Flags&vk.HeapDeviceLocal != 0 {
						local += h.Stats.AllocationBytes
					}
				}
				require.Equal(t, local, a.AllocatedBytes(vk.HeapDeviceLocal))
				require.NotEqual(t, a.AllocatedBytes(0), a.AllocatedBytes(vk.HeapDeviceLocal), "both kinds of heap are used")
			}
			check()
			live = churn(t, a, r, 300, live)
			check()
			for _, x := range live {
				require.NoError(t, x.destroy(a))
			}
			for i, al := range raw {
				if i%3 != 0 {
					require.NoError(t, a.Free(al))
				}
			}
			require.Zero(t, a.AllocatedBytes(0))
			require.NoError(t, pool.Close())
			require.NoError(t, a.Close())
			noViolations(t, d)
		})
	}
}

// TestAllocatedBytesOneAllocation pins the count of a single padded
// allocation: KindAny takes whole bufferImageGranularity pages (1024).
func TestAllocatedBytesOneAllocation(t *testing.T) {
	d := sim(t, "1080 Ti")
	a := newAllocator(t, d, alloc.Options{})
	al, err := a.Allocate(vk.MemoryRequirements{Size: 1000, Alignment: 16, TypeBits: 1 << 7}, alloc.AllocationOptions{})
	require.NoError(t, err)
	require.Equal(t, uint64(1024), a.AllocatedBytes(vk.HeapDeviceLocal))
	require.Equal(t, uint64(1024), a.AllocatedBytes(0))
	require.Zero(t, a.AllocatedBytes(vk.HeapMultiInstance))
	require.NoError(t, a.Free(al))
	require.Zero(t, a.AllocatedBytes(0))
	require.NoError(t, a.Close())
	noViolations(t, d)
}

// TestSoftLimit: an allocation that would take the device-local heaps over
// the soft limit calls the handler first (Soft, ErrSoftLimit) and is made
// whatever it answers; one that stays under, or lands in a heap without the
// flags, does not call it; the handler's frees count before the allocation.
func TestSoftLimit(t *testing.T) {
	d, err := simdev.LoadWith("1080 Ti", simdev.Options{})
	require.NoError(t, err)
	a := newAllocator(t, d, alloc.Options{})
	const mib = 1 << 20
	local := vk.MemoryRequirements{Size: 4 * mib, Alignment: 256, TypeBits: 1<<7 | 1<<8}
	a.SetSoftLimit(vk.HeapDeviceLocal, 10*mib)

	var calls []alloc.Pressure
	var held []alloc.Allocation
	a.SetPressureHandler(func(p alloc.Pressure) bool {
		calls = append(calls, p)
		if len(held) > 0 { // evict the oldest
			require.NoError(t, a.Free(held[0]))
			held = held[1:]
		}
		return false
	})
	for i := range 2 { // 8 MiB: under the limit
		al, err := a.Allocate(local, alloc.AllocationOptions{Name: fmt.Sprintf("a%d", i)})
		require.NoError(t, err)
		held = append(held, al)
	}
	require.Empty(t, calls, "under the limit")
	al, err := a.Allocate(local, alloc.AllocationOptions{Name: "over"})
	require.NoError(t, err, "a soft limit refuses nothing")
	held = append(held, al)
	require.Len(t, calls, 1)
	require.True(t, calls[0].Soft)
	require.ErrorIs(t, calls[0].Err, alloc.ErrSoftLimit)
	require.Equal(t, "over", calls[0].Name)
	require.Equal(t, uint64(4*mib), calls[0].Size)
	require.LessOrEqual(t, a.AllocatedBytes(vk.HeapDeviceLocal), uint64(10*mib), "the handler freed a0 first")
	st := a.Stats()
	require.Equal(t, 1, st.SoftLimitEvents)
	require.Zero(t, st.PressureEvents)

	// Host memory (heap 1, not device-local) is not limited.
	var hostBits uint32
	for i, mt := range a.Physical().Memory.Types {
		if a.Physical().Memory.Heaps[mt.HeapIndex].Flags&vk.HeapDeviceLocal == 0 && mt.Flags&vk.MemoryHostVisible != 0 {
			hostBits |= 1 << i
		}
	}
	require.NotZero(t, hostBits)
	host := vk.MemoryRequirements{Size: 64 * mib, Alignment: 256, TypeBits: hostBits}
	hal, err := a.Allocate(host, alloc.AllocationOptions{Name: "staging", Required: vk.MemoryHostVisible})
	require.NoError(t, err)
	held = append(held, hal)
	require.Len(t, calls, 1, "host-visible heap: no call")

	a.SetSoftLimit(0, 0)
	al, err = a.Allocate(local, alloc.AllocationOptions{Name: "unlimited"})
	require.NoError(t, err)
	held = append(held, al)
	require.Len(t, calls, 1, "limit removed")
	closeClean(t, d, a, held)
}
