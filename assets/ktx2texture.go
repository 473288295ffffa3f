package assets

import (
	"context"
	"fmt"

	"github.com/vkassets/vkassets/alloc"
	"github.com/vkassets/vkassets/framesync"
	"github.com/vkassets/vkassets/vk"
)

// loadKTX2 makes a Texture2D from a KTX2 file (see newKTX2Texture); it
// runs inside the texture's load, under its key.
func (m *Manager) loadKTX2(ctx context.Context, name string, opts TextureOptions, read func(context.Context) ([]byte, error)) (*Texture2D, error) {
	data, err := read(ctx)
	if err != nil {
		return nil, err
	}
	return m.newKTX2Texture(ctx, data, name, opts)
}

// newKTX2Texture uploads a KTX2 file's levels as they are, in the file's
// vkFormat (sRGB or UNORM as the file says; TextureOptions.Linear does not
// apply). It depends on no ImageAsset: there are no RGBA8 pixels to keep.
//
// The file's own levels are used; NoMips keeps level 0 alone. A file of
// one uncompressed level (or levelCount 0, which asks for it) gets a full
// chain made as for PNG — by blits where the format allows, on the CPU for
// RGBA8 otherwise — unless NoMips; a block-compressed file of one level
// stays one level.
//
// Everything is checked from the header first: the container, the device's
// support for the format, the limits; then the load is admitted against
// the budget, and ctx is checked between levels and before the upload.
func (m *Manager) newKTX2Texture(ctx context.Context, data []byte, name string, opts TextureOptions) (*Texture2D, error) {
	f, err := parseKTX2(data, m.dev.Physical().Limits.MaxImageDimension2D, m.opts.MaxImageBytes)
	if err != nil {
		return nil, fmt.Errorf("texture %q: %w", name, err)
	}
	if err := m.ktx2Supported(f); err != nil {
		return nil, fmt.Errorf("texture %q: %w", name, err)
	}
	levels := f.levels
	if opts.NoMips {
		levels = levels[:1]
	}
	count, gen := uint32(len(levels)), false
	if len(levels) == 1 && !opts.NoMips && f.info.block == 1 && m.upload.canMip(f.format) {
		count = vk.MipLevels(f.width, f.height)
		gen = count > 1
	}
	// Where each level goes in the staging copy: 16-byte aligned, a
	// multiple of every texel block's size.
	regions := make([]vk.BufferImageCopy, len(levels))
	var size uint64
	for i, l := range levels {
		regions[i] = vk.BufferImageCopy{BufferOffset: size, MipLevel: uint32(i), Width: l.width, Height: l.height}
		size = (size + l.size + 15) &^ 15
	}
	admitted := size
	if gen { // the chain's levels below the first: a third more, at most
		admitted += size / 3
	}
	done, err := m.admit(name, int64(2*admitted))
	if err != nil {
		return nil, err
	}
	defer done()
	dec, err := f.decoder()
	if err != nil {
		return nil, fmt.Errorf("texture %q: %w", name, err)
	}
	if dec != nil {
		defer dec.Close()
	}
	texels := make([]byte, size)
	for i, r := range regions {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := f.levelInto(texels[r.BufferOffset:r.BufferOffset+levels[i].size], data, i, dec); err != nil {
			return nil, fmt.Errorf("texture %q: %w", name, err)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return m.uploadKTX2(f, texels[:levels[0].size], texels, regions, count, gen, name)
}

// ktx2Supported refuses a format the device cannot sample.
func (m *Manager) ktx2Supported(f *ktx2File) error {
	if f.format.IsBC() && !m.dev.TextureCompressionBC() {
		return fmt.Errorf("%w: KTX2: %s needs the textureCompressionBC feature, which device %q was created without",
			ErrUnsupported, f.info.name, m.dev.Physical().Name)
	}
	const need = vk.FormatFeatureSampledImage | vk.FormatFeatureTransferDst
	if p := m.dev.FormatProperties(f.format).Optimal; !p.Has(need) {
		return fmt.Errorf("%w: KTX2: device %q cannot sample or upload %s (optimal tiling: %v)", ErrUnsupported, m.dev.Physical().Name, f.info.name, p)
	}
	return nil
}

// uploadKTX2 makes the image and its view, and uploads the levels (or
// level 0 and a chain of count levels made from it, when gen).
func (m *Manager) uploadKTX2(f *ktx2File, level0, texels []byte, regions []vk.BufferImageCopy, count uint32, gen bool, name string) (*Texture2D, error) {
	t := &Texture2D{Width: f.width, Height: f.height, Format: f.format, MipLevels: count,
		usage: vk.ImageUsageSampled | vk.ImageUsageTransferDst | vk.ImageUsageTransferSrc}
	// The texture is the allocation's user data: a defragmentation finds
	// the asset to move by it.
	img, mem, err := m.alloc.CreateImage(t.info(), alloc.AllocationOptions{Usage: alloc.UsageGPUOnly, Name: name, UserData: t,
		QueueFamilies: m.upload.families()})
	if err != nil {
		return nil, fmt.Errorf("texture %q: %w", name, err)
	}
	view, err := m.dev.CreateImageView(img, t.Format, vk.AspectColor, count)
	if err != nil {
		_ = m.alloc.DestroyImage(img, mem)
		return nil, fmt.Errorf("texture %q: %w", name, err)
	}
	var serial framesync.Serial
	if gen && (f.format == vk.FormatR8G8B8A8Srgb || f.format == vk.FormatR8G8B8A8Unorm) {
		serial, err = m.upload.image(img, f.format, f.width, f.height, count, level0, name)
	} else {
		serial, err = m.upload.levels(img, f.width, f.height, count, texels, regions, gen, name)
	}
	if err != nil {
		m.dev.DestroyImageView(view)
		_ = m.alloc.DestroyImage(img, mem)
		return nil, fmt.Errorf("texture %q: %w", name, err)
	}
	t.gpu.cur.Store(&gpuState{image: img, view: view, mem: mem, size: mem.Size, ready: serial})
	_ = m.dev.SetName(vk.ObjectImage, uint64(img), name)
	if err := m.newBase(&t.Base, "texture", name, t); err != nil {
		_, _ = m.deferObjects(serial, t, t.GPUObjects(), func(skip int) error { return t.gpu.state().destroyNow(m, skip) })
		return nil, err
	}
	t.claim(uint64(serial)) // not destroyed before its upload has run
	return t, nil
}

// canMip reports whether a chain can be made for format: RGBA8 always (by
// blits or on the CPU), others where the device blits them linearly.
func (u *uploader) canMip(format vk.Format) bool {
	if format == vk.FormatR8G8B8A8Srgb || format == vk.FormatR8G8B8A8Unorm {
		return true
	}
	return !u.cpuMips && u.m.dev.FormatProperties(format).Optimal.Has(vk.FormatFeaturesMipBlit)
}

// levels uploads data to img (undefined layout, count levels) by the
// copies in regions, then, when blit, makes levels 1… from level 0 by
// linear blits, and leaves every level in the shader-read layout.
func (u *uploader) levels(img vk.Image, width, height, count uint32, data []byte, regions []vk.BufferImageCopy, blit bool, name string) (framesync.Serial, error) {
	src, mem, err := u.staging(data, name)
	if err != nil {
		return 0, err
	}
	return u.imageCopies(src, mem, img, width, height, count, regions, blit)
}
