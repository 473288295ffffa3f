package vk_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkassets/vkassets/vk"
	"github.com/vkassets/vkassets/vk/vktest"
)

// TestTextureCompressionBC: a device that offers textureCompressionBC
// (lavapipe does) is created with it, and BC formats can then be sampled;
// DisableTextureCompressionBC creates it without.
func TestTextureCompressionBC(t *testing.T) {
	d := vktest.Open(t)
	require.True(t, d.Physical().Features.TextureCompressionBC, "lavapipe offers textureCompressionBC")
	require.True(t, d.TextureCompressionBC())
	for f := vk.FormatBC1RGBUnormBlock; f <= vk.FormatBC7SrgbBlock; f++ {
		require.True(t, f.IsBC())
		p := d.FormatProperties(f).Optimal
		require.True(t, p.Has(vk.FormatFeatureSampledImage), "%d: %v", f, p)
		t.Logf("format %d: %v", f, p)
	}
	require.False(t, vk.FormatR8G8B8A8Srgb.IsBC())
	off := vktest.OpenWith(t, vktest.Options{DisableTextureCompressionBC: true})
	require.False(t, off.TextureCompressionBC())
}
