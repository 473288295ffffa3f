package finalizer

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/vkassets/vkassets/alloc"
	"github.com/vkassets/vkassets/assets"
	"github.com/vkassets/vkassets/vk"
)

// Residency keeps unused assets resident while a memory budget allows, and
// evicts them under pressure, least recently used first, weighted by bytes
// and reload cost (what Unity and Unreal do with unused textures, where
// Cocos and Galacean release them and load them again on the next visit).
//
// With residency on, an asset whose count drops to 0 is not released at
// Collect: it stays cached, "resident, unused", and a load of it is a hit
// (no I/O, no decode, no upload). Collect measures the device-local memory
// in use; over the High watermark it evicts unused assets through the
// normal release path (locks, loads in flight and the cycle rule hold; the
// GPU objects retire after their last use) until usage, less what is
// already waiting to retire, is under the Low one. An allocation that fails
// for lack of memory evicts first and tries again (see SetResidency).
// Explicit releases (Release, ForceRelease, ReleaseUnused, ReleaseAll) are
// not changed: they release now.
type Residency struct {
	// Budget is the bytes of live allocations in device-local heaps to
	// stay under. 0: HeapShare of those heaps' budget
	// (VK_EXT_memory_budget's where the device has it, else 80% of the
	// heap: vk.Device.MemoryBudget).
	Budget uint64
	// HeapShare is the share of the heaps' budget used when Budget is 0;
	// 0 means 0.8.
	HeapShare float64
	// High and Low are the watermarks, as fractions of the budget: an
	// allocation that would cross High, or a Collect that finds usage over
	// it, evicts down to Low. 0 means 1 and 0.9.
	High, Low float64
	// Cost weighs an unused asset's reload cost; higher costs are evicted
	// later. nil: 4 for an asset loaded over the network, 1 otherwise.
	Cost func(assets.Unused) float64
}

// ResidencyStats are the residency policy's figures (the cache's hits and
// misses are in assets.Manager.Stats).
type ResidencyStats struct {
	On     bool   `json:"on"`
	Budget uint64 `json:"budget"` // bytes
	High   uint64 `json:"high"`
	Low    uint64 `json:"low"`
	// Used is the device-local bytes of live allocations at the last
	// Collect, what waits to retire included.
	Used uint64 `json:"used"`
	// Evictions counts the assets released by eviction (what went with
	// them included); EvictedBytes, the device memory those releases free.
	Evictions    uint64 `json:"evictions"`
	EvictedBytes uint64 `json:"evicted_bytes"`
	// PressureEvents counts allocations that failed for lack of memory and
	// were handed to the policy; PressureRecovered, those it freed memory
	// for.
	PressureEvents    uint64 `json:"pressure_events"`
	PressureRecovered uint64 `json:"pressure_recovered"`
	// Reliefs counts the times pressure was relieved: usage, less what
	// waits to retire, went over High (the Collect then evicts down to
	// Low), and later usage itself, retiring included, was back within
	// High. LastReliefFrames and MaxReliefFrames are the frames each took
	// (frames begun, framesync.Stats.Frames) between those two Collects.
	// Usage held by referenced assets cannot be relieved: the count runs
	// until it can.
	Reliefs          uint64 `json:"reliefs"`
	LastReliefFrames int    `json:"last_relief_frames"`
	MaxReliefFrames  int    `json:"max_relief_frames"`
	// OverHigh: usage crossed High and is not yet back within it.
	OverHigh bool `json:"over_high"`
}

// residency is the policy's state; guarded by Finalizer.resMu.
type residency struct {
	cfg   Residency
	stats ResidencyStats
	// fromHeaps: the budget is a share of the heaps' budget, read again
	// every Collect where VK_EXT_memory_budget makes it change.
	fromHeaps bool
	// frames is the frames begun at the last Collect (framesync's count);
	// overSince, at the Collect that saw usage cross High.
	frames, overSince int
}

// SetResidency turns residency on with r, or off with nil (unused assets
// are then released at the next Collect, as before). It also makes the
// allocator hand allocations that fail for lack of memory to the policy:
// it evicts unused assets, waits for the GPU to finish with them (only
// work already submitted: never the frame being recorded), and the
// allocation is tried again.
func (f *Finalizer) SetResidency(r *Residency) error {
	// Serialised: the allocator's soft limit and handler are set outside
	// resMu, and two calls interleaving would leave them disagreeing with
	// the policy.
	f.resSet.Lock()
	defer f.resSet.Unlock()
	if r == nil {
		f.resMu.Lock()
		f.res = nil
		f.resMu.Unlock()
		f.m.Allocator().SetPressureHandler(nil)
		f.m.Allocator().SetSoftLimit(0, 0)
		f.resOn.Store(false)
		// What stayed resident is unused: release it as the policy would
		// have without residency.
		for _, u := range f.m.Unused() {
			f.Unreferenced(u.Asset)
		}
		return nil
	}
	cfg := *r
	if cfg.HeapShare == 0 {
		cfg.HeapShare = 0.8
	}
	if cfg.High == 0 {
		cfg.High = 1
	}
	if cfg.Low == 0 {
		cfg.Low = 0.9
	}
	switch {
	case cfg.HeapShare < 0 || cfg.HeapShare > 1:
		return fmt.Errorf("residency: heap share %v is not in (0, 1]", cfg.HeapShare)
	case cfg.Low <= 0 || cfg.High > 1 || cfg.Low >= cfg.High:
		return fmt.Errorf("residency: watermarks low %v, high %v: want 0 < low < high <= 1", cfg.Low, cfg.High)
	}
	fromHeaps := cfg.Budget == 0
	if fromHeaps {
		cfg.Budget = heapBudget(f.m.Device(), cfg.HeapShare)
		if cfg.Budget == 0 {
			return errors.New("residency: the device reports no device-local heap budget; give Budget in bytes")
		}
	}
	if cfg.Cost == nil {
		cfg.Cost = defaultCost
	}
	f.resMu.Lock()
	old := f.res
	f.res = &residency{cfg: cfg, fromHeaps: fromHeaps}
	if old != nil {
		f.res.stats, f.res.frames = old.stats, old.frames
	}
	f.res.stats.On = true
	f.res.setBudget(cfg.Budget)
	high := f.res.stats.High
	f.resMu.Unlock()
	f.m.Allocator().SetSoftLimit(vk.HeapDeviceLocal, high)
	f.resOn.Store(true)
	f.m.Allocator().SetPressureHandler(f.pressure)
	return nil
}

// setBudget sets the budget and its watermarks in bytes.
func (r *residency) setBudget(b uint64) {
	r.cfg.Budget = b
	r.stats.Budget = b
	r.stats.High = uint64(float64(b) * r.cfg.High)
	r.stats.Low = uint64(float64(b) * r.cfg.Low)
}

// heapBudget is share of the device-local heaps' budget.
func heapBudget(d *vk.Device, share float64) uint64 {
	return uint64(float64(assets.DeviceLocalBudget(d)) * share)
}

func defaultCost(u assets.Unused) float64 {
	if u.Remote {
		return 4
	}
	return 1
}

// ResidencyStats takes the residency policy's figures.
func (f *Finalizer) ResidencyStats() ResidencyStats {
	f.resMu.Lock()
	defer f.resMu.Unlock()
	if f.res == nil {
		return ResidencyStats{}
	}
	return f.res.stats
}

// balance is Collect's residency step: measure, and evict when over High.
func (f *Finalizer) balance() {
	if !f.resOn.Load() {
		return
	}
	f.resMu.Lock()
	defer f.resMu.Unlock()
	r := f.res
	if r == nil {
		return
	}
	if d := f.m.Device(); r.fromHeaps && d.HasMemoryBudget() {
		if b := heapBudget(d, r.cfg.HeapShare); b > 0 && b != r.cfg.Budget {
			r.setBudget(b)
			f.m.Allocator().SetSoftLimit(vk.HeapDeviceLocal, r.stats.High)
		}
	}
	ss := f.m.Sync().Stats()
	r.frames = int(ss.Frames)
	used := f.m.Allocator().AllocatedBytes(vk.HeapDeviceLocal)
	r.stats.Used = used
	st := &r.stats
	// What was released already frees its memory when the GPU is done:
	// the budget allows it, and evicting for it would evict more every
	// frame of the wait. Crossing High is judged without it; relief, by
	// the memory actually back within the budget (High), what was evicted
	// retired.
	resident := used - min(used, ss.PendingBytes)
	switch {
	case !st.OverHigh && resident > st.High:
		st.OverHigh, r.overSince = true, r.frames
	case st.OverHigh && used <= st.High:
		st.OverHigh = false
		st.Reliefs++
		st.LastReliefFrames = r.frames - r.overSince
		st.MaxReliefFrames = max(st.MaxReliefFrames, st.LastReliefFrames)
	}
	if !st.OverHigh {
		return
	}
	if resident > st.Low {
		f.evict(r, resident-st.Low)
	}
}

// evict releases unused assets, highest score first — frames unused times
// bytes freed, over the reload cost — until need bytes are freed or none is
// left, and returns what it freed. f.resMu is held, and may be waited for
// by an allocating goroutine that holds an atlas's lock (the pressure
// handler): so the atlases hear of what an eviction released at the next
// Collect, never under f.resMu.
func (f *Finalizer) evict(r *residency, need uint64) uint64 {
	f.evicting.Add(1)
	defer f.evicting.Add(-1)
	cands := f.m.Unused()
	now := f.m.Sync().Issued()
	f.mu.Lock()
	cands = slices.DeleteFunc(cands, func(u assets.Unused) bool { return f.noAuto[assets.BaseOf(u.Asset).ID()] })
	f.mu.Unlock()
	score := func(u assets.Unused) float64 {
		age := float64(now-min(now, u.Since)) + 1
		return age * float64(u.Bytes+1) / max(r.cfg.Cost(u), 1e-9)
	}
	slices.SortFunc(cands, func(x, y assets.Unused) int { return cmp.Compare(score(y), score(x)) })
	var freed uint64
	for _, u := range cands {
		if freed >= need {
			break
		}
		n, err := f.m.Release(u.Asset, false)
		if err != nil || n == 0 {
			continue // re-referenced, locked or loading meanwhile: the rule said no
		}
		freed += u.Bytes
		r.stats.Evictions += uint64(n)
		r.stats.EvictedBytes += u.Bytes
	}
	return freed
}

// pressureWait bounds how long an allocation under pressure waits for the
// GPU to finish with what was evicted for it.
const pressureWait = 2 * time.Second

// pressure is the allocator's pressure handler. Before an allocation that
// would take device-local usage over High (Soft), it evicts unused assets
// for the excess, counting what already waits to retire as gone (staging
// allocations evict nothing), and does not wait: the budget allows what is
// retiring. After an allocation failed for
// lack of memory, it evicts for the request, waits for the submitted work
// that still reads what went, retires it, and has the allocation tried
// again if anything was freed. It runs on the allocating goroutine, which
// may hold other locks: the atlases hear of what it released at the next
// Collect (Released), not here.
func (f *Finalizer) pressure(p alloc.Pressure) bool {
	f.resMu.Lock()
	r := f.res
	if r == nil {
		f.resMu.Unlock()
		return false
	}
	if p.Soft && p.Usage == alloc.UsageUpload {
		// Staging: retiring once its copy is recorded, memory the budget
		// allows as pending; evicting for it would trade resident assets
		// for bytes about to be freed.
		f.resMu.Unlock()
		return false
	}
	if p.Soft {
		used := f.m.Allocator().AllocatedBytes(vk.HeapDeviceLocal)
		pending := f.m.Sync().Stats().PendingBytes
		if projected := used - min(used, pending) + p.Size; projected > r.stats.High {
			f.evict(r, projected-r.stats.High)
		}
		f.resMu.Unlock()
		return false
	}
	r.stats.PressureEvents++
	freed := f.evict(r, p.Size)
	f.resMu.Unlock()
	s := f.m.Sync()
	if freed == 0 && s.Stats().PendingBytes == 0 {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), pressureWait)
	defer cancel()
	if err := s.Wait(ctx, s.Submitted()); err != nil {
		return false
	}
	if _, err := s.Poll(); err != nil {
		return false
	}
	f.resMu.Lock()
	r.stats.PressureRecovered++
	f.resMu.Unlock()
	return true
}

// Evict implements assets.Evicter: with residency on, it evicts unused
// assets for bytes (a load refused admission asks it) and returns what it
// freed once retired; with it off, nothing. The atlases hear of what went
// at the next Collect.
func (f *Finalizer) Evict(bytes uint64) uint64 {
	f.resMu.Lock()
	defer f.resMu.Unlock()
	if f.res == nil {
		return 0
	}
	return f.evict(f.res, bytes)
}
