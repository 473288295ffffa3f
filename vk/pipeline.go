package vk

/*
#include "shim.h"
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// TexturedPipeline is a fixed graphics pipeline for textured geometry: a
// render pass with one colour and one depth attachment, vertices of
// (vec3 position, vec2 uv), one combined image sampler, and Push constants.
// It is what vkassets' renderer draws sprites and meshes with; the shaders
// are the caller's SPIR-V.
type TexturedPipeline struct {
	d *Device
	p C.vka_pipeline
}

// Push is the pipeline's push constants.
type Push struct {
	MVP           [16]float32 // column-major
	UVScaleOffset [4]float32  // uv*xy + zw
	Color         [4]float32  // tint
}

// Handles of the pipeline's objects.
type (
	RenderPass     uint64
	Framebuffer    uint64
	DescriptorPool uint64
	DescriptorSet  uint64
)

// CreateTexturedPipeline builds the pipeline from SPIR-V words.
// finalLayout is the colour attachment's layout after the pass.
func (d *Device) CreateTexturedPipeline(vert, frag []byte, color, depth Format, finalLayout ImageLayout) (*TexturedPipeline, error) {
	if !d.gate.enter() {
		return nil, ErrClosed
	}
	defer d.gate.exit()
	if len(vert)%4 != 0 || len(frag)%4 != 0 || len(vert) == 0 || len(frag) == 0 {
		return nil, fmt.Errorf("vk: textured pipeline: SPIR-V must be a non-empty multiple of 4 bytes")
	}
	tp := &TexturedPipeline{d: d}
	r := C.vka_create_textured_pipeline(d.table, (*C.uint32_t)(unsafe.Pointer(&vert[0])), C.size_t(len(vert)),
		(*C.uint32_t)(unsafe.Pointer(&frag[0])), C.size_t(len(frag)), C.uint32_t(color), C.uint32_t(depth), C.uint32_t(finalLayout), &tp.p)
	if err := check("vkCreateGraphicsPipelines", int32(r)); err != nil {
		return nil, err
	}
	return tp, nil
}

// Destroy destroys the pipeline, its layouts and its render pass.
func (tp *TexturedPipeline) Destroy() {
	if !tp.d.gate.enter() {
		return
	}
	defer tp.d.gate.exit()
	C.vka_destroy_textured_pipeline(tp.d.table, tp.p)
}

// RenderPass is the pipeline's render pass.
func (tp *TexturedPipeline) RenderPass() RenderPass { return RenderPass(tp.p.renderPass) }

// CreateFramebuffer makes a framebuffer of a colour and a depth view.
func (d *Device) CreateFramebuffer(rp RenderPass, color, depth ImageView, width, height uint32) (Framebuffer, error) {
	if !d.gate.enter() {
		return 0, ErrClosed
	}
	defer d.gate.exit()
	r := C.vka_create_framebuffer(d.table, C.uint64_t(rp), C.uint64_t(color), C.uint64_t(depth), C.uint32_t(width), C.uint32_t(height))
	return Framebuffer(r.value), check("vkCreateFramebuffer", int32(r.result))
}

// DestroyFramebuffer destroys a framebuffer; 0 is ignored.
func (d *Device) DestroyFramebuffer(fb Framebuffer) {
	if !d.gate.enter() {
		return
	}
	defer d.gate.exit()
	if fb != 0 {
		C.vka_destroy_framebuffer(d.table, C.uint64_t(fb))
	}
}

// CreateDescriptorPool makes a pool of maxSets combined-image-sampler sets.
func (d *Device) CreateDescriptorPool(maxSets uint32) (DescriptorPool, error) {
	if !d.gate.enter() {
		return 0, ErrClosed
	}
	defer d.gate.exit()
	r := C.vka_create_descriptor_pool(d.table, C.uint32_t(maxSets))
	return DescriptorPool(r.value), check("vkCreateDescriptorPool", int32(r.result))
}

// DestroyDescriptorPool destroys a pool; 0 is ignored.
func (d *Device) DestroyDescriptorPool(p DescriptorPool) {
	if !d.gate.enter() {
		return
	}
	defer d.gate.exit()
	if p != 0 {
		C.vka_destroy_descriptor_pool(d.table, C.uint64_t(p))
	}
}

// ResetDescriptorPool frees every set of the pool.
func (d *Device) ResetDescriptorPool(p DescriptorPool) error {
	if !d.gate.enter() {
		return ErrClosed
	}
	defer d.gate.exit()
	return check("vkResetDescriptorPool", int32(C.vka_reset_descriptor_pool(d.table, C.uint64_t(p))))
}

// TextureSet allocates a set from pool that samples view with sampler.
func (tp *TexturedPipeline) TextureSet(pool DescriptorPool, view ImageView, sampler Sampler) (DescriptorSet, error) {
	if !tp.d.gate.enter() {
		return 0, ErrClosed
	}
	defer tp.d.gate.exit()
	r := C.vka_texture_set(tp.d.table, C.uint64_t(pool), tp.p.setLayout, C.uint64_t(view), C.uint64_t(sampler))
	return DescriptorSet(r.value), check("vkAllocateDescriptorSets", int32(r.result))
}

// CmdBeginRenderPass begins the pipeline's pass on fb, clearing to rgba,
// with a viewport and scissor of the whole target.
func (tp *TexturedPipeline) CmdBeginRenderPass(c CommandBuffer, fb Framebuffer, width, height uint32, rgba [4]float32) {
	if !tp.d.gate.enter() {
		return
	}
	defer tp.d.gate.exit()
	C.vka_cmd_begin_render_pass(tp.d.table, C.uintptr_t(c), tp.p.renderPass, C.uint64_t(fb), C.uint32_t(width), C.uint32_t(height),
		C.float(rgba[0]), C.float(rgba[1]), C.float(rgba[2]), C.float(rgba[3]))
}

// CmdEndRenderPass ends the pass.
func (tp *TexturedPipeline) CmdEndRenderPass(c CommandBuffer) {
	if !tp.d.gate.enter() {
		return
	}
	defer tp.d.gate.exit()
	C.vka_cmd_end_render_pass(tp.d.table, C.uintptr_t(c))
}

// CmdDraw binds the pipeline, the set, the buffers and the push constants
// and draws indexCount uint32 indices.
func (tp *TexturedPipeline) CmdDraw(c CommandBuffer, set DescriptorSet, vertices, indices Buffer, indexCount uint32, push *Push) {
	if !tp.d.gate.enter() {
		return
	}
	defer tp.d.gate.exit()
	var cp C.vka_push
	for i, v := range push.MVP {
		cp.mvp[i] = C.float(v)
	}
	for i := range 4 {
		cp.uvScaleOffset[i] = C.float(push.UVScaleOffset[i])
		cp.color[i] = C.float(push.Color[i])
	}
	C.vka_cmd_draw_textured(tp.d.table, C.uintptr_t(c), tp.p, C.uint64_t(set), C.uint64_t(vertices), C.uint64_t(indices), C.uint32_t(indexCount), cp)
}
