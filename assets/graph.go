package assets

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/vkassets/vkassets/framesync"
)

// The graph's rules, each applied in one critical section of Manager.mu so
// that no check is separated from the step it allows: references, pins of
// loads in flight, locks, and the release decision with its cycle rule.

// Errors of the release rule.
var (
	// ErrLocked: the asset is locked; not even a forced release frees it.
	ErrLocked = errors.New("assets: asset is locked")
	// ErrInUse: something still references the asset: a dependent that is
	// not itself going, or (for a non-forced release) a dynamic holder.
	ErrInUse = errors.New("assets: asset is still referenced")
	// ErrLoading: a load in flight holds the asset (it made it, or is about
	// to make something that depends on it).
	ErrLoading = errors.New("assets: asset is held by a load in flight")
)

// newBase gives b its identity and dependencies: each direct dependency
// gets one reference (refused if one is no longer Ready), and b's use
// marks are flattened from theirs. b is not cached yet (state Loading).
func (m *Manager) newBase(b *Base, kind, name string, owner GPUOwner, deps ...Asset) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, d := range deps {
		if err := m.mine(d.base()); err != nil {
			return fmt.Errorf("%s %q: dependency %v: %w", kind, name, d.base(), err)
		}
		if d.base().State() != Ready {
			return fmt.Errorf("%s %q: dependency %v: %w", kind, name, d.base(), ErrReleased)
		}
	}
	b.id = ID(m.nextID.Add(1))
	b.kind, b.name, b.owner, b.mgr = kind, name, owner, m
	b.state.Store(int32(Loading))
	var marks []*Base
	if owner != nil {
		marks = append(marks, b)
	}
	for _, d := range deps {
		db := d.base()
		db.held.Add(1)
		m.markUsed(db)
		for _, mk := range db.markList() {
			if !slices.Contains(marks, mk) {
				marks = append(marks, mk)
			}
		}
	}
	deps = slices.Clip(deps)
	b.deps.Store(&deps)
	b.marks.Store(&marks)
	return nil
}

func (b *Base) markList() []*Base {
	if ms := b.marks.Load(); ms != nil {
		return *ms
	}
	return nil
}

// maybeGarbage reports whether an asset without dynamic holders may be
// unreachable: nothing holds it, or cycles exist that could be all that
// holds it. m.mu is held.
func (m *Manager) maybeGarbage(b *Base) bool {
	return b.State() == Ready && b.dyn.Load() == 0 && (b.held.Load() == 0 || m.upward > 0)
}

// releaseSet is the release rule (Cocos's, with its cycle check), decided
// under m.mu: the assets that go if a goes (appended to set), or why a
// stays. a goes alone when it is Ready, unlocked, held by no load in flight
// and unreferenced (a forced release ignores its dynamic holders, never its
// dependents or its lock). When dependents still hold it, it goes only if
// they all lie on cycles through it that nothing else holds: then the whole
// set S of assets reachable from a that reach a back goes together, so that
// no live asset is left listing a released one. O(V+E) of what a reaches,
// with no hashing and no memory besides the assets': each asset keeps its
// state in the walk (Base.w).
func (m *Manager) releaseSet(a Asset, force bool, set []Asset) ([]Asset, error) {
	set, _, err := m.component(a, force, set, true)
	return set, err
}

// component decides releaseSet's question, appending S to set when collect
// is true, and returns the size of S.
func (m *Manager) component(a Asset, force bool, set []Asset, collect bool) ([]Asset, int, error) {
	b := a.base()
	if err := m.releasable(b); err != nil {
		return set, 0, err
	}
	if b.dyn.Load() > 0 && !force {
		return set, 0, ErrInUse
	}
	if b.held.Load() == 0 {
		return append(set, a), 1, nil
	}
	if m.upward == 0 { // every edge points from a newer asset to an older one: no cycle
		return set, 0, ErrInUse
	}
	// S is the strongly connected component of a: what a reaches that
	// reaches a back. One depth-first pass (Tarjan's) over what a reaches,
	// with the walk's stack linked through the assets' parents and
	// Tarjan's through their next. Each asset also counts the references
	// it receives from what a reaches: no edge leads from the rest of the
	// reach into S (its source would reach a too), so those are exactly the
	// ones S gives its members, and S may go when each member has no other.
	m.epoch++
	ep := m.epoch
	b.w = walkState{walk: ep, self: a, flags: onStack}
	top := b // Tarjan's stack
	n := int32(1)
	first := len(set)
	members := 0
	var refusal error
	for cur := b; cur != nil; {
		w := &cur.w
		if deps := cur.Deps(); int(w.pos) < len(deps) {
			d := deps[w.pos]
			w.pos++
			db := d.base()
			if db.w.walk != ep {
				if db.State() != Ready {
					continue
				}
				db.w = walkState{walk: ep, index: n, low: n, inner: 1, parent: cur, next: top, self: d, flags: onStack}
				n++
				top, cur = db, db
				continue
			}
			db.w.inner++
			if db.w.flags&onStack != 0 {
				w.low = min(w.low, db.w.index)
			}
			continue
		}
		// cur is done: hand its low link up, and pop its component if it
		// roots one.
		p := w.parent
		w.parent = nil
		if p != nil {
			p.w.low = min(p.w.low, w.low)
		}
		if w.low == w.index {
			for {
				k := top
				top, k.w.next = k.w.next, nil
				k.w.flags &^= onStack
				if cur == b && refusal == nil {
					// Every member of S must receive all its references from
					// S, and nothing else may hold it (locked, pinned, a
					// dynamic holder; a, the root, is checked above).
					switch {
					case k != b && m.releasable(k) != nil:
						refusal = fmt.Errorf("%v on its cycle: %w", k, m.releasable(k))
					case k.held.Load() != k.w.inner || (k != b && k.dyn.Load() > 0):
						refusal = ErrInUse
					}
					members++
					if collect {
						set = append(doubled(set), k.w.self)
					}
				}
				if k == cur {
					break
				}
			}
		}
		cur = p
	}
	if refusal != nil {
		clear(set[first:])
		return set[:first], 0, refusal
	}
	return set, members, nil
}

// The walk's flag on an asset (walkState.flags): on Tarjan's stack.
const onStack = 1

// doubled returns s with room for at least two more elements: twice its
// capacity when nearly full (append grows large slices by a quarter,
// copying a set of 100,000 assets some thirty times over).
func doubled[T any](s []T) []T {
	if cap(s)-len(s) >= 2 {
		return s
	}
	t := make([]T, len(s), max(2*cap(s), 64))
	copy(t, s)
	return t
}

// compactFloor is the cache size below which compact is not worth it.
const compactFloor = 4096

// compact rebuilds the cache's maps at their present size, once they hold
// an eighth of what they once did. Go's maps never shrink: after a sweep of
// 1,000,000 assets each later lookup or delete would probe a table of a
// million slots, a cache miss each time (it made a leaf's release in
// vkassets bench release about twice as slow). The rebuilds of a long
// sweep cost O(peak) together. m.mu is held.
func (m *Manager) compact() {
	byID := make(map[ID]Asset, len(m.byID))
	for id, a := range m.byID {
		byID[id] = a
	}
	byKey := make(map[string]Asset, len(m.byKey))
	for k, a := range m.byKey {
		byKey[k] = a
	}
	m.byID, m.byKey, m.peak = byID, byKey, len(byID)
}

// releasable is what no release overrides: the asset is Ready, unlocked,
// and no load in flight holds it. m.mu is held.
// mine refuses an asset another manager made (managers may share a
// device, an allocator and a Sync), or none: its counts and graph are
// guarded by its own manager's lock and hold its own IDs.
func (m *Manager) mine(b *Base) error {
	if b.mgr != m {
		return ErrForeign
	}
	return nil
}

func (m *Manager) releasable(b *Base) error {
	switch {
	case b.State() != Ready:
		return ErrReleased
	case b.locked.Load():
		return ErrLocked
	case b.pins > 0:
		return ErrLoading
	}
	return nil
}

// retiring is an asset unloaded under m.mu whose GPU objects are still to
// hand to framesync (outside the lock).
type retiring struct {
	a   Asset
	use framesync.Use
}

// outcome collects what a critical section decided, for the steps that run
// after m.mu is released: handing GPU objects to framesync, and telling the
// release policy what went and what may go next.
type outcome struct {
	retired      []retiring
	unreferenced []Asset
	rel          Releaser // the policy to tell, read in the critical section
}

// unload takes a out of the cache under m.mu: invalid to the CPU at once
// (the released flag makes every later use claim fail), each direct
// dependency loses the reference it gave, and those left possibly
// unreachable are noted (once each) in out.unreferenced. The GPU objects go
// to framesync in finish. Members of a set released together are marked
// Released before any is unloaded, so none is noted.
func (m *Manager) unload(a Asset, out *outcome) {
	b := a.base()
	b.state.Store(int32(Released))
	use := b.markReleased()
	m.markUsed(b)
	m.peak = max(m.peak, len(m.byID))
	delete(m.byID, b.id)
	if b.key != "" && m.byKey[b.key] == a {
		delete(m.byKey, b.key)
	}
	if m.peak >= compactFloor && len(m.byID) <= m.peak/8 {
		m.compact()
	}
	for _, d := range b.Deps() {
		db := d.base()
		db.held.Add(-1)
		if db.noted != m.note && m.maybeGarbage(db) {
			db.noted = m.note
			out.unreferenced = append(out.unreferenced, d)
		}
		m.markUnused(d)
	}
	out.retired = append(out.retired, retiring{a: a, use: use})
}

// unloadSet unloads what goes together. m.mu is held.
func (m *Manager) unloadSet(set []Asset, out *outcome) {
	for _, x := range set {
		x.base().state.Store(int32(Released))
	}
	for _, x := range set {
		m.unload(x, out)
	}
}

// release applies the rule to a and, when it may go, unloads its set, then
// tries in the same pass, without force, each dependency the set left
// unreferenced (Cocos's cascade), in order, each once per time it is left
// so. What could not go is left in out.unreferenced for the release
// policy. m.mu is held.
func (m *Manager) release(a Asset, force bool, out *outcome) (int, error) {
	set, err := m.releaseSet(a, force, m.relSet[:0])
	if err != nil {
		return 0, err
	}
	m.note++
	first := len(out.unreferenced)
	next, kept := first, first
	n := 0
	for len(set) > 0 {
		m.unloadSet(set, out)
		n += len(set)
		clear(set) // the scratch holds no asset between releases
		set = set[:0]
		for next < len(out.unreferenced) && len(set) == 0 {
			d := out.unreferenced[next]
			next++
			d.base().noted = 0 // left unreferenced again later, it is tried again
			if s, err := m.releaseSet(d, false, set); err == nil {
				set = s
			} else {
				out.unreferenced[kept] = d
				kept++
			}
		}
	}
	m.relSet = set
	// What stays, once each, for the policy.
	m.note++
	keep := out.unreferenced[:first]
	for _, d := range out.unreferenced[first:kept] {
		if db := d.base(); db.State() == Ready && db.noted != m.note {
			db.noted = m.note
			keep = append(keep, d)
		}
	}
	clear(out.unreferenced[len(keep):])
	out.unreferenced = keep
	return n, nil
}

// outcome is a cleared outcome from the pool (releases are frequent:
// their bookkeeping allocates nothing once warm). m.mu is held.
func (m *Manager) outcome() *outcome {
	out, _ := m.outcomes.Get().(*outcome)
	if out == nil {
		out = &outcome{}
	}
	out.rel = m.rel
	return out
}

// finish runs, outside m.mu, what a critical section decided: released
// assets' GPU objects go to framesync at their last use (destroyed once the
// GPU has passed it), then the release policy hears what went and what was
// left unreferenced. It returns the first error framesync gave.
func (m *Manager) finish(out *outcome) error {
	var first error
	for _, r := range out.retired {
		if err := m.retire(r); err != nil && first == nil {
			first = err
		}
	}
	if rel := out.rel; rel != nil {
		for _, r := range out.retired {
			rel.Released(r.a)
		}
		for _, a := range out.unreferenced {
			rel.Unreferenced(a)
		}
	}
	clear(out.retired)
	clear(out.unreferenced)
	out.retired, out.unreferenced, out.rel = out.retired[:0], out.unreferenced[:0], nil
	return first
}

func (m *Manager) retire(r retiring) error {
	b := r.a.base()
	if b.owner == nil {
		b.state.Store(int32(Destroyed))
		return nil
	}
	b.state.Store(int32(Retiring))
	var objs []framesync.Object
	var now func(skip int) error
	if mv, ok := b.owner.(movable); ok {
		// A move's copy from or to what it retires may still be in flight.
		st, floor := mv.cell().retireState()
		objs, now = st.objects(b.name), func(skip int) error { return st.destroyNow(m, skip) }
		r.use[0] = max(r.use[0], uint64(floor))
	} else {
		objs = b.owner.GPUObjects()
		now = func(skip int) error { return m.destroyNow(r.a, objs[skip:]) }
	}
	if issued := m.sync.Issued(); framesync.Serial(r.use[0]) > issued {
		// A use claimed with a serial no submission has: a caller's bug,
		// logged; retiring after everything issued so far is the nearest
		// safe point.
		m.logger.Error("assets: use claimed with a serial not handed out", "asset", b.String(), "serial", r.use[0], "issued", issued)
		r.use[0] = uint64(issued)
	}
	first, closed := m.deferUse(r.use, r.a, objs, now)
	if closed {
		b.state.Store(int32(Destroyed))
		return first
	}
	if err := m.sync.DeferUse(framesync.Func(func() { b.state.Store(int32(Destroyed)) }), r.use); err != nil {
		b.state.Store(int32(Destroyed))
	}
	return first
}

// deferObjects hands a's GPU objects to framesync at serial. When the Sync
// is closed (it waited for the device to be idle when it closed: nothing
// can use them any more) the rest are destroyed at once by now (given the
// index of the first not deferred), and closed is true. It returns the
// first error.
func (m *Manager) deferObjects(serial framesync.Serial, a Asset, objs []framesync.Object, now func(skip int) error) (first error, closed bool) {
	var u framesync.Use
	u[0] = uint64(serial)
	return m.deferUse(u, a, objs, now)
}

// deferUse is deferObjects at a last use on every timeline.
func (m *Manager) deferUse(u framesync.Use, a Asset, objs []framesync.Object, now func(skip int) error) (first error, closed bool) {
	for i, o := range objs {
		err := m.sync.DeferUse(o, u)
		switch {
		case errors.Is(err, framesync.ErrClosed):
			return cmp.Or(first, now(i)), true
		case err != nil && first == nil:
			first = fmt.Errorf("retire %v: %w", a.base(), err)
		}
	}
	return first, false
}

// destroyNow destroys, once the Sync is closed (and the device idle), the
// GPU objects of the kinds this package makes; a user kind's objects are
// reported, not guessed at.
func (m *Manager) destroyNow(a Asset, objs []framesync.Object) error {
	if t, ok := a.(*Sampler); ok {
		m.dev.DestroySampler(t.Sampler)
		return nil
	}
	return fmt.Errorf("retire %v: %d GPU objects leaked: %w", a.base(), len(objs), framesync.ErrClosed)
}

// Lock keeps an asset from every release, forced or not, until Unlock;
// what it depends on stays with it (its dependents' references hold them).
func (m *Manager) Lock(a Asset) error {
	if err := m.mine(a.base()); err != nil {
		return fmt.Errorf("lock %v: %w", a.base(), err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if a.base().State() != Ready {
		return fmt.Errorf("lock %v: %w", a.base(), ErrReleased)
	}
	a.base().locked.Store(true)
	return nil
}

// Unlock undoes Lock. It releases nothing: an unreferenced asset goes at
// the next ReleaseUnused.
func (m *Manager) Unlock(a Asset) {
	if m.mine(a.base()) != nil {
		return // not this manager's to unlock (Lock refused it)
	}
	m.mu.Lock()
	a.base().locked.Store(false)
	m.mu.Unlock()
}

// IsLocked reports whether the asset is locked.
func (m *Manager) IsLocked(a Asset) bool { return a.base().locked.Load() }

// Release releases a now if the release rule allows it (see Releaser):
// with force, whatever its dynamic holders; without, only when nothing
// references it or every remaining reference comes from cycles through it.
// A locked asset, one that a live asset depends on, and one a load in
// flight holds are refused (ErrLocked, ErrInUse, ErrLoading), with nothing
// changed. It returns how many assets went (a cycle goes together). The
// dependencies of what went are not released here: the release policy
// hears of those left unreferenced (package finalizer decides them at its
// next Collect).
func (m *Manager) Release(a Asset, force bool) (int, error) {
	if err := m.mine(a.base()); err != nil {
		return 0, fmt.Errorf("release %v: %w", a.base(), err)
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return 0, fmt.Errorf("release %v: %w", a.base(), ErrClosed)
	}
	out := m.outcome()
	n, err := m.release(a, force, out)
	m.mu.Unlock()
	ferr := m.finish(out)
	m.outcomes.Put(out)
	if err != nil {
		return 0, fmt.Errorf("release %v: %w", a.base(), err)
	}
	return n, ferr
}

// ReleaseUnused releases now every cached asset that nothing references —
// count 0, or held only by cycles through itself — and that is neither
// locked, nor ignored, nor held by a load in flight, and what they leave
// unreferenced (Galacean's gc, Cocos's releaseUnusedAssets). It returns how
// many went.
func (m *Manager) ReleaseUnused() int { return m.releaseUnused(nil) }

func (m *Manager) releaseUnused(match func(Asset) bool) int {
	n := 0
	m.mu.Lock()
	cands := m.candidates(match)
	m.mu.Unlock()
	for _, a := range cands {
		m.mu.Lock()
		if m.closed {
			m.mu.Unlock()
			break
		}
		out := m.outcome()
		k, _ := m.release(a, false, out)
		m.mu.Unlock()
		_ = m.finish(out)
		m.outcomes.Put(out)
		n += k
	}
	return n
}

// ReleaseAll force-releases every cached asset that the rule lets go — not
// locked, nor depended on by one that stays, nor held by a load in flight —
// newest first, and returns how many went (Cocos's releaseAll).
func (m *Manager) ReleaseAll() int { return m.releaseAll(nil) }

func (m *Manager) releaseAll(match func(Asset) bool) int {
	n := 0
	for _, a := range slices.Backward(m.Assets()) {
		if match == nil || match(a) {
			if k, err := m.Release(a, true); err == nil {
				n += k
			}
		}
	}
	return n
}

// Ignore marks an asset that ReleaseUnused skips (Galacean's "ignored"),
// though an explicit release still decides on it.
func (m *Manager) Ignore(a Asset, ignore bool) { a.base().ignored.Store(ignore) }

func cmpID(x, y ID) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

// CycleOnly reports whether a non-forced release would free a although its
// count is not 0: every remaining reference comes from cycles through it
// that nothing else holds.
func (m *Manager) CycleOnly(a Asset) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if a.base().held.Load() == 0 {
		return false
	}
	_, n, err := m.component(a, false, nil, false)
	return err == nil && n > 0
}

// Pin holds a as a load in flight does: no release, forced or not, takes a
// (and so nothing a depends on) until the returned unpin is called. Use it
// around work that records commands reading a before their serial is known
// (the atlas's copies). unpin is idempotent.
func (m *Manager) Pin(a Asset) (unpin func(), err error) {
	b := a.base()
	if err := m.mine(b); err != nil {
		return nil, fmt.Errorf("pin %v: %w", b, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case m.closed:
		return nil, fmt.Errorf("pin %v: %w", b, ErrClosed)
	case b.State() != Ready:
		return nil, fmt.Errorf("pin %v: %w", b, ErrReleased)
	}
	b.pins++
	var once sync.Once
	return func() {
		once.Do(func() {
			m.mu.Lock()
			b.pins--
			m.mu.Unlock()
		})
	}, nil
}
