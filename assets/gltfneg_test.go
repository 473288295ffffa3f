package assets_test

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"image/color"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"

	"github.com/vkassets/vkassets/assets"
)

// minimal is a glTF of one quad over quadBin in a data URI buffer, its
// primitive with material 0 when it has materials; extra JSON members add
// to it.
func minimal(extra string) string {
	mat := ""
	if strings.Contains(extra, `"materials"`) {
		mat = `,"material":0`
	}
	return fmt.Sprintf(`{"asset":{"version":"2.0"},"buffers":[{"uri":%q,"byteLength":64}],%s,
"meshes":[{"primitives":[{"attributes":{"POSITION":0},"indices":1%s}]}],"nodes":[{"mesh":0}],"scenes":[{"nodes":[0]}]%s}`,
		b64("application/gltf-buffer", quadBin), quadViews, mat, extra)
}

var loadChain = regexp.MustCompile(`load "[^"]*": `)

// TestGLTFRefusals: each malformed or unsupported file is refused with
// its exact error, naming the JSON path (or the GLB's fault), never the
// payload of a data URI; nothing of it stays cached or allocated.
func TestGLTFRefusals(t *testing.T) {
	e := open(t, assets.Options{})
	payload := base64.StdEncoding.EncodeToString(quadBin)
	png := b64("image/png", tinyPNG(t, color.RGBA{1, 2, 3, 255}))
	withTexture := func(image string) string {
		return minimal(fmt.Sprintf(`,"images":[%s],"textures":[{"source":0}],"materials":[{"pbrMetallicRoughness":{"baseColorTexture":{"index":0}}}]`, image))
	}
	cases := []struct {
		name string
		file []byte
		is   error
		says string
	}{
		{"draco", []byte(minimal(`,"extensionsUsed":["KHR_draco_mesh_compression"],"extensionsRequired":["KHR_draco_mesh_compression"]`)), assets.ErrUnsupported,
			"assets: not supported: extensionsRequired[0]: extension KHR_draco_mesh_compression"},
		{"basisu source not KTX2", []byte(minimal(`,"extensionsUsed":["KHR_texture_basisu"],"images":[{"uri":"x.png","mimeType":"image/png"}],"textures":[{"extensions":{"KHR_texture_basisu":{"source":0}}}],
"materials":[{"pbrMetallicRoughness":{"baseColorTexture":{"index":0}}}]`)), assets.ErrUnsupported,
			`texture 0 (KHR_texture_basisu image 0): assets: not supported: images[0].mimeType: image type "image/png" (KHR_texture_basisu's source is image/ktx2)`},
		{"scene out of range", []byte(minimal(`,"scene":2`)), assets.ErrDecode, "assets: cannot decode: scene: scene 2 out of range (1 scenes)"},
		{"root out of range", []byte(strings.Replace(minimal(""), `"scenes":[{"nodes":[0]}]`, `"scenes":[{"nodes":[0,5]}]`, 1)), assets.ErrDecode,
			"assets: cannot decode: scenes[0].nodes[1]: node 5 out of range (1 nodes)"},
		{"node cycle", []byte(strings.Replace(minimal(""), `"nodes":[{"mesh":0}],"scenes":[{"nodes":[0]}]`, `"nodes":[{"mesh":0},{"children":[2]},{"children":[1]}],"scenes":[{"nodes":[0]}]`, 1)), assets.ErrDecode,
			"assets: cannot decode: nodes[2].children: a cycle of nodes 2 → 1 → 2"},
		{"two parents", []byte(strings.Replace(minimal(""), `"nodes":[{"mesh":0}]`, `"nodes":[{"children":[2]},{"children":[2]},{"mesh":0}]`, 1)), assets.ErrDecode,
			"assets: cannot decode: nodes[1].children[0]: node 2 is already a child of nodes[0]"},
		{"child as root", []byte(strings.Replace(minimal(""), `"nodes":[{"mesh":0}],"scenes":[{"nodes":[0]}]`, `"nodes":[{"children":[1]},{"mesh":0}],"scenes":[{"nodes":[0,1]}]`, 1)), assets.ErrDecode,
			"assets: cannot decode: scenes[0].nodes[1]: node 1 is not a root (a child of nodes[0])"},
		{"child out of range", []byte(strings.Replace(minimal(""), `"nodes":[{"mesh":0}]`, `"nodes":[{"mesh":0,"children":[3]}]`, 1)), assets.ErrDecode,
			"assets: cannot decode: nodes[0].children[0]: node 3 out of range (1 nodes)"},
		{"mesh out of range", []byte(strings.Replace(minimal(""), `"nodes":[{"mesh":0}]`, `"nodes":[{"mesh":4}]`, 1)), assets.ErrDecode,
			"assets: cannot decode: nodes[0].mesh: mesh 4 out of range (1 meshes)"},
		{"accessor out of range", []byte(strings.Replace(minimal(""), `"POSITION":0`, `"POSITION":7`, 1)), assets.ErrDecode,
			"assets: cannot decode: meshes[0].primitives[0].attributes.POSITION: accessor 7 out of range (2 accessors)"},
		{"index beyond the vertices", []byte(strings.Replace(minimal(""), `"count":4,"type":"VEC3"`, `"count":3,"type":"VEC3"`, 1)), assets.ErrDecode,
			"assets: cannot decode: meshes[0].primitives[0].indices: accessors[1][3]: index 3 beyond 3 vertices"},
		{"vertices over the limit", []byte(strings.Replace(minimal(""), `{"bufferView":0,"componentType":5126,"count":4,"type":"VEC3"}`, `{"componentType":5126,"count":5000000,"type":"VEC3"}`, 1)), assets.ErrTooLarge,
			"assets: too large: meshes[0].primitives[0].attributes.POSITION: accessors[0]: 5000000 vertices of 96 bytes (with skinning) make 480000000 bytes, the limit is 268435456 (Options.MaxImageBytes)"},
		{"quantized without the extension", []byte(strings.Replace(minimal(""), `"componentType":5126,"count":4`, `"componentType":5122,"count":4`, 1)), assets.ErrDecode,
			"assets: cannot decode: meshes[0].primitives[0].attributes.POSITION: accessors[0]: SHORT for POSITION needs KHR_mesh_quantization in extensionsUsed"},
		{"uint positions", []byte(strings.Replace(minimal(""), `"componentType":5126,"count":4`, `"componentType":5125,"count":4`, 1)), assets.ErrDecode,
			"assets: cannot decode: meshes[0].primitives[0].attributes.POSITION: accessors[0]: UNSIGNED_INT is not allowed for POSITION"},
		{"unknown component type", []byte(strings.Replace(minimal(""), `"componentType":5126`, `"componentType":5124`, 1)), assets.ErrDecode,
			"assets: cannot decode: accessors[0].componentType: 5124 is not a glTF component type"},
		{"unknown mode", []byte(strings.Replace(minimal(""), `"indices":1`, `"indices":1,"mode":9`, 1)), assets.ErrDecode,
			"assets: cannot decode: meshes[0].primitives[0].mode: 9 is not a glTF primitive mode"},
		{"1.5 for an integer", []byte(strings.Replace(minimal(""), `"count":4,"type":"VEC3"`, `"count":4.5,"type":"VEC3"`, 1)), assets.ErrDecode,
			fmt.Sprintf("assets: cannot decode: glTF JSON: accessors.count: number 4.5 where int is expected (at byte %d)", strings.Index(minimal(""), `"count":4,"type":"VEC3"`)+len(`"count":4.5`))},
		{"glTF 1.0", []byte(strings.Replace(minimal(""), `"version":"2.0"`, `"version":"1.0"`, 1)), assets.ErrUnsupported,
			`assets: not supported: asset.version "1.0": only glTF 2.x is supported`},
		{"not JSON", []byte("{\"asset\":"), assets.ErrDecode, "assets: cannot decode: glTF JSON: unexpected end of JSON input (at byte 9)"},
		{"buffer without uri", []byte(strings.Replace(minimal(""), fmt.Sprintf(`"uri":%q,`, b64("application/gltf-buffer", quadBin)), "", 1)), assets.ErrDecode,
			"assets: cannot decode: buffers[0]: no uri (only a GLB's first buffer may have none)"},
		{"corrupt data URI", []byte(strings.Replace(minimal(""), payload, payload[:20]+"!"+payload[21:], 1)), assets.ErrDecode,
			"assets: cannot decode: buffers[0].uri: a data URI's base64 is corrupt at byte 20 of 88"},
		{"data URI of another type", []byte(strings.Replace(minimal(""), "application/gltf-buffer", "text/plain", 1)), assets.ErrDecode,
			"assets: cannot decode: buffers[0].uri: a data URI of type text/plain, not application/octet-stream or application/gltf-buffer"},
		{"short buffer", []byte(strings.Replace(minimal(""), `"byteLength":64}]`, `"byteLength":65}]`, 1)), assets.ErrDecode,
			"assets: cannot decode: buffers[0]: byteLength 65, the data has 64 bytes"},
		{"huge buffer", []byte(strings.Replace(minimal(""), `"byteLength":64}]`, `"byteLength":4000000000}]`, 1)), assets.ErrTooLarge,
			"assets: too large: buffers[0].byteLength: 4000000000 bytes, the limit is 268435456 (Options.MaxImageBytes)"},
		{"buffer leaves the bundle", []byte(strings.Replace(minimal(""), b64("application/gltf-buffer", quadBin), "../../quad.bin", 1)), assets.ErrDecode,
			`assets: cannot decode: buffers[0].uri "../../quad.bin": leaves the bundle`},
		{"absolute buffer", []byte(strings.Replace(minimal(""), b64("application/gltf-buffer", quadBin), "/quad.bin", 1)), assets.ErrDecode,
			`assets: cannot decode: buffers[0].uri "/quad.bin": not a relative path (a bundle's files are named relative to the glTF file)`},
		{"image leaves the bundle", []byte(withTexture(`{"uri":"../x.png"}`)), assets.ErrDecode, `assets: cannot decode: images[0].uri "../x.png": leaves the bundle`},
		{"absolute image", []byte(withTexture(`{"uri":"/hero.png"}`)), assets.ErrDecode,
			`assets: cannot decode: images[0].uri "/hero.png": not a relative path (a bundle's files are named relative to the glTF file)`},
		{"remote image", []byte(withTexture(`{"uri":"https://example.com/x.png"}`)), assets.ErrUnsupported,
			`assets: not supported: images[0].uri "https://example.com/x.png": only relative paths and data URIs are supported`},
		{"ktx2 file", []byte(withTexture(`{"uri":"x.ktx2","mimeType":"image/ktx2"}`)), assets.ErrUnsupported,
			`assets: not supported: images[0].mimeType: image type "image/ktx2" (PNG and JPEG are supported; KTX2 through KHR_texture_basisu)`},
		{"missing image", []byte(withTexture(`{"uri":"gone.png"}`)), assets.ErrNotFound, "images[0].uri: assets: not found: gone.png"},
		{"gif data URI", []byte(withTexture(`{"uri":"data:image/gif;base64,R0lGODlh"}`)), assets.ErrUnsupported,
			`assets: not supported: images[0].uri: image type "image/gif" (PNG and JPEG are supported; KTX2 through KHR_texture_basisu)`},
		{"corrupt image data URI", []byte(withTexture(fmt.Sprintf(`{"uri":%q}`, png[:len(png)-8]+"@@@@@@@@"))), assets.ErrDecode,
			fmt.Sprintf("assets: cannot decode: images[0].uri: a data URI's base64 is corrupt at byte %d of %d", len(png)-8-len("data:image/png;base64,"), len(png)-len("data:image/png;base64,"))},
		{"third UV set", []byte(minimal(`,"images":[{"uri":"x.png"}],"textures":[{"source":0}],"materials":[{"pbrMetallicRoughness":{"baseColorTexture":{"index":0,"texCoord":2}}}]`)), assets.ErrUnsupported,
			"assets: not supported: materials[0].pbrMetallicRoughness.baseColorTexture.texCoord: 2; TEXCOORD_0 and TEXCOORD_1 are carried"},
		{"material out of range", []byte(strings.Replace(minimal(""), `"indices":1`, `"indices":1,"material":3`, 1)), assets.ErrDecode,
			"assets: cannot decode: meshes[0].primitives[0].material: material 3 out of range (0 materials)"},
		{"sampler out of range", []byte(minimal(fmt.Sprintf(`,"images":[{"uri":%q}],"textures":[{"source":0,"sampler":1}],"materials":[{"pbrMetallicRoughness":{"baseColorTexture":{"index":0}}}]`, png))), assets.ErrDecode,
			"assets: cannot decode: textures[0].sampler: sampler 1 out of range (0 samplers)"},
		{"second primitive fails late", []byte(strings.Replace(minimal(fmt.Sprintf(`,"images":[{"uri":%q},{"uri":"gone.png"}],"textures":[{"source":0},{"source":1}],
"materials":[{"pbrMetallicRoughness":{"baseColorTexture":{"index":0}}},{"pbrMetallicRoughness":{"baseColorTexture":{"index":1}}}]`, png)),
			`"indices":1,"material":0}`, `"indices":1,"material":0},{"attributes":{"POSITION":0},"material":1}`, 1)), assets.ErrNotFound, "images[1].uri: assets: not found: gone.png"},
	}
	before, assetsBefore := e.liveAllocations(), len(e.m.Assets())
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, err := e.m.AddBundle("neg-"+fmt.Sprint(len(e.m.Assets()))+c.name, fstest.MapFS{"f.gltf": {Data: c.file}})
			require.NoError(t, err)
			_, err = b.LoadScene(context.Background(), "f.gltf")
			require.ErrorIs(t, err, c.is)
			msg := err.Error()
			prefix := fmt.Sprintf("load %q: ", b.Name()+":f.gltf#scene")
			require.True(t, strings.HasPrefix(msg, prefix), msg)
			msg = loadChain.ReplaceAllString(msg, "") // the loads it was part of: scene, mesh, material, texture…
			require.Equal(t, c.says, msg)
			require.NotContains(t, err.Error(), payload[:16], "no payload echoed")
			require.NotContains(t, err.Error(), png[30:46], "no payload echoed")
			require.Empty(t, b.Assets(), "nothing cached")
		})
	}
	require.Equal(t, assetsBefore, len(e.m.Assets()), "nothing cached, samplers included")
	require.NoError(t, e.sync.Flush(context.Background())) // what was uploaded, then rolled back, retires
	require.Equal(t, before, e.liveAllocations(), "failed loads leave no allocation")
}

// TestGLTFGLBFaults: a GLB whose header or chunks are wrong is refused
// saying what is wrong with it, not with a JSON error or a bare EOF.
func TestGLTFGLBFaults(t *testing.T) {
	e := open(t, assets.Options{})
	js := strings.Replace(minimal(""), fmt.Sprintf(`"uri":%q,`, b64("application/gltf-buffer", quadBin)), "", 1)
	good := glb(js, quadBin)
	with := func(off int, v uint32) []byte {
		b := append([]byte{}, good...)
		binary.LittleEndian.PutUint32(b[off:], v)
		return b
	}
	jsonLen := binary.LittleEndian.Uint32(good[12:])
	for _, c := range []struct {
		name string
		file []byte
		says string
	}{
		{"short header", good[:6], "GLB: the header is 12 bytes, the file has 6"},
		{"version 1", with(4, 1), "GLB: version 1, only 2 is supported"},
		{"length", with(8, 100), fmt.Sprintf("GLB: the header's length is 100 bytes, the file has %d", len(good))},
		{"truncated", with(8, uint32(len(good)-10))[:len(good)-10], fmt.Sprintf("GLB: chunk 1: length %d, %d bytes are left", len(quadBin), len(quadBin)-10)},
		{"first chunk not JSON", with(16, 0x004E4942), "GLB: chunk 0: type 0x004E4942, want 0x4E4F534A (JSON)"},
		{"JSON chunk overruns", with(12, 1<<30), fmt.Sprintf("GLB: chunk 0: length 1073741824, %d bytes are left", len(good)-20)},
		{"no BIN chunk", glb(js, nil), "buffers[0]: no uri, and the GLB has no BIN chunk"},
		{"second chunk not BIN", with(20+int(jsonLen)+4, 0x4E4F534A), "GLB: chunk 1: type 0x4E4F534A, want 0x004E4942 (BIN)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			b, err := e.m.AddBundle("glb-"+strings.ReplaceAll(c.name, " ", "-"), fstest.MapFS{"f.glb": {Data: c.file}})
			require.NoError(t, err)
			_, err = b.LoadScene(context.Background(), "f.glb")
			require.ErrorIs(t, err, assets.ErrDecode)
			require.Equal(t, fmt.Sprintf("load %q: assets: cannot decode: %s", b.Name()+":f.glb#scene", c.says), err.Error())
			require.Empty(t, b.Assets())
		})
	}
}

// TestGLTFAccepted: what the issue found refused although valid now loads:
// an application/gltf-buffer data URI, extensions that are only used (not
// required), a "./" URI, a "../" URI that stays inside the bundle; and an
// image URI shares the keys of a direct load of the file.
func TestGLTFAccepted(t *testing.T) {
	e := open(t, assets.Options{})
	red := tinyPNG(t, color.RGBA{255, 0, 0, 255})
	fsys := fstest.MapFS{
		"scenes/a.gltf": {Data: []byte(minimal(`,"extensionsUsed":["KHR_materials_unlit","KHR_draco_mesh_compression"],"images":[{"uri":"./../red.png"}],"textures":[{"source":0}],
"materials":[{"pbrMetallicRoughness":{"baseColorTexture":{"index":0}},"extensions":{"KHR_materials_unlit":{}}}]`))},
		"red.png": {Data: red},
	}
	b, err := e.m.AddBundle("ok", fsys)
	require.NoError(t, err)
	s, err := b.LoadScene(context.Background(), "scenes/a.gltf")
	require.NoError(t, err)
	require.Equal(t, uint32(4), s.Meshes[0].IndexCount)
	tex := s.Meshes[0].Material.BaseTexture
	require.Equal(t, "ok:red.png#texture", tex.Key())
	direct, err := b.LoadTexture(context.Background(), "red.png")
	require.NoError(t, err)
	require.Same(t, tex, direct)

	// JSON Schema's integers, which glTF's schema uses, include 4.0 and
	// 4e0: the count loads as 4, and a float field keeps its value.
	fsys["b.gltf"] = &fstest.MapFile{Data: []byte(strings.Replace(strings.Replace(minimal(""), `"count":4,"type":"VEC3"`, `"count":4.0e0,"type":"VEC3"`, 1),
		`"nodes":[{"mesh":0}]`, `"nodes":[{"mesh":0,"scale":[2.0,0.5,1e0]}]`, 1))}
	s, err = b.LoadScene(context.Background(), "b.gltf")
	require.NoError(t, err)
	require.Equal(t, uint32(4), s.Meshes[0].VertexCount)
	require.Equal(t, [3]float64{2, 0.5, 1}, s.Nodes[0].Scale)
}
