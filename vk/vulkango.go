package vk

/*
#include "shim.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"sync"
	"unsafe"

	vkg "github.com/vulkan-go/vulkan"
)

// Interoperation with github.com/vulkan-go/vulkan. vulkan-go's handles are
// C pointer types: dispatchable ones (VkInstance … VkCommandBuffer) are the
// driver's pointers, non-dispatchable ones (VkBuffer, VkImage, …) are 64-bit
// values that vulkan-go, built for 64-bit platforms, declares as pointers.
// vk keeps both as integers. The conversions below reinterpret the same 64
// bits, so they cost nothing and need no unsafe in the application.

// Both representations are 64 bits wide: on a 32-bit platform vulkan-go's
// non-dispatchable handles would be uint64 and pointers 32 bits, and these
// lines would not compile.
var (
	_ [unsafe.Sizeof(vkg.Buffer(nil)) - unsafe.Sizeof(Buffer(0))]struct{}
	_ [unsafe.Sizeof(Buffer(0)) - unsafe.Sizeof(vkg.Buffer(nil))]struct{}
	_ [unsafe.Sizeof(vkg.CommandBuffer(nil)) - unsafe.Sizeof(CommandBuffer(0))]struct{}
	_ [unsafe.Sizeof(CommandBuffer(0)) - unsafe.Sizeof(vkg.CommandBuffer(nil))]struct{}
)

// toVulkanGo reinterprets a 64-bit handle value as vulkan-go's handle type P
// (a pointer type of the same size, asserted above).
func toVulkanGo[P any, H ~uint64 | ~uintptr](h H) P { return *(*P)(unsafe.Pointer(&h)) }

// fromVulkanGo is the reverse of toVulkanGo.
func fromVulkanGo[H ~uint64 | ~uintptr, P any](p P) H { return *(*H)(unsafe.Pointer(&p)) }

// VulkanGo is the buffer as vulkan-go's handle.
func (b Buffer) VulkanGo() vkg.Buffer { return toVulkanGo[vkg.Buffer](b) }

// VulkanGo is the image as vulkan-go's handle.
func (img Image) VulkanGo() vkg.Image { return toVulkanGo[vkg.Image](img) }

// VulkanGo is the image view as vulkan-go's handle.
func (v ImageView) VulkanGo() vkg.ImageView { return toVulkanGo[vkg.ImageView](v) }

// VulkanGo is the sampler as vulkan-go's handle.
func (s Sampler) VulkanGo() vkg.Sampler { return toVulkanGo[vkg.Sampler](s) }

// VulkanGo is the device memory as vulkan-go's handle (an allocation's
// Memory, bound at its Offset).
func (m DeviceMemory) VulkanGo() vkg.DeviceMemory { return toVulkanGo[vkg.DeviceMemory](m) }

// VulkanGo is the fence as vulkan-go's handle.
func (f Fence) VulkanGo() vkg.Fence { return toVulkanGo[vkg.Fence](f) }

// VulkanGo is the semaphore as vulkan-go's handle.
func (s Semaphore) VulkanGo() vkg.Semaphore { return toVulkanGo[vkg.Semaphore](s) }

// VulkanGo is the command pool as vulkan-go's handle.
func (p CommandPool) VulkanGo() vkg.CommandPool { return toVulkanGo[vkg.CommandPool](p) }

// VulkanGo is the command buffer as vulkan-go's handle.
func (c CommandBuffer) VulkanGo() vkg.CommandBuffer { return toVulkanGo[vkg.CommandBuffer](c) }

// VulkanGo is the render pass as vulkan-go's handle.
func (rp RenderPass) VulkanGo() vkg.RenderPass { return toVulkanGo[vkg.RenderPass](rp) }

// VulkanGo is the framebuffer as vulkan-go's handle.
func (fb Framebuffer) VulkanGo() vkg.Framebuffer { return toVulkanGo[vkg.Framebuffer](fb) }

// BufferFromVulkanGo is vulkan-go's buffer handle as vk's.
func BufferFromVulkanGo(b vkg.Buffer) Buffer { return fromVulkanGo[Buffer](b) }

// ImageFromVulkanGo is vulkan-go's image handle as vk's.
func ImageFromVulkanGo(img vkg.Image) Image { return fromVulkanGo[Image](img) }

// ImageViewFromVulkanGo is vulkan-go's image view handle as vk's.
func ImageViewFromVulkanGo(v vkg.ImageView) ImageView { return fromVulkanGo[ImageView](v) }

// SamplerFromVulkanGo is vulkan-go's sampler handle as vk's.
func SamplerFromVulkanGo(s vkg.Sampler) Sampler { return fromVulkanGo[Sampler](s) }

// FenceFromVulkanGo is vulkan-go's fence handle as vk's.
func FenceFromVulkanGo(f vkg.Fence) Fence { return fromVulkanGo[Fence](f) }

// SemaphoreFromVulkanGo is vulkan-go's semaphore handle as vk's: an
// application's timeline semaphore, for instance, to read or wait on with
// SemaphoreValue and WaitSemaphore (vulkan-go lacks both).
func SemaphoreFromVulkanGo(s vkg.Semaphore) Semaphore { return fromVulkanGo[Semaphore](s) }

// CommandBufferFromVulkanGo is vulkan-go's command buffer as vk's, so that
// vkassets can record into a command buffer the application begun (the
// Cmd* methods, an upload).
func CommandBufferFromVulkanGo(c vkg.CommandBuffer) CommandBuffer {
	return fromVulkanGo[CommandBuffer](c)
}

// VulkanGo is the instance as vulkan-go's handle; nil after Close.
func (in *Instance) VulkanGo() vkg.Instance { return vkg.Instance(in.Handle()) }

// VulkanGo is the physical device as vulkan-go's handle.
func (p *PhysicalDevice) VulkanGo() vkg.PhysicalDevice { return vkg.PhysicalDevice(p.Handle()) }

// VulkanGo is the device as vulkan-go's handle; nil after Close.
func (d *Device) VulkanGo() vkg.Device { return vkg.Device(d.Handle()) }

// VulkanGoQueue is the device's queue as vulkan-go's handle; nil after Close.
func (d *Device) VulkanGoQueue() vkg.Queue { return vkg.Queue(d.QueueHandle()) }

// QueueLocker is the lock vkassets holds around every vkQueueSubmit on the
// device's queue, and around the waits that need the queue to themselves
// (QueueWaitIdle, WaitIdle). Vulkan requires a queue to be externally
// synchronized: an application that submits to the same queue itself
// (vulkan.QueueSubmit, vulkan.QueuePresent, vulkan.QueueWaitIdle,
// vulkan.DeviceWaitIdle) while vkassets may submit from another goroutine —
// the upload of a load running elsewhere — holds it around those calls.
func (d *Device) QueueLocker() sync.Locker { return &d.queueMu }

// VulkanGo names an application's vulkan-go objects for WrapVulkanGo; its
// fields are those of External with vulkan-go's handle types.
type VulkanGo struct {
	Instance       vkg.Instance
	PhysicalDevice vkg.PhysicalDevice // the one Device was created on
	Device         vkg.Device
	Queue          vkg.Queue // of QueueFamily; vkassets may submit to it
	QueueFamily    uint32
	// APIVersion is the ApiVersion of the vulkan.ApplicationInfo the
	// instance was created with (vulkan.MakeVersion(1, 2, 0) is
	// vk.MakeVersion(1, 2, 0)); zero means not stated. See External.
	APIVersion Version
	// TimelineSemaphores says the device was created with the
	// timelineSemaphore feature enabled.
	TimelineSemaphores bool
	// DebugUtils says the instance has VK_EXT_debug_utils enabled.
	DebugUtils bool
	// GetInstanceProcAddr is the loader entry point given to
	// vulkan.SetGetInstanceProcAddr, if the application gave one (GLFW's
	// glfw.GetVulkanGetInstanceProcAddress()); nil is the system loader,
	// libvulkan.so.1.
	GetInstanceProcAddr unsafe.Pointer
}

// External is g with the handles as raw pointers.
func (g VulkanGo) External() External {
	return External{
		Instance:            unsafe.Pointer(g.Instance),
		PhysicalDevice:      unsafe.Pointer(g.PhysicalDevice),
		Device:              unsafe.Pointer(g.Device),
		Queue:               unsafe.Pointer(g.Queue),
		QueueFamily:         g.QueueFamily,
		APIVersion:          g.APIVersion,
		TimelineSemaphores:  g.TimelineSemaphores,
		DebugUtils:          g.DebugUtils,
		GetInstanceProcAddr: g.GetInstanceProcAddr,
	}
}

// WrapVulkanGo is Wrap for an application written against vulkan-go:
// the allocator, frame synchronisation and assets then work on its
// instance, device and queue, and refuse the same things Wrap refuses.
func WrapVulkanGo(g VulkanGo) (*Device, error) { return Wrap(g.External()) }

// InitVulkanGo points vulkan-go at the Vulkan loader vkassets uses
// (libvulkan.so.1, which every Vulkan runtime installs; vulkan-go's
// SetDefaultGetInstanceProcAddr opens only libvulkan.so, which comes with
// the development package) and runs vulkan.Init. Call it instead of those
// two; an application that has its loader from a window system calls
// vulkan.SetGetInstanceProcAddr and vulkan.Init itself and passes the same
// pointer to WrapVulkanGo.
func InitVulkanGo() error {
	_, err := useLoader(nil)
	return err
}

// ErrFreed: a TimelineSubmitInfo was used after Free.
var ErrFreed = errors.New("vk: used after Free")

// TimelineSubmitInfo is a VkTimelineSemaphoreSubmitInfo in C memory, for
// the PNext of a vulkan-go SubmitInfo: vulkan-go's header (1.1.88)
// predates timeline semaphores, and PNext must point to C memory. Its
// values list one value per semaphore of the submission's waits and
// signals (binary semaphores' values are ignored).
//
// Like the SubmitInfo it is chained into, one belongs to one goroutine at
// a time, and must live until the vulkan.QueueSubmit that reads it has
// returned. Free releases it; afterwards Pointer is nil and Set returns
// ErrFreed.
type TimelineSubmitInfo struct {
	c     *C.VkTimelineSemaphoreSubmitInfo // nil after Free
	waits []uint64                         // C memory, capacity fixed at New
	sigs  []uint64                         // C memory
}

// NewTimelineSubmitInfo allocates a VkTimelineSemaphoreSubmitInfo with
// room for up to MaxSubmitSemaphores waits and signals, set to the values
// given.
func NewTimelineSubmitInfo(waitValues, signalValues []uint64) (*TimelineSubmitInfo, error) {
	// cgo's C.malloc never returns nil: it aborts when the C heap is exhausted.
	n := C.size_t(MaxSubmitSemaphores)
	c := (*C.VkTimelineSemaphoreSubmitInfo)(C.malloc(C.size_t(unsafe.Sizeof(C.VkTimelineSemaphoreSubmitInfo{}))))
	w := (*uint64)(C.malloc(n * 8))
	s := (*uint64)(C.malloc(n * 8))
	t := &TimelineSubmitInfo{c: c, waits: unsafe.Slice(w, n), sigs: unsafe.Slice(s, n)}
	*c = C.VkTimelineSemaphoreSubmitInfo{sType: C.VK_STRUCTURE_TYPE_TIMELINE_SEMAPHORE_SUBMIT_INFO}
	c.pWaitSemaphoreValues = (*C.uint64_t)(unsafe.Pointer(w))
	c.pSignalSemaphoreValues = (*C.uint64_t)(unsafe.Pointer(s))
	if err := t.Set(waitValues, signalValues); err != nil {
		t.Free()
		return nil, err
	}
	return t, nil
}

// Set replaces the values, in place: a frame loop sets its new signal
// value each frame without allocating.
func (t *TimelineSubmitInfo) Set(waitValues, signalValues []uint64) error {
	if t.c == nil {
		return fmt.Errorf("vk: TimelineSubmitInfo.Set: %w", ErrFreed)
	}
	if len(waitValues) > len(t.waits) || len(signalValues) > len(t.sigs) {
		return fmt.Errorf("vk: TimelineSubmitInfo: %d wait and %d signal values; at most %d of each",
			len(waitValues), len(signalValues), MaxSubmitSemaphores)
	}
	copy(t.waits, waitValues)
	copy(t.sigs, signalValues)
	t.c.waitSemaphoreValueCount = C.uint32_t(len(waitValues))
	t.c.signalSemaphoreValueCount = C.uint32_t(len(signalValues))
	return nil
}

// Pointer is the struct's address, for vulkan.SubmitInfo.PNext; nil after Free.
func (t *TimelineSubmitInfo) Pointer() unsafe.Pointer {
	if t.c == nil {
		return nil
	}
	return unsafe.Pointer(t.c)
}

// Free releases the C memory; it is idempotent.
func (t *TimelineSubmitInfo) Free() {
	if t.c == nil {
		return
	}
	C.free(unsafe.Pointer(&t.waits[0]))
	C.free(unsafe.Pointer(&t.sigs[0]))
	C.free(unsafe.Pointer(t.c))
	t.c, t.waits, t.sigs = nil, nil, nil
}

// PNext is a Vulkan structure vulkan-go lacks, in C memory, for the PNext
// of a vulkan-go create-info struct (PNext must point to C memory, and
// vulkan-go's header, 1.1.88, predates timeline semaphores). It must live
// until the call that reads it has returned; Free releases it (idempotent;
// afterwards Pointer is nil). One belongs to one goroutine at a time.
type PNext struct {
	p unsafe.Pointer // C memory; nil after Free
}

// TimelineSemaphoreType is a VkSemaphoreTypeCreateInfo for a timeline
// semaphore starting at initial, for vulkan.SemaphoreCreateInfo.PNext. The
// device needs the timelineSemaphore feature (TimelineSemaphoreFeatures).
func TimelineSemaphoreType(initial uint64) *PNext {
	c := (*C.VkSemaphoreTypeCreateInfo)(C.malloc(C.size_t(unsafe.Sizeof(C.VkSemaphoreTypeCreateInfo{}))))
	*c = C.VkSemaphoreTypeCreateInfo{sType: C.VK_STRUCTURE_TYPE_SEMAPHORE_TYPE_CREATE_INFO,
		semaphoreType: C.VK_SEMAPHORE_TYPE_TIMELINE, initialValue: C.uint64_t(initial)}
	return &PNext{p: unsafe.Pointer(c)}
}

// TimelineSemaphoreFeatures is a VkPhysicalDeviceTimelineSemaphoreFeatures
// with timelineSemaphore enabled, for vulkan.DeviceCreateInfo.PNext (Vulkan
// 1.2; PhysicalDevice.TimelineSemaphore says whether the device has it).
func TimelineSemaphoreFeatures() *PNext {
	c := (*C.VkPhysicalDeviceTimelineSemaphoreFeatures)(C.malloc(C.size_t(unsafe.Sizeof(C.VkPhysicalDeviceTimelineSemaphoreFeatures{}))))
	*c = C.VkPhysicalDeviceTimelineSemaphoreFeatures{sType: C.VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_TIMELINE_SEMAPHORE_FEATURES,
		timelineSemaphore: C.VK_TRUE}
	return &PNext{p: unsafe.Pointer(c)}
}

// Pointer is the structure's address; nil after Free.
func (n *PNext) Pointer() unsafe.Pointer { return n.p }

// Free releases the C memory; it is idempotent.
func (n *PNext) Free() {
	if n.p == nil {
		return
	}
	C.free(n.p)
	n.p = nil
}
