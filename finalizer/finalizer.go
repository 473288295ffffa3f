package finalizer

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/vkassets/vkassets/assets"
)

// Errors.
var (
	// ErrLocked: the asset is locked; not even a forced release frees it.
	ErrLocked = errors.New("finalizer: asset is locked")
	// ErrNotCached: the asset was already released.
	ErrNotCached = errors.New("finalizer: asset is not in the cache")
)

// Finalizer is the release policy over an assets.Manager: Cocos Creator's
// finalizer and Galacean's gc, made GPU-safe. A non-forced release is
// decided at the frame's end (Collect), so that an asset re-referenced in
// the same frame survives; a forced release is immediate on the CPU side.
// No check ever refuses a release because the GPU is using the asset: its
// GPU objects go to framesync at the asset's last use.
//
// It is safe for concurrent use.
type Finalizer struct {
	m *assets.Manager

	mu      sync.Mutex // guards the fields below
	locked  map[assets.ID]bool
	ignored map[assets.ID]bool
	pending []assets.Asset // non-forced releases to decide at Collect
	queued  map[assets.ID]bool
	noAuto  map[assets.ID]bool // scenes whose auto-release is off
	scene   *assets.Scene      // the current scene, held with one reference
	persist []assets.Asset     // the persistent roots, held with one reference each
	atlases []*Atlas
}

// New makes the policy and hooks it to the manager: a DecRef to 0 asks for
// a (deferred) release.
func New(m *assets.Manager) *Finalizer {
	f := &Finalizer{m: m, locked: map[assets.ID]bool{}, ignored: map[assets.ID]bool{},
		queued: map[assets.ID]bool{}, noAuto: map[assets.ID]bool{}}
	m.SetReleaser(f)
	return f
}

// Unreferenced implements assets.Releaser: an asset whose count DecRef
// brought to 0 is tried for release at the next Collect.
func (f *Finalizer) Unreferenced(a assets.Asset) { _ = f.Release(a) }

// Lock keeps an asset from every release, forced or not, until Unlock.
func (f *Finalizer) Lock(a assets.Asset) {
	f.mu.Lock()
	f.locked[assets.BaseOf(a).ID()] = true
	f.mu.Unlock()
}

// Unlock undoes Lock.
func (f *Finalizer) Unlock(a assets.Asset) {
	f.mu.Lock()
	delete(f.locked, assets.BaseOf(a).ID())
	f.mu.Unlock()
}

// IsLocked reports whether the asset is locked.
func (f *Finalizer) IsLocked(a assets.Asset) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.locked[assets.BaseOf(a).ID()]
}

// Ignore marks an asset that ReleaseUnused skips (Galacean's "ignored"),
// though an explicit Release still decides on it.
func (f *Finalizer) Ignore(a assets.Asset, ignore bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if ignore {
		f.ignored[assets.BaseOf(a).ID()] = true
	} else {
		delete(f.ignored, assets.BaseOf(a).ID())
	}
}

// Release asks for a non-forced release, decided at the next Collect: the
// asset goes if it is not locked and its count is 0, or every remaining
// reference comes from a cycle through itself.
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

func (f *Finalizer) enqueue(a assets.Asset) {
	id := assets.BaseOf(a).ID()
	if !f.queued[id] {
		f.queued[id] = true
		f.pending = append(f.pending, a)
	}
}

// ForceRelease releases an asset now, whatever its count, unless it is
// locked — or a dependency of a locked asset, which must stay valid with
// it: it leaves the cache at once (invalid to the CPU) and its GPU objects
// wait for the GPU. Its dependencies are tried, not forced.
func (f *Finalizer) ForceRelease(a assets.Asset) error {
	b := assets.BaseOf(a)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.protected()[b.ID()] {
		return fmt.Errorf("force release %v: %w", b, ErrLocked)
	}
	if err := f.m.Unload(a); err != nil {
		return fmt.Errorf("force release: %w", err)
	}
	f.unpack(a)
	for _, d := range b.Deps() {
		f.enqueue(d)
	}
	return nil
}

// unpack frees a released frame's atlas cell; f.mu is held.
func (f *Finalizer) unpack(a assets.Asset) {
	for _, at := range f.atlases {
		at.released(a)
	}
}

// Collect decides every release asked for since the last Collect (call it
// at the frame's end) and returns how many assets it released. Deciding
// late is what lets an asset re-referenced in the same frame survive.
func (f *Finalizer) Collect() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for len(f.pending) > 0 {
		a := f.pending[0]
		f.pending = f.pending[1:]
		delete(f.queued, assets.BaseOf(a).ID())
		if f.releasable(a) {
			n += f.unload(a)
		}
	}
	return n
}

// protected is every locked asset and everything reachable from one: one
// pass over the locked assets' closures. f.mu is held.
func (f *Finalizer) protected() map[assets.ID]bool {
	out := map[assets.ID]bool{}
	if len(f.locked) == 0 {
		return out
	}
	var stack []assets.Asset
	for id := range f.locked {
		if a, ok := f.m.Get(id); ok {
			out[id] = true
			stack = append(stack, a)
		}
	}
	for len(stack) > 0 {
		x := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, d := range assets.BaseOf(x).Deps() {
			if id := assets.BaseOf(d).ID(); !out[id] {
				out[id] = true
				stack = append(stack, d)
			}
		}
	}
	return out
}

// releasable is the check order of a non-forced release: locked, count 0,
// then the cycle check. f.mu is held.
func (f *Finalizer) releasable(a assets.Asset) bool {
	b := assets.BaseOf(a)
	switch {
	case b.State() != assets.Ready, f.locked[b.ID()]:
		return false
	case b.RefCount() == 0:
		return true
	}
	return onlyCyclic(a)
}

// unload releases a and tries its dependencies in the same pass, each
// decremented exactly once by the unload. f.mu is held.
func (f *Finalizer) unload(a assets.Asset) int {
	if f.m.Unload(a) != nil {
		return 0
	}
	f.unpack(a)
	for _, d := range assets.BaseOf(a).Deps() {
		f.enqueue(d)
	}
	return 1
}

// ReleaseUnused releases now every cached asset whose count is 0 and that
// is neither locked nor ignored, and what they leave unreferenced
// (Galacean's gc, Cocos's releaseUnusedAssets). It returns how many.
func (f *Finalizer) ReleaseUnused() int {
	return f.releaseUnusedIf(func(assets.Asset) bool { return true })
}

// ReleaseUnusedIn is ReleaseUnused for one bundle's assets.
func (f *Finalizer) ReleaseUnusedIn(b *assets.Bundle) int {
	prefix := b.Name() + ":"
	return f.releaseUnusedIf(func(a assets.Asset) bool { return strings.HasPrefix(assets.BaseOf(a).Key(), prefix) })
}

func (f *Finalizer) releaseUnusedIf(match func(assets.Asset) bool) int {
	f.mu.Lock()
	for _, a := range f.m.Assets() {
		b := assets.BaseOf(a)
		if b.RefCount() == 0 && !f.ignored[b.ID()] && match(a) {
			f.enqueue(a)
		}
	}
	f.mu.Unlock()
	return f.Collect()
}

// ReleaseAll force-releases every cached asset that is neither locked nor a
// dependency of a locked one, and returns how many.
func (f *Finalizer) ReleaseAll() int { return f.releaseAllIf(func(assets.Asset) bool { return true }) }

// ReleaseAllIn is ReleaseAll for one bundle's assets.
func (f *Finalizer) ReleaseAllIn(b *assets.Bundle) int {
	prefix := b.Name() + ":"
	return f.releaseAllIf(func(a assets.Asset) bool { return strings.HasPrefix(assets.BaseOf(a).Key(), prefix) })
}

func (f *Finalizer) releaseAllIf(match func(assets.Asset) bool) int {
	n := 0
	for _, a := range f.m.Assets() {
		if match(a) && assets.BaseOf(a).State() == assets.Ready && f.ForceRelease(a) == nil {
			n++
		}
	}
	// The dependencies of what went were tried, not forced: decide them now.
	return n + f.Collect()
}

// onlyCyclic is the cycle check: does every remaining reference to a come
// from inside the subgraph reachable from a? One depth-first pass over that
// subgraph counts, for each of its assets, the references it receives from
// inside: O(V+E) of the subgraph.
func onlyCyclic(a assets.Asset) bool {
	root := assets.BaseOf(a)
	seen := map[assets.ID]bool{root.ID(): true}
	internal := 0 // references to a from assets reachable from a
	stack := []assets.Asset{a}
	for len(stack) > 0 {
		x := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, d := range assets.BaseOf(x).Deps() {
			db := assets.BaseOf(d)
			if db.ID() == root.ID() {
				internal++
			}
			if db.State() == assets.Ready && !seen[db.ID()] {
				seen[db.ID()] = true
				stack = append(stack, d)
			}
		}
	}
	return internal > 0 && root.RefCount() <= internal
}

// IsCycleOnly reports whether every remaining reference to a comes from
// the subgraph reachable from a (the cycle check of a non-forced release).
func (f *Finalizer) IsCycleOnly(a assets.Asset) bool { return onlyCyclic(a) }

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
		_ = f.m.DecRef(old)
		if auto && old.RefCount() == 0 {
			_ = f.Release(old)
		} else {
			f.mu.Lock()
			f.dequeue(old)
			f.mu.Unlock()
		}
	}
	f.Collect()
	return nil
}

// dequeue withdraws a pending release; f.mu is held.
func (f *Finalizer) dequeue(a assets.Asset) {
	id := assets.BaseOf(a).ID()
	if !f.queued[id] {
		return
	}
	delete(f.queued, id)
	for i, p := range f.pending {
		if assets.BaseOf(p).ID() == id {
			f.pending = append(f.pending[:i], f.pending[i+1:]...)
			return
		}
	}
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
		if onlyCyclic(a) {
			reasons = append(reasons, "in a cycle through itself (a non-forced release would free it)")
		}
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
