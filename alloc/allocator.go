package alloc

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/bits"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/vkassets/vkassets/alloc/virtual"
	"github.com/vkassets/vkassets/vk"
)

// Usage is what an allocation is for; it picks the memory type.
type Usage uint8

// Usages.
const (
	// UsageAuto is UsageGPUOnly, or UsageUpload when the allocation is mapped.
	UsageAuto Usage = iota
	// UsageGPUOnly: read and written by the GPU only (textures, vertex
	// buffers filled by a copy). Prefers DEVICE_LOCAL, avoids HOST_VISIBLE
	// so as not to spend the small BAR heap.
	UsageGPUOnly
	// UsageUpload: written by the host sequentially, read by the GPU once
	// (staging). Requires HOST_VISIBLE; prefers system memory to the BAR heap.
	UsageUpload
	// UsageDynamic: written by the host every frame and read by the GPU in
	// place (uniform buffers). Requires HOST_VISIBLE; prefers DEVICE_LOCAL
	// (the BAR heap) while its budget lasts.
	UsageDynamic
	// UsageReadback: written by the GPU, read by the host in any order.
	// Requires HOST_VISIBLE; prefers HOST_CACHED.
	UsageReadback
	// UsageTransient: transient attachments; prefers LAZILY_ALLOCATED memory.
	UsageTransient
)

func (u Usage) String() string {
	return [...]string{"auto", "gpu-only", "upload", "dynamic", "readback", "transient"}[u]
}

// EmptyBlockPolicy says what happens to a block whose last allocation is freed.
type EmptyBlockPolicy uint8

// Empty block policies.
const (
	// KeepWhileUnderBudget keeps an empty block for reuse while the heap's
	// usage is within its budget and the memory type's other blocks hold
	// less than a block's worth of free space (the default): no
	// vkAllocateMemory/vkFreeMemory churn at a boundary, no hoarding.
	KeepWhileUnderBudget EmptyBlockPolicy = iota
	// FreeEmptyBlocks frees a block as soon as it is empty.
	FreeEmptyBlocks
	// KeepEmptyBlocks never frees empty blocks; TrimEmptyBlocks does.
	KeepEmptyBlocks
)

// Errors of the allocator; the sub-allocator's errors (ErrZeroSize,
// ErrBadAlignment, ErrInvalidFree, ErrForeignFree) apply too: a zero,
// stale, altered or double-freed Allocation is refused with ErrInvalidFree,
// another allocator's with ErrForeignFree, and neither changes anything.
var (
	// ErrBudgetExceeded: Options.StayWithinBudget is set and the allocation
	// would take a heap over its budget.
	ErrBudgetExceeded = errors.New("alloc: heap budget exceeded")
	// ErrNoMemoryType: no memory type is allowed by the requirements' type
	// bits and has the required flags.
	ErrNoMemoryType = errors.New("alloc: no memory type matches")
	// ErrAllocationCountLimit: a new device allocation would exceed
	// maxMemoryAllocationCount and no existing block had room.
	ErrAllocationCountLimit = errors.New("alloc: maxMemoryAllocationCount reached")
	// ErrSoftLimit: an allocation would take the heaps' live bytes over the
	// soft limit (SetSoftLimit); it is Pressure.Err of the handler call
	// made before such an allocation, never an allocation's error.
	ErrSoftLimit = errors.New("alloc: soft limit reached")
	// ErrNotMappable: the allocation's memory type is not HOST_VISIBLE.
	ErrNotMappable = errors.New("alloc: memory is not host-visible")
	// ErrClosed: the allocator (or, for an allocation from a pool, the
	// pool) was closed; the call did nothing.
	ErrClosed = errors.New("alloc: closed")
	// ErrLeaks: Close found live allocations; the error lists them by name.
	ErrLeaks = errors.New("alloc: allocations still live at Close")
	// ErrForeignPool: AllocationOptions.Pool belongs to another allocator.
	ErrForeignPool = errors.New("alloc: pool of another allocator")
	// ErrWouldAllocate: AllocationOptions.NeverAllocate is set and no
	// existing block had room; the allocation would have called
	// vkAllocateMemory.
	ErrWouldAllocate = errors.New("alloc: would allocate device memory (NeverAllocate)")
	// ErrNotMapped: Unmap of an allocation that Map has not mapped (or
	// that Unmap has already unmapped as often as Map mapped it).
	ErrNotMapped = errors.New("alloc: allocation is not mapped")
	// ErrUpperAddress: AllocationOptions.UpperAddress without a linear
	// pool, or with dedicated memory.
	ErrUpperAddress = errors.New("alloc: UpperAddress needs a custom pool of AlgorithmLinear and no dedicated memory")
	// ErrBadPriority: a memory priority is not in [0, 1].
	ErrBadPriority = errors.New("alloc: memory priority not in [0, 1]")
	// ErrDeviceAddressOff: a buffer with vk.BufferUsageShaderDeviceAddress
	// was asked of an allocator without Options.BufferDeviceAddress.
	ErrDeviceAddressOff = errors.New("alloc: buffer device address is not enabled (Options.BufferDeviceAddress)")
)

// Options configure New.
type Options struct {
	Device Device
	// Logger receives block creation and leak reports; nil discards.
	Logger *slog.Logger
	// PreferredBlockSize is the largest block size; default 256 MiB, or
	// heap size / 8 for heaps of 1 GiB or less. New blocks start at 1/8 of
	// it and grow as blocks are added.
	PreferredBlockSize uint64
	// EmptyBlocks is the policy for empty blocks.
	EmptyBlocks EmptyBlockPolicy
	// StayWithinBudget fails allocations with ErrBudgetExceeded instead of
	// going over a heap's budget.
	StayWithinBudget bool
	// DeviceMemoryCallbacks are told of every vkAllocateMemory and
	// vkFreeMemory the allocator makes.
	DeviceMemoryCallbacks DeviceMemoryCallbacks

	// DebugMargin (VMA_DEBUG_MARGIN) is a number of bytes, a multiple of
	// 4, kept free before and after every sub-allocation (dedicated
	// allocations have none). With DetectCorruption the margins of
	// host-visible, host-coherent blocks are filled with a magic pattern,
	// checked when each allocation is freed and by CheckCorruption; the
	// default margin is then 16 bytes. Debugging aids: they cost memory
	// and time on every allocation.
	DebugMargin uint64
	// DetectCorruption (VMA_DEBUG_DETECT_CORRUPTION): see DebugMargin.
	DetectCorruption bool
	// BufferDeviceAddress allocates every block (and every dedicated
	// allocation but those of images) with
	// VK_MEMORY_ALLOCATE_DEVICE_ADDRESS_BIT, so that buffers made with
	// vk.BufferUsageShaderDeviceAddress can be bound anywhere; without it
	// such buffers are refused (ErrDeviceAddressOff). The device must have
	// the feature enabled (vk.Options.Features.BufferDeviceAddress), else
	// New fails.
	BufferDeviceAddress bool
	// MemoryPriority chains VkMemoryPriorityAllocateInfoEXT to every
	// vkAllocateMemory (VMA_ALLOCATOR_CREATE_EXT_MEMORY_PRIORITY_BIT): the
	// default pools' blocks at priority 0.5, a custom pool's blocks at its
	// PoolOptions.Priority, and an allocation of another priority than
	// 0.5 (AllocationOptions.Priority) in memory of its own, so that blocks
	// of different priorities are never shared. The device must have
	// VK_EXT_memory_priority enabled (vk.Options.Features.MemoryPriority),
	// else New fails.
	MemoryPriority bool
}

// defaultDetectMargin is DebugMargin's default under DetectCorruption.
const defaultDetectMargin = 16

// defaultPriority is VMA's default memory priority.
const defaultPriority = 0.5

// DeviceMemoryCallbacks, VMA's VmaDeviceMemoryCallbacks, let a tool track
// the VkDeviceMemory objects the allocator makes: Allocate is called after
// each successful vkAllocateMemory and Free before each vkFreeMemory, for
// blocks and dedicated allocations alike, on the goroutine that allocates
// or frees. Either may be nil.
//
// They may run with a memory type's lock held (a new block is allocated
// under it): they must be quick and must not call the Allocator, except its
// lock-free AllocatedBytes, DeviceAllocations and AllocateCalls.
type DeviceMemoryCallbacks struct {
	Allocate func(memoryType uint32, memory vk.DeviceMemory, size uint64)
	Free     func(memoryType uint32, memory vk.DeviceMemory, size uint64)
}

// AllocationOptions describe one allocation.
type AllocationOptions struct {
	Usage Usage
	// Required and Preferred memory property flags, on top of Usage's.
	Required, Preferred vk.MemoryPropertyFlags
	// Mapped maps the allocation persistently; Allocation.Mapped is valid
	// until it is freed.
	Mapped bool
	// Dedicated forces a VkDeviceMemory of its own.
	Dedicated bool
	// NeverAllocate (VMA_ALLOCATION_CREATE_NEVER_ALLOCATE_BIT) allocates
	// only from existing blocks: where none has room, the allocation fails
	// with an error wrapping ErrWouldAllocate instead of calling
	// vkAllocateMemory. The pressure handler is not called for it.
	NeverAllocate bool
	// WithinBudget (VMA_ALLOCATION_CREATE_WITHIN_BUDGET_BIT) fails this
	// allocation with ErrBudgetExceeded rather than take a heap over its
	// budget, as Options.StayWithinBudget does for every allocation; the
	// pressure handler is called for it as for other budget failures.
	WithinBudget bool
	// Kind is what the memory will be bound to, for bufferImageGranularity.
	// KindAny (for raw Allocate) is treated as conflicting with everything:
	// the allocation is padded to granularity pages.
	Kind Kind
	// Name is a debug name, shown in statistics and leak reports.
	Name string
	// Pool, when set, allocates from a custom pool.
	Pool *Pool
	// UserData is the caller's, kept with the allocation until it is freed
	// (Allocator.UserData, SetUserData); it is shown nowhere.
	UserData any
	// UpperAddress (VMA_ALLOCATION_CREATE_UPPER_ADDRESS_BIT) allocates from
	// the top of a block of a linear pool, below the previous such
	// allocations: the pool's blocks become double stacks, the lower stack
	// growing up from 0 and the upper one down from the end, and an
	// allocation fails when they meet until either top is freed. It needs
	// a Pool with AlgorithmLinear and no dedicated memory, else
	// ErrUpperAddress; a block whose lower allocations wrap around (a ring)
	// takes none (virtual.ErrRingInUse).
	UpperAddress bool
	// Priority (VK_EXT_memory_priority) is the memory's priority, from 0
	// (lowest) to 1; 0 means the default, 0.5. Under Options.MemoryPriority
	// an allocation of another priority than 0.5 gets memory of its own
	// (in a custom pool it is ignored: the pool's blocks have the pool's
	// priority); without it, it is ignored. Outside [0, 1] the allocation
	// fails with ErrBadPriority.
	Priority float32
	// QueueFamilies, for CreateBuffer and CreateImage, shares the resource
	// between the queues of these families (VK_SHARING_MODE_CONCURRENT)
	// when they are two or more distinct ones, as vk.ImageInfo's
	// QueueFamilies does (which CreateImage uses when set). A Device
	// without CreateSharedBuffer refuses it for buffers.
	QueueFamilies []uint32

	// resUsage is the buffer's or image's usage flags, set by CreateBuffer
	// and CreateImage for the statistics.
	resUsage uint32
}

// Allocation is a range of device memory. It is a value: keep it, and pass
// it back to Free. The zero Allocation is no allocation.
//
// Each Allocation has an identity that is never reused: its block and a
// virtual handle whose generation repeats only after 2^32 reuses of its
// slot, or the record of its dedicated memory. A copy of a freed
// Allocation is refused by Free, DestroyBuffer, DestroyImage, Map, Flush
// and Invalidate even when the driver has since handed the same
// VkDeviceMemory handle to another allocation.
type Allocation struct {
	Memory     vk.DeviceMemory
	Offset     uint64 // within Memory
	Size       uint64 // as requested
	MemoryType uint32
	// Mapped is the allocation's bytes when it is mapped, else nil.
	Mapped []byte

	block *block        // the block it was sub-allocated from; nil for dedicated allocations
	ded   *dedicatedMem // its own memory's record; nil for sub-allocations
	sub   virtual.Allocation
}

// IsZero reports whether a is the zero Allocation.
func (a Allocation) IsZero() bool { return a.Memory == 0 }

// Dedicated reports whether the allocation has a VkDeviceMemory of its own.
func (a Allocation) Dedicated() bool { return a.ded != nil }

// list is the block list that made al, or nil.
func (al Allocation) list() *blockList {
	switch {
	case al.block != nil:
		return al.block.list
	case al.ded != nil:
		return al.ded.list
	}
	return nil
}

// Allocator sub-allocates VkDeviceMemory blocks. It is safe for concurrent
// use, Close included; each memory type has its own lock, so allocations of
// different types do not contend.
type Allocator struct {
	dev       Device
	phys      *vk.PhysicalDevice
	logger    *slog.Logger
	opts      Options
	types     []*blockList // default pools, one per memory type
	heaps     []heapState
	maxAllocs int64
	deviceN   atomic.Int64 // live vkAllocateMemory allocations
	calls     atomic.Int64 // vkAllocateMemory calls made
	closed    atomic.Bool  // set under poolsMu, by Close
	closeOnce sync.Once

	pressure          atomic.Pointer[func(Pressure) bool] // SetPressureHandler's; nil: none
	pressureEvents    atomic.Int64                        // pressure handler calls
	pressureRecovered atomic.Int64                        // allocations that succeeded after one
	soft              atomic.Pointer[softLimit]           // SetSoftLimit's; nil: none
	softEvents        atomic.Int64                        // pressure handler calls for the soft limit

	poolsMu sync.Mutex // guards pools and the setting of closed
	pools   []*Pool    // open pools, and closed ones that still hold memory

	// typeCache remembers memoryTypes' answers: requests repeat a few
	// (type bits, flags) combinations, and ranking every type costs more
	// than the rest of an allocation's bookkeeping.
	typeCache [64]atomic.Pointer[typeCacheEntry]

	prof atomic.Pointer[pprof.Profile] // SetProfile's; nil: none

	defrag atomic.Bool // a Defragmentation is in progress (defrag.go)
}

type typeCacheKey struct {
	typeBits                   uint32
	required, preferred, avoid vk.MemoryPropertyFlags
}

type typeCacheEntry struct {
	key  typeCacheKey
	list typeList
}

type heapState struct {
	size       uint64
	blockBytes atomic.Int64 // bytes of device memory allocated from this heap
	allocBytes atomic.Int64 // bytes of allocations, as Stats counts them (padding of KindAny included)
}

// New creates an allocator on a device.
func New(opts Options) (*Allocator, error) {
	if opts.Device == nil {
		return nil, errors.New("alloc: Options.Device is nil")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if err := checkOptions(&opts); err != nil {
		return nil, err
	}
	p := opts.Device.Physical()
	a := &Allocator{dev: opts.Device, phys: p, logger: opts.Logger, opts: opts,
		maxAllocs: int64(p.Limits.MaxMemoryAllocationCount)}
	if a.maxAllocs == 0 {
		a.maxAllocs = 4096 // the spec's minimum
	}
	a.heaps = make([]heapState, len(p.Memory.Heaps))
	for i, h := range p.Memory.Heaps {
		a.heaps[i].size = h.Size
	}
	for i := range p.Memory.Types {
		a.types = append(a.types, a.newBlockList(uint32(i), a.preferredBlockSize(uint32(i)), virtual.AlgorithmTLSF, 0, 0, nil))
	}
	return a, nil
}

// checkOptions checks the debug and feature options, filling defaults.
func checkOptions(o *Options) error {
	if o.DetectCorruption && o.DebugMargin == 0 {
		o.DebugMargin = defaultDetectMargin
	}
	if o.DebugMargin%4 != 0 || o.DebugMargin > 1<<20 {
		return fmt.Errorf("alloc: Options.DebugMargin %d: not a multiple of 4 up to 1 MiB", o.DebugMargin)
	}
	if !o.BufferDeviceAddress && !o.MemoryPriority {
		return nil
	}
	var f vk.Features
	if fd, ok := o.Device.(featureDevice); ok {
		f = fd.Features()
	}
	if o.BufferDeviceAddress && !f.BufferDeviceAddress {
		return fmt.Errorf("alloc: Options.BufferDeviceAddress: the device has not enabled bufferDeviceAddress (vk.Options.Features): %w", vk.ErrFeatureNotPresent)
	}
	if o.MemoryPriority && !f.MemoryPriority {
		return fmt.Errorf("alloc: Options.MemoryPriority: the device has not enabled VK_EXT_memory_priority (vk.Options.Features): %w", vk.ErrFeatureNotPresent)
	}
	return nil
}

// checkPriority refuses a priority outside [0, 1] (NaN included) and
// turns 0 into the default.
func checkPriority(p float32) (float32, error) {
	if !(p >= 0 && p <= 1) {
		return 0, fmt.Errorf("%w: %v", ErrBadPriority, p)
	}
	if p == 0 {
		return defaultPriority, nil
	}
	return p, nil
}

func (a *Allocator) preferredBlockSize(typeIndex uint32) uint64 {
	if a.opts.PreferredBlockSize != 0 {
		return a.opts.PreferredBlockSize
	}
	heap := a.phys.Memory.Heaps[a.phys.Memory.Types[typeIndex].HeapIndex].Size
	if heap <= 1<<30 {
		return max(heap/8, 1<<20)
	}
	return 256 << 20
}

// Physical is the device's description.
func (a *Allocator) Physical() *vk.PhysicalDevice { return a.phys }

// memoryTypeCost ranks a type for a request: -1 when not allowed, else
// lower is better.
func (a *Allocator) memoryTypeCost(i int, typeBits uint32, required, preferred, avoid vk.MemoryPropertyFlags) int {
	t := a.phys.Memory.Types[i]
	if typeBits&(1<<i) == 0 || t.Flags&required != required || t.Flags&vk.MemoryProtected != 0 {
		return -1
	}
	return bits.OnesCount32(uint32(preferred&^t.Flags)) + bits.OnesCount32(uint32(t.Flags&avoid))
}

// flagsFor turns a usage into required, preferred and avoided flags.
func flagsFor(o *AllocationOptions) (required, preferred, avoid vk.MemoryPropertyFlags) {
	required, preferred = o.Required, o.Preferred
	usage := o.Usage
	if usage == UsageAuto {
		usage = UsageGPUOnly
		if o.Mapped {
			usage = UsageUpload
		}
	}
	switch usage {
	case UsageGPUOnly:
		preferred |= vk.MemoryDeviceLocal
		avoid |= vk.MemoryHostVisible | vk.MemoryLazilyAllocated
	case UsageUpload:
		required |= vk.MemoryHostVisible
		preferred |= vk.MemoryHostCoherent
		avoid |= vk.MemoryDeviceLocal | vk.MemoryHostCached | vk.MemoryLazilyAllocated
	case UsageDynamic:
		required |= vk.MemoryHostVisible
		preferred |= vk.MemoryDeviceLocal | vk.MemoryHostCoherent
		avoid |= vk.MemoryHostCached | vk.MemoryLazilyAllocated
	case UsageReadback:
		required |= vk.MemoryHostVisible
		preferred |= vk.MemoryHostCached | vk.MemoryHostCoherent
		avoid |= vk.MemoryLazilyAllocated
	case UsageTransient:
		preferred |= vk.MemoryDeviceLocal | vk.MemoryLazilyAllocated
		avoid |= vk.MemoryHostVisible
	}
	if o.Mapped {
		required |= vk.MemoryHostVisible
	}
	avoid &^= required | preferred
	return required, preferred, avoid
}

// typeList is the allowed memory types of a request, best first.
type typeList struct {
	idx [32]uint32
	n   int
}

// memoryTypes ranks the allowed types for a request. It is on every
// allocation's path: answers are cached, and a miss allocates one entry.
func (a *Allocator) memoryTypes(typeBits uint32, o *AllocationOptions) typeList {
	required, preferred, avoid := flagsFor(o)
	key := typeCacheKey{typeBits, required, preferred, avoid}
	slot := &a.typeCache[(typeBits*31+uint32(required)*7+uint32(preferred)*3+uint32(avoid))%uint32(len(a.typeCache))]
	if e := slot.Load(); e != nil && e.key == key {
		return e.list
	}
	tl := a.rankTypes(key)
	slot.Store(&typeCacheEntry{key: key, list: tl})
	return tl
}

func (a *Allocator) rankTypes(k typeCacheKey) typeList {
	typeBits, required, preferred, avoid := k.typeBits, k.required, k.preferred, k.avoid
	var tl typeList
	var cost [32]int
	for i := range a.phys.Memory.Types {
		c := a.memoryTypeCost(i, typeBits, required, preferred, avoid)
		if c < 0 {
			continue
		}
		// Insertion keeps equal costs in index order.
		j := tl.n
		for j > 0 && cost[j-1] > c {
			tl.idx[j], cost[j] = tl.idx[j-1], cost[j-1]
			j--
		}
		tl.idx[j], cost[j] = uint32(i), c
		tl.n++
	}
	return tl
}

// FindMemoryType is the best memory type for the type bits and options, as
// Allocate would choose it. ErrClosed after Close.
func (a *Allocator) FindMemoryType(typeBits uint32, o AllocationOptions) (uint32, error) {
	if a.closed.Load() {
		return 0, ErrClosed
	}
	ts := a.memoryTypes(typeBits, &o)
	if ts.n == 0 {
		return 0, a.noTypeError(typeBits, &o)
	}
	return ts.idx[0], nil
}

func (a *Allocator) noTypeError(typeBits uint32, o *AllocationOptions) error {
	required, _, _ := flagsFor(o)
	return fmt.Errorf("%w: type bits %#b, required flags %v, usage %v, device types %v",
		ErrNoMemoryType, typeBits, required, o.Usage, a.phys.Memory.Types)
}

// Allocate sub-allocates memory for requirements (from BufferRequirements or
// ImageRequirements of a device). After Close, or from a closed pool, it
// returns ErrClosed and allocates nothing.
func (a *Allocator) Allocate(req vk.MemoryRequirements, o AllocationOptions) (Allocation, error) {
	return a.allocate(req, &o, 0, 0)
}

// pressureRounds is how many times one allocation calls the pressure
// handler: a handler that answers true without freeing anything cannot
// hold an allocation in a loop.
const pressureRounds = 2

// allocate is every allocation's path: tryAllocate, then, while it fails
// for lack of memory, the pressure handler and one more try per round.
func (a *Allocator) allocate(req vk.MemoryRequirements, o *AllocationOptions, buf vk.Buffer, img vk.Image) (Allocation, error) {
	if s := a.soft.Load(); s != nil {
		a.nearLimit(s, req, o)
	}
	al, err := a.tryAllocate(req, o, buf, img)
	for round := 0; err != nil && round < pressureRounds && a.relieve(req, o, err); round++ {
		if al, err = a.tryAllocate(req, o, buf, img); err == nil {
			a.pressureRecovered.Add(1)
		}
	}
	return al, err
}

func (a *Allocator) tryAllocate(req vk.MemoryRequirements, o *AllocationOptions, buf vk.Buffer, img vk.Image) (Allocation, error) {
	if a.closed.Load() {
		return Allocation{}, fmt.Errorf("allocate %q: %w", o.Name, ErrClosed)
	}
	align, err := virtual.CheckRequest(req.Size, req.Alignment)
	if err != nil {
		return Allocation{}, fmt.Errorf("allocate %q: %w", o.Name, err)
	}
	req.Alignment = align
	if o.Priority != 0 {
		if _, err := checkPriority(o.Priority); err != nil {
			return Allocation{}, fmt.Errorf("allocate %q: %w", o.Name, err)
		}
	}
	if o.UpperAddress && (o.Pool == nil || o.Pool.list.algo != AlgorithmLinear || o.Dedicated || req.RequiresDedicated) {
		return Allocation{}, fmt.Errorf("allocate %q: %w", o.Name, ErrUpperAddress)
	}
	if o.Pool != nil {
		if o.Pool.list.owner != a {
			return Allocation{}, fmt.Errorf("allocate %q: %w: %q", o.Name, ErrForeignPool, o.Pool.name)
		}
		if req.TypeBits&(1<<o.Pool.list.typeIndex) == 0 {
			return Allocation{}, fmt.Errorf("allocate %q: %w: pool %q has type %d, type bits %#b",
				o.Name, ErrNoMemoryType, o.Pool.name, o.Pool.list.typeIndex, req.TypeBits)
		}
		return o.Pool.list.allocate(req, o, buf, img)
	}
	types := a.memoryTypes(req.TypeBits, o)
	if types.n == 0 {
		return Allocation{}, fmt.Errorf("allocate %q: %w", o.Name, a.noTypeError(req.TypeBits, o))
	}
	var firstErr error
	for _, t := range types.idx[:types.n] {
		al, err := a.types[t].allocate(req, o, buf, img)
		if err == nil {
			return al, nil
		}
		if firstErr == nil {
			firstErr = err
		}
		if !retryable(err) && !errors.Is(err, ErrWouldAllocate) {
			break
		}
	}
	return Allocation{}, firstErr
}

// retryable errors let Allocate try the next memory type.
func retryable(err error) bool {
	return errors.Is(err, vk.ErrOutOfDeviceMemory) || errors.Is(err, vk.ErrOutOfHostMemory) ||
		errors.Is(err, ErrBudgetExceeded) || errors.Is(err, ErrAllocationCountLimit)
}

// Pressure describes an allocation that failed for lack of memory, or
// (Soft) one about to take the heaps over the soft limit.
type Pressure struct {
	Heap  uint32 // the memory heap the request was for (of the first memory type tried)
	Size  uint64 // bytes requested
	Name  string // AllocationOptions.Name
	Usage Usage  // AllocationOptions.Usage
	Err   error  // why: vk.ErrOutOfDeviceMemory, ErrBudgetExceeded, ..., or ErrSoftLimit
	// Soft: the allocation has not failed; it would take the live bytes of
	// the limited heaps over the soft limit, and is made after the handler
	// returns, whatever it answers. The handler should not block on the
	// GPU for it: what it releases may still be retiring.
	Soft bool
}

// softLimit is SetSoftLimit's setting.
type softLimit struct {
	flags vk.HeapFlags
	limit uint64
}

// SetSoftLimit makes an allocation in a heap with all of flags set call
// the pressure handler first (Pressure.Soft, Err ErrSoftLimit) when it
// would take the live bytes of those heaps (AllocatedBytes(flags)) over
// limit: a residency policy evicts unused resources before the heaps grow
// past its budget, not only once an allocation fails. The allocation is
// made whatever the handler answers. limit 0 removes it. Safe at any time;
// with none set an allocation pays one atomic load.
func (a *Allocator) SetSoftLimit(flags vk.HeapFlags, limit uint64) {
	if limit == 0 {
		a.soft.Store(nil)
		return
	}
	a.soft.Store(&softLimit{flags: flags, limit: limit})
}

// nearLimit calls the pressure handler before an allocation that would
// take the soft-limited heaps over the limit.
func (a *Allocator) nearLimit(s *softLimit, req vk.MemoryRequirements, o *AllocationOptions) {
	h := a.pressure.Load()
	if h == nil || a.closed.Load() || a.AllocatedBytes(s.flags)+req.Size <= s.limit {
		return
	}
	heap := a.firstHeap(req, o)
	if int(heap) >= len(a.phys.Memory.Heaps) || a.phys.Memory.Heaps[heap].Flags&s.flags != s.flags {
		return // not in a limited heap
	}
	a.softEvents.Add(1)
	(*h)(Pressure{Heap: heap, Size: req.Size, Name: o.Name, Usage: o.Usage, Err: ErrSoftLimit, Soft: true})
}

// SetPressureHandler sets the function an allocation (Allocate,
// CreateBuffer, CreateImage) calls when it fails for lack of memory: out of
// device or host memory, over budget under StayWithinBudget, or at
// maxMemoryAllocationCount, every allowed memory type tried. The handler
// frees what it can (it may block, e.g. waiting for the GPU to retire
// released objects) and returns true to have the allocation tried once
// more. An allocation calls it at most twice; its error is then that of
// the last try. nil removes it.
//
// The handler runs with none of the allocator's locks held, on the
// allocating goroutine: it may call Free, DestroyBuffer, DestroyImage and
// even Allocate on this allocator, and it may be running on several
// goroutines at once. It is not called after Close, nor for errors that
// are not about memory.
func (a *Allocator) SetPressureHandler(h func(Pressure) bool) {
	if h == nil {
		a.pressure.Store(nil)
		return
	}
	a.pressure.Store(&h)
}

// relieve calls the pressure handler for an allocation that failed with
// err, if err is a lack of memory, and reports whether to try again.
func (a *Allocator) relieve(req vk.MemoryRequirements, o *AllocationOptions, err error) bool {
	h := a.pressure.Load()
	if h == nil || !retryable(err) || a.closed.Load() {
		return false
	}
	a.pressureEvents.Add(1)
	return (*h)(Pressure{Heap: a.firstHeap(req, o), Size: req.Size, Name: o.Name, Usage: o.Usage, Err: err})
}

// firstHeap is the heap of the first memory type an allocation tries.
func (a *Allocator) firstHeap(req vk.MemoryRequirements, o *AllocationOptions) uint32 {
	if o.Pool != nil {
		return o.Pool.list.heap
	}
	types := a.memoryTypes(req.TypeBits, o)
	if types.n == 0 { // cannot happen: a memory error means a type was tried
		return 0
	}
	return a.phys.Memory.Types[types.idx[0]].HeapIndex
}

// AllocatedBytes is the bytes of live allocations in heaps with all of
// flags set (0: every heap), as Stats counts them; lock-free, O(heaps), for
// a residency policy to poll every frame.
func (a *Allocator) AllocatedBytes(flags vk.HeapFlags) uint64 {
	var n int64
	for i, h := range a.phys.Memory.Heaps {
		if h.Flags&flags == flags {
			n += a.heaps[i].allocBytes.Load()
		}
	}
	return uint64(max(n, 0))
}

// Free returns an allocation. A zero, stale, altered or double-freed
// Allocation (ErrInvalidFree) or another allocator's (ErrForeignFree) is an
// error and changes nothing. Free works after Close, for allocations made
// before it: the last one freed in a block frees the block's memory.
func (a *Allocator) Free(al Allocation) error { return a.free(al, 0, 0) }

// free checks al and frees it, destroying buf or img first once al is known
// to be live.
func (a *Allocator) free(al Allocation, buf vk.Buffer, img vk.Image) error {
	l, err := a.listOf(al)
	if err != nil {
		return err
	}
	return l.free(al, buf, img)
}

// listOf is the block list of one of this allocator's allocations, or the
// error that refuses al.
func (a *Allocator) listOf(al Allocation) (*blockList, error) {
	l := al.list()
	switch {
	case al.Memory == 0:
		return nil, fmt.Errorf("%w: zero Allocation", ErrInvalidFree)
	case l == nil:
		return nil, fmt.Errorf("%w: memory %#x was not allocated by an Allocator", ErrInvalidFree, uint64(al.Memory))
	case l.owner != a:
		return nil, fmt.Errorf("%w: allocation of another allocator", ErrForeignFree)
	}
	return l, nil
}

// Flush makes host writes to [offset, offset+size) of the allocation visible
// to the device. On HOST_COHERENT memory it does nothing. The range is
// widened to nonCoherentAtomSize as Vulkan requires; size ^uint64(0) means
// to the end of the allocation. A stale or foreign Allocation is refused
// (see Free); after Close it returns ErrClosed.
func (a *Allocator) Flush(al Allocation, offset, size uint64) error {
	return a.syncRange(al, offset, size, a.dev.FlushMemory)
}

// Invalidate makes device writes to the range visible to the host; like Flush.
func (a *Allocator) Invalidate(al Allocation, offset, size uint64) error {
	return a.syncRange(al, offset, size, a.dev.InvalidateMemory)
}

func (a *Allocator) syncRange(al Allocation, offset, size uint64, call func(vk.DeviceMemory, uint64, uint64) error) error {
	if a.closed.Load() {
		return ErrClosed
	}
	l, err := a.listOf(al)
	if err != nil {
		return err
	}
	flags := a.phys.Memory.Types[l.typeIndex].Flags
	coherent := flags&vk.MemoryHostCoherent != 0 || flags&vk.MemoryHostVisible == 0
	return l.withLive(al, func(memSize uint64) error {
		if coherent {
			return nil
		}
		off, n := a.atomRange(al, offset, size, memSize)
		return call(al.Memory, off, n)
	})
}

// atomRange widens a range of an allocation to nonCoherentAtomSize within
// its memory of memSize bytes.
func (a *Allocator) atomRange(al Allocation, offset, size, memSize uint64) (uint64, uint64) {
	if size == ^uint64(0) || offset+size > al.Size {
		size = al.Size - min(offset, al.Size)
	}
	atom := max(a.phys.Limits.NonCoherentAtomSize, 1)
	start := (al.Offset + offset) / atom * atom
	end := min(alignUp64(al.Offset+offset+size, atom), memSize)
	return start, end - start
}

// Map maps an allocation and returns its bytes, as vmaMapMemory does: its
// block (or its dedicated memory) counts its mappings, one per Map not yet
// undone by Unmap and one per persistently mapped allocation (Mapped) for
// its life, and stays mapped, the same bytes at the same address, while
// the count is above 0. A Map without Unmap keeps the mapping until the
// allocation is freed. A stale or foreign Allocation is refused (see
// Free); after Close it returns ErrClosed.
func (a *Allocator) Map(al Allocation) ([]byte, error) {
	if a.closed.Load() {
		return nil, ErrClosed
	}
	l, err := a.listOf(al)
	if err != nil {
		return nil, err
	}
	return l.mapRange(al)
}

// Unmap undoes one Map of the allocation; the last mapping of its block
// (or dedicated memory) to go unmaps it (vkUnmapMemory), and the bytes Map
// returned must not be used any more. Unmap of an allocation with no Map
// to undo (never mapped, unmapped already, or only persistently mapped)
// returns an error wrapping ErrNotMapped and changes nothing; a stale or
// foreign Allocation is refused as by Free. It works after Close.
func (a *Allocator) Unmap(al Allocation) error {
	l, err := a.listOf(al)
	if err != nil {
		return err
	}
	return l.unmapRange(al)
}

// UserData is the allocation's user data (AllocationOptions.UserData, or
// SetUserData's), nil if it has none; ok is false when al is not a live
// allocation of this allocator.
func (a *Allocator) UserData(al Allocation) (v any, ok bool) {
	l, err := a.listOf(al)
	if err != nil {
		return nil, false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.checkLive(al) != nil {
		return nil, false
	}
	return l.userData(al), true
}

// SetUserData replaces the allocation's user data; a stale or foreign
// Allocation is refused as by Free.
func (a *Allocator) SetUserData(al Allocation, v any) error {
	l, err := a.listOf(al)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.checkLive(al); err != nil {
		return err
	}
	l.setUserData(al, v)
	return nil
}

// TrimEmptyBlocks frees every empty block now, whatever the policy. After
// Close there are none: Close freed them, and a block emptied since was
// freed at once.
func (a *Allocator) TrimEmptyBlocks() int {
	n := 0
	for _, l := range a.lists() {
		n += l.trim()
	}
	return n
}

func (a *Allocator) lists() []*blockList {
	a.poolsMu.Lock()
	defer a.poolsMu.Unlock()
	ls := append([]*blockList(nil), a.types...)
	for _, p := range a.pools {
		ls = append(ls, p.list)
	}
	return ls
}

// DeviceAllocations is the number of live VkDeviceMemory objects.
func (a *Allocator) DeviceAllocations() int { return int(a.deviceN.Load()) }

// AllocateCalls is the number of vkAllocateMemory calls made, failed ones included.
func (a *Allocator) AllocateCalls() int { return int(a.calls.Load()) }

// Leak is one allocation live at Close.
type Leak struct {
	Name       string
	Size       uint64
	MemoryType uint32
	Dedicated  bool
	Pool       string // the custom pool's name; "" for the default pools
}

func (l Leak) String() string {
	s := fmt.Sprintf("%q (%d bytes, type %d", l.Name, l.Size, l.MemoryType)
	if l.Dedicated {
		s += ", dedicated"
	}
	if l.Pool != "" {
		s += fmt.Sprintf(", pool %q", l.Pool)
	}
	return s + ")"
}

// Leaks lists live allocations.
func (a *Allocator) Leaks() []Leak {
	var out []Leak
	for _, l := range a.lists() {
		out = append(out, l.leaks()...)
	}
	return out
}

// leakError logs leaks and returns the error naming them, or nil.
func (a *Allocator) leakError(prefix string, leaks []Leak) error {
	if len(leaks) == 0 {
		return nil
	}
	names := make([]string, len(leaks))
	for i, l := range leaks {
		a.logger.Warn("allocation live at Close", "name", l.Name, "size", l.Size, "memory_type", l.MemoryType,
			"dedicated", l.Dedicated, "pool", l.Pool)
		names[i] = l.String()
	}
	return fmt.Errorf("%s%w: %d: %s", prefix, ErrLeaks, len(leaks), strings.Join(names, ", "))
}

// Close closes the allocator, as database/sql closes a DB: from then on
// everything that would allocate, map, flush, bind or check (Allocate,
// CreateBuffer, CreateImage, CreateAliasingBuffer, CreateAliasingImage,
// NewPool, Map, Flush, Invalidate, FindMemoryType, CheckCorruption,
// BufferDeviceAddress, SetPriority) returns ErrClosed and does nothing. Empty blocks are freed now.
//
// Live allocations are not freed: the GPU may still be using them. Close
// returns an error wrapping ErrLeaks that names each of them (and logs
// them), and keeps their memory until they are freed: Free, DestroyBuffer
// and DestroyImage of an allocation made before Close still work, and the
// last free of a block frees its VkDeviceMemory. So an application may
// close the allocator before what holds its allocations (an asset manager,
// frames in flight) and free those later; the report says what was live
// at Close.
//
// Close is safe from any goroutine, at any time, and idempotent: the first
// call does the work and reports; the others wait for it and return nil.
func (a *Allocator) Close() error {
	var err error
	a.closeOnce.Do(func() { err = a.close() })
	return err
}

func (a *Allocator) close() error {
	a.poolsMu.Lock()
	a.closed.Store(true) // under poolsMu: NewPool registers before this or sees it
	a.poolsMu.Unlock()
	var leaks []Leak
	for _, l := range a.lists() {
		ls, drained := l.close()
		leaks = append(leaks, ls...)
		if drained && l.pool != nil {
			a.forgetPool(l.pool)
		}
	}
	return a.leakError("", leaks)
}

// forgetPool takes a closed pool that holds no memory out of the list.
func (a *Allocator) forgetPool(p *Pool) {
	a.poolsMu.Lock()
	defer a.poolsMu.Unlock()
	for i, q := range a.pools {
		if q == p {
			a.pools = append(a.pools[:i], a.pools[i+1:]...)
			return
		}
	}
}

// budgetAllows reports whether size more bytes fit a heap's budget.
func (a *Allocator) budgetAllows(heap uint32, size uint64) error {
	budgets := a.dev.MemoryBudget()
	b := budgets[heap]
	used := uint64(a.heaps[heap].blockBytes.Load())
	if b.FromExtension {
		used = max(used, b.Usage)
	}
	if used+size > b.Budget {
		return fmt.Errorf("%w: heap %d: %d bytes in use + %d > budget %d", ErrBudgetExceeded, heap, used, size, b.Budget)
	}
	return nil
}

// underBudget reports whether a heap's usage is within its budget.
func (a *Allocator) underBudget(heap uint32) bool { return a.budgetAllows(heap, 0) == nil }

// memoryInfo is the vkAllocateMemory of size bytes of a memory type, for
// a block (buf and img 0) or a dedicated allocation, at a priority (0: the
// default): with the device-address flag and the priority chain as the
// options say.
func (a *Allocator) memoryInfo(typeIndex uint32, size uint64, buf vk.Buffer, img vk.Image, priority float32) vk.MemoryAllocateInfo {
	info := vk.MemoryAllocateInfo{Size: size, TypeIndex: typeIndex, DedicatedBuffer: buf, DedicatedImage: img}
	info.DeviceAddress = a.opts.BufferDeviceAddress && img == 0
	if a.opts.MemoryPriority {
		info.WithPriority, info.Priority = true, priority
		if priority == 0 {
			info.Priority = defaultPriority
		}
	}
	return info
}

// allocateDeviceMemory is every vkAllocateMemory the allocator makes: it
// enforces maxMemoryAllocationCount and the budget mode, and counts.
// lim is the allocation's NeverAllocate and WithinBudget.
func (a *Allocator) allocateDeviceMemory(info vk.MemoryAllocateInfo, lim memoryLimits) (vk.DeviceMemory, error) {
	typeIndex, size := info.TypeIndex, info.Size
	if lim.never {
		return 0, fmt.Errorf("%w: %d bytes in memory type %d", ErrWouldAllocate, size, typeIndex)
	}
	heap := a.phys.Memory.Types[typeIndex].HeapIndex
	if a.opts.StayWithinBudget || lim.withinBudget {
		if err := a.budgetAllows(heap, size); err != nil {
			return 0, err
		}
	}
	if a.deviceN.Add(1) > a.maxAllocs {
		a.deviceN.Add(-1)
		return 0, fmt.Errorf("%w: %d", ErrAllocationCountLimit, a.maxAllocs)
	}
	a.calls.Add(1)
	m, err := a.dev.AllocateMemory(info)
	if err != nil {
		a.deviceN.Add(-1)
		return 0, err
	}
	a.heaps[heap].blockBytes.Add(int64(size))
	if cb := a.opts.DeviceMemoryCallbacks.Allocate; cb != nil {
		cb(typeIndex, m, size)
	}
	return m, nil
}

// memoryLimits are an allocation's limits on vkAllocateMemory; the zero
// value (a pool's minimum blocks) has none.
type memoryLimits struct{ never, withinBudget bool }

func limitsOf(o *AllocationOptions) memoryLimits {
	return memoryLimits{never: o.NeverAllocate, withinBudget: o.WithinBudget}
}

func (a *Allocator) freeDeviceMemory(typeIndex uint32, m vk.DeviceMemory, size uint64) {
	if cb := a.opts.DeviceMemoryCallbacks.Free; cb != nil {
		cb(typeIndex, m, size)
	}
	a.dev.FreeMemory(m)
	a.deviceN.Add(-1)
	a.heaps[a.phys.Memory.Types[typeIndex].HeapIndex].blockBytes.Add(-int64(size))
}
