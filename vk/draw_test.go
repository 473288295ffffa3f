package vk_test

import (
	_ "embed"
	"encoding/binary"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkassets/vkassets/vk"
	"github.com/vkassets/vkassets/vk/vktest"
)

//go:generate glslangValidator -V -o testdata/draw.vert.spv testdata/draw.vert
//go:generate glslangValidator -V -o testdata/draw.frag.spv testdata/draw.frag

var (
	//go:embed testdata/draw.vert.spv
	drawVert []byte
	//go:embed testdata/draw.frag.spv
	drawFrag []byte
)

// drawKit is a w×h RGBA8 UNORM target with a colour-only render pass, a
// 1×1 texture of texel, and a pipeline layout of one combined image
// sampler (fragment) and a vec4 factor pushed (vertex): what the draw
// tests record with.
type drawKit struct {
	d          *vk.Device
	w, h       uint32
	pass       vk.RenderPass
	fb         vk.Framebuffer
	target     vk.Image
	view       vk.ImageView
	texView    vk.ImageView
	sampler    vk.Sampler
	setLayout  vk.DescriptorSetLayout
	layout     vk.PipelineLayout
	vert, frag vk.ShaderModule
	pool       vk.DescriptorPool
	readback   vk.Buffer
	rbMem      vk.DeviceMemory
}

// vertex is the test's vertex: a position in clip space and a colour.
type vertex struct{ x, y, r, g, b, a float32 }

const vertexStride = 24

var vertexAttributes = []vk.VertexAttribute{
	{Location: 0, Format: vk.FormatR32G32Sfloat, Offset: 0},
	{Location: 1, Format: vk.FormatR32G32B32A32Sfloat, Offset: 8},
}

func newDrawKit(t *testing.T, d *vk.Device, w, h uint32, texel [4]byte) *drawKit {
	k := &drawKit{d: d, w: w, h: h}
	var err error
	// The target, and the texture, in host-visible memory of their own.
	image := func(usage vk.ImageUsage) (vk.Image, vk.ImageView) {
		img, err := d.CreateImage(vk.ImageInfo{Format: vk.FormatR8G8B8A8Unorm, Width: w, Height: h, Usage: usage})
		require.NoError(t, err)
		req := d.ImageRequirements(img)
		mem, err := d.AllocateMemory(vk.MemoryAllocateInfo{Size: req.Size, TypeIndex: hostMemoryType(t, d, req.TypeBits), DedicatedImage: img})
		require.NoError(t, err)
		require.NoError(t, d.BindImageMemory(img, mem, 0))
		view, err := d.CreateImageView(img, vk.FormatR8G8B8A8Unorm, vk.AspectColor, 1)
		require.NoError(t, err)
		t.Cleanup(func() { d.DestroyImageView(view); d.DestroyImage(img); d.FreeMemory(mem) })
		return img, view
	}
	k.target, k.view = image(vk.ImageUsageColorAttachment | vk.ImageUsageTransferSrc)
	tex, texView := image(vk.ImageUsageSampled | vk.ImageUsageTransferDst)
	k.texView = texView
	k.readback, k.rbMem = boundBuffer(t, d, uint64(w*h*4), vk.BufferUsageTransferDst|vk.BufferUsageTransferSrc)
	t.Cleanup(func() { d.DestroyBuffer(k.readback); d.FreeMemory(k.rbMem) })
	m, err := d.MapMemory(k.rbMem, 0, uint64(w*h*4))
	require.NoError(t, err)
	for i := 0; i < len(m); i += 4 {
		copy(m[i:], texel[:])
	}
	d.UnmapMemory(k.rbMem)
	oneShot(t, d, func(c vk.CommandBuffer) {
		d.CmdBarrier(c, vk.Barrier{SrcStage: vk.StageTopOfPipe, DstStage: vk.StageTransfer, DstAccess: vk.AccessTransferWrite,
			Image: tex, OldLayout: vk.LayoutUndefined, NewLayout: vk.LayoutTransferDstOptimal})
		d.CmdCopyBufferToImage(c, k.readback, tex, vk.LayoutTransferDstOptimal, vk.BufferImageCopy{Width: w, Height: h})
		d.CmdBarrier(c, vk.Barrier{SrcStage: vk.StageTransfer, DstStage: vk.StageFragmentShader,
			SrcAccess: vk.AccessTransferWrite, DstAccess: vk.AccessShaderRead,
			Image: tex, OldLayout: vk.LayoutTransferDstOptimal, NewLayout: vk.LayoutShaderReadOnlyOptimal})
	})

	k.pass, err = d.CreateRenderPass(vk.RenderPassInfo{
		Color: []vk.Attachment{{Format: vk.FormatR8G8B8A8Unorm, LoadOp: vk.LoadOpClear, StoreOp: vk.StoreOpStore,
			InitialLayout: vk.LayoutUndefined, FinalLayout: vk.LayoutTransferSrcOptimal}},
		Dependencies: []vk.SubpassDependency{{SrcSubpass: 0, DstSubpass: vk.SubpassExternal,
			SrcStage: vk.StageColorAttachmentOutput, DstStage: vk.StageTransfer,
			SrcAccess: vk.AccessColorAttachmentWrite, DstAccess: vk.AccessTransferRead}},
	})
	require.NoError(t, err)
	k.fb, err = d.CreateFramebuffer(k.pass, []vk.ImageView{k.view}, w, h)
	require.NoError(t, err)
	k.sampler, err = d.CreateSampler(false, false)
	require.NoError(t, err)
	k.setLayout, err = d.CreateDescriptorSetLayout([]vk.DescriptorBinding{{Binding: 0, Type: vk.DescriptorCombinedImageSampler, Stages: vk.ShaderStageFragment}})
	require.NoError(t, err)
	k.layout, err = d.CreatePipelineLayout([]vk.DescriptorSetLayout{k.setLayout}, []vk.PushConstantRange{{Stages: vk.ShaderStageVertex, Size: 16}})
	require.NoError(t, err)
	k.vert, err = d.CreateShaderModule(drawVert)
	require.NoError(t, err)
	k.frag, err = d.CreateShaderModule(drawFrag)
	require.NoError(t, err)
	k.pool, err = d.CreateDescriptorPool(4, []vk.DescriptorPoolSize{{Type: vk.DescriptorCombinedImageSampler, Count: 4}})
	require.NoError(t, err)
	t.Cleanup(func() {
		d.DestroyDescriptorPool(k.pool)
		d.DestroyShaderModule(k.vert)
		d.DestroyShaderModule(k.frag)
		d.DestroyPipelineLayout(k.layout)
		d.DestroyDescriptorSetLayout(k.setLayout)
		d.DestroySampler(k.sampler)
		d.DestroyFramebuffer(k.fb)
		d.DestroyRenderPass(k.pass)
	})
	return k
}

func (k *drawKit) pipeline(t *testing.T, topology vk.PrimitiveTopology) vk.Pipeline {
	p, err := k.d.CreateGraphicsPipeline(vk.GraphicsPipelineInfo{
		Vertex: k.vert, Fragment: k.frag, Layout: k.layout, RenderPass: k.pass,
		VertexStride: vertexStride, VertexAttributes: vertexAttributes, Topology: topology,
		ColorAttachments: 1, DynamicViewport: true,
	})
	require.NoError(t, err)
	t.Cleanup(func() { k.d.DestroyPipeline(p) })
	return p
}

// buffer makes a host-visible buffer holding data.
func (k *drawKit) buffer(t *testing.T, usage vk.BufferUsage, data []byte) vk.Buffer {
	b, mem := boundBuffer(t, k.d, uint64(len(data)), usage)
	t.Cleanup(func() { k.d.DestroyBuffer(b); k.d.FreeMemory(mem) })
	m, err := k.d.MapMemory(mem, 0, uint64(len(data)))
	require.NoError(t, err)
	copy(m, data)
	k.d.UnmapMemory(mem)
	return b
}

func vertexBytes(vs ...vertex) []byte {
	var out []byte
	for _, v := range vs {
		for _, f := range []float32{v.x, v.y, v.r, v.g, v.b, v.a} {
			out = binary.LittleEndian.AppendUint32(out, math.Float32bits(f))
		}
	}
	return out
}

func floatBytes(fs ...float32) []byte {
	var out []byte
	for _, f := range fs {
		out = binary.LittleEndian.AppendUint32(out, math.Float32bits(f))
	}
	return out
}

// pixels reads the target back after a frame.
func (k *drawKit) pixels(t *testing.T) []byte {
	m, err := k.d.MapMemory(k.rbMem, 0, uint64(k.w*k.h*4))
	require.NoError(t, err)
	defer k.d.UnmapMemory(k.rbMem)
	return append([]byte(nil), m...)
}

// TestDrawThroughGeneralCalls draws with nothing but vk's general calls:
// an indexed quad over the whole target (vertex colour × pushed factor ×
// the sampled texel, so the vertex input, the push constants and the
// descriptor set all show in the result) and a one-pixel point with a
// second pipeline (point list, non-indexed draw).
func TestDrawThroughGeneralCalls(t *testing.T) {
	d := vktest.Open(t)
	const w, h = 8, 8
	k := newDrawKit(t, d, w, h, [4]byte{255, 255, 128, 255})
	tris := k.pipeline(t, vk.TopologyTriangleList)
	points := k.pipeline(t, vk.TopologyPointList)
	c := vertex{r: 1, g: 1, b: 1, a: 1}
	quad := k.buffer(t, vk.BufferUsageVertex, vertexBytes(
		vertex{-1, -1, c.r, c.g, c.b, c.a}, vertex{1, -1, c.r, c.g, c.b, c.a}, vertex{1, 1, c.r, c.g, c.b, c.a}, vertex{-1, 1, c.r, c.g, c.b, c.a}))
	idx := k.buffer(t, vk.BufferUsageIndex, binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint32(
		binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint32(nil, 0), 1), 2), 0), 2), 3))
	// The centre of pixel (1, 1): blue.
	px := float32(2*1.5/w - 1)
	point := k.buffer(t, vk.BufferUsageVertex, vertexBytes(vertex{px, px, 0, 0, 1, 1}))
	set, err := d.AllocateDescriptorSet(k.pool, k.setLayout)
	require.NoError(t, err)
	require.NoError(t, d.UpdateDescriptorSets([]vk.ImageSamplerWrite{{Set: set, Sampler: k.sampler, View: k.texView, Layout: vk.LayoutShaderReadOnlyOptimal}}))

	oneShot(t, d, func(cmd vk.CommandBuffer) {
		d.CmdBeginRenderPass(cmd, &vk.RenderPassBegin{RenderPass: k.pass, Framebuffer: k.fb, Width: w, Height: h,
			Clear: []vk.ClearValue{vk.ClearColor([4]float32{0, 0, 0, 1})}})
		d.CmdSetViewport(cmd, 0, 0, w, h, 0, 1)
		d.CmdSetScissor(cmd, 0, 0, w, h)
		d.CmdBindPipeline(cmd, tris)
		d.CmdBindDescriptorSets(cmd, k.layout, 0, []vk.DescriptorSet{set})
		d.CmdPushConstants(cmd, k.layout, vk.ShaderStageVertex, 0, floatBytes(1, 0.5, 1, 1))
		d.CmdBindVertexBuffers(cmd, 0, []vk.Buffer{quad}, nil)
		d.CmdBindIndexBuffer(cmd, idx, 0, vk.IndexUint32)
		d.CmdDrawIndexed(cmd, 6, 1, 0, 0, 0)
		d.CmdBindPipeline(cmd, points)
		d.CmdPushConstants(cmd, k.layout, vk.ShaderStageVertex, 0, floatBytes(1, 1, 1, 1))
		d.CmdBindVertexBuffers(cmd, 0, []vk.Buffer{point}, []uint64{0})
		d.CmdDraw(cmd, 1, 1, 0, 0)
		d.CmdEndRenderPass(cmd)
		d.CmdCopyImageToBuffer(cmd, k.target, vk.LayoutTransferSrcOptimal, k.readback, vk.BufferImageCopy{Width: w, Height: h})
		d.CmdBarrier(cmd, vk.Barrier{SrcStage: vk.StageTransfer, DstStage: vk.StageHost, SrcAccess: vk.AccessTransferWrite, DstAccess: vk.AccessHostRead})
	})
	pix := k.pixels(t)
	at := func(x, y int) []byte { return pix[(y*w+x)*4 : (y*w+x)*4+4] }
	// texel (1, 1, 0.5) × vertex (1, 1, 1) × factor (1, 0.5, 1)
	for _, p := range [][2]int{{0, 0}, {7, 7}, {2, 1}, {1, 2}, {4, 5}} {
		got := at(p[0], p[1])
		require.InDelta(t, 255, int(got[0]), 1, "pixel %v: %v", p, got)
		require.InDelta(t, 128, int(got[1]), 1, "pixel %v: %v", p, got)
		require.InDelta(t, 128, int(got[2]), 1, "pixel %v: %v", p, got)
	}
	// The point: blue × texel (0.5 blue) × factor 1, and nothing else.
	got := at(1, 1)
	require.Equal(t, []byte{0, 0, 128, 255}, []byte{got[0], got[1], got[2], got[3]}, "the point's pixel")
}

// TestGraphicsBadInput: descriptions a driver could crash on are refused
// with an error naming what is wrong, before any C call.
func TestGraphicsBadInput(t *testing.T) {
	d := vktest.Open(t)
	_, err := d.CreateShaderModule([]byte{3, 2, 0x23})
	require.ErrorContains(t, err, "SPIR-V of 3 bytes")
	_, err = d.CreateShaderModule([]byte{0, 0, 0, 0})
	require.ErrorContains(t, err, "not little-endian SPIR-V")
	_, err = d.CreateRenderPass(vk.RenderPassInfo{})
	require.ErrorContains(t, err, "0 attachments")
	_, err = d.CreateRenderPass(vk.RenderPassInfo{Color: make([]vk.Attachment, vk.MaxAttachments+1)})
	require.ErrorContains(t, err, "9 attachments")
	_, err = d.CreateFramebuffer(0, nil, 4, 4)
	require.ErrorContains(t, err, "want a render pass")
	_, err = d.CreatePipelineLayout(nil, []vk.PushConstantRange{{Stages: vk.ShaderStageVertex, Size: 132}})
	require.ErrorContains(t, err, "push-constant range 0")
	_, err = d.CreatePipelineLayout([]vk.DescriptorSetLayout{0}, nil)
	require.ErrorContains(t, err, "set 0 has no layout")
	_, err = d.CreateGraphicsPipeline(vk.GraphicsPipelineInfo{})
	require.ErrorContains(t, err, "shader module")
	_, err = d.CreateGraphicsPipeline(vk.GraphicsPipelineInfo{Vertex: 1, Fragment: 1, Layout: 1, RenderPass: 1, VertexStride: 8,
		VertexAttributes: make([]vk.VertexAttribute, vk.MaxVertexAttributes+1)})
	require.ErrorContains(t, err, "17 vertex attributes")
	_, err = d.CreateGraphicsPipeline(vk.GraphicsPipelineInfo{Vertex: 1, Fragment: 1, Layout: 1, RenderPass: 1, Topology: 10, DynamicViewport: true})
	require.ErrorContains(t, err, "topology 10")
	_, err = d.AllocateDescriptorSet(0, 0)
	require.ErrorContains(t, err, "a pool and a layout are required")
	require.ErrorContains(t, d.UpdateDescriptorSets(make([]vk.ImageSamplerWrite, vk.MaxDescriptorWrites+1)), "9 writes")
	_, err = d.CreateDescriptorPool(0, nil)
	require.ErrorContains(t, err, "want at least one set")
}
