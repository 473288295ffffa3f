package alloc

import "github.com/vkassets/vkassets/vk"

// Device is what the allocator needs of a Vulkan device: its memory
// properties, memory calls, and buffer/image calls for CreateBuffer and
// CreateImage. *vk.Device implements it; package alloc/simdev simulates the
// memory layouts of real GPUs that lavapipe lacks.
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
