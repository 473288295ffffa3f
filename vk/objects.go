package vk

/*
#include "shim.h"

*/
import "C"

import (
	"fmt"
	"time"
	"unsafe"
)

// Non-dispatchable handles are 64-bit values; dispatchable ones are pointers
// owned by the driver, kept as integers so that Go never holds C memory as
// Go pointers.
type (
	Buffer        uint64
	Image         uint64
	ImageView     uint64
	Sampler       uint64
	DeviceMemory  uint64
	Fence         uint64
	Semaphore     uint64
	CommandPool   uint64
	CommandBuffer uintptr
)

// BufferUsage is VkBufferUsageFlags.
type BufferUsage uint32

// Buffer usages.
const (
	BufferUsageTransferSrc BufferUsage = 0x1
	BufferUsageTransferDst BufferUsage = 0x2
	BufferUsageUniform     BufferUsage = 0x10
	BufferUsageStorage     BufferUsage = 0x20
	BufferUsageIndex       BufferUsage = 0x40
	BufferUsageVertex      BufferUsage = 0x80
	BufferUsageIndirect    BufferUsage = 0x100
	// BufferUsageShaderDeviceAddress lets BufferDeviceAddress be asked; the
	// memory must have been allocated with MemoryAllocateInfo.DeviceAddress.
	BufferUsageShaderDeviceAddress BufferUsage = 0x20000
)

// CreateBuffer creates an unbound VkBuffer (exclusive sharing).
func (d *Device) CreateBuffer(size uint64, usage BufferUsage) (Buffer, error) {
	return d.CreateSharedBuffer(size, usage, nil)
}

// CreateSharedBuffer creates an unbound VkBuffer shared by the queue
// families given (VK_SHARING_MODE_CONCURRENT) when they are two or more
// distinct ones; exclusive otherwise. See ImageInfo.QueueFamilies.
func (d *Device) CreateSharedBuffer(size uint64, usage BufferUsage, families []uint32) (Buffer, error) {
	fam, err := d.families(families)
	if err != nil {
		return 0, fmt.Errorf("vkCreateBuffer: %w", err)
	}
	if !d.gate.enter() {
		return 0, ErrClosed
	}
	defer d.gate.exit()
	if err := d.fault("vkCreateBuffer"); err != nil {
		return 0, err
	}
	r := C.vka_create_buffer(d.table, C.uint64_t(size), C.uint32_t(usage), 0, fam)
	return Buffer(r.value), check("vkCreateBuffer", int32(r.result))
}

// DestroyBuffer destroys a buffer; 0 is ignored.
func (d *Device) DestroyBuffer(b Buffer) {
	if !d.gate.enter() {
		return
	}
	defer d.gate.exit()
	if b != 0 {
		C.vka_destroy_buffer(d.table, C.uint64_t(b))
	}
}

// Format is VkFormat.
type Format uint32

// Formats used by vkassets.
const (
	FormatR8G8B8A8Unorm Format = 37
	FormatR8G8B8A8Srgb  Format = 43
	FormatB8G8R8A8Unorm Format = 44
	FormatB8G8R8A8Srgb  Format = 50
	FormatD32Sfloat     Format = 126

	// Vertex attribute formats.
	FormatR16G16B16A16Uint   Format = 95
	FormatR32G32Sfloat       Format = 103
	FormatR32G32B32Sfloat    Format = 106
	FormatR32G32B32A32Sfloat Format = 109
)

// PrimitiveTopology is VkPrimitiveTopology: how a draw assembles vertices.
type PrimitiveTopology uint32

// The topologies a glTF primitive's mode maps to (LINE_LOOP has none: a
// loader closes it into a strip).
const (
	TopologyPointList     PrimitiveTopology = 0
	TopologyLineList      PrimitiveTopology = 1
	TopologyLineStrip     PrimitiveTopology = 2
	TopologyTriangleList  PrimitiveTopology = 3
	TopologyTriangleStrip PrimitiveTopology = 4
	TopologyTriangleFan   PrimitiveTopology = 5
)

// VertexAttribute is one VkVertexInputAttributeDescription of binding 0.
type VertexAttribute struct {
	Location uint32
	Format   Format
	Offset   uint32
}

// ImageUsage is VkImageUsageFlags.
type ImageUsage uint32

// Image usages.
const (
	ImageUsageTransferSrc            ImageUsage = 0x1
	ImageUsageTransferDst            ImageUsage = 0x2
	ImageUsageSampled                ImageUsage = 0x4
	ImageUsageStorage                ImageUsage = 0x8
	ImageUsageColorAttachment        ImageUsage = 0x10
	ImageUsageDepthStencilAttachment ImageUsage = 0x20
	ImageUsageTransientAttachment    ImageUsage = 0x40
)

// ImageTiling is VkImageTiling.
type ImageTiling uint32

// Tilings.
const (
	TilingOptimal ImageTiling = 0
	TilingLinear  ImageTiling = 1
)

// ImageLayout is VkImageLayout.
type ImageLayout uint32

// Layouts.
const (
	LayoutUndefined              ImageLayout = 0
	LayoutGeneral                ImageLayout = 1
	LayoutColorAttachmentOptimal ImageLayout = 2
	LayoutDepthStencilAttachment ImageLayout = 3
	LayoutShaderReadOnlyOptimal  ImageLayout = 5
	LayoutTransferSrcOptimal     ImageLayout = 6
	LayoutTransferDstOptimal     ImageLayout = 7
	LayoutPresentSrc             ImageLayout = 1000001002
)

// ImageInfo describes a 2D image. Zero MipLevels, ArrayLayers and Depth mean 1.
type ImageInfo struct {
	Format        Format
	Width, Height uint32
	Depth         uint32
	MipLevels     uint32
	ArrayLayers   uint32
	Tiling        ImageTiling
	Usage         ImageUsage
	// QueueFamilies, when it names two or more distinct families, shares
	// the image between their queues (VK_SHARING_MODE_CONCURRENT: no
	// ownership transfers, e.g. uploads on a transfer queue read by the
	// graphics queue); otherwise the image is exclusive. Repeated indices
	// count once; at most MaxSharingFamilies distinct ones, each below the
	// device's family count.
	QueueFamilies []uint32
}

// MaxSharingFamilies bounds the distinct families of a shared resource.
const MaxSharingFamilies = 4

// families checks and packs a sharing list: duplicates dropped.
func (d *Device) families(fs []uint32) (C.vka_families, error) {
	var out C.vka_families
	n := uint32(len(d.phys.QueueFamilies))
outer:
	for _, f := range fs {
		if f >= n {
			return out, fmt.Errorf("queue family %d: the device has %d", f, n)
		}
		for _, g := range out.index[:out.count] {
			if uint32(g) == f {
				continue outer
			}
		}
		if out.count == MaxSharingFamilies {
			return out, fmt.Errorf("more than %d distinct queue families", MaxSharingFamilies)
		}
		out.index[out.count] = C.uint32_t(f)
		out.count++
	}
	return out, nil
}

func one(v uint32) uint32 { return max(v, 1) }

// CreateImage creates an unbound 2D VkImage in the undefined layout, one sample.
func (d *Device) CreateImage(info ImageInfo) (Image, error) {
	fam, err := d.families(info.QueueFamilies)
	if err != nil {
		return 0, fmt.Errorf("vkCreateImage: %w", err)
	}
	if !d.gate.enter() {
		return 0, ErrClosed
	}
	defer d.gate.exit()
	if err := d.fault("vkCreateImage"); err != nil {
		return 0, err
	}
	ci := C.vka_image_info{
		imageType: 1, // VK_IMAGE_TYPE_2D
		format:    C.uint32_t(info.Format),
		width:     C.uint32_t(info.Width), height: C.uint32_t(info.Height), depth: C.uint32_t(one(info.Depth)),
		mipLevels: C.uint32_t(one(info.MipLevels)), arrayLayers: C.uint32_t(one(info.ArrayLayers)),
		samples: 1, tiling: C.uint32_t(info.Tiling), usage: C.uint32_t(info.Usage),
		families: fam,
	}
	if info.Depth > 1 {
		ci.imageType = 2 // VK_IMAGE_TYPE_3D
	}
	r := C.vka_create_image(d.table, ci)
	return Image(r.value), check("vkCreateImage", int32(r.result))
}

// DestroyImage destroys an image; 0 is ignored.
func (d *Device) DestroyImage(img Image) {
	if !d.gate.enter() {
		return
	}
	defer d.gate.exit()
	if img != 0 {
		C.vka_destroy_image(d.table, C.uint64_t(img))
	}
}

// Aspect is VkImageAspectFlags.
type Aspect uint32

// Aspects.
const (
	AspectColor Aspect = 0x1
	AspectDepth Aspect = 0x2
)

// CreateImageView creates a 2D view of every mip level and layer 0.
func (d *Device) CreateImageView(img Image, format Format, aspect Aspect, mips uint32) (ImageView, error) {
	if !d.gate.enter() {
		return 0, ErrClosed
	}
	defer d.gate.exit()
	r := C.vka_create_image_view(d.table, C.uint64_t(img), 1 /* VK_IMAGE_VIEW_TYPE_2D */, C.uint32_t(format),
		C.uint32_t(aspect), 0, C.uint32_t(one(mips)), 0, 1)
	return ImageView(r.value), check("vkCreateImageView", int32(r.result))
}

// DestroyImageView destroys a view; 0 is ignored.
func (d *Device) DestroyImageView(v ImageView) {
	if !d.gate.enter() {
		return
	}
	defer d.gate.exit()
	if v != 0 {
		C.vka_destroy_image_view(d.table, C.uint64_t(v))
	}
}

// MipmapMode is VkSamplerMipmapMode.
type MipmapMode uint32

// Mipmap modes.
const (
	MipmapNearest MipmapMode = 0
	MipmapLinear  MipmapMode = 1
)

// AddressMode is VkSamplerAddressMode.
type AddressMode uint32

// Address modes.
const (
	AddressRepeat         AddressMode = 0
	AddressMirroredRepeat AddressMode = 1
	AddressClampToEdge    AddressMode = 2
)

// SamplerInfo is what a sampler does. The zero value is nearest filtering
// of the nearest mip level, repeating, over every level.
type SamplerInfo struct {
	MagFilter, MinFilter Filter
	MipmapMode           MipmapMode
	AddressU, AddressV   AddressMode // W follows V: 2D textures
	// BaseLevelOnly samples the first mip level only (maxLod 0.25, as the
	// Vulkan spec advises for GL's non-mipmapped minification filters);
	// otherwise every level (maxLod VK_LOD_CLAMP_NONE).
	BaseLevelOnly bool
}

// CreateSampler creates a sampler: linear or nearest filtering, repeat or
// clamp-to-edge addressing. It samples every mip level of the view
// (maxLod VK_LOD_CLAMP_NONE); a linear sampler also filters between levels
// (mipmap mode linear: trilinear), a nearest one picks the nearest level.
func (d *Device) CreateSampler(linear, repeat bool) (Sampler, error) {
	info := SamplerInfo{AddressU: AddressClampToEdge, AddressV: AddressClampToEdge}
	if linear {
		info.MagFilter, info.MinFilter, info.MipmapMode = FilterLinear, FilterLinear, MipmapLinear
	}
	if repeat {
		info.AddressU, info.AddressV = AddressRepeat, AddressRepeat
	}
	return d.NewSampler(info)
}

// NewSampler creates a sampler as info says.
func (d *Device) NewSampler(info SamplerInfo) (Sampler, error) {
	if !d.gate.enter() {
		return 0, ErrClosed
	}
	defer d.gate.exit()
	maxLod := C.float(-1)
	if info.BaseLevelOnly {
		maxLod = 0.25
	}
	r := C.vka_create_sampler(d.table, C.uint32_t(info.MagFilter), C.uint32_t(info.MinFilter), C.uint32_t(info.MipmapMode),
		C.uint32_t(info.AddressU), C.uint32_t(info.AddressV), C.uint32_t(info.AddressV), maxLod)
	return Sampler(r.value), check("vkCreateSampler", int32(r.result))
}

// DestroySampler destroys a sampler; 0 is ignored.
func (d *Device) DestroySampler(s Sampler) {
	if !d.gate.enter() {
		return
	}
	defer d.gate.exit()
	if s != 0 {
		C.vka_destroy_sampler(d.table, C.uint64_t(s))
	}
}

// MemoryRequirements are VkMemoryRequirements with the dedicated-allocation
// answer of VkMemoryDedicatedRequirements.
type MemoryRequirements struct {
	Size              uint64
	Alignment         uint64
	TypeBits          uint32
	PrefersDedicated  bool
	RequiresDedicated bool
}

func requirements(r *C.vka_memory_requirements) MemoryRequirements {
	return MemoryRequirements{
		Size: uint64(r.size), Alignment: uint64(r.alignment), TypeBits: uint32(r.typeBits),
		PrefersDedicated: r.prefersDedicated != 0, RequiresDedicated: r.requiresDedicated != 0,
	}
}

// BufferRequirements queries vkGetBufferMemoryRequirements2.
func (d *Device) BufferRequirements(b Buffer) MemoryRequirements {
	if !d.gate.enter() {
		return MemoryRequirements{}
	}
	defer d.gate.exit()
	r := C.vka_buffer_requirements(d.table, C.uint64_t(b))
	return requirements(&r)
}

// ImageRequirements queries vkGetImageMemoryRequirements2.
func (d *Device) ImageRequirements(img Image) MemoryRequirements {
	if !d.gate.enter() {
		return MemoryRequirements{}
	}
	defer d.gate.exit()
	r := C.vka_image_requirements(d.table, C.uint64_t(img))
	return requirements(&r)
}

// MemoryAllocateInfo describes one vkAllocateMemory. A non-zero
// DedicatedBuffer or DedicatedImage chains VkMemoryDedicatedAllocateInfo;
// DeviceAddress chains VkMemoryAllocateFlagsInfo with
// VK_MEMORY_ALLOCATE_DEVICE_ADDRESS_BIT (Features.BufferDeviceAddress must
// be enabled); WithPriority chains VkMemoryPriorityAllocateInfoEXT with
// Priority (Features.MemoryPriority must be enabled).
type MemoryAllocateInfo struct {
	Size            uint64
	TypeIndex       uint32
	DedicatedBuffer Buffer
	DedicatedImage  Image
	DeviceAddress   bool
	WithPriority    bool
	Priority        float32 // 0 (lowest) to 1 (highest)
}

// memoryAllocateDeviceAddress is VK_MEMORY_ALLOCATE_DEVICE_ADDRESS_BIT.
const memoryAllocateDeviceAddress = 0x2

// AllocateMemory calls vkAllocateMemory.
func (d *Device) AllocateMemory(info MemoryAllocateInfo) (DeviceMemory, error) {
	if !d.gate.enter() {
		return 0, ErrClosed
	}
	defer d.gate.exit()
	if err := d.fault("vkAllocateMemory"); err != nil {
		return 0, err
	}
	var flags uint32
	if info.DeviceAddress {
		if !d.features.BufferDeviceAddress {
			return 0, fmt.Errorf("vk: vkAllocateMemory with DeviceAddress: bufferDeviceAddress is not enabled: %w", ErrFeatureNotPresent)
		}
		flags = memoryAllocateDeviceAddress
	}
	if info.WithPriority && !d.features.MemoryPriority {
		return 0, fmt.Errorf("vk: vkAllocateMemory with a priority: VK_EXT_memory_priority is not enabled: %w", ErrFeatureNotPresent)
	}
	r := C.vka_allocate_memory(d.table, C.uint64_t(info.Size), C.uint32_t(info.TypeIndex),
		C.uint64_t(info.DedicatedBuffer), C.uint64_t(info.DedicatedImage), C.uint32_t(flags),
		cbool(info.WithPriority), C.float(info.Priority))
	return DeviceMemory(r.value), check("vkAllocateMemory", int32(r.result))
}

// BufferDeviceAddress is the buffer's device address
// (vkGetBufferDeviceAddress). The buffer must have been made with
// BufferUsageShaderDeviceAddress and bound to memory allocated with
// MemoryAllocateInfo.DeviceAddress; without Features.BufferDeviceAddress
// it returns an error wrapping ErrFeatureNotPresent.
func (d *Device) BufferDeviceAddress(b Buffer) (uint64, error) {
	if !d.gate.enter() {
		return 0, ErrClosed
	}
	defer d.gate.exit()
	if !d.features.BufferDeviceAddress {
		return 0, fmt.Errorf("vk: vkGetBufferDeviceAddress: bufferDeviceAddress is not enabled: %w", ErrFeatureNotPresent)
	}
	return uint64(C.vka_buffer_address(d.table, C.uint64_t(b))), nil
}

// SetMemoryPriority changes the priority of memory
// (vkSetDeviceMemoryPriorityEXT); without
// Features.PageableDeviceLocalMemory it returns an error wrapping
// ErrFeatureNotPresent.
func (d *Device) SetMemoryPriority(m DeviceMemory, priority float32) error {
	if !d.gate.enter() {
		return ErrClosed
	}
	defer d.gate.exit()
	if !d.features.PageableDeviceLocalMemory {
		return fmt.Errorf("vk: vkSetDeviceMemoryPriorityEXT: VK_EXT_pageable_device_local_memory is not enabled: %w", ErrFeatureNotPresent)
	}
	return check("vkSetDeviceMemoryPriorityEXT", int32(C.vka_set_memory_priority(d.table, C.uint64_t(m), C.float(priority))))
}

// FreeMemory calls vkFreeMemory; 0 is ignored.
func (d *Device) FreeMemory(m DeviceMemory) {
	if !d.gate.enter() {
		return
	}
	defer d.gate.exit()
	if m != 0 {
		C.vka_free_memory(d.table, C.uint64_t(m))
	}
}

// MapMemory maps size bytes of m from offset and returns them as a slice of
// C memory, valid until UnmapMemory.
func (d *Device) MapMemory(m DeviceMemory, offset, size uint64) ([]byte, error) {
	if !d.gate.enter() {
		return nil, ErrClosed
	}
	defer d.gate.exit()
	if err := d.fault("vkMapMemory"); err != nil {
		return nil, err
	}
	var p unsafe.Pointer
	r := C.vka_map_memory(d.table, C.uint64_t(m), C.uint64_t(offset), C.uint64_t(size), &p)
	if err := check("vkMapMemory", int32(r)); err != nil {
		return nil, err
	}
	return unsafe.Slice((*byte)(p), size), nil
}

// UnmapMemory calls vkUnmapMemory.
func (d *Device) UnmapMemory(m DeviceMemory) {
	if !d.gate.enter() {
		return
	}
	defer d.gate.exit()
	C.vka_unmap_memory(d.table, C.uint64_t(m))
}

// FlushMemory flushes a host write range of non-coherent memory. offset and
// size must be multiples of nonCoherentAtomSize (or size reach the end).
func (d *Device) FlushMemory(m DeviceMemory, offset, size uint64) error {
	if !d.gate.enter() {
		return ErrClosed
	}
	defer d.gate.exit()
	return check("vkFlushMappedMemoryRanges", int32(C.vka_flush_memory(d.table, C.uint64_t(m), C.uint64_t(offset), C.uint64_t(size))))
}

// InvalidateMemory makes device writes to non-coherent memory visible to the host.
func (d *Device) InvalidateMemory(m DeviceMemory, offset, size uint64) error {
	if !d.gate.enter() {
		return ErrClosed
	}
	defer d.gate.exit()
	return check("vkInvalidateMappedMemoryRanges", int32(C.vka_invalidate_memory(d.table, C.uint64_t(m), C.uint64_t(offset), C.uint64_t(size))))
}

// BindBufferMemory binds b to m at offset.
func (d *Device) BindBufferMemory(b Buffer, m DeviceMemory, offset uint64) error {
	if !d.gate.enter() {
		return ErrClosed
	}
	defer d.gate.exit()
	return check("vkBindBufferMemory", int32(C.vka_bind_buffer(d.table, C.uint64_t(b), C.uint64_t(m), C.uint64_t(offset))))
}

// BindImageMemory binds img to m at offset.
func (d *Device) BindImageMemory(img Image, m DeviceMemory, offset uint64) error {
	if !d.gate.enter() {
		return ErrClosed
	}
	defer d.gate.exit()
	return check("vkBindImageMemory", int32(C.vka_bind_image(d.table, C.uint64_t(img), C.uint64_t(m), C.uint64_t(offset))))
}

// CreateFence creates a fence, signaled or not.
func (d *Device) CreateFence(signaled bool) (Fence, error) {
	if !d.gate.enter() {
		return 0, ErrClosed
	}
	defer d.gate.exit()
	r := C.vka_create_fence(d.table, cbool(signaled))
	return Fence(r.value), check("vkCreateFence", int32(r.result))
}

// DestroyFence destroys a fence; 0 is ignored.
func (d *Device) DestroyFence(f Fence) {
	if !d.gate.enter() {
		return
	}
	defer d.gate.exit()
	if f != 0 {
		C.vka_destroy_fence(d.table, C.uint64_t(f))
	}
}

// ResetFence returns a fence to the unsignaled state.
func (d *Device) ResetFence(f Fence) error {
	if !d.gate.enter() {
		return ErrClosed
	}
	defer d.gate.exit()
	return check("vkResetFences", int32(C.vka_reset_fence(d.table, C.uint64_t(f))))
}

// FenceSignaled reports whether f is signaled, without blocking (vkGetFenceStatus).
func (d *Device) FenceSignaled(f Fence) (bool, error) {
	if !d.gate.enter() {
		return false, ErrClosed
	}
	defer d.gate.exit()
	if err := d.fault("vkGetFenceStatus"); err != nil {
		return false, err
	}
	switch r := C.vka_fence_status(d.table, C.uint64_t(f)); Result(r) {
	case Success:
		return true, nil
	case NotReady:
		return false, nil
	default:
		return false, check("vkGetFenceStatus", int32(r))
	}
}

// WaitFence blocks until f is signaled or timeout passes (ErrTimeout).
// A negative timeout waits for ever.
func (d *Device) WaitFence(f Fence, timeout time.Duration) error {
	if !d.gate.enter() {
		return ErrClosed
	}
	defer d.gate.exit()
	if err := d.fault("vkWaitForFences"); err != nil {
		return err
	}
	return check("vkWaitForFences", int32(C.vka_wait_fence(d.table, C.uint64_t(f), nanos(timeout))))
}

func nanos(t time.Duration) C.uint64_t {
	if t < 0 {
		return C.uint64_t(^uint64(0))
	}
	return C.uint64_t(t)
}

// CreateSemaphore creates a binary semaphore.
func (d *Device) CreateSemaphore() (Semaphore, error) {
	if !d.gate.enter() {
		return 0, ErrClosed
	}
	defer d.gate.exit()
	r := C.vka_create_semaphore(d.table, 0, 0)
	return Semaphore(r.value), check("vkCreateSemaphore", int32(r.result))
}

// CreateTimelineSemaphore creates a timeline semaphore; ErrFeatureNotPresent
// when the device has none.
func (d *Device) CreateTimelineSemaphore(initial uint64) (Semaphore, error) {
	if !d.gate.enter() {
		return 0, ErrClosed
	}
	defer d.gate.exit()
	r := C.vka_create_semaphore(d.table, 1, C.uint64_t(initial))
	return Semaphore(r.value), check("vkCreateSemaphore", int32(r.result))
}

// DestroySemaphore destroys a semaphore; 0 is ignored.
func (d *Device) DestroySemaphore(s Semaphore) {
	if !d.gate.enter() {
		return
	}
	defer d.gate.exit()
	if s != 0 {
		C.vka_destroy_semaphore(d.table, C.uint64_t(s))
	}
}

// SemaphoreValue reads a timeline semaphore's counter without blocking.
func (d *Device) SemaphoreValue(s Semaphore) (uint64, error) {
	if !d.gate.enter() {
		return 0, ErrClosed
	}
	defer d.gate.exit()
	if err := d.fault("vkGetSemaphoreCounterValue"); err != nil {
		return 0, err
	}
	r := C.vka_semaphore_value(d.table, C.uint64_t(s))
	return uint64(r.value), check("vkGetSemaphoreCounterValue", int32(r.result))
}

// WaitSemaphore blocks until the timeline semaphore reaches value or timeout passes.
func (d *Device) WaitSemaphore(s Semaphore, value uint64, timeout time.Duration) error {
	if !d.gate.enter() {
		return ErrClosed
	}
	defer d.gate.exit()
	if err := d.fault("vkWaitSemaphores"); err != nil {
		return err
	}
	return check("vkWaitSemaphores", int32(C.vka_wait_semaphore(d.table, C.uint64_t(s), C.uint64_t(value), nanos(timeout))))
}

// SignalSemaphore sets a timeline semaphore's counter from the host.
func (d *Device) SignalSemaphore(s Semaphore, value uint64) error {
	if !d.gate.enter() {
		return ErrClosed
	}
	defer d.gate.exit()
	return check("vkSignalSemaphore", int32(C.vka_signal_semaphore(d.table, C.uint64_t(s), C.uint64_t(value))))
}

// CommandPoolFlags is VkCommandPoolCreateFlags.
type CommandPoolFlags uint32

// Command pool flags.
const (
	CommandPoolTransient          CommandPoolFlags = 0x1
	CommandPoolResetCommandBuffer CommandPoolFlags = 0x2
)

// CreateCommandPool creates a pool on the device's queue family.
func (d *Device) CreateCommandPool(flags CommandPoolFlags) (CommandPool, error) {
	if !d.gate.enter() {
		return 0, ErrClosed
	}
	defer d.gate.exit()
	r := C.vka_create_command_pool(d.table, C.uint32_t(d.family), C.uint32_t(flags))
	return CommandPool(r.value), check("vkCreateCommandPool", int32(r.result))
}

// CreateTransferCommandPool creates a command pool for SubmitTransfer: on
// the dedicated transfer family, or the main queue's family when the
// device has no transfer queue.
func (d *Device) CreateTransferCommandPool(flags CommandPoolFlags) (CommandPool, error) {
	if !d.gate.enter() {
		return 0, ErrClosed
	}
	defer d.gate.exit()
	family := d.family
	if d.transferQueue != 0 {
		family = d.transferFamily
	}
	r := C.vka_create_command_pool(d.table, C.uint32_t(family), C.uint32_t(flags))
	return CommandPool(r.value), check("vkCreateCommandPool", int32(r.result))
}

// DestroyCommandPool destroys a pool and its command buffers; 0 is ignored.
func (d *Device) DestroyCommandPool(p CommandPool) {
	if !d.gate.enter() {
		return
	}
	defer d.gate.exit()
	if p != 0 {
		C.vka_destroy_command_pool(d.table, C.uint64_t(p))
	}
}

// ResetCommandPool resets every command buffer of the pool.
func (d *Device) ResetCommandPool(p CommandPool) error {
	if !d.gate.enter() {
		return ErrClosed
	}
	defer d.gate.exit()
	return check("vkResetCommandPool", int32(C.vka_reset_command_pool(d.table, C.uint64_t(p))))
}

// AllocateCommandBuffer allocates one primary command buffer.
func (d *Device) AllocateCommandBuffer(p CommandPool) (CommandBuffer, error) {
	if !d.gate.enter() {
		return 0, ErrClosed
	}
	defer d.gate.exit()
	r := C.vka_allocate_command_buffer(d.table, C.uint64_t(p))
	return CommandBuffer(r.value), check("vkAllocateCommandBuffers", int32(r.result))
}

// FreeCommandBuffer returns a command buffer to its pool.
func (d *Device) FreeCommandBuffer(p CommandPool, c CommandBuffer) {
	if !d.gate.enter() {
		return
	}
	defer d.gate.exit()
	if c != 0 {
		C.vka_free_command_buffer(d.table, C.uint64_t(p), C.uintptr_t(c))
	}
}

// BeginCommandBuffer starts recording for one submission
// (VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT).
func (d *Device) BeginCommandBuffer(c CommandBuffer) error {
	if !d.gate.enter() {
		return ErrClosed
	}
	defer d.gate.exit()
	d.observe(Command{Op: "vkBeginCommandBuffer", Cmd: c})
	return check("vkBeginCommandBuffer", int32(C.vka_begin_command_buffer(d.table, C.uintptr_t(c), 1)))
}

// EndCommandBuffer ends recording.
func (d *Device) EndCommandBuffer(c CommandBuffer) error {
	if !d.gate.enter() {
		return ErrClosed
	}
	defer d.gate.exit()
	return check("vkEndCommandBuffer", int32(C.vka_end_command_buffer(d.table, C.uintptr_t(c))))
}

// PipelineStage is VkPipelineStageFlags.
type PipelineStage uint32

// Pipeline stages.
const (
	StageTopOfPipe             PipelineStage = 0x1
	StageVertexInput           PipelineStage = 0x4
	StageVertexShader          PipelineStage = 0x8
	StageFragmentShader        PipelineStage = 0x80
	StageEarlyFragmentTests    PipelineStage = 0x100
	StageLateFragmentTests     PipelineStage = 0x200
	StageColorAttachmentOutput PipelineStage = 0x400
	StageTransfer              PipelineStage = 0x1000
	StageBottomOfPipe          PipelineStage = 0x2000
	StageHost                  PipelineStage = 0x4000
	StageAllGraphics           PipelineStage = 0x8000
	StageAllCommands           PipelineStage = 0x10000
)

// Access is VkAccessFlags.
type Access uint32

// Access masks.
const (
	AccessIndexRead            Access = 0x2
	AccessVertexAttributeRead  Access = 0x4
	AccessShaderRead           Access = 0x20
	AccessColorAttachmentRead  Access = 0x80
	AccessColorAttachmentWrite Access = 0x100
	AccessDepthStencilRead     Access = 0x200
	AccessDepthStencilWrite    Access = 0x400
	AccessTransferRead         Access = 0x800
	AccessTransferWrite        Access = 0x1000
	AccessHostRead             Access = 0x2000
	AccessHostWrite            Access = 0x4000
	AccessMemoryRead           Access = 0x8000
	AccessMemoryWrite          Access = 0x10000
)

// SemaphoreSubmit is one semaphore waited on or signaled by a submission.
// Value is read for timeline semaphores only; Stage for waits only.
type SemaphoreSubmit struct {
	Semaphore Semaphore
	Value     uint64
	Stage     PipelineStage
	_         uint32
}

// The Go and C layouts must agree: the slice is handed to C as it is.
var _ [unsafe.Sizeof(SemaphoreSubmit{}) - unsafe.Sizeof(C.vka_semaphore_submit{})]struct{}
var _ [unsafe.Sizeof(C.vka_semaphore_submit{}) - unsafe.Sizeof(SemaphoreSubmit{})]struct{}

// MaxSubmitSemaphores bounds the waits and the signals of one Submit.
const MaxSubmitSemaphores = 8

// Submit is one vkQueueSubmit of command buffers with optional semaphores and
// fence. On a device with timeline semaphores the semaphore values are
// chained (VkTimelineSemaphoreSubmitInfo). It does not allocate when the
// slices already live on the heap (keep them in a long-lived struct): cgo
// makes any pointer passed to C escape.
func (d *Device) Submit(cmds []CommandBuffer, waits, signals []SemaphoreSubmit, fence Fence) error {
	return d.submit(false, cmds, waits, signals, fence)
}

// SubmitTransfer is Submit to the dedicated transfer queue
// (Options.TransferQueue), with command buffers from
// CreateTransferCommandPool; to the main queue when the device has none.
// Waits on timeline semaphores the other queue signals order the two on the
// GPU.
func (d *Device) SubmitTransfer(cmds []CommandBuffer, waits, signals []SemaphoreSubmit, fence Fence) error {
	return d.submit(true, cmds, waits, signals, fence)
}

func (d *Device) submit(transfer bool, cmds []CommandBuffer, waits, signals []SemaphoreSubmit, fence Fence) error {
	if !d.gate.enter() {
		return ErrClosed
	}
	defer d.gate.exit()
	if err := d.fault("vkQueueSubmit"); err != nil {
		return err
	}
	var pc *C.uintptr_t
	var pw, ps *C.vka_semaphore_submit
	if len(cmds) > 0 {
		pc = (*C.uintptr_t)(unsafe.Pointer(&cmds[0]))
	}
	if len(waits) > 0 {
		pw = (*C.vka_semaphore_submit)(unsafe.Pointer(&waits[0]))
	}
	if len(signals) > 0 {
		ps = (*C.vka_semaphore_submit)(unsafe.Pointer(&signals[0]))
	}
	queue, mu := d.queue, &d.queueMu
	if transfer && d.transferQueue != 0 {
		queue, mu = d.transferQueue, &d.xferMu
	}
	mu.Lock()
	r := C.vka_queue_submit(d.table, queue, pc, C.uint32_t(len(cmds)), pw, C.uint32_t(len(waits)),
		ps, C.uint32_t(len(signals)), cbool(d.timeline), C.uint64_t(fence))
	if r == C.VK_SUCCESS && d.observing() { // under the queue's lock: in the queue's order
		var stages PipelineStage
		for _, w := range waits {
			stages |= w.Stage
		}
		for i, c := range cmds {
			d.observe(Command{Op: "vkQueueSubmit", Cmd: c, Index: i, Transfer: queue != d.queue, WaitStages: stages})
		}
	}
	mu.Unlock()
	return check("vkQueueSubmit", int32(r))
}

// QueueWaitIdle waits until the queue has finished all its work.
func (d *Device) QueueWaitIdle() error {
	if !d.gate.enter() {
		return ErrClosed
	}
	defer d.gate.exit()
	d.queueMu.Lock()
	defer d.queueMu.Unlock()
	return check("vkQueueWaitIdle", int32(C.vka_queue_wait_idle(d.table, d.queue)))
}

// CmdCopyBuffer records a copy of size bytes between buffers.
func (d *Device) CmdCopyBuffer(c CommandBuffer, src, dst Buffer, srcOffset, dstOffset, size uint64) {
	if !d.gate.enter() {
		return
	}
	defer d.gate.exit()
	C.vka_cmd_copy_buffer(d.table, C.uintptr_t(c), C.uint64_t(src), C.uint64_t(dst),
		C.uint64_t(srcOffset), C.uint64_t(dstOffset), C.uint64_t(size))
	d.observe(Command{Op: "vkCmdCopyBuffer", Cmd: c, Src: src, Dst: dst})
}

// CmdFillBuffer records a fill of size bytes (a multiple of 4) with a 32-bit word.
func (d *Device) CmdFillBuffer(c CommandBuffer, b Buffer, offset, size uint64, data uint32) {
	if !d.gate.enter() {
		return
	}
	defer d.gate.exit()
	C.vka_cmd_fill_buffer(d.table, C.uintptr_t(c), C.uint64_t(b), C.uint64_t(offset), C.uint64_t(size), C.uint32_t(data))
	d.observe(Command{Op: "vkCmdFillBuffer", Cmd: c, Dst: b})
}

// BufferImageCopy is one region of a buffer↔image copy (colour aspect, layer 0).
type BufferImageCopy struct {
	BufferOffset  uint64
	RowLength     uint32 // in texels; 0 means tightly packed
	MipLevel      uint32
	X, Y          int32
	Width, Height uint32
}

func (r BufferImageCopy) c() C.vka_buffer_image_copy {
	return C.vka_buffer_image_copy{
		bufferOffset: C.uint64_t(r.BufferOffset), bufferRowLength: C.uint32_t(r.RowLength),
		aspect: C.uint32_t(AspectColor), mipLevel: C.uint32_t(r.MipLevel), layers: 1,
		x: C.int32_t(r.X), y: C.int32_t(r.Y), width: C.uint32_t(r.Width), height: C.uint32_t(r.Height), depth: 1,
	}
}

// CmdCopyBufferToImage records a copy into an image in the transfer-dst (or general) layout.
func (d *Device) CmdCopyBufferToImage(c CommandBuffer, src Buffer, dst Image, layout ImageLayout, region BufferImageCopy) {
	if !d.gate.enter() {
		return
	}
	defer d.gate.exit()
	cr := region.c()
	C.vka_cmd_copy_buffer_to_image(d.table, C.uintptr_t(c), C.uint64_t(src), C.uint64_t(dst), C.uint32_t(layout), cr)
	d.observe(Command{Op: "vkCmdCopyBufferToImage", Cmd: c, Src: src})
}

// CmdCopyImageToBuffer records a copy out of an image in the transfer-src (or general) layout.
func (d *Device) CmdCopyImageToBuffer(c CommandBuffer, src Image, layout ImageLayout, dst Buffer, region BufferImageCopy) {
	if !d.gate.enter() {
		return
	}
	defer d.gate.exit()
	cr := region.c()
	C.vka_cmd_copy_image_to_buffer(d.table, C.uintptr_t(c), C.uint64_t(src), C.uint32_t(layout), C.uint64_t(dst), cr)
	d.observe(Command{Op: "vkCmdCopyImageToBuffer", Cmd: c, Dst: dst})
}

// Barrier is one pipeline barrier: an image layout transition when Image is
// set, a buffer barrier when Buffer is set, else a global memory barrier.
type Barrier struct {
	SrcStage, DstStage   PipelineStage
	SrcAccess, DstAccess Access

	Image                Image
	OldLayout, NewLayout ImageLayout
	Aspect               Aspect // default colour
	BaseMipLevel         uint32 // the first level the barrier covers
	MipLevels            uint32 // how many from BaseMipLevel: default 1; RemainingMipLevels for all

	Buffer       Buffer
	Offset, Size uint64 // Size 0 means the whole buffer
}

// RemainingMipLevels is VK_REMAINING_MIP_LEVELS: every level from the base on.
const RemainingMipLevels = ^uint32(0)

// CmdBarrier records a pipeline barrier.
func (d *Device) CmdBarrier(c CommandBuffer, b Barrier) {
	if !d.gate.enter() {
		return
	}
	defer d.gate.exit()
	C.vka_cmd_barrier(d.table, C.uintptr_t(c), b.c())
	d.observe(Command{Op: "vkCmdPipelineBarrier", Cmd: c, Barrier: b})
}

// MaxBarriersPerCall is how many barriers CmdBarriers puts in one
// vkCmdPipelineBarrier.
const MaxBarriersPerCall = C.VKA_BARRIER_BATCH

// CmdBarriers records the barriers bs together: one vkCmdPipelineBarrier
// per MaxBarriersPerCall of them, in order, each with, as its source and
// destination stage masks, the OR of the SrcStage and of the DstStage of
// every barrier of bs. A barrier thus waits for and blocks at least the
// stages it names (perhaps more: merge barriers of like stages for the
// narrowest dependency), and its access masks stay within the stages
// given, as Vulkan requires. The barriers of one call are one set, not a
// sequence: none may cover an image subresource or buffer range another
// covers. An empty bs records nothing. Each barrier is reported to the
// command observer as one vkCmdPipelineBarrier, as CmdBarrier reports
// it. CmdBarriers allocates nothing: bs may live on the caller's stack.
func (d *Device) CmdBarriers(c CommandBuffer, bs []Barrier) {
	if len(bs) == 0 || !d.gate.enter() {
		return
	}
	defer d.gate.exit()
	var src, dst PipelineStage
	for i := range bs {
		src |= bs[i].SrcStage
		dst |= bs[i].DstStage
	}
	var batch C.vka_barriers
	batch.srcStage, batch.dstStage = C.uint32_t(src), C.uint32_t(dst)
	for len(bs) > 0 {
		n := min(len(bs), MaxBarriersPerCall)
		for i := range n {
			batch.b[i] = bs[i].c()
		}
		batch.count = C.uint32_t(n)
		C.vka_cmd_barriers(d.table, C.uintptr_t(c), batch)
		if d.observing() {
			for i := range n {
				d.observe(Command{Op: "vkCmdPipelineBarrier", Cmd: c, Barrier: bs[i]})
			}
		}
		bs = bs[n:]
	}
}

// c is b for the shim, its defaults made explicit.
func (b *Barrier) c() C.vka_barrier {
	aspect := b.Aspect
	if aspect == 0 {
		aspect = AspectColor
	}
	size := b.Size
	if size == 0 {
		size = ^uint64(0) // VK_WHOLE_SIZE
	}
	return C.vka_barrier{
		srcStage: C.uint32_t(b.SrcStage), dstStage: C.uint32_t(b.DstStage),
		srcAccess: C.uint32_t(b.SrcAccess), dstAccess: C.uint32_t(b.DstAccess),
		image: C.uint64_t(b.Image), oldLayout: C.uint32_t(b.OldLayout), newLayout: C.uint32_t(b.NewLayout),
		aspect: C.uint32_t(aspect), baseMip: C.uint32_t(b.BaseMipLevel), mips: C.uint32_t(one(b.MipLevels)), layers: 1,
		buffer: C.uint64_t(b.Buffer), offset: C.uint64_t(b.Offset), size: C.uint64_t(size),
	}
}

// CmdCopyImageLevels records a copy of the first levels mip levels (at
// most 32) of a w×h colour image, layer 0, into another image of the same
// size and format, each in the layout given.
func (d *Device) CmdCopyImageLevels(c CommandBuffer, src Image, srcLayout ImageLayout, dst Image, dstLayout ImageLayout, w, h, levels uint32) {
	if !d.gate.enter() {
		return
	}
	defer d.gate.exit()
	C.vka_cmd_copy_image_levels(d.table, C.uintptr_t(c), C.uint64_t(src), C.uint32_t(srcLayout), C.uint64_t(dst), C.uint32_t(dstLayout),
		C.uint32_t(w), C.uint32_t(h), C.uint32_t(levels))
}

// CmdCopyImage records a copy of a w×h colour region between images (mip 0,
// layer 0), each in the layout given.
func (d *Device) CmdCopyImage(c CommandBuffer, src Image, srcLayout ImageLayout, sx, sy int32, dst Image, dstLayout ImageLayout, dx, dy int32, w, h uint32) {
	if !d.gate.enter() {
		return
	}
	defer d.gate.exit()
	C.vka_cmd_copy_image(d.table, C.uintptr_t(c), C.uint64_t(src), C.uint32_t(srcLayout), C.uint64_t(dst), C.uint32_t(dstLayout),
		C.int32_t(sx), C.int32_t(sy), C.int32_t(dx), C.int32_t(dy), C.uint32_t(w), C.uint32_t(h))
}
