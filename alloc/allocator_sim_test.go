package alloc_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkassets/vkassets/alloc"
	"github.com/vkassets/vkassets/alloc/simdev"
	"github.com/vkassets/vkassets/vk"
)

func sim(t testing.TB, name string) *simdev.Device {
	t.Helper()
	d, err := simdev.Load(name)
	require.NoError(t, err)
	return d
}

func newAllocator(t testing.TB, d alloc.Device, opts alloc.Options) *alloc.Allocator {
	t.Helper()
	opts.Device = d
	a, err := alloc.New(opts)
	require.NoError(t, err)
	return a
}

// noViolations fails the test with every rule the simulated device saw broken.
func noViolations(t testing.TB, d *simdev.Device) {
	t.Helper()
	if v := d.Violations(); len(v) > 0 {
		t.Fatalf("%d violations, first: %v", len(v), v[:min(len(v), 5)])
	}
}

type resource struct {
	buf vk.Buffer
	img vk.Image
	al  alloc.Allocation
}

func (r resource) destroy(a *alloc.Allocator) error {
	if r.buf != 0 {
		return a.DestroyBuffer(r.buf, r.al)
	}
	return a.DestroyImage(r.img, r.al)
}

// churn creates and destroys n random buffers and images of every usage.
func churn(t testing.TB, a *alloc.Allocator, r *rand.Rand, n int, live []resource) []resource {
	t.Helper()
	usages := []alloc.Usage{alloc.UsageGPUOnly, alloc.UsageUpload, alloc.UsageDynamic, alloc.UsageReadback, alloc.UsageAuto}
	for i := range n {
		if len(live) > 0 && r.IntN(5) < 2 {
			k := r.IntN(len(live))
			require.NoError(t, live[k].destroy(a))
			live[k] = live[len(live)-1]
			live = live[:len(live)-1]
			continue
		}
		name := fmt.Sprintf("res-%d", i)
		if r.IntN(3) == 0 {
			side := uint32(1) << r.IntN(11)
			img, al, err := a.CreateImage(vk.ImageInfo{Format: vk.FormatR8G8B8A8Unorm, Width: side, Height: max(side/2, 1),
				Usage: vk.ImageUsageSampled | vk.ImageUsageTransferDst}, alloc.AllocationOptions{Name: name})
			require.NoError(t, err)
			live = append(live, resource{img: img, al: al})
			continue
		}
		size := uint64(64) << r.IntN(16)
		size += uint64(r.IntN(int(size)))
		usage := usages[r.IntN(len(usages))]
		buf, al, err := a.CreateBuffer(size, vk.BufferUsageVertex|vk.BufferUsageTransferDst,
			alloc.AllocationOptions{Usage: usage, Name: name})
		require.NoError(t, err)
		live = append(live, resource{buf: buf, al: al})
	}
	return live
}

// TestSimulatedDevices runs random buffers and images on each of ten real
// memory layouts. The simulated device is an independent oracle: it rejects
// overlapping binds, bufferImageGranularity conflicts, misalignment, wrong
// memory types, freeing memory with resources bound, and exceeding
// maxMemoryAllocationCount. At the end nothing may be left.
func TestSimulatedDevices(t *testing.T) {
	for _, name := range simdev.Names() {
		t.Run(name, func(t *testing.T) {
			d := sim(t, name)
			a := newAllocator(t, d, alloc.Options{})
			r := rand.New(rand.NewPCG(uint64(len(name)), 3))
			live := churn(t, a, r, 1500, nil)
			noViolations(t, d)

			s := a.Stats()
			var allocBytes uint64
			for _, x := range live {
				allocBytes += x.al.Size
			}
			require.Equal(t, len(live), s.Total.AllocationCount)
			require.GreaterOrEqual(t, s.Total.AllocationBytes, allocBytes, "padding may only add")
			require.Equal(t, d.LiveAllocations(), s.DeviceAllocations)
			require.Equal(t, d.LiveAllocations(), s.Total.BlockCount)

			for _, x := range live {
				require.NoError(t, x.destroy(a))
			}
			require.Empty(t, a.Leaks())
			require.NoError(t, a.Close())
			noViolations(t, d)
			require.Empty(t, d.Leaks())
			require.Zero(t, d.LiveAllocations())
		})
	}
}

// TestOracleCatchesOverlap proves the simulated device's oracle: binding two
// buffers to one range is reported.
func TestOracleCatchesOverlap(t *testing.T) {
	d := sim(t, "1080 Ti")
	a := newAllocator(t, d, alloc.Options{})
	b1, al, err := a.CreateBuffer(4096, vk.BufferUsageVertex, alloc.AllocationOptions{})
	require.NoError(t, err)
	b2, err := d.CreateBuffer(4096, vk.BufferUsageVertex)
	require.NoError(t, err)
	require.Error(t, d.BindBufferMemory(b2, al.Memory, al.Offset)) // the planted bug
	require.NotEmpty(t, d.Violations())
	d.DestroyBuffer(b2)
	require.NoError(t, a.DestroyBuffer(b1, al))
	require.NoError(t, a.Close())
}

func TestMemoryTypeChoice(t *testing.T) {
	cases := []struct {
		device string
		usage  alloc.Usage
		want   vk.MemoryPropertyFlags // flags the chosen type must have
		avoid  vk.MemoryPropertyFlags // flags it must not have
		heap   int                    // -1: any
	}{
		{"1080 Ti", alloc.UsageGPUOnly, vk.MemoryDeviceLocal, vk.MemoryHostVisible, 0},
		{"1080 Ti", alloc.UsageUpload, vk.MemoryHostVisible | vk.MemoryHostCoherent, vk.MemoryHostCached, 1},
		{"1080 Ti", alloc.UsageReadback, vk.MemoryHostVisible | vk.MemoryHostCached, 0, 1},
		// RX 480: uploads stay out of the 256 MiB BAR heap (2); dynamic data goes there.
		{"RX 480", alloc.UsageUpload, vk.MemoryHostVisible, vk.MemoryDeviceLocal, 1},
		{"RX 480", alloc.UsageDynamic, vk.MemoryHostVisible | vk.MemoryDeviceLocal, 0, 2},
		{"RX 480", alloc.UsageGPUOnly, vk.MemoryDeviceLocal, vk.MemoryHostVisible, 0},
		{"RADV", alloc.UsageDynamic, vk.MemoryHostVisible | vk.MemoryDeviceLocal, 0, 1},
		{"Mali", alloc.UsageTransient, vk.MemoryLazilyAllocated, 0, -1},
		{"Mali", alloc.UsageGPUOnly, vk.MemoryDeviceLocal, vk.MemoryLazilyAllocated, -1},
		{"Intel", alloc.UsageUpload, vk.MemoryHostVisible, 0, -1},
	}
	for _, c := range cases {
		t.Run(c.device+"/"+c.usage.String(), func(t *testing.T) {
			d := sim(t, c.device)
			a := newAllocator(t, d, alloc.Options{})
			typ, err := a.FindMemoryType(^uint32(0), alloc.AllocationOptions{Usage: c.usage})
			require.NoError(t, err)
			mt := d.Physical().Memory.Types[typ]
			require.Equal(t, c.want, mt.Flags&c.want, "type %d has %v", typ, mt.Flags)
			require.Zero(t, mt.Flags&c.avoid, "type %d has %v", typ, mt.Flags)
			if c.heap >= 0 {
				require.Equal(t, uint32(c.heap), mt.HeapIndex)
			}
		})
	}
}

func TestTransientImageUsesLazyMemory(t *testing.T) {
	d := sim(t, "Mali")
	a := newAllocator(t, d, alloc.Options{})
	img, al, err := a.CreateImage(vk.ImageInfo{Format: vk.FormatD32Sfloat, Width: 1024, Height: 1024,
		Usage: vk.ImageUsageDepthStencilAttachment | vk.ImageUsageTransientAttachment}, alloc.AllocationOptions{})
	require.NoError(t, err)
	require.NotZero(t, d.Physical().Memory.Types[al.MemoryType].Flags&vk.MemoryLazilyAllocated)
	require.NoError(t, a.DestroyImage(img, al))
	require.NoError(t, a.Close())
	noViolations(t, d)
}

// TestBlockSizesGrow: blocks start at 1/8 of the preferred size and double;
// heaps of 1 GiB or less prefer heap/8.
func TestBlockSizesGrow(t *testing.T) {
	d := sim(t, "1080 Ti")
	a := newAllocator(t, d, alloc.Options{})
	var live []alloc.Allocation
	for range 200 {
		al, err := a.Allocate(vk.MemoryRequirements{Size: 4 << 20, Alignment: 256, TypeBits: 1 << 7}, alloc.AllocationOptions{Kind: alloc.KindLinear})
		require.NoError(t, err)
		live = append(live, al)
	}
	var sizes []uint64
	for _, b := range a.Blocks() {
		sizes = append(sizes, b.Size)
	}
	require.Equal(t, []uint64{32 << 20, 64 << 20, 128 << 20, 256 << 20, 256 << 20}, sizes[:5])
	for _, al := range live {
		require.NoError(t, a.Free(al))
	}
	require.NoError(t, a.Close())

	rx := sim(t, "RX 480")
	a = newAllocator(t, rx, alloc.Options{})
	al, err := a.Allocate(vk.MemoryRequirements{Size: 1 << 20, Alignment: 256, TypeBits: 1 << 2}, alloc.AllocationOptions{})
	require.NoError(t, err)
	require.Equal(t, uint64(256<<20/8/8), a.Blocks()[0].Size, "BAR heap of 256 MiB: preferred 32 MiB, first block 4 MiB")
	require.NoError(t, a.Free(al))
	require.NoError(t, a.Close())
}

func TestDedicatedAllocations(t *testing.T) {
	d := sim(t, "1080 Ti")
	d.RequireDedicatedFor(func(info vk.ImageInfo) bool { return info.Width == 333 })
	a := newAllocator(t, d, alloc.Options{})
	// Larger than half a block: dedicated.
	big, err := a.Allocate(vk.MemoryRequirements{Size: 200 << 20, Alignment: 256, TypeBits: 1 << 7}, alloc.AllocationOptions{Name: "big"})
	require.NoError(t, err)
	require.True(t, big.Dedicated())
	// Required by the driver.
	img, al, err := a.CreateImage(vk.ImageInfo{Format: vk.FormatR8G8B8A8Unorm, Width: 333, Height: 20, Usage: vk.ImageUsageSampled}, alloc.AllocationOptions{})
	require.NoError(t, err)
	require.True(t, al.Dedicated())
	info, ok := d.Memory(al.Memory)
	require.True(t, ok)
	require.Equal(t, img, info.DedicatedImage, "VkMemoryDedicatedAllocateInfo names the image")
	// Preferred by the driver: large attachments.
	att, atAl, err := a.CreateImage(vk.ImageInfo{Format: vk.FormatR8G8B8A8Unorm, Width: 2048, Height: 2048,
		Usage: vk.ImageUsageColorAttachment}, alloc.AllocationOptions{})
	require.NoError(t, err)
	require.True(t, atAl.Dedicated())
	require.NoError(t, a.Free(big))
	require.NoError(t, a.DestroyImage(img, al))
	require.NoError(t, a.DestroyImage(att, atAl))
	require.ErrorIs(t, a.Free(big), alloc.ErrInvalidFree)
	require.NoError(t, a.Close())
	noViolations(t, d)
	require.Zero(t, d.LiveAllocations())
}

func TestStayWithinBudget(t *testing.T) {
	d, err := simdev.LoadWith("RX 480", simdev.Options{Budget: true, BudgetFraction: 0.5})
	require.NoError(t, err)
	a := newAllocator(t, d, alloc.Options{StayWithinBudget: true})
	// Dynamic data prefers the 256 MiB BAR heap (budget 128 MiB); once it is
	// spent, allocations move to the next type instead of going over.
	var live []alloc.Allocation
	for range 40 {
		al, err := a.Allocate(vk.MemoryRequirements{Size: 8 << 20, Alignment: 256, TypeBits: ^uint32(0)},
			alloc.AllocationOptions{Usage: alloc.UsageDynamic})
		require.NoError(t, err)
		live = append(live, al)
	}
	require.LessOrEqual(t, d.AllocatedBytes(2), uint64(128<<20), "BAR heap over budget")
	heaps := map[uint32]int{}
	for _, al := range live {
		heaps[d.Physical().Memory.Types[al.MemoryType].HeapIndex]++
	}
	require.NotZero(t, heaps[2])
	require.NotZero(t, heaps[1], "overflow went to system memory")

	// With only the BAR type allowed, the budget refuses.
	_, err = a.Allocate(vk.MemoryRequirements{Size: 64 << 20, Alignment: 256, TypeBits: 1 << 2}, alloc.AllocationOptions{Usage: alloc.UsageDynamic})
	require.ErrorIs(t, err, alloc.ErrBudgetExceeded)
	for _, al := range live {
		require.NoError(t, a.Free(al))
	}
	require.NoError(t, a.Close())
	noViolations(t, d)
}

// TestAllocationCountLimit: never more than maxMemoryAllocationCount
// (4096 on the 1080 Ti) device allocations, even when every request wants
// its own.
func TestAllocationCountLimit(t *testing.T) {
	d := sim(t, "1080 Ti")
	a := newAllocator(t, d, alloc.Options{})
	var live []alloc.Allocation
	var err error
	for {
		var al alloc.Allocation
		al, err = a.Allocate(vk.MemoryRequirements{Size: 4096, Alignment: 256, TypeBits: 1 << 9}, alloc.AllocationOptions{Dedicated: true})
		if err != nil {
			break
		}
		live = append(live, al)
	}
	require.ErrorIs(t, err, alloc.ErrAllocationCountLimit)
	require.Equal(t, 4096, len(live))
	require.Equal(t, 4096, d.LiveAllocations())
	noViolations(t, d)
	for _, al := range live {
		require.NoError(t, a.Free(al))
	}
	require.NoError(t, a.Close())
}

// TestAllocateMemoryFailures walks the retry ladder with injected failures:
// smaller blocks, then a dedicated allocation, then the next memory type,
// and only then the error, with nothing leaked.
func TestAllocateMemoryFailures(t *testing.T) {
	req := vk.MemoryRequirements{Size: 1 << 20, Alignment: 256, TypeBits: 1<<7 | 1<<8}
	t.Run("smaller-block", func(t *testing.T) {
		d := sim(t, "1080 Ti")
		a := newAllocator(t, d, alloc.Options{})
		d.FailNext(1, vk.ErrorOutOfDeviceMemory)
		al, err := a.Allocate(req, alloc.AllocationOptions{Kind: alloc.KindLinear})
		require.NoError(t, err)
		require.False(t, al.Dedicated())
		require.Equal(t, uint64(16<<20), a.Blocks()[0].Size, "retried at half the size")
		require.Equal(t, 1, d.InjectedFailures())
		require.NoError(t, a.Free(al))
		require.NoError(t, a.Close())
	})
	t.Run("dedicated", func(t *testing.T) {
		d := sim(t, "1080 Ti")
		a := newAllocator(t, d, alloc.Options{})
		d.FailLargerThan(2 << 20) // no block of any size the ladder tries
		al, err := a.Allocate(req, alloc.AllocationOptions{Kind: alloc.KindLinear})
		require.NoError(t, err)
		require.True(t, al.Dedicated())
		require.NoError(t, a.Free(al))
		require.NoError(t, a.Close())
	})
	t.Run("next-type", func(t *testing.T) {
		d := sim(t, "1080 Ti")
		a := newAllocator(t, d, alloc.Options{})
		d.SetAllocateHook(func(info vk.MemoryAllocateInfo) error {
			if info.TypeIndex == 7 {
				return &vk.Error{Op: "vkAllocateMemory", Result: vk.ErrorOutOfDeviceMemory}
			}
			return nil
		})
		al, err := a.Allocate(req, alloc.AllocationOptions{Kind: alloc.KindLinear})
		require.NoError(t, err)
		require.Equal(t, uint32(8), al.MemoryType)
		require.NoError(t, a.Free(al))
		require.NoError(t, a.Close())
	})
	t.Run("exhausted", func(t *testing.T) {
		d := sim(t, "1080 Ti")
		a := newAllocator(t, d, alloc.Options{})
		before := a.Stats()
		d.SetAllocateHook(func(vk.MemoryAllocateInfo) error {
			return &vk.Error{Op: "vkAllocateMemory", Result: vk.ErrorOutOfDeviceMemory}
		})
		_, err := a.Allocate(req, alloc.AllocationOptions{Kind: alloc.KindLinear, Name: "doomed"})
		require.ErrorIs(t, err, vk.ErrOutOfDeviceMemory)
		require.Contains(t, err.Error(), "doomed")
		after := a.Stats()
		require.Greater(t, after.AllocateCalls, 1, "the ladder tried")
		after.AllocateCalls = before.AllocateCalls
		require.Equal(t, before, after, "a failed allocation changes nothing")
		require.Zero(t, d.LiveAllocations())
		// CreateBuffer destroys its buffer when the memory fails.
		_, _, err = a.CreateBuffer(4096, vk.BufferUsageVertex, alloc.AllocationOptions{})
		require.ErrorIs(t, err, vk.ErrOutOfDeviceMemory)
		require.Empty(t, d.Leaks())
		require.NoError(t, a.Close())
		noViolations(t, d)
	})
}

// TestFlushNonCoherent: on Mali's non-coherent cached type, Flush widens
// ranges to nonCoherentAtomSize (64) and stays inside the memory.
func TestFlushNonCoherent(t *testing.T) {
	d := sim(t, "Mali")
	a := newAllocator(t, d, alloc.Options{PreferredBlockSize: 1 << 20})
	typ := -1
	for i, mt := range d.Physical().Memory.Types {
		if mt.Flags&vk.MemoryHostVisible != 0 && mt.Flags&vk.MemoryHostCoherent == 0 {
			typ = i
		}
	}
	require.GreaterOrEqual(t, typ, 0, "Mali has a non-coherent type")
	var live []alloc.Allocation
	for i := range 20 {
		al, err := a.Allocate(vk.MemoryRequirements{Size: uint64(100 + 37*i), Alignment: 4, TypeBits: 1 << typ},
			alloc.AllocationOptions{Mapped: true, Usage: alloc.UsageReadback, Kind: alloc.KindLinear})
		require.NoError(t, err)
		copy(al.Mapped, "hello")
		require.NoError(t, a.Flush(al, 3, 50))
		require.NoError(t, a.Invalidate(al, 0, ^uint64(0)))
		live = append(live, al)
	}
	flushes := d.Flushes()
	require.Len(t, flushes, 20)
	for _, f := range flushes {
		require.Zero(t, f.Offset%64)
	}
	noViolations(t, d)
	for _, al := range live {
		require.NoError(t, a.Free(al))
	}
	require.NoError(t, a.Close())
	noViolations(t, d)
}

func TestEmptyBlockPolicies(t *testing.T) {
	req := vk.MemoryRequirements{Size: 1 << 20, Alignment: 256, TypeBits: 1 << 7}
	for _, c := range []struct {
		policy alloc.EmptyBlockPolicy
		kept   int
	}{{alloc.KeepWhileUnderBudget, 1}, {alloc.FreeEmptyBlocks, 0}, {alloc.KeepEmptyBlocks, 1}} {
		d := sim(t, "1080 Ti")
		a := newAllocator(t, d, alloc.Options{EmptyBlocks: c.policy})
		al, err := a.Allocate(req, alloc.AllocationOptions{Kind: alloc.KindLinear})
		require.NoError(t, err)
		require.NoError(t, a.Free(al))
		require.Equal(t, c.kept, d.LiveAllocations(), "policy %d", c.policy)
		require.Equal(t, c.kept, a.TrimEmptyBlocks())
		require.Zero(t, d.LiveAllocations())
		require.NoError(t, a.Close())
	}
}

func TestPools(t *testing.T) {
	d := sim(t, "1080 Ti")
	a := newAllocator(t, d, alloc.Options{})
	ring, err := a.NewPool(alloc.PoolOptions{Name: "staging-ring", MemoryType: 9, BlockSize: 1 << 20,
		MinBlocks: 1, MaxBlocks: 1, Algorithm: alloc.AlgorithmLinear})
	require.NoError(t, err)
	require.Equal(t, 1, d.LiveAllocations(), "MinBlocks are allocated up front")
	req := vk.MemoryRequirements{Size: 100 << 10, Alignment: 256, TypeBits: ^uint32(0)}
	// A ring of frames: allocate ahead, free the oldest; the block never grows.
	var frames []alloc.Allocation
	for i := range 200 {
		al, err := a.Allocate(req, alloc.AllocationOptions{Pool: ring, Kind: alloc.KindLinear})
		require.NoError(t, err, "frame %d", i)
		frames = append(frames, al)
		if len(frames) > 5 {
			require.NoError(t, a.Free(frames[0]))
			frames = frames[1:]
		}
	}
	require.Equal(t, 1, d.LiveAllocations())
	// Full: MaxBlocks stops growth.
	_, err = a.Allocate(vk.MemoryRequirements{Size: 900 << 10, Alignment: 256, TypeBits: ^uint32(0)}, alloc.AllocationOptions{Pool: ring})
	require.ErrorIs(t, err, alloc.ErrNoSpace)
	_, err = a.Allocate(vk.MemoryRequirements{Size: 100, Alignment: 256, TypeBits: 1 << 7}, alloc.AllocationOptions{Pool: ring})
	require.ErrorIs(t, err, alloc.ErrNoMemoryType)
	for _, al := range frames {
		require.NoError(t, a.Free(al))
	}
	require.NoError(t, ring.Close())
	_, err = a.NewPool(alloc.PoolOptions{MemoryType: 99})
	require.Error(t, err)
	_, err = a.NewPool(alloc.PoolOptions{MemoryType: 7, MinBlocks: 3, MaxBlocks: 1})
	require.Error(t, err)
	require.NoError(t, a.Close())
	require.Zero(t, d.LiveAllocations())
	noViolations(t, d)
}

// TestConcurrentAllocations: goroutines allocating and freeing at once, on
// several memory types (run with -race).
func TestConcurrentAllocations(t *testing.T) {
	d := sim(t, "1080 Ti")
	a := newAllocator(t, d, alloc.Options{})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 1))
			live := churn(t, a, r, 400, nil)
			for _, x := range live {
				if err := x.destroy(a); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	require.Empty(t, a.Leaks())
	require.NoError(t, a.Close())
	noViolations(t, d)
	require.Zero(t, d.LiveAllocations())
}

func TestAllocateFreeAllocatesNothing(t *testing.T) {
	d := sim(t, "1080 Ti")
	a := newAllocator(t, d, alloc.Options{})
	req := vk.MemoryRequirements{Size: 64 << 10, Alignment: 256, TypeBits: 1 << 7}
	warm, err := a.Allocate(req, alloc.AllocationOptions{Kind: alloc.KindLinear})
	require.NoError(t, err)
	n := testing.AllocsPerRun(1000, func() {
		al, err := a.Allocate(req, alloc.AllocationOptions{Kind: alloc.KindLinear})
		if err == nil {
			err = a.Free(al)
		}
		if err != nil {
			t.Fatal(err)
		}
	})
	require.Zero(t, n)
	require.NoError(t, a.Free(warm))
	require.NoError(t, a.Close())
}

func TestStatsJSONAndBlockMap(t *testing.T) {
	d := sim(t, "1080 Ti")
	a := newAllocator(t, d, alloc.Options{})
	r := rand.New(rand.NewPCG(5, 5))
	live := churn(t, a, r, 300, nil)
	pool, err := a.NewPool(alloc.PoolOptions{Name: "ring", MemoryType: 9, BlockSize: 1 << 20, MinBlocks: 1})
	require.NoError(t, err)

	var buf bytes.Buffer
	require.NoError(t, a.WriteStatsJSON(&buf))
	validateDump(t, buf.Bytes())
	var dump map[string]any
	require.NoError(t, json.Unmarshal(buf.Bytes(), &dump))
	for _, k := range []string{"General", "Total", "MemoryInfo", "DefaultPools", "CustomPools"} {
		require.Contains(t, dump, k)
	}
	general := dump["General"].(map[string]any)
	require.Equal(t, "Vulkan", general["API"])
	require.Equal(t, d.Physical().Name, general["GPU"])
	total := dump["Total"].(map[string]any)
	s := a.Stats()
	require.EqualValues(t, s.Total.AllocationCount, total["AllocationCount"])
	require.EqualValues(t, s.Total.BlockCount, total["BlockCount"])
	// Every suballocation list covers its block exactly.
	pools := dump["DefaultPools"].(map[string]any)
	blocks := 0
	for _, p := range pools {
		pm := p.(map[string]any)
		require.Contains(t, pm, "PreferredBlockSize")
		for _, b := range pm["Blocks"].(map[string]any) {
			bm := b.(map[string]any)
			var sum float64
			for _, sa := range bm["Suballocations"].([]any) {
				sum += sa.(map[string]any)["Size"].(float64)
			}
			require.Equal(t, bm["TotalBytes"], sum)
			blocks++
		}
	}
	require.NotZero(t, blocks)
	custom := dump["CustomPools"].(map[string]any)
	require.Contains(t, custom, "Type 9")

	var img bytes.Buffer
	require.NoError(t, a.WriteBlockMapPNG(&img))
	decoded, err := png.Decode(&img)
	require.NoError(t, err)
	require.Equal(t, 1200, decoded.Bounds().Dx())
	require.Greater(t, decoded.Bounds().Dy(), 100)

	for _, x := range live {
		require.NoError(t, x.destroy(a))
	}
	require.NoError(t, pool.Close())
	require.NoError(t, a.Close())
}

func TestBadInputLeavesStateUnchanged(t *testing.T) {
	d := sim(t, "1080 Ti")
	a := newAllocator(t, d, alloc.Options{})
	al, err := a.Allocate(vk.MemoryRequirements{Size: 1000, Alignment: 256, TypeBits: 1 << 7}, alloc.AllocationOptions{})
	require.NoError(t, err)
	before := a.Stats()
	bad := []struct {
		name string
		err  error
		want error
	}{
		{"zero size", second(a.Allocate(vk.MemoryRequirements{Alignment: 4, TypeBits: 1}, alloc.AllocationOptions{})), alloc.ErrZeroSize},
		{"alignment 48", second(a.Allocate(vk.MemoryRequirements{Size: 10, Alignment: 48, TypeBits: 1}, alloc.AllocationOptions{})), alloc.ErrBadAlignment},
		{"no type", second(a.Allocate(vk.MemoryRequirements{Size: 10, Alignment: 4, TypeBits: 1 << 20}, alloc.AllocationOptions{})), alloc.ErrNoMemoryType},
		{"host-visible GPU-only", second(a.Allocate(vk.MemoryRequirements{Size: 10, Alignment: 4, TypeBits: 1 << 7}, alloc.AllocationOptions{Mapped: true})), alloc.ErrNoMemoryType},
		{"forged", a.Free(alloc.Allocation{Memory: al.Memory, Offset: al.Offset + 256, Size: al.Size}), alloc.ErrInvalidFree},
	}
	for _, c := range bad {
		require.True(t, errors.Is(c.err, c.want), "%s: %v", c.name, c.err)
	}
	require.Equal(t, before, a.Stats())
	require.NoError(t, a.Free(al))
	require.ErrorIs(t, a.Free(al), alloc.ErrInvalidFree)
	require.NoError(t, a.Close())
	_, err = a.Allocate(vk.MemoryRequirements{Size: 10, Alignment: 4, TypeBits: 1 << 7}, alloc.AllocationOptions{})
	require.ErrorIs(t, err, alloc.ErrClosed)
}

func second[T any](_ T, err error) error { return err }

// TestStatsJSONUsageAndDedicatedTypes: the dump writes what VMA writes
// and GpuMemDumpVis.py reads — a Usage on every dedicated allocation (its
// absence made the script fail with KeyError: 'Usage') and on every
// sub-allocation, the buffer's or image's usage flags or 0 for a raw one;
// none on free ranges — and a raw allocation that became dedicated is
// UNKNOWN, not IMAGE_OPTIMAL.
func TestStatsJSONUsageAndDedicatedTypes(t *testing.T) {
	d := sim(t, "1080 Ti")
	a := newAllocator(t, d, alloc.Options{})
	bufUsage := vk.BufferUsageVertex | vk.BufferUsageTransferDst
	buf, bufMem, err := a.CreateBuffer(1<<20, bufUsage, alloc.AllocationOptions{Name: "dedicated buffer", Dedicated: true})
	require.NoError(t, err)
	imgUsage := vk.ImageUsageSampled | vk.ImageUsageTransferDst
	img, imgMem, err := a.CreateImage(vk.ImageInfo{Format: vk.FormatR8G8B8A8Unorm, Width: 64, Height: 64, Usage: imgUsage},
		alloc.AllocationOptions{Name: "sub image"})
	require.NoError(t, err)
	raw, err := a.Allocate(vk.MemoryRequirements{Size: 1 << 20, Alignment: 256, TypeBits: 1<<7 | 1<<8},
		alloc.AllocationOptions{Name: "raw dedicated", Dedicated: true})
	require.NoError(t, err)

	var out bytes.Buffer
	require.NoError(t, a.WriteStatsJSON(&out))
	validateDump(t, out.Bytes())
	var dump struct {
		DefaultPools map[string]struct {
			Blocks map[string]struct {
				Suballocations []map[string]any
			}
			DedicatedAllocations []map[string]any
		}
	}
	require.NoError(t, json.Unmarshal(out.Bytes(), &dump))
	dedicated := map[string]map[string]any{}
	var sub map[string]any
	for _, p := range dump.DefaultPools {
		for _, da := range p.DedicatedAllocations {
			require.Contains(t, da, "Usage", "every dedicated allocation: %v", da)
			dedicated[da["Name"].(string)] = da
		}
		for _, b := range p.Blocks {
			for _, sa := range b.Suballocations {
				if sa["Type"] == "FREE" {
					require.NotContains(t, sa, "Usage", "a free range")
					continue
				}
				require.Contains(t, sa, "Usage", "every sub-allocation: %v", sa)
				if sa["Name"] == "sub image" {
					sub = sa
				}
			}
		}
	}
	require.Equal(t, "BUFFER", dedicated["dedicated buffer"]["Type"])
	require.EqualValues(t, bufUsage, dedicated["dedicated buffer"]["Usage"])
	require.Equal(t, "UNKNOWN", dedicated["raw dedicated"]["Type"], "VMA's type for a raw allocation")
	require.EqualValues(t, 0, dedicated["raw dedicated"]["Usage"])
	require.NotNil(t, sub, "the image's sub-allocation")
	require.Equal(t, "IMAGE_OPTIMAL", sub["Type"])
	require.EqualValues(t, imgUsage, sub["Usage"])

	require.NoError(t, a.DestroyBuffer(buf, bufMem))
	require.NoError(t, a.DestroyImage(img, imgMem))
	require.NoError(t, a.Free(raw))
	require.NoError(t, a.Close())
}
