package alloc

import "github.com/vkassets/vkassets/vk"

// Device is what the allocator needs of a Vulkan device: its memory
// properties, memory calls, and buffer/image calls for CreateBuffer and
// CreateImage. *vk.Device implements it; package alloc/simdev simulates the
// memory layouts of real GPUs that lavapipe lacks.
//
// A Device may also have the methods of the optional features —
// Features() vk.Features, BufferDeviceAddress(vk.Buffer) (uint64, error)
// and SetMemoryPriority(vk.DeviceMemory, float32) error, as *vk.Device and
// simdev.Device do — for Options.BufferDeviceAddress, Options.MemoryPriority
// and Allocator.SetPriority; one without them has none of those features.
type Device interface {
	Physical() *vk.PhysicalDevice
	MemoryBudget() []vk.HeapBudget

	AllocateMemory(info vk.MemoryAllocateInfo) (vk.DeviceMemory, error)
	FreeMemory(m vk.DeviceMemory)
	MapMemory(m vk.DeviceMemory, offset, size uint64) ([]byte, error)
	UnmapMemory(m vk.DeviceMemory)
	FlushMemory(m vk.DeviceMemory, offset, size uint64) error
	InvalidateMemory(m vk.DeviceMemory, offset, size uint64) error

	CreateBuffer(size uint64, usage vk.BufferUsage) (vk.Buffer, error)
	DestroyBuffer(b vk.Buffer)
	BufferRequirements(b vk.Buffer) vk.MemoryRequirements
	BindBufferMemory(b vk.Buffer, m vk.DeviceMemory, offset uint64) error

	CreateImage(info vk.ImageInfo) (vk.Image, error)
	DestroyImage(img vk.Image)
	ImageRequirements(img vk.Image) vk.MemoryRequirements
	BindImageMemory(img vk.Image, m vk.DeviceMemory, offset uint64) error
}

var _ Device = (*vk.Device)(nil)

// Optional methods of a Device, asked for with a type assertion: a Device
// without them has none of the features they report. *vk.Device and
// simdev.Device have them all.
type (
	// featureDevice says which optional features are enabled; without it
	// Options.BufferDeviceAddress and Options.MemoryPriority are refused.
	featureDevice interface{ Features() vk.Features }
	// addressDevice answers vkGetBufferDeviceAddress.
	addressDevice interface {
		BufferDeviceAddress(b vk.Buffer) (uint64, error)
	}
	// sharedBufferDevice creates buffers shared by several queue families.
	sharedBufferDevice interface {
		CreateSharedBuffer(size uint64, usage vk.BufferUsage, families []uint32) (vk.Buffer, error)
	}
	// priorityDevice calls vkSetDeviceMemoryPriorityEXT.
	priorityDevice interface {
		SetMemoryPriority(m vk.DeviceMemory, priority float32) error
	}
)

var (
	_ featureDevice      = (*vk.Device)(nil)
	_ addressDevice      = (*vk.Device)(nil)
	_ priorityDevice     = (*vk.Device)(nil)
	_ sharedBufferDevice = (*vk.Device)(nil)
)
