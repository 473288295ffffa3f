package assets_test

import (
	"context"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"

	"github.com/vkassets/vkassets/assets"
)

// TestKTX2GLTFTransferMismatch: a KHR_texture_basisu KTX2 image whose
// transfer function is not its slot's (a UNORM file as base colour, an
// sRGB file as a normal map) was loaded and sampled wrong without a word;
// it is refused naming the slot, and nothing stays cached.
func TestKTX2GLTFTransferMismatch(t *testing.T) {
	quadBin, err := fs.ReadFile(content, "scenes/quad.bin")
	require.NoError(t, err)
	png, err := fs.ReadFile(content, "scenes/quad_albedo.png")
	require.NoError(t, err)
	unorm := ktxFile(ktxRGBA8, 8, 8, randomLevels(ktxRGBA8, 8, 8, 4, 3), false).Bytes()
	srgb := ktxFile(ktxBC7, 8, 8, randomLevels(ktxBC7, 8, 8, 4, 3), false).Bytes()
	asNormal := strings.Replace(basisuScene(len(srgb), false), `"materials":[{"pbrMetallicRoughness":{"baseColorTexture":{"index":0}}}]`,
		`"materials":[{"normalTexture":{"index":0}}]`, 1)
	for _, c := range []struct {
		name, scene string
		ktx         []byte
		says        string
	}{
		{"UNORM base colour", basisuScene(len(unorm), false), unorm,
			"materials[0].pbrMetallicRoughness.baseColorTexture.index: texture 0 is R8G8B8A8_UNORM, not sRGB, and this slot holds colour"},
		{"sRGB normal map", asNormal, srgb,
			"materials[0].normalTexture.index: texture 0 is BC7_SRGB_BLOCK, not linear, and this slot holds data"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := open(t, assets.Options{})
			b, err := e.m.AddBundle("mismatch", fstest.MapFS{"s.gltf": {Data: []byte(c.scene)}, "quad.bin": {Data: quadBin},
				"quad_albedo.png": {Data: png}, "tex.ktx2": {Data: c.ktx}})
			require.NoError(t, err)
			_, err = b.LoadScene(context.Background(), "s.gltf")
			require.ErrorIs(t, err, assets.ErrDecode)
			require.Equal(t, "assets: cannot decode: "+c.says, loadChain.ReplaceAllString(err.Error(), ""))
			require.Empty(t, e.m.Assets(), "nothing cached")
			require.NoError(t, e.sync.Flush(context.Background()))
			require.Zero(t, e.liveAllocations())
		})
	}
}
