package vk

/*
#include "shim.h"
*/
import "C"

import "strings"

// FormatFeatures is VkFormatFeatureFlags.
type FormatFeatures uint32

// Format features.
const (
	FormatFeatureSampledImage             FormatFeatures = 0x1
	FormatFeatureStorageImage             FormatFeatures = 0x2
	FormatFeatureColorAttachment          FormatFeatures = 0x80
	FormatFeatureColorAttachmentBlend     FormatFeatures = 0x100
	FormatFeatureDepthStencilAttachment   FormatFeatures = 0x200
	FormatFeatureBlitSrc                  FormatFeatures = 0x400
	FormatFeatureBlitDst                  FormatFeatures = 0x800
	FormatFeatureSampledImageFilterLinear FormatFeatures = 0x1000
	FormatFeatureTransferSrc              FormatFeatures = 0x4000
	FormatFeatureTransferDst              FormatFeatures = 0x8000
)

// FormatFeaturesMipBlit is what generating a mip chain with linear-filtered
// blits between the levels of one optimal-tiling image needs.
const FormatFeaturesMipBlit = FormatFeatureBlitSrc | FormatFeatureBlitDst | FormatFeatureSampledImageFilterLinear

// Has reports whether every feature of want is in f.
func (f FormatFeatures) Has(want FormatFeatures) bool { return f&want == want }

var formatFeatureNames = []string{"SAMPLED_IMAGE", "STORAGE_IMAGE", "STORAGE_IMAGE_ATOMIC", "UNIFORM_TEXEL_BUFFER",
	"STORAGE_TEXEL_BUFFER", "STORAGE_TEXEL_BUFFER_ATOMIC", "VERTEX_BUFFER", "COLOR_ATTACHMENT",
	"COLOR_ATTACHMENT_BLEND", "DEPTH_STENCIL_ATTACHMENT", "BLIT_SRC", "BLIT_DST", "SAMPLED_IMAGE_FILTER_LINEAR",
	"SAMPLED_IMAGE_FILTER_CUBIC", "TRANSFER_SRC", "TRANSFER_DST"}

// Names lists the features set, without the VK_FORMAT_FEATURE_ prefix.
func (f FormatFeatures) Names() []string { return flagNames(uint32(f), formatFeatureNames) }

func (f FormatFeatures) String() string { return strings.Join(f.Names(), "|") }

// FormatProperties is VkFormatProperties: what a format supports with each
// tiling and in buffers.
type FormatProperties struct {
	Linear, Optimal, Buffer FormatFeatures
}

// FormatProperties queries vkGetPhysicalDeviceFormatProperties for the
// device's physical device; all zero after Close.
func (d *Device) FormatProperties(f Format) FormatProperties {
	if !d.gate.enter() {
		return FormatProperties{}
	}
	defer d.gate.exit()
	if !d.inst.gate.enter() {
		return FormatProperties{}
	}
	defer d.inst.gate.exit()
	p := C.vka_format_properties_get(d.inst.table, d.phys.handle, C.uint32_t(f))
	return FormatProperties{Linear: FormatFeatures(p.linear), Optimal: FormatFeatures(p.optimal), Buffer: FormatFeatures(p.buffer)}
}

// Filter is VkFilter.
type Filter uint32

// Filters.
const (
	FilterNearest Filter = 0
	FilterLinear  Filter = 1
)

// ImageBlit is one region of a blit: the rectangle [Src0, Src1) of level
// SrcLevel onto [Dst0, Dst1) of level DstLevel (colour aspect, layer 0).
type ImageBlit struct {
	SrcLevel   uint32
	Src0, Src1 [2]int32
	DstLevel   uint32
	Dst0, Dst1 [2]int32
}

// MipBlit is the ImageBlit of the whole level of a w×h image onto the
// whole next level (each side halved, at least 1).
func MipBlit(level, w, h uint32) ImageBlit {
	return ImageBlit{
		SrcLevel: level, Src1: [2]int32{int32(w), int32(h)},
		DstLevel: level + 1, Dst1: [2]int32{int32(max(w/2, 1)), int32(max(h/2, 1))},
	}
}

// CmdBlitImage records vkCmdBlitImage of one region between images (or
// levels of one image), each in the layout given, with a filter. A linear
// filter needs FormatFeatureSampledImageFilterLinear on the source format.
func (d *Device) CmdBlitImage(c CommandBuffer, src Image, srcLayout ImageLayout, dst Image, dstLayout ImageLayout, r ImageBlit, filter Filter) {
	if !d.gate.enter() {
		return
	}
	defer d.gate.exit()
	cr := C.vka_image_blit{srcMip: C.uint32_t(r.SrcLevel), dstMip: C.uint32_t(r.DstLevel),
		src: [4]C.int32_t{C.int32_t(r.Src0[0]), C.int32_t(r.Src0[1]), C.int32_t(r.Src1[0]), C.int32_t(r.Src1[1])},
		dst: [4]C.int32_t{C.int32_t(r.Dst0[0]), C.int32_t(r.Dst0[1]), C.int32_t(r.Dst1[0]), C.int32_t(r.Dst1[1])}}
	C.vka_cmd_blit_image(d.table, C.uintptr_t(c), C.uint64_t(src), C.uint32_t(srcLayout), C.uint64_t(dst), C.uint32_t(dstLayout), cr, C.uint32_t(filter))
}

// MipLevels is the length of a full mip chain of a w×h image:
// floor(log2(max(w, h))) + 1.
func MipLevels(w, h uint32) uint32 {
	n := uint32(1)
	for s := max(w, h); s > 1; s >>= 1 {
		n++
	}
	return n
}
