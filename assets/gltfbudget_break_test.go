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
