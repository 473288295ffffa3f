package assets

import (
	"sync"
	"sync/atomic"

	"github.com/vkassets/vkassets/alloc"
	"github.com/vkassets/vkassets/framesync"
	"github.com/vkassets/vkassets/vk"
)

// TextureHandles are a texture's Vulkan objects at one time. A
// defragmentation (Manager.SetDefrag, DefragmentNow) may move a texture to
// a new VkImage and view: read the handles with Texture2D.Handles after the
// use claim (Use, SpriteFrame.Claim), in the frame the claim is for, and
// they stay valid through that submission. A renderer that caches
// descriptor sets per texture keys them by (texture, Generation).
type TextureHandles struct {
	Image vk.Image
	View  vk.ImageView
	// Memory is the image's allocation. For the few frames between a
	// move's swap and the end of its defragmentation pass, the allocator
	// has not yet committed the new place: Memory then says where the
	// image is bound (Memory, Offset, Size, MemoryType; Mapped is nil),
	// but it is not an allocation the allocator knows (alloc refuses it)
	// until the pass ends. The image and view are valid all along.
	Memory alloc.Allocation
	// Generation counts the moves: 0 as made, one more each time the
	// texture moves to a new image.
	Generation uint64
}

// BufferHandles are a buffer asset's Vulkan objects at one time; see
// TextureHandles for when a defragmentation changes them.
type BufferHandles struct {
	Buffer     vk.Buffer
	Memory     alloc.Allocation // between a move's swap and the end of its pass, where it is bound only (see TextureHandles.Memory)
	Generation uint64
}

// gpuState is a texture's or buffer's Vulkan objects at one time: a move
// replaces it whole, so that a reader never mixes two generations.
type gpuState struct {
	image  vk.Image
	view   vk.ImageView
	buffer vk.Buffer
	mem    alloc.Allocation // zero while move is pending
	size   uint64           // bytes of the allocation (kept while mem is zero)
	gen    uint64
	// ready is the serial of the upload that filled the objects (or of the
	// copy that moved them there): their contents are valid once it
	// completes.
	ready framesync.Serial
	// move, while the pass that moved the asset here has not ended, is
	// where the allocation will be known.
	move *pendingMove
}

// gpuCell holds a texture's or buffer's current gpuState.
type gpuCell struct {
	cur atomic.Pointer[gpuState]
	// mu orders a move (write-locked from before its copy is recorded
	// until its state is swapped in) against the release's read of the
	// objects to retire (read-locked), so that a release retires what it
	// read no earlier than floor.
	mu sync.RWMutex
	// floor is the serial of the last copy recorded from or to the cell's
	// objects (guarded by mu): a release retires them no earlier.
	floor framesync.Serial
	// fixed: the contents change after upload (an atlas page, a render
	// target's copy); never moved. Set before the asset is shared.
	fixed bool
}

// state is the current state; an empty one for an asset the manager did
// not make (a zero Texture2D), which holds no objects.
func (c *gpuCell) state() *gpuState {
	if s := c.cur.Load(); s != nil {
		return s
	}
	return &gpuState{}
}

// objects lists what to retire of s, views before images, images and
// buffers before their memory; a pending move's allocation is freed by a
// Func once the pass has committed it.
func (s *gpuState) objects(name string) []framesync.Object {
	var objs []framesync.Object
	if s.view != 0 {
		objs = append(objs, framesync.ImageView(s.view).Named(name))
	}
	if s.image != 0 {
		objs = append(objs, framesync.Image(s.image, s.mem).Named(name))
	}
	if s.buffer != 0 {
		objs = append(objs, framesync.Buffer(s.buffer, s.mem).Named(name))
	}
	if s.move != nil {
		objs = append(objs, framesync.Func(s.move.objectsRetired))
	}
	return objs
}

// retireState is what a release retires and the serial it retires no
// earlier than: a copy recorded from the objects (by a move that lost the
// race with the release) may still be in flight. It waits for a move
// being recorded to have swapped its objects in, or given up.
func (c *gpuCell) retireState() (*gpuState, framesync.Serial) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.state(), c.floor
}

// movable is a kind a defragmentation moves: Texture2D, Buffer.
type movable interface {
	GPUOwner
	cell() *gpuCell
}

// destroyNow destroys, with the device idle (the Sync closed), the
// objects of s from index skip of objects' list on.
func (s *gpuState) destroyNow(m *Manager, skip int) error {
	var steps []func() error
	if s.view != 0 {
		steps = append(steps, func() error { m.dev.DestroyImageView(s.view); return nil })
	}
	if s.image != 0 {
		steps = append(steps, func() error {
			if s.mem.IsZero() {
				m.dev.DestroyImage(s.image)
				return nil
			}
			return m.alloc.DestroyImage(s.image, s.mem)
		})
	}
	if s.buffer != 0 {
		steps = append(steps, func() error {
			if s.mem.IsZero() {
				m.dev.DestroyBuffer(s.buffer)
				return nil
			}
			return m.alloc.DestroyBuffer(s.buffer, s.mem)
		})
	}
	if s.move != nil {
		steps = append(steps, func() error { s.move.objectsRetired(); return nil })
	}
	var first error
	for _, f := range steps[min(skip, len(steps)):] {
		if err := f(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// memory is where s's objects are bound, for Handles: mem, or while the
// pass that moved them there has not ended, the destination as planned.
func (s *gpuState) memory() alloc.Allocation {
	if s.mem.IsZero() && s.move != nil {
		return s.move.at
	}
	return s.mem
}

// pendingMove is the allocation of an asset moved by a defragmentation
// pass that has not ended: the allocator commits the destination at the
// end of the pass, which may come before or after the moved objects are
// retired (the asset released meanwhile). Whichever comes second frees
// the allocation, exactly once.
type pendingMove struct {
	freer *alloc.Allocator
	// at is the destination as planned: Memory, Offset, Size and
	// MemoryType, set before the move is shared, read-only.
	at alloc.Allocation

	mu      sync.Mutex // guards the fields below
	done    bool       // the pass ended: dst is the allocation (zero: none)
	retired bool       // the objects bound to dst were destroyed
	dst     alloc.Allocation
}

// objectsRetired: the objects bound to the destination are gone.
func (p *pendingMove) objectsRetired() {
	p.mu.Lock()
	p.retired = true
	free := p.done && !p.dst.IsZero()
	p.mu.Unlock()
	if free {
		_ = p.freer.Free(p.dst)
	}
}

// committed: the pass ended with dst the allocation; it reports whether
// the objects were already retired (dst is then freed here).
func (p *pendingMove) committed(dst alloc.Allocation) bool {
	p.mu.Lock()
	p.done, p.dst = true, dst
	retired := p.retired
	p.mu.Unlock()
	if retired && !dst.IsZero() {
		_ = p.freer.Free(dst)
	}
	return retired
}
