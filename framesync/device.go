package framesync

import (
	"time"

	"github.com/vkassets/vkassets/alloc"
	"github.com/vkassets/vkassets/vk"
)

// Device is what framesync needs of a Vulkan device: fences, semaphores,
// command buffers, submission, and the destroy calls of what it retires.
// *vk.Device implements it; tests wrap one to inject failures (a lost
// device) or to record destruction order.
type Device interface {
	TimelineSemaphores() bool
	WaitIdle() error

	CreateFence(signaled bool) (vk.Fence, error)
	DestroyFence(f vk.Fence)
	ResetFence(f vk.Fence) error
	FenceSignaled(f vk.Fence) (bool, error)
	WaitFence(f vk.Fence, timeout time.Duration) error

	CreateSemaphore() (vk.Semaphore, error)
	CreateTimelineSemaphore(initial uint64) (vk.Semaphore, error)
	DestroySemaphore(s vk.Semaphore)
	SemaphoreValue(s vk.Semaphore) (uint64, error)
	WaitSemaphore(s vk.Semaphore, value uint64, timeout time.Duration) error

	CreateCommandPool(flags vk.CommandPoolFlags) (vk.CommandPool, error)
	DestroyCommandPool(p vk.CommandPool)
	ResetCommandPool(p vk.CommandPool) error
	AllocateCommandBuffer(p vk.CommandPool) (vk.CommandBuffer, error)
	BeginCommandBuffer(c vk.CommandBuffer) error
	EndCommandBuffer(c vk.CommandBuffer) error
	Submit(cmds []vk.CommandBuffer, waits, signals []vk.SemaphoreSubmit, fence vk.Fence) error

	Destroyer
}

// Destroyer destroys the Vulkan objects the retirement queue holds.
type Destroyer interface {
	DestroyImageView(v vk.ImageView)
	DestroySampler(s vk.Sampler)
	DestroyImage(img vk.Image)
	DestroyBuffer(b vk.Buffer)
}

// Freer frees allocations; *alloc.Allocator is one.
type Freer interface {
	Free(a alloc.Allocation) error
}

var (
	_ Device = (*vk.Device)(nil)
	_ Freer  = (*alloc.Allocator)(nil)
)
