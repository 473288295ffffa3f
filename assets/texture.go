package assets

import (
	"errors"
	"fmt"
	"image"

	"github.com/vkassets/vkassets/alloc"
	"github.com/vkassets/vkassets/framesync"
	"github.com/vkassets/vkassets/vk"
)

// Texture2D is a sampled VkImage with its view and memory, uploaded from an
// ImageAsset, on which it depends.
type Texture2D struct {
	Base
	Width, Height uint32
	Format        vk.Format
	Image         vk.Image
	View          vk.ImageView
	Memory        alloc.Allocation
}

// GPUObjects are the view, then the image with its memory.
func (t *Texture2D) GPUObjects() []framesync.Object {
	return []framesync.Object{
		framesync.ImageView(t.View).Named(t.name),
		framesync.Image(t.Image, t.Memory).Named(t.name),
	}
}

// newTexture uploads pixels (im's, or im's decoded again after they were
// dropped) to a new device-local texture that depends on im. On failure
// every object made so far is destroyed.
func (m *Manager) newTexture(im *ImageAsset, pixels []byte, name string) (*Texture2D, error) {
	if pixels == nil {
		return nil, fmt.Errorf("texture %q: the image's pixels were dropped after an earlier upload", name)
	}
	t := &Texture2D{Width: im.Width, Height: im.Height, Format: vk.FormatR8G8B8A8Unorm}
	img, mem, err := m.alloc.CreateImage(vk.ImageInfo{Format: t.Format, Width: im.Width, Height: im.Height,
		Usage: vk.ImageUsageSampled | vk.ImageUsageTransferDst | vk.ImageUsageTransferSrc}, alloc.AllocationOptions{Usage: alloc.UsageGPUOnly, Name: name})
	if err != nil {
		return nil, fmt.Errorf("texture %q: %w", name, err)
	}
	view, err := m.dev.CreateImageView(img, t.Format, vk.AspectColor, 1)
	if err != nil {
		_ = m.alloc.DestroyImage(img, mem)
		return nil, fmt.Errorf("texture %q: %w", name, err)
	}
	serial, err := m.upload.image(img, im.Width, im.Height, pixels, name)
	if err != nil {
		m.dev.DestroyImageView(view)
		_ = m.alloc.DestroyImage(img, mem)
		return nil, fmt.Errorf("texture %q: %w", name, err)
	}
	t.Image, t.View, t.Memory = img, view, mem
	_ = m.dev.SetName(vk.ObjectImage, uint64(img), name)
	m.newBase(&t.Base, "texture", name, t, im)
	// The texture may not be destroyed before its upload has run.
	t.markUse(uint64(serial))
	if !m.opts.KeepPixels {
		im.dropPixels()
	}
	return t, nil
}

// NewTexture uploads a run-time ImageAsset (from NewImage) to a texture
// made at run time: an ID, no key, count 0.
func (m *Manager) NewTexture(im *ImageAsset) (*Texture2D, error) {
	t, err := m.newTexture(im, im.Pixels(), im.name)
	if err != nil {
		return nil, err
	}
	m.adopt(t)
	return t, nil
}

// SpriteFrame is a rectangle of a Texture2D, on which it depends. Once
// packed into a dynamic atlas, Texture and Rect name the atlas page and the
// frame's cell in it, and Source remains the texture it came from.
type SpriteFrame struct {
	Base
	Texture *Texture2D
	Rect    image.Rectangle
	Source  *Texture2D
}

// ErrBadRect: a sprite frame's rectangle is empty or outside its texture.
var ErrBadRect = errors.New("assets: rectangle outside the texture")

func (m *Manager) newSpriteFrame(t *Texture2D, r image.Rectangle, name string) (*SpriteFrame, error) {
	if r.Empty() || !r.In(image.Rect(0, 0, int(t.Width), int(t.Height))) {
		return nil, fmt.Errorf("sprite frame %q: %v in a %dx%d texture: %w", name, r, t.Width, t.Height, ErrBadRect)
	}
	s := &SpriteFrame{Texture: t, Rect: r, Source: t}
	m.newBase(&s.Base, "sprite", name, nil, t)
	return s, nil
}

// NewSpriteFrame cuts a sprite frame from a texture at run time. It gets
// its own ID (never an empty identity that another could overwrite) and a
// dependency on the texture.
func (m *Manager) NewSpriteFrame(name string, t *Texture2D, r image.Rectangle) (*SpriteFrame, error) {
	if t.State() != Ready {
		return nil, fmt.Errorf("sprite frame %q: %v: %w", name, &t.Base, ErrReleased)
	}
	s, err := m.newSpriteFrame(t, r, name)
	if err != nil {
		return nil, err
	}
	m.adopt(s)
	return s, nil
}

// NewEmptyTexture makes a device-local RGBA8 texture of undefined contents
// in the shader-read layout (an atlas page, a render target's copy): an ID,
// no key, count 0.
func (m *Manager) NewEmptyTexture(name string, width, height uint32) (*Texture2D, error) {
	t := &Texture2D{Width: width, Height: height, Format: vk.FormatR8G8B8A8Unorm}
	img, mem, err := m.alloc.CreateImage(vk.ImageInfo{Format: t.Format, Width: width, Height: height,
		Usage: vk.ImageUsageSampled | vk.ImageUsageTransferDst | vk.ImageUsageTransferSrc}, alloc.AllocationOptions{Usage: alloc.UsageGPUOnly, Name: name})
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
	t.Image, t.View, t.Memory = img, view, mem
	m.newBase(&t.Base, "texture", name, t)
	t.markUse(uint64(serial))
	m.adopt(t)
	return t, nil
}
