package alloc_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkassets/vkassets/alloc"
	"github.com/vkassets/vkassets/vk"
	"github.com/vkassets/vkassets/vk/vktest"
)

// gpuCopy copies n bytes from src to dst on the GPU and waits for it,
// with the barrier that makes the copy visible to the host.
func gpuCopy(t *testing.T, d *vk.Device, src, dst vk.Buffer, srcOff, dstOff, n uint64) {
	t.Helper()
	vktest.Submit(t, d, func(cmd vk.CommandBuffer) {
		d.CmdCopyBuffer(cmd, src, dst, srcOff, dstOff, n)
		d.CmdBarrier(cmd, vk.Barrier{SrcStage: vk.StageTransfer, DstStage: vk.StageHost, SrcAccess: vk.AccessTransferWrite, DstAccess: vk.AccessHostRead})
	})
}

func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i)*7 + seed
	}
	return b
}

// TestLavapipeCorruptionDetection: on the real device with validation,
// the margins of persistently mapped buffers are intact after the GPU has
// written every byte of them; a byte planted past a buffer's end is found
// by CheckCorruption and by DestroyBuffer, which destroys it all the same.
func TestLavapipeCorruptionDetection(t *testing.T) {
	d := vktest.Open(t)
	a, err := alloc.New(alloc.Options{Device: d, Logger: vktest.Logger(t), DetectCorruption: true, DebugMargin: 64})
	require.NoError(t, err)
	usage := vk.BufferUsageTransferSrc | vk.BufferUsageTransferDst
	o := alloc.AllocationOptions{Usage: alloc.UsageUpload, Mapped: true}
	o.Name = "src"
	src, srcAl, err := a.CreateBuffer(1000, usage, o)
	require.NoError(t, err)
	o.Name = "dst"
	dst, dstAl, err := a.CreateBuffer(1000, usage, o)
	require.NoError(t, err)
	o.Name = "victim"
	victim, victimAl, err := a.CreateBuffer(300, usage, o)
	require.NoError(t, err)
	require.Equal(t, srcAl.Memory, victimAl.Memory, "one block")
	all := uint32(1)<<len(d.Physical().Memory.Types) - 1

	want := pattern(1000, 3)
	copy(srcAl.Mapped, want)
	gpuCopy(t, d, src, dst, 0, 0, 1000)
	require.Equal(t, want, dstAl.Mapped)
	require.NoError(t, a.CheckCorruption(all), "the GPU wrote inside the buffer only")
	dumpOf(t, a)

	beyond(victimAl.Mapped, 1)[0]++
	err = a.CheckCorruption(all)
	require.ErrorIs(t, err, alloc.ErrCorruption)
	require.Contains(t, err.Error(), `"victim"`)
	require.Equal(t, 1, corruptions(err))
	err = a.DestroyBuffer(victim, victimAl)
	require.ErrorIs(t, err, alloc.ErrCorruption)
	require.ErrorIs(t, a.DestroyBuffer(victim, victimAl), alloc.ErrInvalidFree, "destroyed and freed")
	require.NoError(t, a.CheckCorruption(all))
	require.NoError(t, a.DestroyBuffer(src, srcAl))
	require.NoError(t, a.DestroyBuffer(dst, dstAl))
	require.NoError(t, a.Close())
	require.Zero(t, a.DeviceAllocations())
}

// TestLavapipeBufferDeviceAddress: with bufferDeviceAddress enabled on
// the device and Options.BufferDeviceAddress, buffers with
// SHADER_DEVICE_ADDRESS usage (sub-allocated, dedicated, aliasing a raw
// allocation) bind without a validation error (the layer checks
// VUID-vkBindBufferMemory-bufferDeviceAddress-03339: the memory has
// VK_MEMORY_ALLOCATE_DEVICE_ADDRESS_BIT), have a non-zero address that
// stays the same while the buffer is written by the host and the GPU, and
// distinct addresses. Without the option such buffers are refused; the
// option on a device without the feature is refused by New.
func TestLavapipeBufferDeviceAddress(t *testing.T) {
	plain := vktest.Open(t)
	_, err := alloc.New(alloc.Options{Device: plain, BufferDeviceAddress: true})
	require.ErrorIs(t, err, vk.ErrFeatureNotPresent)
	pa, err := alloc.New(alloc.Options{Device: plain})
	require.NoError(t, err)
	_, _, err = pa.CreateBuffer(256, vk.BufferUsageShaderDeviceAddress, alloc.AllocationOptions{})
	require.ErrorIs(t, err, alloc.ErrDeviceAddressOff)
	_, err = pa.BufferDeviceAddress(1)
	require.ErrorIs(t, err, alloc.ErrDeviceAddressOff)
	require.NoError(t, pa.Close())

	d := vktest.OpenWith(t, vktest.Options{Features: vk.Features{BufferDeviceAddress: true}})
	require.True(t, d.Features().BufferDeviceAddress)
	a, err := alloc.New(alloc.Options{Device: d, Logger: vktest.Logger(t), BufferDeviceAddress: true})
	require.NoError(t, err)
	usage := vk.BufferUsageShaderDeviceAddress | vk.BufferUsageTransferSrc | vk.BufferUsageTransferDst | vk.BufferUsageStorage
	src, srcAl, err := a.CreateBuffer(4096, usage, alloc.AllocationOptions{Usage: alloc.UsageUpload, Mapped: true, Name: "src"})
	require.NoError(t, err)
	dst, dstAl, err := a.CreateBuffer(4096, usage, alloc.AllocationOptions{Usage: alloc.UsageReadback, Mapped: true, Name: "dst", Dedicated: true})
	require.NoError(t, err)
	require.True(t, dstAl.Dedicated())
	raw, err := a.Allocate(vk.MemoryRequirements{Size: 1 << 16, Alignment: 256, TypeBits: ^uint32(0)}, alloc.AllocationOptions{Name: "raw"})
	require.NoError(t, err)
	alias, err := a.CreateAliasingBuffer(raw, 4096, 4096, usage)
	require.NoError(t, err)

	addr := map[string]uint64{}
	for name, b := range map[string]vk.Buffer{"src": src, "dst": dst, "alias": alias} {
		v, err := a.BufferDeviceAddress(b)
		require.NoError(t, err)
		require.NotZero(t, v, name)
		addr[name] = v
	}
	require.Len(t, map[uint64]bool{addr["src"]: true, addr["dst"]: true, addr["alias"]: true}, 3, "distinct addresses")

	want := pattern(4096, 11)
	copy(srcAl.Mapped, want)
	gpuCopy(t, d, src, alias, 0, 0, 4096)
	gpuCopy(t, d, alias, dst, 0, 0, 4096)
	require.True(t, bytes.Equal(want, dstAl.Mapped), "written through the buffers")
	for name, b := range map[string]vk.Buffer{"src": src, "dst": dst, "alias": alias} {
		v, err := a.BufferDeviceAddress(b)
		require.NoError(t, err)
		require.Equal(t, addr[name], v, "%s: stable", name)
	}

	d.DestroyBuffer(alias)
	require.NoError(t, a.Free(raw))
	require.NoError(t, a.DestroyBuffer(src, srcAl))
	require.NoError(t, a.DestroyBuffer(dst, dstAl))
	require.NoError(t, a.Close())
	_, err = a.BufferDeviceAddress(src)
	require.ErrorIs(t, err, alloc.ErrClosed)
}

// TestLavapipeAliasing: two buffers and an image bound over one raw
// allocation with validation on, the image at an aligned offset; what
// one buffer's copy writes the other reads (they share the memory); a
// buffer over a buffer's own sub-allocation; refusals for a resource that
// runs past the end, a misaligned offset, and a freed allocation, each
// leaving nothing behind (the device's Close finds no leaked object).
func TestLavapipeAliasing(t *testing.T) {
	d := vktest.Open(t)
	a, err := alloc.New(alloc.Options{Device: d, Logger: vktest.Logger(t)})
	require.NoError(t, err)
	usage := vk.BufferUsageTransferSrc | vk.BufferUsageTransferDst
	raw, err := a.Allocate(vk.MemoryRequirements{Size: 1 << 20, Alignment: 4096, TypeBits: ^uint32(0)},
		alloc.AllocationOptions{Name: "arena", Mapped: true})
	require.NoError(t, err)
	b1, err := a.CreateAliasingBuffer(raw, 0, 8192, usage)
	require.NoError(t, err)
	b2, err := a.CreateAliasingBuffer(raw, 4096, 4096, usage)
	require.NoError(t, err)
	img, err := a.CreateAliasingImage(raw, 1<<16, vk.ImageInfo{Format: vk.FormatR8G8B8A8Unorm, Width: 64, Height: 64,
		Usage: vk.ImageUsageSampled | vk.ImageUsageTransferDst})
	require.NoError(t, err)

	// b2 is b1's second page: a copy into b1's first page from b2 reads
	// what was written at raw[4096:].
	want := pattern(4096, 5)
	copy(raw.Mapped[4096:], want)
	gpuCopy(t, d, b2, b1, 0, 0, 4096)
	require.Equal(t, want, raw.Mapped[:4096])

	// Refusals.
	_, err = a.CreateAliasingBuffer(raw, 1<<20-256, 4096, usage)
	require.ErrorIs(t, err, alloc.ErrAliasMismatch)
	require.ErrorContains(t, err, `"arena"`)
	require.ErrorContains(t, err, "past its")
	_, err = a.CreateAliasingImage(raw, 1000, vk.ImageInfo{Format: vk.FormatR8G8B8A8Unorm, Width: 64, Height: 64, Usage: vk.ImageUsageSampled})
	require.ErrorIs(t, err, alloc.ErrAliasMismatch)
	require.ErrorContains(t, err, "alignment")
	_, err = a.CreateAliasingBuffer(raw, 0, 0, usage)
	require.ErrorIs(t, err, alloc.ErrZeroSize)

	// Over a buffer's own allocation.
	own, ownAl, err := a.CreateBuffer(8192, usage, alloc.AllocationOptions{Name: "own"})
	require.NoError(t, err)
	over, err := a.CreateAliasingBuffer(ownAl, 0, 4096, usage)
	require.NoError(t, err)
	d.DestroyBuffer(over)
	require.NoError(t, a.DestroyBuffer(own, ownAl))
	_, err = a.CreateAliasingBuffer(ownAl, 0, 4096, usage)
	require.ErrorIs(t, err, alloc.ErrInvalidFree, "a freed allocation")

	d.DestroyImage(img)
	d.DestroyBuffer(b1)
	d.DestroyBuffer(b2)
	require.NoError(t, a.Free(raw))
	require.NoError(t, a.Close())
	_, err = a.CreateAliasingBuffer(raw, 0, 256, usage)
	require.ErrorIs(t, err, alloc.ErrClosed)
}

// TestLavapipeMemoryPriorityAbsent: lavapipe has neither
// VK_EXT_memory_priority nor VK_EXT_pageable_device_local_memory (the
// simulated devices test the chains): asking the device for them fails
// with ErrExtensionNotPresent, and an allocator asked for priorities on a
// device without them is refused. On a device that has them, they are
// enabled and reported.
func TestLavapipeMemoryPriorityAbsent(t *testing.T) {
	d := vktest.Open(t)
	_, err := alloc.New(alloc.Options{Device: d, MemoryPriority: true})
	require.ErrorIs(t, err, vk.ErrFeatureNotPresent)
	for _, f := range []vk.Features{{MemoryPriority: true}, {PageableDeviceLocalMemory: true}} {
		dev, err := vk.Open(vk.Options{Features: f})
		if d.Physical().HasExtension("VK_EXT_memory_priority") && (!f.PageableDeviceLocalMemory ||
			d.Physical().HasExtension("VK_EXT_pageable_device_local_memory")) {
			require.NoError(t, err)
			require.True(t, dev.Features().MemoryPriority)
			dev.Close()
			continue
		}
		require.True(t, errors.Is(err, vk.ErrExtensionNotPresent), "%+v: %v", f, err)
	}
}
