package assets_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"

	"github.com/vkassets/vkassets/assets"
)

// TestGLTFGeometryAdmitted: a primitive's buffers are admitted against
// Options.LoadBudget like textures: a few hundred bytes of glTF whose
// accessor has no bufferView (zeros, as many as its count says) cannot
// take device memory past the budget.
func TestGLTFGeometryAdmitted(t *testing.T) {
	e := open(t, assets.Options{LoadBudget: 64 << 20})
	// 1,000,000 zero vertices: 72 MB of Vertex, refused by a 64 MiB budget.
	file := strings.Replace(minimal(""), `{"bufferView":0,"componentType":5126,"count":4,"type":"VEC3"}`, `{"componentType":5126,"count":1000000,"type":"VEC3"}`, 1)
	b, err := e.m.AddBundle("zeros", fstest.MapFS{"f.gltf": {Data: []byte(file)}})
	require.NoError(t, err)
	_, err = b.LoadScene(context.Background(), "f.gltf")
	require.ErrorIs(t, err, assets.ErrOverBudget)
	require.ErrorContains(t, err, fmt.Sprintf(`"zeros:f.gltf#mesh/0/0/vertices" needs %d bytes`, 2*1000000*assets.VertexStride))
	require.Empty(t, b.Assets(), "nothing cached")
	require.NoError(t, e.sync.Flush(context.Background()))
	require.Zero(t, e.liveAllocations())
}

// zeroBomb is a glTF of a few hundred bytes: meshes of one primitive
// each, whose POSITION and indices accessors have no bufferView (zeros)
// and the largest counts Options.MaxImageBytes' default lets through
// (2,796,202 vertices of 96 bytes with skinning; 67,108,864 indices).
func zeroBomb(meshes int) string {
	var ms, ns, roots []string
	for i := range meshes {
		ms = append(ms, `{"primitives":[{"attributes":{"POSITION":0},"indices":1}]}`)
		ns = append(ns, fmt.Sprintf(`{"mesh":%d}`, i))
		roots = append(roots, fmt.Sprint(i))
	}
	return fmt.Sprintf(`{"asset":{"version":"2.0"},"accessors":[{"componentType":5126,"count":2796202,"type":"VEC3"},{"componentType":5125,"count":67108864,"type":"SCALAR"}],
"meshes":[%s],"nodes":[%s],"scenes":[{"nodes":[%s]}]}`, strings.Join(ms, ","), strings.Join(ns, ","), strings.Join(roots, ","))
}

// TestGLTFZeroAccessorBomb: 8 such meshes (each 201 MB of vertices and
// 268 MB of indices once uploaded, from a 771-byte file) are refused by
// admission once the budget is spent, naming the buffer, with nothing
// left cached or allocated. Before admission covered geometry the file
// loaded whole: 3.8 GB of buffers on lavapipe's 2 GiB heap.
func TestGLTFZeroAccessorBomb(t *testing.T) {
	e := open(t, assets.Options{LoadBudget: 512 << 20})
	b, err := e.m.AddBundle("bomb", fstest.MapFS{"f.gltf": {Data: []byte(zeroBomb(8))}})
	require.NoError(t, err)
	_, err = b.LoadScene(context.Background(), "f.gltf")
	require.ErrorIs(t, err, assets.ErrOverBudget)
	require.ErrorContains(t, err, `"bomb:f.gltf#mesh/0/0/indices" needs 536870912 bytes`)
	require.Empty(t, e.m.Assets())
	require.NoError(t, e.sync.Flush(context.Background()))
	require.Zero(t, e.liveAllocations())
}
