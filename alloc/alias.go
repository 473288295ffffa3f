package alloc

import (
	"errors"
	"fmt"

	"github.com/vkassets/vkassets/vk"
)

var (
	// ErrAliasMismatch: a resource cannot be bound over an allocation
	// (CreateAliasingBuffer, CreateAliasingImage): it does not fit at the
	// offset, the offset breaks its alignment, its memory type bits leave
	// out the allocation's type, or it needs memory of its own.
	ErrAliasMismatch = errors.New("alloc: resource does not fit the allocation")
	// ErrNotDedicated: SetPriority of a sub-allocation, whose memory is
	// shared with others.
	ErrNotDedicated = errors.New("alloc: allocation shares its memory")
)

// CreateAliasingBuffer creates a buffer and binds it at offset within an
// existing allocation, as vmaCreateAliasingBuffer2 does: several resources
// can so share memory whose uses do not overlap in time (transient
// attachments of different passes, a staging area reused). The allocation
// stays its creator's; the buffer is the caller's, who destroys it with
// the device's DestroyBuffer before the allocation is freed. A raw
// allocation (Allocate) fits any resource kind; over a buffer's or an
// image's own allocation, bind only resources of the same kind, or
// bufferImageGranularity may be broken with its neighbours.
//
// It is refused, with an error wrapping ErrAliasMismatch and nothing left
// behind, when the buffer's requirements do not fit: size past the
// allocation's end, an offset that breaks the alignment, memory type bits
// without the allocation's type, or a buffer that requires a dedicated
// allocation; and when the allocation's memory is dedicated to another
// resource. A stale or foreign Allocation is refused as by Free; after
// Close it returns ErrClosed. A shader-device-address buffer needs
// Options.BufferDeviceAddress (else ErrDeviceAddressOff).
func (a *Allocator) CreateAliasingBuffer(al Allocation, offset, size uint64, usage vk.BufferUsage) (vk.Buffer, error) {
	if a.closed.Load() {
		return 0, fmt.Errorf("create aliasing buffer: %w", ErrClosed)
	}
	l, err := a.listOf(al)
	if err != nil {
		return 0, fmt.Errorf("create aliasing buffer: %w", err)
	}
	if size == 0 {
		return 0, fmt.Errorf("create aliasing buffer: %w", ErrZeroSize)
	}
	if usage&vk.BufferUsageShaderDeviceAddress != 0 && !a.opts.BufferDeviceAddress {
		return 0, fmt.Errorf("create aliasing buffer: SHADER_DEVICE_ADDRESS usage: %w", ErrDeviceAddressOff)
	}
	b, err := a.dev.CreateBuffer(size, usage)
	if err != nil {
		return 0, fmt.Errorf("create aliasing buffer: %w", err)
	}
	req, err := a.requirements(a.dev.BufferRequirements(b))
	if err == nil {
		err = l.bindAlias(al, offset, req, func(m vk.DeviceMemory, off uint64) error { return a.dev.BindBufferMemory(b, m, off) })
	}
	if err != nil {
		a.dev.DestroyBuffer(b)
		return 0, fmt.Errorf("create aliasing buffer: %w", err)
	}
	return b, nil
}

// CreateAliasingImage is CreateAliasingBuffer for an image.
func (a *Allocator) CreateAliasingImage(al Allocation, offset uint64, info vk.ImageInfo) (vk.Image, error) {
	if a.closed.Load() {
		return 0, fmt.Errorf("create aliasing image: %w", ErrClosed)
	}
	l, err := a.listOf(al)
	if err != nil {
		return 0, fmt.Errorf("create aliasing image: %w", err)
	}
	if info.Width == 0 || info.Height == 0 {
		return 0, fmt.Errorf("create aliasing image: %w: %dx%d", ErrZeroSize, info.Width, info.Height)
	}
	img, err := a.dev.CreateImage(info)
	if err != nil {
		return 0, fmt.Errorf("create aliasing image: %w", err)
	}
	req, err := a.requirements(a.dev.ImageRequirements(img))
	if err == nil {
		err = l.bindAlias(al, offset, req, func(m vk.DeviceMemory, off uint64) error { return a.dev.BindImageMemory(img, m, off) })
	}
	if err != nil {
		a.dev.DestroyImage(img)
		return 0, fmt.Errorf("create aliasing image: %w", err)
	}
	return img, nil
}

// bindAlias checks that a resource of requirements req fits al at offset
// and binds it with bind, under the lock, so that al cannot be freed in
// between.
func (l *blockList) bindAlias(al Allocation, offset uint64, req vk.MemoryRequirements, bind func(vk.DeviceMemory, uint64) error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.checkLive(al); err != nil {
		return err
	}
	name := nameOr(al.name())
	switch {
	case req.RequiresDedicated:
		return fmt.Errorf("%w: over %q: the resource requires a dedicated allocation", ErrAliasMismatch, name)
	case al.ded != nil && al.ded.kind != KindAny:
		return fmt.Errorf("%w: over %q: its memory is dedicated to its own buffer or image", ErrAliasMismatch, name)
	case req.TypeBits&(1<<al.MemoryType) == 0:
		return fmt.Errorf("%w: over %q: memory type %d is not in the resource's type bits %#b", ErrAliasMismatch, name, al.MemoryType, req.TypeBits)
	case offset > al.Size || req.Size > al.Size-offset:
		return fmt.Errorf("%w: over %q: %d bytes at offset %d past its %d bytes", ErrAliasMismatch, name, req.Size, offset, al.Size)
	case req.Alignment > 1 && (al.Offset+offset)%req.Alignment != 0:
		return fmt.Errorf("%w: over %q: offset %d in the memory is not a multiple of the resource's alignment %d",
			ErrAliasMismatch, name, al.Offset+offset, req.Alignment)
	}
	return bind(al.Memory, al.Offset+offset)
}

// name is a live allocation's debug name; its list's mu is held.
func (al Allocation) name() string {
	if al.ded != nil {
		return al.ded.name
	}
	return al.block.tags[al.sub.Offset].name
}

// BufferDeviceAddress is the device address of a buffer made with
// vk.BufferUsageShaderDeviceAddress (vkGetBufferDeviceAddress): by
// CreateBuffer or CreateAliasingBuffer of this allocator, or bound by the
// caller to its memory. Without Options.BufferDeviceAddress it returns
// ErrDeviceAddressOff; after Close, ErrClosed.
func (a *Allocator) BufferDeviceAddress(b vk.Buffer) (uint64, error) {
	if a.closed.Load() {
		return 0, ErrClosed
	}
	if !a.opts.BufferDeviceAddress {
		return 0, ErrDeviceAddressOff
	}
	d, ok := a.dev.(addressDevice)
	if !ok { // cannot happen: New asked the device for the feature
		return 0, fmt.Errorf("alloc: the device has no vkGetBufferDeviceAddress: %w", vk.ErrFeatureNotPresent)
	}
	return d.BufferDeviceAddress(b)
}

// SetPriority changes the memory priority (here 0 is the lowest, not the
// default) of an allocation with memory of its own (vkSetDeviceMemoryPriorityEXT; VMA has no such call): the
// device must have VK_EXT_pageable_device_local_memory enabled
// (vk.Options.Features.PageableDeviceLocalMemory) and Options.MemoryPriority
// be set, else an error wrapping vk.ErrFeatureNotPresent. A sub-allocation
// shares its block's priority: ErrNotDedicated. A priority outside [0, 1]
// is ErrBadPriority; a stale or foreign Allocation is refused as by Free;
// after Close it returns ErrClosed.
func (a *Allocator) SetPriority(al Allocation, priority float32) error {
	if a.closed.Load() {
		return ErrClosed
	}
	if !(priority >= 0 && priority <= 1) {
		return fmt.Errorf("alloc: SetPriority: %w: %v", ErrBadPriority, priority)
	}
	l, err := a.listOf(al)
	if err != nil {
		return err
	}
	pd, ok := a.dev.(priorityDevice)
	fd, ok2 := a.dev.(featureDevice)
	if !a.opts.MemoryPriority || !ok || !ok2 || !fd.Features().PageableDeviceLocalMemory {
		return fmt.Errorf("alloc: SetPriority: needs Options.MemoryPriority and VK_EXT_pageable_device_local_memory: %w", vk.ErrFeatureNotPresent)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.checkLive(al); err != nil {
		return err
	}
	if al.ded == nil {
		return fmt.Errorf("alloc: SetPriority of %q: %w with block %d: its priority is the block's", nameOr(al.name()), ErrNotDedicated, al.block.id)
	}
	if err := pd.SetMemoryPriority(al.Memory, priority); err != nil {
		return fmt.Errorf("alloc: SetPriority of %q: %w", nameOr(al.ded.name), err)
	}
	return nil
}
