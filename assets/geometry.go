package assets

import (
	"fmt"

	"github.com/vkassets/vkassets/alloc"
	"github.com/vkassets/vkassets/framesync"
	"github.com/vkassets/vkassets/vk"
)

// Buffer is a device-local VkBuffer (vertex, index, uniform or storage)
// with its memory.
type Buffer struct {
	Base
	Size  uint64
	Usage vk.BufferUsage
	gpu   gpuCell
}

// Handles are the buffer and its memory now, as one consistent set. Read
// them after claiming the buffer (Use) for the submission that reads them:
// they stay valid through it, even if a defragmentation moves the buffer
// meanwhile (see TextureHandles).
func (b *Buffer) Handles() BufferHandles {
	s := b.gpu.state()
	return BufferHandles{Buffer: s.buffer, Memory: s.memory(), Generation: s.gen}
}

// Generation counts the buffer's moves (BufferHandles.Generation).
func (b *Buffer) Generation() uint64 { return b.gpu.state().gen }

// GPUObjects is the buffer with its memory.
func (b *Buffer) GPUObjects() []framesync.Object { return b.gpu.state().objects(b.name) }

func (b *Buffer) cell() *gpuCell { return &b.gpu }

// createUsage is what the buffer is created with: its usage, and transfers
// both ways (the upload, and a defragmentation's copy).
func (b *Buffer) createUsage() vk.BufferUsage {
	return b.Usage | vk.BufferUsageTransferDst | vk.BufferUsageTransferSrc
}

// newBuffer uploads data to a new device-local buffer.
func (m *Manager) newBuffer(name string, usage vk.BufferUsage, data []byte) (*Buffer, error) {
	if len(data) == 0 {
		return nil, fmt.Errorf("buffer %q: no data", name)
	}
	b := &Buffer{Size: uint64(len(data)), Usage: usage}
	buf, mem, err := m.alloc.CreateBuffer(b.Size, b.createUsage(), alloc.AllocationOptions{Usage: alloc.UsageGPUOnly, Name: name, UserData: b,
		QueueFamilies: m.upload.families()})
	if err != nil {
		return nil, fmt.Errorf("buffer %q: %w", name, err)
	}
	serial, err := m.upload.buffer(buf, data, name)
	if err != nil {
		_ = m.alloc.DestroyBuffer(buf, mem)
		return nil, fmt.Errorf("buffer %q: %w", name, err)
	}
	b.gpu.cur.Store(&gpuState{buffer: buf, mem: mem, size: mem.Size, ready: serial})
	if err := m.newBase(&b.Base, "buffer", name, b); err != nil {
		_, _ = m.deferObjects(serial, b, b.GPUObjects(), func(skip int) error { return b.gpu.state().destroyNow(m, skip) })
		return nil, err
	}
	b.claim(uint64(serial)) // not before its upload has run
	return b, nil
}

// NewBuffer uploads data to a buffer made at run time: an ID, no key, and
// one reference, the caller's (DecRef it when done).
func (m *Manager) NewBuffer(name string, usage vk.BufferUsage, data []byte) (*Buffer, error) {
	b, err := m.newBuffer(name, usage, data)
	if err != nil {
		return nil, err
	}
	if err := m.adopt(b); err != nil {
		return nil, err
	}
	return b, nil
}

// AlphaMode is how a material's alpha is read (glTF's alphaMode).
type AlphaMode uint8

// Alpha modes.
const (
	AlphaOpaque AlphaMode = iota // alpha ignored
	AlphaMask                    // alpha < AlphaCutoff is discarded, else opaque
	AlphaBlend                   // blended
)

func (a AlphaMode) String() string {
	return [...]string{"OPAQUE", "MASK", "BLEND"}[min(a, 2)]
}

// TextureRef is a material's use of a texture: the texture, the sampler
// it is read with, and which texture coordinates (0: Vertex.UV0, 1: UV1).
// The zero value is no texture.
type TextureRef struct {
	Texture  *Texture2D
	Sampler  *Sampler
	TexCoord int
}

// Material is glTF's metallic-roughness material: factors, up to five
// textures with their samplers (on which it depends), and how alpha and
// back faces are treated. Base colour and emissive textures are sRGB, the
// others UNORM.
type Material struct {
	Base
	BaseColor   [4]float32
	BaseTexture *Texture2D // BaseColorTexture.Texture; nil: untextured

	BaseColorTexture         TextureRef
	MetallicRoughnessTexture TextureRef // roughness in G, metalness in B
	NormalTexture            TextureRef
	OcclusionTexture         TextureRef // in R
	EmissiveTexture          TextureRef

	Metallic, Roughness float32
	NormalScale         float32
	OcclusionStrength   float32
	Emissive            [3]float32

	AlphaMode   AlphaMode
	AlphaCutoff float32 // for AlphaMask
	DoubleSided bool
}

// Textures lists the material's five texture slots, in the order base
// colour, metallic-roughness, normal, occlusion, emissive.
func (m *Material) Textures() [5]TextureRef {
	return [5]TextureRef{m.BaseColorTexture, m.MetallicRoughnessTexture, m.NormalTexture, m.OcclusionTexture, m.EmissiveTexture}
}

// newMaterial gives mat (its fields set) its identity, depending on its
// textures and samplers.
func (m *Manager) newMaterial(name string, mat *Material) (*Material, error) {
	mat.BaseTexture = mat.BaseColorTexture.Texture
	var deps []Asset
	for _, t := range mat.Textures() {
		if t.Texture != nil {
			deps = appendUnique(deps, t.Texture)
		}
		if t.Sampler != nil {
			deps = appendUnique(deps, t.Sampler)
		}
	}
	if err := m.newBase(&mat.Base, "material", name, nil, deps...); err != nil {
		return nil, err
	}
	return mat, nil
}

// appendUnique appends x to deps unless it is there already.
func appendUnique(deps []Asset, x Asset) []Asset {
	for _, d := range deps {
		if d.base() == x.base() {
			return deps
		}
	}
	return append(deps, x)
}

// Primitive is one draw of a mesh: vertices (Vertex, VertexStride bytes
// each) assembled as Topology, through uint32 indices or, without an index
// buffer, in order; a second vertex stream for skinning when the glTF
// primitive has JOINTS_0 and WEIGHTS_0; and a material.
type Primitive struct {
	Topology    vk.PrimitiveTopology
	Vertices    *Buffer
	VertexCount uint32
	Indices     *Buffer // nil: draw VertexCount vertices
	IndexCount  uint32  // 0 without indices
	Skin        *Buffer // SkinVertex, SkinVertexStride bytes each; nil: not skinned
	Material    *Material
	// Attributes are the glTF attributes the vertices carry (POSITION,
	// NORMAL, …), sorted; the others hold Vertex's defaults.
	Attributes []string
}

// DrawCount is how many vertices a draw of the primitive takes: its
// indices, or its vertices when it has none.
func (p *Primitive) DrawCount() uint32 {
	if p.Indices != nil {
		return p.IndexCount
	}
	return p.VertexCount
}

// Mesh is a glTF mesh: its primitives, each drawn with its material. It
// depends on every primitive's buffers and materials. Vertices, Indices,
// IndexCount, VertexCount and Material are the first primitive's.
type Mesh struct {
	Base
	Primitives  []*Primitive
	Vertices    *Buffer
	Indices     *Buffer // nil when the first primitive has no indices
	IndexCount  uint32
	VertexCount uint32
	Material    *Material // may be nil
}

func (m *Manager) newMesh(name string, prims []*Primitive) (*Mesh, error) {
	if len(prims) == 0 {
		return nil, fmt.Errorf("mesh %q: no primitives", name)
	}
	p := prims[0]
	mesh := &Mesh{Primitives: prims, Vertices: p.Vertices, Indices: p.Indices, VertexCount: p.VertexCount, IndexCount: p.IndexCount, Material: p.Material}
	var deps []Asset
	for _, p := range prims {
		deps = appendUnique(deps, p.Vertices)
		if p.Indices != nil {
			deps = appendUnique(deps, p.Indices)
		}
		if p.Skin != nil {
			deps = appendUnique(deps, p.Skin)
		}
		if p.Material != nil {
			deps = appendUnique(deps, p.Material)
		}
	}
	if err := m.newBase(&mesh.Base, "mesh", name, nil, deps...); err != nil {
		return nil, err
	}
	return mesh, nil
}
