// Package render is the small renderer that the demo and the examples
// share: textured sprites and meshes into an offscreen colour target, read
// back as images. Its render pass, pipelines (one per primitive topology)
// and vertex input (assets.Vertex, as assets.VertexAttributes describes it)
// are made here from vk's general calls; its shaders are the GLSL sources
// beside it, compiled to the committed SPIR-V by go generate
// (glslangValidator, Debian's glslang-tools).
package render

//go:generate glslangValidator -V -o shaders/textured.vert.spv shaders/textured.vert
//go:generate glslangValidator -V -o shaders/textured.frag.spv shaders/textured.frag

import (
	_ "embed"
	"errors"
	"fmt"
	"image"
	"sync"

	"github.com/vkassets/vkassets/alloc"
	"github.com/vkassets/vkassets/assets"
	"github.com/vkassets/vkassets/framesync"
	"github.com/vkassets/vkassets/vk"
)

var (
	//go:embed shaders/textured.vert.spv
	vertSPV []byte
	//go:embed shaders/textured.frag.spv
	fragSPV []byte
)

// maxDraws bounds the draws of one frame (one descriptor set each).
const maxDraws = 256

// targetFormat is the colour target's: sRGB, as textures are. The sampler
// decodes sRGB texels to linear values, the shader works in linear light
// (glTF's base-colour factors are linear), and the target encodes its
// output back to sRGB, so that an untinted texel is read back (and
// presented, onto an sRGB swapchain) with the bytes of its PNG.
const targetFormat = vk.FormatR8G8B8A8Srgb

// Renderer draws into a Width×Height RGBA8 target. Its methods are safe
// from any goroutine: they are serialised (a command buffer is recorded by
// one goroutine at a time), and after Close they return ErrClosed or do
// nothing.
type Renderer struct {
	Width, Height uint32

	mu     sync.Mutex // serialises every method: the slots and the recording
	closed bool

	dev     *vk.Device
	alloc   *alloc.Allocator
	sync    *framesync.Sync
	pass    *pass
	sampler vk.Sampler        // sprites: nearest, clamped
	meshSam vk.Sampler        // meshes without a sampler of their own: glTF's default, linear and repeating
	white   *assets.Texture2D // what an untextured material samples
	color   target
	depth   target
	fb      vk.Framebuffer
	quad    *assets.Buffer // unit quad vertices
	quadIdx *assets.Buffer
	m       *assets.Manager
	slots   []slot // per frame in flight
}

type target struct {
	img  vk.Image
	mem  alloc.Allocation
	view vk.ImageView
}

type slot struct {
	pool     vk.DescriptorPool
	draws    int
	readback vk.Buffer
	rbMem    alloc.Allocation
	captured framesync.Serial
	clear    [2]vk.ClearValue   // the pass's clear values, kept here so that Begin allocates nothing
	begin    vk.RenderPassBegin // refers to clear
	write    [1]vk.ImageSamplerWrite
}

// New makes a renderer for frames of s, with its quad uploaded through m.
func New(m *assets.Manager, dev *vk.Device, a *alloc.Allocator, s *framesync.Sync, width, height uint32) (*Renderer, error) {
	r := &Renderer{Width: width, Height: height, dev: dev, alloc: a, sync: s, m: m}
	if err := r.init(); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

func (r *Renderer) init() error {
	d := r.dev
	var err error
	if r.pass, err = newPass(d, targetFormat, vk.FormatD32Sfloat); err != nil {
		return err
	}
	if _, err = r.pass.pipeline(vk.TopologyTriangleList); err != nil {
		return fmt.Errorf("render: %w", err)
	}
	if r.sampler, err = d.CreateSampler(false, false); err != nil {
		return err
	}
	if r.meshSam, err = d.CreateSampler(true, true); err != nil {
		return err
	}
	if r.color, err = r.target(targetFormat, vk.ImageUsageColorAttachment|vk.ImageUsageTransferSrc, vk.AspectColor, "render-color"); err != nil {
		return err
	}
	if r.depth, err = r.target(vk.FormatD32Sfloat, vk.ImageUsageDepthStencilAttachment, vk.AspectDepth, "render-depth"); err != nil {
		return err
	}
	if r.fb, err = d.CreateFramebuffer(r.pass.renderPass, []vk.ImageView{r.color.view, r.depth.view}, r.Width, r.Height); err != nil {
		return err
	}
	quad := []assets.Vertex{
		{Position: [3]float32{0, 0, 0}, UV0: [2]float32{0, 0}, Color: [4]float32{1, 1, 1, 1}},
		{Position: [3]float32{1, 0, 0}, UV0: [2]float32{1, 0}, Color: [4]float32{1, 1, 1, 1}},
		{Position: [3]float32{1, 1, 0}, UV0: [2]float32{1, 1}, Color: [4]float32{1, 1, 1, 1}},
		{Position: [3]float32{0, 1, 0}, UV0: [2]float32{0, 1}, Color: [4]float32{1, 1, 1, 1}},
	}
	if r.quad, err = r.m.NewBuffer("render-quad", vk.BufferUsageVertex, assets.VertexBytes(quad)); err != nil {
		return err
	}
	if r.quadIdx, err = r.m.NewBuffer("render-quad-indices", vk.BufferUsageIndex, u32bytes([]uint32{0, 1, 2, 0, 2, 3})); err != nil {
		return err
	}
	if r.white, err = r.whiteTexture(); err != nil {
		return err
	}
	// They come holding the renderer's reference; locked, not even a
	// forced release (ReleaseAll) takes them from under it.
	for _, a := range r.owned() {
		if err = r.m.Lock(a); err != nil {
			return err
		}
	}
	size := uint64(r.Width) * uint64(r.Height) * 4
	for range r.sync.FramesInFlight() {
		var sl slot
		if sl.pool, err = d.CreateDescriptorPool(maxDraws, []vk.DescriptorPoolSize{{Type: vk.DescriptorCombinedImageSampler, Count: maxDraws}}); err != nil {
			return err
		}
		if sl.readback, sl.rbMem, err = r.alloc.CreateBuffer(size, vk.BufferUsageTransferDst, alloc.AllocationOptions{Usage: alloc.UsageReadback, Mapped: true, Name: "render-readback"}); err != nil {
			return err
		}
		r.slots = append(r.slots, sl)
	}
	return nil
}

// whiteTexture is one white texel: an untextured material samples it, so
// that one pipeline draws both.
func (r *Renderer) whiteTexture() (*assets.Texture2D, error) {
	im, err := r.m.NewImage("render-white", 1, 1, []byte{255, 255, 255, 255})
	if err != nil {
		return nil, fmt.Errorf("render: white texture: %w", err)
	}
	defer func() { _ = r.m.DecRef(im) }() // the texture holds it
	t, err := r.m.NewTexture(im, assets.TextureOptions{NoMips: true})
	if err != nil {
		return nil, fmt.Errorf("render: white texture: %w", err)
	}
	return t, nil
}

// owned are the assets the renderer made, locked while it lives.
func (r *Renderer) owned() []assets.Asset {
	var out []assets.Asset
	if r.quad != nil {
		out = append(out, r.quad)
	}
	if r.quadIdx != nil {
		out = append(out, r.quadIdx)
	}
	if r.white != nil {
		out = append(out, r.white)
	}
	return out
}

func (r *Renderer) target(format vk.Format, usage vk.ImageUsage, aspect vk.Aspect, name string) (target, error) {
	img, mem, err := r.alloc.CreateImage(vk.ImageInfo{Format: format, Width: r.Width, Height: r.Height, Usage: usage}, alloc.AllocationOptions{Name: name})
	if err != nil {
		return target{}, fmt.Errorf("render: %s: %w", name, err)
	}
	view, err := r.dev.CreateImageView(img, format, aspect, 1)
	if err != nil {
		_ = r.alloc.DestroyImage(img, mem)
		return target{}, fmt.Errorf("render: %s: %w", name, err)
	}
	return target{img: img, mem: mem, view: view}, nil
}

// ErrClosed: the renderer was closed.
var ErrClosed = errors.New("render: closed")

// Close retires the renderer's objects once every submission issued so far
// has completed (at once when the frame sync is closed, which waited for
// the device), and lets go of its quad buffers. It is idempotent and safe
// from any goroutine; frames recorded after it get ErrClosed.
func (r *Renderer) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	r.closed = true
	slots, fb, targets, samplers, pass := r.slots, r.fb, []target{r.color, r.depth}, []vk.Sampler{r.sampler, r.meshSam}, r.pass
	d := r.dev
	destroy := func() {
		for _, sl := range slots {
			d.DestroyDescriptorPool(sl.pool)
			if sl.readback != 0 {
				_ = r.alloc.DestroyBuffer(sl.readback, sl.rbMem)
			}
		}
		d.DestroyFramebuffer(fb)
		for _, t := range targets {
			if t.img != 0 {
				d.DestroyImageView(t.view)
				_ = r.alloc.DestroyImage(t.img, t.mem)
			}
		}
		for _, s := range samplers {
			d.DestroySampler(s)
		}
		if pass != nil {
			pass.destroy()
		}
	}
	if err := r.sync.Defer(r.sync.Issued(), framesync.Func(destroy)); err != nil {
		destroy()
	}
	r.slots = nil
	for _, a := range r.owned() {
		r.m.Unlock(a)
		_ = r.m.DecRef(a)
	}
}

// Begin starts the frame's render pass, cleared to rgba: an sRGB colour,
// as a PNG's (0.5 reads back as 128); alpha is linear. Tints of draws are
// linear factors.
func (r *Renderer) Begin(f *framesync.Frame, rgba [4]float32) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return ErrClosed
	}
	sl := &r.slots[f.Index]
	if err := r.dev.ResetDescriptorPool(sl.pool); err != nil {
		return err
	}
	sl.draws = 0
	sl.captured = 0
	if err := errors.Join(assets.Use(f.Serial(), r.quad), assets.Use(f.Serial(), r.quadIdx), assets.Use(f.Serial(), r.white)); err != nil {
		return fmt.Errorf("render: the renderer's own assets: %w", err)
	}
	for i := range 3 { // the clear value of an sRGB attachment is linear
		rgba[i] = srgbToLinear(rgba[i])
	}
	sl.clear = [2]vk.ClearValue{vk.ClearColor(rgba), vk.ClearDepthStencil(1, 0)}
	sl.begin = vk.RenderPassBegin{RenderPass: r.pass.renderPass, Framebuffer: r.fb, Width: r.Width, Height: r.Height, Clear: sl.clear[:]}
	r.dev.CmdBeginRenderPass(f.Cmd, &sl.begin)
	r.dev.CmdSetViewport(f.Cmd, 0, 0, float32(r.Width), float32(r.Height), 0, 1)
	r.dev.CmdSetScissor(f.Cmd, 0, 0, r.Width, r.Height)
	return nil
}

// ErrTooManyDraws: more than maxDraws draws in one frame.
var ErrTooManyDraws = errors.New("render: too many draws in one frame")

// set allocates the descriptor set of one draw: view sampled with sampler.
func (r *Renderer) set(f *framesync.Frame, view vk.ImageView, sampler vk.Sampler) (vk.DescriptorSet, error) {
	sl := &r.slots[f.Index]
	if sl.draws == maxDraws {
		return 0, ErrTooManyDraws
	}
	set, err := r.dev.AllocateDescriptorSet(sl.pool, r.pass.setLayout)
	if err != nil {
		return 0, err
	}
	sl.draws++
	sl.write[0] = vk.ImageSamplerWrite{Set: set, Sampler: sampler, View: view, Layout: vk.LayoutShaderReadOnlyOptimal}
	return set, r.dev.UpdateDescriptorSets(sl.write[:])
}

// draw binds the pipeline of topology, the set, the vertices and (when
// indices is not 0) the uint32 indices, pushes p and draws count indices
// or vertices.
func (r *Renderer) draw(f *framesync.Frame, topology vk.PrimitiveTopology, set vk.DescriptorSet, vertices, indices vk.Buffer, count uint32, p *push) error {
	pl, err := r.pass.pipeline(topology)
	if err != nil {
		return err
	}
	d, c := r.dev, f.Cmd
	d.CmdBindPipeline(c, pl)
	sets := [1]vk.DescriptorSet{set}
	d.CmdBindDescriptorSets(c, r.pass.layout, 0, sets[:])
	vb := [1]vk.Buffer{vertices}
	d.CmdBindVertexBuffers(c, 0, vb[:], nil)
	d.CmdPushConstants(c, r.pass.layout, pushStages, 0, p.bytes())
	if indices != 0 {
		d.CmdBindIndexBuffer(c, indices, 0, vk.IndexUint32)
		d.CmdDrawIndexed(c, count, 1, 0, 0, 0)
	} else {
		d.CmdDraw(c, count, 1, 0, 0)
	}
	return nil
}

// DrawSprite draws a sprite frame at (x, y) pixels, w×h pixels large,
// tinted. It claims the frame for the frame's submission first (one step:
// a release racing it either waits for this frame or makes the draw fail
// with assets.ErrReleased, and nothing is recorded).
func (r *Renderer) DrawSprite(f *framesync.Frame, s *assets.SpriteFrame, x, y, w, h float32, tint [4]float32) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return ErrClosed
	}
	tex, rect, err := s.Claim(f.Serial())
	if err != nil {
		return fmt.Errorf("render: draw %v: %w", &s.Base, err)
	}
	set, err := r.set(f, tex.Handles().View, r.sampler)
	if err != nil {
		return err
	}
	sx, sy := 2*w/float32(r.Width), 2*h/float32(r.Height)
	tx, ty := 2*x/float32(r.Width)-1, 2*y/float32(r.Height)-1
	p := push{
		MVP: [16]float32{sx, 0, 0, 0, 0, sy, 0, 0, 0, 0, 1, 0, tx, ty, 0, 1},
		UVScaleOffset: [4]float32{
			float32(rect.Dx()) / float32(tex.Width), float32(rect.Dy()) / float32(tex.Height),
			float32(rect.Min.X) / float32(tex.Width), float32(rect.Min.Y) / float32(tex.Height)},
		Color:     tint,
		AlphaMode: alphaBlend,
	}
	return r.draw(f, vk.TopologyTriangleList, set, r.quad.Handles().Buffer, r.quadIdx.Handles().Buffer, 6, &p)
}

// DrawMesh draws every primitive of a mesh under a column-major
// transform, each with its topology: its material's base colour texture
// (white when it has none), read with the texture's sampler (glTF's
// default, linear and repeating, when it has none) through the texture
// coordinates the material names, times the material's base colour factor
// (white without a material), times the vertex colours, times tint. Alpha
// follows the material's mode: opaque ignores it, mask discards below the
// cutoff, blend blends. Back faces are drawn whatever DoubleSided says.
//
// It claims the mesh (its buffers, materials, textures and samplers) for
// the frame's submission first, as DrawSprite does. A primitive the
// renderer cannot draw as authored (a topology it has no pipeline for, a
// third UV set) is refused with an error naming it before anything of the
// mesh is recorded.
func (r *Renderer) DrawMesh(f *framesync.Frame, mesh *assets.Mesh, mvp [16]float32, tint [4]float32) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return ErrClosed
	}
	prims := mesh.Primitives
	if len(prims) == 0 { // a mesh made without primitives: its own fields
		prims = []*assets.Primitive{{Topology: vk.TopologyTriangleList, Vertices: mesh.Vertices, VertexCount: mesh.VertexCount,
			Indices: mesh.Indices, IndexCount: mesh.IndexCount, Material: mesh.Material}}
	}
	for i, p := range prims {
		if _, err := r.pass.pipeline(p.Topology); err != nil {
			return fmt.Errorf("render: draw %v: primitive %d: %w", &mesh.Base, i, err)
		}
		if m := p.Material; m != nil && m.BaseColorTexture.Texture != nil && m.BaseColorTexture.TexCoord > 1 {
			return fmt.Errorf("render: draw %v: primitive %d: base colour reads TEXCOORD_%d; the vertex layout has TEXCOORD_0 and TEXCOORD_1", &mesh.Base, i, m.BaseColorTexture.TexCoord)
		}
	}
	if err := assets.Use(f.Serial(), mesh); err != nil {
		return fmt.Errorf("render: draw %v: %w", &mesh.Base, err)
	}
	for i, p := range prims {
		if err := r.drawPrimitive(f, p, mvp, tint); err != nil {
			return fmt.Errorf("render: draw %v: primitive %d: %w", &mesh.Base, i, err)
		}
	}
	return nil
}

// Alpha modes of the shaders' push constants.
const (
	alphaOpaque = 0
	alphaMask   = 1
	alphaBlend  = 2
)

func (r *Renderer) drawPrimitive(f *framesync.Frame, p *assets.Primitive, mvp [16]float32, tint [4]float32) error {
	view, sampler, factor := r.white.Handles().View, r.meshSam, [4]float32{1, 1, 1, 1}
	pc := push{MVP: mvp, UVScaleOffset: [4]float32{1, 1, 0, 0}, AlphaMode: alphaOpaque}
	if mat := p.Material; mat != nil {
		factor = mat.BaseColor
		if ref := mat.BaseColorTexture; ref.Texture != nil {
			view = ref.Texture.Handles().View
			if ref.Sampler != nil {
				sampler = ref.Sampler.Sampler
			}
			pc.UVSet = uint32(ref.TexCoord)
		}
		switch mat.AlphaMode {
		case assets.AlphaMask:
			pc.AlphaMode, pc.AlphaCutoff = alphaMask, mat.AlphaCutoff
		case assets.AlphaBlend:
			pc.AlphaMode = alphaBlend
		}
	}
	pc.Color = [4]float32{factor[0] * tint[0], factor[1] * tint[1], factor[2] * tint[2], factor[3] * tint[3]}
	set, err := r.set(f, view, sampler)
	if err != nil {
		return err
	}
	var indices vk.Buffer
	if p.Indices != nil {
		indices = p.Indices.Handles().Buffer
	}
	return r.draw(f, p.Topology, set, p.Vertices.Handles().Buffer, indices, p.DrawCount(), &pc)
}

// End ends the render pass; with capture, the frame's image is copied to
// the slot's readback buffer, for Image once the frame has completed.
func (r *Renderer) End(f *framesync.Frame, capture bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	r.dev.CmdEndRenderPass(f.Cmd)
	if !capture {
		return
	}
	sl := &r.slots[f.Index]
	r.dev.CmdCopyImageToBuffer(f.Cmd, r.color.img, vk.LayoutTransferSrcOptimal, sl.readback, vk.BufferImageCopy{Width: r.Width, Height: r.Height})
	r.dev.CmdBarrier(f.Cmd, vk.Barrier{SrcStage: vk.StageTransfer, DstStage: vk.StageHost, SrcAccess: vk.AccessTransferWrite, DstAccess: vk.AccessHostRead})
	sl.captured = f.Serial()
}

// Image returns the picture a captured frame rendered. Its serial must
// have completed (framesync's Wait).
func (r *Renderer) Image(f *framesync.Frame) (*image.RGBA, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, ErrClosed
	}
	sl := &r.slots[f.Index]
	if sl.captured == 0 || sl.captured != f.Serial() {
		return nil, errors.New("render: the frame was not captured")
	}
	if r.sync.Completed() < sl.captured {
		return nil, errors.New("render: the captured frame has not completed")
	}
	if err := r.alloc.Invalidate(sl.rbMem, 0, ^uint64(0)); err != nil {
		return nil, err
	}
	img := image.NewRGBA(image.Rect(0, 0, int(r.Width), int(r.Height)))
	copy(img.Pix, sl.rbMem.Mapped)
	return img, nil
}

func u32bytes(v []uint32) []byte {
	out := make([]byte, 4*len(v))
	for i, u := range v {
		out[4*i], out[4*i+1], out[4*i+2], out[4*i+3] = byte(u), byte(u>>8), byte(u>>16), byte(u>>24)
	}
	return out
}

// Present records, after End, a blit of the frame's picture onto a
// swapchain image (undefined to present layout), scaled to its size. The
// submission must wait for the image's acquire semaphore at the transfer
// stage.
func (r *Renderer) Present(f *framesync.Frame, dst vk.Image, width, height uint32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	d := r.dev
	d.CmdBarrier(f.Cmd, vk.Barrier{SrcStage: vk.StageTransfer, DstStage: vk.StageTransfer, DstAccess: vk.AccessTransferWrite,
		Image: dst, OldLayout: vk.LayoutUndefined, NewLayout: vk.LayoutTransferDstOptimal})
	d.CmdBlit(f.Cmd, r.color.img, r.Width, r.Height, dst, width, height)
	d.CmdBarrier(f.Cmd, vk.Barrier{SrcStage: vk.StageTransfer, DstStage: vk.StageBottomOfPipe, SrcAccess: vk.AccessTransferWrite,
		Image: dst, OldLayout: vk.LayoutTransferDstOptimal, NewLayout: vk.LayoutPresentSrc})
}
