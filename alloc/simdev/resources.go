package simdev

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/vkassets/vkassets/vk"
)

// Requirement rules (see BufferRequirements and ImageRequirements).
const (
	bufferAlignment     = 256
	imageAlignment      = 4096
	largeImageAlignment = 65536
	largeImage          = 64 << 10
	imageSizeGranule    = 256
	dedicatedThreshold  = 4 << 20
	texelBytes          = 4 // every format vk names has 4-byte texels
)

type resource struct {
	kind   string // "buffer" or "image"
	handle uint64
	req    vk.MemoryRequirements
	linear bool // buffers and linear-tiling images; optimal images are not
	usage  vk.BufferUsage

	bound     bool
	mem       *memory // nil when unbound, or when the memory was freed under it
	memHandle vk.DeviceMemory
	offset    uint64
}

func (r *resource) String() string {
	if r.kind == "image" && !r.linear {
		return fmt.Sprintf("optimal image %d", r.handle)
	}
	if r.kind == "image" {
		return fmt.Sprintf("linear image %d", r.handle)
	}
	return fmt.Sprintf("buffer %d", r.handle)
}

func alignUp(v, a uint64) uint64 {
	if r := v % a; r != 0 {
		return v + a - r
	}
	return v
}

// typeBits selects memory types by flags.
func (d *Device) typeBits(ok func(vk.MemoryPropertyFlags) bool) uint32 {
	var bits uint32
	for i, t := range d.phys.Memory.Types {
		if ok(t.Flags) {
			bits |= 1 << i
		}
	}
	return bits
}

// linearTypes are the types a buffer or a linear image may use: every type
// with at least one flag that is neither LAZILY_ALLOCATED nor PROTECTED.
// (NVIDIA lists flag-less types, which its drivers offer to some images and
// buffers only; leaving them out keeps the rule simple and honest.)
func (d *Device) linearTypes() uint32 {
	return d.typeBits(func(f vk.MemoryPropertyFlags) bool {
		return f != 0 && f&(vk.MemoryLazilyAllocated|vk.MemoryProtected) == 0
	})
}

// CreateBuffer simulates vkCreateBuffer. Its requirements: alignment 256,
// size rounded up to 256, the types of linearTypes, no dedicated allocation.
func (d *Device) CreateBuffer(size uint64, usage vk.BufferUsage) (vk.Buffer, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if size == 0 {
		return 0, d.violate("VUID-VkBufferCreateInfo-size-00912: vkCreateBuffer of 0 bytes")
	}
	if usage&vk.BufferUsageShaderDeviceAddress != 0 && !d.features.BufferDeviceAddress {
		return 0, d.violate("VUID-VkBufferCreateInfo-usage-parameter: vkCreateBuffer with SHADER_DEVICE_ADDRESS usage, but bufferDeviceAddress is not enabled")
	}
	r := &resource{kind: "buffer", handle: d.handle(), linear: true, usage: usage, req: vk.MemoryRequirements{
		Size: alignUp(size, bufferAlignment), Alignment: bufferAlignment, TypeBits: d.linearTypes(),
	}}
	d.buffers[vk.Buffer(r.handle)] = r
	return vk.Buffer(r.handle), nil
}

// CreateImage simulates vkCreateImage. Its requirements: the bytes are
// width×height×depth×layers×4, plus a third when there is more than one mip
// level, rounded up to 256 (not to the alignment: real drivers report sizes
// that are not multiples of it, which is what lets a linear resource fall on
// an image's last bufferImageGranularity page). Alignment is 65536 for
// optimal images of 64 KiB or more, else 4096. Optimal images may use the
// DEVICE_LOCAL types (LAZILY_ALLOCATED ones only with a transient-attachment
// usage); linear images the types a buffer may use. Colour and depth
// attachments of 4 MiB or more prefer a dedicated allocation, and images
// that the RequireDedicatedFor predicate selects require one.
func (d *Device) CreateImage(info vk.ImageInfo) (vk.Image, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if info.Width == 0 || info.Height == 0 {
		return 0, d.violate("VUID-VkImageCreateInfo-extent-00944/00945: vkCreateImage of %d×%d", info.Width, info.Height)
	}
	one := func(v uint32) uint64 { return uint64(max(v, 1)) }
	raw := uint64(info.Width) * uint64(info.Height) * one(info.Depth) * one(info.ArrayLayers) * texelBytes
	if info.MipLevels > 1 {
		raw += raw / 3
	}
	r := &resource{kind: "image", handle: d.handle(), linear: info.Tiling == vk.TilingLinear}
	r.req.Size = alignUp(raw, imageSizeGranule)
	r.req.Alignment = imageAlignment
	if r.linear {
		r.req.TypeBits = d.linearTypes()
	} else {
		if raw >= largeImage {
			r.req.Alignment = largeImageAlignment
		}
		transient := info.Usage&vk.ImageUsageTransientAttachment != 0
		r.req.TypeBits = d.typeBits(func(f vk.MemoryPropertyFlags) bool {
			return f&vk.MemoryDeviceLocal != 0 && f&vk.MemoryProtected == 0 &&
				(transient || f&vk.MemoryLazilyAllocated == 0)
		})
	}
	r.req.PrefersDedicated = info.Usage&(vk.ImageUsageColorAttachment|vk.ImageUsageDepthStencilAttachment) != 0 &&
		r.req.Size >= dedicatedThreshold
	if d.dedicated != nil && d.dedicated(info) {
		r.req.RequiresDedicated = true
		r.req.PrefersDedicated = true
	}
	d.images[vk.Image(r.handle)] = r
	return vk.Image(r.handle), nil
}

// RequireDedicatedFor makes images created from now on for which pred is
// true report RequiresDedicated (binding them to other memory is a
// violation); nil stops it.
func (d *Device) RequireDedicatedFor(pred func(vk.ImageInfo) bool) {
	d.mu.Lock()
	d.dedicated = pred
	d.mu.Unlock()
}

// DestroyBuffer simulates vkDestroyBuffer; 0 is ignored, an unknown or
// destroyed buffer is a violation.
func (d *Device) DestroyBuffer(b vk.Buffer) {
	if b == 0 {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	r := d.buffers[b]
	if r == nil {
		d.violate("VUID-vkDestroyBuffer-buffer-parameter: vkDestroyBuffer of %s", d.unknown("buffer", uint64(b)))
		return
	}
	d.destroy(r)
	delete(d.buffers, b)
}

// DestroyImage simulates vkDestroyImage; 0 is ignored, an unknown or
// destroyed image is a violation.
func (d *Device) DestroyImage(img vk.Image) {
	if img == 0 {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	r := d.images[img]
	if r == nil {
		d.violate("VUID-vkDestroyImage-image-parameter: vkDestroyImage of %s", d.unknown("image", uint64(img)))
		return
	}
	d.destroy(r)
	delete(d.images, img)
}

func (d *Device) destroy(r *resource) {
	if d.unchecked {
		return
	}
	if m := r.mem; m != nil {
		m.bound = slices.DeleteFunc(m.bound, func(x *resource) bool { return x == r })
	}
	d.gone[r.handle] = r.kind
}

// BufferRequirements simulates vkGetBufferMemoryRequirements2; an unknown
// buffer is a violation and gets zero requirements.
func (d *Device) BufferRequirements(b vk.Buffer) vk.MemoryRequirements {
	d.mu.Lock()
	defer d.mu.Unlock()
	r := d.buffers[b]
	if r == nil {
		d.violate("VUID-VkBufferMemoryRequirementsInfo2-buffer-parameter: requirements of %s", d.unknown("buffer", uint64(b)))
		return vk.MemoryRequirements{}
	}
	return r.req
}

// ImageRequirements simulates vkGetImageMemoryRequirements2; an unknown
// image is a violation and gets zero requirements.
func (d *Device) ImageRequirements(img vk.Image) vk.MemoryRequirements {
	d.mu.Lock()
	defer d.mu.Unlock()
	r := d.images[img]
	if r == nil {
		d.violate("VUID-VkImageMemoryRequirementsInfo2-image-parameter: requirements of %s", d.unknown("image", uint64(img)))
		return vk.MemoryRequirements{}
	}
	return r.req
}

// BufferDeviceAddress simulates vkGetBufferDeviceAddress: the buffer must
// be live, made with SHADER_DEVICE_ADDRESS usage and bound, and
// Features.BufferDeviceAddress enabled. The address is made up from the
// memory's handle and the buffer's offset: never 0, stable while the
// buffer is bound, distinct between buffers.
func (d *Device) BufferDeviceAddress(b vk.Buffer) (uint64, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	r := d.buffers[b]
	switch {
	case !d.features.BufferDeviceAddress:
		return 0, d.violate("VUID-vkGetBufferDeviceAddress-bufferDeviceAddress-03324: bufferDeviceAddress is not enabled")
	case r == nil:
		return 0, d.violate("vkGetBufferDeviceAddress of %s", d.unknown("buffer", uint64(b)))
	case r.usage&vk.BufferUsageShaderDeviceAddress == 0:
		return 0, d.violate("VUID-VkBufferDeviceAddressInfo-buffer-02601: vkGetBufferDeviceAddress of %s, made without SHADER_DEVICE_ADDRESS usage", r)
	case r.mem == nil:
		return 0, d.violate("VUID-VkBufferDeviceAddressInfo-buffer-02600: vkGetBufferDeviceAddress of %s, which is not bound", r)
	}
	return uint64(r.memHandle)<<32 | r.offset, nil
}

// BindBufferMemory simulates vkBindBufferMemory. See bind for the rules.
func (d *Device) BindBufferMemory(b vk.Buffer, m vk.DeviceMemory, offset uint64) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	r := d.buffers[b]
	if r == nil {
		return d.violate("VUID-vkBindBufferMemory-buffer-parameter: vkBindBufferMemory of %s", d.unknown("buffer", uint64(b)))
	}
	return d.bind("vkBindBufferMemory", r, m, offset)
}

// BindImageMemory simulates vkBindImageMemory. See bind for the rules.
func (d *Device) BindImageMemory(img vk.Image, m vk.DeviceMemory, offset uint64) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	r := d.images[img]
	if r == nil {
		return d.violate("VUID-vkBindImageMemory-image-parameter: vkBindImageMemory of %s", d.unknown("image", uint64(img)))
	}
	return d.bind("vkBindImageMemory", r, m, offset)
}

// bindVUIDs are the VUID suffixes of vkBindBufferMemory and vkBindImageMemory.
var bindVUIDs = map[string]struct{ bound, offsetInside, typeBits, alignment, size, requiresDedicated, dedicated string }{
	"buffer": {"buffer-07459", "memoryOffset-01031", "memory-01035", "memoryOffset-01036", "size-01037", "buffer-01444", "memory-01508"},
	"image":  {"image-07460", "memoryOffset-01046", "memory-01047", "memoryOffset-01048", "size-01049", "image-01445", "memory-01509"},
}

// bind checks a binding and makes it when nothing is wrong. The rules, each
// a violation that fails the bind and leaves the resource unbound: the
// resource is not bound already; the memory is live; its type is in the
// resource's TypeBits; the offset is a multiple of the alignment; the
// resource fits; memory dedicated to a resource binds that one at offset 0,
// and a resource that requires a dedicated allocation binds only one made for
// it; the resource does not overlap another resource bound to the memory
// (Vulkan allows aliasing, an allocator must not do it by accident); and a
// linear resource (buffer, linear image) and an optimal image share no
// bufferImageGranularity page of the memory. d.mu is held.
func (d *Device) bind(op string, r *resource, m vk.DeviceMemory, offset uint64) error {
	v := bindVUIDs[r.kind]
	vuid := func(s string) string { return "VUID-" + op + "-" + s }
	if r.bound {
		return d.violate("%s: %s of %s, which is already bound to memory %d", vuid(v.bound), op, r, r.memHandle)
	}
	mem := d.memories[m]
	if mem == nil {
		return d.violate("%s of %s to %s", op, r, d.unknown("memory", uint64(m)))
	}
	if offset >= mem.size {
		return d.violate("%s: %s of %s to memory %d at offset %d, but the memory has %d bytes",
			vuid(v.offsetInside), op, r, m, offset, mem.size)
	}
	if r.req.TypeBits&(1<<mem.typeIndex) == 0 {
		return d.violate("%s: %s of %s to memory %d of type %d (%s), not in its memory type bits %#x",
			vuid(v.typeBits), op, r, m, mem.typeIndex, d.phys.Memory.Types[mem.typeIndex].Flags, r.req.TypeBits)
	}
	if offset%r.req.Alignment != 0 {
		return d.violate("%s: %s of %s to memory %d at offset %d, not a multiple of its alignment %d",
			vuid(v.alignment), op, r, m, offset, r.req.Alignment)
	}
	if r.req.Size > mem.size-offset {
		return d.violate("%s: %s of %s (%d bytes) to memory %d at offset %d, beyond its %d bytes",
			vuid(v.size), op, r, r.req.Size, m, offset, mem.size)
	}
	if (mem.dedBuffer != 0 || mem.dedImage != 0) &&
		(r.kind == "buffer" && uint64(mem.dedBuffer) != r.handle || r.kind == "image" && uint64(mem.dedImage) != r.handle || offset != 0) {
		return d.violate("%s: %s of %s to memory %d at offset %d, but the memory is dedicated to %s",
			vuid(v.dedicated), op, r, m, offset, dedicatedTo(mem))
	}
	if r.usage&vk.BufferUsageShaderDeviceAddress != 0 && !mem.deviceAddress {
		return d.violate("VUID-vkBindBufferMemory-bufferDeviceAddress-03339: %s of %s, made with SHADER_DEVICE_ADDRESS usage, to memory %d allocated without VK_MEMORY_ALLOCATE_DEVICE_ADDRESS_BIT",
			op, r, m)
	}
	if r.req.RequiresDedicated && uint64(mem.dedBuffer) != r.handle && uint64(mem.dedImage) != r.handle {
		return d.violate("%s: %s of %s, which requires a dedicated allocation, to memory %d, which is not dedicated to it",
			vuid(v.requiresDedicated), op, r, m)
	}
	r.bound, r.mem, r.memHandle, r.offset = true, mem, m, offset
	if d.unchecked {
		return nil
	}
	r.bound = false
	end := offset + r.req.Size
	g := d.phys.Limits.BufferImageGranularity
	for _, o := range mem.bound {
		oEnd := o.offset + o.req.Size
		if offset < oEnd && o.offset < end {
			return d.violate("overlap: %s of %s to memory %d, bytes [%d, %d), overlaps %s at [%d, %d)",
				op, r, m, offset, end, o, o.offset, oEnd)
		}
		if g > 1 && r.linear != o.linear && offset/g <= (oEnd-1)/g && o.offset/g <= (end-1)/g {
			return d.violate("bufferImageGranularity conflict: %s of %s to memory %d, bytes [%d, %d), shares a %d-byte page with %s at [%d, %d)",
				op, r, m, offset, end, g, o, o.offset, oEnd)
		}
	}
	r.bound, r.mem, r.memHandle, r.offset = true, mem, m, offset
	mem.bound = append(mem.bound, r)
	return nil
}

func dedicatedTo(mem *memory) string {
	if mem.dedBuffer != 0 {
		return fmt.Sprintf("buffer %d", mem.dedBuffer)
	}
	return fmt.Sprintf("image %d", mem.dedImage)
}

func (d *Device) resourcesLocked() []*resource {
	out := make([]*resource, 0, len(d.buffers)+len(d.images))
	for _, r := range d.buffers {
		out = append(out, r)
	}
	for _, r := range d.images {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b *resource) int { return cmp.Compare(a.handle, b.handle) })
	return out
}
