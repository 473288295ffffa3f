package inspector

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vkassets/vkassets/alloc"
	"github.com/vkassets/vkassets/assets"
	"github.com/vkassets/vkassets/framesync"
)

// Ref names an asset.
type Ref struct {
	ID   assets.ID `json:"id"`
	Kind string    `json:"kind"`
	Name string    `json:"name"`
}

func refOf(a assets.Asset) Ref {
	b := assets.BaseOf(a)
	return Ref{ID: b.ID(), Kind: b.Kind(), Name: b.Name()}
}

// State is what the page's header shows, and each server-sent event.
type State struct {
	Frame        uint64 `json:"frame"`
	Issued       uint64 `json:"issued"`
	Submitted    uint64 `json:"submitted"`
	Completed    uint64 `json:"completed"`
	Pending      int    `json:"pending"`
	PendingBytes uint64 `json:"pending_bytes"`
	LiveBytes    uint64 `json:"live_bytes"`
	Assets       int    `json:"assets"`
	Unused       int    `json:"unused"`
	Scene        string `json:"scene,omitempty"`
	Lost         bool   `json:"lost,omitempty"`
	Closed       bool   `json:"closed,omitempty"`
}

func (h *Handler) state() State {
	st := State{Frame: h.frame()}
	if s := h.opts.Sync; s != nil {
		fs := s.Stats()
		st.Issued, st.Submitted, st.Completed = uint64(fs.Issued), uint64(fs.Submitted), uint64(fs.Completed)
		st.Pending, st.PendingBytes, st.Lost, st.Closed = fs.Pending, fs.PendingBytes, fs.Lost, fs.Closed
	}
	if a := h.opts.Allocator; a != nil {
		st.LiveBytes = a.AllocatedBytes(0)
	}
	ms := h.opts.Manager.Stats()
	st.Assets, st.Unused = ms.Cached, ms.Unused
	st.Scene = h.scene()
	return st
}

// scene names the finalizer's current scene ("" without one).
func (h *Handler) scene() string {
	if h.opts.Finalizer == nil {
		return ""
	}
	if sc := h.opts.Finalizer.CurrentScene(); sc != nil {
		return sc.Name()
	}
	return ""
}

func (h *Handler) serveState(*http.Request) (any, error) { return h.state(), nil }

// Asset is one row of the assets table.
type Asset struct {
	Ref
	Key     string `json:"key,omitempty"`
	State   string `json:"state"`
	Count   int    `json:"count"`
	Held    int    `json:"held"`    // references from dependents
	Dynamic int    `json:"dynamic"` // references callers added (AddRef, Acquire)
	Holders []Ref  `json:"holders"` // cached assets that depend on it
	Deps    []Ref  `json:"deps"`
	Locked  bool   `json:"locked"`
	// Residency: "held", "locked", "unused since serial N, evictable", ...
	Residency string `json:"residency"`
	Bytes     uint64 `json:"bytes"`
	LastUse   uint64 `json:"last_use"`
}

// index is the graph as one request sees it: the cached assets, who holds
// each, and which are unused. Built per request, O(assets + edges).
type index struct {
	all       []assets.Asset
	holders   map[assets.ID][]assets.Asset
	evictable map[assets.ID]bool
	residency bool // the finalizer keeps unused assets resident
}

func (h *Handler) index() *index {
	ix := &index{all: h.opts.Manager.Assets(), holders: map[assets.ID][]assets.Asset{}, evictable: map[assets.ID]bool{}}
	for _, x := range ix.all {
		for _, d := range assets.BaseOf(x).Deps() {
			id := assets.BaseOf(d).ID()
			ix.holders[id] = append(ix.holders[id], x)
		}
	}
	for _, u := range h.opts.Manager.Unused() {
		ix.evictable[assets.BaseOf(u.Asset).ID()] = true
	}
	if h.opts.Finalizer != nil {
		ix.residency = h.opts.Finalizer.ResidencyStats().On
	}
	return ix
}

func (h *Handler) row(ix *index, a assets.Asset) Asset {
	b := assets.BaseOf(a)
	r := Asset{Ref: refOf(a), Key: b.Key(), State: b.State().String(), Count: b.RefCount(), Held: b.Held(),
		Locked: h.opts.Manager.IsLocked(a), Bytes: assets.Bytes(a), LastUse: uint64(b.LastUse()),
		Holders: []Ref{}, Deps: []Ref{}}
	r.Dynamic = max(r.Count-r.Held, 0)
	for _, x := range ix.holders[b.ID()] {
		r.Holders = append(r.Holders, refOf(x))
	}
	for _, d := range b.Deps() {
		r.Deps = append(r.Deps, refOf(d))
	}
	r.Residency = h.residency(ix, a, r)
	return r
}

func (h *Handler) residency(ix *index, a assets.Asset, r Asset) string {
	switch {
	case r.State != assets.Ready.String():
		return r.State
	case r.Locked:
		return "locked"
	case r.Count > 0:
		return "held"
	}
	since, unused := h.opts.Manager.UnusedSince(a)
	s := "unreferenced"
	if unused {
		s = fmt.Sprintf("unused since serial %d", since)
		if ix.residency {
			s = "resident, " + s
		}
	}
	if ix.evictable[r.ID] {
		s += ", evictable"
	}
	return s
}

// serveAssets lists the cached assets: ?q= keeps those whose kind, name,
// key, state or residency contains it; ?kind= one kind; ?sort= a column
// (id, kind, name, state, count, bytes, last_use), ?desc=1 reversed.
func (h *Handler) serveAssets(r *http.Request) (any, error) {
	ix := h.index()
	q, kind := strings.ToLower(r.FormValue("q")), r.FormValue("kind")
	rows := make([]Asset, 0, len(ix.all))
	for _, a := range ix.all {
		row := h.row(ix, a)
		if kind != "" && row.Kind != kind {
			continue
		}
		if q != "" && !strings.Contains(strings.ToLower(strings.Join([]string{row.Kind, row.Name, row.Key, row.State, row.Residency}, " ")), q) {
			continue
		}
		rows = append(rows, row)
	}
	less, ok := sorts[r.FormValue("sort")]
	if !ok && r.FormValue("sort") != "" {
		return nil, fmt.Errorf("%w: no column %q to sort by", errBadRequest, r.FormValue("sort"))
	}
	if less != nil {
		slices.SortStableFunc(rows, less)
	}
	if r.FormValue("desc") == "1" {
		slices.Reverse(rows)
	}
	matched := len(rows)
	if v := r.FormValue("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("%w: limit %q", errBadRequest, v)
		}
		if n > 0 && len(rows) > n {
			rows = rows[:n]
		}
	}
	return struct {
		Frame   uint64  `json:"frame"`
		Total   int     `json:"total"`   // cached assets
		Matched int     `json:"matched"` // of those, the filters' (rows is the first limit of them)
		Assets  []Asset `json:"assets"`
	}{h.frame(), len(ix.all), matched, rows}, nil
}

var sorts = map[string]func(a, b Asset) int{
	"id":       func(a, b Asset) int { return cmp.Compare(a.ID, b.ID) },
	"kind":     func(a, b Asset) int { return cmp.Compare(a.Kind, b.Kind) },
	"name":     func(a, b Asset) int { return cmp.Compare(a.Name, b.Name) },
	"state":    func(a, b Asset) int { return cmp.Compare(a.State, b.State) },
	"count":    func(a, b Asset) int { return cmp.Compare(a.Count, b.Count) },
	"bytes":    func(a, b Asset) int { return cmp.Compare(a.Bytes, b.Bytes) },
	"last_use": func(a, b Asset) int { return cmp.Compare(a.LastUse, b.LastUse) },
	"locked": func(a, b Asset) int {
		return cmp.Compare(boolInt(a.Locked), boolInt(b.Locked))
	},
	"residency": func(a, b Asset) int { return cmp.Compare(a.Residency, b.Residency) },
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// AssetDetail is one asset with its explanation.
type AssetDetail struct {
	Frame uint64 `json:"frame"`
	Asset
	Why string `json:"why"`
}

func (h *Handler) serveAsset(r *http.Request) (any, error) {
	a, err := h.assetOf(r)
	if err != nil {
		return nil, err
	}
	return AssetDetail{Frame: h.frame(), Asset: h.row(h.index(), a), Why: h.why(a)}, nil
}

func (h *Handler) serveWhy(r *http.Request) (any, error) {
	a, err := h.assetOf(r)
	if err != nil {
		return nil, err
	}
	return struct {
		Ref
		Why string `json:"why"`
	}{refOf(a), h.why(a)}, nil
}

// why is the finalizer's explanation, or the count and state without one.
func (h *Handler) why(a assets.Asset) string {
	if h.opts.Finalizer != nil {
		return h.opts.Finalizer.Why(a)
	}
	b := assets.BaseOf(a)
	return fmt.Sprintf("%v: %v, count %d (%d from dependents)", b, b.State(), b.RefCount(), b.Held())
}

// Memory is the allocator's view: heaps, types, blocks and what each
// range holds.
type Memory struct {
	Frame             uint64  `json:"frame"`
	Total             Stats   `json:"total"`
	Heaps             []Heap  `json:"heaps"`
	Types             []Type  `json:"types"`
	Blocks            []Block `json:"blocks"`
	DeviceAllocations int     `json:"device_allocations"`
	AllocateCalls     int     `json:"allocate_calls"`
}

// Stats are alloc.Statistics with JSON names.
type Stats struct {
	BlockCount      int    `json:"block_count"`
	BlockBytes      uint64 `json:"block_bytes"`
	AllocationCount int    `json:"allocation_count"`
	AllocationBytes uint64 `json:"allocation_bytes"`
	UnusedRanges    int    `json:"unused_ranges"`
}

func statsOf(s alloc.Statistics) Stats {
	return Stats{s.BlockCount, s.BlockBytes, s.AllocationCount, s.AllocationBytes, s.UnusedRangeCount}
}

// Heap is one memory heap.
type Heap struct {
	Index  int    `json:"index"`
	Size   uint64 `json:"size"`
	Flags  string `json:"flags"`
	Budget uint64 `json:"budget"`
	Usage  uint64 `json:"usage"` // the driver's figure; 0 without VK_EXT_memory_budget
	Stats  Stats  `json:"stats"`
}

// Type is one memory type.
type Type struct {
	Index int    `json:"index"`
	Heap  uint32 `json:"heap"`
	Flags string `json:"flags"`
	Stats Stats  `json:"stats"`
}

// Block is one VkDeviceMemory block, or a dedicated allocation.
type Block struct {
	MemoryType uint32  `json:"memory_type"`
	Pool       string  `json:"pool,omitempty"`
	ID         int     `json:"id"`
	Size       uint64  `json:"size"`
	Dedicated  bool    `json:"dedicated,omitempty"`
	Mapped     bool    `json:"mapped,omitempty"`
	Used       uint64  `json:"used"`
	Ranges     []Range `json:"ranges"`
}

// Range is a free range or an allocation of a block. Class colours it:
// "free", the owning asset's kind ("texture", "buffer", ...), "staging"
// (a custom pool's), or "other" (no cached asset of that name: the
// renderer's own, or waiting for the GPU to retire).
type Range struct {
	Offset uint64 `json:"offset"`
	Size   uint64 `json:"size"`
	Free   bool   `json:"free,omitempty"`
	Kind   string `json:"kind,omitempty"` // linear, optimal (bufferImageGranularity)
	Name   string `json:"name,omitempty"`
	Class  string `json:"class"`
	Asset  *Ref   `json:"asset,omitempty"`
}

// owners maps allocation names to the cached assets of that name that own
// device memory. Allocations carry their asset's name (AllocationOptions.Name).
func owners(all []assets.Asset) map[string][]assets.Asset {
	m := map[string][]assets.Asset{}
	for _, a := range all {
		if assets.Bytes(a) > 0 {
			n := assets.BaseOf(a).Name()
			m[n] = append(m[n], a)
		}
	}
	return m
}

// owner picks, among the assets named like an allocation, the one whose
// bytes fit it best.
func owner(own map[string][]assets.Asset, name string, size uint64) (assets.Asset, bool) {
	var best assets.Asset
	for _, a := range own[name] {
		if n := assets.Bytes(a); n <= size && (best == nil || n > assets.Bytes(best)) {
			best = a
		}
	}
	if best == nil && len(own[name]) > 0 {
		best = own[name][0]
	}
	return best, best != nil
}

func (h *Handler) serveMemory(*http.Request) (any, error) {
	a := h.opts.Allocator
	if a == nil {
		return nil, fmt.Errorf("%w: no allocator", errNotFound)
	}
	st := a.Stats()
	mem := Memory{Frame: h.frame(), Total: statsOf(st.Total), DeviceAllocations: st.DeviceAllocations, AllocateCalls: st.AllocateCalls,
		Heaps: []Heap{}, Types: []Type{}, Blocks: []Block{}}
	for i, hp := range st.Heaps {
		mem.Heaps = append(mem.Heaps, Heap{Index: i, Size: hp.Size, Flags: hp.Flags.String(), Budget: hp.Budget.Budget, Usage: hp.Budget.Usage, Stats: statsOf(hp.Stats)})
	}
	for i, t := range st.Types {
		mem.Types = append(mem.Types, Type{Index: i, Heap: t.HeapIndex, Flags: t.Flags.String(), Stats: statsOf(t.Stats)})
	}
	own := owners(h.opts.Manager.Assets())
	for _, b := range a.Blocks() {
		blk := Block{MemoryType: b.MemoryType, Pool: b.Pool, ID: b.ID, Size: b.Size, Dedicated: b.Dedicated, Mapped: b.Mapped, Ranges: make([]Range, 0, len(b.Ranges))}
		for _, r := range b.Ranges {
			rg := Range{Offset: r.Offset, Size: r.Size, Free: r.Free, Name: r.Name, Class: "free"}
			if !r.Free {
				blk.Used += r.Size
				rg.Kind = r.Kind.String()
				switch x, ok := owner(own, r.Name, r.Size); {
				case b.Pool != "":
					rg.Class = "staging"
				case ok:
					ref := refOf(x)
					rg.Asset, rg.Class = &ref, ref.Kind
				default:
					rg.Class = "other"
				}
			}
			blk.Ranges = append(blk.Ranges, rg)
		}
		mem.Blocks = append(mem.Blocks, blk)
	}
	return mem, nil
}

// serveVMA is the allocator's statistics in VMA's JSON format, as a download.
func (h *Handler) serveVMA(w http.ResponseWriter, r *http.Request) {
	if h.opts.Allocator == nil {
		http.Error(w, "no allocator", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Disposition", `attachment; filename="vma-stats.json"`)
	if err := h.opts.Allocator.WriteStatsJSON(w); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}

// Retire is the retirement queue.
type Retire struct {
	Frame            uint64   `json:"frame"`
	Issued           uint64   `json:"issued"`
	Submitted        uint64   `json:"submitted"`
	Completed        uint64   `json:"completed"`
	Pending          int      `json:"pending"`
	PendingBytes     uint64   `json:"pending_bytes"`
	Retired          uint64   `json:"retired"`
	LatencyFrames    []uint64 `json:"latency_frames"`  // index i: retired i frames after Defer (the last: that many or more)
	LatencyTimeNanos []Bucket `json:"latency_time_ns"` // non-empty buckets [lo, hi)
	MaxLatencyFrames uint64   `json:"max_latency_frames"`
	MaxLatencyNanos  int64    `json:"max_latency_ns"`
	Timeline         bool     `json:"timeline"`
	Lost             bool     `json:"lost,omitempty"`
	Closed           bool     `json:"closed,omitempty"`
	// BySerial is what waits, by serial, oldest first
	// (framesync.Sync.PendingBySerial).
	BySerial []SerialBucket `json:"by_serial"`
}

// Bucket is one bucket of a histogram.
type Bucket struct {
	Lo    uint64 `json:"lo"`
	Hi    uint64 `json:"hi"`
	Count uint64 `json:"count"`
}

// SerialBucket is what waits for one serial.
type SerialBucket struct {
	Serial  uint64   `json:"serial"`
	Objects int      `json:"objects"`
	Bytes   uint64   `json:"bytes"`
	Names   []string `json:"names,omitempty"`
}

func (h *Handler) serveRetire(*http.Request) (any, error) {
	s := h.opts.Sync
	if s == nil {
		return nil, fmt.Errorf("%w: no sync", errNotFound)
	}
	st := s.Stats()
	rt := Retire{Frame: h.frame(), Issued: uint64(st.Issued), Submitted: uint64(st.Submitted), Completed: uint64(st.Completed),
		Pending: st.Pending, PendingBytes: st.PendingBytes, Retired: st.Retired, LatencyFrames: st.LatencyFrames[:],
		MaxLatencyFrames: st.MaxLatencyFrames, MaxLatencyNanos: int64(st.MaxLatency), Timeline: st.Timeline, Lost: st.Lost, Closed: st.Closed,
		LatencyTimeNanos: []Bucket{}}
	for i, n := range st.LatencyTime {
		if n == 0 {
			continue
		}
		lo := uint64(0)
		if i > 0 {
			lo = 1 << (i - 1)
		}
		rt.LatencyTimeNanos = append(rt.LatencyTimeNanos, Bucket{Lo: lo, Hi: 1 << i, Count: n})
	}
	rt.BySerial = pendingBySerial(s, st)
	return rt, nil
}

// pendingBySerial lists what waits for the GPU, oldest serial first, with
// the names of what waits (at most maxNames each).
func pendingBySerial(s *framesync.Sync, _ framesync.Stats) []SerialBucket {
	const maxNames = 20
	out := []SerialBucket{}
	for _, p := range s.PendingBySerial() {
		b := SerialBucket{Serial: uint64(p.Serial), Objects: p.Objects, Bytes: p.Bytes}
		seen := map[string]bool{}
		for _, it := range p.Items {
			if it.Name != "" && !seen[it.Name] && len(b.Names) < maxNames {
				seen[it.Name] = true
				b.Names = append(b.Names, it.Name)
			}
		}
		out = append(out, b)
	}
	return out
}

// Sample is one point of the live chart.
type Sample struct {
	Frame   uint64 `json:"frame"`
	Live    uint64 `json:"live"`    // bytes of live allocations
	Pending uint64 `json:"pending"` // bytes waiting for the GPU
	Scene   string `json:"scene,omitempty"`
	Switch  bool   `json:"switch,omitempty"` // the scene changed since the previous sample
	UnixMs  int64  `json:"unix_ms"`
}

// sample takes a chart sample, unless the frame has not moved since prev.
// It runs on the sampler goroutine, never on the application's.
func (h *Handler) sample(prev *Sample) (Sample, bool) {
	s := Sample{Frame: h.frame(), Scene: h.scene(), UnixMs: time.Now().UnixMilli()}
	if prev != nil && prev.Frame == s.Frame {
		return s, false
	}
	if h.opts.Allocator != nil {
		s.Live = h.opts.Allocator.AllocatedBytes(0)
	}
	if h.opts.Sync != nil {
		s.Pending = h.opts.Sync.Stats().PendingBytes
	}
	s.Switch = prev != nil && prev.Scene != s.Scene
	return s, true
}

func (h *Handler) serveChart(*http.Request) (any, error) {
	h.chart.sampleOnce() // a poll alone fills the chart too
	return struct {
		Frame   uint64   `json:"frame"`
		Samples []Sample `json:"samples"`
	}{h.frame(), h.chart.samples()}, nil
}

// Leaks is what would be reported if the application closed now.
type Leaks struct {
	Frame uint64 `json:"frame"`
	// Report is the close report: Why of every cached asset (what
	// finalizer.Report prints for the survivors at shutdown).
	Report []string `json:"report"`
	// Unused are cached assets nothing references.
	Unused []Unused `json:"unused"`
	// Unowned are live allocations no cached asset is named after: the
	// renderer's own, staging, or memory waiting for the GPU; one that
	// stays is a leak.
	Unowned []Allocation `json:"unowned"`
	// LiveAllocations counts every live allocation (alloc.Allocator.Leaks,
	// which Close reports).
	LiveAllocations int `json:"live_allocations"`
}

// Unused is an unreferenced cached asset.
type Unused struct {
	Ref
	Since  uint64 `json:"since"`
	Bytes  uint64 `json:"bytes"`
	Remote bool   `json:"remote,omitempty"`
}

// Allocation is a live allocation.
type Allocation struct {
	Name       string `json:"name"`
	Size       uint64 `json:"size"`
	MemoryType uint32 `json:"memory_type"`
	Dedicated  bool   `json:"dedicated,omitempty"`
	Pool       string `json:"pool,omitempty"`
}

func (h *Handler) serveLeaks(*http.Request) (any, error) {
	lk := Leaks{Frame: h.frame(), Report: []string{}, Unused: []Unused{}, Unowned: []Allocation{}}
	all := h.opts.Manager.Assets()
	for _, a := range all {
		lk.Report = append(lk.Report, h.why(a))
	}
	slices.Sort(lk.Report)
	for _, u := range h.opts.Manager.Unused() {
		lk.Unused = append(lk.Unused, Unused{Ref: refOf(u.Asset), Since: uint64(u.Since), Bytes: u.Bytes, Remote: u.Remote})
	}
	if a := h.opts.Allocator; a != nil {
		own := owners(all)
		live := a.Leaks()
		lk.LiveAllocations = len(live)
		for _, l := range live {
			if _, ok := owner(own, l.Name, l.Size); !ok {
				lk.Unowned = append(lk.Unowned, Allocation{Name: l.Name, Size: l.Size, MemoryType: l.MemoryType, Dedicated: l.Dedicated, Pool: l.Pool})
			}
		}
	}
	return lk, nil
}
