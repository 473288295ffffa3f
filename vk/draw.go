package vk

/*
#include "shim.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"math"
	"unsafe"
)

// The descriptor and draw calls below run per frame and per draw and
// allocate nothing: they copy their slices into C structs passed by value
// (a pointer handed to cgo makes what it points to escape to the heap;
// cgo's noescape would help only with nocallback, and the validation
// layer's messenger calls back into Go from inside these calls).

// Handles of descriptor objects.
type (
	DescriptorPool uint64
	DescriptorSet  uint64
)

// DescriptorPoolSize is how many descriptors of a type a pool holds.
type DescriptorPoolSize struct {
	Type  DescriptorType
	Count uint32
}

// CreateDescriptorPool makes a pool of maxSets sets holding, over all of
// them, the descriptors sizes list.
func (d *Device) CreateDescriptorPool(maxSets uint32, sizes []DescriptorPoolSize) (DescriptorPool, error) {
	if !d.gate.enter() {
		return 0, ErrClosed
	}
	defer d.gate.exit()
	if maxSets == 0 || len(sizes) == 0 || len(sizes) > MaxBindings {
		return 0, fmt.Errorf("vk: descriptor pool: %d sets of %d descriptor types, want at least one set and 1 to %d types", maxSets, len(sizes), MaxBindings)
	}
	var s [MaxBindings]C.vka_pool_size
	for i, x := range sizes {
		s[i] = C.vka_pool_size{_type: C.uint32_t(x.Type), count: C.uint32_t(x.Count)}
	}
	r := C.vka_create_descriptor_pool(d.table, C.uint32_t(maxSets), &s[0], C.uint32_t(len(sizes)))
	return DescriptorPool(r.value), check("vkCreateDescriptorPool", int32(r.result))
}

// DestroyDescriptorPool destroys a pool and its sets; 0 is ignored.
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

// AllocateDescriptorSet allocates one set of layout from pool; an
// exhausted pool answers an *Error of ErrorOutOfPoolMemory or
// ErrorFragmentedPool.
func (d *Device) AllocateDescriptorSet(pool DescriptorPool, layout DescriptorSetLayout) (DescriptorSet, error) {
	if !d.gate.enter() {
		return 0, ErrClosed
	}
	defer d.gate.exit()
	if pool == 0 || layout == 0 {
		return 0, errNoPoolOrLayout
	}
	r := C.vka_allocate_descriptor_set(d.table, C.uint64_t(pool), C.uint64_t(layout))
	return DescriptorSet(r.value), check("vkAllocateDescriptorSets", int32(r.result))
}

var errNoPoolOrLayout = errors.New("vk: allocate descriptor set: a pool and a layout are required")

// ImageSamplerWrite writes one combined image sampler into a set: View,
// sampled with Sampler, in Layout (usually LayoutShaderReadOnlyOptimal).
type ImageSamplerWrite struct {
	Set     DescriptorSet
	Binding uint32
	Element uint32 // array element of the binding
	Sampler Sampler
	View    ImageView
	Layout  ImageLayout
	_       uint32
}

// The Go and C layouts must agree: the slice is handed to C as it is.
var _ [unsafe.Sizeof(ImageSamplerWrite{}) - unsafe.Sizeof(C.vka_image_write{})]struct{}
var _ [unsafe.Sizeof(C.vka_image_write{}) - unsafe.Sizeof(ImageSamplerWrite{})]struct{}

// UpdateDescriptorSets writes combined image samplers into sets, at most
// MaxDescriptorWrites at a time (more is an error and writes nothing).
func (d *Device) UpdateDescriptorSets(writes []ImageSamplerWrite) error {
	if !d.gate.enter() {
		return ErrClosed
	}
	defer d.gate.exit()
	if len(writes) == 0 {
		return nil
	}
	if len(writes) > MaxDescriptorWrites {
		return fmt.Errorf("vk: update descriptor sets: %d writes, want at most %d", len(writes), MaxDescriptorWrites)
	}
	var w C.vka_image_writes
	w.count = C.uint32_t(len(writes))
	copy(unsafe.Slice((*ImageSamplerWrite)(unsafe.Pointer(&w.w[0])), len(writes)), writes)
	C.vka_update_descriptor_sets(d.table, w)
	return nil
}

// ClearValue is a VkClearValue: a colour's four floats, or a depth and a
// stencil value. Make it with ClearColor or ClearDepthStencil.
type ClearValue struct{ v [4]uint32 }

// ClearColor is a float colour clear value (linear for sRGB attachments).
func ClearColor(rgba [4]float32) ClearValue {
	return ClearValue{[4]uint32{math.Float32bits(rgba[0]), math.Float32bits(rgba[1]), math.Float32bits(rgba[2]), math.Float32bits(rgba[3])}}
}

// ClearDepthStencil is a depth-stencil clear value.
func ClearDepthStencil(depth float32, stencil uint32) ClearValue {
	return ClearValue{[4]uint32{math.Float32bits(depth), stencil}}
}

var _ [unsafe.Sizeof(ClearValue{}) - unsafe.Sizeof(C.vka_clear_value{})]struct{}

// RenderPassBegin is what CmdBeginRenderPass begins: a pass on a
// framebuffer, over a render area, with one clear value per attachment
// (read for the attachments that clear).
type RenderPassBegin struct {
	RenderPass    RenderPass
	Framebuffer   Framebuffer
	X, Y          int32
	Width, Height uint32
	Clear         []ClearValue
}

// CmdBeginRenderPass begins a render pass with inline contents. More than
// MaxAttachments clear values are cut to MaxAttachments.
func (d *Device) CmdBeginRenderPass(c CommandBuffer, b *RenderPassBegin) {
	if !d.gate.enter() {
		return
	}
	defer d.gate.exit()
	if b == nil {
		return
	}
	var cv C.vka_clear_values
	cv.count = C.uint32_t(min(len(b.Clear), MaxAttachments))
	for i := range int(cv.count) {
		for j, v := range b.Clear[i].v {
			cv.v[i].v[j] = C.uint32_t(v)
		}
	}
	C.vka_cmd_begin_render_pass(d.table, C.uintptr_t(c), C.uint64_t(b.RenderPass), C.uint64_t(b.Framebuffer),
		C.int32_t(b.X), C.int32_t(b.Y), C.uint32_t(b.Width), C.uint32_t(b.Height), cv)
}

// CmdEndRenderPass ends the render pass.
func (d *Device) CmdEndRenderPass(c CommandBuffer) {
	if !d.gate.enter() {
		return
	}
	defer d.gate.exit()
	C.vka_cmd_end_render_pass(d.table, C.uintptr_t(c))
}

// CmdSetViewport sets viewport 0 (a pipeline with DynamicViewport).
func (d *Device) CmdSetViewport(c CommandBuffer, x, y, width, height, minDepth, maxDepth float32) {
	if !d.gate.enter() {
		return
	}
	defer d.gate.exit()
	C.vka_cmd_set_viewport(d.table, C.uintptr_t(c), C.float(x), C.float(y), C.float(width), C.float(height), C.float(minDepth), C.float(maxDepth))
}

// CmdSetScissor sets scissor 0 (a pipeline with DynamicViewport).
func (d *Device) CmdSetScissor(c CommandBuffer, x, y int32, width, height uint32) {
	if !d.gate.enter() {
		return
	}
	defer d.gate.exit()
	C.vka_cmd_set_scissor(d.table, C.uintptr_t(c), C.int32_t(x), C.int32_t(y), C.uint32_t(width), C.uint32_t(height))
}

// CmdBindPipeline binds a graphics pipeline.
func (d *Device) CmdBindPipeline(c CommandBuffer, p Pipeline) {
	if !d.gate.enter() {
		return
	}
	defer d.gate.exit()
	C.vka_cmd_bind_pipeline(d.table, C.uintptr_t(c), C.uint64_t(p))
}

// CmdBindDescriptorSets binds sets to set numbers first, first+1, … of a
// graphics pipeline layout; at most MaxBound are bound.
func (d *Device) CmdBindDescriptorSets(c CommandBuffer, layout PipelineLayout, first uint32, sets []DescriptorSet) {
	if !d.gate.enter() {
		return
	}
	defer d.gate.exit()
	var h C.vka_handles
	h.count = C.uint32_t(min(len(sets), MaxBound))
	for i := range int(h.count) {
		h.v[i] = C.uint64_t(sets[i])
	}
	if h.count > 0 {
		C.vka_cmd_bind_descriptor_sets(d.table, C.uintptr_t(c), C.uint64_t(layout), C.uint32_t(first), h)
	}
}

// CmdPushConstants records push constants: data at offset of the layout's
// ranges for stages. data's length must be a multiple of 4 and the whole
// within MaxPushConstantBytes; else nothing is recorded.
func (d *Device) CmdPushConstants(c CommandBuffer, layout PipelineLayout, stages ShaderStage, offset uint32, data []byte) {
	if !d.gate.enter() {
		return
	}
	defer d.gate.exit()
	if len(data) == 0 || len(data)%4 != 0 || offset%4 != 0 || uint64(offset)+uint64(len(data)) > MaxPushConstantBytes {
		return
	}
	var p C.vka_push_data
	copy(unsafe.Slice((*byte)(unsafe.Pointer(&p.bytes[0])), len(p.bytes)), data)
	C.vka_cmd_push_constants(d.table, C.uintptr_t(c), C.uint64_t(layout), C.uint32_t(stages), C.uint32_t(offset), C.uint32_t(len(data)), p)
}

// CmdBindVertexBuffers binds buffers to bindings first, first+1, …, each
// at its offset (offsets nil: all at 0; else as long as buffers); at most
// MaxBound are bound.
func (d *Device) CmdBindVertexBuffers(c CommandBuffer, first uint32, buffers []Buffer, offsets []uint64) {
	if !d.gate.enter() {
		return
	}
	defer d.gate.exit()
	n := min(len(buffers), MaxBound)
	if n == 0 || (offsets != nil && len(offsets) < n) {
		return
	}
	var h C.vka_handles
	h.count = C.uint32_t(n)
	for i := range n {
		h.v[i] = C.uint64_t(buffers[i])
		if offsets != nil {
			h.offsets[i] = C.uint64_t(offsets[i])
		}
	}
	C.vka_cmd_bind_vertex_buffers(d.table, C.uintptr_t(c), C.uint32_t(first), h)
	if d.observing() {
		for i := range n {
			d.observe(Command{Op: "vkCmdBindVertexBuffers", Cmd: c, Src: buffers[i], Binding: first + uint32(i)})
		}
	}
}

// IndexType is VkIndexType.
type IndexType uint32

// Index types.
const (
	IndexUint16 IndexType = 0
	IndexUint32 IndexType = 1
)

// CmdBindIndexBuffer binds an index buffer.
func (d *Device) CmdBindIndexBuffer(c CommandBuffer, b Buffer, offset uint64, t IndexType) {
	if !d.gate.enter() {
		return
	}
	defer d.gate.exit()
	C.vka_cmd_bind_index_buffer(d.table, C.uintptr_t(c), C.uint64_t(b), C.uint64_t(offset), C.uint32_t(t))
	d.observe(Command{Op: "vkCmdBindIndexBuffer", Cmd: c, Src: b})
}

// CmdDraw records a non-indexed draw.
func (d *Device) CmdDraw(c CommandBuffer, vertices, instances, firstVertex, firstInstance uint32) {
	if !d.gate.enter() {
		return
	}
	defer d.gate.exit()
	C.vka_cmd_draw(d.table, C.uintptr_t(c), C.uint32_t(vertices), C.uint32_t(instances), C.uint32_t(firstVertex), C.uint32_t(firstInstance))
	d.observe(Command{Op: "vkCmdDraw", Cmd: c})
}

// CmdDrawIndexed records an indexed draw.
func (d *Device) CmdDrawIndexed(c CommandBuffer, indices, instances, firstIndex uint32, vertexOffset int32, firstInstance uint32) {
	if !d.gate.enter() {
		return
	}
	defer d.gate.exit()
	C.vka_cmd_draw_indexed(d.table, C.uintptr_t(c), C.uint32_t(indices), C.uint32_t(instances), C.uint32_t(firstIndex), C.int32_t(vertexOffset), C.uint32_t(firstInstance))
	d.observe(Command{Op: "vkCmdDrawIndexed", Cmd: c})
}
