package simdev

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"

	"github.com/vkassets/vkassets/vk"
)

// ErrViolation is wrapped by every error a call returns because the caller
// broke a rule of the Vulkan specification (or one of the stricter rules
// this package adds); the rule is also recorded in Violations.
var ErrViolation = errors.New("Vulkan usage violation")

// wholeSize is VK_WHOLE_SIZE.
const wholeSize = ^uint64(0)

// Options configure a simulated device.
type Options struct {
	// Budget simulates VK_EXT_memory_budget: the device lists the extension
	// and MemoryBudget reports live usage.
	Budget bool
	// BudgetFraction is the part of each heap reported as the budget when
	// Budget is set; 0 means 0.9.
	BudgetFraction float64
	// Features are the optional features the simulated device has enabled:
	// it lists VK_EXT_memory_priority and
	// VK_EXT_pageable_device_local_memory when they are set, reports them
	// in Features, and checks the vkAllocateMemory pNext chains they allow
	// (see AllocateMemory).
	Features vk.Features
	// Unchecked skips the per-bind overlap and granularity scan and the
	// record of destroyed handles, so that the fake driver costs little in
	// benchmarks of the allocator. The other checks stay.
	Unchecked bool
}

// Range is one FlushMemory or InvalidateMemory call, as the caller passed it
// (Size may be VK_WHOLE_SIZE, ^uint64(0)).
type Range struct {
	Memory       vk.DeviceMemory
	Offset, Size uint64
}

// MemoryInfo describes one live simulated VkDeviceMemory.
type MemoryInfo struct {
	Memory          vk.DeviceMemory
	Size            uint64
	TypeIndex       uint32
	Heap            uint32
	DedicatedBuffer vk.Buffer
	DedicatedImage  vk.Image
	Mapped          bool
	Bound           int // resources bound to it now
	// DeviceAddress: allocated with VK_MEMORY_ALLOCATE_DEVICE_ADDRESS_BIT.
	DeviceAddress bool
	// WithPriority: allocated with VkMemoryPriorityAllocateInfoEXT;
	// Priority is that priority, or the last vkSetDeviceMemoryPriorityEXT's.
	WithPriority bool
	Priority     float32
	// PrioritySets counts the vkSetDeviceMemoryPriorityEXT calls on it.
	PrioritySets int
}

// Device is a simulated Vulkan device. It implements alloc.Device. It keeps
// no GPU state: memory is bookkeeping plus a Go slice made when the memory is
// first mapped. Every call is safe for concurrent use.
type Device struct {
	mu        sync.Mutex
	phys      *vk.PhysicalDevice
	budget    bool
	features  vk.Features
	fraction  float64
	unchecked bool

	next     uint64 // last handle given out; handles are unique across kinds
	memories map[vk.DeviceMemory]*memory
	buffers  map[vk.Buffer]*resource
	images   map[vk.Image]*resource
	gone     map[uint64]string // freed or destroyed handles, by kind

	heapBytes, heapPeak []uint64
	calls, injected     int

	failNext   int
	failResult vk.Result
	failLarger uint64
	hook       func(vk.MemoryAllocateInfo) error
	dedicated  func(vk.ImageInfo) bool

	violations          []string
	flushes, invalidate []Range
}

type memory struct {
	handle    vk.DeviceMemory
	size      uint64
	typeIndex uint32
	heap      uint32
	dedBuffer vk.Buffer
	dedImage  vk.Image

	deviceAddress bool
	withPriority  bool
	priority      float32
	prioritySets  int

	data               []byte // made on first map
	mapped             bool
	mapOffset, mapSize uint64 // the mapped range, size resolved

	bound []*resource
}

// Names lists the devices of the data file, in its order.
func Names() []string {
	s := mustSpecs()
	out := make([]string, len(s))
	for i, p := range s {
		out[i] = p.Name
	}
	return out
}

// Load makes a simulated device without VK_EXT_memory_budget. name is a
// device name or a case-insensitive part of one that matches a single device
// ("1080 Ti", "Mali", "llvmpipe", "RX 480", "RADV", …).
func Load(name string) (*Device, error) { return LoadWith(name, Options{}) }

// LoadWith makes a simulated device with options.
func LoadWith(name string, opts Options) (*Device, error) {
	s, err := loadSpecs()
	if err != nil {
		return nil, err
	}
	if opts.BudgetFraction == 0 {
		opts.BudgetFraction = 0.9
	}
	if !(opts.BudgetFraction > 0 && opts.BudgetFraction <= 1) {
		return nil, fmt.Errorf("simdev: BudgetFraction %v is not in (0, 1]", opts.BudgetFraction)
	}
	p, err := find(s, name)
	if err != nil {
		return nil, err
	}
	return newDevice(p, opts), nil
}

// LoadAll makes one device, without VK_EXT_memory_budget, for each entry
// of the data file.
func LoadAll() []*Device {
	s := mustSpecs()
	out := make([]*Device, len(s))
	for i, p := range s {
		out[i] = newDevice(p, Options{BudgetFraction: 0.9})
	}
	return out
}

func find(s []*vk.PhysicalDevice, name string) (*vk.PhysicalDevice, error) {
	for _, p := range s {
		if p.Name == name {
			return p, nil
		}
	}
	var match []*vk.PhysicalDevice
	if name != "" {
		for _, p := range s {
			if strings.Contains(strings.ToLower(p.Name), strings.ToLower(name)) {
				match = append(match, p)
			}
		}
	}
	names := func(ps []*vk.PhysicalDevice) string {
		q := make([]string, len(ps))
		for i, p := range ps {
			q[i] = fmt.Sprintf("%q", p.Name)
		}
		return strings.Join(q, ", ")
	}
	switch len(match) {
	case 1:
		return match[0], nil
	case 0:
		return nil, fmt.Errorf("simdev: no device matches %q; the devices are %s", name, names(s))
	}
	return nil, fmt.Errorf("simdev: %q matches several devices: %s", name, names(match))
}

func newDevice(tmpl *vk.PhysicalDevice, opts Options) *Device {
	p := clone(tmpl)
	if opts.Budget {
		p.Extensions = append(p.Extensions, "VK_EXT_memory_budget")
	}
	if opts.Features.PageableDeviceLocalMemory {
		opts.Features.MemoryPriority = true // the extension requires it
	}
	if opts.Features.MemoryPriority {
		p.Extensions = append(p.Extensions, "VK_EXT_memory_priority")
	}
	if opts.Features.PageableDeviceLocalMemory {
		p.Extensions = append(p.Extensions, "VK_EXT_pageable_device_local_memory")
	}
	return &Device{
		phys:      p,
		budget:    opts.Budget,
		features:  opts.Features,
		unchecked: opts.Unchecked,
		fraction:  opts.BudgetFraction,
		next:      0x1000,
		memories:  map[vk.DeviceMemory]*memory{},
		buffers:   map[vk.Buffer]*resource{},
		images:    map[vk.Image]*resource{},
		gone:      map[uint64]string{},
		heapBytes: make([]uint64, len(p.Memory.Heaps)),
		heapPeak:  make([]uint64, len(p.Memory.Heaps)),
	}
}

// Features are the optional features enabled (Options.Features).
func (d *Device) Features() vk.Features { return d.features }

// Physical returns the simulated device's properties. Do not modify them.
func (d *Device) Physical() *vk.PhysicalDevice { return d.phys }

// MemoryBudget reports each heap's budget. Without Options.Budget it is what
// vk.Device reports without the extension: 80% of the heap and no usage.
// With it, the budget is BudgetFraction of the heap and the usage is the
// bytes allocated from the heap now.
func (d *Device) MemoryBudget() []vk.HeapBudget {
	d.mu.Lock()
	defer d.mu.Unlock()
	heaps := d.phys.Memory.Heaps
	out := make([]vk.HeapBudget, len(heaps))
	for i, h := range heaps {
		if !d.budget {
			out[i] = vk.HeapBudget{Budget: h.Size / 10 * 8}
			continue
		}
		out[i] = vk.HeapBudget{
			Budget:        uint64(math.Floor(float64(h.Size) * d.fraction)),
			Usage:         d.heapBytes[i],
			FromExtension: true,
		}
	}
	return out
}

// violate records a violation and returns it as an error wrapping ErrViolation.
// d.mu is held.
func (d *Device) violate(format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	d.violations = append(d.violations, msg)
	return fmt.Errorf("simdev: %w: %s", ErrViolation, msg)
}

func (d *Device) handle() uint64 {
	d.next++
	return d.next
}

// unknown describes a handle that is not live, for violation messages.
func (d *Device) unknown(kind string, h uint64) string {
	if d.gone[h] == kind {
		return fmt.Sprintf("%s %d, already freed or destroyed", kind, h)
	}
	return fmt.Sprintf("unknown %s %d", kind, h)
}

// AllocateMemory simulates vkAllocateMemory. In this order:
//   - a memory type index out of range, a zero size, or a malformed dedicated
//     allocation is a violation, returned as an error wrapping ErrViolation;
//   - failures injected with FailNext, FailLargerThan or SetAllocateHook;
//   - more live allocations than maxMemoryAllocationCount is a violation
//     (VUID-vkAllocateMemory-maxMemoryAllocationCount-04101) and fails with
//     VK_ERROR_TOO_MANY_OBJECTS;
//   - more bytes than the heap holds fails with VK_ERROR_OUT_OF_DEVICE_MEMORY
//     (no violation: a real device does that).
//
// The optional chains are checked first, with the violations: DeviceAddress
// (VkMemoryAllocateFlagsInfo) needs Features.BufferDeviceAddress,
// WithPriority (VkMemoryPriorityAllocateInfoEXT) needs
// Features.MemoryPriority, and a priority lies in [0, 1]. Memories records
// what was chained.
//
// Vulkan errors are *vk.Error with Op "vkAllocateMemory".
func (d *Device) AllocateMemory(info vk.MemoryAllocateInfo) (vk.DeviceMemory, error) {
	d.mu.Lock()
	d.calls++
	types := d.phys.Memory.Types
	if int(info.TypeIndex) >= len(types) {
		err := d.violate("VUID-vkAllocateMemory-pAllocateInfo-01714: vkAllocateMemory with memory type index %d, but the device has %d types",
			info.TypeIndex, len(types))
		d.mu.Unlock()
		return 0, err
	}
	if info.Size == 0 {
		err := d.violate("VUID-VkMemoryAllocateInfo-allocationSize-07899: vkAllocateMemory of 0 bytes (type %d)", info.TypeIndex)
		d.mu.Unlock()
		return 0, err
	}
	if err := d.checkDedicated(info); err != nil {
		d.mu.Unlock()
		return 0, err
	}
	if err := d.checkChain(info); err != nil {
		d.mu.Unlock()
		return 0, err
	}
	if d.failNext > 0 {
		d.failNext--
		d.injected++
		r := d.failResult
		d.mu.Unlock()
		return 0, &vk.Error{Op: "vkAllocateMemory", Result: r}
	}
	if d.failLarger != 0 && info.Size > d.failLarger {
		d.injected++
		d.mu.Unlock()
		return 0, &vk.Error{Op: "vkAllocateMemory", Result: vk.ErrorOutOfDeviceMemory}
	}
	hook := d.hook
	d.mu.Unlock()

	if hook != nil {
		if err := hook(info); err != nil {
			d.mu.Lock()
			d.injected++
			d.mu.Unlock()
			return 0, err
		}
	}

	d.mu.Lock()
	defer d.mu.Unlock()
	if maxCount := uint64(d.phys.Limits.MaxMemoryAllocationCount); uint64(len(d.memories)) >= maxCount {
		d.violate("VUID-vkAllocateMemory-maxMemoryAllocationCount-04101: vkAllocateMemory with %d allocations live, maxMemoryAllocationCount is %d",
			len(d.memories), maxCount)
		return 0, &vk.Error{Op: "vkAllocateMemory", Result: vk.ErrorTooManyObjects}
	}
	heap := types[info.TypeIndex].HeapIndex
	if info.Size > d.phys.Memory.Heaps[heap].Size-d.heapBytes[heap] {
		return 0, &vk.Error{Op: "vkAllocateMemory", Result: vk.ErrorOutOfDeviceMemory}
	}
	m := &memory{
		handle: vk.DeviceMemory(d.handle()), size: info.Size, typeIndex: info.TypeIndex, heap: heap,
		dedBuffer: info.DedicatedBuffer, dedImage: info.DedicatedImage,
		deviceAddress: info.DeviceAddress, withPriority: info.WithPriority, priority: info.Priority,
	}
	d.memories[m.handle] = m
	d.heapBytes[heap] += info.Size
	d.heapPeak[heap] = max(d.heapPeak[heap], d.heapBytes[heap])
	return m.handle, nil
}

// checkDedicated validates VkMemoryDedicatedAllocateInfo. d.mu is held.
func (d *Device) checkDedicated(info vk.MemoryAllocateInfo) error {
	if info.DedicatedBuffer != 0 && info.DedicatedImage != 0 {
		return d.violate("VUID-VkMemoryDedicatedAllocateInfo-image-01432: vkAllocateMemory dedicated to both buffer %d and image %d",
			info.DedicatedBuffer, info.DedicatedImage)
	}
	var r *resource
	var vuid string
	switch {
	case info.DedicatedBuffer != 0:
		if r = d.buffers[info.DedicatedBuffer]; r == nil {
			return d.violate("vkAllocateMemory dedicated to %s", d.unknown("buffer", uint64(info.DedicatedBuffer)))
		}
		vuid = "VUID-VkMemoryDedicatedAllocateInfo-buffer-02965"
	case info.DedicatedImage != 0:
		if r = d.images[info.DedicatedImage]; r == nil {
			return d.violate("vkAllocateMemory dedicated to %s", d.unknown("image", uint64(info.DedicatedImage)))
		}
		vuid = "VUID-VkMemoryDedicatedAllocateInfo-image-02964"
	default:
		return nil
	}
	if info.Size != r.req.Size {
		return d.violate("%s: vkAllocateMemory of %d bytes dedicated to %s %d, whose requirements size is %d",
			vuid, info.Size, r.kind, r.handle, r.req.Size)
	}
	return nil
}

// checkChain validates the flags and priority chains. d.mu is held.
func (d *Device) checkChain(info vk.MemoryAllocateInfo) error {
	if info.DeviceAddress && !d.features.BufferDeviceAddress {
		return d.violate("VUID-VkMemoryAllocateInfo-flags-03331: vkAllocateMemory with VK_MEMORY_ALLOCATE_DEVICE_ADDRESS_BIT, but bufferDeviceAddress is not enabled")
	}
	if info.WithPriority {
		if !d.features.MemoryPriority {
			return d.violate("VUID-VkMemoryAllocateInfo-pNext-pNext: vkAllocateMemory chains VkMemoryPriorityAllocateInfoEXT, but VK_EXT_memory_priority is not enabled")
		}
		if !(info.Priority >= 0 && info.Priority <= 1) {
			return d.violate("VUID-VkMemoryPriorityAllocateInfoEXT-priority-02602: priority %v is not in [0, 1]", info.Priority)
		}
	}
	return nil
}

// SetMemoryPriority simulates vkSetDeviceMemoryPriorityEXT: it needs
// Features.PageableDeviceLocalMemory, live memory and a priority in [0, 1];
// Memories then reports the new priority.
func (d *Device) SetMemoryPriority(m vk.DeviceMemory, priority float32) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.features.PageableDeviceLocalMemory {
		return d.violate("vkSetDeviceMemoryPriorityEXT without VK_EXT_pageable_device_local_memory")
	}
	mem := d.memories[m]
	if mem == nil {
		return d.violate("VUID-vkSetDeviceMemoryPriorityEXT-memory-parameter: vkSetDeviceMemoryPriorityEXT of %s", d.unknown("memory", uint64(m)))
	}
	if !(priority >= 0 && priority <= 1) {
		return d.violate("VUID-vkSetDeviceMemoryPriorityEXT-priority-06258: priority %v is not in [0, 1]", priority)
	}
	mem.priority = priority
	mem.prioritySets++
	return nil
}

// FreeMemory simulates vkFreeMemory; 0 is ignored. Freeing memory that is
// not live is a violation, and so is freeing memory while a buffer or image
// is still bound to it: Vulkan allows that as long as the resource is never
// used again, but an allocator must destroy its resources first, so this
// device insists on that order. Mapped memory is unmapped implicitly.
func (d *Device) FreeMemory(m vk.DeviceMemory) {
	if m == 0 {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	mem := d.memories[m]
	if mem == nil {
		d.violate("VUID-vkFreeMemory-memory-parameter: vkFreeMemory of %s", d.unknown("memory", uint64(m)))
		return
	}
	for _, r := range mem.bound {
		d.violate("freed memory %d while %s %d is still bound (at offset %d, %d bytes): destroy resources before freeing their memory",
			m, r.kind, r.handle, r.offset, r.req.Size)
		r.mem = nil // stays bound, to memory that no longer exists
	}
	delete(d.memories, m)
	d.gone[uint64(m)] = "memory"
	d.heapBytes[mem.heap] -= mem.size
}

// MapMemory simulates vkMapMemory: it returns size bytes (VK_WHOLE_SIZE: to
// the end) from offset of a Go slice kept for the memory, so what is written
// stays across unmap and map. The memory type must be HOST_VISIBLE, the
// memory not mapped already, and the range inside it.
func (d *Device) MapMemory(m vk.DeviceMemory, offset, size uint64) ([]byte, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	mem := d.memories[m]
	if mem == nil {
		return nil, d.violate("vkMapMemory of %s", d.unknown("memory", uint64(m)))
	}
	if fl := d.phys.Memory.Types[mem.typeIndex].Flags; fl&vk.MemoryHostVisible == 0 {
		return nil, d.violate("VUID-vkMapMemory-memory-00682: vkMapMemory of memory %d of type %d, which is not HOST_VISIBLE (%s)",
			m, mem.typeIndex, fl)
	}
	if mem.mapped {
		return nil, d.violate("VUID-vkMapMemory-memory-00678: vkMapMemory of memory %d, which is already mapped", m)
	}
	if offset >= mem.size {
		return nil, d.violate("VUID-vkMapMemory-offset-00679: vkMapMemory of memory %d at offset %d, but it has %d bytes", m, offset, mem.size)
	}
	if size == wholeSize {
		size = mem.size - offset
	} else if size == 0 {
		return nil, d.violate("VUID-vkMapMemory-size-00680: vkMapMemory of 0 bytes of memory %d", m)
	} else if size > mem.size-offset {
		return nil, d.violate("VUID-vkMapMemory-size-00681: vkMapMemory of memory %d, bytes [%d, %d), beyond its %d bytes",
			m, offset, offset+size, mem.size)
	}
	if mem.data == nil {
		mem.data = make([]byte, mem.size)
	}
	mem.mapped, mem.mapOffset, mem.mapSize = true, offset, size
	return mem.data[offset : offset+size : offset+size], nil
}

// UnmapMemory simulates vkUnmapMemory; unmapping memory that is not mapped
// is a violation.
func (d *Device) UnmapMemory(m vk.DeviceMemory) {
	d.mu.Lock()
	defer d.mu.Unlock()
	mem := d.memories[m]
	switch {
	case mem == nil:
		d.violate("vkUnmapMemory of %s", d.unknown("memory", uint64(m)))
	case !mem.mapped:
		d.violate("VUID-vkUnmapMemory-memory-00689: vkUnmapMemory of memory %d, which is not mapped", m)
	default:
		mem.mapped = false
	}
}

// FlushMemory simulates vkFlushMappedMemoryRanges for one range and records
// it in Flushes. See checkRange for the rules.
func (d *Device) FlushMemory(m vk.DeviceMemory, offset, size uint64) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.flushes = append(d.flushes, Range{m, offset, size})
	return d.checkRange("vkFlushMappedMemoryRanges", m, offset, size)
}

// InvalidateMemory simulates vkInvalidateMappedMemoryRanges for one range
// and records it in Invalidates. See checkRange for the rules.
func (d *Device) InvalidateMemory(m vk.DeviceMemory, offset, size uint64) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.invalidate = append(d.invalidate, Range{m, offset, size})
	return d.checkRange("vkInvalidateMappedMemoryRanges", m, offset, size)
}

// checkRange applies the VkMappedMemoryRange rules: the memory is mapped,
// the range lies in the mapped range, offset is a multiple of
// nonCoherentAtomSize and size is one too or reaches the end of the memory
// (VK_WHOLE_SIZE: the end of the mapping is a multiple or the end of the
// memory). The rules hold for HOST_COHERENT memory too, where the call is
// allowed but useless. d.mu is held.
func (d *Device) checkRange(op string, m vk.DeviceMemory, offset, size uint64) error {
	mem := d.memories[m]
	if mem == nil {
		return d.violate("%s of %s", op, d.unknown("memory", uint64(m)))
	}
	if !mem.mapped {
		return d.violate("VUID-VkMappedMemoryRange-memory-00684: %s of memory %d, which is not mapped", op, m)
	}
	atom := d.phys.Limits.NonCoherentAtomSize
	mapEnd := mem.mapOffset + mem.mapSize
	if size == wholeSize {
		if offset < mem.mapOffset || offset >= mapEnd {
			return d.violate("VUID-VkMappedMemoryRange-size-00686: %s of memory %d from offset %d to the end, outside the mapped range [%d, %d)",
				op, m, offset, mem.mapOffset, mapEnd)
		}
	} else if offset < mem.mapOffset || size > mapEnd-offset || offset > mapEnd {
		return d.violate("VUID-VkMappedMemoryRange-size-00685: %s of memory %d, bytes [%d, %d), outside the mapped range [%d, %d)",
			op, m, offset, offset+size, mem.mapOffset, mapEnd)
	}
	if offset%atom != 0 {
		return d.violate("VUID-VkMappedMemoryRange-offset-00687: %s of memory %d at offset %d, not a multiple of nonCoherentAtomSize %d",
			op, m, offset, atom)
	}
	if size == wholeSize {
		if mapEnd%atom != 0 && mapEnd != mem.size {
			return d.violate("VUID-VkMappedMemoryRange-size-01389: %s of memory %d with VK_WHOLE_SIZE, but the mapping ends at %d, neither a multiple of nonCoherentAtomSize %d nor the end of the memory (%d)",
				op, m, mapEnd, atom, mem.size)
		}
	} else if size%atom != 0 && offset+size != mem.size {
		return d.violate("VUID-VkMappedMemoryRange-size-01390: %s of memory %d, %d bytes at offset %d: not a multiple of nonCoherentAtomSize %d, nor reaching the end of the memory (%d)",
			op, m, size, offset, atom, mem.size)
	}
	return nil
}

// FailNext makes the next n calls of AllocateMemory that pass validation
// fail with result (0 means VK_ERROR_OUT_OF_DEVICE_MEMORY); n = 0 cancels.
func (d *Device) FailNext(n int, result vk.Result) {
	if result == vk.Success {
		result = vk.ErrorOutOfDeviceMemory
	}
	d.mu.Lock()
	d.failNext, d.failResult = max(n, 0), result
	d.mu.Unlock()
}

// FailLargerThan makes every allocation of more than size bytes fail with
// VK_ERROR_OUT_OF_DEVICE_MEMORY; 0 disables it.
func (d *Device) FailLargerThan(size uint64) {
	d.mu.Lock()
	d.failLarger = size
	d.mu.Unlock()
}

// SetAllocateHook has AllocateMemory call hook, after validation and the
// other injections and before the heap and count checks, and fail with the
// error it returns, if any; nil removes it. The hook runs without the
// device's lock held, so it may call the device.
func (d *Device) SetAllocateHook(hook func(info vk.MemoryAllocateInfo) error) {
	d.mu.Lock()
	d.hook = hook
	d.mu.Unlock()
}

// InjectedFailures counts AllocateMemory calls failed by FailNext,
// FailLargerThan or the hook.
func (d *Device) InjectedFailures() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.injected
}

// AllocateCalls counts AllocateMemory calls, failed ones included.
func (d *Device) AllocateCalls() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.calls
}

// LiveAllocations counts memories allocated and not freed.
func (d *Device) LiveAllocations() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.memories)
}

// AllocatedBytes is the bytes of live memories in heap.
func (d *Device) AllocatedBytes(heap int) uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.heapBytes[heap]
}

// PeakAllocatedBytes is the most AllocatedBytes(heap) has been.
func (d *Device) PeakAllocatedBytes(heap int) uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.heapPeak[heap]
}

// Memory describes a live memory; false when m is not live.
func (d *Device) Memory(m vk.DeviceMemory) (MemoryInfo, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	mem := d.memories[m]
	if mem == nil {
		return MemoryInfo{}, false
	}
	return mem.info(), true
}

// Memories describes every live memory, in allocation order.
func (d *Device) Memories() []MemoryInfo {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]MemoryInfo, 0, len(d.memories))
	for _, mem := range d.memories {
		out = append(out, mem.info())
	}
	slices.SortFunc(out, func(a, b MemoryInfo) int { return cmp.Compare(uint64(a.Memory), uint64(b.Memory)) })
	return out
}

func (mem *memory) info() MemoryInfo {
	return MemoryInfo{
		Memory: mem.handle, Size: mem.size, TypeIndex: mem.typeIndex, Heap: mem.heap,
		DedicatedBuffer: mem.dedBuffer, DedicatedImage: mem.dedImage, Mapped: mem.mapped, Bound: len(mem.bound),
		DeviceAddress: mem.deviceAddress, WithPriority: mem.withPriority, Priority: mem.priority, PrioritySets: mem.prioritySets,
	}
}

// Flushes lists the FlushMemory calls, in order.
func (d *Device) Flushes() []Range {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.flushes)
}

// Invalidates lists the InvalidateMemory calls, in order.
func (d *Device) Invalidates() []Range {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.invalidate)
}

// Violations lists every rule broken so far, in order. Each starts with the
// VUID of the rule where Vulkan has one; overlap and bufferImageGranularity
// conflicts and freeing memory with resources bound have none.
func (d *Device) Violations() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.violations)
}

// Leaks lists the live memories, buffers and images, one line each.
func (d *Device) Leaks() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for _, mi := range d.memoriesLocked() {
		s := fmt.Sprintf("memory %d: %d bytes of type %d (heap %d)", mi.handle, mi.size, mi.typeIndex, mi.heap)
		if mi.dedBuffer != 0 {
			s += fmt.Sprintf(", dedicated to buffer %d", mi.dedBuffer)
		}
		if mi.dedImage != 0 {
			s += fmt.Sprintf(", dedicated to image %d", mi.dedImage)
		}
		out = append(out, s)
	}
	for _, r := range d.resourcesLocked() {
		s := fmt.Sprintf("%s %d: %d bytes", r.kind, r.handle, r.req.Size)
		switch {
		case r.bound && r.mem != nil:
			s += fmt.Sprintf(", bound to memory %d at offset %d", r.mem.handle, r.offset)
		case r.bound:
			s += fmt.Sprintf(", bound to freed memory %d", r.memHandle)
		default:
			s += ", unbound"
		}
		out = append(out, s)
	}
	return out
}

func (d *Device) memoriesLocked() []*memory {
	out := make([]*memory, 0, len(d.memories))
	for _, m := range d.memories {
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b *memory) int { return cmp.Compare(uint64(a.handle), uint64(b.handle)) })
	return out
}
