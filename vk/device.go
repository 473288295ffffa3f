package vk

/*
#include "shim.h"
*/
import "C"

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"unsafe"
)

// Options configure Open: the instance, then the device.
type Options struct {
	InstanceOptions
	// Device selects the physical device by index or case-insensitive name
	// substring; "" reads VKASSETS_DEVICE, and when that is empty too the
	// best device is taken: discrete GPU, else integrated, else CPU (lavapipe).
	Device string
	// DeviceExtensions are extra device extensions to enable (VK_KHR_swapchain for a window).
	DeviceExtensions []string
	// DisableTimeline creates the device without timeline semaphores even
	// where it has them, to exercise the fence-only paths.
	DisableTimeline bool
	// TransferQueue also creates a queue from a transfer-only family
	// (transfer, neither graphics nor compute: a GPU's DMA engine) where the
	// device has one. Without one (lavapipe has a single family)
	// SubmitTransfer and CreateTransferCommandPool use the main queue.
	TransferQueue bool
	// DisableTextureCompressionBC creates the device without the
	// textureCompressionBC feature even where it has it, to exercise the
	// refusal of BC textures.
	DisableTextureCompressionBC bool
	// Features are optional device features to enable. Open fails with an
	// error wrapping ErrFeatureNotPresent when the device lacks one;
	// Device.Features says what was enabled.
	Features Features
}

// Features are optional device features an allocator can use; each one
// asked for in Options.Features is enabled with its extension where it has
// one.
type Features struct {
	// BufferDeviceAddress is Vulkan 1.2's bufferDeviceAddress:
	// vkGetBufferDeviceAddress and memory allocated with
	// VK_MEMORY_ALLOCATE_DEVICE_ADDRESS_BIT.
	BufferDeviceAddress bool
	// MemoryPriority is VK_EXT_memory_priority: a priority chained to
	// vkAllocateMemory (MemoryAllocateInfo.Priority).
	MemoryPriority bool
	// PageableDeviceLocalMemory is VK_EXT_pageable_device_local_memory
	// (which needs MemoryPriority): vkSetDeviceMemoryPriorityEXT.
	PageableDeviceLocalMemory bool
}

// extensions are the device extensions the features need.
func (f Features) extensions() []string {
	var out []string
	if f.MemoryPriority {
		out = append(out, "VK_EXT_memory_priority")
	}
	if f.PageableDeviceLocalMemory {
		out = append(out, "VK_EXT_pageable_device_local_memory")
	}
	return out
}

func (f Features) bits() uint32 {
	return uint32(b2u(f.BufferDeviceAddress) | b2u(f.MemoryPriority)<<1 | b2u(f.PageableDeviceLocalMemory)<<2)
}

// String names the features set, as Vulkan spells them.
func (f Features) String() string {
	var names []string
	if f.BufferDeviceAddress {
		names = append(names, "bufferDeviceAddress")
	}
	if f.MemoryPriority {
		names = append(names, "memoryPriority")
	}
	if f.PageableDeviceLocalMemory {
		names = append(names, "pageableDeviceLocalMemory")
	}
	if names == nil {
		return "none"
	}
	return strings.Join(names, "|")
}

func featuresOf(bits uint32) Features {
	return Features{BufferDeviceAddress: bits&1 != 0, MemoryPriority: bits&2 != 0, PageableDeviceLocalMemory: bits&4 != 0}
}

func b2u(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}

// Device is a logical device with one graphics+transfer queue. Its methods
// are safe for concurrent use except where Vulkan requires external
// synchronization of the object passed (a command buffer, a fence being reset).
//
// After Close, every method that returns an error returns ErrClosed, and
// every method without one (Destroy*, Cmd*, UnmapMemory, FreeMemory,
// FreeCommandBuffer) does nothing: none touches the destroyed device. A call
// already running when Close is called on another goroutine finishes first:
// Close waits for it before it destroys anything.
type Device struct {
	table    C.uintptr_t // *vka_device; freed by Close, read only inside gate
	handle   C.uintptr_t // VkDevice
	inst     *Instance
	ownsInst bool
	phys     *PhysicalDevice
	family   uint32
	queue    C.uintptr_t
	// transferQueue is a queue of the transfer-only family transferFamily;
	// 0 when the device has none, or Options.TransferQueue was off.
	transferQueue  C.uintptr_t
	transferFamily uint32
	timeline       bool
	budget         bool     // VK_EXT_memory_budget is enabled
	bc             bool     // the textureCompressionBC feature is enabled
	features       Features // the optional features enabled
	foreign        bool     // made by the application (Wrap): Close frees only the table

	gate      gate         // every call that reaches C passes it; Close shuts it
	faults    faultSlot    // injected failures, for tests and vkassets stress
	observer  observerSlot // told of recorded and submitted commands, for tests
	queueMu   sync.Mutex   // serializes vkQueueSubmit and vkQueueWaitIdle (the queue is externally synchronized)
	xferMu    sync.Mutex   // the same for transferQueue; taken after queueMu where both are
	closeOnce sync.Once
}

// Open creates an instance and a device on it; Close destroys both.
func Open(opts Options) (*Device, error) {
	in, err := NewInstance(opts.InstanceOptions)
	if err != nil {
		return nil, err
	}
	d, err := in.NewDevice(opts)
	if err != nil {
		in.Close()
		return nil, err
	}
	d.ownsInst = true
	return d, nil
}

// NewDevice chooses a physical device as Options.Device says and creates a
// logical device with one queue from a graphics (hence transfer) family.
// Only the device fields of opts are read.
func (in *Instance) NewDevice(opts Options) (*Device, error) {
	if !in.gate.enter() {
		return nil, ErrClosed
	}
	defer in.gate.exit()
	devs, err := in.physicalDevices()
	if err != nil {
		return nil, err
	}
	selector := opts.Device
	if selector == "" {
		selector = os.Getenv(EnvDevice)
	}
	p, err := choose(devs, selector)
	if err != nil {
		return nil, err
	}
	exts := slices.Clone(opts.DeviceExtensions)
	for _, e := range exts {
		if !p.HasExtension(e) {
			return nil, fmt.Errorf("vk: device %s lacks extension %s: %w", p.Name, e, ErrExtensionNotPresent)
		}
	}
	want := opts.Features
	if want.PageableDeviceLocalMemory {
		want.MemoryPriority = true // the extension requires it
	}
	for _, e := range want.extensions() {
		if !p.HasExtension(e) {
			return nil, fmt.Errorf("vk: device %s lacks extension %s: %w", p.Name, e, ErrExtensionNotPresent)
		}
		if !slices.Contains(exts, e) {
			exts = append(exts, e)
		}
	}
	if want != (Features{}) {
		has := featuresOf(uint32(C.vka_optional_features(in.table, p.handle,
			cbool(want.BufferDeviceAddress), cbool(want.MemoryPriority), cbool(want.PageableDeviceLocalMemory))))
		if miss := want.bits() &^ has.bits(); miss != 0 {
			return nil, fmt.Errorf("vk: device %s lacks %v: %w", p.Name, featuresOf(miss), ErrFeatureNotPresent)
		}
	}
	budget := p.HasExtension("VK_EXT_memory_budget")
	if budget && !slices.Contains(exts, "VK_EXT_memory_budget") {
		exts = append(exts, "VK_EXT_memory_budget")
	}
	timeline := p.TimelineSemaphore && !opts.DisableTimeline
	bc := p.Features.TextureCompressionBC && !opts.DisableTextureCompressionBC
	family := graphicsFamily(p)
	xfer := int32(-1)
	if opts.TransferQueue {
		xfer = int32(transferFamily(p))
	}
	ce, freeExts := cstrings(exts)
	defer freeExts()
	d := &Device{inst: in, phys: p, family: uint32(family), timeline: timeline, budget: budget, bc: bc, features: want}
	r := C.vka_create_device(in.table, p.handle, C.uint32_t(family), C.int32_t(xfer), ce, C.uint32_t(len(exts)),
		cbool(timeline), cbool(bc), C.uint32_t(want.bits()), cbool(in.validator != nil), &d.table)
	if err := check("vkCreateDevice", int32(r)); err != nil {
		return nil, fmt.Errorf("vk: device %s: %w", p.Name, err)
	}
	d.handle = C.vka_device_handle(d.table)
	d.queue = C.vka_get_queue(d.table, C.uint32_t(family), 0)
	if xfer >= 0 {
		d.transferQueue, d.transferFamily = C.vka_get_queue(d.table, C.uint32_t(xfer), 0), uint32(xfer)
	}
	in.adopt(d)
	return d, nil
}

// Close waits for the device to be idle and destroys it, and the instance
// when Open made it (for a device from Wrap, it frees only vkassets' own
// tables). It is idempotent and safe from any goroutine, concurrently with
// any other method: calls already running finish first (Close waits for
// them, including a fence or semaphore wait, which ends when the GPU gets
// there or the wait times out), later ones get ErrClosed or do nothing.
// Memory mapped with MapMemory is unmapped with the device: drop the slices
// first.
func (d *Device) Close() { d.close(true) }

// close is Close; closeInst false is Instance.Close closing its devices.
func (d *Device) close(closeInst bool) {
	d.closeOnce.Do(func() {
		d.gate.shut()
		C.vka_device_wait_idle(d.table)
		if d.foreign {
			C.vka_free_table(d.table)
		} else {
			C.vka_destroy_device(d.table)
		}
		d.inst.forget(d)
	})
	// Outside the Once: Instance.Close closes its devices from inside its
	// own Once, and a device's Close must not wait for that.
	if closeInst && d.ownsInst {
		d.inst.Close()
	}
}

// Closed reports whether Close has been called.
func (d *Device) Closed() bool { return d.gate.closed() }

// Instance is the instance the device was made on.
func (d *Device) Instance() *Instance { return d.inst }

// Validator is the instance's validation counter (nil when validation is off).
func (d *Device) Validator() *Validator { return d.inst.validator }

// Physical describes the physical device in use.
func (d *Device) Physical() *PhysicalDevice { return d.phys }

// QueueFamily is the index of the family of the device's queue.
func (d *Device) QueueFamily() uint32 { return d.family }

// TransferQueueFamily is the family of the dedicated transfer queue, and
// whether the device has one (Options.TransferQueue, on a device with a
// transfer-only family).
func (d *Device) TransferQueueFamily() (uint32, bool) {
	return d.transferFamily, d.transferQueue != 0
}

// TimelineSemaphores reports whether timeline semaphores are enabled.
func (d *Device) TimelineSemaphores() bool { return d.timeline }

// TextureCompressionBC reports whether the device was created with the
// textureCompressionBC feature: BC1–BC7 images can be made and sampled.
func (d *Device) TextureCompressionBC() bool { return d.bc }

// Features are the optional features enabled (Options.Features).
func (d *Device) Features() Features { return d.features }

// HasMemoryBudget reports whether VK_EXT_memory_budget is enabled.
func (d *Device) HasMemoryBudget() bool { return d.budget }

// QueueHandle is the raw VkQueue vkassets submits to; nil after Close.
func (d *Device) QueueHandle() unsafe.Pointer {
	if d.gate.closed() {
		return nil
	}
	return C.vka_value_ptr(d.queue)
}

// Handle is the raw VkDevice, for interoperation; nil after Close.
func (d *Device) Handle() unsafe.Pointer {
	if d.gate.closed() {
		return nil
	}
	return C.vka_value_ptr(d.handle)
}

// MemoryBudget reports each heap's budget: from VK_EXT_memory_budget when the
// device has it, else 80% of the heap size with no usage figure (so too
// after Close).
func (d *Device) MemoryBudget() []HeapBudget {
	heaps := d.phys.Memory.Heaps
	out := make([]HeapBudget, len(heaps))
	if d.budget && d.gate.enter() {
		defer d.gate.exit()
		if d.inst.gate.enter() {
			defer d.inst.gate.exit()
			var b C.vka_heap_budget
			C.vka_memory_budget(d.inst.table, d.phys.handle, &b)
			for i := range heaps {
				out[i] = HeapBudget{Budget: uint64(b.budget[i]), Usage: uint64(b.usage[i]), FromExtension: true}
			}
			return out
		}
	}
	for i, h := range heaps {
		out[i] = HeapBudget{Budget: h.Size / 10 * 8}
	}
	return out
}

// WaitIdle waits for the device to finish all work (vkDeviceWaitIdle).
func (d *Device) WaitIdle() error {
	if !d.gate.enter() {
		return ErrClosed
	}
	defer d.gate.exit()
	// vkDeviceWaitIdle synchronizes every queue externally.
	d.queueMu.Lock()
	defer d.queueMu.Unlock()
	d.xferMu.Lock()
	defer d.xferMu.Unlock()
	return check("vkDeviceWaitIdle", int32(C.vka_device_wait_idle(d.table)))
}

// ObjectType is VkObjectType, for SetName.
type ObjectType int32

// Object types that SetName is used with.
const (
	ObjectBuffer        ObjectType = 9
	ObjectDeviceMemory  ObjectType = 8
	ObjectImage         ObjectType = 10
	ObjectImageView     ObjectType = 14
	ObjectSampler       ObjectType = 21
	ObjectFence         ObjectType = 7
	ObjectSemaphore     ObjectType = 5
	ObjectCommandPool   ObjectType = 25
	ObjectCommandBuffer ObjectType = 6
)

// SetName gives an object a debug name (VK_EXT_debug_utils); validation
// messages and tools such as RenderDoc show it. Without debug utils it does
// nothing.
func (d *Device) SetName(t ObjectType, handle uint64, name string) error {
	if !d.gate.enter() {
		return ErrClosed
	}
	defer d.gate.exit()
	cs := C.CString(name)
	defer C.free(unsafe.Pointer(cs))
	return check("vkSetDebugUtilsObjectNameEXT", int32(C.vka_set_name(d.table, C.int32_t(t), C.uint64_t(handle), cs)))
}
