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
	return [...]string{"loading", "ready", "released", "retiring", "destroyed", "failed"}[s]
}

// Asset is any asset: the kinds of this package, and user-defined kinds
// that embed *Base (or Base) and implement GPUObjects when they own Vulkan
// objects.
type Asset interface {
	base() *Base
}

// GPUOwner is implemented by assets that own Vulkan objects; Release hands
// them to framesync at the asset's last-use serial.
type GPUOwner interface {
	Asset
	// GPUObjects lists what to destroy, views before images before memory
	// (framesync orders them in any case).
	GPUObjects() []framesync.Object
}

// Base is the part every asset shares: identity, key, dependencies and the
// reference count. Embed it in user-defined kinds.
type Base struct {
	id   ID
	key  string // cache key; "" for assets made at run time
	kind string
	name string

	refs    atomic.Int32
	state   atomic.Int32
	lastUse atomic.Uint64 // serial of the last submission that used it

	deps []Asset // direct dependencies, counted at load
	// marks are the GPU-owning assets a use of this one must mark (itself
	// and those it reaches through its dependencies), flattened once when
	// it is made, so that Use never walks the graph.
	marks []*Base
	owner GPUOwner // the asset that embeds this Base, when it owns GPU objects
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
// and one per AddRef.
func (b *Base) RefCount() int { return int(b.refs.Load()) }

// State is where the asset is in its life.
func (b *Base) State() State { return State(b.state.Load()) }

// LastUse is the serial of the last submission that used the asset.
func (b *Base) LastUse() framesync.Serial { return framesync.Serial(b.lastUse.Load()) }

// Deps are the asset's direct dependencies.
func (b *Base) Deps() []Asset { return b.deps }

func (b *Base) String() string {
	if b.key != "" {
		return fmt.Sprintf("%s %q (#%d)", b.kind, b.key, b.id)
	}
	return fmt.Sprintf("%s %q (#%d)", b.kind, b.name, b.id)
}

// BaseOf returns an asset's Base.
func BaseOf(a Asset) *Base { return a.base() }

// markUse raises lastUse to serial (never lowers it).
func (b *Base) markUse(serial uint64) {
	for {
		old := b.lastUse.Load()
		if old >= serial || b.lastUse.CompareAndSwap(old, serial) {
			return
		}
	}
}

// Use marks a, and every GPU-owning asset it depends on, as used by the
// submission with serial: their GPU objects will not be destroyed before it
// completes. It walks no graph: the list was flattened when a was made.
func Use(serial framesync.Serial, a Asset) {
	b := a.base()
	for _, m := range b.marks {
		m.markUse(uint64(serial))
	}
}
