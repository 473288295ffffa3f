package assets

import (
	"errors"
	"fmt"
	"image"
	"slices"
	"sync/atomic"

	"github.com/vkassets/vkassets/alloc"
	"github.com/vkassets/vkassets/framesync"
	"github.com/vkassets/vkassets/vk"
)

// Texture2D is a sampled VkImage with its view and memory, uploaded from an
// ImageAsset, on which it depends — or from a KTX2 file's levels, with no
// ImageAsset. Its view covers every mip level.
type Texture2D struct {
	Base
	Width, Height uint32
	Format        vk.Format // RGBA8 sRGB or UNORM; a KTX2 file's own vkFormat
	MipLevels     uint32    // 1, a full chain (floor(log2(max(Width, Height)))+1), or a KTX2 file's levels
	usage         vk.ImageUsage
	gpu           gpuCell
}

// Handles are the texture's image, view and memory now, as one consistent
// set. Read them after claiming the texture (Use, SpriteFrame.Claim) for
// the submission that reads them: they stay valid through it, even if a
// defragmentation moves the texture meanwhile (see TextureHandles).
func (t *Texture2D) Handles() TextureHandles {
	s := t.gpu.state()
	return TextureHandles{Image: s.image, View: s.view, Memory: s.memory(), Generation: s.gen}
}

// Generation counts the texture's moves (TextureHandles.Generation).
func (t *Texture2D) Generation() uint64 { return t.gpu.state().gen }

// GPUObjects are the view, then the image with its memory.
func (t *Texture2D) GPUObjects() []framesync.Object { return t.gpu.state().objects(t.name) }

func (t *Texture2D) cell() *gpuCell { return &t.gpu }

// TextureOptions choose how an image becomes a texture. The zero value is
// what colour images want: sRGB texels (the sampler returns linear values)
// and a full mip chain.
type TextureOptions struct {
	// Linear stores the texels as UNORM, for data rather than colour:
	// normals, metallic-roughness, occlusion, masks.
	Linear bool `json:"linear,omitempty"`
	// NoMips makes one level instead of a full mip chain.
	NoMips bool `json:"noMips,omitempty"`
}

// Format is the texture's format: R8G8B8A8_SRGB, or _UNORM when Linear.
func (o TextureOptions) Format() vk.Format {
	if o.Linear {
		return vk.FormatR8G8B8A8Unorm
	}
	return vk.FormatR8G8B8A8Srgb
}

// keySuffix tells apart in the cache the textures (and sprites) made from
// one image with different options; empty for the zero value.
func (o TextureOptions) keySuffix() string {
	s := ""
	if o.Linear {
		s += "+linear"
	}
	if o.NoMips {
		s += "+nomips"
	}
	return s
}

// levels is the length of the mip chain of a w×h texture.
func (o TextureOptions) levels(w, h uint32) uint32 {
	if o.NoMips {
		return 1
	}
	return vk.MipLevels(w, h)
}

// newTexture uploads pixels (im's, or im's decoded again after they were
// dropped) to a new device-local texture that depends on im, with its mip
// chain. On failure every object made so far is destroyed.
func (m *Manager) newTexture(im *ImageAsset, pixels []byte, name string, opts TextureOptions) (*Texture2D, error) {
	if pixels == nil {
		return nil, fmt.Errorf("texture %q: the image's pixels were dropped after an earlier upload", name)
	}
	t := &Texture2D{Width: im.Width, Height: im.Height, Format: opts.Format(), MipLevels: opts.levels(im.Width, im.Height),
		usage: vk.ImageUsageSampled | vk.ImageUsageTransferDst | vk.ImageUsageTransferSrc}
	// The allocation's user data is the texture: a defragmentation finds
	// the owner of each allocation it moves by it.
	img, mem, err := m.alloc.CreateImage(t.info(), alloc.AllocationOptions{Usage: alloc.UsageGPUOnly, Name: name, UserData: t,
		QueueFamilies: m.upload.families()})
	if err != nil {
		return nil, fmt.Errorf("texture %q: %w", name, err)
	}
	view, err := m.dev.CreateImageView(img, t.Format, vk.AspectColor, t.MipLevels)
	if err != nil {
		_ = m.alloc.DestroyImage(img, mem)
		return nil, fmt.Errorf("texture %q: %w", name, err)
	}
	serial, err := m.upload.image(img, t.Format, im.Width, im.Height, t.MipLevels, pixels, name)
	if err != nil {
		m.dev.DestroyImageView(view)
		_ = m.alloc.DestroyImage(img, mem)
		return nil, fmt.Errorf("texture %q: %w", name, err)
	}
	t.gpu.cur.Store(&gpuState{image: img, view: view, mem: mem, size: mem.Size, ready: serial})
	_ = m.dev.SetName(vk.ObjectImage, uint64(img), name)
	if err := m.newBase(&t.Base, "texture", name, t, im); err != nil {
		_, _ = m.deferObjects(serial, t, t.GPUObjects(), func(skip int) error { return t.gpu.state().destroyNow(m, skip) })
		return nil, err
	}
	// The texture may not be destroyed before its upload has run.
	t.claim(uint64(serial))
	if !m.opts.KeepPixels {
		im.dropPixels()
	}
	return t, nil
}

// info is what the texture's image is created with.
func (t *Texture2D) info() vk.ImageInfo {
	return vk.ImageInfo{Format: t.Format, Width: t.Width, Height: t.Height, MipLevels: t.MipLevels, Usage: t.usage}
}

// NewTexture uploads a run-time ImageAsset (from NewImage) to a texture
// made at run time: an ID, no key, and one reference, the caller's. The
// options are at most one TextureOptions; none is the zero value (sRGB, a
// full mip chain).
func (m *Manager) NewTexture(im *ImageAsset, opts ...TextureOptions) (*Texture2D, error) {
	t, err := m.newTexture(im, im.Pixels(), im.name, firstOr(opts))
	if err != nil {
		return nil, err
	}
	if err := m.adopt(t); err != nil {
		return nil, err
	}
	return t, nil
}

// SpriteFrame is a rectangle of a Texture2D, on which it depends. Once
// packed into a dynamic atlas, Texture and Rect name the atlas page and the
// frame's cell in it, and Source remains the texture it came from.
//
// The texture and rectangle change together, atomically, when the frame is
// packed: read them with View (or Claim, to draw) rather than one by one.
type SpriteFrame struct {
	Base
	Source *Texture2D
	view   atomic.Pointer[spriteView]
}

type spriteView struct {
	tex  *Texture2D
	rect image.Rectangle
}

// View returns the texture the frame draws from and its rectangle in it,
// as one consistent pair.
func (s *SpriteFrame) View() (*Texture2D, image.Rectangle) {
	v := s.view.Load()
	return v.tex, v.rect
}

// Texture is the texture the frame draws from (see View).
func (s *SpriteFrame) Texture() *Texture2D { return s.view.Load().tex }

// Rect is the frame's rectangle in Texture (see View).
func (s *SpriteFrame) Rect() image.Rectangle { return s.view.Load().rect }

// Claim is Use for drawing a sprite frame: it claims the frame for the
// submission with serial and returns the texture and rectangle to draw, or
// ErrReleased (draw nothing). The pair it returns stays valid through that
// submission even if the frame is packed or released meanwhile.
func (s *SpriteFrame) Claim(serial framesync.Serial) (*Texture2D, image.Rectangle, error) {
	// The view first: a pack adds the page to the frame's marks before it
	// moves the view, so the marks Use loads next cover the view seen here.
	v := s.view.Load()
	if err := Use(serial, s); err != nil {
		return nil, image.Rectangle{}, err
	}
	return v.tex, v.rect, nil
}

// MoveTo points the frame at a rectangle of another texture (an atlas
// page), in one step for concurrent readers. The frame must already depend
// on tex (AddDependency), so that its use claims cover it.
func (s *SpriteFrame) MoveTo(tex *Texture2D, r image.Rectangle) error {
	if !slices.Contains(s.Deps(), Asset(tex)) {
		return fmt.Errorf("move %v to %v: not a dependency of the frame", &s.Base, &tex.Base)
	}
	s.view.Store(&spriteView{tex: tex, rect: r})
	return nil
}

// ErrBadRect: a sprite frame's rectangle is empty or outside its texture.
var ErrBadRect = errors.New("assets: rectangle outside the texture")

func (m *Manager) newSpriteFrame(t *Texture2D, r image.Rectangle, name string) (*SpriteFrame, error) {
	if r.Empty() || !r.In(image.Rect(0, 0, int(t.Width), int(t.Height))) {
		return nil, fmt.Errorf("sprite frame %q: %v in a %dx%d texture: %w", name, r, t.Width, t.Height, ErrBadRect)
	}
	s := &SpriteFrame{Source: t}
	s.view.Store(&spriteView{tex: t, rect: r})
	if err := m.newBase(&s.Base, "sprite", name, nil, t); err != nil {
		return nil, err
	}
	return s, nil
}

// NewSpriteFrame cuts a sprite frame from a texture at run time. It gets
// its own ID (never an empty identity that another could overwrite), a
// dependency on the texture, and one reference, the caller's.
func (m *Manager) NewSpriteFrame(name string, t *Texture2D, r image.Rectangle) (*SpriteFrame, error) {
	s, err := m.newSpriteFrame(t, r, name)
	if err != nil {
		return nil, err
	}
	if err := m.adopt(s); err != nil {
		return nil, err
	}
	return s, nil
}

// NewEmptyTexture makes a device-local RGBA8 sRGB texture of one level, of
// undefined contents, in the shader-read layout (an atlas page, a render
// target's copy): an ID, no key, and one reference, the caller's. sRGB, as
// the textures whose texels are copied into it are by default: a copy
// keeps the bytes, and the page samples as they do.
func (m *Manager) NewEmptyTexture(name string, width, height uint32) (*Texture2D, error) {
	// Its contents change after it is made (copies into it): a
	// defragmentation never moves it.
	t := &Texture2D{Width: width, Height: height, Format: vk.FormatR8G8B8A8Srgb, MipLevels: 1,
		usage: vk.ImageUsageSampled | vk.ImageUsageTransferDst | vk.ImageUsageTransferSrc}
	t.gpu.fixed = true
	img, mem, err := m.alloc.CreateImage(t.info(), alloc.AllocationOptions{Usage: alloc.UsageGPUOnly, Name: name, UserData: t})
	if err != nil {
		return nil, fmt.Errorf("texture %q: %w", name, err)
	}
	view, err := m.dev.CreateImageView(img, t.Format, vk.AspectColor, 1)
	if err != nil {
		_ = m.alloc.DestroyImage(img, mem)
		return nil, fmt.Errorf("texture %q: %w", name, err)
	}
	serial, err := m.sync.OneShot(func(cmd vk.CommandBuffer) error {
		m.dev.CmdBarrier(cmd, vk.Barrier{SrcStage: vk.StageTopOfPipe, DstStage: vk.StageFragmentShader, DstAccess: vk.AccessShaderRead,
			Image: img, OldLayout: vk.LayoutUndefined, NewLayout: vk.LayoutShaderReadOnlyOptimal})
		return nil
	})
	if err != nil {
		m.dev.DestroyImageView(view)
		_ = m.alloc.DestroyImage(img, mem)
		return nil, fmt.Errorf("texture %q: %w", name, err)
	}
	t.gpu.cur.Store(&gpuState{image: img, view: view, mem: mem, size: mem.Size, ready: serial})
	if err := m.newBase(&t.Base, "texture", name, t); err != nil {
		_, _ = m.deferObjects(serial, t, t.GPUObjects(), func(skip int) error { return t.gpu.state().destroyNow(m, skip) })
		return nil, err
	}
	t.claim(uint64(serial))
	if err := m.adopt(t); err != nil {
		return nil, err
	}
	return t, nil
}

// firstOr returns the first of at most one optional value, or its zero value.
func firstOr[T any](v []T) T {
	var zero T
	if len(v) > 0 {
		return v[0]
	}
	return zero
}
