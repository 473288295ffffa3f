package assets_test

import (
	"context"
	"fmt"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"

	"github.com/vkassets/vkassets/assets"
)

// hostileGLTF is a one-mesh glTF over a 100-byte buffer file, with the
// accessors and buffer views given.
func hostileGLTF(accessors, views string) fstest.MapFS {
	doc := fmt.Sprintf(`{"asset":{"version":"2.0"},
"buffers":[{"uri":"data.bin","byteLength":100}],
"bufferViews":%s,
"accessors":%s,
"meshes":[{"primitives":[{"attributes":{"POSITION":0}}]}],
"nodes":[{"mesh":0}],"scenes":[{"nodes":[0]}],"scene":0}`, views, accessors)
	return fstest.MapFS{"s.gltf": {Data: []byte(doc)}, "data.bin": {Data: make([]byte, 100)}}
}

// TestGLTFBoundsCheckedFirst: accessors and buffer views that reach past
// their data, or decode to more than the limit, are refused before anything
// is read or allocated for them, naming the JSON path; nothing is cached.
func TestGLTFBoundsCheckedFirst(t *testing.T) {
	e := open(t, assets.Options{})
	for _, c := range []struct {
		name, accessors, views string
		is                     error
		says                   string
	}{
		{"huge count", `[{"bufferView":0,"componentType":5126,"count":200000000,"type":"VEC3"}]`,
			`[{"buffer":0,"byteLength":100}]`, assets.ErrTooLarge,
			"meshes[0].primitives[0].attributes.POSITION: accessors[0]: count 200000000 decodes to 2400000000 bytes"},
		{"past the view", `[{"bufferView":0,"componentType":5126,"count":10,"type":"VEC3"}]`,
			`[{"buffer":0,"byteLength":100}]`, assets.ErrDecode,
			"accessors[0]: count 10 of 12 bytes (stride 12) from byteOffset 0 needs 120 bytes, bufferViews[0] has 100"},
		{"view past the buffer", `[{"bufferView":0,"componentType":5126,"count":2,"type":"VEC3"}]`,
			`[{"buffer":0,"byteOffset":80,"byteLength":24}]`, assets.ErrDecode,
			"bufferViews[0] ends at byte 104, buffers[0] holds 100"},
		{"no such accessor", `[]`, `[]`, assets.ErrDecode,
			"meshes[0].primitives[0].attributes.POSITION: accessor 0 out of range (0 accessors)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			b, err := e.m.AddBundle(c.name, hostileGLTF(c.accessors, c.views))
			require.NoError(t, err)
			_, err = b.LoadScene(context.Background(), "s.gltf")
			require.ErrorIs(t, err, c.is)
			require.Contains(t, err.Error(), c.says)
			require.Empty(t, b.Assets(), "nothing cached")
		})
	}
}
