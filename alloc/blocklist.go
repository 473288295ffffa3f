package alloc

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/vkassets/vkassets/alloc/virtual"

	"github.com/vkassets/vkassets/vk"
)

// blockList owns the VkDeviceMemory blocks of one memory type: a default
// pool or a custom one. Its mutex is the only lock an allocation takes.
type blockList struct {
	owner       *Allocator
	typeIndex   uint32
	heap        uint32
	preferred   uint64
	fixedSize   bool // custom pool: every block is preferred bytes
	algo        Algorithm
	minBlocks   int
	maxBlocks   int // 0: no limit
	granularity uint64
	pool        *Pool
	// margin is Options.DebugMargin, kept before and after each
	// sub-allocation; detect says the margins hold the magic pattern
	// (DetectCorruption, and the type is host-visible and coherent).
	margin uint64
	detect bool
	// priority is the blocks' memory priority: the pool's, or 0 (the
	// default) for a default pool.
	priority float32

	// closedFast is closed, readable without mu: allocations that find it
	// set fail before they call the driver. closed (under mu) decides.
	closedFast atomic.Bool

	mu        sync.Mutex                        // guards the fields below
	blocks    []*block                          // in creation order
	dedicated map[vk.DeviceMemory]*dedicatedMem // this type's live dedicated allocations
	nextID    int
	// closed: the allocator or the pool was closed. Nothing more is
	// allocated; a block is freed as soon as it is empty, whatever the
	// policy and MinBlocks.
	closed bool
}

// block is one VkDeviceMemory sub-allocated by a VirtualBlock. An
// Allocation points to its block: the pointer, with the virtual handle, is
// the allocation's identity, and it is never reused while the Allocation
// value exists.
type block struct {
	list   *blockList
	memory vk.DeviceMemory
	size   uint64
	vb     *virtual.Block
	mapped []byte // the whole block while mapRefs > 0, else nil
	// mapRefs counts the block's mappings: one per persistently mapped
	// allocation, one per Map not yet undone by Unmap. At 0 it is unmapped.
	mapRefs int
	// tags are, by offset, what the block remembers of an allocation that
	// is named, carries user data or is mapped: its debug name, the buffer
	// or image usage flags it was made for, its user data and mappings. An
	// allocation with none of these pays no map operation, and reports
	// usage 0 in the statistics.
	tags map[uint64]rangeTag
	// checked: the block's margins hold the corruption pattern; it is
	// mapped for its whole life (one mapping reference of its own).
	checked bool
	id      int
	gone    bool // taken out of the list (its memory is freed or being freed); under list.mu
}

// dedicatedMem is a dedicated allocation's record. The Allocation points to
// it, and Free accepts the allocation only while its memory handle still
// maps to this very record: a driver that reuses VkDeviceMemory handles
// cannot make a stale Allocation free a newer one.
type dedicatedMem struct {
	list   *blockList
	memory vk.DeviceMemory
	size   uint64
	name   string
	mapped []byte // while mapRefs > 0, else nil
	// mapRefs counts the mappings: one if persistent, one per Map not yet
	// undone by Unmap.
	mapRefs    int
	persistent bool // AllocationOptions.Mapped
	userData   any
	kind       Kind   // what it is bound to (KindAny: a raw Allocate)
	usage      uint32 // the buffer or image usage flags it was made for; 0 for a raw Allocate
}

func (a *Allocator) newBlockList(typeIndex uint32, preferred uint64, algo Algorithm, minBlocks, maxBlocks int, pool *Pool) *blockList {
	flags := a.phys.Memory.Types[typeIndex].Flags
	return &blockList{
		owner: a, typeIndex: typeIndex, heap: a.phys.Memory.Types[typeIndex].HeapIndex,
		preferred: preferred, algo: algo, minBlocks: minBlocks, maxBlocks: maxBlocks, pool: pool,
		fixedSize: pool != nil, granularity: max(a.phys.Limits.BufferImageGranularity, 1),
		dedicated: map[vk.DeviceMemory]*dedicatedMem{},
		margin:    a.opts.DebugMargin,
		detect:    a.opts.DetectCorruption && flags&(vk.MemoryHostVisible|vk.MemoryHostCoherent) == vk.MemoryHostVisible|vk.MemoryHostCoherent,
	}
}

func (l *blockList) hostVisible() bool {
	return l.owner.phys.Memory.Types[l.typeIndex].Flags&vk.MemoryHostVisible != 0
}

// placement is the size and alignment the sub-allocator sees, and where
// the allocation starts in that range: after the front margin, when there
// are margins, and with the back margin after it; an allocation of unknown
// kind is given whole granularity pages.
func (l *blockList) placement(req vk.MemoryRequirements, kind Kind) (size, align, front uint64) {
	size, align = req.Size, req.Alignment
	if l.margin > 0 {
		front = alignUp64(l.margin, align)
		size = front + req.Size + l.margin
	}
	if kind == KindAny && l.granularity > 1 {
		return alignUp64(size, l.granularity), max(align, l.granularity), front
	}
	return size, align, front
}

// needsDedicated: the allocation must have memory of its own.
func (l *blockList) needsDedicated(req vk.MemoryRequirements, o *AllocationOptions) bool {
	return req.RequiresDedicated || o.Dedicated || l.ownPriority(o)
}

// ownPriority: under Options.MemoryPriority, an allocation of another
// priority than the default pools' blocks get memory of its own.
func (l *blockList) ownPriority(o *AllocationOptions) bool {
	return l.pool == nil && l.owner.opts.MemoryPriority && o.Priority != 0 && o.Priority != defaultPriority
}

func (l *blockList) wantsDedicated(req vk.MemoryRequirements, o *AllocationOptions) bool {
	if l.needsDedicated(req, o) {
		return true
	}
	if l.pool != nil {
		return false
	}
	return req.PrefersDedicated || req.Size > l.preferred/2
}

// closedError is the error of an allocation from a closed list.
func (l *blockList) closedError(name string) error {
	if l.pool != nil {
		return fmt.Errorf("allocate %q: pool %q: %w", name, l.pool.name, ErrClosed)
	}
	return fmt.Errorf("allocate %q: %w", name, ErrClosed)
}

func (l *blockList) allocate(req vk.MemoryRequirements, o *AllocationOptions, buf vk.Buffer, img vk.Image) (Allocation, error) {
	if l.closedFast.Load() {
		return Allocation{}, l.closedError(o.Name)
	}
	if l.wantsDedicated(req, o) {
		al, err := l.allocateDedicated(req, o, buf, img)
		if err == nil || l.needsDedicated(req, o) {
			return al, err
		}
		// Preferred, not required: a block may still have room.
	}
	size, align, front := l.placement(req, o.Kind)
	if size > l.preferred && l.fixedSize {
		return Allocation{}, fmt.Errorf("allocate %q: %d bytes: %w: larger than pool %q's blocks of %d",
			o.Name, req.Size, ErrNoSpace, l.pool.name, l.preferred)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return Allocation{}, l.closedError(o.Name)
	}
	if o.UpperAddress {
		return l.allocateUpper(req, o, size, align, front)
	}
	for _, b := range l.blocks {
		if sub, err := b.vb.Allocate(size, align, o.Kind); err == nil {
			return l.finish(b, sub, front, req.Size, o)
		}
	}
	b, err := l.newBlock(size, limitsOf(o))
	if err != nil {
		if l.pool == nil && !errors.Is(err, ErrAllocationCountLimit) && !errors.Is(err, ErrWouldAllocate) {
			// No block could be made: one exact-size dedicated allocation may still fit.
			l.mu.Unlock()
			al, derr := l.allocateDedicated(req, o, buf, img)
			l.mu.Lock()
			if derr == nil || errors.Is(derr, ErrClosed) {
				return al, derr
			}
		}
		return Allocation{}, fmt.Errorf("allocate %q: %d bytes in memory type %d: %w", o.Name, req.Size, l.typeIndex, err)
	}
	sub, err := b.vb.Allocate(size, align, o.Kind)
	if err != nil { // cannot happen: the block was sized for it
		return Allocation{}, fmt.Errorf("allocate %q in a new block: %w", o.Name, err)
	}
	return l.finish(b, sub, front, req.Size, o)
}

// allocateUpper is allocate for AllocationOptions.UpperAddress, in a
// linear pool: from the top of a block; l.mu is held.
func (l *blockList) allocateUpper(req vk.MemoryRequirements, o *AllocationOptions, size, align, front uint64) (Allocation, error) {
	var ringErr error // a block refused it: it is a ring
	for _, b := range l.blocks {
		sub, err := b.vb.AllocateUpper(size, align, o.Kind)
		if err == nil {
			return l.finish(b, sub, front, req.Size, o)
		}
		if errors.Is(err, virtual.ErrRingInUse) {
			ringErr = err
		}
	}
	b, err := l.newBlock(size, limitsOf(o))
	if err != nil {
		if ringErr != nil {
			err = ringErr
		}
		return Allocation{}, fmt.Errorf("allocate %q: %d bytes at the upper address of pool %q: %w", o.Name, req.Size, l.pool.name, err)
	}
	sub, err := b.vb.AllocateUpper(size, align, o.Kind)
	if err != nil { // cannot happen: the block was sized for it
		return Allocation{}, fmt.Errorf("allocate %q in a new block: %w", o.Name, err)
	}
	return l.finish(b, sub, front, req.Size, o)
}

// finish records a sub-allocation of size bytes front bytes into sub; l.mu
// is held.
func (l *blockList) finish(b *block, sub virtual.Allocation, front, size uint64, o *AllocationOptions) (Allocation, error) {
	off := sub.Offset + front
	al := Allocation{Memory: b.memory, Offset: off, Size: size, MemoryType: l.typeIndex, block: b, sub: sub}
	if o.Mapped {
		if err := b.ref(); err != nil {
			_ = b.vb.Free(sub)
			return Allocation{}, fmt.Errorf("allocate %q: %w", o.Name, err)
		}
		al.Mapped = b.mapped[off : off+size : off+size]
	}
	if o.Name != "" || o.UserData != nil || o.Mapped || l.margin > 0 {
		if b.tags == nil {
			b.tags = map[uint64]rangeTag{}
		}
		b.tags[sub.Offset] = rangeTag{name: o.Name, usage: o.resUsage, userData: o.UserData, persistent: o.Mapped, front: front, size: size}
	}
	if b.checked {
		b.fillMargins(sub, front, size)
	}
	l.owner.heaps[l.heap].allocBytes.Add(int64(sub.Size))
	l.profileAdd(profileKey{block: b, offset: sub.Offset})
	return al, nil
}

// newBlockSize follows VMA: start at 1/8 of the preferred size and double
// as blocks are added, never below what the request needs.
func (l *blockList) newBlockSize(need uint64) uint64 {
	if l.fixedSize {
		return l.preferred
	}
	size := l.preferred
	var largest uint64
	for _, b := range l.blocks {
		largest = max(largest, b.size)
	}
	for range 3 {
		smaller := size / 2
		if smaller > largest && smaller >= need*2 {
			size = smaller
		}
	}
	return max(size, need)
}

// newBlock allocates a block for a request of need bytes within lim; l.mu
// is held. When vkAllocateMemory fails it retries with halved sizes, down
// to need.
func (l *blockList) newBlock(need uint64, lim memoryLimits) (*block, error) {
	if l.closed {
		return nil, ErrClosed
	}
	if l.maxBlocks > 0 && len(l.blocks) >= l.maxBlocks {
		return nil, fmt.Errorf("%w: pool %q is at its maximum of %d blocks", ErrNoSpace, l.pool.name, l.maxBlocks)
	}
	size := l.newBlockSize(need)
	var err error
	for try := 0; try < 4; try++ {
		var m vk.DeviceMemory
		m, err = l.owner.allocateDeviceMemory(l.owner.memoryInfo(l.typeIndex, size, 0, 0, l.priority), lim)
		if err == nil {
			return l.addBlock(m, size)
		}
		if !errors.Is(err, vk.ErrOutOfDeviceMemory) && !errors.Is(err, vk.ErrOutOfHostMemory) {
			break
		}
		if l.fixedSize || size/2 < need {
			break
		}
		size /= 2
	}
	return nil, err
}

func (l *blockList) addBlock(m vk.DeviceMemory, size uint64) (*block, error) {
	vb, err := virtual.New(virtual.Options{Size: size, Algorithm: l.algo, Granularity: l.granularity})
	if err != nil {
		l.owner.freeDeviceMemory(l.typeIndex, m, size)
		return nil, err
	}
	b := &block{list: l, memory: m, size: size, vb: vb, id: l.nextID}
	if l.detect {
		if err := b.ref(); err != nil { // mapped for life, to write and check the margins
			l.owner.freeDeviceMemory(l.typeIndex, m, size)
			return nil, err
		}
		b.checked = true
	}
	l.nextID++
	l.blocks = append(l.blocks, b)
	l.owner.logger.Debug("block allocated", "memory_type", l.typeIndex, "size", size, "blocks", len(l.blocks))
	return b, nil
}

// ref takes a mapping reference on the block, mapping it if it is the
// first; list.mu is held.
func (b *block) ref() error {
	if b.mapRefs == 0 {
		if !b.list.hostVisible() {
			return fmt.Errorf("%w: memory type %d", ErrNotMappable, b.list.typeIndex)
		}
		m, err := b.list.owner.dev.MapMemory(b.memory, 0, b.size)
		if err != nil {
			return err
		}
		b.mapped = m
	}
	b.mapRefs++
	return nil
}

// unref drops n mapping references, unmapping the block at the last one;
// list.mu is held.
func (b *block) unref(n int) {
	if n == 0 {
		return
	}
	b.mapRefs -= n
	if b.mapRefs == 0 {
		b.list.owner.dev.UnmapMemory(b.memory)
		b.mapped = nil
	}
}

// ref and unref are the same for a dedicated allocation's memory; list.mu is held.
func (d *dedicatedMem) ref() error {
	if d.mapRefs == 0 {
		if !d.list.hostVisible() {
			return fmt.Errorf("%w: memory type %d", ErrNotMappable, d.list.typeIndex)
		}
		m, err := d.list.owner.dev.MapMemory(d.memory, 0, d.size)
		if err != nil {
			return err
		}
		d.mapped = m
	}
	d.mapRefs++
	return nil
}

func (d *dedicatedMem) unref() {
	d.mapRefs--
	if d.mapRefs == 0 {
		d.list.owner.dev.UnmapMemory(d.memory)
		d.mapped = nil
	}
}

// checkLive reports whether al is a live allocation of this list: nil, or
// why not (ErrInvalidFree). l.mu is held.
func (l *blockList) checkLive(al Allocation) error {
	if d := al.ded; d != nil {
		if l.dedicated[d.memory] != d || al.Memory != d.memory || al.Size != d.size || al.Offset != 0 {
			return fmt.Errorf("%w: dedicated memory %#x (%q) is not live, or the allocation was altered", ErrInvalidFree, uint64(al.Memory), nameOr(d.name))
		}
		return nil
	}
	b := al.block
	if b.gone {
		return fmt.Errorf("%w: block %d of memory type %d was freed", ErrInvalidFree, b.id, l.typeIndex)
	}
	front := uint64(0)
	if l.margin > 0 {
		front = b.tags[al.sub.Offset].front
	}
	if b.memory != al.Memory || al.Offset != al.sub.Offset+front || al.Size+front > al.sub.Size {
		return fmt.Errorf("%w: the allocation was altered", ErrInvalidFree)
	}
	return b.vb.Check(al.sub)
}

// mapRange takes a mapping reference on al's block (or its dedicated
// memory), counted for al, and returns al's bytes.
func (l *blockList) mapRange(al Allocation) ([]byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.checkLive(al); err != nil {
		return nil, err
	}
	if d := al.ded; d != nil {
		if err := d.ref(); err != nil {
			return nil, err
		}
		return d.mapped[:d.size:d.size], nil
	}
	b := al.block
	if err := b.ref(); err != nil {
		return nil, err
	}
	if b.tags == nil {
		b.tags = map[uint64]rangeTag{}
	}
	tag := b.tags[al.sub.Offset]
	tag.maps++
	b.tags[al.sub.Offset] = tag
	return b.mapped[al.Offset : al.Offset+al.Size : al.Offset+al.Size], nil
}

// unmapRange undoes one mapRange of al; an allocation with no Map to undo
// is refused with ErrNotMapped and nothing changes.
func (l *blockList) unmapRange(al Allocation) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.checkLive(al); err != nil {
		return err
	}
	if d := al.ded; d != nil {
		if d.persistent && d.mapRefs == 1 || d.mapRefs == 0 {
			return fmt.Errorf("unmap %q: %w", nameOr(d.name), ErrNotMapped)
		}
		d.unref()
		return nil
	}
	b := al.block
	tag := b.tags[al.sub.Offset]
	if tag.maps == 0 {
		return fmt.Errorf("unmap %q: %w", nameOr(tag.name), ErrNotMapped)
	}
	tag.maps--
	b.tags[al.sub.Offset] = tag
	b.unref(1)
	return nil
}

// withLive runs f under the lock if al is a live allocation of the list,
// with the size of the memory al lies in.
func (l *blockList) withLive(al Allocation, f func(memSize uint64) error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.checkLive(al); err != nil {
		return err
	}
	if al.ded != nil {
		return f(al.ded.size)
	}
	return f(al.block.size)
}

func (l *blockList) allocateDedicated(req vk.MemoryRequirements, o *AllocationOptions, buf vk.Buffer, img vk.Image) (Allocation, error) {
	if l.closedFast.Load() {
		return Allocation{}, l.closedError(o.Name)
	}
	m, err := l.owner.allocateDeviceMemory(l.owner.memoryInfo(l.typeIndex, req.Size, buf, img, l.dedicatedPriority(o)), limitsOf(o))
	if err != nil {
		return Allocation{}, fmt.Errorf("allocate %q: dedicated %d bytes in memory type %d: %w", o.Name, req.Size, l.typeIndex, err)
	}
	d := &dedicatedMem{list: l, memory: m, size: req.Size, name: o.Name, kind: o.Kind, usage: o.resUsage, userData: o.UserData}
	al := Allocation{Memory: m, Size: req.Size, MemoryType: l.typeIndex, ded: d}
	if o.Mapped {
		if !l.hostVisible() {
			l.owner.freeDeviceMemory(l.typeIndex, m, req.Size)
			return Allocation{}, fmt.Errorf("allocate %q: %w: memory type %d", o.Name, ErrNotMappable, l.typeIndex)
		}
		mapped, err := l.owner.dev.MapMemory(m, 0, req.Size)
		if err != nil {
			l.owner.freeDeviceMemory(l.typeIndex, m, req.Size)
			return Allocation{}, fmt.Errorf("allocate %q: map: %w", o.Name, err)
		}
		d.mapped, al.Mapped = mapped, mapped
		d.mapRefs, d.persistent = 1, true
	}
	l.mu.Lock()
	if l.closed { // closed while the memory was allocated: it is in no leak report, so it goes
		l.mu.Unlock()
		d.release()
		return Allocation{}, l.closedError(o.Name)
	}
	l.dedicated[m] = d
	l.profileAdd(profileKey{ded: d})
	l.mu.Unlock()
	l.owner.heaps[l.heap].allocBytes.Add(int64(req.Size))
	return al, nil
}

// free frees al, a live allocation of this list (else an error and nothing
// changes). When buf or img is not 0 it is destroyed first, under the
// lock, once al is known to be live: a second DestroyBuffer of the same
// pair destroys nothing.
func (l *blockList) free(al Allocation, buf vk.Buffer, img vk.Image) error {
	l.mu.Lock()
	if err := l.checkLive(al); err != nil {
		l.mu.Unlock()
		return err
	}
	l.destroyResource(buf, img)
	l.profileRemove(&al)
	if d := al.ded; d != nil {
		delete(l.dedicated, d.memory)
		d.userData = nil // a stale Allocation still points to d
		drained := l.drained()
		l.mu.Unlock()
		d.release()
		l.owner.heaps[l.heap].allocBytes.Add(-int64(d.size))
		l.afterDrain(drained)
		return nil
	}
	b := al.block
	var corrupt error
	if b.checked {
		corrupt = b.checkMargins(al.sub.Offset, al.sub.Size)
	}
	if err := b.vb.Free(al.sub); err != nil { // cannot happen: checkLive accepted it
		l.mu.Unlock()
		return err
	}
	if b.mapRefs > 0 { // al's own mappings go with it
		tag := b.tags[al.sub.Offset]
		b.unref(int(tag.maps) + b2i(tag.persistent))
	}
	delete(b.tags, al.sub.Offset)
	l.owner.heaps[l.heap].allocBytes.Add(-int64(al.sub.Size))
	var release *block
	if b.vb.IsEmpty() && (l.closed || len(l.blocks) > l.minBlocks && l.releaseEmpty(b)) {
		release = l.remove(b)
	}
	drained := l.drained()
	l.mu.Unlock()
	if release != nil {
		release.destroy()
	}
	l.afterDrain(drained)
	if corrupt != nil {
		l.owner.logger.Error("memory corruption found at free", "error", corrupt)
		return fmt.Errorf("free (the allocation is freed all the same): %w", corrupt)
	}
	return nil
}

func (l *blockList) destroyResource(buf vk.Buffer, img vk.Image) {
	if buf != 0 {
		l.owner.dev.DestroyBuffer(buf)
	}
	if img != 0 {
		l.owner.dev.DestroyImage(img)
	}
}

// drained reports whether the list is a closed custom pool that holds no
// memory any more; l.mu is held.
func (l *blockList) drained() bool {
	return l.closed && l.pool != nil && len(l.blocks) == 0 && len(l.dedicated) == 0
}

// afterDrain forgets a drained pool (l.mu is not held).
func (l *blockList) afterDrain(drained bool) {
	if drained {
		l.owner.forgetPool(l.pool)
	}
}

// releaseEmpty applies the empty-block policy to empty block b; l.mu is held.
func (l *blockList) releaseEmpty(b *block) bool {
	switch l.owner.opts.EmptyBlocks {
	case FreeEmptyBlocks:
		return true
	case KeepEmptyBlocks:
		return false
	}
	// Keep the block for the next allocations unless the other blocks
	// already hold a block's worth of free space (then it is hoarding) or
	// the heap is over budget.
	var free uint64
	for _, o := range l.blocks {
		if o != b {
			free += o.size - o.vb.Used()
		}
	}
	return free >= b.size || !l.owner.underBudget(l.heap)
}

// remove takes b out of the list and marks it gone (its allocations'
// handles are refused from now on); l.mu is held. The caller frees its
// memory with destroy once the lock is released.
func (l *blockList) remove(b *block) *block {
	for i, x := range l.blocks {
		if x == b {
			l.blocks = append(l.blocks[:i], l.blocks[i+1:]...)
			b.gone = true
			return b
		}
	}
	return nil
}

// destroy unmaps and frees a removed block's memory. Nothing else reads
// the block once it is gone.
func (b *block) destroy() {
	if b.mapped != nil {
		b.list.owner.dev.UnmapMemory(b.memory)
		b.mapped = nil
	}
	b.list.owner.freeDeviceMemory(b.list.typeIndex, b.memory, b.size)
}

// release unmaps and frees a dedicated allocation's memory, once its
// record has left the list (or never entered it).
func (d *dedicatedMem) release() {
	if d.mapped != nil {
		d.list.owner.dev.UnmapMemory(d.memory)
	}
	d.list.owner.freeDeviceMemory(d.list.typeIndex, d.memory, d.size)
}

// trim frees every empty block beyond minBlocks.
func (l *blockList) trim() int {
	l.mu.Lock()
	var gone []*block
	for i := 0; i < len(l.blocks) && len(l.blocks) > l.minBlocks; {
		if b := l.blocks[i]; b.vb.IsEmpty() {
			gone = append(gone, l.remove(b))
			continue
		}
		i++
	}
	l.mu.Unlock()
	for _, b := range gone {
		b.destroy()
	}
	return len(gone)
}

func (l *blockList) leaks() []Leak {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.leaksLocked()
}

// leaksLocked lists the live allocations; l.mu is held.
func (l *blockList) leaksLocked() []Leak {
	pool := ""
	if l.pool != nil {
		pool = l.pool.name
	}
	var out []Leak
	for _, b := range l.blocks {
		b.vb.Walk(func(r virtual.Range) {
			if !r.Free {
				out = append(out, Leak{Name: b.nameAt(r.Offset), Size: r.Size, MemoryType: l.typeIndex, Pool: pool})
			}
		})
	}
	for _, d := range l.dedicated {
		out = append(out, Leak{Name: nameOr(d.name), Size: d.size, MemoryType: l.typeIndex, Dedicated: true, Pool: pool})
	}
	return out
}

// nameAt is the debug name of the allocation at offset; l.mu is held.
func (b *block) nameAt(offset uint64) string { return nameOr(b.tags[offset].name) }

// rangeTag is what a block remembers of an allocation that is named,
// carries user data or is mapped.
type rangeTag struct {
	name       string
	usage      uint32
	maps       uint32 // Map calls not yet undone by Unmap
	persistent bool   // AllocationOptions.Mapped: one more mapping reference
	userData   any
	// front and size, under Options.DebugMargin: the allocation starts
	// front bytes into its range and has size bytes; the rest of the
	// range is margin.
	front, size uint64
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// userData is al's user data, al a live allocation of the list; l.mu is held.
func (l *blockList) userData(al Allocation) any {
	if al.ded != nil {
		return al.ded.userData
	}
	return al.block.tags[al.sub.Offset].userData
}

// setUserData sets al's user data, al a live allocation of the list; l.mu is held.
func (l *blockList) setUserData(al Allocation, v any) {
	if d := al.ded; d != nil {
		d.userData = v
		return
	}
	b := al.block
	if b.tags == nil {
		b.tags = map[uint64]rangeTag{}
	}
	tag := b.tags[al.sub.Offset]
	tag.userData = v
	b.tags[al.sub.Offset] = tag
}

func nameOr(n string) string {
	if n == "" {
		return "unnamed"
	}
	return n
}

// close closes the list: nothing more is allocated from it, its empty
// blocks are freed now, and the blocks of live allocations stay until
// those are freed (the last free of a block frees its memory). It returns
// the live allocations and whether the list holds no memory any more. It
// may be called again; each call reports what is live then.
func (l *blockList) close() (leaks []Leak, drained bool) {
	l.mu.Lock()
	l.closed = true
	l.closedFast.Store(true)
	var gone []*block
	for i := 0; i < len(l.blocks); {
		if b := l.blocks[i]; b.vb.IsEmpty() {
			gone = append(gone, l.remove(b))
			continue
		}
		i++
	}
	leaks = l.leaksLocked()
	drained = len(l.blocks) == 0 && len(l.dedicated) == 0
	l.mu.Unlock()
	for _, b := range gone {
		b.destroy()
	}
	return leaks, drained
}

// dedicatedPriority is the memory priority of an allocation's own memory:
// its own, or in a custom pool the pool's.
func (l *blockList) dedicatedPriority(o *AllocationOptions) float32 {
	if l.pool != nil {
		return l.priority
	}
	return o.Priority
}
