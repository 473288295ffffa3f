package render

import (
	"fmt"
	"unsafe"

	"github.com/vkassets/vkassets/assets"
	"github.com/vkassets/vkassets/vk"
)

// pass is the renderer's render pass, its layouts and its pipelines, one
// per primitive topology, made when a draw first needs it. Its methods are
// called under the Renderer's lock.
type pass struct {
	dev        *vk.Device
	renderPass vk.RenderPass
	setLayout  vk.DescriptorSetLayout
	layout     vk.PipelineLayout
	vert, frag vk.ShaderModule
	pipelines  [vk.TopologyTriangleFan + 1]vk.Pipeline
}

// push is the shaders' push-constant block (std430: a mat4 and two vec4
// at 16-byte offsets, then scalars).
type push struct {
	MVP           [16]float32 // column-major
	UVScaleOffset [4]float32  // uv*xy + zw
	Color         [4]float32  // linear factor: the material's times the tint
	UVSet         uint32      // 0: TEXCOORD_0, 1: TEXCOORD_1
	AlphaMode     uint32      // alphaOpaque, alphaMask or alphaBlend
	AlphaCutoff   float32     // for alphaMask
}

const pushSize = uint32(unsafe.Sizeof(push{}))

const pushStages = vk.ShaderStageVertex | vk.ShaderStageFragment

// bytes is p as the bytes CmdPushConstants records.
func (p *push) bytes() []byte { return unsafe.Slice((*byte)(unsafe.Pointer(p)), pushSize) }

// newPass makes the render pass (a colour target left in transfer-source
// layout for the readback and the present blit, and a depth buffer), the
// descriptor set layout (the base-colour texture at binding 0), the
// pipeline layout and the shader modules.
func newPass(d *vk.Device, color, depth vk.Format) (*pass, error) {
	p := &pass{dev: d}
	var err error
	p.renderPass, err = d.CreateRenderPass(vk.RenderPassInfo{
		Color: []vk.Attachment{{Format: color, LoadOp: vk.LoadOpClear, StoreOp: vk.StoreOpStore,
			InitialLayout: vk.LayoutUndefined, FinalLayout: vk.LayoutTransferSrcOptimal}},
		Depth: &vk.Attachment{Format: depth, LoadOp: vk.LoadOpClear, StoreOp: vk.StoreOpDontCare,
			InitialLayout: vk.LayoutUndefined, FinalLayout: vk.LayoutDepthStencilAttachment},
		Dependencies: []vk.SubpassDependency{
			// Earlier frames' copies out of the colour target, and their
			// depth writes, finish before this pass writes again.
			{SrcSubpass: vk.SubpassExternal, DstSubpass: 0,
				SrcStage:  vk.StageTransfer | vk.StageColorAttachmentOutput | vk.StageLateFragmentTests,
				DstStage:  vk.StageColorAttachmentOutput | vk.StageEarlyFragmentTests,
				SrcAccess: vk.AccessTransferRead | vk.AccessColorAttachmentWrite | vk.AccessDepthStencilWrite,
				DstAccess: vk.AccessColorAttachmentWrite | vk.AccessDepthStencilWrite | vk.AccessDepthStencilRead},
			// The pass's writes are visible to the copy or blit after it.
			{SrcSubpass: 0, DstSubpass: vk.SubpassExternal,
				SrcStage: vk.StageColorAttachmentOutput, DstStage: vk.StageTransfer,
				SrcAccess: vk.AccessColorAttachmentWrite, DstAccess: vk.AccessTransferRead},
		},
	})
	if err != nil {
		return p, fmt.Errorf("render: render pass: %w", err)
	}
	if p.setLayout, err = d.CreateDescriptorSetLayout([]vk.DescriptorBinding{
		{Binding: 0, Type: vk.DescriptorCombinedImageSampler, Stages: vk.ShaderStageFragment},
	}); err != nil {
		return p, fmt.Errorf("render: descriptor set layout: %w", err)
	}
	if p.layout, err = d.CreatePipelineLayout([]vk.DescriptorSetLayout{p.setLayout},
		[]vk.PushConstantRange{{Stages: pushStages, Size: pushSize}}); err != nil {
		return p, fmt.Errorf("render: pipeline layout: %w", err)
	}
	if p.vert, err = d.CreateShaderModule(vertSPV); err != nil {
		return p, fmt.Errorf("render: vertex shader: %w", err)
	}
	if p.frag, err = d.CreateShaderModule(fragSPV); err != nil {
		return p, fmt.Errorf("render: fragment shader: %w", err)
	}
	return p, nil
}

// pipeline returns the pipeline that draws t, made at its first use.
// Every topology of vk's list is drawn as authored; any other value is
// refused.
func (p *pass) pipeline(t vk.PrimitiveTopology) (vk.Pipeline, error) {
	if int(t) >= len(p.pipelines) {
		return 0, fmt.Errorf("primitive topology %d is not supported", t)
	}
	if pl := p.pipelines[t]; pl != 0 {
		return pl, nil
	}
	pl, err := p.dev.CreateGraphicsPipeline(vk.GraphicsPipelineInfo{
		Vertex: p.vert, Fragment: p.frag, Layout: p.layout, RenderPass: p.renderPass,
		// The one vertex layout, as assets defines it.
		VertexStride: uint32(assets.VertexStride), VertexAttributes: assets.VertexAttributes,
		Topology: t, CullMode: vk.CullNone,
		DepthTest: true, DepthWrite: true, DepthCompare: vk.CompareLessOrEqual,
		ColorAttachments: 1, Blend: true, DynamicViewport: true,
	})
	if err != nil {
		return 0, fmt.Errorf("pipeline for topology %d: %w", t, err)
	}
	p.pipelines[t] = pl
	return pl, nil
}

// destroy destroys everything the pass made; the GPU must be done with it.
func (p *pass) destroy() {
	d := p.dev
	for _, pl := range p.pipelines {
		d.DestroyPipeline(pl)
	}
	d.DestroyShaderModule(p.vert)
	d.DestroyShaderModule(p.frag)
	d.DestroyPipelineLayout(p.layout)
	d.DestroyDescriptorSetLayout(p.setLayout)
	d.DestroyRenderPass(p.renderPass)
}
