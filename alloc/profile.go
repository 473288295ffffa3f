package alloc

import (
	"runtime/pprof"
	"sync"

	"github.com/vkassets/vkassets/alloc/virtual"
)

// ProfileName is the name of the pprof profile of live GPU allocations
// (Profile): `go tool pprof` reads it from /debug/pprof/vkassets.gpu.
const ProfileName = "vkassets.gpu"

var (
	profileOnce sync.Once
	profile     *pprof.Profile
)

// Profile is the process's pprof profile of live GPU allocations, named
// ProfileName, made on the first call (or found, when something else made
// it). Hand it to SetProfile to have an allocator record into it.
func Profile() *pprof.Profile {
	profileOnce.Do(func() { profile = lookupOrNew(ProfileName) })
	return profile
}

// lookupOrNew returns the profile called name, making it if there is none;
// pprof.NewProfile panics on a name taken meanwhile, and then it is found.
func lookupOrNew(name string) (p *pprof.Profile) {
	if p = pprof.Lookup(name); p != nil {
		return p
	}
	defer func() {
		if recover() != nil {
			p = pprof.Lookup(name)
		}
	}()
	return pprof.NewProfile(name)
}

// SetProfile makes the allocator record every allocation it makes from now
// on in p (Profile, usually), with the stack of the call that made it
// (Allocate, CreateBuffer or CreateImage and its callers), and take it out
// when it is freed: what stays in p is live, and `go tool pprof` shows the
// code that allocated it. The profile counts allocations, not bytes.
// Allocations made before are not added. nil stops recording; what this
// allocator recorded in the profile set before is taken out of it.
//
// Without a profile, an allocation and a free each pay one atomic load.
// With one, both take p's lock, and an allocation records its stack,
// under the lock of its memory type.
func (a *Allocator) SetProfile(p *pprof.Profile) {
	old := a.prof.Swap(p)
	if old == nil || old == p {
		return
	}
	for _, l := range a.lists() {
		l.unprofile(old)
	}
}

// profileKey identifies a live allocation in a profile: its block and
// offset, or its dedicated memory's record. A key is added and removed
// under its list's lock, so no two live allocations share one.
type profileKey struct {
	block  *block
	offset uint64
	ded    *dedicatedMem
}

// profileSkip starts a recorded stack at the allocator's exported method.
// Profile.Add passes skip+1 to runtime.Callers, so 0 is Add itself (not
// its caller, as its doc says); then come profileAdd's slow path and
// profileAdd, finish or allocateDedicated, blockList.allocate, tryAllocate
// and allocate. TestProfile checks where the stack starts.
const profileSkip = 7

// profileAdd records a new allocation; l.mu is held. Without a profile it
// is one atomic load, inlined: the rest is out of line.
func (l *blockList) profileAdd(k profileKey) {
	if p := l.owner.prof.Load(); p != nil {
		profileAddSlow(p, k)
	}
}

//go:noinline
func profileAddSlow(p *pprof.Profile, k profileKey) { p.Add(k, profileSkip) }

// profileRemove takes a freed allocation out; l.mu is held. Inlined, as
// profileAdd.
func (l *blockList) profileRemove(al *Allocation) {
	if p := l.owner.prof.Load(); p != nil {
		profileRemoveSlow(p, al)
	}
}

//go:noinline
func profileRemoveSlow(p *pprof.Profile, al *Allocation) { p.Remove(keyOf(al)) }

func keyOf(al *Allocation) profileKey {
	if al.ded != nil {
		return profileKey{ded: al.ded}
	}
	return profileKey{block: al.block, offset: al.sub.Offset}
}

// unprofile takes the list's live allocations out of p.
func (l *blockList) unprofile(p *pprof.Profile) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, b := range l.blocks {
		b.vb.Walk(func(r virtual.Range) {
			if !r.Free {
				p.Remove(profileKey{block: b, offset: r.Offset})
			}
		})
	}
	for _, d := range l.dedicated {
		p.Remove(profileKey{ded: d})
	}
}
