package alloc

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/vkassets/vkassets/alloc/virtual"
	"github.com/vkassets/vkassets/vk"
)

// DefragAlgorithm is how a defragmentation chooses its moves; see
// virtual.DefragFast and virtual.DefragFull.
type DefragAlgorithm = virtual.DefragAlgorithm

// Defragmentation algorithms.
const (
	// DefragFast moves whole blocks' contents into fuller blocks, emptiest
	// first, so that the emptied blocks are freed.
	DefragFast = virtual.DefragFast
	// DefragFull is DefragFast, then compacts each block (allocations
	// move to the lowest hole below them) and tries to empty blocks again.
	DefragFull = virtual.DefragFull
)

// Errors of a defragmentation.
var (
	// ErrDefragmenting: BeginDefragmentation while another
	// defragmentation of the same allocator has not ended.
	ErrDefragmenting = errors.New("alloc: a defragmentation is already in progress")
	// ErrPassState: BeginPass while a pass is open, or EndPass without one.
	ErrPassState = errors.New("alloc: defragmentation pass out of order")
	// ErrDefragEnded: a pass of a defragmentation that has ended.
	ErrDefragEnded = errors.New("alloc: defragmentation has ended")
)

// DefragOptions configure BeginDefragmentation.
type DefragOptions struct {
	Algorithm DefragAlgorithm
	// MaxBytesPerPass and MaxMovesPerPass limit each pass (0: no limit).
	// An allocation larger than MaxBytesPerPass never moves.
	MaxBytesPerPass uint64
	MaxMovesPerPass int
	// Pool, when set, defragments that custom pool only; else every
	// default memory type's blocks. Linear pools are never defragmented.
	Pool *Pool
}

// MoveOp is what the application did with a move; it sets it on each
// DefragMove before EndPass.
type MoveOp uint8

// Move operations.
const (
	// MoveCopy (the default): the application copied the data to
	// DstMemory at DstOffset and bound its new resource there. EndPass
	// frees the source; the allocation is now DefragMove.Dst.
	MoveCopy MoveOp = iota
	// MoveIgnore: nothing was done; the allocation stays where it is, the
	// reserved destination is given back, and the allocation is not
	// planned to move again in this defragmentation (so its block is not
	// emptied).
	MoveIgnore
	// MoveDestroy: the application destroyed the resource instead of
	// moving it; EndPass frees the source allocation as Free would.
	MoveDestroy
)

// DefragMove is one move of a pass: the allocation Src is to go to
// DstMemory at DstOffset, a range of the same size reserved for it in the
// same memory type, aligned and kept off conflicting kinds' pages as Src
// was. The application creates a new buffer or image there, records a copy
// from the old one (vkCmdCopyBuffer, or vkCmdCopyImage for images: never
// a buffer aliasing an optimal-tiling image), waits for it, and sets Op.
type DefragMove struct {
	Op MoveOp
	// Src is the allocation as the allocator knows it: identify it by
	// Memory and Offset (or by its UserData); Size is its placement size,
	// which may exceed the size asked of Allocate (padding to
	// bufferImageGranularity for a raw allocation).
	Src       Allocation
	DstMemory vk.DeviceMemory
	DstOffset uint64
	// Dst is set by EndPass for a MoveCopy that took place: the allocation
	// at its new place, with Src's name, user data and persistent mapping
	// (Mapped is the new bytes). Src is stale from then on. Dst is zero
	// when the move did not happen (ignored, destroyed, or Src was freed
	// during the pass).
	Dst Allocation

	list *blockList
	src  Allocation // Src as planned: what EndPass acts on, whatever Src says then
	dst  *block
	sub  virtual.Allocation // the reservation in dst
	plan virtual.Move       // the planner's move
}

// DefragStats are a defragmentation's totals, as End returns them.
type DefragStats struct {
	BytesMoved       uint64 // bytes of the allocations moved (MoveCopy)
	AllocationsMoved int
	BlocksFreed      int    // VkDeviceMemory blocks freed because they were emptied
	BytesFreed       uint64 // their bytes
	Passes           int    // passes that planned at least one move
	// Planning is the CPU time spent planning the passes (with the memory
	// types' locks held).
	Planning time.Duration
}

// Defragmentation is a defragmentation in progress, VMA's
// VmaDefragmentationContext: passes of moves that the application carries
// out on its own resources.
//
//	d, _ := a.BeginDefragmentation(alloc.DefragOptions{MaxBytesPerPass: 64 << 20})
//	for {
//		moves, _ := d.BeginPass()
//		if len(moves) == 0 {
//			break
//		}
//		// For each move: create the resource at DstMemory+DstOffset,
//		// record a copy, submit, wait; or set Op.
//		_ = d.EndPass()
//		// moves[i].Dst is each moved allocation's new value.
//	}
//	stats := d.End()
//
// Its methods are safe from any goroutine. While it runs, other goroutines
// may allocate and free as usual: a new allocation may land in a block
// being emptied (the block then stays), and a source freed during a pass is
// not moved (its Dst stays zero, its reservation is given back). What the
// application must not do is use a source's resource after the pass that
// moved it, nor keep the stale Src. A source mapped with Map after its
// pass was planned still moves if the application says so: the mapping
// moves with it (Unmap of Dst undoes it), and the bytes that Map returned
// are the source's, not to be used after EndPass (Map Dst instead).
//
// Close of the allocator during a defragmentation is safe: the next
// BeginPass returns ErrClosed; EndPass and End still commit or give back
// the open pass (its reservations are among the allocations Close reports
// live until then).
type Defragmentation struct {
	a    *Allocator
	opts DefragOptions

	mu       sync.Mutex // guards the fields below
	planners map[*blockList]*virtual.Planner
	moves    []DefragMove // the open pass's, as BeginPass returned them
	inPass   bool
	ended    bool
	stats    DefragStats
}

// BeginDefragmentation starts a defragmentation. Only one runs at a time
// per allocator (else ErrDefragmenting); End ends it.
func (a *Allocator) BeginDefragmentation(o DefragOptions) (*Defragmentation, error) {
	if a.closed.Load() {
		return nil, fmt.Errorf("defragment: %w", ErrClosed)
	}
	if o.Pool != nil && o.Pool.list.owner != a {
		return nil, fmt.Errorf("defragment: %w", ErrForeignPool)
	}
	if o.MaxMovesPerPass < 0 {
		return nil, fmt.Errorf("defragment: MaxMovesPerPass %d is negative", o.MaxMovesPerPass)
	}
	if o.Algorithm > DefragFull {
		return nil, fmt.Errorf("defragment: unknown algorithm %d", o.Algorithm)
	}
	if !a.defrag.CompareAndSwap(false, true) {
		return nil, ErrDefragmenting
	}
	return &Defragmentation{a: a, opts: o, planners: map[*blockList]*virtual.Planner{}}, nil
}

// lists are the block lists the defragmentation works on.
func (d *Defragmentation) lists() []*blockList {
	if d.opts.Pool != nil {
		return []*blockList{d.opts.Pool.list}
	}
	return d.a.types
}

// BeginPass plans the next pass and returns its moves, at most
// MaxMovesPerPass of at most MaxBytesPerPass in all; none means the
// defragmentation is complete. The slice is the pass's: set each move's Op,
// then call EndPass. After Close it returns ErrClosed and no moves.
func (d *Defragmentation) BeginPass() ([]DefragMove, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case d.ended:
		return nil, ErrDefragEnded
	case d.inPass:
		return nil, fmt.Errorf("%w: BeginPass with a pass open", ErrPassState)
	case d.a.closed.Load():
		return nil, fmt.Errorf("defragment: %w", ErrClosed)
	}
	d.moves = d.moves[:0]
	start := time.Now()
	for _, l := range d.lists() {
		d.plan(l)
	}
	d.stats.Planning += time.Since(start)
	if len(d.moves) == 0 {
		return nil, nil
	}
	d.inPass = true
	d.stats.Passes++
	return d.moves, nil
}

// plan plans l's share of the pass, within what the pass has left.
func (d *Defragmentation) plan(l *blockList) {
	if l.algo != AlgorithmTLSF {
		return
	}
	p := d.planners[l]
	if p == nil {
		p = &virtual.Planner{Algorithm: d.opts.Algorithm}
		d.planners[l] = p
	}
	p.MaxBytes, p.MaxMoves = d.opts.MaxBytesPerPass, d.opts.MaxMovesPerPass
	var bytes uint64
	for _, m := range d.moves {
		bytes += m.Src.Size
	}
	if p.MaxMoves > 0 {
		if p.MaxMoves -= len(d.moves); p.MaxMoves <= 0 {
			return
		}
	}
	if p.MaxBytes > 0 {
		if bytes >= p.MaxBytes {
			return
		}
		p.MaxBytes -= bytes
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	blocks := l.blocks
	vbs := make([]*virtual.Block, len(blocks))
	for i, b := range blocks {
		vbs[i] = b.vb
	}
	// An allocation the application has mapped with Map stays: it holds
	// a pointer into the block. A persistently mapped one moves; Dst.Mapped
	// is its new mapping.
	p.Movable = func(bi int, lv virtual.Live) bool { return blocks[bi].tags[lv.Offset].maps == 0 }
	for _, m := range p.Plan(vbs, nil) {
		src, dst := blocks[m.SrcBlock], blocks[m.DstBlock]
		// With Options.DebugMargin the allocation starts front bytes into
		// its range and has tag.size bytes; the margins are not moved.
		tag := src.tags[m.Src.Offset]
		al := Allocation{Memory: src.memory, Offset: m.Src.Offset + tag.front, Size: m.Src.Size, MemoryType: l.typeIndex, block: src, sub: m.Src}
		if l.margin > 0 {
			al.Size = tag.size
		}
		if tag.persistent {
			al.Mapped = src.mapped[al.Offset : al.Offset+al.Size : al.Offset+al.Size]
		}
		d.moves = append(d.moves, DefragMove{Src: al, DstMemory: dst.memory, DstOffset: m.Dst.Offset + tag.front, list: l, src: al, dst: dst, sub: m.Dst, plan: m})
	}
}

// EndPass carries out the open pass as each move's Op says: a MoveCopy
// frees the source and sets Dst to the allocation at its new place; a
// MoveIgnore gives the destination back; a MoveDestroy frees both. Blocks
// the pass emptied are freed (beyond a pool's MinBlocks). It works after
// Close.
func (d *Defragmentation) EndPass() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.inPass {
		if d.ended {
			return ErrDefragEnded
		}
		return fmt.Errorf("%w: EndPass without BeginPass", ErrPassState)
	}
	d.finishPass(false)
	return nil
}

// finishPass commits the open pass (ignoring every move when cancel is
// set); d.mu is held.
func (d *Defragmentation) finishPass(cancel bool) {
	d.inPass = false
	for start := 0; start < len(d.moves); {
		l := d.moves[start].list
		end := start + 1
		for end < len(d.moves) && d.moves[end].list == l {
			end++
		}
		d.commit(l, d.moves[start:end], cancel)
		start = end
	}
}

// commit carries out the moves of one list.
func (d *Defragmentation) commit(l *blockList, moves []DefragMove, cancel bool) {
	l.mu.Lock()
	var emptied []*block
	for i := range moves {
		m := &moves[i]
		m.Src, m.Dst = m.src, Allocation{} // (an edited Src changes nothing)
		op := m.Op
		live := l.checkLive(m.Src) == nil
		if cancel || op > MoveDestroy || !live {
			op = MoveIgnore // (a source freed during the pass is not moved)
		}
		switch op {
		case MoveIgnore:
			_ = m.dst.vb.Free(m.sub)
			if live && !cancel {
				// The application cannot move it: do not plan it again.
				d.planners[l].Keep(m.plan)
			}
			continue
		case MoveDestroy:
			_ = m.dst.vb.Free(m.sub)
			l.releaseSource(m)
			l.owner.heaps[l.heap].allocBytes.Add(-int64(m.Src.sub.Size))
		case MoveCopy:
			if !l.moveTo(m) {
				_ = m.dst.vb.Free(m.sub)
				continue
			}
			d.stats.BytesMoved += m.Src.Size
			d.stats.AllocationsMoved++
		}
		if b := m.Src.block; b.vb.IsEmpty() && !slices.Contains(emptied, b) {
			emptied = append(emptied, b)
		}
	}
	var gone []*block
	for _, b := range emptied {
		if !b.gone && b.vb.IsEmpty() && (l.closed || len(l.blocks) > l.minBlocks) {
			gone = append(gone, l.remove(b))
		}
	}
	drained := l.drained()
	l.mu.Unlock()
	for _, b := range gone {
		d.stats.BlocksFreed++
		d.stats.BytesFreed += b.size
		b.destroy()
	}
	l.afterDrain(drained)
}

// moveTo makes m's reservation the allocation, with the source's tags
// and mappings, and frees the source; false (nothing changed) when the
// destination block cannot be mapped for a mapped source. l.mu is held.
func (l *blockList) moveTo(m *DefragMove) bool {
	src, dst := m.Src.block, m.dst
	tag, tagged := src.tags[m.Src.sub.Offset]
	al := Allocation{Memory: dst.memory, Offset: m.sub.Offset + tag.front, Size: m.Src.Size, MemoryType: l.typeIndex, block: dst, sub: m.sub}
	// The mappings move with it: the persistent one, and the Maps made
	// during the pass (after it was planned), which Unmap of Dst undoes.
	if n := int(tag.maps) + b2i(tag.persistent); n > 0 {
		if err := dst.ref(); err != nil {
			return false
		}
		dst.mapRefs += n - 1
	}
	if tag.persistent {
		al.Mapped = dst.mapped[al.Offset : al.Offset+al.Size : al.Offset+al.Size]
	}
	l.releaseSource(m)
	if tagged {
		if dst.tags == nil {
			dst.tags = map[uint64]rangeTag{}
		}
		dst.tags[m.sub.Offset] = tag
	}
	if dst.checked {
		dst.fillMargins(m.sub, tag.front, tag.size)
	}
	l.profileAdd(profileKey{block: dst, offset: m.sub.Offset})
	m.Dst = al
	return true
}

// releaseSource frees m's source range with its mappings (as Free does:
// the persistent one and those of Map) and tags, not its bytes'
// accounting; l.mu is held.
func (l *blockList) releaseSource(m *DefragMove) {
	src := m.Src.block
	l.profileRemove(&m.Src)
	_ = src.vb.Free(m.Src.sub)
	tag := src.tags[m.Src.sub.Offset]
	src.unref(int(tag.maps) + b2i(tag.persistent))
	delete(src.tags, m.Src.sub.Offset)
}

// End ends the defragmentation and returns its totals. An open pass is
// given back as if every move were MoveIgnore. End is idempotent.
func (d *Defragmentation) End() DefragStats {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.inPass {
		d.finishPass(true)
	}
	if !d.ended {
		d.ended = true
		d.a.defrag.Store(false)
	}
	return d.stats
}

// Defragment runs a whole defragmentation for allocations nothing else
// refers to by memory and offset (raw allocations whose contents do not
// matter, or tests): every move is taken as MoveCopy without copying
// anything, and moved is called with each allocation's old and new value.
// Applications that own resources use BeginDefragmentation.
func (a *Allocator) Defragment(o DefragOptions, moved func(from, to Allocation)) (DefragStats, error) {
	d, err := a.BeginDefragmentation(o)
	if err != nil {
		return DefragStats{}, err
	}
	for {
		moves, err := d.BeginPass()
		if err != nil || len(moves) == 0 {
			return d.End(), err
		}
		_ = d.EndPass()
		for _, m := range moves {
			if !m.Dst.IsZero() && moved != nil {
				moved(m.Src, m.Dst)
			}
		}
	}
}
