package assets

import (
	"fmt"
	"testing"
)

// TestCompactKeepsEveryEntry: after a sweep empties most of the cache its
// maps are rebuilt smaller (compact), and every asset still cached is
// found by ID and by key; none released is.
func TestCompactKeepsEveryEntry(t *testing.T) {
	m := &Manager{byID: map[ID]Asset{}, byKey: map[string]Asset{}}
	const n, kept = 10_000, 100
	all := make([]*Base, n)
	for i := range all {
		b := &Base{id: ID(i + 1), key: fmt.Sprint("bundle:", i)}
		b.state.Store(int32(Ready))
		m.byID[b.id], m.byKey[b.key] = b, b
		all[i] = b
	}
	var out outcome
	for _, b := range all[:n-kept] {
		m.unload(b, &out)
	}
	if m.peak >= n {
		t.Fatalf("the maps were not rebuilt: peak %d after %d of %d went", m.peak, n-kept, n)
	}
	if len(m.byID) != kept || len(m.byKey) != kept {
		t.Fatalf("%d by ID and %d by key cached, want %d", len(m.byID), len(m.byKey), kept)
	}
	for i, b := range all {
		byID, byKey := m.byID[b.id], m.byKey[b.key]
		if want := i >= n-kept; (byID != nil) != want || (byKey != nil) != want {
			t.Fatalf("asset %d: by ID %v, by key %v, want cached %v", i, byID != nil, byKey != nil, want)
		}
		if byID != nil && (byID != Asset(b) || byKey != Asset(b)) {
			t.Fatalf("asset %d maps to another asset", i)
		}
	}
}

// TestWalkLeavesNoLinks: the release rule's walk links the assets it
// reaches through their parents and Tarjan's stack; when it ends, refused
// or not, no asset links another (a released asset would otherwise be kept
// alive by a live one) and none is left marked on the stack.
func TestWalkLeavesNoLinks(t *testing.T) {
	const n = 1000
	m := &Manager{upward: 1}
	ring := make([]*Base, n) // ring[i] depends on ring[i-1]; ring[0] on ring[n-1]
	for i := range ring {
		ring[i] = &Base{id: ID(i + 1)}
		ring[i].state.Store(int32(Ready))
	}
	for i, b := range ring {
		deps := []Asset{ring[(i+n-1)%n]}
		b.deps.Store(&deps)
		ring[(i+n-1)%n].held.Add(1)
	}
	check := func(when string) {
		t.Helper()
		for i, b := range ring {
			if b.w.parent != nil || b.w.next != nil || b.w.flags&onStack != 0 {
				t.Fatalf("%s: asset %d still linked (parent %v, next %v, flags %d)", when, i, b.w.parent != nil, b.w.next != nil, b.w.flags)
			}
		}
	}
	ring[n/2].dyn.Store(1) // held from outside: the ring stays
	if _, k, err := m.component(ring[0], false, nil, false); err == nil || k != 0 {
		t.Fatalf("a ring held from outside: %d members, err %v; want ErrInUse", k, err)
	}
	check("refused")
	ring[n/2].dyn.Store(0)
	set, k, err := m.component(ring[0], false, nil, true)
	if err != nil || k != n || len(set) != n {
		t.Fatalf("a ring nothing holds: %d members, %d in the set, err %v; want %d", k, len(set), err, n)
	}
	check("accepted")
}
