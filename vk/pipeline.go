package vk

/*
#include "shim.h"
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// Handles of graphics objects.
type (
	RenderPass          uint64
	Framebuffer         uint64
	ShaderModule        uint64
	DescriptorSetLayout uint64
	PipelineLayout      uint64
	Pipeline            uint64
)

// LoadOp is VkAttachmentLoadOp.
type LoadOp uint32

// Load operations.
const (
	LoadOpLoad     LoadOp = 0
	LoadOpClear    LoadOp = 1
	LoadOpDontCare LoadOp = 2
)

// StoreOp is VkAttachmentStoreOp.
type StoreOp uint32

// Store operations.
const (
	StoreOpStore    StoreOp = 0
	StoreOpDontCare StoreOp = 1
)

// Attachment describes one single-sampled attachment of a render pass
// (stencil neither loaded nor stored).
type Attachment struct {
	Format        Format
	LoadOp        LoadOp
	StoreOp       StoreOp
	InitialLayout ImageLayout
	FinalLayout   ImageLayout
}

// SubpassExternal is VK_SUBPASS_EXTERNAL: what comes before or after the pass.
const SubpassExternal = ^uint32(0)

// SubpassDependency is one VkSubpassDependency.
type SubpassDependency struct {
	SrcSubpass, DstSubpass uint32
	SrcStage, DstStage     PipelineStage
	SrcAccess, DstAccess   Access
}

// Limits of the descriptions: what one call takes at most.
const (
	MaxAttachments       = C.VKA_MAX_ATTACHMENTS       // colour and depth attachments of a pass or framebuffer, clear values
	MaxDependencies      = C.VKA_MAX_DEPENDENCIES      // subpass dependencies of a pass
	MaxBindings          = C.VKA_MAX_BINDINGS          // descriptor bindings, pool sizes, sets and push ranges of a layout or pool
	MaxVertexAttributes  = C.VKA_MAX_VERTEX_ATTRIBUTES // vertex attributes of a pipeline
	MaxDescriptorWrites  = C.VKA_MAX_WRITES            // writes of one UpdateDescriptorSets
	MaxBound             = C.VKA_MAX_BOUND             // descriptor sets or vertex buffers of one bind
	MaxPushConstantBytes = 128                         // the push-constant size every Vulkan device supports
)

// RenderPassInfo describes a render pass of one graphics subpass that
// writes Color (attachments 0..len-1, in the colour-attachment-optimal
// layout) and, when Depth is set, tests and writes it (attachment
// len(Color), depth-stencil-attachment-optimal).
type RenderPassInfo struct {
	Color        []Attachment
	Depth        *Attachment
	Dependencies []SubpassDependency
}

// CreateRenderPass creates a render pass.
func (d *Device) CreateRenderPass(info RenderPassInfo) (RenderPass, error) {
	if !d.gate.enter() {
		return 0, ErrClosed
	}
	defer d.gate.exit()
	n := len(info.Color)
	if info.Depth != nil {
		n++
	}
	if n == 0 || n > MaxAttachments {
		return 0, fmt.Errorf("vk: render pass: %d attachments, want 1 to %d", n, MaxAttachments)
	}
	if len(info.Dependencies) > MaxDependencies {
		return 0, fmt.Errorf("vk: render pass: %d dependencies, want at most %d", len(info.Dependencies), MaxDependencies)
	}
	ci := new(C.vka_render_pass_info) // a C struct of values, on the Go heap
	ci.colorCount = C.uint32_t(len(info.Color))
	ci.dependencyCount = C.uint32_t(len(info.Dependencies))
	set := func(i int, a Attachment) {
		ci.attachments[i] = C.vka_attachment{format: C.uint32_t(a.Format), loadOp: C.uint32_t(a.LoadOp), storeOp: C.uint32_t(a.StoreOp),
			initialLayout: C.uint32_t(a.InitialLayout), finalLayout: C.uint32_t(a.FinalLayout)}
	}
	for i, a := range info.Color {
		set(i, a)
	}
	if info.Depth != nil {
		ci.hasDepth = 1
		set(len(info.Color), *info.Depth)
	}
	for i, s := range info.Dependencies {
		ci.dependencies[i] = C.vka_dependency{srcSubpass: C.uint32_t(s.SrcSubpass), dstSubpass: C.uint32_t(s.DstSubpass),
			srcStage: C.uint32_t(s.SrcStage), dstStage: C.uint32_t(s.DstStage), srcAccess: C.uint32_t(s.SrcAccess), dstAccess: C.uint32_t(s.DstAccess)}
	}
	r := C.vka_create_render_pass(d.table, ci)
	return RenderPass(r.value), check("vkCreateRenderPass", int32(r.result))
}

// DestroyRenderPass destroys a render pass; 0 is ignored.
func (d *Device) DestroyRenderPass(rp RenderPass) {
	if !d.gate.enter() {
		return
	}
	defer d.gate.exit()
	if rp != 0 {
		C.vka_destroy_render_pass(d.table, C.uint64_t(rp))
	}
}

// CreateFramebuffer makes a framebuffer of rp of width×height from views,
// one per attachment of the pass, in its order.
func (d *Device) CreateFramebuffer(rp RenderPass, views []ImageView, width, height uint32) (Framebuffer, error) {
	if !d.gate.enter() {
		return 0, ErrClosed
	}
	defer d.gate.exit()
	if rp == 0 || len(views) == 0 || len(views) > MaxAttachments {
		return 0, fmt.Errorf("vk: framebuffer: render pass %#x with %d views, want a render pass and 1 to %d views", uint64(rp), len(views), MaxAttachments)
	}
	var v [MaxAttachments]C.uint64_t
	for i, view := range views {
		v[i] = C.uint64_t(view)
	}
	r := C.vka_create_framebuffer(d.table, C.uint64_t(rp), &v[0], C.uint32_t(len(views)), C.uint32_t(width), C.uint32_t(height))
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

// CreateShaderModule creates a shader module from SPIR-V, a non-empty
// multiple of 4 bytes that starts with the SPIR-V magic number.
func (d *Device) CreateShaderModule(spirv []byte) (ShaderModule, error) {
	if !d.gate.enter() {
		return 0, ErrClosed
	}
	defer d.gate.exit()
	if len(spirv) == 0 || len(spirv)%4 != 0 {
		return 0, fmt.Errorf("vk: shader module: SPIR-V of %d bytes, want a non-empty multiple of 4", len(spirv))
	}
	if magic := uint32(spirv[0]) | uint32(spirv[1])<<8 | uint32(spirv[2])<<16 | uint32(spirv[3])<<24; magic != 0x07230203 {
		return 0, fmt.Errorf("vk: shader module: not little-endian SPIR-V (magic %#08x)", magic)
	}
	// Vulkan wants the words 4-byte aligned; a Go []byte need not be.
	words := make([]uint32, len(spirv)/4)
	copy(unsafe.Slice((*byte)(unsafe.Pointer(&words[0])), len(spirv)), spirv)
	r := C.vka_create_shader_module(d.table, (*C.uint32_t)(unsafe.Pointer(&words[0])), C.size_t(len(spirv)))
	return ShaderModule(r.value), check("vkCreateShaderModule", int32(r.result))
}

// DestroyShaderModule destroys a shader module; 0 is ignored. Pipelines
// made from it stay valid.
func (d *Device) DestroyShaderModule(m ShaderModule) {
	if !d.gate.enter() {
		return
	}
	defer d.gate.exit()
	if m != 0 {
		C.vka_destroy_shader_module(d.table, C.uint64_t(m))
	}
}

// ShaderStage is VkShaderStageFlags.
type ShaderStage uint32

// Shader stages.
const (
	ShaderStageVertex   ShaderStage = 0x1
	ShaderStageFragment ShaderStage = 0x10
)

// DescriptorType is VkDescriptorType.
type DescriptorType uint32

// Descriptor types.
const (
	DescriptorCombinedImageSampler DescriptorType = 1
	DescriptorUniformBuffer        DescriptorType = 6
	DescriptorStorageBuffer        DescriptorType = 7
)

// DescriptorBinding is one binding of a descriptor set layout.
type DescriptorBinding struct {
	Binding uint32
	Type    DescriptorType
	Count   uint32 // 0 means 1
	Stages  ShaderStage
}

// CreateDescriptorSetLayout creates a descriptor set layout.
func (d *Device) CreateDescriptorSetLayout(bindings []DescriptorBinding) (DescriptorSetLayout, error) {
	if !d.gate.enter() {
		return 0, ErrClosed
	}
	defer d.gate.exit()
	if len(bindings) > MaxBindings {
		return 0, fmt.Errorf("vk: descriptor set layout: %d bindings, want at most %d", len(bindings), MaxBindings)
	}
	var b [MaxBindings]C.vka_binding
	for i, x := range bindings {
		b[i] = C.vka_binding{binding: C.uint32_t(x.Binding), _type: C.uint32_t(x.Type), count: C.uint32_t(one(x.Count)), stages: C.uint32_t(x.Stages)}
	}
	r := C.vka_create_descriptor_set_layout(d.table, &b[0], C.uint32_t(len(bindings)))
	return DescriptorSetLayout(r.value), check("vkCreateDescriptorSetLayout", int32(r.result))
}

// DestroyDescriptorSetLayout destroys a descriptor set layout; 0 is ignored.
func (d *Device) DestroyDescriptorSetLayout(l DescriptorSetLayout) {
	if !d.gate.enter() {
		return
	}
	defer d.gate.exit()
	if l != 0 {
		C.vka_destroy_descriptor_set_layout(d.table, C.uint64_t(l))
	}
}

// PushConstantRange is one range of push constants and the stages that
// read it. Offset and Size are multiples of 4.
type PushConstantRange struct {
	Stages       ShaderStage
	Offset, Size uint32
}

// CreatePipelineLayout creates a pipeline layout of descriptor set layouts
// (set i is sets[i]) and push-constant ranges within MaxPushConstantBytes.
func (d *Device) CreatePipelineLayout(sets []DescriptorSetLayout, push []PushConstantRange) (PipelineLayout, error) {
	if !d.gate.enter() {
		return 0, ErrClosed
	}
	defer d.gate.exit()
	if len(sets) > MaxBindings || len(push) > MaxBindings {
		return 0, fmt.Errorf("vk: pipeline layout: %d sets and %d push-constant ranges, want at most %d each", len(sets), len(push), MaxBindings)
	}
	var s [MaxBindings]C.uint64_t
	var p [MaxBindings]C.vka_push_range
	for i, l := range sets {
		if l == 0 {
			return 0, fmt.Errorf("vk: pipeline layout: set %d has no layout", i)
		}
		s[i] = C.uint64_t(l)
	}
	for i, r := range push {
		if r.Size == 0 || r.Offset%4 != 0 || r.Size%4 != 0 || uint64(r.Offset)+uint64(r.Size) > MaxPushConstantBytes {
			return 0, fmt.Errorf("vk: pipeline layout: push-constant range %d (offset %d, size %d) must be non-empty, 4-byte aligned and within %d bytes",
				i, r.Offset, r.Size, MaxPushConstantBytes)
		}
		p[i] = C.vka_push_range{stages: C.uint32_t(r.Stages), offset: C.uint32_t(r.Offset), size: C.uint32_t(r.Size)}
	}
	r := C.vka_create_pipeline_layout(d.table, &s[0], C.uint32_t(len(sets)), &p[0], C.uint32_t(len(push)))
	return PipelineLayout(r.value), check("vkCreatePipelineLayout", int32(r.result))
}

// DestroyPipelineLayout destroys a pipeline layout; 0 is ignored.
func (d *Device) DestroyPipelineLayout(l PipelineLayout) {
	if !d.gate.enter() {
		return
	}
	defer d.gate.exit()
	if l != 0 {
		C.vka_destroy_pipeline_layout(d.table, C.uint64_t(l))
	}
}

// CullMode is VkCullModeFlags.
type CullMode uint32

// Cull modes.
const (
	CullNone  CullMode = 0
	CullFront CullMode = 1
	CullBack  CullMode = 2
)

// FrontFace is VkFrontFace.
type FrontFace uint32

// Front faces.
const (
	FrontFaceCounterClockwise FrontFace = 0
	FrontFaceClockwise        FrontFace = 1
)

// CompareOp is VkCompareOp.
type CompareOp uint32

// Compare operations.
const (
	CompareNever        CompareOp = 0
	CompareLess         CompareOp = 1
	CompareEqual        CompareOp = 2
	CompareLessOrEqual  CompareOp = 3
	CompareGreater      CompareOp = 4
	CompareAlways       CompareOp = 7
	CompareGreaterEqual CompareOp = 6
)

// GraphicsPipelineInfo describes a graphics pipeline of a vertex and a
// fragment shader (entry points "main"), one per-vertex buffer at binding
// 0, fill rasterisation, one sample.
type GraphicsPipelineInfo struct {
	Vertex, Fragment ShaderModule
	Layout           PipelineLayout
	RenderPass       RenderPass
	Subpass          uint32

	VertexStride     uint32 // bytes between vertices of binding 0; 0: no vertex input
	VertexAttributes []VertexAttribute
	Topology         PrimitiveTopology

	CullMode  CullMode
	FrontFace FrontFace

	DepthTest    bool
	DepthWrite   bool
	DepthCompare CompareOp

	// ColorAttachments is how many colour attachments the subpass writes;
	// with Blend each blends straight alpha (src·α + dst·(1-α)).
	ColorAttachments uint32
	Blend            bool

	// DynamicViewport leaves the viewport and scissor to CmdSetViewport and
	// CmdSetScissor; else they are fixed to ViewportWidth×ViewportHeight.
	DynamicViewport               bool
	ViewportWidth, ViewportHeight uint32
}

// CreateGraphicsPipeline creates a graphics pipeline.
func (d *Device) CreateGraphicsPipeline(info GraphicsPipelineInfo) (Pipeline, error) {
	if !d.gate.enter() {
		return 0, ErrClosed
	}
	defer d.gate.exit()
	switch {
	case info.Vertex == 0 || info.Fragment == 0:
		return 0, fmt.Errorf("vk: graphics pipeline: a vertex and a fragment shader module are required")
	case info.Layout == 0 || info.RenderPass == 0:
		return 0, fmt.Errorf("vk: graphics pipeline: a layout and a render pass are required")
	case len(info.VertexAttributes) > MaxVertexAttributes:
		return 0, fmt.Errorf("vk: graphics pipeline: %d vertex attributes, want at most %d", len(info.VertexAttributes), MaxVertexAttributes)
	case len(info.VertexAttributes) > 0 && info.VertexStride == 0:
		return 0, fmt.Errorf("vk: graphics pipeline: vertex attributes without a vertex stride")
	case info.Topology > TopologyTriangleFan:
		return 0, fmt.Errorf("vk: graphics pipeline: topology %d is not one of the list, strip and fan topologies", info.Topology)
	case info.ColorAttachments > MaxAttachments:
		return 0, fmt.Errorf("vk: graphics pipeline: %d colour attachments, want at most %d", info.ColorAttachments, MaxAttachments)
	case !info.DynamicViewport && (info.ViewportWidth == 0 || info.ViewportHeight == 0):
		return 0, fmt.Errorf("vk: graphics pipeline: a fixed viewport needs its size")
	}
	ci := new(C.vka_graphics_pipeline_info)
	*ci = C.vka_graphics_pipeline_info{
		vertex: C.uint64_t(info.Vertex), fragment: C.uint64_t(info.Fragment),
		layout: C.uint64_t(info.Layout), renderPass: C.uint64_t(info.RenderPass), subpass: C.uint32_t(info.Subpass),
		stride: C.uint32_t(info.VertexStride), attributeCount: C.uint32_t(len(info.VertexAttributes)),
		topology: C.uint32_t(info.Topology), cullMode: C.uint32_t(info.CullMode), frontFace: C.uint32_t(info.FrontFace),
		depthTest: flag(info.DepthTest), depthWrite: flag(info.DepthWrite), depthCompare: C.uint32_t(info.DepthCompare),
		blend: flag(info.Blend), colorAttachments: C.uint32_t(info.ColorAttachments),
		dynamicViewport: flag(info.DynamicViewport),
		viewportWidth:   C.uint32_t(info.ViewportWidth), viewportHeight: C.uint32_t(info.ViewportHeight),
	}
	for i, a := range info.VertexAttributes {
		ci.attributes[i] = C.vka_vertex_attribute{location: C.uint32_t(a.Location), format: C.uint32_t(a.Format), offset: C.uint32_t(a.Offset)}
	}
	r := C.vka_create_graphics_pipeline(d.table, ci)
	return Pipeline(r.value), check("vkCreateGraphicsPipelines", int32(r.result))
}

// DestroyPipeline destroys a pipeline; 0 is ignored.
func (d *Device) DestroyPipeline(p Pipeline) {
	if !d.gate.enter() {
		return
	}
	defer d.gate.exit()
	if p != 0 {
		C.vka_destroy_pipeline(d.table, C.uint64_t(p))
	}
}

func flag(b bool) C.uint32_t {
	if b {
		return 1
	}
	return 0
}
