package assets

import (
	"encoding/binary"
	"math"
	"unsafe"

	"github.com/vkassets/vkassets/vk"
)

// Vertex is the one vertex layout of vkassets' meshes: what the glTF loader
// writes and what a renderer's vertex input reads, defined here only.
// Attributes a primitive lacks hold glTF's defaults: a zero normal, tangent
// and texture coordinates, and white (1, 1, 1, 1) for the colour.
type Vertex struct {
	Position [3]float32 // location 0
	Normal   [3]float32 // location 1
	Tangent  [4]float32 // location 2: xyz and the bitangent sign in w
	UV0      [2]float32 // location 3: TEXCOORD_0
	UV1      [2]float32 // location 4: TEXCOORD_1
	Color    [4]float32 // location 5: COLOR_0, linear RGBA
}

// VertexStride is the size of one Vertex in bytes.
const VertexStride = int(unsafe.Sizeof(Vertex{}))

// VertexAttributes describes Vertex for a pipeline's vertex input
// (binding 0, per-vertex, stride VertexStride).
var VertexAttributes = []vk.VertexAttribute{
	{Location: 0, Format: vk.FormatR32G32B32Sfloat, Offset: uint32(unsafe.Offsetof(Vertex{}.Position))},
	{Location: 1, Format: vk.FormatR32G32B32Sfloat, Offset: uint32(unsafe.Offsetof(Vertex{}.Normal))},
	{Location: 2, Format: vk.FormatR32G32B32A32Sfloat, Offset: uint32(unsafe.Offsetof(Vertex{}.Tangent))},
	{Location: 3, Format: vk.FormatR32G32Sfloat, Offset: uint32(unsafe.Offsetof(Vertex{}.UV0))},
	{Location: 4, Format: vk.FormatR32G32Sfloat, Offset: uint32(unsafe.Offsetof(Vertex{}.UV1))},
	{Location: 5, Format: vk.FormatR32G32B32A32Sfloat, Offset: uint32(unsafe.Offsetof(Vertex{}.Color))},
}

// SkinVertex is the second vertex stream of a skinned primitive (JOINTS_0
// and WEIGHTS_0), carried for engines that skin; vkassets' own renderer
// does not read it.
type SkinVertex struct {
	Joints  [4]uint16
	Weights [4]float32
}

// SkinVertexStride is the size of one SkinVertex in bytes.
const SkinVertexStride = int(unsafe.Sizeof(SkinVertex{}))

// VertexBytes is vs as the little-endian bytes a vertex buffer holds.
func VertexBytes(vs []Vertex) []byte {
	out := make([]byte, 0, len(vs)*VertexStride)
	for i := range vs {
		v := &vs[i]
		for _, f := range [...][]float32{v.Position[:], v.Normal[:], v.Tangent[:], v.UV0[:], v.UV1[:], v.Color[:]} {
			for _, x := range f {
				out = binary.LittleEndian.AppendUint32(out, math.Float32bits(x))
			}
		}
	}
	return out
}
