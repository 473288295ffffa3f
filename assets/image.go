package assets

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/draw"
	_ "image/jpeg" // JPEG decoding
	_ "image/png"  // PNG decoding
	"sync"
)

// ImageAsset is decoded pixels in CPU memory (RGBA8). A Texture2D made from
// it depends on it; after the upload its pixels are dropped unless
// Options.KeepPixels is set.
type ImageAsset struct {
	Base
	Width, Height uint32

	mu     sync.Mutex // guards pixels
	pixels []byte     // tightly packed RGBA8, nil once dropped
}

// Pixels returns the RGBA8 pixels, or nil once dropped after upload.
func (im *ImageAsset) Pixels() []byte {
	im.mu.Lock()
	defer im.mu.Unlock()
	return im.pixels
}

func (im *ImageAsset) dropPixels() {
	im.mu.Lock()
	im.pixels = nil
	im.mu.Unlock()
}

// decodeImage decodes PNG or JPEG bytes to an ImageAsset, within the
// device's maximum dimension and Options.MaxImageBytes, stopping when ctx
// is done.
func (m *Manager) decodeImage(ctx context.Context, data []byte, name string) (*ImageAsset, error) {
	if isKTX2(data) {
		return nil, fmt.Errorf("image %q: %w", name, errKTX2Content)
	}
	w, h, pix, err := decodeRGBA(ctx, data, int(m.dev.Physical().Limits.MaxImageDimension2D), m.opts.MaxImageBytes)
	if err != nil {
		return nil, err
	}
	im := &ImageAsset{Width: uint32(w), Height: uint32(h), pixels: pix}
	if err := m.newBase(&im.Base, "image", name, nil); err != nil {
		return nil, err
	}
	return im, nil
}

// decodeRGBA decodes PNG or JPEG bytes to tightly packed RGBA8, checking
// each side against limit and the RGBA8 size against maxBytes from the
// header, before decoding the pixels; a done ctx stops the decode.
func decodeRGBA(ctx context.Context, data []byte, limit int, maxBytes int64) (w, h int, pix []byte, err error) {
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return 0, 0, nil, fmt.Errorf("%w: %v", ErrDecode, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width > limit || cfg.Height > limit {
		return 0, 0, nil, fmt.Errorf("%w: %s image %dx%d, the device allows %d", ErrTooLarge, format, cfg.Width, cfg.Height, limit)
	}
	if size := int64(cfg.Width) * int64(cfg.Height) * 4; size > maxBytes {
		return 0, 0, nil, fmt.Errorf("%w: %s image %dx%d decodes to %d bytes of RGBA8, the limit is %d (Options.MaxImageBytes)",
			ErrTooLarge, format, cfg.Width, cfg.Height, size, maxBytes)
	}
	src, _, err := image.Decode(ctxReader{ctx: ctx, r: bytes.NewReader(data)})
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return 0, 0, nil, cerr
		}
		return 0, 0, nil, fmt.Errorf("%w: %v", ErrDecode, err)
	}
	if b := src.Bounds(); b.Dx() != cfg.Width || b.Dy() != cfg.Height {
		return 0, 0, nil, fmt.Errorf("%w: header says %dx%d, pixels are %dx%d", ErrDecode, cfg.Width, cfg.Height, b.Dx(), b.Dy())
	}
	rgba, ok := src.(*image.RGBA)
	if !ok || rgba.Stride != 4*rgba.Rect.Dx() || rgba.Rect.Min != (image.Point{}) {
		rgba = image.NewRGBA(image.Rect(0, 0, cfg.Width, cfg.Height))
		// In bands, so that a cancelled load stops converting too.
		const band = 256
		for y := 0; y < cfg.Height; y += band {
			if err := ctx.Err(); err != nil {
				return 0, 0, nil, err
			}
			r := image.Rect(0, y, cfg.Width, min(y+band, cfg.Height))
			draw.Draw(rgba, r, src, src.Bounds().Min.Add(r.Min), draw.Src)
		}
	}
	return cfg.Width, cfg.Height, rgba.Pix, nil
}

// NewImage makes an ImageAsset from pixels at run time (RGBA8, tightly
// packed). It gets an ID and is cached by it, with no key, and comes with
// one reference, the caller's (DecRef it when done).
func (m *Manager) NewImage(name string, width, height uint32, pixels []byte) (*ImageAsset, error) {
	if width == 0 || height == 0 || len(pixels) != int(width*height*4) {
		return nil, fmt.Errorf("new image %q: %dx%d needs %d bytes of RGBA8, got %d", name, width, height, width*height*4, len(pixels))
	}
	im := &ImageAsset{Width: width, Height: height, pixels: append([]byte(nil), pixels...)}
	if err := m.newBase(&im.Base, "image", name, nil); err != nil {
		return nil, err
	}
	if err := m.adopt(im); err != nil {
		return nil, err
	}
	return im, nil
}
