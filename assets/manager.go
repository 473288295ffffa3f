package assets

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

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
	// ErrRefCount: DecRef of an asset with no reference that a caller
	// added (AddRef, Acquire, or run-time creation): the references its
	// dependents hold are theirs to drop.
	ErrRefCount = errors.New("assets: no reference added by a caller is left to drop")
	// ErrTooLarge: an image beyond the device's maxImageDimension2D, or a
	// remote body over Options.RemoteMaxBytes.
	ErrTooLarge = errors.New("assets: too large")
	// ErrUnknownKind: no loader for the file's extension.
	ErrUnknownKind = errors.New("assets: no loader for this kind of file")
	// ErrDecode: the file is corrupt or truncated.
	ErrDecode = errors.New("assets: cannot decode")
	// ErrUnsupported: a valid file needs what this package does not do (a
	// glTF extension in extensionsRequired, an image type, a KTX2
	// supercompression scheme or payload).
	ErrUnsupported = errors.New("assets: not supported")
	// ErrHTTP: a remote server answered with an error status.
	ErrHTTP = errors.New("assets: HTTP error")
	// ErrClosed: the manager was closed.
	ErrClosed = errors.New("assets: manager closed")
	// ErrForeign: an asset another manager made (or none) was given to
	// this manager's AddRef, DecRef, Lock, Pin, Release, UseAt or as a
	// dependency; nothing changed.
	ErrForeign = errors.New("assets: the asset belongs to another manager")
	// ErrOverBudget: a load was not admitted: with the memory in use and
	// the loads in flight, it would take more than Options.LoadBudget.
	ErrOverBudget = errors.New("assets: load over the memory budget")
)

// Releaser is the release policy's side of the graph (package finalizer
// implements it; assets does not import finalizer). Its methods are called
// from any goroutine, never with the manager's lock held.
type Releaser interface {
	// Unreferenced: a lost its last dynamic reference (DecRef) or its last
	// dependent, and may be unreachable: a deferred decision is wanted.
	Unreferenced(a Asset)
	// Released: a left the cache (an atlas frees its cell).
	Released(a Asset)
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
	// MaxImageBytes bounds an image's decoded size (RGBA8: 4 bytes a
	// pixel), checked from its header before anything is decoded; 0 means
	// a quarter of the device-local heaps' budget (VK_EXT_memory_budget's,
	// or 80% of the heaps), and no more than 256 MiB (an 8192² image). The device's
	// maxImageDimension2D bounds each side in any case. For a KTX2 file
	// it bounds its levels' bytes together, as uploaded.
	MaxImageBytes int64
	// LoadBudget bounds the device memory loads may take: a load is
	// admitted only if the memory in use (what waits to retire included),
	// the memory loads in flight have been admitted for and its own (its
	// pixels twice: the texture and the staging copy) fit, so that
	// concurrent loads cannot overcommit the heaps together; else, once a
	// release policy that keeps unused assets resident (an Evicter) has
	// been asked to evict for it, it fails with ErrOverBudget naming the
	// asset. 0 means the device-local heaps' budget.
	LoadBudget int64
	// UploadQueue is the queue uploads run on: UploadAuto (the zero
	// value) takes the device's dedicated transfer queue where vk.Open
	// made one (vk.Options.TransferQueue) and the device has timeline
	// semaphores, else the Sync's queue; UploadGraphics always the Sync's
	// queue; UploadTransfer the transfer queue, refused where there is
	// none. Manager.UploadQueue says which was taken.
	UploadQueue UploadQueue
}

// Manager is the asset cache and graph: it loads assets once per key,
// records their dependencies and counts references, uploads pixels and
// vertices through a staging ring, and releases assets by one rule (see
// Release), handing their GPU objects to framesync at their last use.
//
// Every method is safe from any goroutine. Close is idempotent; after it
// every method that can fail returns ErrClosed.
type Manager struct {
	dev      *vk.Device
	alloc    *alloc.Allocator
	sync     *framesync.Sync
	logger   *slog.Logger
	opts     Options
	upload   *uploader
	http     *http.Client
	ownHTTP  bool // http was made here, and its idle connections close with the manager
	nextID   atomic.Uint64
	loads    sync.WaitGroup // the flights running
	outcomes sync.Pool      // of *outcome: a release's bookkeeping, reused
	defrag   defragger

	mu      sync.Mutex // guards the fields below, and every Base's counts, pins, lock, deps and marks
	byID    map[ID]Asset
	byKey   map[string]Asset
	peak    int // the most byID held since it was last rebuilt (compact)
	bundles map[string]*Bundle
	flights map[string]*flight
	rel     Releaser
	upward  int     // edges from an asset to a newer one (only AddDependency makes them; a cycle needs one)
	epoch   uint64  // the release rule's walks, numbered
	note    uint64  // release passes, numbered (Base.noted)
	relSet  []Asset // release's reusable set; no asset stays in it between releases
	// reclaimStack is reclaim's reusable stack; empty between calls.
	reclaimStack []*Base
	unused       []unusedEntry // the unused set (unused.go)
	// Loads answered from the cache, loads that made (or waited for) the
	// asset, and hits on unused assets.
	hits, misses, resurrected uint64
	admitted                  int64 // bytes the loads in flight were admitted for (admit)
	closed                    bool
	// closeDone is closed once the first Close has done its work: a
	// concurrent Close waits for it (mu guards the field).
	closeDone chan struct{}
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
	if heaps := DeviceLocalBudget(opts.Device); opts.MaxImageBytes == 0 || opts.LoadBudget == 0 {
		if opts.MaxImageBytes == 0 {
			opts.MaxImageBytes = min(heaps/4, 256<<20)
		}
		if opts.LoadBudget == 0 {
			opts.LoadBudget = heaps
		}
	}
	m := &Manager{dev: opts.Device, alloc: opts.Allocator, sync: opts.Sync, logger: opts.Logger, opts: opts,
		http: opts.HTTPClient, byID: map[ID]Asset{}, byKey: map[string]Asset{}, bundles: map[string]*Bundle{},
		flights: map[string]*flight{}, rel: opts.Releaser}
	if m.http == nil {
		m.http = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
		m.ownHTTP = true
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

// Device is the device the manager's assets live on.
func (m *Manager) Device() *vk.Device { return m.dev }

// Allocator is the allocator the manager's assets take memory from.
func (m *Manager) Allocator() *alloc.Allocator { return m.alloc }

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
	slices.SortFunc(out, func(x, y Asset) int { return cmpID(x.base().id, y.base().id) })
	return out
}

// AddRef adds a reference: a dynamic holder (a node, a UI element) keeps
// the asset alive with it. It returns ErrReleased if the asset is gone: an
// asset loaded with Load and not yet held can be released by another
// goroutine before AddRef; Acquire loads and takes the reference in one step.
func (m *Manager) AddRef(a Asset) error {
	b := a.base()
	if err := m.mine(b); err != nil {
		return fmt.Errorf("add ref to %v: %w", b, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case m.closed:
		return fmt.Errorf("add ref to %v: %w", b, ErrClosed)
	case b.State() != Ready:
		return fmt.Errorf("add ref to %v: %w", b, ErrReleased)
	}
	b.dyn.Add(1)
	m.markUsed(b)
	return nil
}

// DecRef drops a reference a caller added (AddRef, Acquire, run-time
// creation); the references dependents hold are not the caller's, and
// dropping one is ErrRefCount with nothing changed. When the last dynamic
// reference goes and the asset may be unreachable, the release policy
// (Releaser) hears of it; without one the asset stays cached.
func (m *Manager) DecRef(a Asset) error {
	b := a.base()
	if err := m.mine(b); err != nil {
		return fmt.Errorf("dec ref of %v: %w", b, err)
	}
	m.mu.Lock()
	switch {
	case m.closed:
		m.mu.Unlock()
		return fmt.Errorf("dec ref of %v: %w", b, ErrClosed)
	case b.State() != Ready:
		m.mu.Unlock()
		return fmt.Errorf("dec ref of %v: %w", b, ErrReleased)
	case b.dyn.Load() == 0:
		m.mu.Unlock()
		return fmt.Errorf("dec ref of %v (count %d, all from dependents): %w", b, b.held.Load(), ErrRefCount)
	}
	b.dyn.Add(-1)
	notify := m.maybeGarbage(b)
	m.markUnused(a)
	r := m.rel
	m.mu.Unlock()
	if notify && r != nil {
		r.Unreferenced(a)
	}
	return nil
}

// SetReleaser sets the release policy's hook (package finalizer calls it,
// since the policy is made after the manager).
func (m *Manager) SetReleaser(r Releaser) {
	m.mu.Lock()
	m.rel = r
	m.mu.Unlock()
}

// AddDependency records at run time that a depends on dep (a material given
// a new texture, a frame packed into an atlas page): dep gains one
// reference, released with a, and the use marks of a and of everything
// that depends on a reach dep's GPU objects. Such edges can make cycles,
// which the release rule handles. It costs a pass over the cache (to find
// a's dependents): it is meant for rare, structural changes.
func (m *Manager) AddDependency(a, dep Asset) error {
	b, d := a.base(), dep.base()
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case m.closed:
		return fmt.Errorf("add dependency %v → %v: %w", b, d, ErrClosed)
	case b.State() != Ready || d.State() != Ready:
		return fmt.Errorf("add dependency %v → %v: %w", b, d, ErrReleased)
	}
	deps := append(slices.Clone(b.Deps()), dep)
	b.deps.Store(&deps)
	d.held.Add(1) // d stays in the unused set if there: it may now lie on a cycle nothing holds
	if b.id <= d.id {
		m.upward++
	}
	// Everything that reaches a now reaches dep: a first, then its
	// dependents, found through the cache's edges reversed.
	rev := map[*Base][]Asset{}
	for _, x := range m.byID {
		for _, y := range x.base().Deps() {
			rev[y.base()] = append(rev[y.base()], x)
		}
	}
	add := d.markList()
	seen := map[*Base]bool{b: true}
	queue := []*Base{b}
	for len(queue) > 0 {
		x := queue[0]
		queue = queue[1:]
		marks := x.markList()
		grown := slices.Clone(marks)
		for _, mk := range add {
			if !slices.Contains(grown, mk) {
				grown = append(grown, mk)
			}
		}
		if len(grown) != len(marks) {
			x.marks.Store(&grown)
		}
		for _, y := range rev[x] {
			if yb := y.base(); !seen[yb] {
				seen[yb] = true
				queue = append(queue, yb)
			}
		}
	}
	return nil
}

// adopt caches an asset made at run time (a texture from generated pixels,
// a sprite frame cut from a texture): it gets an ID and is found by Get,
// but has no key, and it comes holding one reference, the caller's (DecRef
// it when done). On a closed manager the asset is released again and
// ErrClosed returned.
func (m *Manager) adopt(a Asset) error {
	b := a.base()
	m.mu.Lock()
	if m.closed {
		// Never cached: its GPU objects retire, and nobody is told.
		var out outcome
		m.note++
		m.unload(a, &out)
		m.mu.Unlock()
		for _, r := range out.retired {
			_ = m.retire(r)
		}
		return fmt.Errorf("%v: %w", b, ErrClosed)
	}
	m.byID[b.id] = a
	b.dyn.Store(1)
	b.state.Store(int32(Ready))
	m.mu.Unlock()
	return nil
}

// Bytes is the device memory an asset's own GPU objects hold.
func Bytes(a Asset) uint64 {
	switch t := a.(type) {
	case *Texture2D:
		return t.gpu.state().size
	case *Buffer:
		return t.gpu.state().size
	}
	return 0
}

// Register adds an asset of a user-defined kind, made at run time: a
// embeds assets.Base (as *Base or Base) and, if it owns Vulkan objects,
// implements GPUOwner. It gets an ID, its dependencies one reference each,
// and one reference of the caller's, like every asset made at run time.
func (m *Manager) Register(a Asset, kind, name string, deps ...Asset) error {
	b := a.base()
	if b.id != 0 {
		return fmt.Errorf("register %v: already registered", b)
	}
	owner, _ := a.(GPUOwner)
	if err := m.newBase(b, kind, name, owner, deps...); err != nil {
		return fmt.Errorf("register: %w", err)
	}
	return m.adopt(a)
}

// Close releases every cached asset, whatever its count or lock: new loads
// fail with ErrClosed, the loads in flight are cancelled and waited for
// (each rolls back what it made), the GPU objects of everything cached go
// to framesync at their last use, the submissions so far are waited for,
// and the staging ring is closed once the last upload that used it
// retires. It is idempotent and safe from any goroutine; it returns what
// went wrong on the way (a user kind's GPU objects that could not be
// retired because the Sync was closed first are named). A Close that
// finds another under way waits for it to be done (and returns nil), so
// that whoever closes the Sync and the allocator next finds the assets
// released.
func (m *Manager) Close() error {
	m.mu.Lock()
	if m.closed {
		done := m.closeDone
		m.mu.Unlock()
		if done != nil {
			<-done
		}
		return nil
	}
	m.closed = true
	m.closeDone = make(chan struct{})
	defer close(m.closeDone)
	for _, fl := range m.flights {
		fl.cancel()
	}
	m.mu.Unlock()
	m.defrag.close(m)
	m.loads.Wait()

	m.mu.Lock()
	all := make([]Asset, 0, len(m.byID))
	for _, a := range m.byID {
		all = append(all, a)
	}
	slices.SortFunc(all, func(x, y Asset) int { return cmpID(y.base().id, x.base().id) })
	out := outcome{rel: m.rel}
	m.note++
	m.unloadSet(all, &out)
	out.unreferenced = nil
	m.mu.Unlock()
	errs := []error{m.finish(&out)}
	if m.ownHTTP {
		m.http.CloseIdleConnections()
	}
	errs = append(errs, m.upload.close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("assets: close: %w", err)
	}
	return nil
}
