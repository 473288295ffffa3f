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
	return BufferHandles{Buffer: s.buffer, Memory: s.mem, Generation: s.gen}
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
	buf, mem, err := m.alloc.CreateBuffer(b.Size, b.createUsage(), alloc.AllocationOptions{Usage: alloc.UsageGPUOnly, Name: name, UserData: b})
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

// Material is shading parameters and the textures they use, on which it
// depends.
type Material struct {
	Base
	BaseColor   [4]float32
	BaseTexture *Texture2D // nil: untextured
}

func (m *Manager) newMaterial(name string, color [4]float32, tex *Texture2D) (*Material, error) {
	mat := &Material{BaseColor: color, BaseTexture: tex}
	var deps []Asset
	if tex != nil {
		deps = append(deps, tex)
	}
	if err := m.newBase(&mat.Base, "material", name, nil, deps...); err != nil {
		return nil, err
	}
	return mat, nil
}

// Mesh is indexed geometry: interleaved vertices (Vertex, VertexStride
// bytes each) and uint32 indices, drawn with a material.
// It depends on its two buffers and its material.
type Mesh struct {
	Base
	Vertices    *Buffer
	Indices     *Buffer
	IndexCount  uint32
	VertexCount uint32
	Material    *Material // may be nil
}

func (m *Manager) newMesh(name string, vertices, indices *Buffer, vertexCount, indexCount uint32, mat *Material) (*Mesh, error) {
	mesh := &Mesh{Vertices: vertices, Indices: indices, VertexCount: vertexCount, IndexCount: indexCount, Material: mat}
	deps := []Asset{vertices, indices}
	if mat != nil {
		deps = append(deps, mat)
	}
	if err := m.newBase(&mesh.Base, "mesh", name, nil, deps...); err != nil {
		return nil, err
	}
	return mesh, nil
}
