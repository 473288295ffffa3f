package alloc

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
)

// The statistics dump in the format of VMA's vmaBuildStatsString (schema:
// GpuMemDump.schema.json), so that VMA's GpuMemDumpVis.py and other tools
// made for VMA can read it.

type dumpStats struct {
	BlockCount         int    `json:"BlockCount"`
	BlockBytes         uint64 `json:"BlockBytes"`
	AllocationCount    int    `json:"AllocationCount"`
	AllocationBytes    uint64 `json:"AllocationBytes"`
	UnusedRangeCount   int    `json:"UnusedRangeCount"`
	AllocationSizeMin  uint64 `json:"AllocationSizeMin,omitempty"`
	AllocationSizeMax  uint64 `json:"AllocationSizeMax,omitempty"`
	UnusedRangeSizeMin uint64 `json:"UnusedRangeSizeMin,omitempty"`
	UnusedRangeSizeMax uint64 `json:"UnusedRangeSizeMax,omitempty"`
}

func toDump(s Statistics) dumpStats {
	return dumpStats(s)
}

type dumpGeneral struct {
	API                      string `json:"API"`
	APIVersion               string `json:"apiVersion"`
	GPU                      string `json:"GPU"`
	DeviceType               int    `json:"deviceType"`
	MaxMemoryAllocationCount uint32 `json:"maxMemoryAllocationCount"`
	BufferImageGranularity   uint64 `json:"bufferImageGranularity"`
	NonCoherentAtomSize      uint64 `json:"nonCoherentAtomSize"`
	MemoryHeapCount          int    `json:"memoryHeapCount"`
	MemoryTypeCount          int    `json:"memoryTypeCount"`
}

type dumpBudget struct {
	BudgetBytes uint64 `json:"BudgetBytes"`
	UsageBytes  uint64 `json:"UsageBytes"`
}

type dumpType struct {
	Flags []string  `json:"Flags"`
	Stats dumpStats `json:"Stats"`
}

type dumpHeap struct {
	Flags       []string            `json:"Flags"`
	Size        uint64              `json:"Size"`
	Budget      dumpBudget          `json:"Budget"`
	Stats       dumpStats           `json:"Stats"`
	MemoryPools map[string]dumpType `json:"MemoryPools"`
}

type dumpSuballocation struct {
	Offset uint64 `json:"Offset"`
	Type   string `json:"Type"`
	Size   uint64 `json:"Size"`
	// Usage is the buffer or image usage flags, as VMA writes them for
	// every allocation (0 for a raw one); free ranges have none.
	Usage *uint32 `json:"Usage,omitempty"`
	Name  string  `json:"Name,omitempty"`
}

type dumpBlock struct {
	MapRefCount    int                 `json:"MapRefCount"`
	TotalBytes     uint64              `json:"TotalBytes"`
	UnusedBytes    uint64              `json:"UnusedBytes"`
	Allocations    int                 `json:"Allocations"`
	UnusedRanges   int                 `json:"UnusedRanges"`
	Suballocations []dumpSuballocation `json:"Suballocations"`
}

type dumpDedicated struct {
	Type string `json:"Type"`
	Size uint64 `json:"Size"`
	// Usage is always written: VMA does, and GpuMemDumpVis.py reads it
	// from every dedicated allocation (a dump without it made the script
	// fail with KeyError: 'Usage').
	Usage uint32 `json:"Usage"`
	Name  string `json:"Name,omitempty"`
}

type dumpPool struct {
	Name                 string               `json:"Name,omitempty"`
	Flags                []string             `json:"Flags,omitempty"`
	PreferredBlockSize   uint64               `json:"PreferredBlockSize"`
	Blocks               map[string]dumpBlock `json:"Blocks"`
	DedicatedAllocations []dumpDedicated      `json:"DedicatedAllocations"`
}

type dump struct {
	General      dumpGeneral           `json:"General"`
	Total        dumpStats             `json:"Total"`
	MemoryInfo   map[string]dumpHeap   `json:"MemoryInfo"`
	DefaultPools map[string]dumpPool   `json:"DefaultPools"`
	CustomPools  map[string][]dumpPool `json:"CustomPools"`
}

// suballocationType is VMA's name for a kind.
func suballocationType(free bool, k Kind) string {
	switch {
	case free:
		return "FREE"
	case k == KindLinear:
		return "BUFFER"
	case k == KindOptimal:
		return "IMAGE_OPTIMAL"
	}
	return "UNKNOWN"
}

// WriteStatsJSON writes the allocator's state in VMA's statistics-string
// format, with every block's sub-allocations (detailed map).
func (a *Allocator) WriteStatsJSON(w io.Writer) error {
	s := a.Stats()
	p := a.phys
	d := dump{
		General: dumpGeneral{API: "Vulkan", APIVersion: p.APIVersion.String(), GPU: p.Name, DeviceType: int(p.Type),
			MaxMemoryAllocationCount: p.Limits.MaxMemoryAllocationCount, BufferImageGranularity: p.Limits.BufferImageGranularity,
			NonCoherentAtomSize: p.Limits.NonCoherentAtomSize, MemoryHeapCount: len(p.Memory.Heaps), MemoryTypeCount: len(p.Memory.Types)},
		Total:        toDump(s.Total),
		MemoryInfo:   map[string]dumpHeap{},
		DefaultPools: map[string]dumpPool{},
		CustomPools:  map[string][]dumpPool{},
	}
	for i, h := range s.Heaps {
		d.MemoryInfo["Heap "+strconv.Itoa(i)] = dumpHeap{Flags: h.Flags.Names(), Size: h.Size,
			Budget: dumpBudget{BudgetBytes: h.Budget.Budget, UsageBytes: heapUsage(h)},
			Stats:  toDump(h.Stats), MemoryPools: map[string]dumpType{}}
	}
	for i, t := range s.Types {
		d.MemoryInfo["Heap "+strconv.Itoa(int(t.HeapIndex))].MemoryPools["Type "+strconv.Itoa(i)] = dumpType{Flags: t.Flags.Names(), Stats: toDump(t.Stats)}
		d.DefaultPools["Type "+strconv.Itoa(i)] = dumpPool{PreferredBlockSize: a.preferredBlockSize(uint32(i)),
			Blocks: map[string]dumpBlock{}, DedicatedAllocations: []dumpDedicated{}}
	}
	custom := map[string]*dumpPool{}
	var customOrder []string
	for _, b := range a.Blocks() {
		typeKey := "Type " + strconv.Itoa(int(b.MemoryType))
		var pool dumpPool
		if b.Pool == "" {
			pool = d.DefaultPools[typeKey]
		} else {
			key := typeKey + "/" + b.Pool
			if custom[key] == nil {
				custom[key] = &dumpPool{Name: b.Pool, Flags: []string{}, PreferredBlockSize: b.PreferredBlockSize,
					Blocks: map[string]dumpBlock{}, DedicatedAllocations: []dumpDedicated{}}
				customOrder = append(customOrder, key)
			}
			pool = *custom[key]
		}
		if b.Dedicated {
			r := b.Ranges[0]
			pool.DedicatedAllocations = append(pool.DedicatedAllocations, dumpDedicated{Type: suballocationType(false, r.Kind), Size: b.Size, Usage: r.Usage, Name: b.Name})
		} else {
			db := dumpBlock{MapRefCount: b.MapRefCount, TotalBytes: b.Size, Suballocations: []dumpSuballocation{}}
			for _, r := range b.Ranges {
				sa := dumpSuballocation{Offset: r.Offset, Type: suballocationType(r.Free, r.Kind), Size: r.Size, Name: r.Name}
				if !r.Free {
					sa.Usage = &r.Usage
				}
				db.Suballocations = append(db.Suballocations, sa)
				if r.Free {
					db.UnusedBytes += r.Size
					db.UnusedRanges++
				} else {
					db.Allocations++
				}
			}
			pool.Blocks[strconv.Itoa(b.ID)] = db
		}
		if b.Pool == "" {
			d.DefaultPools[typeKey] = pool
		} else {
			*custom[typeKey+"/"+b.Pool] = pool
		}
	}
	slices.Sort(customOrder)
	for _, key := range customOrder {
		typeKey := key[:len(key)-len(custom[key].Name)-1]
		d.CustomPools[typeKey] = append(d.CustomPools[typeKey], *custom[key])
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(d); err != nil {
		return fmt.Errorf("alloc: write stats: %w", err)
	}
	return nil
}

// heapUsage is the usage reported in the dump: the driver's figure with
// VK_EXT_memory_budget, else the bytes of device memory the allocator holds.
func heapUsage(h HeapStats) uint64 {
	if h.Budget.FromExtension {
		return h.Budget.Usage
	}
	return h.Stats.BlockBytes
}
