package assets_test

import (
	"context"
	"fmt"
	"image/color"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"

	"github.com/vkassets/vkassets/assets"
)

// TestGLTFHostileRefusals: files a hostile author writes to crash the
// loader (offsets that wrap sums around, a null image under
// KHR_texture_basisu) or to have it guess (enumerations and arrays the
// library would map silently) are refused with an error naming the JSON
// path; nothing is cached or left allocated.
func TestGLTFHostileRefusals(t *testing.T) {
	e := open(t, assets.Options{})
	png := b64("image/png", tinyPNG(t, color.RGBA{1, 2, 3, 255}))
	textured := func(sampler, material string) string {
		return minimal(fmt.Sprintf(`,"images":[{"uri":%q}],"samplers":[%s],"textures":[{"source":0,"sampler":0}],"materials":[%s]`, png, sampler, material))
	}
	const baseColor = `{"pbrMetallicRoughness":{"baseColorTexture":{"index":0}}}`
	const huge = "9223372036854775800"
	cases := []struct {
		name string
		file string
		is   error
		says string
	}{
		{"bufferView offset wraps", strings.Replace(minimal(""), `{"buffer":0,"byteLength":48}`, `{"buffer":0,"byteOffset":`+huge+`,"byteLength":48}`, 1), assets.ErrDecode,
			"assets: cannot decode: meshes[0].primitives[0].attributes.POSITION: accessors[0]: bufferViews[0] ends at byte 9223372036854775848, buffers[0] holds 64"},
		{"accessor offset wraps", strings.Replace(minimal(""), `"bufferView":0,"componentType":5126`, `"bufferView":0,"byteOffset":`+huge+`,"componentType":5126`, 1), assets.ErrDecode,
			"assets: cannot decode: meshes[0].primitives[0].attributes.POSITION: accessors[0]: count 4 of 12 bytes (stride 12) from byteOffset " + huge + " needs 9223372036854775848 bytes, bufferViews[0] has 48"},
		{"sparse indices offset wraps", strings.Replace(minimal(""), `{"bufferView":0,"componentType":5126,"count":4,"type":"VEC3"}`,
			`{"bufferView":0,"componentType":5126,"count":4,"type":"VEC3","sparse":{"count":1,"indices":{"bufferView":1,"byteOffset":9223372036854775806,"componentType":5125},"values":{"bufferView":0}}}`, 1), assets.ErrDecode,
			"assets: cannot decode: meshes[0].primitives[0].attributes.POSITION: accessors[0].sparse.indices: 1 indices of 4 bytes from byteOffset 9223372036854775806 needs 9223372036854775810 bytes, bufferViews[1] has 16"},
		{"count wraps", strings.Replace(minimal(""), `"count":4,"type":"VEC3"`, `"count":9223372036854775807,"type":"VEC3"`, 1), assets.ErrTooLarge,
			"assets: too large: meshes[0].primitives[0].attributes.POSITION: accessors[0]: count 9223372036854775807 decodes to more than 2⁶⁴ bytes, the limit is 268435456 (Options.MaxImageBytes)"},
		{"basisu source null", minimal(`,"extensionsUsed":["KHR_texture_basisu"],"images":[null],"textures":[{"extensions":{"KHR_texture_basisu":{"source":0}}}],"materials":[` + baseColor + `]`), assets.ErrDecode,
			"assets: cannot decode: textures[0].extensions.KHR_texture_basisu.source: no such image (1 images)"},
		{"wrapS unknown", textured(`{"wrapS":12345}`, baseColor), assets.ErrDecode, "assets: cannot decode: samplers[0].wrapS: 12345 is not a glTF wrapS"},
		{"magFilter unknown", textured(`{"magFilter":9984}`, baseColor), assets.ErrDecode, "assets: cannot decode: samplers[0].magFilter: 9984 is not a glTF magFilter"},
		{"minFilter unknown", textured(`{"minFilter":7}`, baseColor), assets.ErrDecode, "assets: cannot decode: samplers[0].minFilter: 7 is not a glTF minFilter"},
		{"alphaMode unknown", minimal(`,"materials":[{"alphaMode":"ADDITIVE"}]`), assets.ErrDecode, `assets: cannot decode: materials[0].alphaMode: "ADDITIVE" is not OPAQUE, MASK or BLEND`},
		{"matrix short", strings.Replace(minimal(""), `"nodes":[{"mesh":0}]`, `"nodes":[{"mesh":0,"matrix":[1,0,0,0,0,1]}]`, 1), assets.ErrDecode,
			"assets: cannot decode: nodes[0].matrix: 6 numbers, not 16"},
		{"rotation long", strings.Replace(minimal(""), `"nodes":[{"mesh":0}]`, `"nodes":[{"mesh":0,"rotation":[0,0,0,1,5]}]`, 1), assets.ErrDecode,
			"assets: cannot decode: nodes[0].rotation: 5 numbers, not 4"},
		{"NUL in a URI", minimal(`,"images":[{"uri":"x%00.png"}],"textures":[{"source":0}],"materials":[` + baseColor + `]`), assets.ErrDecode,
			`assets: cannot decode: images[0].uri "x%00.png": a control character in the path`},
	}
	before, assetsBefore := e.liveAllocations(), len(e.m.Assets())
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, err := e.m.AddBundle("hostile-"+strings.ReplaceAll(c.name, " ", "-"), fstest.MapFS{"f.gltf": {Data: []byte(c.file)}})
			require.NoError(t, err)
			_, err = b.LoadScene(context.Background(), "f.gltf")
			require.ErrorIs(t, err, c.is)
			require.Equal(t, c.says, loadChain.ReplaceAllString(err.Error(), ""))
			require.Empty(t, b.Assets(), "nothing cached")
		})
	}
	require.Equal(t, assetsBefore, len(e.m.Assets()), "nothing cached, samplers included")
	require.NoError(t, e.sync.Flush(context.Background()))
	require.Equal(t, before, e.liveAllocations(), "failed loads leave no allocation")
}
