package render_test

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"

	"github.com/vkassets/vkassets/assets"
	"github.com/vkassets/vkassets/framesync"
	"github.com/vkassets/vkassets/internal/render"
	"github.com/vkassets/vkassets/vk"
)

// modesGLTF is a glTF of one mesh with a primitive of each of glTF's seven
// modes, each in its own cell of a 4×2 grid over [-1, 1]² and in its own
// colour (a material's base colour factor).
func modesGLTF(t *testing.T) []byte {
	type prim struct {
		mode  int
		pts   [][2]float32
		color [4]float32
	}
	// Cell (cx, cy) spans [-1+cx/2, -0.5+cx/2] × [-1+cy, cy].
	cell := func(cx, cy int, pts ...[2]float32) [][2]float32 {
		out := make([][2]float32, len(pts))
		for i, p := range pts {
			out[i] = [2]float32{-1 + float32(cx)*0.5 + 0.05 + p[0]*0.4, -1 + float32(cy) + 0.1 + p[1]*0.8}
		}
		return out
	}
	prims := []prim{
		{0, cell(0, 1, [2]float32{0.2, 0.2}, [2]float32{0.8, 0.2}, [2]float32{0.5, 0.5}, [2]float32{0.2, 0.8}, [2]float32{0.8, 0.8}), [4]float32{1, 1, 1, 1}}, // POINTS
		{1, cell(1, 1, [2]float32{0, 0}, [2]float32{1, 1}, [2]float32{0, 1}, [2]float32{1, 0}), [4]float32{1, 0, 0, 1}},                                       // LINES: an X
		{2, cell(2, 1, [2]float32{0, 0}, [2]float32{1, 0}, [2]float32{0.5, 1}), [4]float32{0, 1, 0, 1}},                                                       // LINE_LOOP: a closed triangle
		{3, cell(3, 1, [2]float32{0, 0}, [2]float32{0.33, 1}, [2]float32{0.66, 0}, [2]float32{1, 1}), [4]float32{0, 0, 1, 1}},                                 // LINE_STRIP: a zigzag
		{4, cell(0, 0, [2]float32{0, 0}, [2]float32{1, 0}, [2]float32{0.5, 1}), [4]float32{1, 1, 0, 1}},                                                       // TRIANGLES
		{5, cell(1, 0, [2]float32{0, 0}, [2]float32{0, 1}, [2]float32{1, 0}, [2]float32{1, 1}), [4]float32{1, 0, 1, 1}},                                       // TRIANGLE_STRIP: a square
		{6, cell(2, 0, [2]float32{0.5, 0.5}, [2]float32{0.5, 0}, [2]float32{1, 0.5}, [2]float32{0.5, 1}, [2]float32{0, 0.5}), [4]float32{0, 1, 1, 1}},         // TRIANGLE_FAN: three quarters of a diamond
	}
	var bin []byte
	doc := map[string]any{"asset": map[string]any{"version": "2.0"}, "scene": 0,
		"scenes": []any{map[string]any{"nodes": []int{0}}}, "nodes": []any{map[string]any{"mesh": 0}}}
	var accessors, views, materials, gprims []any
	for i, p := range prims {
		off := len(bin)
		lo, hi := [3]float32{math.MaxFloat32, math.MaxFloat32, 0}, [3]float32{-math.MaxFloat32, -math.MaxFloat32, 0}
		for _, v := range p.pts {
			for _, f := range []float32{v[0], v[1], 0} {
				bin = binary.LittleEndian.AppendUint32(bin, math.Float32bits(f))
			}
			lo[0], lo[1], hi[0], hi[1] = min(lo[0], v[0]), min(lo[1], v[1]), max(hi[0], v[0]), max(hi[1], v[1])
		}
		views = append(views, map[string]any{"buffer": 0, "byteOffset": off, "byteLength": len(bin) - off})
		accessors = append(accessors, map[string]any{"bufferView": i, "componentType": 5126, "count": len(p.pts), "type": "VEC3", "min": lo, "max": hi})
		materials = append(materials, map[string]any{"pbrMetallicRoughness": map[string]any{"baseColorFactor": p.color}})
		gprims = append(gprims, map[string]any{"attributes": map[string]int{"POSITION": i}, "mode": p.mode, "material": i})
	}
	doc["buffers"] = []any{map[string]any{"byteLength": len(bin), "uri": "data:application/octet-stream;base64," + base64.StdEncoding.EncodeToString(bin)}}
	doc["bufferViews"], doc["accessors"], doc["materials"] = views, accessors, materials
	doc["meshes"] = []any{map[string]any{"primitives": gprims}}
	out, err := json.Marshal(doc)
	require.NoError(t, err)
	return out
}

// TestModesGolden draws a primitive of every glTF mode, each with the
// topology it was authored with (LINE_LOOP closed into a strip by the
// loader), and compares the picture with its golden image.
func TestModesGolden(t *testing.T) {
	st := newStack(t, 128)
	b, err := st.m.AddBundle("modes", fstest.MapFS{"modes.gltf": {Data: modesGLTF(t)}})
	require.NoError(t, err)
	scene, err := b.LoadScene(context.Background(), "modes.gltf")
	require.NoError(t, err)
	var topologies []vk.PrimitiveTopology
	for _, p := range scene.Meshes[0].Primitives {
		topologies = append(topologies, p.Topology)
	}
	require.Equal(t, []vk.PrimitiveTopology{vk.TopologyPointList, vk.TopologyLineList, vk.TopologyLineStrip, vk.TopologyLineStrip,
		vk.TopologyTriangleList, vk.TopologyTriangleStrip, vk.TopologyTriangleFan}, topologies)
	img := st.frame(t, func(f *framesync.Frame) error {
		return st.r.DrawScene(f, scene, render.Identity(), [4]float32{1, 1, 1, 1})
	})
	checkGolden(t, "modes", img)
}

// TestUnsupportedTopologyRefused: a primitive whose topology the renderer
// has no pipeline for is refused by name, and nothing of its mesh is
// drawn (the mesh is not even claimed).
func TestUnsupportedTopologyRefused(t *testing.T) {
	st := newStack(t, 16)
	mesh := &assets.Mesh{Primitives: []*assets.Primitive{{Topology: vk.TopologyTriangleList}, {Topology: 10}}}
	var drawErr error
	img := st.frame(t, func(f *framesync.Frame) error {
		drawErr = st.r.DrawMesh(f, mesh, render.Identity(), [4]float32{1, 1, 1, 1})
		return nil
	})
	require.ErrorContains(t, drawErr, "primitive 1: primitive topology 10 is not supported")
	for i := 0; i < len(img.Pix); i += 4 {
		require.Equal(t, []byte{25, 25, 38, 255}, img.Pix[i:i+4], "pixel %d: only the clear colour", i/4)
	}
}

// TestDrawsAllocateNothing: recording a mesh draw (every primitive, its
// descriptor set, push constants) and a sprite draw makes no Go allocation.
func TestDrawsAllocateNothing(t *testing.T) {
	st := newStack(t, 32)
	ctx := context.Background()
	b, err := st.m.AddBundle("khronos", os.DirFS(khronosDir))
	require.NoError(t, err)
	scene, err := b.LoadScene(ctx, "Box With Spaces/glTF/Box With Spaces.gltf")
	require.NoError(t, err)
	content, err := st.m.AddBundle("content", assets.SampleContent())
	require.NoError(t, err)
	sprite, err := content.LoadSpriteFrame(ctx, "checker.png")
	require.NoError(t, err)
	mesh, white := scene.Meshes[0], [4]float32{1, 1, 1, 1}
	mvp := render.Scale(0.5)
	var drawErr error
	st.frame(t, func(f *framesync.Frame) error {
		allocs := testing.AllocsPerRun(100, func() {
			if err := st.r.DrawMesh(f, mesh, mvp, white); err != nil {
				drawErr = err
			}
			if err := st.r.DrawSprite(f, sprite, 0, 0, 8, 8, white); err != nil {
				drawErr = err
			}
		})
		require.Zero(t, allocs, "a mesh and a sprite draw allocate")
		return drawErr
	})
}

// TestDrawSceneRefusesBadTrees: a root out of range and a node that is its
// own ancestor are refused by name, not walked for ever.
func TestDrawSceneRefusesBadTrees(t *testing.T) {
	st := newStack(t, 16)
	cyclic := &assets.Scene{Nodes: []assets.Node{{Children: []int{1}}, {Children: []int{0}}}, Roots: []int{0}}
	outside := &assets.Scene{Nodes: []assets.Node{{}}, Roots: []int{0, 3}}
	var errs [2]error
	st.frame(t, func(f *framesync.Frame) error {
		errs[0] = st.r.DrawScene(f, cyclic, render.Identity(), [4]float32{1, 1, 1, 1})
		errs[1] = st.r.DrawScene(f, outside, render.Identity(), [4]float32{1, 1, 1, 1})
		return nil
	})
	require.ErrorContains(t, errs[0], "nodes[1].children: node 0 is its own ancestor")
	require.ErrorContains(t, errs[1], "scene roots: node 3 out of range (1 nodes)")
}
