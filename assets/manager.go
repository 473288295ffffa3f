package assets

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/vkassets/vkassets/alloc"
	"github.com/vkassets/vkassets/framesync"
	"github.com/vkassets/vkassets/vk"
)

// Errors.
var (
	// ErrNotFound: no such file in the bundle (or no such bundle).
	ErrNotFound = errors.New("assets: not found")
	// ErrReleased: the asset was released; it is invalid to the CPU.
	ErrReleased = errors.New("assets: asset was released")
	// ErrRefCount: DecRef of an asset whose count is already 0.
	ErrRefCount = errors.New("assets: reference count is already 0")
	// ErrTooLarge: an image beyond the device's maxImageDimension2D, or a
	// remote body over Options.RemoteMaxBytes.
	ErrTooLarge = errors.New("assets: too large")
	// ErrUnknownKind: no loader for the file's extension.
	ErrUnknownKind = errors.New("assets: no loader for this kind of file")
	// ErrDecode: the file is corrupt or truncated.
	ErrDecode = errors.New("assets: cannot decode")
	// ErrHTTP: a remote server answered with an error status.
	ErrHTTP = errors.New("assets: HTTP error")
)

// Releaser is how the release policy (package finalizer) hears of an asset
// whose count DecRef brought to 0. assets does not import finalizer.
type Releaser interface {
	Unreferenced(a Asset)
}

// Options configure New.
type Options struct {
	Device    *vk.Device
	Allocator *alloc.Allocator
	Sync      *framesync.Sync
	Logger    *slog.Logger
	// Releaser, when set, hears of assets whose count drops to 0.
	Releaser Releaser
	// HTTPClient for LoadRemote; nil is a client with no timeout of its
	// own (RemoteTimeout applies per load).
	HTTPClient *http.Client
	// RemoteTimeout bounds one remote load; 0 means 30 s.
	RemoteTimeout time.Duration
	// RemoteMaxBytes bounds a remote body; 0 means 32 MiB.
	RemoteMaxBytes int64
	// KeepPixels keeps an ImageAsset's pixels after its texture is
	// uploaded; by default they are dropped.
	KeepPixels bool
	// StagingBlockSize is the size of the staging ring's blocks; 0 means 8 MiB.
	StagingBlockSize uint64
}

// Manager is the asset cache and graph: it loads assets once per key,
// records their dependencies and counts references, uploads pixels and
// vertices through a staging ring, and unloads assets, handing their GPU
// objects to framesync at their last use. It is safe for concurrent use.
type Manager struct {
	dev    *vk.Device
	alloc  *alloc.Allocator
	sync   *framesync.Sync
	logger *slog.Logger
	opts   Options
	upload *uploader
	http   *http.Client
	nextID atomic.Uint64
	loads  singleflight.Group

	mu      sync.Mutex // guards the fields below
	byID    map[ID]Asset
	byKey   map[string]Asset
	bundles map[string]*Bundle
	closed  bool
}

// New creates a manager.
func New(opts Options) (*Manager, error) {
	if opts.Device == nil || opts.Allocator == nil || opts.Sync == nil {
		return nil, errors.New("assets: Options.Device, Allocator and Sync are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.RemoteTimeout == 0 {
		opts.RemoteTimeout = 30 * time.Second
	}
	if opts.RemoteMaxBytes == 0 {
		opts.RemoteMaxBytes = 32 << 20
	}
	if opts.StagingBlockSize == 0 {
		opts.StagingBlockSize = 8 << 20
	}
	m := &Manager{dev: opts.Device, alloc: opts.Allocator, sync: opts.Sync, logger: opts.Logger, opts: opts,
		http: opts.HTTPClient, byID: map[ID]Asset{}, byKey: map[string]Asset{}, bundles: map[string]*Bundle{}}
	if m.http == nil {
		m.http = &http.Client{}
	}
	up, err := newUploader(m)
	if err != nil {
		return nil, err
	}
	m.upload = up
	return m, nil
}

// Sync is the frame synchronisation the manager retires through.
func (m *Manager) Sync() *framesync.Sync { return m.sync }

// Get returns the cached asset with id.
func (m *Manager) Get(id ID) (Asset, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, ok := m.byID[id]
	return a, ok
}

// Lookup returns the cached asset with key.
func (m *Manager) Lookup(key string) (Asset, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, ok := m.byKey[key]
	return a, ok
}

// Assets lists the cached assets, by ID.
func (m *Manager) Assets() []Asset {
	m.mu.Lock()
	out := make([]Asset, 0, len(m.byID))
	for _, a := range m.byID {
		out = append(out, a)
	}
	m.mu.Unlock()
	slices.SortFunc(out, func(x, y Asset) int { return int(x.base().id) - int(y.base().id) })
	return out
}

// createdKey carries, through a load's context, the assets it has made, so
// that a failure can unload them again.
type createdKey struct{}

type created struct {
	mu     sync.Mutex
	assets []Asset
}

// load returns the asset cached under key, or makes it once however many
// goroutines ask (singleflight) and caches it. A failed make caches
// nothing, and unloads what it had made on the way.
func (m *Manager) load(ctx context.Context, key string, make func(ctx context.Context) (Asset, error)) (Asset, error) {
	if a, ok := m.Lookup(key); ok {
		return a, nil
	}
	v, err, _ := m.loads.Do(key, func() (any, error) {
		if a, ok := m.Lookup(key); ok {
			return a, nil
		}
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("load %q: %w", key, err)
		}
		outer, _ := ctx.Value(createdKey{}).(*created)
		mine := &created{}
		a, err := make(context.WithValue(ctx, createdKey{}, mine))
		if err != nil {
			m.rollback(mine)
			return nil, fmt.Errorf("load %q: %w", key, err)
		}
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.closed {
			return nil, fmt.Errorf("load %q: %w", key, errors.New("assets: manager closed"))
		}
		b := a.base()
		b.key = key
		m.byKey[key] = a
		m.byID[b.id] = a
		b.state.Store(int32(Ready))
		mine.mu.Lock()
		mine.assets = append(mine.assets, a)
		mine.mu.Unlock()
		if outer != nil {
			outer.mu.Lock()
			outer.assets = append(outer.assets, mine.assets...)
			outer.mu.Unlock()
		}
		return a, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(Asset), nil
}

// rollback unloads, newest first, what a failed load made and nothing else
// holds.
func (m *Manager) rollback(c *created) {
	c.mu.Lock()
	list := slices.Clone(c.assets)
	c.mu.Unlock()
	for i := len(list) - 1; i >= 0; i-- {
		if b := list[i].base(); b.RefCount() == 0 && b.State() == Ready {
			_ = m.unloadCascade(list[i])
		}
	}
}

// newBase gives b its identity and dependencies: each direct dependency
// gets one reference, and b's use marks are flattened from theirs.
func (m *Manager) newBase(b *Base, kind, name string, owner GPUOwner, deps ...Asset) {
	b.id = ID(m.nextID.Add(1))
	b.kind, b.name, b.owner = kind, name, owner
	b.deps = deps
	b.state.Store(int32(Loading))
	if owner != nil {
		b.marks = append(b.marks, b)
	}
	for _, d := range deps {
		db := d.base()
		db.refs.Add(1)
		for _, mk := range db.marks {
			if !slices.Contains(b.marks, mk) {
				b.marks = append(b.marks, mk)
			}
		}
	}
}

// Adopt caches an asset made at run time (a texture from generated pixels,
// a sprite frame cut from a texture): it gets an ID and is found by Get, but
// has no key. Its count starts at 0, like a loaded root's.
func (m *Manager) adopt(a Asset) Asset {
	b := a.base()
	m.mu.Lock()
	m.byID[b.id] = a
	m.mu.Unlock()
	b.state.Store(int32(Ready))
	return a
}

// AddRef adds a reference: a dynamic holder (a node, a UI element) keeps
// the asset alive with it. It returns ErrReleased if the asset is gone:
// when other goroutines drop references while frames are collected, an
// asset can be released between a load returning it and AddRef; load it
// again, which makes a fresh one.
func (m *Manager) AddRef(a Asset) error {
	b := a.base()
	if b.State() != Ready {
		return fmt.Errorf("add ref to %v: %w", b, ErrReleased)
	}
	b.refs.Add(1)
	return nil
}

// DecRef drops a reference. At 0 the Releaser (the release policy) hears
// of it; without one the asset stays cached until released.
func (m *Manager) DecRef(a Asset) error {
	b := a.base()
	for {
		n := b.refs.Load()
		if n <= 0 {
			return fmt.Errorf("dec ref of %v: %w", b, ErrRefCount)
		}
		if b.refs.CompareAndSwap(n, n-1) {
			if r := m.releaser(); n == 1 && r != nil {
				r.Unreferenced(a)
			}
			return nil
		}
	}
}

// Unload is the release itself, with no check: the asset leaves the cache
// at once (invalid to the CPU), each direct dependency loses the one
// reference it gave, and the asset's GPU objects go to framesync at its
// last-use serial, to be destroyed when the GPU is done with them. The
// dependencies are not released: that is the release policy's decision
// (package finalizer, or Release here).
func (m *Manager) Unload(a Asset) error {
	b := a.base()
	if !b.state.CompareAndSwap(int32(Ready), int32(Released)) {
		return fmt.Errorf("unload %v: %w (state %v)", b, ErrReleased, b.State())
	}
	m.mu.Lock()
	delete(m.byID, b.id)
	if b.key != "" && m.byKey[b.key] == a {
		delete(m.byKey, b.key)
	}
	m.mu.Unlock()
	for _, d := range b.deps {
		d.base().refs.Add(-1)
	}
	if b.owner == nil {
		b.state.Store(int32(Destroyed))
		return nil
	}
	b.state.Store(int32(Retiring))
	serial := b.LastUse()
	var first error
	for _, o := range b.owner.GPUObjects() {
		if err := m.sync.Defer(serial, o); err != nil && first == nil {
			first = err
		}
	}
	if err := m.sync.Defer(serial, framesync.Func(func() { b.state.Store(int32(Destroyed)) })); err != nil && first == nil {
		first = err
	}
	if first != nil {
		return fmt.Errorf("unload %v: %w", b, first)
	}
	return nil
}

// unloadCascade unloads a and then, recursively, each dependency it left
// with no reference (the simple release rule, and failed loads' rollback).
func (m *Manager) unloadCascade(a Asset) error {
	if err := m.Unload(a); err != nil {
		return err
	}
	for _, d := range a.base().deps {
		if db := d.base(); db.RefCount() == 0 && db.State() == Ready {
			_ = m.unloadCascade(d)
		}
	}
	return nil
}

// Release is the simple release rule, for use without package finalizer:
// an asset whose count is 0 is unloaded, and so, recursively, is every
// dependency it leaves with no reference. An asset still referenced is left
// alone (and false returned).
func (m *Manager) Release(a Asset) (bool, error) {
	b := a.base()
	if b.State() != Ready {
		return false, fmt.Errorf("release %v: %w", b, ErrReleased)
	}
	if b.RefCount() > 0 {
		return false, nil
	}
	return true, m.unloadCascade(a)
}

// ReleaseUnused releases every cached asset whose count is 0 (Galacean's
// gc, Cocos's releaseUnusedAssets, without locks: those are package
// finalizer's) and returns how many assets were unloaded.
func (m *Manager) ReleaseUnused() int { return m.releaseUnused(func(Asset) bool { return true }) }

func (m *Manager) releaseUnused(match func(Asset) bool) int {
	n := 0
	for {
		found := false
		for _, a := range m.Assets() {
			if b := a.base(); b.RefCount() == 0 && b.State() == Ready && match(a) {
				if m.Unload(a) == nil {
					n++
					found = true
				}
			}
		}
		if !found {
			return n
		}
	}
}

// Close unloads every cached asset, whatever its count, waits for the
// submissions so far (their GPU objects retire), and frees the staging ring.
func (m *Manager) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	m.mu.Unlock()
	for _, a := range m.Assets() {
		_ = m.Unload(a)
	}
	// The staging ring's space comes back as the uploads' serials complete.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := m.sync.Flush(ctx); errors.Is(err, vk.ErrDeviceLost) {
		// On a lost device Poll destroys everything pending at once,
		// the staging buffers too.
		_, _ = m.sync.Poll()
	} else if err != nil {
		return fmt.Errorf("assets: close: %w", err)
	}
	return m.upload.close()
}

// SetReleaser sets the release policy's hook (package finalizer calls it,
// since the policy is made after the manager).
func (m *Manager) SetReleaser(r Releaser) {
	m.mu.Lock()
	m.opts.Releaser = r
	m.mu.Unlock()
}

func (m *Manager) releaser() Releaser {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.opts.Releaser
}

// AddDependency records at run time that a depends on dep (a material given
// a new texture, a user kind referring to another asset): dep gains one
// reference, released with a, and a's use marks reach dep's GPU objects.
// Such edges can make cycles, which the release policy detects.
func (m *Manager) AddDependency(a, dep Asset) error {
	b, d := a.base(), dep.base()
	if b.State() != Ready || d.State() != Ready {
		return fmt.Errorf("add dependency %v → %v: %w", b, d, ErrReleased)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	b.deps = append(slices.Clip(b.deps), dep)
	d.refs.Add(1)
	for _, mk := range d.marks {
		if !slices.Contains(b.marks, mk) {
			b.marks = append(slices.Clip(b.marks), mk)
		}
	}
	return nil
}

// Bytes is the device memory an asset's own GPU objects hold.
func Bytes(a Asset) uint64 {
	switch t := a.(type) {
	case *Texture2D:
		return t.Memory.Size
	case *Buffer:
		return t.Memory.Size
	}
	return 0
}

// Register adds an asset of a user-defined kind, made at run time: a
// embeds assets.Base (as *Base or Base) and, if it owns Vulkan objects,
// implements GPUOwner. It gets an ID, its dependencies one reference each,
// and a count of 0, like a loaded root.
func (m *Manager) Register(a Asset, kind, name string, deps ...Asset) error {
	b := a.base()
	if b.id != 0 {
		return fmt.Errorf("register %v: already registered", b)
	}
	for _, d := range deps {
		if d.base().State() != Ready {
			return fmt.Errorf("register %q: dependency %v: %w", name, d.base(), ErrReleased)
		}
	}
	owner, _ := a.(GPUOwner)
	m.newBase(b, kind, name, owner, deps...)
	m.adopt(a)
	return nil
}
