package assets

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"

	"github.com/qmuntal/gltf"
	"github.com/qmuntal/gltf/modeler"

	"github.com/vkassets/vkassets/vk"
)

// Scene is a glTF 2.0 scene: its nodes, and as static dependencies the
// meshes they draw (which depend on their buffers and materials, which
// depend on their textures, which depend on their images).
type Scene struct {
	Base
	Nodes  []Node
	Roots  []int   // indices in Nodes of the scene's root nodes
	Meshes []*Mesh // every mesh the nodes draw, once each
}

// Node is one node of a Scene.
type Node struct {
	Name        string
	Mesh        *Mesh // nil for a node that draws nothing
	Children    []int
	Translation [3]float64
	Rotation    [4]float64
	Scale       [3]float64
}

// LoadScene loads a glTF (.gltf with its files, or .glb) with everything
// it uses. Images referenced by URI share their keys with the same files
// loaded directly, so they are loaded once.
func (b *Bundle) LoadScene(ctx context.Context, p string) (*Scene, error) {
	a, err := b.m.load(ctx, b.key(p)+"#scene", func(ctx context.Context) (Asset, error) {
		data, err := b.read(ctx, p)
		if err != nil {
			return nil, err
		}
		dir := path.Dir(p)
		sub, err := fs.Sub(b.fsys, dir)
		if err != nil {
			return nil, err
		}
		var doc gltf.Document
		if err := gltf.NewDecoderFS(bytes.NewReader(data), sub).Decode(&doc); err != nil {
			return nil, fmt.Errorf("%w: glTF: %v", ErrDecode, err)
		}
		return (&sceneLoader{b: b, m: b.m, p: p, dir: dir, doc: &doc}).scene(ctx)
	})
	if err != nil {
		return nil, err
	}
	return a.(*Scene), nil
}

type sceneLoader struct {
	b   *Bundle
	m   *Manager
	p   string // the glTF file
	dir string
	doc *gltf.Document
}

func (l *sceneLoader) key(kind string, i int) string {
	return l.b.key(l.p) + "#" + kind + "/" + strconv.Itoa(i)
}

func (l *sceneLoader) scene(ctx context.Context) (*Scene, error) {
	doc := l.doc
	s := &Scene{}
	meshes := map[int]*Mesh{}
	for i, n := range doc.Nodes {
		node := Node{Name: n.Name, Children: n.Children, Translation: n.Translation, Rotation: n.Rotation, Scale: n.Scale}
		if n.Mesh != nil {
			mesh, ok := meshes[*n.Mesh]
			if !ok {
				var err error
				if mesh, err = l.mesh(ctx, *n.Mesh); err != nil {
					return nil, fmt.Errorf("node %d: %w", i, err)
				}
				meshes[*n.Mesh] = mesh
				s.Meshes = append(s.Meshes, mesh)
			}
			node.Mesh = mesh
		}
		s.Nodes = append(s.Nodes, node)
	}
	if doc.Scene != nil && *doc.Scene < len(doc.Scenes) {
		s.Roots = doc.Scenes[*doc.Scene].Nodes
	} else if len(doc.Scenes) > 0 {
		s.Roots = doc.Scenes[0].Nodes
	}
	deps := make([]Asset, len(s.Meshes))
	for i, mesh := range s.Meshes {
		deps[i] = mesh
	}
	if err := l.m.newBase(&s.Base, "scene", l.p, nil, deps...); err != nil {
		return nil, err
	}
	return s, nil
}

func (l *sceneLoader) mesh(ctx context.Context, i int) (*Mesh, error) {
	if i < 0 || i >= len(l.doc.Meshes) || len(l.doc.Meshes[i].Primitives) == 0 {
		return nil, fmt.Errorf("%w: mesh %d", ErrDecode, i)
	}
	a, err := l.m.load(ctx, l.key("mesh", i), func(ctx context.Context) (Asset, error) {
		gm := l.doc.Meshes[i]
		prim := gm.Primitives[0] // one primitive per mesh here; more are a later need
		verts, count, err := l.vertices(i, prim)
		if err != nil {
			return nil, fmt.Errorf("mesh %d: %w", i, err)
		}
		idx, err := l.indices(i, prim, count)
		if err != nil {
			return nil, fmt.Errorf("mesh %d: %w", i, err)
		}
		var mat *Material
		if prim.Material != nil {
			if mat, err = l.material(ctx, *prim.Material); err != nil {
				return nil, err
			}
		}
		vb, err := l.buffer(ctx, l.key("mesh", i)+"/vertices", vk.BufferUsageVertex, verts)
		if err != nil {
			return nil, err
		}
		ib, err := l.buffer(ctx, l.key("mesh", i)+"/indices", vk.BufferUsageIndex, u32bytes(idx))
		if err != nil {
			return nil, err
		}
		return asAsset(l.m.newMesh(gm.Name, vb, ib, count, uint32(len(idx)), mat))
	})
	if err != nil {
		return nil, err
	}
	return a.(*Mesh), nil
}

func (l *sceneLoader) buffer(ctx context.Context, key string, usage vk.BufferUsage, data []byte) (*Buffer, error) {
	a, err := l.m.load(ctx, key, func(context.Context) (Asset, error) {
		return asAsset(l.m.newBuffer(key, usage, data))
	})
	if err != nil {
		return nil, err
	}
	return a.(*Buffer), nil
}

// vertices interleaves POSITION and TEXCOORD_0 (zeros when absent).
func (l *sceneLoader) vertices(mesh int, prim *gltf.Primitive) ([]byte, uint32, error) {
	where := fmt.Sprintf("meshes[%d].primitives[0].attributes", mesh)
	pi, ok := prim.Attributes[gltf.POSITION]
	if !ok {
		return nil, 0, fmt.Errorf("%w: %s: no POSITION", ErrDecode, where)
	}
	if err := checkAccessor(l.doc, pi, where+".POSITION", l.m.opts.MaxImageBytes); err != nil {
		return nil, 0, err
	}
	pos, err := modeler.ReadPosition(l.doc, l.doc.Accessors[pi], nil)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: positions: %v", ErrDecode, err)
	}
	var uv [][2]float32
	if ti, ok := prim.Attributes[gltf.TEXCOORD_0]; ok {
		if err := checkAccessor(l.doc, ti, where+".TEXCOORD_0", l.m.opts.MaxImageBytes); err != nil {
			return nil, 0, err
		}
		if uv, err = modeler.ReadTextureCoord(l.doc, l.doc.Accessors[ti], nil); err != nil {
			return nil, 0, fmt.Errorf("%w: texture coordinates: %v", ErrDecode, err)
		}
		if len(uv) != len(pos) {
			return nil, 0, fmt.Errorf("%w: %d texture coordinates for %d positions", ErrDecode, len(uv), len(pos))
		}
	}
	verts := make([]Vertex, len(pos))
	for k, p := range pos {
		verts[k] = Vertex{Position: p, Color: [4]float32{1, 1, 1, 1}}
		if uv != nil {
			verts[k].UV0 = uv[k]
		}
	}
	out := VertexBytes(verts)
	return out, uint32(len(pos)), nil
}

func (l *sceneLoader) indices(mesh int, prim *gltf.Primitive, vertexCount uint32) ([]uint32, error) {
	if prim.Indices == nil {
		idx := make([]uint32, vertexCount)
		for i := range idx {
			idx[i] = uint32(i)
		}
		return idx, nil
	}
	if err := checkAccessor(l.doc, *prim.Indices, fmt.Sprintf("meshes[%d].primitives[0].indices", mesh), l.m.opts.MaxImageBytes); err != nil {
		return nil, err
	}
	idx, err := modeler.ReadIndices(l.doc, l.doc.Accessors[*prim.Indices], nil)
	if err != nil {
		return nil, fmt.Errorf("%w: indices: %v", ErrDecode, err)
	}
	for _, v := range idx {
		if v >= vertexCount {
			return nil, fmt.Errorf("%w: index %d beyond %d vertices", ErrDecode, v, vertexCount)
		}
	}
	return idx, nil
}

func (l *sceneLoader) material(ctx context.Context, i int) (*Material, error) {
	if i < 0 || i >= len(l.doc.Materials) {
		return nil, fmt.Errorf("%w: material %d", ErrDecode, i)
	}
	a, err := l.m.load(ctx, l.key("material", i), func(ctx context.Context) (Asset, error) {
		gm := l.doc.Materials[i]
		color := [4]float32{1, 1, 1, 1}
		var tex *Texture2D
		if pbr := gm.PBRMetallicRoughness; pbr != nil {
			if f := pbr.BaseColorFactor; f != nil {
				color = [4]float32{float32(f[0]), float32(f[1]), float32(f[2]), float32(f[3])}
			}
			if ti := pbr.BaseColorTexture; ti != nil {
				// Base colour is colour: sRGB (glTF 2.0 §3.9.2). Data
				// textures (normal, metallic-roughness, occlusion), when
				// loaded, take TextureOptions{Linear: true}.
				var err error
				if tex, err = l.texture(ctx, ti.Index, TextureOptions{}); err != nil {
					return nil, fmt.Errorf("material %d: %w", i, err)
				}
			}
		}
		return asAsset(l.m.newMaterial(gm.Name, color, tex))
	})
	if err != nil {
		return nil, err
	}
	return a.(*Material), nil
}

// texture loads a glTF texture's image: a file next to the glTF (sharing
// the keys of a direct load of that file with the same options) or one
// embedded in a buffer view; a KTX2 one under KHR_texture_basisu.
func (l *sceneLoader) texture(ctx context.Context, i int, opts TextureOptions) (_ *Texture2D, err error) {
	src, basisu, err := textureSource(l.doc, i) // KHR_texture_basisu's KTX2 image, or the core source
	if err != nil {
		return nil, err
	}
	if basisu {
		defer func() { err = basisuError(i, src, err) }()
	}
	img := l.doc.Images[src]
	switch {
	case img.BufferView != nil:
		base := l.key("image", src)
		return l.m.loadTexture(ctx, base, img.Name, opts, func(context.Context) ([]byte, error) {
			if *img.BufferView >= len(l.doc.BufferViews) {
				return nil, fmt.Errorf("%w: buffer view %d", ErrDecode, *img.BufferView)
			}
			data, err := modeler.ReadBufferView(l.doc, l.doc.BufferViews[*img.BufferView])
			if err != nil {
				return nil, fmt.Errorf("%w: %v", ErrDecode, err)
			}
			return data, nil
		})
	case strings.HasPrefix(img.URI, "data:"):
		return nil, fmt.Errorf("%w: data URIs for images are not supported (image %d)", ErrUnknownKind, src)
	default:
		p := path.Join(l.dir, img.URI)
		return l.b.LoadTexture(ctx, p, opts)
	}
}

func u32bytes(v []uint32) []byte {
	out := make([]byte, 0, 4*len(v))
	for _, x := range v {
		out = binary.LittleEndian.AppendUint32(out, x)
	}
	return out
}
