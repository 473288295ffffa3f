package alloc

import (
	"errors"
	"fmt"

	"github.com/vkassets/vkassets/vk"
)

// CreateBuffer creates a buffer, allocates memory for it and binds it. On
// any failure nothing is left behind. After Close it returns ErrClosed and
// creates nothing.
func (a *Allocator) CreateBuffer(size uint64, usage vk.BufferUsage, o AllocationOptions) (vk.Buffer, Allocation, error) {
	if a.closed.Load() {
		return 0, Allocation{}, fmt.Errorf("create buffer %q: %w", o.Name, ErrClosed)
	}
	if size == 0 {
		return 0, Allocation{}, fmt.Errorf("create buffer %q: %w", o.Name, ErrZeroSize)
	}
	if usage&vk.BufferUsageShaderDeviceAddress != 0 && !a.opts.BufferDeviceAddress {
		return 0, Allocation{}, fmt.Errorf("create buffer %q: SHADER_DEVICE_ADDRESS usage: %w", o.Name, ErrDeviceAddressOff)
	}
	var b vk.Buffer
	var err error
	if len(o.QueueFamilies) == 0 {
		b, err = a.dev.CreateBuffer(size, usage)
	} else if sd, ok := a.dev.(sharedBufferDevice); ok {
		b, err = sd.CreateSharedBuffer(size, usage, o.QueueFamilies)
	} else {
		err = errors.New("the device cannot share buffers between queue families")
	}
	if err != nil {
		return 0, Allocation{}, fmt.Errorf("create buffer %q: %w", o.Name, err)
	}
	o.Kind, o.resUsage = KindLinear, uint32(usage)
	req, err := a.requirements(a.dev.BufferRequirements(b))
	var al Allocation
	if err == nil {
		al, err = a.allocate(req, &o, b, 0)
	}
	if err == nil {
		if err = a.dev.BindBufferMemory(b, al.Memory, al.Offset); err != nil {
			_ = a.Free(al)
		}
	}
	if err != nil {
		a.dev.DestroyBuffer(b)
		return 0, Allocation{}, fmt.Errorf("create buffer %q: %w", o.Name, err)
	}
	return b, al, nil
}

// DestroyBuffer destroys the buffer, then frees its memory. The allocation
// is checked first: when Free would refuse it (a second DestroyBuffer of
// the same pair, a stale or foreign Allocation) the buffer is not
// destroyed either, and the error says why. It works after Close.
func (a *Allocator) DestroyBuffer(b vk.Buffer, al Allocation) error {
	return a.free(al, b, 0)
}

// CreateImage creates an image, allocates memory for it and binds it. On
// any failure nothing is left behind. After Close it returns ErrClosed and
// creates nothing.
func (a *Allocator) CreateImage(info vk.ImageInfo, o AllocationOptions) (vk.Image, Allocation, error) {
	if a.closed.Load() {
		return 0, Allocation{}, fmt.Errorf("create image %q: %w", o.Name, ErrClosed)
	}
	if info.Width == 0 || info.Height == 0 {
		return 0, Allocation{}, fmt.Errorf("create image %q: %w: %dx%d", o.Name, ErrZeroSize, info.Width, info.Height)
	}
	if len(info.QueueFamilies) == 0 {
		info.QueueFamilies = o.QueueFamilies
	}
	img, err := a.dev.CreateImage(info)
	if err != nil {
		return 0, Allocation{}, fmt.Errorf("create image %q: %w", o.Name, err)
	}
	o.Kind, o.resUsage = KindOptimal, uint32(info.Usage)
	if info.Tiling == vk.TilingLinear {
		o.Kind = KindLinear
	}
	if info.Usage&vk.ImageUsageTransientAttachment != 0 && o.Usage == UsageAuto {
		o.Usage = UsageTransient
	}
	req, err := a.requirements(a.dev.ImageRequirements(img))
	var al Allocation
	if err == nil {
		al, err = a.allocate(req, &o, 0, img)
	}
	if err == nil {
		if err = a.dev.BindImageMemory(img, al.Memory, al.Offset); err != nil {
			_ = a.Free(al)
		}
	}
	if err != nil {
		a.dev.DestroyImage(img)
		return 0, Allocation{}, fmt.Errorf("create image %q: %w", o.Name, err)
	}
	return img, al, nil
}

// DestroyImage destroys the image, then frees its memory; like
// DestroyBuffer, it destroys nothing when the allocation is refused.
func (a *Allocator) DestroyImage(img vk.Image, al Allocation) error {
	return a.free(al, 0, img)
}

// requirements passes on what the driver asks of a buffer or an image. A
// vk.Device closed on another goroutine since the object was made answers
// zeros: that is the device's ErrClosed, not a request of size zero.
func (a *Allocator) requirements(req vk.MemoryRequirements) (vk.MemoryRequirements, error) {
	if d, ok := a.dev.(interface{ Closed() bool }); ok && req.Size == 0 && d.Closed() {
		return req, vk.ErrClosed
	}
	return req, nil
}
