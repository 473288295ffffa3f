package vk_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkassets/vkassets/vk"
	"github.com/vkassets/vkassets/vk/vktest"
)

// TestFormatPropertiesForMips: the features the texture path relies on
// are reported for the RGBA8 formats (lavapipe has them all); a format the
// device does not know reports none, and a closed device nothing.
func TestFormatPropertiesForMips(t *testing.T) {
	d := vktest.Open(t)
	for _, f := range []vk.Format{vk.FormatR8G8B8A8Srgb, vk.FormatR8G8B8A8Unorm} {
		p := d.FormatProperties(f)
		want := vk.FormatFeaturesMipBlit | vk.FormatFeatureSampledImage | vk.FormatFeatureTransferSrc | vk.FormatFeatureTransferDst
		require.True(t, p.Optimal.Has(want), "format %d optimal tiling: %v, want %v", f, p.Optimal, want)
	}
	require.True(t, d.FormatProperties(vk.FormatD32Sfloat).Optimal.Has(vk.FormatFeatureDepthStencilAttachment))
	require.False(t, d.FormatProperties(vk.FormatD32Sfloat).Optimal.Has(vk.FormatFeatureColorAttachment))
	require.Zero(t, d.FormatProperties(vk.Format(0)), "VK_FORMAT_UNDEFINED")
	require.Equal(t, "BLIT_SRC|BLIT_DST|SAMPLED_IMAGE_FILTER_LINEAR", vk.FormatFeaturesMipBlit.String())
}

func TestMipLevels(t *testing.T) {
	for _, c := range []struct{ w, h, n uint32 }{{1, 1, 1}, {2, 2, 2}, {2, 1, 2}, {3, 3, 2}, {4, 4, 3}, {5, 3, 3}, {4096, 4096, 13}, {4096, 1, 13}, {1, 4095, 12}} {
		require.Equal(t, c.n, vk.MipLevels(c.w, c.h), "%dx%d", c.w, c.h)
	}
}
