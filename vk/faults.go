package vk

import "sync/atomic"

// FaultInjector decides, for a Vulkan call about to be made, whether to
// fail it instead: it returns Success to let the call through, or the
// VkResult to fail with. Op is the Vulkan command ("vkAllocateMemory",
// "vkCreateBuffer", "vkCreateImage", "vkQueueSubmit", "vkWaitForFences",
// "vkGetFenceStatus", "vkGetSemaphoreCounterValue", "vkWaitSemaphores",
// "vkMapMemory"). An injected failure is returned as an *Error like a real
// one, and the call is not made.
type FaultInjector func(op string) Result

// SetFaultInjector installs f (nil removes it). It is safe to call at any
// time; with none installed a call costs one atomic load.
func (d *Device) SetFaultInjector(f FaultInjector) {
	if f == nil {
		d.faults.Store(nil)
		return
	}
	d.faults.Store(&f)
}

// fault reports an injected failure for op, or nil.
func (d *Device) fault(op string) error {
	p := d.faults.Load()
	if p == nil {
		return nil
	}
	if r := (*p)(op); r != Success {
		return &Error{Op: op, Result: r}
	}
	return nil
}

type faultSlot = atomic.Pointer[FaultInjector]
