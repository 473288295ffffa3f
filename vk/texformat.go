package vk

// Texture formats beyond RGBA8 that vkassets uploads (KTX2 payloads).
const (
	FormatR8Unorm            Format = 9
	FormatR8G8Unorm          Format = 16
	FormatR16G16B16A16Sfloat Format = 97

	// The BC block-compressed formats (4×4 texel blocks); sampling them
	// needs the textureCompressionBC feature (Device.TextureCompressionBC).
	FormatBC1RGBUnormBlock  Format = 131
	FormatBC1RGBSrgbBlock   Format = 132
	FormatBC1RGBAUnormBlock Format = 133
	FormatBC1RGBASrgbBlock  Format = 134
	FormatBC2UnormBlock     Format = 135
	FormatBC2SrgbBlock      Format = 136
	FormatBC3UnormBlock     Format = 137
	FormatBC3SrgbBlock      Format = 138
	FormatBC4UnormBlock     Format = 139
	FormatBC4SnormBlock     Format = 140
	FormatBC5UnormBlock     Format = 141
	FormatBC5SnormBlock     Format = 142
	FormatBC6HUfloatBlock   Format = 143
	FormatBC6HSfloatBlock   Format = 144
	FormatBC7UnormBlock     Format = 145
	FormatBC7SrgbBlock      Format = 146
)

// IsBC reports whether f is one of the BC block-compressed formats.
func (f Format) IsBC() bool { return f >= FormatBC1RGBUnormBlock && f <= FormatBC7SrgbBlock }
