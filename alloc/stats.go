package alloc

import (
	"github.com/vkassets/vkassets/alloc/virtual"
	"github.com/vkassets/vkassets/vk"
)

// Statistics are VMA's VmaDetailedStatistics: counts and byte totals of
// blocks, allocations and unused ranges, with size extremes (0 when there
// are none).
type Statistics struct {
	BlockCount         int
	BlockBytes         uint64
	AllocationCount    int
	AllocationBytes    uint64
	UnusedRangeCount   int
	AllocationSizeMin  uint64
	AllocationSizeMax  uint64
	UnusedRangeSizeMin uint64
	UnusedRangeSizeMax uint64
}

func (s *Statistics) addAllocation(size uint64) {
	if s.AllocationCount == 0 || size < s.AllocationSizeMin {
		s.AllocationSizeMin = size
	}
	s.AllocationSizeMax = max(s.AllocationSizeMax, size)
	s.AllocationCount++
	s.AllocationBytes += size
}

func (s *Statistics) addUnused(size uint64) {
	if s.UnusedRangeCount == 0 || size < s.UnusedRangeSizeMin {
		s.UnusedRangeSizeMin = size
	}
	s.UnusedRangeSizeMax = max(s.UnusedRangeSizeMax, size)
	s.UnusedRangeCount++
}

func (s *Statistics) merge(o Statistics) {
	if o.AllocationCount > 0 {
		if s.AllocationCount == 0 || o.AllocationSizeMin < s.AllocationSizeMin {
			s.AllocationSizeMin = o.AllocationSizeMin
		}
		s.AllocationSizeMax = max(s.AllocationSizeMax, o.AllocationSizeMax)
	}
	if o.UnusedRangeCount > 0 {
		if s.UnusedRangeCount == 0 || o.UnusedRangeSizeMin < s.UnusedRangeSizeMin {
			s.UnusedRangeSizeMin = o.UnusedRangeSizeMin
		}
		s.UnusedRangeSizeMax = max(s.UnusedRangeSizeMax, o.UnusedRangeSizeMax)
	}
	s.BlockCount += o.BlockCount
	s.BlockBytes += o.BlockBytes
	s.AllocationCount += o.AllocationCount
	s.AllocationBytes += o.AllocationBytes
	s.UnusedRangeCount += o.UnusedRangeCount
}

// HeapStats are one heap's statistics and budget.
type HeapStats struct {
	Size   uint64
	Flags  vk.HeapFlags
	Budget vk.HeapBudget
	Stats  Statistics
}

// TypeStats are one memory type's statistics (default and custom pools).
type TypeStats struct {
	HeapIndex uint32
	Flags     vk.MemoryPropertyFlags
	Stats     Statistics
}

// Stats is a snapshot of the allocator.
type Stats struct {
	Total             Statistics
	Heaps             []HeapStats
	Types             []TypeStats
	DeviceAllocations int // live VkDeviceMemory objects
	AllocateCalls     int // vkAllocateMemory calls so far
	// PressureEvents counts calls of the pressure handler (see
	// Allocator.SetPressureHandler); PressureRecovered, the allocations
	// that succeeded after one.
	PressureEvents    int
	PressureRecovered int
	// SoftLimitEvents counts the handler's calls before allocations that
	// would cross the soft limit (Allocator.SetSoftLimit); they are not in
	// PressureEvents.
	SoftLimitEvents int
}

// Stats takes a snapshot. It walks every block: call it for reports, not
// every frame.
func (a *Allocator) Stats() Stats {
	s := Stats{DeviceAllocations: a.DeviceAllocations(), AllocateCalls: a.AllocateCalls(),
		PressureEvents: int(a.pressureEvents.Load()), PressureRecovered: int(a.pressureRecovered.Load()),
		SoftLimitEvents: int(a.softEvents.Load())}
	budgets := a.dev.MemoryBudget()
	for i, h := range a.phys.Memory.Heaps {
		s.Heaps = append(s.Heaps, HeapStats{Size: h.Size, Flags: h.Flags, Budget: budgets[i]})
	}
	for _, t := range a.phys.Memory.Types {
		s.Types = append(s.Types, TypeStats{HeapIndex: t.HeapIndex, Flags: t.Flags})
	}
	for _, info := range a.Blocks() {
		var st Statistics
		if info.Dedicated {
			st.BlockCount, st.BlockBytes = 1, info.Size
			st.addAllocation(info.Size)
		} else {
			st.BlockCount, st.BlockBytes = 1, info.Size
			for _, r := range info.Ranges {
				if r.Free {
					st.addUnused(r.Size)
				} else {
					st.addAllocation(r.Size)
				}
			}
		}
		s.Types[info.MemoryType].Stats.merge(st)
	}
	for _, t := range s.Types {
		s.Heaps[t.HeapIndex].Stats.merge(t.Stats)
		s.Total.merge(t.Stats)
	}
	return s
}

// RangeInfo is one range of a block in BlockInfo.
type RangeInfo struct {
	Offset, Size uint64
	Free         bool
	Kind         Kind
	Name         string
	// Usage is the VkBufferUsageFlags or VkImageUsageFlags of the buffer or
	// image it was made for (CreateBuffer, CreateImage), recorded with its
	// Name: 0 for an unnamed sub-allocation, a raw Allocate and free ranges.
	Usage uint32
}

// BlockInfo describes one VkDeviceMemory: a block with its ranges, or a
// dedicated allocation.
type BlockInfo struct {
	MemoryType uint32
	Pool       string // "" for the default pools
	ID         int
	Memory     vk.DeviceMemory // the block's or the dedicated allocation's, as in Allocation.Memory
	Size       uint64
	Dedicated  bool
	Name       string // a dedicated allocation's name
	Mapped     bool
	// MapRefCount is the mappings counted (see Allocator.Map): it is
	// mapped while this is above 0.
	MapRefCount int
	Ranges      []RangeInfo
	// PreferredBlockSize is the block list's preferred size.
	PreferredBlockSize uint64
}

// Blocks describes every block and dedicated allocation, default pools
// first (by memory type), then custom pools.
func (a *Allocator) Blocks() []BlockInfo {
	var out []BlockInfo
	for _, l := range a.lists() {
		out = append(out, l.describe()...)
	}
	return out
}

func (l *blockList) describe() []BlockInfo {
	l.mu.Lock()
	defer l.mu.Unlock()
	pool := ""
	if l.pool != nil {
		pool = l.pool.name
	}
	var out []BlockInfo
	for _, b := range l.blocks {
		info := BlockInfo{MemoryType: l.typeIndex, Pool: pool, ID: b.id, Memory: b.memory, Size: b.size, Mapped: b.mapRefs > 0, MapRefCount: b.mapRefs, PreferredBlockSize: l.preferred}
		b.vb.Walk(func(r virtual.Range) {
			ri := RangeInfo{Offset: r.Offset, Size: r.Size, Free: r.Free, Kind: r.Kind}
			if !r.Free {
				tag := b.tags[r.Offset]
				ri.Name, ri.Usage = tag.name, tag.usage
			}
			info.Ranges = append(info.Ranges, ri)
		})
		out = append(out, info)
	}
	for m, d := range l.dedicated {
		out = append(out, BlockInfo{MemoryType: l.typeIndex, Pool: pool, ID: int(m), Memory: m, Size: d.size, Dedicated: true,
			Name: d.name, Mapped: d.mapRefs > 0, MapRefCount: d.mapRefs, PreferredBlockSize: l.preferred,
			Ranges: []RangeInfo{{Size: d.size, Kind: d.kind, Name: d.name, Usage: d.usage}}})
	}
	return out
}
