package simdev

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"github.com/vkassets/vkassets/vk"
)

//go:embed devices.json
var devicesJSON []byte

// The shape of devices.json. device_type is the VkPhysicalDeviceType number,
// though an entry may spell it as a name ("CPU"); both are accepted.
type fileJSON struct {
	About   string       `json:"about"`
	Devices []deviceJSON `json:"devices"`
}

type deviceJSON struct {
	Name                     string          `json:"device_name"`
	Type                     json.RawMessage `json:"device_type"`
	MaxMemoryAllocationCount uint32          `json:"max_memory_allocation_count"`
	BufferImageGranularity   uint64          `json:"buffer_image_granularity"`
	NonCoherentAtomSize      uint64          `json:"non_coherent_atom_size"`
	MinMemoryMapAlignment    uint64          `json:"min_memory_map_alignment"`
	Heaps                    []struct {
		Size  uint64   `json:"size"`
		Flags []string `json:"flags"`
	} `json:"memory_heaps"`
	Types []struct {
		HeapIndex uint32   `json:"heap_index"`
		Flags     []string `json:"flags"`
	} `json:"memory_types"`
}

var (
	parseOnce sync.Once
	specs     []*vk.PhysicalDevice
	parseErr  error
)

// loadSpecs parses the embedded file once. The results are templates:
// devices get deep copies.
func loadSpecs() ([]*vk.PhysicalDevice, error) {
	parseOnce.Do(func() { specs, parseErr = parse(devicesJSON) })
	return specs, parseErr
}

func mustSpecs() []*vk.PhysicalDevice {
	s, err := loadSpecs()
	if err != nil {
		panic(err)
	}
	return s
}

var memoryFlagBits = map[string]vk.MemoryPropertyFlags{
	"DEVICE_LOCAL":     vk.MemoryDeviceLocal,
	"HOST_VISIBLE":     vk.MemoryHostVisible,
	"HOST_COHERENT":    vk.MemoryHostCoherent,
	"HOST_CACHED":      vk.MemoryHostCached,
	"LAZILY_ALLOCATED": vk.MemoryLazilyAllocated,
	"PROTECTED":        vk.MemoryProtected,
}

var heapFlagBits = map[string]vk.HeapFlags{
	"DEVICE_LOCAL":   vk.HeapDeviceLocal,
	"MULTI_INSTANCE": vk.HeapMultiInstance,
}

var deviceTypeNames = map[string]vk.DeviceType{
	"OTHER":          vk.DeviceTypeOther,
	"INTEGRATED_GPU": vk.DeviceTypeIntegratedGPU,
	"DISCRETE_GPU":   vk.DeviceTypeDiscreteGPU,
	"VIRTUAL_GPU":    vk.DeviceTypeVirtualGPU,
	"CPU":            vk.DeviceTypeCPU,
}

// PCI vendor IDs, by a word of the device name; the file has none.
var vendorIDs = []struct {
	word string
	id   uint32
}{
	{"geforce", 0x10de}, {"nvidia", 0x10de}, {"amd", 0x1002}, {"intel", 0x8086},
	{"mali", 0x13b5}, {"adreno", 0x5143}, {"powervr", 0x1010}, {"llvmpipe", 0x10005},
}

func parse(data []byte) ([]*vk.PhysicalDevice, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f fileJSON
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("simdev: devices.json: %w", err)
	}
	if len(f.Devices) == 0 {
		return nil, fmt.Errorf("simdev: devices.json lists no device")
	}
	seen := map[string]bool{}
	out := make([]*vk.PhysicalDevice, 0, len(f.Devices))
	for i, d := range f.Devices {
		p, err := build(d)
		if err != nil {
			return nil, fmt.Errorf("simdev: devices.json device %d (%q): %w", i, d.Name, err)
		}
		if seen[p.Name] {
			return nil, fmt.Errorf("simdev: devices.json names %q twice", p.Name)
		}
		seen[p.Name] = true
		out = append(out, p)
	}
	return out, nil
}

func build(d deviceJSON) (*vk.PhysicalDevice, error) {
	if d.Name == "" {
		return nil, fmt.Errorf("no device_name")
	}
	typ, err := deviceType(d.Type)
	if err != nil {
		return nil, err
	}
	switch {
	case d.MaxMemoryAllocationCount == 0:
		return nil, fmt.Errorf("max_memory_allocation_count is 0")
	case d.BufferImageGranularity == 0:
		return nil, fmt.Errorf("buffer_image_granularity is 0")
	case d.NonCoherentAtomSize == 0:
		return nil, fmt.Errorf("non_coherent_atom_size is 0")
	case d.MinMemoryMapAlignment == 0:
		return nil, fmt.Errorf("min_memory_map_alignment is 0")
	case len(d.Heaps) == 0 || len(d.Heaps) > 16:
		return nil, fmt.Errorf("%d memory heaps (Vulkan allows 1 to 16)", len(d.Heaps))
	case len(d.Types) == 0 || len(d.Types) > 32:
		return nil, fmt.Errorf("%d memory types (Vulkan allows 1 to 32)", len(d.Types))
	}
	p := &vk.PhysicalDevice{
		Name:       d.Name,
		Type:       typ,
		APIVersion: vk.MakeVersion(1, 3, 0),
		Limits: vk.Limits{
			MaxMemoryAllocationCount: d.MaxMemoryAllocationCount,
			BufferImageGranularity:   d.BufferImageGranularity,
			NonCoherentAtomSize:      d.NonCoherentAtomSize,
			MinMemoryMapAlignment:    d.MinMemoryMapAlignment,
			MaxImageDimension2D:      16384, // not in the file; the common value
		},
		QueueFamilies:     []vk.QueueFamily{{Flags: vk.QueueGraphics | vk.QueueCompute | vk.QueueTransfer, Count: 1}},
		TimelineSemaphore: true, // core in Vulkan 1.2
	}
	lower := strings.ToLower(d.Name)
	for _, v := range vendorIDs {
		if strings.Contains(lower, v.word) {
			p.VendorID = v.id
			break
		}
	}
	for i, h := range d.Heaps {
		if h.Size == 0 {
			return nil, fmt.Errorf("heap %d has size 0", i)
		}
		var fl vk.HeapFlags
		for _, n := range h.Flags {
			b, ok := heapFlagBits[n]
			if !ok {
				return nil, fmt.Errorf("heap %d: unknown flag %q", i, n)
			}
			fl |= b
		}
		p.Memory.Heaps = append(p.Memory.Heaps, vk.MemoryHeap{Size: h.Size, Flags: fl})
	}
	for i, t := range d.Types {
		if int(t.HeapIndex) >= len(d.Heaps) {
			return nil, fmt.Errorf("memory type %d names heap %d of %d", i, t.HeapIndex, len(d.Heaps))
		}
		var fl vk.MemoryPropertyFlags
		for _, n := range t.Flags {
			b, ok := memoryFlagBits[n]
			if !ok {
				return nil, fmt.Errorf("memory type %d: unknown flag %q", i, n)
			}
			fl |= b
		}
		p.Memory.Types = append(p.Memory.Types, vk.MemoryType{Flags: fl, HeapIndex: t.HeapIndex})
	}
	return p, nil
}

func deviceType(raw json.RawMessage) (vk.DeviceType, error) {
	var n uint32
	if err := json.Unmarshal(raw, &n); err == nil {
		if n > uint32(vk.DeviceTypeCPU) {
			return 0, fmt.Errorf("device_type %d is no VkPhysicalDeviceType", n)
		}
		return vk.DeviceType(n), nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return 0, fmt.Errorf("device_type %s is neither a number nor a name", raw)
	}
	name := strings.TrimPrefix(strings.ToUpper(s), "VK_PHYSICAL_DEVICE_TYPE_")
	t, ok := deviceTypeNames[name]
	if !ok {
		return 0, fmt.Errorf("device_type %q is no VkPhysicalDeviceType", s)
	}
	return t, nil
}

// clone deep-copies a template so that no two devices share slices.
func clone(p *vk.PhysicalDevice) *vk.PhysicalDevice {
	c := &vk.PhysicalDevice{
		Index: p.Index, Name: p.Name, Type: p.Type, APIVersion: p.APIVersion,
		DriverVersion: p.DriverVersion, VendorID: p.VendorID, DeviceID: p.DeviceID,
		Limits:            p.Limits,
		TimelineSemaphore: p.TimelineSemaphore,
	}
	c.Memory.Types = append([]vk.MemoryType(nil), p.Memory.Types...)
	c.Memory.Heaps = append([]vk.MemoryHeap(nil), p.Memory.Heaps...)
	c.QueueFamilies = append([]vk.QueueFamily(nil), p.QueueFamilies...)
	c.Extensions = append([]string(nil), p.Extensions...)
	return c
}
