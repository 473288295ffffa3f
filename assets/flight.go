package assets

import (
	"context"
	"fmt"
	"slices"
)

// A load of one key runs once however many goroutines ask for it (a
// flight), detached from any one caller: each caller waits with its own
// context, and the flight is cancelled only when every caller has gone.
//
// While a flight runs, what it has loaded on the way (the texture of a
// sprite, the meshes of a scene) is pinned by it: no release takes a pinned
// asset, so a concurrent ReleaseUnused cannot pull an intermediate out from
// under the asset about to depend on it. The pins go when the flight ends,
// after its asset has taken its references.

// flight is one load in progress.
type flight struct {
	done   chan struct{} // closed when a and err are set
	cancel context.CancelFunc

	// Guarded by Manager.mu.
	waiters  []*waiter
	finished bool
	a        Asset
	err      error
}

// waiter is one caller of a flight.
type waiter struct {
	scope   *scope // the load the caller is part of; nil for a caller's own Load
	acquire bool   // the caller asked for a reference (Acquire)
	started bool   // the caller started the flight: its rollback covers it
}

// scope is what one flight holds: the assets it pinned, and those of the
// flights it started (which its rollback releases again if nobody else
// took them). Guarded by Manager.mu.
type scope struct {
	pinned []Asset
	led    []Asset
}

type scopeKey struct{}
type acquireKey struct{}

// load returns the asset cached under key, or makes it once however many
// goroutines ask, and caches it. Within a flight the result is pinned for
// that flight; for an Acquire it comes with a reference. A failed make
// caches nothing and rolls back what it made that nobody else took.
func (m *Manager) load(ctx context.Context, key string, mk func(ctx context.Context) (Asset, error)) (Asset, error) {
	sc, _ := ctx.Value(scopeKey{}).(*scope)
	w := &waiter{scope: sc, acquire: sc == nil && ctx.Value(acquireKey{}) != nil}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil, fmt.Errorf("load %q: %w", key, ErrClosed)
	}
	if a, ok := m.byKey[key]; ok {
		m.hits++
		if a.base().uslot != 0 {
			m.resurrected++
		}
		m.hold(a, w)
		m.mu.Unlock()
		return a, nil
	}
	if err := ctx.Err(); err != nil {
		m.mu.Unlock()
		return nil, fmt.Errorf("load %q: %w", key, err)
	}
	m.misses++
	fl := m.flights[key]
	if fl == nil {
		fl = &flight{done: make(chan struct{})}
		var fctx context.Context
		fctx, fl.cancel = context.WithCancel(context.WithoutCancel(ctx))
		m.flights[key] = fl
		w.started = true
		m.loads.Add(1)
		go m.fly(fctx, key, fl, mk)
	}
	fl.waiters = append(fl.waiters, w)
	m.mu.Unlock()

	select {
	case <-fl.done:
	case <-ctx.Done():
		m.mu.Lock()
		if !fl.finished {
			fl.waiters = slices.DeleteFunc(fl.waiters, func(x *waiter) bool { return x == w })
			if len(fl.waiters) == 0 {
				// Nobody waits: stop the work, and let the next caller
				// start afresh rather than join a cancelled flight.
				fl.cancel()
				if m.flights[key] == fl {
					delete(m.flights, key)
				}
			}
			m.mu.Unlock()
			return nil, fmt.Errorf("load %q: %w", key, ctx.Err())
		}
		m.mu.Unlock()
	}
	if fl.err != nil {
		return nil, fl.err
	}
	return fl.a, nil
}

// hold gives a waiter its share of a cached asset: a pin for its flight,
// a reference for an Acquire. m.mu is held.
func (m *Manager) hold(a Asset, w *waiter) {
	b := a.base()
	if w.scope != nil {
		b.pins++
		w.scope.pinned = append(w.scope.pinned, a)
		if w.started {
			w.scope.led = append(w.scope.led, a)
		}
	}
	if w.acquire {
		b.dyn.Add(1)
	}
	if w.scope != nil || w.acquire {
		m.markUsed(b) // back in use; when the pin or reference goes, it is marked again
	} else if b.uslot != 0 {
		m.unused[b.uslot-1].since = m.sync.Issued() // a plain Load: still unused, but just asked for
	}
}

// fly runs a flight's make and settles it: cache the asset and hand it to
// the waiters still there, or roll back.
func (m *Manager) fly(ctx context.Context, key string, fl *flight, mk func(context.Context) (Asset, error)) {
	defer m.loads.Done()
	sc := &scope{}
	a, err := call(context.WithValue(ctx, scopeKey{}, sc), mk)
	if err == nil && a == nil {
		err = fmt.Errorf("loader made nothing")
	}
	fl.cancel()

	m.mu.Lock()
	out := outcome{rel: m.rel}
	if m.flights[key] == fl {
		delete(m.flights, key)
	}
	if m.closed {
		// Close cancelled the flight: whatever make said, the answer is
		// that the manager is closed.
		if err == nil {
			m.note++
			m.unload(a, &out) // made, never cached
		}
		err = ErrClosed
	} else if err == nil {
		switch {
		case len(fl.waiters) == 0 && ctx.Err() != nil:
			err = ctx.Err() // everyone left; a newer flight may have the key
		case m.byKey[key] != nil:
			err = fmt.Errorf("superseded by a newer load")
		}
		if err != nil {
			m.note++
			m.unload(a, &out) // made, never cached
		}
	}
	if err == nil {
		b := a.base()
		b.key = key
		m.byKey[key] = a
		m.byID[b.id] = a
		b.state.Store(int32(Ready))
		for _, w := range fl.waiters {
			m.hold(a, w)
		}
	}
	// The flight's pins go: what it pinned is held by a now, or by nothing.
	for _, p := range sc.pinned {
		p.base().pins--
	}
	if err == nil {
		m.markUnused(a) // loaded with Load: nothing holds it yet
	}
	for _, p := range sc.pinned {
		m.markUnused(p) // those the load found cached left the set while pinned
	}
	if err != nil {
		for _, x := range slices.Backward(sc.led) {
			_, _ = m.release(x, false, &out) // only what nobody else took
		}
		err = fmt.Errorf("load %q: %w", key, err)
	}
	fl.a, fl.err, fl.finished = a, err, true
	m.mu.Unlock()
	_ = m.finish(&out)
	close(fl.done)
}

// call runs make, turning a panic into an error (the waiters are on other
// goroutines).
func call(ctx context.Context, mk func(context.Context) (Asset, error)) (a Asset, err error) {
	defer func() {
		if r := recover(); r != nil {
			a, err = nil, fmt.Errorf("panic: %v", r)
		}
	}()
	return mk(ctx)
}
