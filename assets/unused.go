package assets

import (
	"slices"
	"strings"

	"github.com/vkassets/vkassets/framesync"
)

// The unused set: the cached assets that nothing may reference any more —
// count 0, or (once the graph has an edge that can close a cycle) no
// dynamic holder left and a reference dropped since — kept apart from the
// cache so that ReleaseUnused and a residency policy cost what is unused,
// not what is cached. An asset enters when a count drop leaves it possibly
// garbage (DecRef, the release of a dependent, a load that cached it with
// count 0) and leaves when it gains a reference (AddRef, Acquire, a load
// that finds it, a new dependent) or is released. Membership is a
// candidacy, not a verdict: the release rule still decides each one.

// unusedEntry is an asset of the unused set: where it is (Base.uslot holds
// its index + 1) and since when.
type unusedEntry struct {
	a     Asset
	since framesync.Serial // the newest serial handed out when it entered
}

// markUnused puts a in the unused set if it may be garbage and is not
// there yet. m.mu is held.
func (m *Manager) markUnused(a Asset) {
	b := a.base()
	if b.uslot != 0 || !m.maybeGarbage(b) {
		return
	}
	m.unused = append(m.unused, unusedEntry{a: a, since: m.sync.Issued()})
	b.uslot = int32(len(m.unused))
}

// markUsed takes b out of the unused set (it gained a reference, or left
// the cache). O(1): the last entry takes its place. m.mu is held.
func (m *Manager) markUsed(b *Base) {
	i := int(b.uslot) - 1
	if i < 0 {
		return
	}
	last := len(m.unused) - 1
	if i != last {
		m.unused[i] = m.unused[last]
		m.unused[i].a.base().uslot = int32(i + 1)
	}
	m.unused[last] = unusedEntry{}
	m.unused = m.unused[:last]
	b.uslot = 0
}

// candidates are the unused assets ReleaseUnused tries, newest first, so
// that dependents go before what they depend on. Entries that gained a
// reference by a path that does not leave the set eagerly are dropped here.
// O(unused · log unused). m.mu is held.
func (m *Manager) candidates(match func(Asset) bool) []Asset {
	var out []Asset
	for i := 0; i < len(m.unused); {
		a := m.unused[i].a
		b := a.base()
		if !m.maybeGarbage(b) {
			m.markUsed(b) // the last entry moves to i: look at i again
			continue
		}
		if !b.locked.Load() && !b.ignored.Load() && (match == nil || match(a)) {
			out = append(out, a)
		}
		i++
	}
	slices.SortFunc(out, func(x, y Asset) int { return cmpID(y.base().id, x.base().id) })
	return out
}

// Unused describes an asset that is cached and unused: resident, its
// memory kept for a load that may come back, evictable.
type Unused struct {
	Asset Asset
	// Since is the newest serial handed out when it became unused: it has
	// not been used by a load or a reference since (framesync.Serial; a
	// frame's serial).
	Since framesync.Serial
	// Bytes is the device memory its release would free: its own GPU
	// objects and those of the dependencies only it holds, transitively.
	Bytes uint64
	// Remote: it was loaded from a URL (reloading it costs a network
	// round trip).
	Remote bool
}

// Unused lists the assets a release could take now: unused, Ready, not
// locked, not ignored, not held by a load in flight. It is the residency
// policy's view; O(unused and what only they hold).
func (m *Manager) Unused() []Unused {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Unused, 0, len(m.unused))
	for _, e := range m.unused {
		b := e.a.base()
		if !m.maybeGarbage(b) || b.locked.Load() || b.ignored.Load() || b.pins > 0 {
			continue
		}
		out = append(out, Unused{Asset: e.a, Since: e.since, Bytes: m.reclaim(e.a), Remote: isURL(b.key)})
	}
	return out
}

// isURL: the key of an asset loaded over the network.
func isURL(key string) bool { return strings.Contains(key, "://") }

// reclaim is the bytes a's release frees: its own, and, through each
// dependency that only a holds (one reference, no dynamic holder, not
// locked), that dependency's. Shared dependencies stay, and are not
// counted. Each asset counts once, marked with a fresh walk number (a
// cycle of such dependencies would otherwise be counted round and round).
// m.mu is held.
func (m *Manager) reclaim(a Asset) uint64 {
	m.epoch++
	ep := m.epoch
	b := a.base()
	b.w.walk = ep
	n := Bytes(a)
	stack := append(m.reclaimStack[:0], b)
	for len(stack) > 0 {
		x := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, d := range x.Deps() {
			db := d.base()
			if db.w.walk != ep && db.State() == Ready && db.held.Load() == 1 && db.dyn.Load() == 0 && !db.locked.Load() {
				db.w.walk = ep
				n += Bytes(d)
				stack = append(stack, db)
			}
		}
	}
	clear(stack)
	m.reclaimStack = stack[:0]
	return n
}

// UnusedSince reports whether a is in the unused set, and since which
// serial (the newest handed out when it entered or was last loaded).
func (m *Manager) UnusedSince(a Asset) (framesync.Serial, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b := a.base()
	if b.uslot == 0 || !m.maybeGarbage(b) {
		return 0, false
	}
	return m.unused[b.uslot-1].since, true
}

// Stats are the cache's figures.
type Stats struct {
	Cached int // assets in the cache
	// Unused counts cached assets nothing references (resident, unused:
	// a load of one is a hit); UnusedBytes is what releasing them all
	// would free.
	Unused      int
	UnusedBytes uint64
	// Hits counts loads answered from the cache (no I/O, no decode, no
	// upload); Misses, loads that made the asset (or waited for a load in
	// flight to make it).
	Hits, Misses uint64
	// Resurrected counts the hits on an unused asset: memory kept resident
	// that saved a load.
	Resurrected uint64
}

// Stats takes the cache's figures; O(unused).
func (m *Manager) Stats() Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := Stats{Cached: len(m.byID), Hits: m.hits, Misses: m.misses, Resurrected: m.resurrected}
	for _, e := range m.unused {
		if m.maybeGarbage(e.a.base()) {
			s.Unused++
			s.UnusedBytes += m.reclaim(e.a)
		}
	}
	return s
}
