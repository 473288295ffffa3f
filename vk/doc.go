// Package vk is vkassets' Vulkan layer, and the only package of the module
// that uses cgo or github.com/vulkan-go/vulkan.
//
// It opens the loader (libvulkan.so.1, or a window system's
// vkGetInstanceProcAddr), creates an instance and a device on the best
// physical device — a discrete GPU, else an integrated one, else the CPU
// (Mesa's lavapipe) — and exposes the calls the allocator, the frame
// synchronisation and the assets need, with Go types and errors:
//
//	d, err := vk.Open(vk.Options{})
//	if err != nil {
//		log.Fatal(err) // names what to install when the loader, a device or the layer is missing
//	}
//	defer d.Close()
//	buf, err := d.CreateBuffer(64<<10, vk.BufferUsageVertex|vk.BufferUsageTransferDst)
//
// # Validation
//
// InstanceOptions.Validation (or VKASSETS_VALIDATION=1) enables
// VK_LAYER_KHRONOS_validation with a debug-utils messenger; its messages go to
// the injected *slog.Logger and are counted by message ID in the Device's
// Validator. SyncValidation (or VKASSETS_SYNC_VALIDATION=1) adds
// synchronization validation within command buffers; SubmitValidation (or
// VKASSETS_SUBMIT_VALIDATION=1) adds it between command buffers and
// submissions, checked at vkQueueSubmit (with fences for completion: the
// layer does not see host waits on timeline semaphores). Package vktest
// opens validated devices for tests and fails a test on any validation
// error.
//
// # Errors
//
// A failed call returns *Error{Op, Result}; match it with errors.Is against
// ErrOutOfDeviceMemory, ErrDeviceLost and the other sentinels. Bootstrap
// failures wrap ErrNoLoader, ErrNoDevice or ErrNoValidationLayer with the
// package to install.
//
// # Closing
//
// Device.Close and Instance.Close are idempotent and safe from any
// goroutine, in either order, with calls running on other goroutines.
// Every method that reaches C passes a gate (two atomic adds, no
// allocation); Close shuts it, waits for the calls inside to end, and only
// then destroys. Afterwards methods return ErrClosed, or do nothing where
// they have no error result.
//
// # What vulkan-go lacks, and its pitfalls
//
// vulkan-go covers Vulkan 1.0 (header 1.1.88). A small C shim, compiled
// against the system's headers, loads everything through
// vkGetInstanceProcAddr and vkGetDeviceProcAddr: memory requirements with
// VkMemoryDedicatedRequirements, VK_EXT_memory_budget, timeline semaphores,
// debug-utils names. vulkan-go itself serves only the cold-path
// physical-device queries, and every struct it copies to C there (PassRef) is
// freed at once. The per-frame calls (command buffer begin/end, submit, fence
// wait/reset, buffer create/destroy) build their structs on the C stack and
// return handles by value: they neither grow C memory nor allocate in Go.
//
// # Handles
//
// Handles are plain integers (Buffer, Image, Fence, …; CommandBuffer holds the
// driver's pointer as a uintptr). The raw VkInstance, VkPhysicalDevice and
// VkDevice are available through Handle methods for interoperation.
//
// # Applications written against vulkan-go
//
// WrapVulkanGo takes an application's vulkan-go instance, physical device,
// device and queue as they are, and refuses what Wrap refuses. Each handle
// type has a VulkanGo method (buf.VulkanGo() is a vulkan.Buffer) and each
// one an application hands in a …FromVulkanGo function
// (CommandBufferFromVulkanGo, SemaphoreFromVulkanGo, …): the same 64 bits,
// no unsafe in the application. TimelineSemaphoreFeatures,
// TimelineSemaphoreType and TimelineSubmitInfo are the structures vulkan-go's
// 1.1 header lacks, in C memory for its PNext fields; QueueLocker is the
// lock an application holds around its own vulkan.QueueSubmit on a queue
// vkassets also submits to. examples/vulkango is a complete program.
package vk
