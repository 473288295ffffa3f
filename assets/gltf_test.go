package assets_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vkassets/vkassets/alloc"
	"github.com/vkassets/vkassets/assets"
	"github.com/vkassets/vkassets/vk"
)

// khronosScene loads a sample model of testdata/khronos.
func khronosScene(t *testing.T, e *env, p string) *assets.Scene {
	t.Helper()
	b, ok := e.m.Bundle("khronos")
	if !ok {
		var err error
		b, err = e.m.AddBundle("khronos", os.DirFS("testdata/khronos"))
		require.NoError(t, err)
	}
	s, err := b.LoadScene(context.Background(), p)
	require.NoError(t, err, p)
	return s
}

// TestKhronosSampleModels: the Khronos sample models load as their files
// say (counts from the files' JSON): primitives, modes, attributes,
// indices or none, materials with their factors, textures in the right
// colour space with one shared default sampler, node matrices, roots; the
// same model from a .gltf with a .bin, with a data URI buffer and from a
// GLB (buffer without uri) loads the same.
func TestKhronosSampleModels(t *testing.T) {
	e := open(t, assets.Options{})
	for _, p := range []string{"BoxVertexColors/glTF/BoxVertexColors.gltf", "BoxVertexColors/glTF-Embedded/BoxVertexColors.gltf",
		"BoxVertexColors/glTF-Binary/BoxVertexColors.glb"} {
		s := khronosScene(t, e, p)
		require.Len(t, s.Nodes, 4, p)
		require.Equal(t, []int{0}, s.Roots, p)
		require.Len(t, s.Meshes, 1, p)
		require.Len(t, s.Meshes[0].Primitives, 1, p)
		prim := s.Meshes[0].Primitives[0]
		require.Equal(t, vk.TopologyTriangleList, prim.Topology, p)
		require.Equal(t, []string{"COLOR_0", "NORMAL", "POSITION", "TEXCOORD_0"}, prim.Attributes, p)
		require.Equal(t, uint32(24), prim.VertexCount, p)
		require.Equal(t, uint32(36), prim.IndexCount, p)
		require.Equal(t, uint64(24*assets.VertexStride), prim.Vertices.Size, p)
		require.Equal(t, uint64(36*4), prim.Indices.Size, p)
		mat := prim.Material
		require.InDelta(t, 0.8, mat.BaseColor[0], 1e-6, p)
		require.InDelta(t, 0.1, mat.Metallic, 1e-6, p)
		require.InDelta(t, 0.99, mat.Roughness, 1e-6, p)
		for _, ref := range mat.Textures() {
			require.Nil(t, ref.Texture, p)
		}
		require.Equal(t, []int{1, 2, 3}, s.Nodes[0].Children, p)
		require.Equal(t, 0, s.Nodes[1].Parent, p)
	}

	box := khronosScene(t, e, "Box With Spaces/glTF/Box With Spaces.gltf")
	mat := box.Meshes[0].Material
	require.Equal(t, "khronos:Box With Spaces/glTF/glTF Logo With Spaces.png#texture", mat.BaseColorTexture.Texture.Key(), "URI %20 decoded")
	require.Equal(t, vk.FormatR8G8B8A8Srgb, mat.BaseColorTexture.Texture.Format, "colour: sRGB")
	require.Same(t, mat.BaseTexture, mat.BaseColorTexture.Texture)
	require.Equal(t, "khronos:Box With Spaces/glTF/Roughness Metallic.png#texture+linear", mat.MetallicRoughnessTexture.Texture.Key())
	require.Equal(t, vk.FormatR8G8B8A8Unorm, mat.MetallicRoughnessTexture.Texture.Format, "data: UNORM")
	require.Equal(t, vk.FormatR8G8B8A8Unorm, mat.NormalTexture.Texture.Format, "data: UNORM")
	require.Nil(t, mat.OcclusionTexture.Texture)
	require.Nil(t, mat.EmissiveTexture.Texture)
	require.Same(t, mat.BaseColorTexture.Sampler, mat.NormalTexture.Sampler, "no sampler given: one default, shared")
	require.Same(t, mat.BaseColorTexture.Sampler, mat.MetallicRoughnessTexture.Sampler)
	require.Equal(t, vk.SamplerInfo{MagFilter: vk.FilterLinear, MinFilter: vk.FilterLinear, MipmapMode: vk.MipmapLinear}, mat.BaseColorTexture.Sampler.Info,
		"glTF's default: repeat, automatic filtering")
	require.NotZero(t, mat.BaseColorTexture.Sampler.Sampler)
	require.Len(t, mat.Deps(), 4, "three textures and one sampler")

	orient := khronosScene(t, e, "OrientationTest/glTF-Binary/OrientationTest.glb")
	require.Len(t, orient.Meshes, 13)
	require.Len(t, orient.Roots, 13)
	arrowX2 := [16]float64{1.0000000221841605, 0, 0, 0, 0, 0.9961947216654676, 0.08715572783347625, 0, 0, -0.08715572783347625, 0.9961947216654676, 0, -5.0, 0, 0, 1}
	require.Equal(t, "ArrowX2", orient.Nodes[1].Name)
	require.Equal(t, arrowX2, orient.Nodes[1].Local, "the node's matrix")
	require.Equal(t, arrowX2, orient.Nodes[1].World, "a root: its world is its own")
	require.Equal(t, [3]float64{5, 0, 0}, [3]float64{orient.Nodes[0].Local[12], orient.Nodes[0].Local[13], orient.Nodes[0].Local[14]}, "TRS: translation")
	// Node 0 rotates about x by q = (-0.3007, 0, 0, 0.9537): cos θ = 1 - 2x².
	require.InDelta(t, 1-2*0.30070576071739197*0.30070576071739197, orient.Nodes[0].Local[5], 1e-6)

	tri := khronosScene(t, e, "Triangle/glTF/Triangle.gltf").Meshes[0].Primitives[0]
	require.NotNil(t, tri.Indices)
	require.Equal(t, uint32(3), tri.DrawCount())
	noIdx := khronosScene(t, e, "TriangleWithoutIndices/glTF-Embedded/TriangleWithoutIndices.gltf").Meshes[0]
	require.Nil(t, noIdx.Primitives[0].Indices, "not indexed: none made")
	require.Nil(t, noIdx.Indices)
	require.Equal(t, uint32(3), noIdx.Primitives[0].DrawCount())
	require.Nil(t, noIdx.Primitives[0].Material, "no material: glTF's default is the renderer's")
}

// glb packs a JSON chunk and a BIN chunk (nil: none) into a GLB file.
func glb(js string, bin []byte) []byte {
	for len(js)%4 != 0 {
		js += " "
	}
	var out bytes.Buffer
	n := 12 + 8 + len(js)
	if bin != nil {
		for len(bin)%4 != 0 {
			bin = append(bin, 0)
		}
		n += 8 + len(bin)
	}
	w := func(v ...uint32) {
		for _, x := range v {
			_ = binary.Write(&out, binary.LittleEndian, x)
		}
	}
	w(0x46546C67, 2, uint32(n), uint32(len(js)), 0x4E4F534A)
	out.WriteString(js)
	if bin != nil {
		w(uint32(len(bin)), 0x004E4942)
		out.Write(bin)
	}
	return out.Bytes()
}

// f32 is little-endian float32s.
func f32(v ...float32) []byte {
	var b bytes.Buffer
	_ = binary.Write(&b, binary.LittleEndian, v)
	return b.Bytes()
}

func b64(mime string, data []byte) string {
	return "data:" + mime + ";base64," + base64.StdEncoding.EncodeToString(data)
}

func tinyPNG(t *testing.T, c color.RGBA) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 4, 4))
	for i := 0; i < 16; i++ {
		img.Set(i%4, i/4, c)
	}
	var buf bytes.Buffer
	require.NoError(t, png.Encode(&buf, img))
	return buf.Bytes()
}

// quadPositions are 4 vertices (48 bytes) and indices 0 1 2 3 (16 bytes).
var quadBin = append(f32(0, 0, 0, 1, 0, 0, 1, 1, 0, 0, 1, 0), 0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0)

const quadViews = `"bufferViews":[{"buffer":0,"byteLength":48},{"buffer":0,"byteOffset":48,"byteLength":16}],
"accessors":[{"bufferView":0,"componentType":5126,"count":4,"type":"VEC3"},{"bufferView":1,"componentType":5125,"count":4,"type":"SCALAR"}]`

// TestGLTFEveryMode: each of glTF's seven modes gives its topology;
// LINE_LOOP becomes a LINE_STRIP closed by repeating the first index
// (indexed or not); non-indexed primitives get no index buffer.
func TestGLTFEveryMode(t *testing.T) {
	e := open(t, assets.Options{})
	prims := ""
	for mode := 0; mode <= 6; mode++ {
		prims += fmt.Sprintf(`{"attributes":{"POSITION":0},"mode":%d},`, mode)
	}
	prims += `{"attributes":{"POSITION":0},"indices":1,"mode":2}`
	doc := fmt.Sprintf(`{"asset":{"version":"2.0"},"buffers":[{"byteLength":64}],%s,
"meshes":[{"primitives":[%s]}],"nodes":[{"mesh":0}],"scenes":[{"nodes":[0]}]}`, quadViews, prims)
	b, err := e.m.AddBundle("modes", fstest.MapFS{"m.glb": {Data: glb(doc, quadBin)}})
	require.NoError(t, err)
	s, err := b.LoadScene(context.Background(), "m.glb")
	require.NoError(t, err)
	ps := s.Meshes[0].Primitives
	require.Len(t, ps, 8, "every primitive")
	want := []vk.PrimitiveTopology{vk.TopologyPointList, vk.TopologyLineList, vk.TopologyLineStrip, vk.TopologyLineStrip,
		vk.TopologyTriangleList, vk.TopologyTriangleStrip, vk.TopologyTriangleFan, vk.TopologyLineStrip}
	for i, p := range ps {
		require.Equal(t, want[i], p.Topology, "primitive %d", i)
		require.Equal(t, uint32(4), p.VertexCount)
		if i == 2 || i == 7 {
			require.NotNil(t, p.Indices, "the loop is closed with indices")
			require.Equal(t, uint32(5), p.IndexCount, "0 1 2 3 0")
			require.Equal(t, uint32(5), p.DrawCount())
		} else {
			require.Nil(t, p.Indices, "primitive %d", i)
			require.Equal(t, uint32(4), p.DrawCount())
		}
	}
	require.Len(t, s.Meshes[0].Deps(), 8+2, "eight vertex buffers and the two loops' index buffers")
}

// TestGLTFMaterialsAndSamplers: the five textures with their texCoord,
// factors, alpha mode and cutoff, double-sided; images from a data URI,
// a buffer view and a file; samplers with their filters and wrap modes,
// one asset per distinct parameters, shared across materials and files.
func TestGLTFMaterialsAndSamplers(t *testing.T) {
	e := open(t, assets.Options{})
	red, green := tinyPNG(t, color.RGBA{255, 0, 0, 255}), tinyPNG(t, color.RGBA{0, 255, 0, 255})
	bin := append(append([]byte{}, quadBin...), green...)
	doc := fmt.Sprintf(`{"asset":{"version":"2.0"},"buffers":[{"byteLength":%d}],
"bufferViews":[{"buffer":0,"byteLength":48},{"buffer":0,"byteOffset":48,"byteLength":16},{"buffer":0,"byteOffset":64,"byteLength":%d}],
"accessors":[{"bufferView":0,"componentType":5126,"count":4,"type":"VEC3"},{"bufferView":1,"componentType":5125,"count":4,"type":"SCALAR"}],
"images":[{"uri":%q},{"bufferView":2,"mimeType":"image/png"},{"uri":"blue.png"}],
"samplers":[{"magFilter":9728,"minFilter":9984,"wrapS":33071,"wrapT":33648},{"magFilter":9729,"minFilter":9729},{"magFilter":9728,"minFilter":9984,"wrapS":33071,"wrapT":33648}],
"textures":[{"source":0,"sampler":0},{"source":1,"sampler":1},{"source":2},{"source":0,"sampler":2}],
"materials":[{"pbrMetallicRoughness":{"baseColorFactor":[0.5,0.25,1,0.75],"metallicFactor":0.3,"roughnessFactor":0.6,
  "baseColorTexture":{"index":0},"metallicRoughnessTexture":{"index":1,"texCoord":1}},
  "normalTexture":{"index":2,"scale":0.5},"occlusionTexture":{"index":1,"texCoord":1,"strength":0.25},"emissiveTexture":{"index":3},
  "emissiveFactor":[1,0.5,0],"alphaMode":"MASK","alphaCutoff":0.3,"doubleSided":true},
 {"pbrMetallicRoughness":{"baseColorTexture":{"index":3}},"alphaMode":"BLEND"}],
"meshes":[{"primitives":[{"attributes":{"POSITION":0},"indices":1,"material":0},{"attributes":{"POSITION":0},"material":1}]}],
"nodes":[{"mesh":0}],"scenes":[{"nodes":[0]}]}`, len(bin), len(green), b64("image/png", red))
	fsys := fstest.MapFS{"s.glb": {Data: glb(doc, bin)}, "blue.png": {Data: tinyPNG(t, color.RGBA{0, 0, 255, 255})}}
	b, err := e.m.AddBundle("mat", fsys)
	require.NoError(t, err)
	s, err := b.LoadScene(context.Background(), "s.glb")
	require.NoError(t, err)
	m0, m1 := s.Meshes[0].Primitives[0].Material, s.Meshes[0].Primitives[1].Material
	require.Equal(t, [4]float32{0.5, 0.25, 1, 0.75}, m0.BaseColor)
	require.Equal(t, float32(0.3), m0.Metallic)
	require.Equal(t, float32(0.6), m0.Roughness)
	require.Equal(t, float32(0.5), m0.NormalScale)
	require.Equal(t, float32(0.25), m0.OcclusionStrength)
	require.Equal(t, [3]float32{1, 0.5, 0}, m0.Emissive)
	require.Equal(t, assets.AlphaMask, m0.AlphaMode)
	require.Equal(t, float32(0.3), m0.AlphaCutoff)
	require.True(t, m0.DoubleSided)
	require.Equal(t, assets.AlphaBlend, m1.AlphaMode)
	require.False(t, m1.DoubleSided)

	refs := m0.Textures()
	for i, ref := range refs {
		require.NotNil(t, ref.Texture, "slot %d", i)
		require.NotNil(t, ref.Sampler, "slot %d", i)
	}
	require.Equal(t, 1, m0.MetallicRoughnessTexture.TexCoord)
	require.Equal(t, 1, m0.OcclusionTexture.TexCoord)
	require.Equal(t, 0, m0.BaseColorTexture.TexCoord)
	require.Equal(t, "mat:s.glb#image/0#texture", m0.BaseColorTexture.Texture.Key(), "a data URI image, keyed as the glTF's")
	require.Equal(t, "mat:s.glb#image/1#texture+linear", m0.MetallicRoughnessTexture.Texture.Key(), "a buffer view image, data")
	require.Same(t, m0.MetallicRoughnessTexture.Texture, m0.OcclusionTexture.Texture, "one texture for two data slots")
	require.Equal(t, "mat:blue.png#texture+linear", m0.NormalTexture.Texture.Key(), "a file: the keys of a direct load")
	require.Equal(t, vk.FormatR8G8B8A8Srgb, m0.EmissiveTexture.Texture.Format, "emissive is colour")
	require.Same(t, m0.BaseColorTexture.Texture, m0.EmissiveTexture.Texture, "same image, same options: one texture")

	near := vk.SamplerInfo{MagFilter: vk.FilterNearest, MinFilter: vk.FilterNearest, MipmapMode: vk.MipmapNearest,
		AddressU: vk.AddressClampToEdge, AddressV: vk.AddressMirroredRepeat}
	require.Equal(t, near, m0.BaseColorTexture.Sampler.Info)
	require.Same(t, m0.BaseColorTexture.Sampler, m0.EmissiveTexture.Sampler, "samplers 0 and 2 have the same parameters: one asset")
	require.Same(t, m0.BaseColorTexture.Sampler, m1.BaseColorTexture.Sampler, "shared across materials")
	require.Equal(t, vk.SamplerInfo{MagFilter: vk.FilterLinear, MinFilter: vk.FilterLinear, MipmapMode: vk.MipmapNearest, BaseLevelOnly: true},
		m0.MetallicRoughnessTexture.Sampler.Info, "LINEAR minification: no mipmapping")
	require.Equal(t, vk.MipmapLinear, m0.NormalTexture.Sampler.Info.MipmapMode, "no sampler: the default")
	require.Equal(t, 2, m0.BaseColorTexture.Sampler.RefCount(), "held by both materials")

	// Another file with the same sampler parameters shares the asset.
	other := khronosScene(t, e, "Box With Spaces/glTF/Box With Spaces.gltf")
	require.Same(t, m0.NormalTexture.Sampler, other.Meshes[0].Material.BaseColorTexture.Sampler, "the default sampler, across files")

	// Releasing the scene releases what only it held; the sampler the other
	// file's material holds stays.
	_, err = e.m.Release(s, false)
	require.NoError(t, err)
	require.Equal(t, assets.Ready, other.Meshes[0].Material.BaseColorTexture.Sampler.State())
	require.NotEqual(t, assets.Ready, m0.BaseColorTexture.Sampler.State(), "nobody else held it")
	require.Empty(t, b.Assets(), "the bundle's assets went with the scene")
}

// readBuffer copies a device-local buffer back to the host.
func readBuffer(t *testing.T, e *env, b *assets.Buffer) []byte {
	t.Helper()
	buf, mem, err := e.alloc.CreateBuffer(b.Size, vk.BufferUsageTransferDst, alloc.AllocationOptions{Usage: alloc.UsageReadback, Mapped: true})
	require.NoError(t, err)
	serial, err := e.sync.OneShot(func(cmd vk.CommandBuffer) error {
		e.dev.CmdBarrier(cmd, vk.Barrier{SrcStage: vk.StageVertexInput, DstStage: vk.StageTransfer, DstAccess: vk.AccessTransferRead, Buffer: b.Handles().Buffer})
		e.dev.CmdCopyBuffer(cmd, b.Handles().Buffer, buf, 0, 0, b.Size)
		e.dev.CmdBarrier(cmd, vk.Barrier{SrcStage: vk.StageTransfer, DstStage: vk.StageHost, SrcAccess: vk.AccessTransferWrite, DstAccess: vk.AccessHostRead, Buffer: buf})
		return nil
	})
	require.NoError(t, err)
	require.NoError(t, assets.Use(serial, b))
	require.NoError(t, e.sync.Wait(context.Background(), serial))
	require.NoError(t, e.alloc.Invalidate(mem, 0, b.Size))
	out := bytes.Clone(mem.Mapped[:b.Size])
	require.NoError(t, e.alloc.DestroyBuffer(buf, mem))
	return out
}

// TestGLTFQuantizedSparseUploaded: a GLB (buffer without uri) with
// KHR_mesh_quantization required, SHORT positions with a sparse
// substitution, normalized UNSIGNED_BYTE colours and UNSIGNED_BYTE indices
// loads, and its vertex and index buffers hold the decoded values.
func TestGLTFQuantizedSparseUploaded(t *testing.T) {
	e := open(t, assets.Options{})
	var bin bytes.Buffer
	w := func(v any) { require.NoError(t, binary.Write(&bin, binary.LittleEndian, v)) }
	w([]int16{0, 0, 0, 0, 10, 0, 0, 0, 0, 20, 0, 0})         // 3 VEC3 SHORT, stride 8: offset 0, 24 bytes
	w([]uint8{255, 0, 0, 255, 0, 255, 0, 128, 0, 0, 255, 0}) // 3 VEC4 UBYTE normalized: offset 24, 12 bytes
	w([]uint8{2, 1, 0, 0})                                   // indices: offset 36, 3 bytes (+1 padding)
	w([]uint16{1, 0})                                        // sparse index 1: offset 40, 2 bytes (+2)
	w([]int16{-5, 7, 9, 0})                                  // sparse value: offset 44, 6 bytes (+2)
	doc := `{"asset":{"version":"2.0"},"extensionsUsed":["KHR_mesh_quantization"],"extensionsRequired":["KHR_mesh_quantization"],
"buffers":[{"byteLength":52}],
"bufferViews":[{"buffer":0,"byteLength":24,"byteStride":8},{"buffer":0,"byteOffset":24,"byteLength":12},{"buffer":0,"byteOffset":36,"byteLength":3},
 {"buffer":0,"byteOffset":40,"byteLength":2},{"buffer":0,"byteOffset":44,"byteLength":6}],
"accessors":[{"bufferView":0,"componentType":5122,"count":3,"type":"VEC3","sparse":{"count":1,"indices":{"bufferView":3,"componentType":5123},"values":{"bufferView":4}}},
 {"bufferView":1,"componentType":5121,"normalized":true,"count":3,"type":"VEC4"},
 {"bufferView":2,"componentType":5121,"count":3,"type":"SCALAR"}],
"meshes":[{"primitives":[{"attributes":{"POSITION":0,"COLOR_0":1},"indices":2}]}],"nodes":[{"mesh":0}],"scenes":[{"nodes":[0]}]}`
	b, err := e.m.AddBundle("quant", fstest.MapFS{"q.glb": {Data: glb(doc, bin.Bytes())}})
	require.NoError(t, err)
	s, err := b.LoadScene(context.Background(), "q.glb")
	require.NoError(t, err)
	p := s.Meshes[0].Primitives[0]
	require.Equal(t, []string{"COLOR_0", "POSITION"}, p.Attributes)
	vs := make([]assets.Vertex, 3)
	require.NoError(t, binary.Read(bytes.NewReader(readBuffer(t, e, p.Vertices)), binary.LittleEndian, vs))
	require.Equal(t, [3]float32{0, 0, 0}, vs[0].Position)
	require.Equal(t, [3]float32{-5, 7, 9}, vs[1].Position, "the sparse substitution")
	require.Equal(t, [3]float32{0, 20, 0}, vs[2].Position, "SHORT, not normalized: the integers")
	require.Equal(t, [4]float32{0, 1, 0, 128.0 / 255}, vs[1].Color)
	require.Equal(t, [4]float32{}, vs[2].Tangent)
	idx := make([]uint32, 3)
	require.NoError(t, binary.Read(bytes.NewReader(readBuffer(t, e, p.Indices)), binary.LittleEndian, idx))
	require.Equal(t, []uint32{2, 1, 0}, idx, "UNSIGNED_BYTE indices widened to uint32")
}

// TestGLTFConcurrentSharedSamplers: scenes loaded from many goroutines at
// once share one sampler per parameters and one texture per image and
// options; releasing them all leaves nothing.
func TestGLTFConcurrentSharedSamplers(t *testing.T) {
	e := open(t, assets.Options{})
	b, err := e.m.AddBundle("khronos", os.DirFS("testdata/khronos"))
	require.NoError(t, err)
	files := []string{"Box With Spaces/glTF/Box With Spaces.gltf", "BoxVertexColors/glTF-Binary/BoxVertexColors.glb",
		"OrientationTest/glTF/OrientationTest.gltf", "Triangle/glTF-Embedded/Triangle.gltf"}
	const n = 8
	scenes := make([]*assets.Scene, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := b.LoadScene(context.Background(), files[i%len(files)])
			assert.NoError(t, err)
			scenes[i] = s
		}()
	}
	wg.Wait()
	require.Same(t, scenes[0], scenes[len(files)], "one scene per file")
	samplers := map[*assets.Sampler]bool{}
	for _, a := range e.m.Assets() {
		if s, ok := a.(*assets.Sampler); ok {
			samplers[s] = true
		}
	}
	require.Len(t, samplers, 1, "Box With Spaces' three textures share the default sampler")
	for _, s := range scenes[:len(files)] {
		_, err := e.m.Release(s, false)
		require.NoError(t, err)
	}
	require.Empty(t, e.m.Assets())
}
