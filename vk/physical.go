package vk

/*
#include "shim.h"
*/
import "C"

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"unsafe"

	vkg "github.com/vulkan-go/vulkan"
)

// DeviceType is VkPhysicalDeviceType.
type DeviceType uint32

// Device types.
const (
	DeviceTypeOther         DeviceType = 0
	DeviceTypeIntegratedGPU DeviceType = 1
	DeviceTypeDiscreteGPU   DeviceType = 2
	DeviceTypeVirtualGPU    DeviceType = 3
	DeviceTypeCPU           DeviceType = 4
)

func (t DeviceType) String() string {
	switch t {
	case DeviceTypeIntegratedGPU:
		return "integrated-gpu"
	case DeviceTypeDiscreteGPU:
		return "discrete-gpu"
	case DeviceTypeVirtualGPU:
		return "virtual-gpu"
	case DeviceTypeCPU:
		return "cpu"
	}
	return "other"
}

// preference ranks device types for automatic choice: lower is better.
func (t DeviceType) preference() int {
	switch t {
	case DeviceTypeDiscreteGPU:
		return 0
	case DeviceTypeIntegratedGPU:
		return 1
	case DeviceTypeVirtualGPU:
		return 2
	case DeviceTypeCPU:
		return 3
	}
	return 4
}

// MemoryPropertyFlags is VkMemoryPropertyFlags.
type MemoryPropertyFlags uint32

// Memory property flags.
const (
	MemoryDeviceLocal     MemoryPropertyFlags = 0x1
	MemoryHostVisible     MemoryPropertyFlags = 0x2
	MemoryHostCoherent    MemoryPropertyFlags = 0x4
	MemoryHostCached      MemoryPropertyFlags = 0x8
	MemoryLazilyAllocated MemoryPropertyFlags = 0x10
	MemoryProtected       MemoryPropertyFlags = 0x20
)

var memoryFlagNames = []string{"DEVICE_LOCAL", "HOST_VISIBLE", "HOST_COHERENT", "HOST_CACHED", "LAZILY_ALLOCATED", "PROTECTED"}

// Names lists the flags set, in VMA's spelling without the prefix.
func (f MemoryPropertyFlags) Names() []string {
	return flagNames(uint32(f), memoryFlagNames)
}

func (f MemoryPropertyFlags) String() string { return strings.Join(f.Names(), "|") }

// HeapFlags is VkMemoryHeapFlags.
type HeapFlags uint32

// Heap flags.
const (
	HeapDeviceLocal   HeapFlags = 0x1
	HeapMultiInstance HeapFlags = 0x2
)

// Names lists the flags set.
func (f HeapFlags) Names() []string {
	return flagNames(uint32(f), []string{"DEVICE_LOCAL", "MULTI_INSTANCE"})
}

func (f HeapFlags) String() string { return strings.Join(f.Names(), "|") }

func flagNames(v uint32, names []string) []string {
	out := []string{}
	for i, n := range names {
		if v&(1<<i) != 0 {
			out = append(out, n)
			v &^= 1 << i
		}
	}
	if v != 0 {
		out = append(out, "0x"+strconv.FormatUint(uint64(v), 16))
	}
	return out
}

// MemoryType is one VkMemoryType.
type MemoryType struct {
	Flags     MemoryPropertyFlags
	HeapIndex uint32
}

// MemoryHeap is one VkMemoryHeap.
type MemoryHeap struct {
	Size  uint64
	Flags HeapFlags
}

// MemoryProperties are a device's memory types and heaps.
type MemoryProperties struct {
	Types []MemoryType
	Heaps []MemoryHeap
}

// Limits are the VkPhysicalDeviceLimits an allocator needs.
type Limits struct {
	MaxMemoryAllocationCount uint32
	BufferImageGranularity   uint64
	NonCoherentAtomSize      uint64
	MinMemoryMapAlignment    uint64
	MaxImageDimension2D      uint32
}

// QueueFlags is VkQueueFlags.
type QueueFlags uint32

// Queue capabilities.
const (
	QueueGraphics QueueFlags = 0x1
	QueueCompute  QueueFlags = 0x2
	QueueTransfer QueueFlags = 0x4
)

// QueueFamily is one VkQueueFamilyProperties.
type QueueFamily struct {
	Flags QueueFlags
	Count uint32
}

// PhysicalFeatures are the optional VkPhysicalDeviceFeatures vkassets
// reads from a physical device (Features, by contrast, are those a device
// is opened with).
type PhysicalFeatures struct {
	// TextureCompressionBC: the BC1–BC7 block-compressed formats can be
	// sampled (VkPhysicalDeviceFeatures.textureCompressionBC).
	TextureCompressionBC bool
}

// PhysicalDevice describes one device the loader reported.
type PhysicalDevice struct {
	Index         int // position in vkEnumeratePhysicalDevices order
	Name          string
	Type          DeviceType
	APIVersion    Version
	DriverVersion uint32
	VendorID      uint32
	DeviceID      uint32
	Limits        Limits
	Memory        MemoryProperties
	QueueFamilies []QueueFamily
	Extensions    []string
	// TimelineSemaphore reports whether the device has Vulkan 1.2 timeline
	// semaphores usable on this instance (false where the instance's
	// apiVersion is below 1.2).
	TimelineSemaphore bool
	// Features are the optional Vulkan 1.0 features vkassets uses that the
	// device offers (NewDevice enables each one it has).
	Features PhysicalFeatures

	handle C.uintptr_t
}

// HasExtension reports whether the device offers the named extension.
func (p *PhysicalDevice) HasExtension(name string) bool {
	for _, e := range p.Extensions {
		if e == name {
			return true
		}
	}
	return false
}

func (p *PhysicalDevice) String() string {
	return fmt.Sprintf("%d: %s [%s, Vulkan %s]", p.Index, p.Name, p.Type, p.APIVersion)
}

// PhysicalDevices lists the devices the loader found, in its order.
func (in *Instance) PhysicalDevices() ([]*PhysicalDevice, error) {
	if !in.gate.enter() {
		return nil, ErrClosed
	}
	defer in.gate.exit()
	return in.physicalDevices()
}

// physicalDevices is PhysicalDevices for a caller inside the gate.
func (in *Instance) physicalDevices() ([]*PhysicalDevice, error) {
	handles, err := in.physicalHandles()
	if err != nil {
		return nil, err
	}
	out := make([]*PhysicalDevice, 0, len(handles))
	for i, h := range handles {
		out = append(out, in.describe(i, h))
	}
	return out, nil
}

// physicalHandles enumerates the VkPhysicalDevices without describing them.
func (in *Instance) physicalHandles() ([]C.uintptr_t, error) {
	var n C.uint32_t
	if err := check("vkEnumeratePhysicalDevices", int32(C.vka_enumerate_physical_devices(in.table, &n, nil))); err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, nil
	}
	handles := make([]C.uintptr_t, n)
	r := C.vka_enumerate_physical_devices(in.table, &n, &handles[0])
	if r != 0 && Result(r) != Incomplete {
		return nil, check("vkEnumeratePhysicalDevices", int32(r))
	}
	return handles[:n], nil
}

// describe reads a device's properties through vulkan-go. Every struct it
// fills through PassRef is freed here: nothing above vk sees that binding.
func (in *Instance) describe(index int, h C.uintptr_t) *PhysicalDevice {
	pd := vkg.PhysicalDevice(C.vka_physical_ptr(h))
	p := &PhysicalDevice{Index: index, handle: h}

	var props vkg.PhysicalDeviceProperties
	vkg.GetPhysicalDeviceProperties(pd, &props)
	props.Deref()
	props.Limits.Deref()
	p.Name = cstr(props.DeviceName[:])
	p.Type = DeviceType(props.DeviceType)
	p.APIVersion = Version(props.ApiVersion)
	p.DriverVersion = props.DriverVersion
	p.VendorID, p.DeviceID = props.VendorID, props.DeviceID
	p.Limits = Limits{
		MaxMemoryAllocationCount: props.Limits.MaxMemoryAllocationCount,
		BufferImageGranularity:   uint64(props.Limits.BufferImageGranularity),
		NonCoherentAtomSize:      uint64(props.Limits.NonCoherentAtomSize),
		MinMemoryMapAlignment:    uint64(props.Limits.MinMemoryMapAlignment),
		MaxImageDimension2D:      props.Limits.MaxImageDimension2D,
	}
	props.Free()

	var mem vkg.PhysicalDeviceMemoryProperties
	vkg.GetPhysicalDeviceMemoryProperties(pd, &mem)
	mem.Deref()
	for i := range mem.MemoryTypeCount {
		t := mem.MemoryTypes[i]
		t.Deref()
		p.Memory.Types = append(p.Memory.Types, MemoryType{Flags: MemoryPropertyFlags(t.PropertyFlags), HeapIndex: t.HeapIndex})
	}
	for i := range mem.MemoryHeapCount {
		hp := mem.MemoryHeaps[i]
		hp.Deref()
		p.Memory.Heaps = append(p.Memory.Heaps, MemoryHeap{Size: uint64(hp.Size), Flags: HeapFlags(hp.Flags)})
	}
	mem.Free()

	var feats vkg.PhysicalDeviceFeatures
	vkg.GetPhysicalDeviceFeatures(pd, &feats)
	feats.Deref()
	p.Features.TextureCompressionBC = feats.TextureCompressionBC == vkg.True
	feats.Free()

	var nq uint32
	vkg.GetPhysicalDeviceQueueFamilyProperties(pd, &nq, nil)
	qs := make([]vkg.QueueFamilyProperties, nq)
	vkg.GetPhysicalDeviceQueueFamilyProperties(pd, &nq, qs)
	for i := range qs[:nq] {
		qs[i].Deref()
		p.QueueFamilies = append(p.QueueFamilies, QueueFamily{Flags: QueueFlags(qs[i].QueueFlags), Count: qs[i].QueueCount})
		qs[i].Free()
	}

	var ne uint32
	if vkg.EnumerateDeviceExtensionProperties(pd, "", &ne, nil) == vkg.Success && ne > 0 {
		es := make([]vkg.ExtensionProperties, ne)
		vkg.EnumerateDeviceExtensionProperties(pd, "", &ne, es)
		for i := range es[:ne] {
			es[i].Deref()
			p.Extensions = append(p.Extensions, cstr(es[i].ExtensionName[:]))
			es[i].Free()
		}
	}
	// Timeline semaphores are queried with vkGetPhysicalDeviceFeatures2 and
	// a Vulkan 1.2 struct: only where the effective version (the instance's
	// and the device's, whichever is lower) allows both. A wrapped instance
	// of unknown version is not asked.
	if min(in.apiVersion, p.APIVersion) >= MakeVersion(1, 2, 0) {
		p.TimelineSemaphore = C.vka_timeline_supported(in.table, h) != 0
	}
	return p
}

func cstr(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// HeapBudget is one heap's budget and usage.
type HeapBudget struct {
	Budget uint64 // bytes this process can use (VK_EXT_memory_budget), else 80% of the heap
	Usage  uint64 // bytes in use by this process, as the driver counts; 0 without the extension
	// FromExtension reports whether the figures came from VK_EXT_memory_budget.
	FromExtension bool
}

// choose picks a device: the VKASSETS_DEVICE-style selector when set
// (an index or a case-insensitive name substring), else the best type.
func choose(devs []*PhysicalDevice, selector string) (*PhysicalDevice, error) {
	if len(devs) == 0 {
		return nil, fmt.Errorf("%w: the loader found no physical device; install a driver "+
			"(Debian/Ubuntu: apt-get install mesa-vulkan-drivers, for the lavapipe CPU device)", ErrNoDevice)
	}
	usable := func(p *PhysicalDevice) bool {
		return p.APIVersion >= minAPIVersion && graphicsFamily(p) >= 0
	}
	if selector != "" {
		var match *PhysicalDevice
		if i, err := strconv.Atoi(selector); err == nil && i >= 0 && i < len(devs) {
			match = devs[i]
		} else {
			for _, p := range devs {
				if strings.Contains(strings.ToLower(p.Name), strings.ToLower(selector)) {
					match = p
					break
				}
			}
		}
		if match == nil {
			return nil, fmt.Errorf("%w: %s=%q matches none of the devices found: %s",
				ErrNoDevice, EnvDevice, selector, listDevices(devs))
		}
		if !usable(match) {
			return nil, fmt.Errorf("%w: %s needs Vulkan %s and a graphics queue", ErrNoDevice, match, minAPIVersion)
		}
		return match, nil
	}
	var best *PhysicalDevice
	for _, p := range devs {
		if usable(p) && (best == nil || p.Type.preference() < best.Type.preference()) {
			best = p
		}
	}
	if best == nil {
		return nil, fmt.Errorf("%w: none has Vulkan %s and a graphics queue: %s", ErrNoDevice, minAPIVersion, listDevices(devs))
	}
	return best, nil
}

func listDevices(devs []*PhysicalDevice) string {
	s := make([]string, len(devs))
	for i, p := range devs {
		s[i] = p.String()
	}
	return strings.Join(s, "; ")
}

// graphicsFamily is the first queue family with graphics (which implies
// transfer), or -1.
func graphicsFamily(p *PhysicalDevice) int {
	for i, f := range p.QueueFamilies {
		if f.Flags&QueueGraphics != 0 && f.Count > 0 {
			return i
		}
	}
	return -1
}

// transferFamily is the first queue family with transfer but neither
// graphics nor compute (a dedicated copy engine), or -1.
func transferFamily(p *PhysicalDevice) int {
	for i, f := range p.QueueFamilies {
		if f.Flags&QueueTransfer != 0 && f.Flags&(QueueGraphics|QueueCompute) == 0 && f.Count > 0 {
			return i
		}
	}
	return -1
}

// Handle is the raw VkPhysicalDevice, for interoperation.
func (p *PhysicalDevice) Handle() unsafe.Pointer { return C.vka_physical_ptr(p.handle) }
