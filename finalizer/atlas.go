package finalizer

import (
	"errors"
	"fmt"
	"image"
	"math/bits"
	"slices"
	"sync"

	"github.com/vkassets/vkassets/assets"
	"github.com/vkassets/vkassets/vk"
)

// ErrTooBig: the sprite frame is larger than AtlasOptions.MaxFrame.
var ErrTooBig = errors.New("finalizer: sprite frame too big for the atlas")

// AtlasOptions configure a dynamic atlas.
type AtlasOptions struct {
	// PageSize is the side of each atlas texture; 0 means 1024.
	PageSize uint32
	// MaxFrame is the largest side a frame may have to be packed; 0 means 64.
	MaxFrame uint32
}

// Atlas is a dynamic atlas (Cocos's 動態合圖): small sprite frames are
// copied into shared atlas textures, so that they draw from one texture.
//
// The packer gives each frame a square cell of the page: frames are sorted
// into power-of-two size classes (16, 32, 64, …) and each page holds cells
// of one class, so freeing a frame frees its cell for the next of its size.
//
// A packed frame depends on its atlas page as well as on its own texture.
// Releasing it frees its cell and releases its own texture (when nothing
// else holds that), never the page while other frames are on it; a page
// whose last frame goes is released too, and retired through framesync like
// any texture.
type Atlas struct {
	f    *Finalizer
	m    *assets.Manager
	dev  *vk.Device
	opts AtlasOptions

	mu     sync.Mutex // guards pages and packed
	pages  []*atlasPage
	packed map[assets.ID]cellRef
}

type atlasPage struct {
	tex  *assets.Texture2D
	cell uint32 // side of its cells
	free []int  // free cell indices
	used int
}

type cellRef struct {
	page  *atlasPage
	cell  int
	moved bool // the pixels are copied and the frame points at the cell
}

// NewAtlas makes a dynamic atlas whose frames the finalizer unpacks when it
// releases them.
func (f *Finalizer) NewAtlas(m *assets.Manager, dev *vk.Device, opts AtlasOptions) *Atlas {
	if opts.PageSize == 0 {
		opts.PageSize = 1024
	}
	if opts.MaxFrame == 0 {
		opts.MaxFrame = 64
	}
	at := &Atlas{f: f, m: m, dev: dev, opts: opts, packed: map[assets.ID]cellRef{}}
	f.mu.Lock()
	var atlases []*Atlas
	if old := f.atlases.Load(); old != nil {
		atlases = slices.Clone(*old)
	}
	atlases = append(atlases, at)
	f.atlases.Store(&atlases)
	f.mu.Unlock()
	return at
}

// cellSize is the size class of a w×h frame.
func cellSize(w, h int) uint32 {
	side := uint32(max(w, h, 16))
	return 1 << bits.Len32(side-1)
}

// Pack copies a frame into a cell of an atlas page and points it there. It
// is recorded as a one-off submission (with the frame being recorded, if
// any); both textures are claimed by it. The frame comes to depend on the
// page before anything is copied, so a page is never packed onto once it
// can be released, and the frame's texture and rectangle move together for
// concurrent readers (SpriteFrame.View).
func (at *Atlas) Pack(frame *assets.SpriteFrame) error {
	src, r := frame.View()
	w, h := r.Dx(), r.Dy()
	if uint32(w) > at.opts.MaxFrame || uint32(h) > at.opts.MaxFrame {
		return fmt.Errorf("pack %v: %dx%d, the atlas takes up to %d: %w", &frame.Base, w, h, at.opts.MaxFrame, ErrTooBig)
	}
	// Pinned, the frame cannot go while its copy is recorded, and so
	// neither can what it depends on: its texture and its page.
	unpin, err := at.m.Pin(frame)
	if err != nil {
		return fmt.Errorf("pack %v: %w", &frame.Base, err)
	}
	defer unpin()
	// The texture too: pinned, a defragmentation does not move it while
	// its image, read here, is recorded and claimed.
	unpinSrc, err := at.m.Pin(src)
	if err != nil {
		return fmt.Errorf("pack %v: %w", &frame.Base, err)
	}
	defer unpinSrc()
	at.mu.Lock()
	defer at.mu.Unlock()
	ref, ok := at.packed[frame.ID()]
	if ok && ref.moved {
		return nil
	}
	if !ok {
		if ref, err = at.place(frame, cellSize(w, h)); err != nil {
			return fmt.Errorf("pack %v: %w", &frame.Base, err)
		}
		at.packed[frame.ID()] = ref
	}
	page := ref.page
	perRow := int(at.opts.PageSize / page.cell)
	x, y := int32(ref.cell%perRow)*int32(page.cell), int32(ref.cell/perRow)*int32(page.cell)
	dst := page.tex
	srcImg, dstImg := src.Handles().Image, dst.Handles().Image
	d := at.dev
	serial, err := at.m.Sync().OneShot(func(cmd vk.CommandBuffer) error {
		d.CmdBarrier(cmd, vk.Barrier{SrcStage: vk.StageFragmentShader, DstStage: vk.StageTransfer, SrcAccess: vk.AccessShaderRead, DstAccess: vk.AccessTransferRead,
			Image: srcImg, OldLayout: vk.LayoutShaderReadOnlyOptimal, NewLayout: vk.LayoutTransferSrcOptimal})
		d.CmdBarrier(cmd, vk.Barrier{SrcStage: vk.StageFragmentShader, DstStage: vk.StageTransfer, SrcAccess: vk.AccessShaderRead, DstAccess: vk.AccessTransferWrite,
			Image: dstImg, OldLayout: vk.LayoutShaderReadOnlyOptimal, NewLayout: vk.LayoutTransferDstOptimal})
		d.CmdCopyImage(cmd, srcImg, vk.LayoutTransferSrcOptimal, int32(r.Min.X), int32(r.Min.Y),
			dstImg, vk.LayoutTransferDstOptimal, x, y, uint32(w), uint32(h))
		d.CmdBarrier(cmd, vk.Barrier{SrcStage: vk.StageTransfer, DstStage: vk.StageFragmentShader, SrcAccess: vk.AccessTransferRead, DstAccess: vk.AccessShaderRead,
			Image: srcImg, OldLayout: vk.LayoutTransferSrcOptimal, NewLayout: vk.LayoutShaderReadOnlyOptimal})
		d.CmdBarrier(cmd, vk.Barrier{SrcStage: vk.StageTransfer, DstStage: vk.StageFragmentShader, SrcAccess: vk.AccessTransferWrite, DstAccess: vk.AccessShaderRead,
			Image: dstImg, OldLayout: vk.LayoutTransferDstOptimal, NewLayout: vk.LayoutShaderReadOnlyOptimal})
		return nil
	})
	if err != nil {
		// The cell stays the frame's (it depends on the page now); a later
		// Pack retries the copy.
		return fmt.Errorf("pack %v: %w", &frame.Base, err)
	}
	// Both are held by the pinned frame: these claims cannot fail.
	if err := errors.Join(assets.Use(serial, src), assets.Use(serial, dst)); err != nil {
		return fmt.Errorf("pack %v: %w", &frame.Base, err)
	}
	if err := frame.MoveTo(dst, image.Rect(int(x), int(y), int(x)+w, int(y)+h)); err != nil {
		return fmt.Errorf("pack %v: %w", &frame.Base, err)
	}
	ref.moved = true
	at.packed[frame.ID()] = ref
	return nil
}

// place gives the frame a free cell of the size class and makes it depend
// on the cell's page, making a page if none has room. A page that went
// (forced out while empty) leaves the atlas and the next is tried. at.mu is
// held.
func (at *Atlas) place(frame *assets.SpriteFrame, size uint32) (cellRef, error) {
	for {
		page, cell, err := at.cell(size)
		if err != nil {
			return cellRef{}, err
		}
		err = at.m.AddDependency(frame, page.tex)
		if err == nil {
			return cellRef{page: page, cell: cell}, nil
		}
		page.free = append(page.free, cell)
		page.used--
		if page.tex.State() == assets.Ready {
			return cellRef{}, err // the frame went
		}
		at.drop(page)
	}
}

// cell takes a free cell of the size class, making a page if none has one.
// at.mu is held.
func (at *Atlas) cell(size uint32) (*atlasPage, int, error) {
	for _, p := range at.pages {
		if p.cell == size && len(p.free) > 0 {
			c := p.free[len(p.free)-1]
			p.free = p.free[:len(p.free)-1]
			p.used++
			return p, c, nil
		}
	}
	// The page comes holding one reference: the atlas's, until it leaves.
	tex, err := at.m.NewEmptyTexture(fmt.Sprintf("atlas-%d", size), at.opts.PageSize, at.opts.PageSize)
	if err != nil {
		return nil, 0, fmt.Errorf("atlas page: %w", err)
	}
	n := int(at.opts.PageSize/size) * int(at.opts.PageSize/size)
	p := &atlasPage{tex: tex, cell: size, free: make([]int, 0, n)}
	for c := n - 1; c >= 0; c-- {
		p.free = append(p.free, c)
	}
	at.pages = append(at.pages, p)
	c := p.free[len(p.free)-1]
	p.free = p.free[:len(p.free)-1]
	p.used++
	return p, c, nil
}

// drop takes a page out of the atlas and lets go of its reference: with no
// frame on it, the release policy decides it at the next Collect. at.mu is
// held.
func (at *Atlas) drop(page *atlasPage) {
	at.pages = slices.DeleteFunc(at.pages, func(p *atlasPage) bool { return p == page })
	_ = at.m.DecRef(page.tex)
}

// released frees a released frame's cell; a page left empty leaves the
// atlas first, then is released like any unreferenced texture.
func (at *Atlas) released(a assets.Asset) {
	id := assets.BaseOf(a).ID()
	at.mu.Lock()
	defer at.mu.Unlock()
	ref, ok := at.packed[id]
	if !ok {
		return
	}
	delete(at.packed, id)
	ref.page.free = append(ref.page.free, ref.cell)
	ref.page.used--
	if ref.page.used == 0 {
		at.drop(ref.page)
	}
}

// Pages is the number of atlas pages in use.
func (at *Atlas) Pages() int {
	at.mu.Lock()
	defer at.mu.Unlock()
	return len(at.pages)
}

// PageTextures are the atlas's page textures; the atlas holds one
// reference on each (its dependents, the frames on it, one each).
func (at *Atlas) PageTextures() []*assets.Texture2D {
	at.mu.Lock()
	defer at.mu.Unlock()
	out := make([]*assets.Texture2D, len(at.pages))
	for i, p := range at.pages {
		out[i] = p.tex
	}
	return out
}

// Packed reports whether a frame is in the atlas.
func (at *Atlas) Packed(frame *assets.SpriteFrame) bool {
	at.mu.Lock()
	defer at.mu.Unlock()
	ref, ok := at.packed[frame.ID()]
	return ok && ref.moved
}
