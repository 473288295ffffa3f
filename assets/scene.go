package assets

import (
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/qmuntal/gltf"

	"github.com/vkassets/vkassets/vk"
)

// Scene is a glTF 2.0 scene: its nodes, and as static dependencies the
// meshes they draw (which depend on their buffers and materials, which
// depend on their textures and samplers, which depend on their images).
type Scene struct {
	Base
	Nodes  []Node
	Roots  []int   // indices in Nodes of the scene's root nodes
	Meshes []*Mesh // every mesh the nodes draw, once each
}

// Node is one node of a Scene: its place in the hierarchy and its
// transforms, column-major 4×4 matrices as glTF stores them.
type Node struct {
	Name     string
	Mesh     *Mesh // nil for a node that draws nothing
	Children []int
	Parent   int // -1 for a root (or a node outside the scene's trees)
	// Local is the node's matrix, or its translation × rotation × scale.
	Local [16]float64
	// World is Local under its ancestors' transforms.
	World [16]float64
	// Translation, Rotation and Scale are the node's TRS properties (their
	// defaults when it gives a matrix).
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
		doc, bin, err := decodeGLTF(data)
		if err != nil {
			return nil, err
		}
		l := &sceneLoader{b: b, m: b.m, p: p, dir: path.Dir(p), doc: doc}
		isGLB := len(data) >= 4 && binary.LittleEndian.Uint32(data) == glbMagic
		if err := l.readBuffers(ctx, bin, isGLB); err != nil {
			return nil, err
		}
		return l.scene(ctx)
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
	parents, err := nodeTree(doc)
	if err != nil {
		return nil, err
	}
	if s.Roots, err = sceneRoots(doc, parents); err != nil {
		return nil, err
	}
	meshes := map[int]*Mesh{}
	for i, n := range doc.Nodes {
		node := Node{Name: n.Name, Children: n.Children, Parent: parents[i], Local: localMatrix(n),
			Translation: n.TranslationOrDefault(), Rotation: n.RotationOrDefault(), Scale: n.ScaleOrDefault()}
		if n.Mesh != nil {
			mi := *n.Mesh
			if mi < 0 || mi >= len(doc.Meshes) {
				return nil, fmt.Errorf("%w: nodes[%d].mesh: mesh %d out of range (%d meshes)", ErrDecode, i, mi, len(doc.Meshes))
			}
			mesh, ok := meshes[mi]
			if !ok {
				if mesh, err = l.mesh(ctx, mi); err != nil {
					return nil, err
				}
				meshes[mi] = mesh
				s.Meshes = append(s.Meshes, mesh)
			}
			node.Mesh = mesh
		}
		s.Nodes = append(s.Nodes, node)
	}
	worldMatrices(s.Nodes)
	deps := make([]Asset, len(s.Meshes))
	for i, mesh := range s.Meshes {
		deps[i] = mesh
	}
	if err := l.m.newBase(&s.Base, "scene", l.p, nil, deps...); err != nil {
		return nil, err
	}
	return s, nil
}

// nodeTree checks that the nodes form trees (children in range, one parent
// each, no cycle) and returns each node's parent, -1 for none.
func nodeTree(doc *gltf.Document) ([]int, error) {
	n := len(doc.Nodes)
	parents := make([]int, n)
	for i := range parents {
		parents[i] = -1
	}
	for i, node := range doc.Nodes {
		if node == nil {
			return nil, fmt.Errorf("%w: nodes[%d]: null", ErrDecode, i)
		}
		for j, c := range node.Children {
			at := fmt.Sprintf("nodes[%d].children[%d]", i, j)
			switch {
			case c < 0 || c >= n:
				return nil, fmt.Errorf("%w: %s: node %d out of range (%d nodes)", ErrDecode, at, c, n)
			case c == i:
				return nil, fmt.Errorf("%w: %s: node %d is its own child", ErrDecode, at, c)
			case parents[c] >= 0:
				return nil, fmt.Errorf("%w: %s: node %d is already a child of nodes[%d]", ErrDecode, at, c, parents[c])
			}
			parents[c] = i
		}
	}
	// With one parent each, a cycle is a walk up the parents that comes
	// back: state 1 while a walk is on a node, 2 once it reached a root.
	state := make([]uint8, n)
	for i := range n {
		var walk []int
		for k := i; k >= 0 && state[k] != 2; k = parents[k] {
			if state[k] == 1 {
				cyc := []int{k}
				for p := parents[k]; p != k; p = parents[p] {
					cyc = append(cyc, p)
				}
				slices.Reverse(cyc) // parent to child
				names := make([]string, 0, len(cyc)+1)
				for _, c := range append(cyc, cyc[0]) {
					names = append(names, strconv.Itoa(c))
				}
				return nil, fmt.Errorf("%w: nodes[%d].children: a cycle of nodes %s", ErrDecode, cyc[0], strings.Join(names, " → "))
			}
			state[k] = 1
			walk = append(walk, k)
		}
		for _, k := range walk {
			state[k] = 2
		}
	}
	return parents, nil
}

// sceneRoots are the root nodes of the document's scene (scene, else the
// first), each in range and without a parent.
func sceneRoots(doc *gltf.Document, parents []int) ([]int, error) {
	si := 0
	if doc.Scene != nil {
		si = *doc.Scene
		if si < 0 || si >= len(doc.Scenes) {
			return nil, fmt.Errorf("%w: scene: scene %d out of range (%d scenes)", ErrDecode, si, len(doc.Scenes))
		}
	}
	if si >= len(doc.Scenes) {
		return nil, nil
	}
	sc := doc.Scenes[si]
	if sc == nil {
		return nil, fmt.Errorf("%w: scenes[%d]: null", ErrDecode, si)
	}
	for j, r := range sc.Nodes {
		at := fmt.Sprintf("scenes[%d].nodes[%d]", si, j)
		switch {
		case r < 0 || r >= len(doc.Nodes):
			return nil, fmt.Errorf("%w: %s: node %d out of range (%d nodes)", ErrDecode, at, r, len(doc.Nodes))
		case parents[r] >= 0:
			return nil, fmt.Errorf("%w: %s: node %d is not a root (a child of nodes[%d])", ErrDecode, at, r, parents[r])
		case slices.Contains(sc.Nodes[:j], r):
			return nil, fmt.Errorf("%w: %s: node %d is listed twice", ErrDecode, at, r)
		}
	}
	return slices.Clone(sc.Nodes), nil
}

// localMatrix is a node's matrix, or T × R × S from its properties.
func localMatrix(n *gltf.Node) [16]float64 {
	if m := n.MatrixOrDefault(); m != gltf.DefaultMatrix {
		return m
	}
	t, q, s := n.TranslationOrDefault(), n.RotationOrDefault(), n.ScaleOrDefault()
	x, y, z, w := q[0], q[1], q[2], q[3]
	// The rotation's columns, each scaled.
	return [16]float64{
		(1 - 2*(y*y+z*z)) * s[0], 2 * (x*y + z*w) * s[0], 2 * (x*z - y*w) * s[0], 0,
		2 * (x*y - z*w) * s[1], (1 - 2*(x*x+z*z)) * s[1], 2 * (y*z + x*w) * s[1], 0,
		2 * (x*z + y*w) * s[2], 2 * (y*z - x*w) * s[2], (1 - 2*(x*x+y*y)) * s[2], 0,
		t[0], t[1], t[2], 1,
	}
}

// mul4 is a × b, column-major.
func mul4(a, b [16]float64) [16]float64 {
	var r [16]float64
	for c := range 4 {
		for row := range 4 {
			var v float64
			for k := range 4 {
				v += a[k*4+row] * b[c*4+k]
			}
			r[c*4+row] = v
		}
	}
	return r
}

// worldMatrices sets each node's World from its ancestors (the tree was
// checked: no cycles).
func worldMatrices(nodes []Node) {
	done := make([]bool, len(nodes))
	var world func(i int) [16]float64
	world = func(i int) [16]float64 {
		if !done[i] {
			n := &nodes[i]
			n.World = n.Local
			if n.Parent >= 0 {
				n.World = mul4(world(n.Parent), n.Local)
			}
			done[i] = true
		}
		return nodes[i].World
	}
	for i := range nodes {
		world(i)
	}
}

func (l *sceneLoader) mesh(ctx context.Context, i int) (*Mesh, error) {
	gm := l.doc.Meshes[i]
	if gm == nil || len(gm.Primitives) == 0 {
		return nil, fmt.Errorf("%w: meshes[%d].primitives: none", ErrDecode, i)
	}
	a, err := l.m.load(ctx, l.key("mesh", i), func(ctx context.Context) (Asset, error) {
		prims := make([]*Primitive, len(gm.Primitives))
		for j, gp := range gm.Primitives {
			var err error
			if prims[j], err = l.primitive(ctx, i, j, gp); err != nil {
				return nil, err
			}
		}
		return asAsset(l.m.newMesh(gm.Name, prims))
	})
	if err != nil {
		return nil, err
	}
	return a.(*Mesh), nil
}

func (l *sceneLoader) primitive(ctx context.Context, mesh, p int, gp *gltf.Primitive) (*Primitive, error) {
	g, err := l.geometry(mesh, p, gp)
	if err != nil {
		return nil, err
	}
	prim := &Primitive{Topology: g.topology, VertexCount: g.count, IndexCount: uint32(len(g.indices)), Attributes: g.attributes}
	if gp.Material != nil {
		if prim.Material, err = l.material(ctx, *gp.Material, fmt.Sprintf("meshes[%d].primitives[%d].material", mesh, p)); err != nil {
			return nil, err
		}
	}
	base := l.key("mesh", mesh) + "/" + strconv.Itoa(p)
	if prim.Vertices, err = l.buffer(ctx, base+"/vertices", vk.BufferUsageVertex, g.vertices); err != nil {
		return nil, err
	}
	if g.indices != nil {
		if prim.Indices, err = l.buffer(ctx, base+"/indices", vk.BufferUsageIndex, u32bytes(g.indices)); err != nil {
			return nil, err
		}
	}
	if g.skin != nil {
		if prim.Skin, err = l.buffer(ctx, base+"/skin", vk.BufferUsageVertex, g.skin); err != nil {
			return nil, err
		}
	}
	return prim, nil
}

// buffer uploads a primitive's buffer; it is a transfer source too, so that
// its contents can be copied (read back, merged, built into an
// acceleration structure).
func (l *sceneLoader) buffer(ctx context.Context, key string, usage vk.BufferUsage, data []byte) (*Buffer, error) {
	usage |= vk.BufferUsageTransferSrc
	a, err := l.m.load(ctx, key, func(context.Context) (Asset, error) {
		// Admitted against the budget like a texture (the buffer and its
		// staging copy): a small file's accessors without a bufferView
		// make as many zeros as their counts say.
		done, err := l.m.admit(key, 2*int64(len(data)))
		if err != nil {
			return nil, err
		}
		defer done()
		return asAsset(l.m.newBuffer(key, usage, data))
	})
	if err != nil {
		return nil, err
	}
	return a.(*Buffer), nil
}

// geometry is a primitive's data, read and checked, before anything is
// uploaded.
type geometry struct {
	topology   vk.PrimitiveTopology
	vertices   []byte // count Vertex
	count      uint32
	skin       []byte   // count SkinVertex; nil without JOINTS_0
	indices    []uint32 // nil: none
	attributes []string
}

var topologies = map[gltf.PrimitiveMode]vk.PrimitiveTopology{
	gltf.PrimitivePoints:        vk.TopologyPointList,
	gltf.PrimitiveLines:         vk.TopologyLineList,
	gltf.PrimitiveLineLoop:      vk.TopologyLineStrip, // closed by repeating the first index
	gltf.PrimitiveLineStrip:     vk.TopologyLineStrip,
	gltf.PrimitiveTriangles:     vk.TopologyTriangleList,
	gltf.PrimitiveTriangleStrip: vk.TopologyTriangleStrip,
	gltf.PrimitiveTriangleFan:   vk.TopologyTriangleFan,
}

// geometry reads primitive p of mesh: its attributes interleaved as
// Vertex (and SkinVertex), its indices checked below the vertex count.
func (l *sceneLoader) geometry(mesh, p int, gp *gltf.Primitive) (*geometry, error) {
	where := fmt.Sprintf("meshes[%d].primitives[%d]", mesh, p)
	if gp == nil {
		return nil, fmt.Errorf("%w: %s: null", ErrDecode, where)
	}
	g := &geometry{topology: topologies[gp.Mode]}
	pi, ok := gp.Attributes[gltf.POSITION]
	if !ok {
		return nil, fmt.Errorf("%w: %s.attributes: no POSITION", ErrDecode, where)
	}
	count := 0
	attrs := map[string][]float32{}
	comps := map[string]int{}
	var joints []uint32
	for _, name := range []string{gltf.POSITION, gltf.NORMAL, gltf.TANGENT, gltf.TEXCOORD_0, gltf.TEXCOORD_1, gltf.COLOR_0, gltf.JOINTS_0, gltf.WEIGHTS_0} {
		ai, ok := gp.Attributes[name]
		if !ok {
			continue
		}
		at := where + ".attributes." + name
		if err := checkAccessor(l.doc, ai, at, l.m.opts.MaxImageBytes); err != nil {
			return nil, err
		}
		if err := checkAttribute(l.doc, name, ai, at); err != nil {
			return nil, err
		}
		a := l.doc.Accessors[ai]
		if name == gltf.POSITION {
			count = a.Count
			// The interleaved vertices are larger than any one attribute:
			// bounded before anything is read.
			if size := int64(count) * int64(VertexStride+SkinVertexStride); size > l.m.opts.MaxImageBytes {
				return nil, fmt.Errorf("%w: %s: accessors[%d]: %d vertices of %d bytes (with skinning) make %d bytes, the limit is %d (Options.MaxImageBytes)",
					ErrTooLarge, at, ai, count, VertexStride+SkinVertexStride, size, l.m.opts.MaxImageBytes)
			}
		} else if a.Count != count {
			return nil, fmt.Errorf("%w: %s: accessors[%d]: count %d, POSITION has %d", ErrDecode, at, ai, a.Count, count)
		}
		var err error
		if name == gltf.JOINTS_0 {
			joints, _, err = readUints(l.doc, ai, at)
		} else {
			attrs[name], comps[name], err = readFloats(l.doc, ai, at)
		}
		if err != nil {
			return nil, err
		}
		g.attributes = append(g.attributes, name)
	}
	slices.Sort(g.attributes)
	if (joints == nil) != (attrs[gltf.WEIGHTS_0] == nil) {
		return nil, fmt.Errorf("%w: %s.attributes: JOINTS_0 and WEIGHTS_0 go together", ErrDecode, where)
	}
	_ = pi
	verts := make([]Vertex, count)
	for k := range verts {
		v := &verts[k]
		copy(v.Position[:], attrs[gltf.POSITION][k*3:])
		if n := attrs[gltf.NORMAL]; n != nil {
			copy(v.Normal[:], n[k*3:k*3+3])
		}
		if t := attrs[gltf.TANGENT]; t != nil {
			copy(v.Tangent[:], t[k*4:k*4+4])
		}
		if uv := attrs[gltf.TEXCOORD_0]; uv != nil {
			copy(v.UV0[:], uv[k*2:k*2+2])
		}
		if uv := attrs[gltf.TEXCOORD_1]; uv != nil {
			copy(v.UV1[:], uv[k*2:k*2+2])
		}
		v.Color = [4]float32{1, 1, 1, 1}
		if c := attrs[gltf.COLOR_0]; c != nil {
			n := comps[gltf.COLOR_0]
			copy(v.Color[:], c[k*n:k*n+n])
		}
	}
	g.vertices, g.count = VertexBytes(verts), uint32(count)
	if joints != nil {
		w := attrs[gltf.WEIGHTS_0]
		g.skin = make([]byte, 0, count*SkinVertexStride)
		for k := range count {
			for c := range 4 {
				g.skin = binary.LittleEndian.AppendUint16(g.skin, uint16(joints[k*4+c]))
			}
			for c := range 4 {
				g.skin = binary.LittleEndian.AppendUint32(g.skin, math.Float32bits(w[k*4+c]))
			}
		}
	}
	if gp.Indices != nil {
		at := where + ".indices"
		ii := *gp.Indices
		if err := checkAccessor(l.doc, ii, at, l.m.opts.MaxImageBytes); err != nil {
			return nil, err
		}
		a := l.doc.Accessors[ii]
		if a.Type != gltf.AccessorScalar || a.Normalized ||
			a.ComponentType != gltf.ComponentUbyte && a.ComponentType != gltf.ComponentUshort && a.ComponentType != gltf.ComponentUint {
			return nil, fmt.Errorf("%w: %s: accessors[%d]: %v of %v; indices are unsigned integer scalars", ErrDecode, at, ii, a.Type, a.ComponentType)
		}
		idx, _, err := readUints(l.doc, ii, at)
		if err != nil {
			return nil, err
		}
		for j, v := range idx {
			if v >= uint32(count) {
				return nil, fmt.Errorf("%w: %s: accessors[%d][%d]: index %d beyond %d vertices", ErrDecode, at, ii, j, v, count)
			}
		}
		g.indices = idx
	}
	if gp.Mode == gltf.PrimitiveLineLoop && count > 0 {
		if g.indices == nil {
			g.indices = make([]uint32, count)
			for k := range g.indices {
				g.indices[k] = uint32(k)
			}
		}
		g.indices = append(g.indices, g.indices[0])
	}
	return g, nil
}

// material loads material i with its textures and samplers. where names
// what refers to it.
func (l *sceneLoader) material(ctx context.Context, i int, where string) (*Material, error) {
	if i < 0 || i >= len(l.doc.Materials) || l.doc.Materials[i] == nil {
		return nil, fmt.Errorf("%w: %s: material %d out of range (%d materials)", ErrDecode, where, i, len(l.doc.Materials))
	}
	a, err := l.m.load(ctx, l.key("material", i), func(ctx context.Context) (Asset, error) {
		gm := l.doc.Materials[i]
		at := fmt.Sprintf("materials[%d]", i)
		mat := &Material{BaseColor: [4]float32{1, 1, 1, 1}, Metallic: 1, Roughness: 1, NormalScale: 1, OcclusionStrength: 1,
			AlphaMode: AlphaMode(gm.AlphaMode), AlphaCutoff: float32(gm.AlphaCutoffOrDefault()), DoubleSided: gm.DoubleSided}
		for c := range 3 {
			mat.Emissive[c] = float32(gm.EmissiveFactor[c])
		}
		ref := func(info *gltf.TextureInfo, field string, opts TextureOptions) (TextureRef, error) {
			if info == nil {
				return TextureRef{}, nil
			}
			return l.textureRef(ctx, info.Index, info.TexCoord, at+"."+field, opts)
		}
		var err error
		if pbr := gm.PBRMetallicRoughness; pbr != nil {
			f := pbr.BaseColorFactorOrDefault()
			mat.BaseColor = [4]float32{float32(f[0]), float32(f[1]), float32(f[2]), float32(f[3])}
			mat.Metallic, mat.Roughness = float32(pbr.MetallicFactorOrDefault()), float32(pbr.RoughnessFactorOrDefault())
			// Colour is sRGB (glTF 2.0 §3.9.2), data is linear.
			if mat.BaseColorTexture, err = ref(pbr.BaseColorTexture, "pbrMetallicRoughness.baseColorTexture", TextureOptions{}); err != nil {
				return nil, err
			}
			if mat.MetallicRoughnessTexture, err = ref(pbr.MetallicRoughnessTexture, "pbrMetallicRoughness.metallicRoughnessTexture", TextureOptions{Linear: true}); err != nil {
				return nil, err
			}
		}
		if nt := gm.NormalTexture; nt != nil && nt.Index != nil {
			mat.NormalScale = float32(nt.ScaleOrDefault())
			if mat.NormalTexture, err = l.textureRef(ctx, *nt.Index, nt.TexCoord, at+".normalTexture", TextureOptions{Linear: true}); err != nil {
				return nil, err
			}
		}
		if ot := gm.OcclusionTexture; ot != nil && ot.Index != nil {
			mat.OcclusionStrength = float32(ot.StrengthOrDefault())
			if mat.OcclusionTexture, err = l.textureRef(ctx, *ot.Index, ot.TexCoord, at+".occlusionTexture", TextureOptions{Linear: true}); err != nil {
				return nil, err
			}
		}
		if mat.EmissiveTexture, err = ref(gm.EmissiveTexture, "emissiveTexture", TextureOptions{}); err != nil {
			return nil, err
		}
		return asAsset(l.m.newMaterial(gm.Name, mat))
	})
	if err != nil {
		return nil, err
	}
	return a.(*Material), nil
}

// textureRef loads texture i for a material's slot at where: its image as
// a texture with opts, and its sampler.
func (l *sceneLoader) textureRef(ctx context.Context, i, texCoord int, where string, opts TextureOptions) (TextureRef, error) {
	if texCoord < 0 || texCoord > 1 {
		return TextureRef{}, fmt.Errorf("%w: %s.texCoord: %d; TEXCOORD_0 and TEXCOORD_1 are carried", ErrUnsupported, where, texCoord)
	}
	if i < 0 || i >= len(l.doc.Textures) || l.doc.Textures[i] == nil {
		return TextureRef{}, fmt.Errorf("%w: %s.index: texture %d out of range (%d textures)", ErrDecode, where, i, len(l.doc.Textures))
	}
	gt := l.doc.Textures[i]
	info, err := l.samplerInfo(gt.Sampler, fmt.Sprintf("textures[%d].sampler", i))
	if err != nil {
		return TextureRef{}, err
	}
	tex, err := l.texture(ctx, i, opts)
	if err != nil {
		return TextureRef{}, err
	}
	// A KTX2 image's format is its own: KHR_texture_basisu has colour
	// (base colour, emissive) in sRGB and data in linear, and a file the
	// other way round would be sampled wrong without a word.
	if f, ok := ktx2Formats[tex.Format]; ok && f.srgb == opts.Linear {
		use, want := "colour", "sRGB"
		if opts.Linear {
			use, want = "data", "linear"
		}
		return TextureRef{}, fmt.Errorf("%w: %s.index: texture %d is %s, not %s, and this slot holds %s", ErrDecode, where, i, f.name, want, use)
	}
	smp, err := l.m.LoadSampler(ctx, info)
	if err != nil {
		return TextureRef{}, err
	}
	return TextureRef{Texture: tex, Sampler: smp, TexCoord: texCoord}, nil
}

// samplerInfo is glTF sampler s (nil: the default, repeat with automatic
// filtering, which is trilinear here) as Vulkan parameters.
func (l *sceneLoader) samplerInfo(s *int, where string) (vk.SamplerInfo, error) {
	info := vk.SamplerInfo{MagFilter: vk.FilterLinear, MinFilter: vk.FilterLinear, MipmapMode: vk.MipmapLinear}
	if s == nil {
		return info, nil
	}
	if *s < 0 || *s >= len(l.doc.Samplers) || l.doc.Samplers[*s] == nil {
		return info, fmt.Errorf("%w: %s: sampler %d out of range (%d samplers)", ErrDecode, where, *s, len(l.doc.Samplers))
	}
	gs := l.doc.Samplers[*s]
	if gs.MagFilter == gltf.MagNearest {
		info.MagFilter = vk.FilterNearest
	}
	switch gs.MinFilter {
	case gltf.MinNearest:
		info.MinFilter, info.MipmapMode, info.BaseLevelOnly = vk.FilterNearest, vk.MipmapNearest, true
	case gltf.MinLinear:
		info.MipmapMode, info.BaseLevelOnly = vk.MipmapNearest, true
	case gltf.MinNearestMipMapNearest:
		info.MinFilter, info.MipmapMode = vk.FilterNearest, vk.MipmapNearest
	case gltf.MinLinearMipMapNearest:
		info.MipmapMode = vk.MipmapNearest
	case gltf.MinNearestMipMapLinear:
		info.MinFilter = vk.FilterNearest
	}
	wrap := map[gltf.WrappingMode]vk.AddressMode{gltf.WrapRepeat: vk.AddressRepeat,
		gltf.WrapClampToEdge: vk.AddressClampToEdge, gltf.WrapMirroredRepeat: vk.AddressMirroredRepeat}
	info.AddressU, info.AddressV = wrap[gs.WrapS], wrap[gs.WrapT]
	return info, nil
}

// texture loads texture i's image: a file of the bundle (sharing the keys
// of a direct load of that file with the same options), a buffer view or a
// data URI (keyed as the glTF's image); a KTX2 one under
// KHR_texture_basisu.
func (l *sceneLoader) texture(ctx context.Context, i int, opts TextureOptions) (_ *Texture2D, err error) {
	src, basisu, err := textureSource(l.doc, i) // KHR_texture_basisu's KTX2 image, or the core source
	if err != nil {
		return nil, err
	}
	if basisu {
		defer func() { err = basisuError(i, src, err) }()
	}
	img := l.doc.Images[src]
	at := fmt.Sprintf("images[%d]", src)
	embedded := func(read func() ([]byte, error)) (*Texture2D, error) {
		// The errors of read name the image's JSON path; those of the
		// decode its name, which is the path when the image has none.
		return l.m.loadTexture(ctx, l.key("image", src), cmp.Or(img.Name, at), opts, func(context.Context) ([]byte, error) {
			return read()
		})
	}
	switch {
	case img.BufferView != nil:
		if img.URI != "" {
			return nil, fmt.Errorf("%w: %s: both uri and bufferView", ErrDecode, at)
		}
		if err := checkImageType(img.MimeType, at+".mimeType", basisu); err != nil {
			return nil, err
		}
		v := *img.BufferView
		if v < 0 || v >= len(l.doc.BufferViews) || l.doc.BufferViews[v] == nil {
			return nil, fmt.Errorf("%w: %s.bufferView: %d out of range (%d buffer views)", ErrDecode, at, v, len(l.doc.BufferViews))
		}
		if err := checkView(l.doc, v, 0, int64(l.doc.BufferViews[v].ByteLength), at+".bufferView", "the image"); err != nil {
			return nil, err
		}
		return embedded(func() ([]byte, error) {
			bv := l.doc.BufferViews[v]
			return l.doc.Buffers[bv.Buffer].Data[bv.ByteOffset : bv.ByteOffset+bv.ByteLength], nil
		})
	case strings.HasPrefix(img.URI, "data:"):
		mime, _, _ := strings.Cut(strings.TrimPrefix(img.URI, "data:"), ";")
		if err := checkImageType(mime, at+".uri", basisu); err != nil {
			return nil, err
		}
		return embedded(func() ([]byte, error) {
			_, data, err := dataURI(img.URI, l.m.opts.MaxImageBytes)
			if err != nil {
				return nil, fmt.Errorf("%w: %s.uri: %w", ErrDecode, at, err)
			}
			return data, nil
		})
	case img.URI == "":
		return nil, fmt.Errorf("%w: %s: neither uri nor bufferView", ErrDecode, at)
	default:
		if img.MimeType != "" {
			if err := checkImageType(img.MimeType, at+".mimeType", basisu); err != nil {
				return nil, err
			}
		}
		p, err := resolveURI(l.dir, img.URI, at+".uri")
		if err != nil {
			return nil, err
		}
		t, err := l.b.LoadTexture(ctx, p, opts)
		if err != nil {
			return nil, fmt.Errorf("%s.uri: %w", at, err)
		}
		return t, nil
	}
}

// checkImageType accepts the image types this package decodes: PNG and
// JPEG as a texture's core source, KTX2 as its KHR_texture_basisu source.
func checkImageType(mime, field string, basisu bool) error {
	switch {
	case basisu && mime != "image/ktx2":
		return fmt.Errorf("%w: %s: image type %q (KHR_texture_basisu's source is image/ktx2)", ErrUnsupported, field, clip(mime))
	case !basisu && mime != "image/png" && mime != "image/jpeg":
		return fmt.Errorf("%w: %s: image type %q (PNG and JPEG are supported; KTX2 through KHR_texture_basisu)", ErrUnsupported, field, clip(mime))
	}
	return nil
}

func u32bytes(v []uint32) []byte {
	out := make([]byte, 0, 4*len(v))
	for _, x := range v {
		out = binary.LittleEndian.AppendUint32(out, x)
	}
	return out
}
