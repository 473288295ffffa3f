package simdev_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vkassets/vkassets/alloc"
	"github.com/vkassets/vkassets/alloc/simdev"
	"github.com/vkassets/vkassets/vk"
)

var _ alloc.Device = (*simdev.Device)(nil)

var selectors = []string{"1080 Ti", "Mali", "llvmpipe", "RX 480", "Intel", "940M", "Tegra", "PowerVR", "Adreno", "RADV"}

func load(t *testing.T, name string) *simdev.Device {
	t.Helper()
	d, err := simdev.Load(name)
	require.NoError(t, err)
	return d
}

// typeWith is the first memory type with all of want and none of not.
func typeWith(t *testing.T, d *simdev.Device, want, not vk.MemoryPropertyFlags) uint32 {
	t.Helper()
	for i, mt := range d.Physical().Memory.Types {
		if mt.Flags&want == want && mt.Flags&not == 0 && mt.Flags != 0 {
			return uint32(i)
		}
	}
	t.Fatalf("%s has no memory type with %s and without %s", d.Physical().Name, want, not)
	return 0
}

func alloc1(t *testing.T, d *simdev.Device, size uint64, typ uint32) vk.DeviceMemory {
	t.Helper()
	m, err := d.AllocateMemory(vk.MemoryAllocateInfo{Size: size, TypeIndex: typ})
	require.NoError(t, err)
	require.NotZero(t, m)
	return m
}

func buffer(t *testing.T, d *simdev.Device, size uint64) vk.Buffer {
	t.Helper()
	b, err := d.CreateBuffer(size, vk.BufferUsageTransferSrc)
	require.NoError(t, err)
	return b
}

func image(t *testing.T, d *simdev.Device, w, h uint32, tiling vk.ImageTiling, usage vk.ImageUsage) vk.Image {
	t.Helper()
	img, err := d.CreateImage(vk.ImageInfo{Format: vk.FormatR8G8B8A8Unorm, Width: w, Height: h, Tiling: tiling, Usage: usage})
	require.NoError(t, err)
	return img
}

// oneViolation asserts that exactly one violation was recorded and that it
// contains every part.
func oneViolation(t *testing.T, d *simdev.Device, parts ...string) {
	t.Helper()
	v := d.Violations()
	require.Len(t, v, 1, "violations: %q", v)
	for _, p := range parts {
		assert.Contains(t, v[0], p)
	}
}

func TestEveryDeviceLoads(t *testing.T) {
	names := simdev.Names()
	require.Len(t, names, 10)
	all := simdev.LoadAll()
	require.Len(t, all, 10)
	seen := map[string]bool{}
	for _, sel := range selectors {
		d := load(t, sel)
		p := d.Physical()
		assert.False(t, seen[p.Name], "%q and another selector name the same device", sel)
		seen[p.Name] = true
	}
	assert.Len(t, seen, 10)

	for i, d := range all {
		p := d.Physical()
		t.Run(p.Name, func(t *testing.T) {
			assert.Equal(t, names[i], p.Name)
			assert.Equal(t, vk.MakeVersion(1, 3, 0), p.APIVersion)
			assert.Equal(t, []vk.QueueFamily{{Flags: vk.QueueGraphics | vk.QueueCompute | vk.QueueTransfer, Count: 1}}, p.QueueFamilies)
			assert.False(t, p.HasExtension("VK_EXT_memory_budget"))
			assert.NotZero(t, p.Limits.MaxMemoryAllocationCount)
			assert.NotZero(t, p.Limits.BufferImageGranularity)
			assert.NotZero(t, p.Limits.NonCoherentAtomSize)
			assert.NotZero(t, p.Limits.MinMemoryMapAlignment)
			require.NotEmpty(t, p.Memory.Heaps)
			require.NotEmpty(t, p.Memory.Types)
			used := make([]bool, len(p.Memory.Heaps))
			for ti, mt := range p.Memory.Types {
				require.Less(t, int(mt.HeapIndex), len(p.Memory.Heaps), "type %d", ti)
				used[mt.HeapIndex] = true
				// A DEVICE_LOCAL type lives in a DEVICE_LOCAL heap.
				if mt.Flags&vk.MemoryDeviceLocal != 0 {
					assert.NotZero(t, p.Memory.Heaps[mt.HeapIndex].Flags&vk.HeapDeviceLocal, "type %d", ti)
				}
			}
			for h, u := range used {
				assert.True(t, u, "heap %d has no memory type", h)
				assert.NotZero(t, p.Memory.Heaps[h].Size)
			}
			assert.NotEqual(t, vk.DeviceTypeOther, p.Type)

			// Vulkan guarantees a buffer a HOST_VISIBLE|HOST_COHERENT type and
			// a DEVICE_LOCAL type.
			b := buffer(t, d, 1000)
			req := d.BufferRequirements(b)
			var hostCoherent, deviceLocal bool
			for ti, mt := range p.Memory.Types {
				if req.TypeBits&(1<<ti) == 0 {
					continue
				}
				hostCoherent = hostCoherent || mt.Flags&(vk.MemoryHostVisible|vk.MemoryHostCoherent) == vk.MemoryHostVisible|vk.MemoryHostCoherent
				deviceLocal = deviceLocal || mt.Flags&vk.MemoryDeviceLocal != 0
			}
			assert.True(t, hostCoherent, "buffer type bits %#x", req.TypeBits)
			assert.True(t, deviceLocal, "buffer type bits %#x", req.TypeBits)
			img := image(t, d, 16, 16, vk.TilingOptimal, vk.ImageUsageSampled)
			assert.NotZero(t, d.ImageRequirements(img).TypeBits)
			d.DestroyBuffer(b)
			d.DestroyImage(img)
			assert.Empty(t, d.Violations())
			assert.Empty(t, d.Leaks())
		})
	}
}

func TestLoadMatching(t *testing.T) {
	d, err := simdev.Load("GeForce GTX 1080 Ti")
	require.NoError(t, err)
	assert.Equal(t, "GeForce GTX 1080 Ti", d.Physical().Name)
	assert.Equal(t, vk.DeviceTypeDiscreteGPU, d.Physical().Type)

	d = load(t, "LLVMPIPE")
	assert.Equal(t, vk.DeviceTypeCPU, d.Physical().Type, "device_type is spelt \"CPU\" in the file")

	_, err = simdev.Load("Voodoo")
	require.Error(t, err)
	for _, n := range simdev.Names() {
		assert.Contains(t, err.Error(), n)
	}
	_, err = simdev.Load("GeForce")
	require.ErrorContains(t, err, "several")
	_, err = simdev.Load("")
	require.Error(t, err)

	// Devices do not share state.
	a, b := load(t, "Mali"), load(t, "Mali")
	assert.NotSame(t, a.Physical(), b.Physical())
	a.Physical().Memory.Types[0].Flags = 0
	assert.NotZero(t, b.Physical().Memory.Types[0].Flags)
	assert.NotZero(t, load(t, "Mali").Physical().Memory.Types[0].Flags)
}

// TestCorrectUsage runs a valid sequence on every device and expects no
// violation and no leak.
func TestCorrectUsage(t *testing.T) {
	for _, d := range simdev.LoadAll() {
		p := d.Physical()
		t.Run(p.Name, func(t *testing.T) {
			g := p.Limits.BufferImageGranularity
			host := typeWith(t, d, vk.MemoryHostVisible, vk.MemoryLazilyAllocated)
			m := alloc1(t, d, 1<<20, host)

			b1, b2 := buffer(t, d, 100), buffer(t, d, 300)
			r1, r2 := d.BufferRequirements(b1), d.BufferRequirements(b2)
			require.NoError(t, d.BindBufferMemory(b1, m, 0))
			require.NoError(t, d.BindBufferMemory(b2, m, r1.Size))

			// A linear image on its own granularity page after the buffers.
			li := image(t, d, 16, 16, vk.TilingLinear, vk.ImageUsageTransferSrc)
			lr := d.ImageRequirements(li)
			require.NotZero(t, lr.TypeBits&(1<<host))
			off := (r1.Size + r2.Size + lr.Alignment - 1) / lr.Alignment * lr.Alignment
			require.NoError(t, d.BindImageMemory(li, m, off))

			// An optimal image in device-local memory, then a buffer on the
			// next granularity page after it.
			local := typeWith(t, d, vk.MemoryDeviceLocal, vk.MemoryLazilyAllocated)
			dm := alloc1(t, d, 1<<20, local)
			oi := image(t, d, 8, 8, vk.TilingOptimal, vk.ImageUsageSampled)
			or := d.ImageRequirements(oi)
			require.NoError(t, d.BindImageMemory(oi, dm, 0))
			if d.BufferRequirements(b1).TypeBits&(1<<local) != 0 {
				b3 := buffer(t, d, 64)
				at := (or.Size + g - 1) / g * g
				at = (at + 255) / 256 * 256
				require.NoError(t, d.BindBufferMemory(b3, dm, at))
				d.DestroyBuffer(b3)
			}

			data, err := d.MapMemory(m, 0, ^uint64(0))
			require.NoError(t, err)
			require.Len(t, data, 1<<20)
			copy(data, "hello")
			require.NoError(t, d.FlushMemory(m, 0, ^uint64(0)))
			require.NoError(t, d.FlushMemory(m, 0, p.Limits.NonCoherentAtomSize))
			require.NoError(t, d.InvalidateMemory(m, p.Limits.NonCoherentAtomSize, 2*p.Limits.NonCoherentAtomSize))
			d.UnmapMemory(m)
			data, err = d.MapMemory(m, 1, 4)
			require.NoError(t, err)
			assert.Equal(t, "ello", string(data))
			d.UnmapMemory(m)

			assert.Equal(t, []simdev.Range{{m, 0, ^uint64(0)}, {m, 0, p.Limits.NonCoherentAtomSize}}, d.Flushes())
			assert.Equal(t, []simdev.Range{{m, p.Limits.NonCoherentAtomSize, 2 * p.Limits.NonCoherentAtomSize}}, d.Invalidates())
			assert.Len(t, d.Leaks(), 6)
			info, ok := d.Memory(m)
			require.True(t, ok)
			assert.Equal(t, 3, info.Bound)

			d.DestroyBuffer(b1)
			d.DestroyBuffer(b2)
			d.DestroyImage(li)
			d.DestroyImage(oi)
			d.FreeMemory(m)
			d.FreeMemory(dm)
			d.FreeMemory(0)
			d.DestroyBuffer(0)
			d.DestroyImage(0)

			assert.Empty(t, d.Violations())
			assert.Empty(t, d.Leaks())
			assert.Zero(t, d.LiveAllocations())
			assert.Equal(t, 2, d.AllocateCalls())
			for h := range p.Memory.Heaps {
				assert.Zero(t, d.AllocatedBytes(h))
			}
			peak := make([]uint64, len(p.Memory.Heaps))
			peak[p.Memory.Types[host].HeapIndex] += 1 << 20
			peak[p.Memory.Types[local].HeapIndex] += 1 << 20
			for h := range p.Memory.Heaps {
				assert.Equal(t, peak[h], d.PeakAllocatedBytes(h), "heap %d", h)
			}
		})
	}
}

func TestOverlap(t *testing.T) {
	d := load(t, "RX 480")
	m := alloc1(t, d, 4096, 0)
	b1, b2 := buffer(t, d, 512), buffer(t, d, 256)
	require.NoError(t, d.BindBufferMemory(b1, m, 0))
	err := d.BindBufferMemory(b2, m, 256)
	require.ErrorIs(t, err, simdev.ErrViolation)
	oneViolation(t, d, "overlap", fmt.Sprintf("buffer %d", b2), fmt.Sprintf("buffer %d at [0, 512)", b1))
	// The failed bind left b2 unbound: it can go elsewhere.
	require.NoError(t, d.BindBufferMemory(b2, m, 512))
	assert.Len(t, d.Violations(), 1)
}

func TestGranularityConflict(t *testing.T) {
	d := load(t, "1080 Ti")
	require.Equal(t, uint64(1024), d.Physical().Limits.BufferImageGranularity)
	m := alloc1(t, d, 1<<20, 7) // DEVICE_LOCAL
	img := image(t, d, 8, 8, vk.TilingOptimal, vk.ImageUsageSampled)
	req := d.ImageRequirements(img)
	require.Equal(t, uint64(256), req.Size)
	require.NoError(t, d.BindImageMemory(img, m, 0))

	// A buffer right after the image, on the same 1024-byte page.
	b := buffer(t, d, 256)
	err := d.BindBufferMemory(b, m, 256)
	require.ErrorIs(t, err, simdev.ErrViolation)
	oneViolation(t, d, "bufferImageGranularity", fmt.Sprintf("optimal image %d", img), fmt.Sprintf("buffer %d", b), "1024-byte page")

	// The next page is fine.
	require.NoError(t, d.BindBufferMemory(b, m, 1024))

	// Two optimal images may share a page, and a linear image on its own
	// page is fine.
	li := image(t, d, 8, 8, vk.TilingLinear, vk.ImageUsageSampled)
	require.NoError(t, d.BindImageMemory(li, m, 0x1000))
	oi := image(t, d, 8, 8, vk.TilingOptimal, vk.ImageUsageSampled)
	require.NoError(t, d.BindImageMemory(oi, m, 0x2000))
	oi2 := image(t, d, 8, 8, vk.TilingOptimal, vk.ImageUsageSampled)
	b2 := buffer(t, d, 256)
	require.NoError(t, d.BindBufferMemory(b2, m, 0x2000-256)) // page before oi's
	require.NoError(t, d.BindImageMemory(oi2, m, 0x3000))
	assert.Len(t, d.Violations(), 1)

	// A buffer before an optimal image on the same page: 940M, 64 KiB pages.
	d = load(t, "940M")
	m = alloc1(t, d, 1<<20, 7)
	b = buffer(t, d, 256)
	require.NoError(t, d.BindBufferMemory(b, m, 0))
	img = image(t, d, 8, 8, vk.TilingOptimal, vk.ImageUsageSampled)
	require.ErrorIs(t, d.BindImageMemory(img, m, 4096), simdev.ErrViolation)
	oneViolation(t, d, "bufferImageGranularity", "65536-byte page")
	require.NoError(t, d.BindImageMemory(img, m, 65536))

	// A linear image conflicts as a buffer does.
	li = image(t, d, 8, 8, vk.TilingLinear, vk.ImageUsageSampled)
	require.NoError(t, d.BindImageMemory(li, m, 131072))
	oi = image(t, d, 8, 8, vk.TilingOptimal, vk.ImageUsageSampled)
	require.ErrorIs(t, d.BindImageMemory(oi, m, 131072+4096), simdev.ErrViolation)
	assert.Contains(t, d.Violations()[1], fmt.Sprintf("linear image %d", li))
	assert.Len(t, d.Violations(), 2)
}

func TestMisalignedOffset(t *testing.T) {
	d := load(t, "1080 Ti")
	m := alloc1(t, d, 4096, 9)
	b := buffer(t, d, 100)
	require.ErrorIs(t, d.BindBufferMemory(b, m, 128), simdev.ErrViolation)
	oneViolation(t, d, "VUID-vkBindBufferMemory-memoryOffset-01036", "alignment 256")

	img := image(t, d, 256, 256, vk.TilingOptimal, vk.ImageUsageSampled) // 256 KiB: 64 KiB alignment
	require.Equal(t, uint64(65536), d.ImageRequirements(img).Alignment)
	big := alloc1(t, d, 1<<20, 7)
	require.ErrorIs(t, d.BindImageMemory(img, big, 4096), simdev.ErrViolation)
	assert.Contains(t, d.Violations()[1], "VUID-vkBindImageMemory-memoryOffset-01048")
}

func TestBindRules(t *testing.T) {
	d := load(t, "1080 Ti")
	flagless := alloc1(t, d, 4096, 0)
	host := alloc1(t, d, 4096, 9)
	b := buffer(t, d, 256)

	require.ErrorIs(t, d.BindBufferMemory(b, flagless, 0), simdev.ErrViolation)
	assert.Contains(t, d.Violations()[0], "VUID-vkBindBufferMemory-memory-01035")

	require.ErrorIs(t, d.BindBufferMemory(b, host, 4096), simdev.ErrViolation)
	assert.Contains(t, d.Violations()[1], "VUID-vkBindBufferMemory-memoryOffset-01031")

	big := buffer(t, d, 4096)
	require.ErrorIs(t, d.BindBufferMemory(big, host, 256), simdev.ErrViolation)
	assert.Contains(t, d.Violations()[2], "VUID-vkBindBufferMemory-size-01037")

	require.NoError(t, d.BindBufferMemory(b, host, 0))
	require.ErrorIs(t, d.BindBufferMemory(b, host, 256), simdev.ErrViolation)
	assert.Contains(t, d.Violations()[3], "VUID-vkBindBufferMemory-buffer-07459")

	require.ErrorIs(t, d.BindBufferMemory(vk.Buffer(12345), host, 0), simdev.ErrViolation)
	assert.Contains(t, d.Violations()[4], "unknown buffer 12345")

	img := image(t, d, 8, 8, vk.TilingOptimal, vk.ImageUsageSampled)
	require.ErrorIs(t, d.BindImageMemory(img, host, 0), simdev.ErrViolation) // host memory is not device-local
	assert.Contains(t, d.Violations()[5], "VUID-vkBindImageMemory-memory-01047")

	d.FreeMemory(flagless)
	require.ErrorIs(t, d.BindImageMemory(img, flagless, 0), simdev.ErrViolation)
	assert.Contains(t, d.Violations()[6], "already freed")
	assert.Len(t, d.Violations(), 7)
}

func TestDedicated(t *testing.T) {
	d := load(t, "1080 Ti")
	d.RequireDedicatedFor(func(info vk.ImageInfo) bool { return info.Width >= 1024 })
	img := image(t, d, 1024, 1024, vk.TilingOptimal, vk.ImageUsageColorAttachment)
	req := d.ImageRequirements(img)
	assert.True(t, req.RequiresDedicated)
	assert.True(t, req.PrefersDedicated)
	small := image(t, d, 8, 8, vk.TilingOptimal, vk.ImageUsageColorAttachment)
	assert.False(t, d.ImageRequirements(small).PrefersDedicated)

	shared := alloc1(t, d, 8<<20, 7)
	require.ErrorIs(t, d.BindImageMemory(img, shared, 0), simdev.ErrViolation)
	assert.Contains(t, d.Violations()[0], "VUID-vkBindImageMemory-image-01445")

	_, err := d.AllocateMemory(vk.MemoryAllocateInfo{Size: req.Size + 1, TypeIndex: 7, DedicatedImage: img})
	require.ErrorIs(t, err, simdev.ErrViolation)
	assert.Contains(t, d.Violations()[1], "VUID-VkMemoryDedicatedAllocateInfo-image-02964")

	ded, err := d.AllocateMemory(vk.MemoryAllocateInfo{Size: req.Size, TypeIndex: 7, DedicatedImage: img})
	require.NoError(t, err)
	info, ok := d.Memory(ded)
	require.True(t, ok)
	assert.Equal(t, img, info.DedicatedImage)
	require.ErrorIs(t, d.BindImageMemory(small, ded, 0), simdev.ErrViolation)
	assert.Contains(t, d.Violations()[2], "VUID-vkBindImageMemory-memory-01509")
	require.NoError(t, d.BindImageMemory(img, ded, 0))
	assert.Len(t, d.Violations(), 3)
}

func TestFreeWithBoundResource(t *testing.T) {
	d := load(t, "Intel")
	m := alloc1(t, d, 4096, 0)
	b := buffer(t, d, 256)
	require.NoError(t, d.BindBufferMemory(b, m, 0))
	d.FreeMemory(m)
	oneViolation(t, d, fmt.Sprintf("freed memory %d while buffer %d is still bound", m, b))
	assert.Equal(t, []string{fmt.Sprintf("buffer %d: 256 bytes, bound to freed memory %d", b, m)}, d.Leaks())
	d.DestroyBuffer(b)
	assert.Empty(t, d.Leaks())
	assert.Len(t, d.Violations(), 1)
}

func TestDoubleFree(t *testing.T) {
	d := load(t, "Mali")
	m := alloc1(t, d, 4096, 0)
	d.FreeMemory(m)
	assert.Empty(t, d.Violations())
	d.FreeMemory(m)
	oneViolation(t, d, "VUID-vkFreeMemory-memory-parameter", fmt.Sprintf("memory %d, already freed", m))
	d.FreeMemory(vk.DeviceMemory(99999))
	assert.Contains(t, d.Violations()[1], "unknown memory 99999")

	b := buffer(t, d, 16)
	d.DestroyBuffer(b)
	d.DestroyBuffer(b)
	assert.Contains(t, d.Violations()[2], "VUID-vkDestroyBuffer-buffer-parameter")
	img := image(t, d, 4, 4, vk.TilingOptimal, vk.ImageUsageSampled)
	d.DestroyImage(img)
	d.DestroyImage(img)
	assert.Contains(t, d.Violations()[3], "VUID-vkDestroyImage-image-parameter")
	assert.Len(t, d.Violations(), 4)
}

func TestMapRules(t *testing.T) {
	d := load(t, "RX 480")
	m := alloc1(t, d, 4096, 1) // HOST_VISIBLE|HOST_COHERENT
	_, err := d.MapMemory(m, 0, 4096)
	require.NoError(t, err)
	_, err = d.MapMemory(m, 0, 4096)
	require.ErrorIs(t, err, simdev.ErrViolation)
	oneViolation(t, d, "VUID-vkMapMemory-memory-00678", "already mapped")
	d.UnmapMemory(m)
	d.UnmapMemory(m)
	assert.Contains(t, d.Violations()[1], "VUID-vkUnmapMemory-memory-00689")

	local := alloc1(t, d, 4096, 0)
	_, err = d.MapMemory(local, 0, 16)
	require.ErrorIs(t, err, simdev.ErrViolation)
	assert.Contains(t, d.Violations()[2], "VUID-vkMapMemory-memory-00682")

	_, err = d.MapMemory(m, 4096, 1)
	require.ErrorIs(t, err, simdev.ErrViolation)
	assert.Contains(t, d.Violations()[3], "VUID-vkMapMemory-offset-00679")
	_, err = d.MapMemory(m, 4000, 100)
	require.ErrorIs(t, err, simdev.ErrViolation)
	assert.Contains(t, d.Violations()[4], "VUID-vkMapMemory-size-00681")
	_, err = d.MapMemory(m, 0, 0)
	require.ErrorIs(t, err, simdev.ErrViolation)
	assert.Contains(t, d.Violations()[5], "VUID-vkMapMemory-size-00680")

	// The view cannot grow into the rest of the memory.
	data, err := d.MapMemory(m, 0, 16)
	require.NoError(t, err)
	assert.Equal(t, 16, cap(data))
	// Freeing mapped memory unmaps it.
	d.FreeMemory(m)
	d.FreeMemory(local)
	assert.Len(t, d.Violations(), 6)
	assert.Empty(t, d.Leaks())
}

func TestFlushRules(t *testing.T) {
	d := load(t, "Tegra")
	atom := d.Physical().Limits.NonCoherentAtomSize
	require.Equal(t, uint64(64), atom)
	nc := typeWith(t, d, vk.MemoryHostVisible|vk.MemoryHostCached, vk.MemoryHostCoherent)
	m := alloc1(t, d, 1000, nc)

	require.ErrorIs(t, d.FlushMemory(m, 0, atom), simdev.ErrViolation)
	oneViolation(t, d, "VUID-VkMappedMemoryRange-memory-00684")

	_, err := d.MapMemory(m, 0, ^uint64(0))
	require.NoError(t, err)
	require.ErrorIs(t, d.FlushMemory(m, 32, atom), simdev.ErrViolation)
	assert.Contains(t, d.Violations()[1], "VUID-VkMappedMemoryRange-offset-00687")
	require.ErrorIs(t, d.InvalidateMemory(m, 0, 100), simdev.ErrViolation)
	assert.Contains(t, d.Violations()[2], "VUID-VkMappedMemoryRange-size-01390")
	require.ErrorIs(t, d.FlushMemory(m, 960, 64), simdev.ErrViolation)
	assert.Contains(t, d.Violations()[3], "VUID-VkMappedMemoryRange-size-00685")

	// Valid: a size reaching the end of the memory need not be a multiple,
	// and VK_WHOLE_SIZE when the mapping ends at the end of the memory.
	require.NoError(t, d.FlushMemory(m, 960, 40))
	require.NoError(t, d.InvalidateMemory(m, 64, ^uint64(0)))
	d.UnmapMemory(m)

	// VK_WHOLE_SIZE with a mapping that ends neither on an atom nor at the end.
	_, err = d.MapMemory(m, 0, 100)
	require.NoError(t, err)
	require.ErrorIs(t, d.FlushMemory(m, 0, ^uint64(0)), simdev.ErrViolation)
	assert.Contains(t, d.Violations()[4], "VUID-VkMappedMemoryRange-size-01389")
	require.ErrorIs(t, d.FlushMemory(m, 128, ^uint64(0)), simdev.ErrViolation)
	assert.Contains(t, d.Violations()[5], "VUID-VkMappedMemoryRange-size-00686")
	d.UnmapMemory(m)
	assert.Len(t, d.Violations(), 6)
	assert.Len(t, d.Flushes(), 6)
	assert.Len(t, d.Invalidates(), 2)

	// Flushing coherent memory is allowed and recorded.
	c := alloc1(t, d, 4096, typeWith(t, d, vk.MemoryHostVisible|vk.MemoryHostCoherent, 0))
	_, err = d.MapMemory(c, 0, ^uint64(0))
	require.NoError(t, err)
	require.NoError(t, d.FlushMemory(c, 0, ^uint64(0)))
	assert.Equal(t, simdev.Range{Memory: c, Offset: 0, Size: ^uint64(0)}, d.Flushes()[6])
	assert.Len(t, d.Violations(), 6)
}

func TestHeapExhaustion(t *testing.T) {
	d := load(t, "RX 480")
	p := d.Physical()
	require.Equal(t, uint32(2), p.Memory.Types[2].HeapIndex)
	require.Equal(t, uint64(256<<20), p.Memory.Heaps[2].Size)
	a := alloc1(t, d, 200<<20, 2)
	_, err := d.AllocateMemory(vk.MemoryAllocateInfo{Size: 100 << 20, TypeIndex: 2})
	require.Error(t, err)
	assert.ErrorIs(t, err, vk.ErrOutOfDeviceMemory)
	var ve *vk.Error
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, "vkAllocateMemory", ve.Op)
	assert.Equal(t, uint64(200<<20), d.AllocatedBytes(2))
	// The other heaps are untouched.
	alloc1(t, d, 1<<30, 0)
	d.FreeMemory(a)
	alloc1(t, d, 256<<20, 2) // the whole heap
	assert.Equal(t, uint64(256<<20), d.PeakAllocatedBytes(2))
	assert.Empty(t, d.Violations())
	assert.Zero(t, d.InjectedFailures())
}

func TestTooManyObjects(t *testing.T) {
	d := load(t, "1080 Ti")
	n := int(d.Physical().Limits.MaxMemoryAllocationCount)
	require.Equal(t, 4096, n)
	var last vk.DeviceMemory
	for range n {
		last = alloc1(t, d, 256, 7)
	}
	_, err := d.AllocateMemory(vk.MemoryAllocateInfo{Size: 256, TypeIndex: 7})
	require.ErrorIs(t, err, vk.ErrTooManyObjects)
	oneViolation(t, d, "VUID-vkAllocateMemory-maxMemoryAllocationCount-04101")
	d.FreeMemory(last)
	alloc1(t, d, 256, 7)
	assert.Equal(t, n, d.LiveAllocations())
	assert.Equal(t, n+2, d.AllocateCalls())
}

func TestAllocateValidation(t *testing.T) {
	d := load(t, "Adreno")
	_, err := d.AllocateMemory(vk.MemoryAllocateInfo{Size: 256, TypeIndex: 5})
	require.ErrorIs(t, err, simdev.ErrViolation)
	assert.ErrorContains(t, err, "memory type index 5")
	_, err = d.AllocateMemory(vk.MemoryAllocateInfo{Size: 0, TypeIndex: 0})
	require.ErrorIs(t, err, simdev.ErrViolation)
	_, err = d.CreateBuffer(0, vk.BufferUsageVertex)
	require.ErrorIs(t, err, simdev.ErrViolation)
	_, err = d.CreateImage(vk.ImageInfo{Width: 0, Height: 4})
	require.ErrorIs(t, err, simdev.ErrViolation)
	assert.Len(t, d.Violations(), 4)
	assert.Zero(t, d.LiveAllocations())
}

func TestFaultInjection(t *testing.T) {
	d := load(t, "PowerVR")
	d.FailNext(2, vk.ErrorOutOfHostMemory)
	for range 2 {
		_, err := d.AllocateMemory(vk.MemoryAllocateInfo{Size: 256, TypeIndex: 0})
		require.ErrorIs(t, err, vk.ErrOutOfHostMemory)
	}
	alloc1(t, d, 256, 0)
	assert.Equal(t, 2, d.InjectedFailures())
	assert.Equal(t, 3, d.AllocateCalls())
	assert.Equal(t, 1, d.LiveAllocations())

	d.FailLargerThan(1 << 20)
	_, err := d.AllocateMemory(vk.MemoryAllocateInfo{Size: 1<<20 + 1, TypeIndex: 0})
	require.ErrorIs(t, err, vk.ErrOutOfDeviceMemory)
	alloc1(t, d, 1<<20, 0)
	d.FailLargerThan(0)
	alloc1(t, d, 2<<20, 0)
	assert.Equal(t, 3, d.InjectedFailures())

	boom := errors.New("boom")
	var seen []uint64
	d.SetAllocateHook(func(info vk.MemoryAllocateInfo) error {
		seen = append(seen, info.Size)
		if info.Size == 512 {
			return boom
		}
		d.LiveAllocations() // the hook may call the device
		return nil
	})
	_, err = d.AllocateMemory(vk.MemoryAllocateInfo{Size: 512, TypeIndex: 0})
	require.ErrorIs(t, err, boom)
	alloc1(t, d, 1024, 0)
	d.SetAllocateHook(nil)
	alloc1(t, d, 512, 0)
	assert.Equal(t, []uint64{512, 1024}, seen)
	assert.Equal(t, 4, d.InjectedFailures())
	assert.Empty(t, d.Violations())
}

func TestMemoryBudget(t *testing.T) {
	d := load(t, "RADV")
	heaps := d.Physical().Memory.Heaps
	for i, b := range d.MemoryBudget() {
		assert.Equal(t, vk.HeapBudget{Budget: heaps[i].Size / 10 * 8}, b)
	}
	alloc1(t, d, 1<<20, 1)
	assert.Zero(t, d.MemoryBudget()[1].Usage)

	d, err := simdev.LoadWith("RADV", simdev.Options{Budget: true})
	require.NoError(t, err)
	assert.True(t, d.Physical().HasExtension("VK_EXT_memory_budget"))
	m := alloc1(t, d, 1<<20, 2) // type 2 is in heap 1, the 222 MiB BAR heap
	b := d.MemoryBudget()
	require.Len(t, b, 3)
	for i := range b {
		assert.True(t, b[i].FromExtension)
		assert.InDelta(t, float64(heaps[i].Size)*0.9, float64(b[i].Budget), 1)
	}
	assert.Equal(t, uint64(1<<20), b[1].Usage)
	assert.Zero(t, b[0].Usage)
	d.FreeMemory(m)
	assert.Zero(t, d.MemoryBudget()[1].Usage)

	d, err = simdev.LoadWith("RADV", simdev.Options{Budget: true, BudgetFraction: 0.5})
	require.NoError(t, err)
	assert.Equal(t, heaps[2].Size/2, d.MemoryBudget()[2].Budget)
	_, err = simdev.LoadWith("RADV", simdev.Options{BudgetFraction: 1.5})
	require.Error(t, err)
}

func TestRequirements(t *testing.T) {
	d := load(t, "Mali")
	b := buffer(t, d, 100)
	assert.Equal(t, vk.MemoryRequirements{Size: 256, Alignment: 256, TypeBits: 0b011}, d.BufferRequirements(b))

	img := image(t, d, 64, 64, vk.TilingOptimal, vk.ImageUsageSampled) // 16 KiB
	assert.Equal(t, vk.MemoryRequirements{Size: 16384, Alignment: 4096, TypeBits: 0b011}, d.ImageRequirements(img))
	tr := image(t, d, 64, 64, vk.TilingOptimal, vk.ImageUsageColorAttachment|vk.ImageUsageTransientAttachment)
	assert.Equal(t, uint32(0b111), d.ImageRequirements(tr).TypeBits, "LAZILY_ALLOCATED for transient attachments")
	mips, err := d.CreateImage(vk.ImageInfo{Width: 128, Height: 128, MipLevels: 8, ArrayLayers: 2})
	require.NoError(t, err)
	r := d.ImageRequirements(mips)
	assert.Equal(t, uint64(65536), r.Alignment)
	assert.Equal(t, uint64(174848), r.Size) // 128×128×4×2 = 131072, plus a third = 174762, rounded up to 256
	att := image(t, d, 1024, 1024, vk.TilingOptimal, vk.ImageUsageDepthStencilAttachment)
	assert.True(t, d.ImageRequirements(att).PrefersDedicated)
	assert.False(t, d.ImageRequirements(att).RequiresDedicated)
	tex := image(t, d, 1024, 1024, vk.TilingOptimal, vk.ImageUsageSampled)
	assert.False(t, d.ImageRequirements(tex).PrefersDedicated)

	// NVIDIA's flag-less types are for neither buffers nor images here.
	n := load(t, "1080 Ti")
	assert.Equal(t, uint32(0b111_1000_0000), n.BufferRequirements(buffer(t, n, 1)).TypeBits)
	assert.Equal(t, uint32(0b001_1000_0000), n.ImageRequirements(image(t, n, 4, 4, vk.TilingOptimal, vk.ImageUsageSampled)).TypeBits)
	assert.Equal(t, uint32(0b111_1000_0000), n.ImageRequirements(image(t, n, 4, 4, vk.TilingLinear, vk.ImageUsageSampled)).TypeBits)

	assert.Zero(t, d.BufferRequirements(vk.Buffer(1)))
	assert.Len(t, d.Violations(), 1)
}

// TestConcurrent runs sub-allocations from many goroutines; run with -race.
func TestConcurrent(t *testing.T) {
	d := load(t, "RX 480")
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				m, err := d.AllocateMemory(vk.MemoryAllocateInfo{Size: 4096, TypeIndex: 3})
				if !assert.NoError(t, err) {
					return
				}
				b, _ := d.CreateBuffer(uint64(g*50+i+1), vk.BufferUsageStorage)
				assert.NoError(t, d.BindBufferMemory(b, m, 0))
				data, err := d.MapMemory(m, 0, ^uint64(0))
				if assert.NoError(t, err) {
					data[0] = byte(i)
				}
				d.UnmapMemory(m)
				d.DestroyBuffer(b)
				d.FreeMemory(m)
				_ = d.MemoryBudget()
				_ = d.Leaks()
			}
		})
	}
	wg.Wait()
	assert.Empty(t, d.Violations())
	assert.Empty(t, d.Leaks())
	assert.Equal(t, 400, d.AllocateCalls())
	assert.LessOrEqual(t, d.PeakAllocatedBytes(1), uint64(8*4096))
}

func TestLeaks(t *testing.T) {
	d := load(t, "llvmpipe")
	m, _ := d.AllocateMemory(vk.MemoryAllocateInfo{Size: 4096, TypeIndex: 0})
	b := buffer(t, d, 10)
	require.NoError(t, d.BindBufferMemory(b, m, 0))
	img := image(t, d, 4, 4, vk.TilingOptimal, vk.ImageUsageSampled)
	leaks := d.Leaks()
	require.Len(t, leaks, 3)
	assert.Equal(t, fmt.Sprintf("memory %d: 4096 bytes of type 0 (heap 0)", m), leaks[0])
	assert.Equal(t, fmt.Sprintf("buffer %d: 256 bytes, bound to memory %d at offset 0", b, m), leaks[1])
	assert.True(t, strings.HasPrefix(leaks[2], fmt.Sprintf("image %d: 256 bytes, unbound", img)), leaks[2])
	assert.Equal(t, []simdev.MemoryInfo{{Memory: m, Size: 4096, Bound: 1}}, d.Memories())
}
