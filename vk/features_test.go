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

// TestOptionalFeatures: a device opened without optional features refuses
// the calls and chains that need them (no validation error: they never
// reach the driver); one opened with bufferDeviceAddress reports it, binds
// a shader-device-address buffer to memory allocated with the flag
// (validation on) and gives it a non-zero address.
func TestOptionalFeatures(t *testing.T) {
	plain := vktest.Open(t)
	require.Equal(t, vk.Features{}, plain.Features())
	require.Equal(t, "none", plain.Features().String())
	require.Equal(t, "bufferDeviceAddress|pageableDeviceLocalMemory", vk.Features{BufferDeviceAddress: true, PageableDeviceLocalMemory: true}.String())
	_, err := plain.AllocateMemory(vk.MemoryAllocateInfo{Size: 4096, DeviceAddress: true})
	require.ErrorIs(t, err, vk.ErrFeatureNotPresent)
	_, err = plain.AllocateMemory(vk.MemoryAllocateInfo{Size: 4096, WithPriority: true, Priority: 0.5})
	require.ErrorIs(t, err, vk.ErrFeatureNotPresent)
	_, err = plain.BufferDeviceAddress(1)
	require.ErrorIs(t, err, vk.ErrFeatureNotPresent)
	require.ErrorIs(t, plain.SetMemoryPriority(1, 0.5), vk.ErrFeatureNotPresent)

	d := vktest.OpenWith(t, vktest.Options{Features: vk.Features{BufferDeviceAddress: true}})
	require.Equal(t, vk.Features{BufferDeviceAddress: true}, d.Features())
	b, err := d.CreateBuffer(4096, vk.BufferUsageShaderDeviceAddress|vk.BufferUsageStorage)
	require.NoError(t, err)
	req := d.BufferRequirements(b)
	m, err := d.AllocateMemory(vk.MemoryAllocateInfo{Size: req.Size, TypeIndex: hostMemoryType(t, d, req.TypeBits), DeviceAddress: true})
	require.NoError(t, err)
	require.NoError(t, d.BindBufferMemory(b, m, 0))
	addr, err := d.BufferDeviceAddress(b)
	require.NoError(t, err)
	require.NotZero(t, addr)
	d.DestroyBuffer(b)
	d.FreeMemory(m)
	d.Close()
	_, err = d.BufferDeviceAddress(b)
	require.ErrorIs(t, err, vk.ErrClosed)
}
