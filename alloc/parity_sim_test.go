package alloc_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkassets/vkassets/alloc"
	"github.com/vkassets/vkassets/alloc/simdev"
	"github.com/vkassets/vkassets/vk"
)

func simWith(t testing.TB, name string, f vk.Features) *simdev.Device {
	t.Helper()
	d, err := simdev.LoadWith(name, simdev.Options{Features: f})
	require.NoError(t, err)
	return d
}

// TestSimBufferDeviceAddress: on a device with several memory types and
// bufferDeviceAddress, Options.BufferDeviceAddress allocates every block
// and every dedicated allocation but an image's with the device-address
// flag, so no block without it can serve a buffer that needs it (the
// simulated device checks each bind, as the validation layer does);
// addresses are non-zero, distinct and stable. Without the option no
// memory has the flag and such buffers are refused; the option on a
// device without the feature is refused by New.
func TestSimBufferDeviceAddress(t *testing.T) {
	_, err := alloc.New(alloc.Options{Device: sim(t, "1080 Ti"), BufferDeviceAddress: true})
	require.ErrorIs(t, err, vk.ErrFeatureNotPresent)

	d := simWith(t, "1080 Ti", vk.Features{BufferDeviceAddress: true})
	a := newAllocator(t, d, alloc.Options{BufferDeviceAddress: true})
	pool, err := a.NewPool(alloc.PoolOptions{Name: "p", MemoryType: 9, BlockSize: 1 << 20})
	require.NoError(t, err)
	r := rand.New(rand.NewPCG(1, 2))
	var live []resource
	addrs := map[uint64]vk.Buffer{}
	for i := range 60 {
		o := alloc.AllocationOptions{Usage: []alloc.Usage{alloc.UsageGPUOnly, alloc.UsageUpload, alloc.UsageReadback}[i%3], Dedicated: i%7 == 0}
		if i%5 == 0 {
			o = alloc.AllocationOptions{Pool: pool}
		}
		if i%4 == 3 { // optimal images: device-local memory only
			img, al, err := a.CreateImage(vk.ImageInfo{Format: vk.FormatR8G8B8A8Unorm, Width: 32 << r.IntN(4), Height: 32,
				Usage: vk.ImageUsageSampled}, alloc.AllocationOptions{Dedicated: i%7 == 0})
			require.NoError(t, err)
			live = append(live, resource{img: img, al: al})
			continue
		}
		usage := vk.BufferUsageStorage
		if i%2 == 0 {
			usage |= vk.BufferUsageShaderDeviceAddress
		}
		buf, al, err := a.CreateBuffer(1+r.Uint64N(100_000), usage, o)
		require.NoError(t, err)
		live = append(live, resource{buf: buf, al: al})
		if usage&vk.BufferUsageShaderDeviceAddress != 0 {
			v, err := a.BufferDeviceAddress(buf)
			require.NoError(t, err)
			require.NotZero(t, v)
			require.NotContains(t, addrs, v, "distinct")
			addrs[v] = buf
		}
	}
	for _, m := range d.Memories() {
		require.Equal(t, m.DedicatedImage == 0, m.DeviceAddress, "memory %d (dedicated image %d)", m.Memory, m.DedicatedImage)
	}
	for v, b := range addrs {
		again, err := a.BufferDeviceAddress(b)
		require.NoError(t, err)
		require.Equal(t, v, again, "stable")
	}
	dumpOf(t, a)
	for _, x := range live {
		require.NoError(t, x.destroy(a))
	}
	require.NoError(t, pool.Close())
	require.NoError(t, a.Close())
	noViolations(t, d)

	// The same device, the option off: no flag anywhere, SDA buffers refused.
	b := newAllocator(t, d, alloc.Options{})
	buf, al, err := b.CreateBuffer(1000, vk.BufferUsageStorage, alloc.AllocationOptions{})
	require.NoError(t, err)
	_, _, err = b.CreateBuffer(1000, vk.BufferUsageShaderDeviceAddress, alloc.AllocationOptions{})
	require.ErrorIs(t, err, alloc.ErrDeviceAddressOff)
	for _, m := range d.Memories() {
		require.False(t, m.DeviceAddress)
	}
	require.NoError(t, b.DestroyBuffer(buf, al))
	require.NoError(t, b.Close())
	noViolations(t, d)
	require.Empty(t, d.Leaks())
}

// TestSimChainsChecked: the simulated device refuses, as violations, the
// chains a device without the features must not get: the device-address
// flag without bufferDeviceAddress, a priority without
// VK_EXT_memory_priority, a priority outside [0, 1], and
// vkSetDeviceMemoryPriorityEXT without pageable memory.
func TestSimChainsChecked(t *testing.T) {
	d := sim(t, "1080 Ti")
	_, err := d.AllocateMemory(vk.MemoryAllocateInfo{Size: 4096, TypeIndex: 7, DeviceAddress: true})
	require.ErrorIs(t, err, simdev.ErrViolation)
	_, err = d.AllocateMemory(vk.MemoryAllocateInfo{Size: 4096, TypeIndex: 7, WithPriority: true, Priority: 0.5})
	require.ErrorIs(t, err, simdev.ErrViolation)
	require.Len(t, d.Violations(), 2)

	p := simWith(t, "1080 Ti", vk.Features{MemoryPriority: true})
	require.True(t, p.Physical().HasExtension("VK_EXT_memory_priority"))
	_, err = p.AllocateMemory(vk.MemoryAllocateInfo{Size: 4096, TypeIndex: 7, WithPriority: true, Priority: 1.5})
	require.ErrorIs(t, err, simdev.ErrViolation)
	m, err := p.AllocateMemory(vk.MemoryAllocateInfo{Size: 4096, TypeIndex: 7, WithPriority: true, Priority: 0.25})
	require.NoError(t, err)
	info, _ := p.Memory(m)
	require.True(t, info.WithPriority)
	require.Equal(t, float32(0.25), info.Priority)
	require.ErrorIs(t, p.SetMemoryPriority(m, 1), simdev.ErrViolation, "no pageable memory")
	p.FreeMemory(m)
	require.Len(t, p.Violations(), 2)
}

// memoriesByPriority groups a device's memories by the priority chained.
func memoriesByPriority(d *simdev.Device) (chained map[float32]int, unchained int) {
	chained = map[float32]int{}
	for _, m := range d.Memories() {
		if m.WithPriority {
			chained[m.Priority]++
		} else {
			unchained++
		}
	}
	return chained, unchained
}

// TestSimMemoryPriority: under Options.MemoryPriority every
// vkAllocateMemory chains VkMemoryPriorityAllocateInfoEXT: the default
// pools' blocks at 0.5, an allocation of another priority in memory of
// its own at that priority (never in a shared block), a pool's blocks at
// the pool's; allocations at the default share blocks. Without the option
// nothing is chained, on a device with or without the extension. Bad
// priorities are refused; SetPriority needs pageable memory, changes a
// dedicated allocation's priority and refuses a sub-allocation's.
func TestSimMemoryPriority(t *testing.T) {
	_, err := alloc.New(alloc.Options{Device: sim(t, "1080 Ti"), MemoryPriority: true})
	require.ErrorIs(t, err, vk.ErrFeatureNotPresent)

	d := simWith(t, "1080 Ti", vk.Features{MemoryPriority: true})
	a := newAllocator(t, d, alloc.Options{MemoryPriority: true})
	req := vk.MemoryRequirements{Size: 64 << 10, Alignment: 256, TypeBits: 1 << 7}
	def1, err := a.Allocate(req, alloc.AllocationOptions{})
	require.NoError(t, err)
	def2, err := a.Allocate(req, alloc.AllocationOptions{Priority: 0.5})
	require.NoError(t, err)
	require.Equal(t, def1.Memory, def2.Memory, "0 and 0.5 are the default: one block")
	require.False(t, def1.Dedicated())
	high, err := a.Allocate(req, alloc.AllocationOptions{Priority: 0.9, Name: "high"})
	require.NoError(t, err)
	require.True(t, high.Dedicated(), "another priority: memory of its own")
	low, err := a.Allocate(req, alloc.AllocationOptions{Priority: 0.1})
	require.NoError(t, err)
	require.True(t, low.Dedicated())
	pool, err := a.NewPool(alloc.PoolOptions{Name: "bg", MemoryType: 7, BlockSize: 1 << 20, Priority: 0.2})
	require.NoError(t, err)
	inPool, err := a.Allocate(req, alloc.AllocationOptions{Pool: pool, Priority: 0.9})
	require.NoError(t, err)
	require.False(t, inPool.Dedicated(), "a pool's allocations share its blocks")

	chained, unchained := memoriesByPriority(d)
	require.Zero(t, unchained)
	require.Equal(t, map[float32]int{0.5: 1, 0.9: 1, 0.1: 1, 0.2: 1}, chained)
	info, _ := d.Memory(high.Memory)
	require.Equal(t, float32(0.9), info.Priority)
	info, _ = d.Memory(inPool.Memory)
	require.Equal(t, float32(0.2), info.Priority)

	for _, p := range []float32{-0.1, 1.5, float32(math.NaN())} {
		_, err = a.Allocate(req, alloc.AllocationOptions{Priority: p})
		require.ErrorIs(t, err, alloc.ErrBadPriority, "%v", p)
		_, err = a.NewPool(alloc.PoolOptions{MemoryType: 7, Priority: p})
		require.ErrorIs(t, err, alloc.ErrBadPriority, "%v", p)
	}
	require.ErrorIs(t, a.SetPriority(high, 0.3), vk.ErrFeatureNotPresent, "no pageable memory")
	dumpOf(t, a)
	for _, al := range []alloc.Allocation{def1, def2, high, low, inPool} {
		require.NoError(t, a.Free(al))
	}
	require.NoError(t, pool.Close())
	require.NoError(t, a.Close())

	// Without the option: nothing chained, every priority shares blocks.
	b := newAllocator(t, d, alloc.Options{})
	x, err := b.Allocate(req, alloc.AllocationOptions{Priority: 0.9})
	require.NoError(t, err)
	y, err := b.Allocate(req, alloc.AllocationOptions{Priority: 0.1})
	require.NoError(t, err)
	require.Equal(t, x.Memory, y.Memory)
	_, unchained = memoriesByPriority(d)
	require.Equal(t, 1, unchained)
	require.NoError(t, b.Free(x))
	require.NoError(t, b.Free(y))
	require.NoError(t, b.Close())
	noViolations(t, d)
	require.Empty(t, d.Leaks())
}

// TestSimPageablePriority: with VK_EXT_pageable_device_local_memory,
// SetPriority calls vkSetDeviceMemoryPriorityEXT on a dedicated
// allocation's memory, refuses a sub-allocation (ErrNotDedicated), a bad
// priority, a freed allocation and, after Close, everything; from several
// goroutines at once, with allocations and frees going on, the device
// sees every call on live memory.
func TestSimPageablePriority(t *testing.T) {
	d := simWith(t, "1080 Ti", vk.Features{PageableDeviceLocalMemory: true})
	require.True(t, d.Physical().HasExtension("VK_EXT_pageable_device_local_memory"))
	a := newAllocator(t, d, alloc.Options{MemoryPriority: true})
	req := vk.MemoryRequirements{Size: 64 << 10, Alignment: 256, TypeBits: 1 << 7}
	ded, err := a.Allocate(req, alloc.AllocationOptions{Dedicated: true})
	require.NoError(t, err)
	sub, err := a.Allocate(req, alloc.AllocationOptions{})
	require.NoError(t, err)
	require.NoError(t, a.SetPriority(ded, 0.75))
	info, _ := d.Memory(ded.Memory)
	require.Equal(t, float32(0.75), info.Priority)
	require.Equal(t, 1, info.PrioritySets)
	require.ErrorIs(t, a.SetPriority(sub, 0.75), alloc.ErrNotDedicated)
	require.ErrorIs(t, a.SetPriority(ded, 2), alloc.ErrBadPriority)
	require.NoError(t, a.Free(ded))
	require.ErrorIs(t, a.SetPriority(ded, 0.5), alloc.ErrInvalidFree)

	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				al, err := a.Allocate(req, alloc.AllocationOptions{Priority: float32(g+1) / 10})
				if err != nil {
					t.Error(err)
					return
				}
				if err := a.SetPriority(al, float32(i%10)/10); err != nil {
					t.Error(err)
				}
				if err := a.Free(al); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	require.NoError(t, a.Free(sub))
	require.NoError(t, a.Close())
	require.ErrorIs(t, a.SetPriority(sub, 0.5), alloc.ErrClosed)
	noViolations(t, d)
	require.Empty(t, d.Leaks())
}

// TestSimAliasing: on a device with several types, aliasing is refused
// when the resource's memory type bits leave out the allocation's type
// (an optimal image over host memory), when the resource requires a
// dedicated allocation, and over memory dedicated to another buffer;
// each refusal leaves no buffer or image behind, and an accepted alias
// binds inside the allocation where the device checks it.
func TestSimAliasing(t *testing.T) {
	d := sim(t, "1080 Ti")
	a := newAllocator(t, d, alloc.Options{})
	host, err := a.Allocate(vk.MemoryRequirements{Size: 1 << 20, Alignment: 65536, TypeBits: 1 << 9}, alloc.AllocationOptions{Name: "host"})
	require.NoError(t, err)
	info := vk.ImageInfo{Format: vk.FormatR8G8B8A8Unorm, Width: 64, Height: 64, Usage: vk.ImageUsageSampled}
	_, err = a.CreateAliasingImage(host, 0, info)
	require.ErrorIs(t, err, alloc.ErrAliasMismatch)
	require.ErrorContains(t, err, "type bits")

	dev, err := a.Allocate(vk.MemoryRequirements{Size: 1 << 20, Alignment: 65536, TypeBits: 1 << 7}, alloc.AllocationOptions{Name: "dev"})
	require.NoError(t, err)
	img, err := a.CreateAliasingImage(dev, 65536, info)
	require.NoError(t, err)
	d.RequireDedicatedFor(func(vk.ImageInfo) bool { return true })
	_, err = a.CreateAliasingImage(dev, 0, info)
	require.ErrorIs(t, err, alloc.ErrAliasMismatch)
	require.ErrorContains(t, err, "requires a dedicated")
	d.RequireDedicatedFor(nil)

	buf, bufAl, err := a.CreateBuffer(4096, vk.BufferUsageStorage, alloc.AllocationOptions{Dedicated: true, Name: "ded"})
	require.NoError(t, err)
	_, err = a.CreateAliasingBuffer(bufAl, 0, 256, vk.BufferUsageStorage)
	require.ErrorIs(t, err, alloc.ErrAliasMismatch)
	require.ErrorContains(t, err, "dedicated to its own")

	other := newAllocator(t, d, alloc.Options{})
	_, err = other.CreateAliasingBuffer(dev, 0, 256, vk.BufferUsageStorage)
	require.ErrorIs(t, err, alloc.ErrForeignFree)
	require.NoError(t, other.Close())

	d.DestroyImage(img)
	require.NoError(t, a.DestroyBuffer(buf, bufAl))
	require.NoError(t, a.Free(host))
	require.NoError(t, a.Free(dev))
	require.NoError(t, a.Close())
	noViolations(t, d)
	require.Empty(t, d.Leaks(), "no resource left behind by a refusal")
}

// TestSimParityConcurrentClose: with corruption detection, device
// addresses and priorities all on, eight goroutines make buffers with
// addresses, raw allocations with aliasing buffers over them, allocations
// of several priorities, and check corruption, while the allocator is
// closed under them: each call succeeds or says ErrClosed, what was made
// is freed after Close, and the simulated device sees no broken rule and
// nothing left (run with -race).
func TestSimParityConcurrentClose(t *testing.T) {
	d := simWith(t, "1080 Ti", vk.Features{BufferDeviceAddress: true, PageableDeviceLocalMemory: true})
	a := newAllocator(t, d, alloc.Options{DetectCorruption: true, BufferDeviceAddress: true, MemoryPriority: true})
	okOrClosed := func(err error) bool {
		if err != nil && !errors.Is(err, alloc.ErrClosed) {
			t.Error(err)
		}
		return err == nil
	}
	var wg sync.WaitGroup
	started := make(chan struct{}, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 3))
			var held []resource
			for i := range 200 {
				if i == 20 {
					started <- struct{}{}
				}
				switch i % 4 {
				case 0:
					buf, al, err := a.CreateBuffer(1+r.Uint64N(20000), vk.BufferUsageShaderDeviceAddress,
						alloc.AllocationOptions{Usage: alloc.UsageUpload, Mapped: true})
					if okOrClosed(err) {
						held = append(held, resource{buf: buf, al: al})
						_, err = a.BufferDeviceAddress(buf)
						okOrClosed(err)
					}
				case 1:
					raw, err := a.Allocate(vk.MemoryRequirements{Size: 8192, Alignment: 256, TypeBits: 1 << 9}, alloc.AllocationOptions{})
					if okOrClosed(err) {
						if alias, err := a.CreateAliasingBuffer(raw, 256, 4096, vk.BufferUsageShaderDeviceAddress); okOrClosed(err) {
							d.DestroyBuffer(alias)
						}
						held = append(held, resource{al: raw})
					}
				case 2:
					al, err := a.Allocate(vk.MemoryRequirements{Size: 4096, Alignment: 256, TypeBits: 1 << 7},
						alloc.AllocationOptions{Priority: float32(r.IntN(4)+1) / 5})
					if okOrClosed(err) {
						if al.Dedicated() {
							okOrClosed(a.SetPriority(al, 0.3))
						}
						held = append(held, resource{al: al})
					}
				case 3:
					if err := a.CheckCorruption(1 << 9); err != nil && !errors.Is(err, alloc.ErrClosed) {
						t.Error(err)
					}
				}
				if len(held) > 6 {
					x := held[0]
					held = held[1:]
					if err := freeResource(a, x); err != nil {
						t.Error(err)
					}
				}
			}
			for _, x := range held {
				if err := freeResource(a, x); err != nil {
					t.Error(err) // Free works after Close
				}
			}
		}()
	}
	for range 8 {
		<-started
	}
	_ = a.Close() // may name what is live now
	wg.Wait()
	require.Empty(t, a.Leaks())
	noViolations(t, d)
	require.Empty(t, d.Leaks())
}

func freeResource(a *alloc.Allocator, x resource) error {
	if x.buf != 0 {
		return a.DestroyBuffer(x.buf, x.al)
	}
	return a.Free(x.al)
}
