package assets

import (
	"fmt"
	"sync/atomic"

	"github.com/vkassets/vkassets/framesync"
)

// ID identifies an asset for the life of its Manager. Every asset has one,
// including those made at run time; IDs are never reused.
type ID uint64

// State is where an asset is in its life.
type State int32

// States. A failed load ends in Failed, is never cached and leaks nothing.
const (
	Loading   State = iota
	Ready           // in the cache, usable
	Released        // out of the cache, invalid to the CPU
	Retiring        // its GPU objects wait for their last use to complete
	Destroyed       // its GPU objects are gone
	Failed
)

func (s State) String() string {
	if s < 0 || int(s) >= len(stateNames) {
		return fmt.Sprintf("state(%d)", int32(s))
	}
	return stateNames[s]
}

var stateNames = [...]string{"loading", "ready", "released", "retiring", "destroyed", "failed"}

// Asset is any asset: the kinds of this package, and user-defined kinds
// that embed *Base (or Base) and implement GPUObjects when they own Vulkan
// objects.
type Asset interface {
	base() *Base
}

// GPUOwner is implemented by assets that own Vulkan objects; a release
// hands them to framesync at the asset's last-use serial.
type GPUOwner interface {
	Asset
	// GPUObjects lists what to destroy, views before images before memory
	// (framesync orders them in any case).
	GPUObjects() []framesync.Object
}

// releasedBit is the top bit of Base.life: set once, by the release.
const releasedBit = 1 << 63

// Base is the part every asset shares: identity, key, dependencies and the
// reference count. Embed it in user-defined kinds.
//
// Its methods are safe from any goroutine.
type Base struct {
	// The fields the release rule's walk reads come first, together, so
	// that a cold walk touches as few cache lines of each asset as it can.

	// life packs the released flag (releasedBit) and the serial of the last
	// submission that used the asset (the other bits) into one word, so that
	// a use claim and a release are each one atomic step on it: a claim
	// either lands before the release, which then retires after it, or
	// finds the flag and fails.
	life  atomic.Uint64
	state atomic.Int32

	// The counts, pins and lock are written under Manager.mu only; the
	// atomics let readers outside it (RefCount, Why) see a whole value.
	held atomic.Int32 // references from dependents: one per edge
	dyn  atomic.Int32 // references from AddRef (and run-time creation)
	pins int32        // loads in flight that hold it; guarded by Manager.mu

	// deps and marks are replaced, never edited, under Manager.mu, so that
	// a reader (Use, a graph walk) loads a consistent slice without a lock.
	deps atomic.Pointer[[]Asset]

	w walkState // the release rule's scratch; guarded by Manager.mu

	locked  atomic.Bool
	ignored atomic.Bool // skipped by ReleaseUnused
	// noted is the release pass that last listed the asset as left
	// unreferenced. Guarded by Manager.mu.
	noted uint64
	// uslot is the asset's index + 1 in Manager.unused; 0 when it is not
	// there. Guarded by Manager.mu.
	uslot int32

	// marks are the GPU-owning assets a use of this one must claim (itself
	// and those it reaches through its dependencies), flattened when it is
	// made and when a dependency is added, so that Use never walks the graph.
	marks atomic.Pointer[[]*Base]
	owner GPUOwner // the asset that embeds this Base, when it owns GPU objects
	mgr   *Manager // the manager that made it (newBase); never changes after

	// uses holds the last use on the app's timelines (framesync.Use
	// indices 1 and up; life holds index 0, the frame timeline), each word
	// packed like life: the released flag and the value. A release sets
	// the flag in every word, so a claim on any timeline is one atomic
	// step against it, as on life.
	uses [framesync.MaxTimelines - 1]atomic.Uint64

	id   ID
	key  string // cache key; "" for assets made at run time
	kind string
	name string
}

// walkState is what the release rule's depth-first walk keeps in each asset
// it reaches, in place of arrays indexed by the order of the walk: a cold
// walk of many assets then writes no fresh memory, only the assets it reads
// anyway. The links are cleared as the walk leaves each asset, so no asset
// keeps another alive through them.
type walkState struct {
	walk   uint64 // the walk that last reached the asset (Manager.epoch)
	index  int32  // its order of discovery in that walk
	low    int32  // Tarjan's low link
	pos    int32  // the next dependency to follow
	inner  int32  // the references it receives from what the walk reached
	parent *Base  // the asset the walk came from; nil at the root
	next   *Base  // below it on Tarjan's stack
	self   Asset  // the asset that embeds this Base
	flags  uint8
}

func (b *Base) base() *Base { return b }

// ID is the asset's identity.
func (b *Base) ID() ID { return b.id }

// Key is the asset's cache key ("bundle:path" or "bundle:path#kind", or a
// URL); "" for an asset made at run time.
func (b *Base) Key() string { return b.key }

// Kind names the asset's kind ("image", "texture", "sprite", ...).
func (b *Base) Kind() string { return b.kind }

// Name is a debug name.
func (b *Base) Name() string { return b.name }

// RefCount is the asset's reference count: one per asset that depends on it
// (Held) plus one per AddRef not yet dropped.
func (b *Base) RefCount() int { return int(b.held.Load() + b.dyn.Load()) }

// Held is the part of the count that comes from dependents: one per asset
// that lists this one among its dependencies.
func (b *Base) Held() int { return int(b.held.Load()) }

// State is where the asset is in its life.
func (b *Base) State() State { return State(b.state.Load()) }

// LastUse is the serial of the last submission that used the asset: its
// last use on the frame timeline (LastUses has every timeline).
func (b *Base) LastUse() framesync.Serial { return framesync.Serial(b.life.Load() &^ releasedBit) }

// LastUses is the asset's last use on every timeline: the frame
// timeline's serial (LastUse) and the points of UseAt.
func (b *Base) LastUses() framesync.Use {
	var u framesync.Use
	u[0] = b.life.Load() &^ releasedBit
	for i := range b.uses {
		u[i+1] = b.uses[i].Load() &^ releasedBit
	}
	return u
}

// Deps are the asset's direct dependencies. The slice is shared: do not
// modify it.
func (b *Base) Deps() []Asset {
	if d := b.deps.Load(); d != nil {
		return *d
	}
	return nil
}

func (b *Base) String() string {
	if b.key != "" {
		return fmt.Sprintf("%s %q (#%d)", b.kind, b.key, b.id)
	}
	return fmt.Sprintf("%s %q (#%d)", b.kind, b.name, b.id)
}

// BaseOf returns an asset's Base.
func BaseOf(a Asset) *Base { return a.base() }

// claim raises the last-use serial to serial (never lowers it), unless the
// asset was released: then it reports false and changes nothing. One CAS
// loop on one word, so a release either sees the mark or makes it fail.
func (b *Base) claim(serial uint64) bool { return claimWord(&b.life, serial) }

// claimAt is claim on timeline index i of a framesync.Use.
func (b *Base) claimAt(i int, value uint64) bool {
	if i == 0 {
		return claimWord(&b.life, value)
	}
	return claimWord(&b.uses[i-1], value)
}

func claimWord(w *atomic.Uint64, value uint64) bool {
	value &^= releasedBit // a value is below 2^63 (see UseAt)
	for {
		v := w.Load()
		if v&releasedBit != 0 {
			return false
		}
		if v >= value || w.CompareAndSwap(v, value) {
			return true
		}
	}
}

// markReleased sets the released flag in every word and returns the last
// use it found: every claim that succeeded is at or below it, every later
// claim fails. life goes first: Use checks it, so from here on no claim of
// an asset without GPU objects succeeds either.
func (b *Base) markReleased() framesync.Use {
	var u framesync.Use
	u[0] = b.life.Or(releasedBit) &^ releasedBit
	for i := range b.uses {
		u[i+1] = b.uses[i].Or(releasedBit) &^ releasedBit
	}
	return u
}

// Use claims a for the submission with serial: in one step per asset it
// marks a, and every GPU-owning asset a depends on, as used by that
// submission — their GPU objects will not be destroyed before it completes
// — or it fails with ErrReleased, and the caller must not draw a. A release
// racing it either sees the mark (and retires after serial) or wins (and
// Use fails). Call it before recording the commands that read a, every
// frame; it walks no graph (the list was flattened when a was made) and
// allocates nothing. An asset no Manager made (a zero value) is refused
// with ErrReleased: it would claim nothing.
func Use(serial framesync.Serial, a Asset) error {
	b := a.base()
	if b.id == 0 {
		return ErrReleased
	}
	s := uint64(serial)
	// An asset that owns GPU objects is its own first mark; one that owns
	// none needs no serial, only the check that it was not released (the
	// claims of its marks are what keep the GPU objects).
	if b.owner == nil && b.life.Load()&releasedBit != 0 {
		return ErrReleased
	}
	if ms := b.marks.Load(); ms != nil {
		for _, m := range *ms {
			if !m.claim(s) {
				return ErrReleased
			}
		}
	}
	return nil
}

// UseAt is Use for a point on any timeline of the Manager's Sync: an app
// that submits on its own queues claims a for the submission that signals
// p (framesync.Sync.AddTimeline), and a's GPU objects then wait until every
// timeline has passed the last point a was used at. A point on a timeline
// the Sync did not register, or removed, is refused (and nothing is
// claimed); so is a value of 2^63 or more. It allocates nothing.
func (m *Manager) UseAt(p framesync.Point, a Asset) error {
	if err := m.sync.CheckPoint(p); err != nil {
		return fmt.Errorf("assets: use %v: %w", a.base(), err)
	}
	if p.Value&releasedBit != 0 {
		return fmt.Errorf("assets: use %v: %v: value too large (at most 2^63-1)", a.base(), p)
	}
	b := a.base()
	if err := m.mine(b); err != nil {
		return fmt.Errorf("assets: use %v: %w", b, err)
	}
	i := p.Timeline.Index()
	if b.owner == nil && b.life.Load()&releasedBit != 0 {
		return ErrReleased
	}
	if ms := b.marks.Load(); ms != nil {
		for _, mk := range *ms {
			if !mk.claimAt(i, p.Value) {
				return ErrReleased
			}
		}
	}
	return nil
}
