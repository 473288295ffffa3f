package inspector

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/vkassets/vkassets/alloc"
	"github.com/vkassets/vkassets/assets"
	"github.com/vkassets/vkassets/framesync"
)

// SnapshotVersion is the format version WriteJSON writes and ReadSnapshot
// accepts.
const SnapshotVersion = 1

// ErrSnapshotFormat: ReadSnapshot was given something that is not a
// snapshot of this version; the error says what is wrong.
var ErrSnapshotFormat = errors.New("inspector: not a snapshot")

// Snapshot is everything that holds device memory at one moment: the
// cached assets, the allocator's live allocations (with the asset that owns
// each, when it can be told) and what waits in the retirement queue for
// the GPU. It is a plain value, written and read as JSON, so that two can
// be compared offline (Diff, `vkassets diff`).
type Snapshot struct {
	Version   int              `json:"version"`
	Time      time.Time        `json:"time"`
	Frames    uint64           `json:"frames"`    // frames begun
	Issued    framesync.Serial `json:"issued"`    // the newest serial handed out
	Completed framesync.Serial `json:"completed"` // the newest serial the GPU has finished

	Assets      []SnapshotAsset      `json:"assets"`      // by ID
	Allocations []SnapshotAllocation `json:"allocations"` // by memory type, block, offset
	Pending     []SnapshotSerial     `json:"pending"`     // by serial, oldest first

	AssetBytes      uint64 `json:"asset_bytes"`      // device memory the cached assets own
	AllocationBytes uint64 `json:"allocation_bytes"` // bytes of live allocations
	PendingBytes    uint64 `json:"pending_bytes"`    // of those, waiting for the GPU to be freed
}

// SnapshotAsset is one cached asset.
type SnapshotAsset struct {
	ID     assets.ID   `json:"id"`
	Key    string      `json:"key,omitempty"` // "" for assets made at run time
	Name   string      `json:"name"`
	Kind   string      `json:"kind"`
	State  string      `json:"state"`
	Count  int         `json:"count"`
	Bytes  uint64      `json:"bytes"` // the device memory of its own GPU objects
	Deps   []assets.ID `json:"deps,omitempty"`
	Unused bool        `json:"unused"` // nothing references it: a release could take it now
	Locked bool        `json:"locked"`
	GPU    bool        `json:"gpu,omitempty"` // it owns Vulkan objects (assets.GPUOwner)
	// Memory and Offset place the asset's own allocation (textures and
	// buffers), to find it among the allocations and the retirement
	// queue's memory; 0 when it has none, or does not say.
	Memory uint64 `json:"memory,omitempty"`
	Offset uint64 `json:"offset,omitempty"`
}

// SnapshotAllocation is one live allocation.
type SnapshotAllocation struct {
	Name       string `json:"name"`
	MemoryType uint32 `json:"memory_type"`
	Heap       uint32 `json:"heap"`
	Pool       string `json:"pool,omitempty"`
	Block      int    `json:"block"` // the block's ID in its list; the memory handle when dedicated
	Dedicated  bool   `json:"dedicated,omitempty"`
	Memory     uint64 `json:"memory"`
	Offset     uint64 `json:"offset"`
	Size       uint64 `json:"size"`
	// Asset owns the allocation: the cached asset whose allocation it is
	// (textures and buffers, by memory and offset), or the one GPU-owning
	// asset of its name. 0: none of the cached assets (released and
	// waiting for the GPU, staging, or not an asset's).
	Asset assets.ID `json:"asset,omitempty"`
}

// SnapshotSerial is what waits in the retirement queue for one serial.
type SnapshotSerial struct {
	Serial  framesync.Serial  `json:"serial"`
	Objects int               `json:"objects"`
	Bytes   uint64            `json:"bytes"`
	Items   []SnapshotPending `json:"items"`
}

// SnapshotPending is one object waiting for the GPU.
type SnapshotPending struct {
	Kind   string `json:"kind"` // "image view", "sampler", "image", "buffer", "memory", "func"
	Name   string `json:"name,omitempty"`
	Memory uint64 `json:"memory,omitempty"` // a "memory" object's
	Offset uint64 `json:"offset,omitempty"`
	Bytes  uint64 `json:"bytes,omitempty"`
}

// Take takes a snapshot. It only reads, from any goroutine: the manager's
// cache, then the allocator's blocks, then the retirement queue, each under
// its own lock, one after another (not one atomic cut: a release between
// two parts shows in the later ones only). a and s may be nil (then
// m.Allocator() and m.Sync()); so may m, for the allocator and the queue
// alone.
func Take(m *assets.Manager, a *alloc.Allocator, s *framesync.Sync) Snapshot {
	if m != nil && a == nil {
		a = m.Allocator()
	}
	if m != nil && s == nil {
		s = m.Sync()
	}
	snap := Snapshot{Version: SnapshotVersion, Time: time.Now().UTC().Round(0),
		Assets: []SnapshotAsset{}, Allocations: []SnapshotAllocation{}, Pending: []SnapshotSerial{}}
	if s != nil {
		st := s.Stats()
		snap.Frames, snap.Issued, snap.Completed = st.Frames, st.Issued, st.Completed
	}
	var all []assets.Asset
	if m != nil {
		all = m.Assets()
		snap.Assets = snapshotAssets(m, all)
	}
	if a != nil {
		snap.Allocations = snapshotAllocations(a, all)
	}
	if s != nil {
		snap.Pending = snapshotPending(s.PendingBySerial())
	}
	for _, x := range snap.Assets {
		snap.AssetBytes += x.Bytes
	}
	for _, x := range snap.Allocations {
		snap.AllocationBytes += x.Size
	}
	for _, x := range snap.Pending {
		snap.PendingBytes += x.Bytes
	}
	return snap
}

func snapshotAssets(m *assets.Manager, all []assets.Asset) []SnapshotAsset {
	unused := map[assets.ID]bool{}
	for _, u := range m.Unused() {
		unused[assets.BaseOf(u.Asset).ID()] = true
	}
	out := make([]SnapshotAsset, 0, len(all))
	for _, a := range all {
		b := assets.BaseOf(a)
		e := SnapshotAsset{ID: b.ID(), Key: b.Key(), Name: b.Name(), Kind: b.Kind(), State: b.State().String(),
			Count: b.RefCount(), Bytes: assets.Bytes(a), Unused: unused[b.ID()], Locked: m.IsLocked(a)}
		for _, d := range b.Deps() {
			e.Deps = append(e.Deps, assets.BaseOf(d).ID())
		}
		_, e.GPU = a.(assets.GPUOwner)
		if mem, ok := memoryOf(a); ok {
			e.Memory, e.Offset = uint64(mem.Memory), mem.Offset
		}
		out = append(out, e)
	}
	return out
}

// memoryOf is the allocation of an asset that shows it.
func memoryOf(a assets.Asset) (alloc.Allocation, bool) {
	switch t := a.(type) {
	case *assets.Texture2D:
		mem := t.Handles().Memory
		return mem, !mem.IsZero()
	case *assets.Buffer:
		mem := t.Handles().Memory
		return mem, !mem.IsZero()
	}
	return alloc.Allocation{}, false
}

// place is an allocation's position: its memory and offset.
type place struct{ memory, offset uint64 }

func snapshotAllocations(a *alloc.Allocator, all []assets.Asset) []SnapshotAllocation {
	byPlace := map[place]assets.ID{}
	byName := map[string]assets.ID{} // GPU owners that do not show their allocation; 0: ambiguous
	for _, x := range all {
		id := assets.BaseOf(x).ID()
		if mem, ok := memoryOf(x); ok {
			byPlace[place{uint64(mem.Memory), mem.Offset}] = id
		} else if _, ok := x.(assets.GPUOwner); ok {
			n := assets.BaseOf(x).Name()
			if _, dup := byName[n]; dup {
				id = 0
			}
			byName[n] = id
		}
	}
	types := a.Physical().Memory.Types
	out := []SnapshotAllocation{}
	for _, bl := range a.Blocks() {
		for _, r := range bl.Ranges {
			if r.Free {
				continue
			}
			e := SnapshotAllocation{Name: r.Name, MemoryType: bl.MemoryType, Pool: bl.Pool, Block: bl.ID,
				Dedicated: bl.Dedicated, Memory: uint64(bl.Memory), Offset: r.Offset, Size: r.Size}
			if int(bl.MemoryType) < len(types) {
				e.Heap = types[bl.MemoryType].HeapIndex
			}
			if id, ok := byPlace[place{e.Memory, e.Offset}]; ok {
				e.Asset = id
			} else if r.Name != "" {
				e.Asset = byName[r.Name]
			}
			out = append(out, e)
		}
	}
	return out
}

func snapshotPending(ps []framesync.PendingSerial) []SnapshotSerial {
	out := make([]SnapshotSerial, 0, len(ps))
	for _, p := range ps {
		e := SnapshotSerial{Serial: p.Serial, Objects: p.Objects, Bytes: p.Bytes, Items: make([]SnapshotPending, len(p.Items))}
		for i, it := range p.Items {
			e.Items[i] = SnapshotPending{Kind: it.Kind, Name: it.Name, Memory: uint64(it.Memory), Offset: it.Offset, Bytes: it.Bytes}
		}
		out = append(out, e)
	}
	return out
}

// DiffResult compares two snapshots of one process: which assets left the
// cache (Freed), stayed (Survived) or came (Added), and which of those
// that left still hold device memory because the GPU has not finished
// with them (StillWaiting, also in Freed). Each list comes with its bytes.
type DiffResult struct {
	Freed        []DiffEntry `json:"freed"`
	Survived     []DiffEntry `json:"survived"`
	Added        []DiffEntry `json:"added"`
	StillWaiting []DiffEntry `json:"still_waiting"`

	FreedBytes        uint64 `json:"freed_bytes"`
	SurvivedBytes     uint64 `json:"survived_bytes"`
	AddedBytes        uint64 `json:"added_bytes"`
	StillWaitingBytes uint64 `json:"still_waiting_bytes"`

	// Pending is the retirement queue's bytes in each snapshot: what the
	// allocator holds for the GPU, released assets' and the rest (staging).
	PendingBytesBefore uint64 `json:"pending_bytes_before"`
	PendingBytesAfter  uint64 `json:"pending_bytes_after"`
	// AllocationBytes is the allocator's live bytes in each snapshot.
	AllocationBytesBefore uint64 `json:"allocation_bytes_before"`
	AllocationBytesAfter  uint64 `json:"allocation_bytes_after"`
}

// DiffEntry is one asset in a DiffResult.
type DiffEntry struct {
	ID    assets.ID `json:"id"`
	Kind  string    `json:"kind"`
	Name  string    `json:"name"` // key, or name for run-time assets
	Count int       `json:"count"`
	Bytes uint64    `json:"bytes"`
	// Serial, in StillWaiting, is the serial its memory waits for in the
	// retirement queue; 0 when the memory is off the queue but not yet
	// freed (being retired as the snapshot was taken).
	Serial framesync.Serial `json:"serial,omitempty"`
}

// Diff compares two snapshots of the same process, before and after.
// An asset that left the cache is StillWaiting when the after snapshot
// still finds its memory: in the retirement queue (by memory and offset,
// or, for assets that do not show their allocation, by name), or among the
// live allocations with its name and size.
func Diff(before, after Snapshot) DiffResult {
	d := DiffResult{Freed: []DiffEntry{}, Survived: []DiffEntry{}, Added: []DiffEntry{}, StillWaiting: []DiffEntry{},
		PendingBytesBefore: before.PendingBytes, PendingBytesAfter: after.PendingBytes,
		AllocationBytesBefore: before.AllocationBytes, AllocationBytesAfter: after.AllocationBytes}
	inAfter := map[assets.ID]bool{}
	for _, e := range after.Assets {
		inAfter[e.ID] = true
	}
	inBefore := map[assets.ID]bool{}
	w := newWaiting(after)
	for _, e := range before.Assets {
		inBefore[e.ID] = true
		de := diffEntry(e)
		if inAfter[e.ID] {
			d.Survived, d.SurvivedBytes = append(d.Survived, de), d.SurvivedBytes+de.Bytes
			continue
		}
		d.Freed, d.FreedBytes = append(d.Freed, de), d.FreedBytes+de.Bytes
		if serial, bytes, ok := w.find(e); ok {
			de.Serial, de.Bytes = serial, max(de.Bytes, bytes)
			d.StillWaiting, d.StillWaitingBytes = append(d.StillWaiting, de), d.StillWaitingBytes+de.Bytes
		}
	}
	for _, e := range after.Assets {
		if !inBefore[e.ID] {
			de := diffEntry(e)
			d.Added, d.AddedBytes = append(d.Added, de), d.AddedBytes+de.Bytes
		}
	}
	return d
}

func diffEntry(e SnapshotAsset) DiffEntry {
	name := e.Key
	if name == "" {
		name = e.Name
	}
	return DiffEntry{ID: e.ID, Kind: e.Kind, Name: name, Count: e.Count, Bytes: e.Bytes}
}

// waiting indexes what an after snapshot still holds for the GPU.
type waiting struct {
	queued  map[place]SnapshotPending // memory objects in the queue
	serials map[place]framesync.Serial
	named   map[string]framesync.Serial // names of queued objects
	namedB  map[string]uint64           // their memory bytes
	live    map[place]SnapshotAllocation
}

func newWaiting(s Snapshot) *waiting {
	w := &waiting{queued: map[place]SnapshotPending{}, serials: map[place]framesync.Serial{},
		named: map[string]framesync.Serial{}, namedB: map[string]uint64{}, live: map[place]SnapshotAllocation{}}
	for _, p := range s.Pending {
		for _, it := range p.Items {
			if it.Memory != 0 {
				k := place{it.Memory, it.Offset}
				w.queued[k], w.serials[k] = it, p.Serial
			}
			if it.Name != "" {
				w.named[it.Name] = p.Serial
				w.namedB[it.Name] += it.Bytes
			}
		}
	}
	for _, a := range s.Allocations {
		w.live[place{a.Memory, a.Offset}] = a
	}
	return w
}

// find reports whether the memory of e, an asset gone from the cache, is
// still held, at which serial, and how many bytes.
func (w *waiting) find(e SnapshotAsset) (framesync.Serial, uint64, bool) {
	if e.Memory == 0 {
		// No allocation shown: a GPU owner is found by its objects' names.
		if serial, ok := w.named[e.Name]; ok && e.GPU {
			return serial, w.namedB[e.Name], true
		}
		return 0, 0, false
	}
	k := place{e.Memory, e.Offset}
	if it, ok := w.queued[k]; ok {
		return w.serials[k], it.Bytes, true
	}
	if a, ok := w.live[k]; ok && a.Name == e.Name && a.Size == e.Bytes {
		return 0, a.Size, true
	}
	return 0, 0, false
}

// WriteJSON writes the snapshot as JSON, indented.
func (s Snapshot) WriteJSON(w io.Writer) error {
	s.Version = SnapshotVersion
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(s); err != nil {
		return fmt.Errorf("inspector: write snapshot: %w", err)
	}
	return nil
}

// maxSnapshotBytes bounds what ReadSnapshot reads.
const maxSnapshotBytes = 1 << 30

// ReadSnapshot reads a snapshot written by WriteJSON. Anything else — not
// JSON, more than one value, an unknown field, a field of the wrong type,
// no version or another one — is an error wrapping ErrSnapshotFormat that
// says what is wrong and where, without echoing the input.
func ReadSnapshot(r io.Reader) (Snapshot, error) {
	lr := &io.LimitedReader{R: r, N: maxSnapshotBytes + 1}
	dec := json.NewDecoder(lr)
	dec.DisallowUnknownFields()
	var s Snapshot
	if err := dec.Decode(&s); err != nil {
		return Snapshot{}, formatError(dec, lr, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Snapshot{}, fmt.Errorf("%w: data after the snapshot at byte %d", ErrSnapshotFormat, dec.InputOffset())
	}
	switch {
	case s.Version == 0:
		return Snapshot{}, fmt.Errorf("%w: no \"version\" field (want %d)", ErrSnapshotFormat, SnapshotVersion)
	case s.Version != SnapshotVersion:
		return Snapshot{}, fmt.Errorf("%w: format version %d, want %d", ErrSnapshotFormat, s.Version, SnapshotVersion)
	}
	return s, nil
}

// formatError says what kept a snapshot from decoding, and where.
func formatError(dec *json.Decoder, lr *io.LimitedReader, err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case lr.N <= 0:
		return fmt.Errorf("%w: larger than %d bytes", ErrSnapshotFormat, maxSnapshotBytes)
	case errors.Is(err, io.EOF):
		return fmt.Errorf("%w: empty input", ErrSnapshotFormat)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%w: truncated at byte %d", ErrSnapshotFormat, dec.InputOffset())
	case errors.As(err, &syn):
		return fmt.Errorf("%w: invalid JSON at byte %d", ErrSnapshotFormat, syn.Offset)
	case errors.As(err, &typ):
		return fmt.Errorf("%w: field %q: a JSON %s where %s is wanted, at byte %d", ErrSnapshotFormat, typ.Field, typ.Value, typ.Type, typ.Offset)
	}
	// encoding/json's other errors (an unknown field) name the field only.
	return fmt.Errorf("%w: %v", ErrSnapshotFormat, err)
}
