package finalizer

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/vkassets/vkassets/assets"
)

// Errors.
var (
	// ErrLocked: the asset is locked; not even a forced release frees it.
	ErrLocked = assets.ErrLocked
	// ErrNotCached: the asset was already released.
	ErrNotCached = errors.New("finalizer: asset is not in the cache")
)

// Finalizer is the release policy over an assets.Manager: Cocos Creator's
// finalizer and Galacean's gc, made GPU-safe. A non-forced release is
// decided at the frame's end (Collect), so that an asset re-referenced in
// the same frame survives; a forced release is immediate on the CPU side.
// Every decision goes through the manager's one release rule
// (assets.Manager.Release): locks, dependents, loads in flight and cycles
// are checked in the same step as the release. No check ever refuses a
// release because the GPU is using the asset: its GPU objects go to
// framesync at the asset's last use.
//
// Every method is safe from any goroutine.
type Finalizer struct {
	m *assets.Manager

	switching sync.Mutex // serialises SwitchScene

	collecting sync.Mutex     // serialises Collect, whose batch is below
	batch      []assets.Asset // the decisions Collect is making; kept for reuse

	mu       sync.Mutex     // guards the fields below
	pending  []assets.Asset // non-forced releases to decide at Collect
	queued   map[assets.ID]bool
	qpeak    int                      // the most queued held since it was last made
	npending atomic.Int32             // len(pending), for Collect to stop without the lock
	noAuto   map[assets.ID]bool       // scenes whose auto-release is off
	scene    *assets.Scene            // the current scene, held with one reference
	persist  []assets.Asset           // the persistent roots, held with one reference each
	atlases  atomic.Pointer[[]*Atlas] // replaced, never edited, under mu
	// late are released frames whose atlases hear of it at the next
	// Collect: those released while an eviction runs (it holds resMu,
	// which an allocating goroutine holding an atlas's lock may wait for).
	late []assets.Asset

	resSet   sync.Mutex   // serialises SetResidency
	resOn    atomic.Bool  // residency is on (res != nil)
	resMu    sync.Mutex   // guards res; taken before mu, never after
	res      *residency   // nil: residency off
	evicting atomic.Int32 // evictions running (residency.go)
}

// New makes the policy and hooks it to the manager: a DecRef to 0 asks for
// a (deferred) release.
func New(m *assets.Manager) *Finalizer {
	f := &Finalizer{m: m, queued: map[assets.ID]bool{}, noAuto: map[assets.ID]bool{}}
	m.SetReleaser(f)
	return f
}

// Unreferenced implements assets.Releaser: an asset that lost its last
// dynamic reference (or dependent) is tried for release at the next
// Collect — unless it is a scene whose auto-release is off.
func (f *Finalizer) Unreferenced(a assets.Asset) {
	if f.resOn.Load() {
		return // resident, unused: evicted under pressure, or hit by a load
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.noAuto[assets.BaseOf(a).ID()] {
		return
	}
	f.enqueue(a)
}

// Released implements assets.Releaser: a released frame leaves its atlas.
func (f *Finalizer) Released(a assets.Asset) {
	if f.evicting.Load() > 0 {
		f.mu.Lock()
		f.late = append(f.late, a)
		f.mu.Unlock()
		return
	}
	f.tellAtlases(a)
}

// tellAtlases frees a released frame's cell in every atlas.
func (f *Finalizer) tellAtlases(a assets.Asset) {
	if atlases := f.atlases.Load(); atlases != nil {
		for _, at := range *atlases {
			at.released(a)
		}
	}
}

// Lock keeps an asset from every release, forced or not, until Unlock;
// what it depends on stays with it.
func (f *Finalizer) Lock(a assets.Asset) error { return f.m.Lock(a) }

// Unlock undoes Lock.
func (f *Finalizer) Unlock(a assets.Asset) { f.m.Unlock(a) }

// IsLocked reports whether the asset is locked.
func (f *Finalizer) IsLocked(a assets.Asset) bool { return f.m.IsLocked(a) }

// Ignore marks an asset that ReleaseUnused skips (Galacean's "ignored"),
// though an explicit Release still decides on it.
func (f *Finalizer) Ignore(a assets.Asset, ignore bool) { f.m.Ignore(a, ignore) }

// Release asks for a non-forced release, decided at the next Collect: the
// asset goes if it is not locked and its count is 0, or every remaining
// reference comes from a cycle through itself (the cycle goes with it).
func (f *Finalizer) Release(a assets.Asset) error {
	b := assets.BaseOf(a)
	if b.State() != assets.Ready {
		return fmt.Errorf("release %v: %w", b, ErrNotCached)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.enqueue(a)
	return nil
}

// enqueue adds a pending decision; f.mu is held.
func (f *Finalizer) enqueue(a assets.Asset) {
	id := assets.BaseOf(a).ID()
	if !f.queued[id] {
		f.queued[id] = true
		f.pending = append(f.pending, a)
		f.npending.Store(int32(len(f.pending)))
	}
}

// ForceRelease releases an asset now, whatever its dynamic holders (Cocos's
// release(asset, true)), unless it is locked (ErrLocked), a live asset
// depends on it (assets.ErrInUse: release that first) or a load in flight
// holds it (assets.ErrLoading). It leaves the cache at once (invalid to
// the CPU) and its GPU objects wait for the GPU. Its dependencies are
// tried at the next Collect, not forced.
func (f *Finalizer) ForceRelease(a assets.Asset) error {
	if _, err := f.m.Release(a, true); err != nil {
		if errors.Is(err, assets.ErrReleased) {
			return fmt.Errorf("force release: %w: %w", ErrNotCached, err)
		}
		return fmt.Errorf("force release: %w", err)
	}
	return nil
}

// Collect decides every release asked for since the last Collect (call it
// at the frame's end), and those they lead to, and returns how many assets
// it released. Deciding late is what lets an asset re-referenced in the
// same frame survive.
func (f *Finalizer) Collect() int {
	f.collecting.Lock()
	defer f.collecting.Unlock()
	n := 0
	for {
		// The pending list and the batch trade places: neither is made anew
		// (a release per frame allocates nothing).
		f.mu.Lock()
		late := f.late
		f.late = nil
		f.batch, f.pending = f.pending, f.batch[:0]
		f.npending.Store(0)
		f.qpeak = max(f.qpeak, len(f.queued))
		for _, a := range f.batch {
			delete(f.queued, assets.BaseOf(a).ID())
		}
		if len(f.queued) == 0 && f.qpeak > 1024 {
			// Made anew: Go's maps never shrink, and one grown by a sweep
			// would make each later release probe its million slots.
			f.queued, f.qpeak = map[assets.ID]bool{}, 0
		}
		f.mu.Unlock()
		for _, a := range late {
			f.tellAtlases(a)
		}
		if len(f.batch) == 0 {
			f.balance()
			return n
		}
		// What these releases leave unreferenced is queued meanwhile, and
		// decided by the next turn of the loop.
		for _, a := range f.batch {
			if k, err := f.m.Release(a, false); err == nil {
				n += k
			}
		}
		clear(f.batch)
		if f.npending.Load() == 0 {
			f.balance()
			return n
		}
	}
}

// ReleaseUnused decides the releases asked for so far (Collect), then
// releases every cached asset that nothing references and that is neither
// locked nor ignored, and what they leave unreferenced (Galacean's gc,
// Cocos's releaseUnusedAssets; see assets.Manager.ReleaseUnused). It
// returns how many went. It goes on until a pass frees nothing: a release
// can leave more unreferenced outside the manager's cascade (an atlas
// drops a page its last frame left empty), and none of it may survive.
func (f *Finalizer) ReleaseUnused() int {
	return f.sweep(f.m.ReleaseUnused)
}

// ReleaseUnusedIn is ReleaseUnused for one bundle's assets.
func (f *Finalizer) ReleaseUnusedIn(b *assets.Bundle) int { return f.sweep(b.ReleaseUnused) }

// sweep runs Collect and release until a pass releases nothing.
func (f *Finalizer) sweep(release func() int) int {
	total := 0
	for {
		n := f.Collect() + release()
		total += n
		if n == 0 {
			return total
		}
	}
}

// ReleaseAll force-releases every cached asset that is not locked, nor
// depended on by a locked one, nor held by a load in flight, and returns
// how many went (see assets.Manager.ReleaseAll).
func (f *Finalizer) ReleaseAll() int { return f.m.ReleaseAll() + f.Collect() }

// ReleaseAllIn is ReleaseAll for one bundle's assets.
func (f *Finalizer) ReleaseAllIn(b *assets.Bundle) int { return b.ReleaseAll() + f.Collect() }

// IsCycleOnly reports whether every remaining reference to a comes from
// cycles through it that nothing else holds (a non-forced release would
// free it with them).
func (f *Finalizer) IsCycleOnly(a assets.Asset) bool { return f.m.CycleOnly(a) }

// SetAutoRelease sets a scene's auto-release switch (on by default). With
// it off — a scene switched to often — leaving the scene drops its
// reference without releasing it, and its assets stay cached for the next
// visit.
func (f *Finalizer) SetAutoRelease(s *assets.Scene, on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if on {
		delete(f.noAuto, s.ID())
	} else {
		f.noAuto[s.ID()] = true
	}
}

// SwitchScene makes next the current scene. The order can never free
// something the new scene or a persistent node still needs: first the new
// scene and the persistent roots gain their references, then the previous
// scene and the previous persistent roots lose theirs, and only then is
// anything released — the old scene now if its auto-release is on (its
// dependencies are tried, so those the new scene shares survive).
func (f *Finalizer) SwitchScene(next *assets.Scene, persistent ...assets.Asset) error {
	f.switching.Lock()
	defer f.switching.Unlock()
	if err := f.m.AddRef(next); err != nil {
		return fmt.Errorf("switch scene: %w", err)
	}
	for i, p := range persistent {
		if err := f.m.AddRef(p); err != nil {
			for _, q := range persistent[:i] {
				_ = f.m.DecRef(q)
			}
			_ = f.m.DecRef(next)
			return fmt.Errorf("switch scene: persistent root: %w", err)
		}
	}
	f.mu.Lock()
	old, oldPersist := f.scene, f.persist
	f.scene, f.persist = next, append([]assets.Asset(nil), persistent...)
	auto := old != nil && !f.noAuto[old.ID()]
	f.mu.Unlock()
	for _, p := range oldPersist {
		_ = f.m.DecRef(p) // at 0 this asks for a deferred release
	}
	if old != nil {
		_ = f.m.DecRef(old)          // with auto-release on, at 0 this asks for the release
		if auto && !f.resOn.Load() { // with residency, it stays resident until pressure
			_ = f.Release(old) // held only by cycles: the rule decides
		}
	}
	f.Collect()
	return nil
}

// CurrentScene is the scene of the last SwitchScene.
func (f *Finalizer) CurrentScene() *assets.Scene {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.scene
}

// Why explains why an asset is alive (or what became of it): locked; its
// count and which assets hold it, the rest being dynamic holders; in a
// cycle; or released and waiting for a GPU serial.
func (f *Finalizer) Why(a assets.Asset) string {
	b := assets.BaseOf(a)
	var reasons []string
	switch b.State() {
	case assets.Retiring:
		return fmt.Sprintf("%v: released; its GPU objects wait for serial %d (completed: %d)", b, b.LastUse(), f.m.Sync().Completed())
	case assets.Released, assets.Destroyed, assets.Failed:
		return fmt.Sprintf("%v: %v", b, b.State())
	}
	if f.IsLocked(a) {
		reasons = append(reasons, "locked")
	}
	holders := f.holders(a)
	if n := b.RefCount(); n > 0 {
		names := make([]string, len(holders))
		for i, h := range holders {
			names[i] = assets.BaseOf(h).String()
		}
		r := fmt.Sprintf("count %d", n)
		if len(names) > 0 {
			r += ", held by " + strings.Join(names, ", ")
		}
		if dyn := n - len(holders); dyn > 0 {
			r += fmt.Sprintf(", and %d dynamic holder(s) (AddRef)", dyn)
		}
		reasons = append(reasons, r)
		if f.m.CycleOnly(a) {
			reasons = append(reasons, "in a cycle through itself (a non-forced release would free it)")
		}
	}
	if b.RefCount() == 0 && f.resOn.Load() {
		since, _ := f.m.UnusedSince(a)
		r := fmt.Sprintf("count 0: resident, unused since serial %d", since)
		switch {
		case f.IsLocked(a):
			r += ", not evictable while locked"
		default:
			r += ", evictable (and the next ReleaseUnused frees it)"
		}
		reasons = append(reasons, r)
	}
	if len(reasons) == 0 {
		reasons = append(reasons, "count 0: nothing holds it; the next ReleaseUnused frees it")
	}
	return fmt.Sprintf("%v: %s", b, strings.Join(reasons, "; "))
}

// holders are the cached assets that list a among their dependencies (one
// entry per edge).
func (f *Finalizer) holders(a assets.Asset) []assets.Asset {
	id := assets.BaseOf(a).ID()
	var out []assets.Asset
	for _, x := range f.m.Assets() {
		for _, d := range assets.BaseOf(x).Deps() {
			if assets.BaseOf(d).ID() == id {
				out = append(out, x)
			}
		}
	}
	return out
}

// Entry is one live asset in a Snapshot.
type Entry struct {
	ID    assets.ID
	Kind  string
	Name  string // key, or name for run-time assets
	Count int
	Bytes uint64
}

// Snapshot is the live assets and the device bytes they own.
type Snapshot struct {
	Assets []Entry
	Bytes  uint64
}

// Snapshot takes one.
func (f *Finalizer) Snapshot() Snapshot {
	var s Snapshot
	for _, a := range f.m.Assets() {
		b := assets.BaseOf(a)
		name := b.Key()
		if name == "" {
			name = b.Name()
		}
		e := Entry{ID: b.ID(), Kind: b.Kind(), Name: name, Count: b.RefCount(), Bytes: assets.Bytes(a)}
		s.Assets = append(s.Assets, e)
		s.Bytes += e.Bytes
	}
	return s
}

// Diff compares two snapshots: what was freed between them, what survived,
// and what is new — the before/after check of a gc.
func Diff(before, after Snapshot) (freed, survived, added []Entry) {
	inAfter := map[assets.ID]bool{}
	for _, e := range after.Assets {
		inAfter[e.ID] = true
	}
	inBefore := map[assets.ID]bool{}
	for _, e := range before.Assets {
		inBefore[e.ID] = true
		if inAfter[e.ID] {
			survived = append(survived, e)
		} else {
			freed = append(freed, e)
		}
	}
	for _, e := range after.Assets {
		if !inBefore[e.ID] {
			added = append(added, e)
		}
	}
	return freed, survived, added
}

// Report lists the live assets (kind, name, count, bytes, holders), for
// leak reports at shutdown.
func (f *Finalizer) Report() []string {
	var out []string
	for _, a := range f.m.Assets() {
		out = append(out, f.Why(a))
	}
	sort.Strings(out)
	return out
}
