package assets_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"runtime"
	"testing"
	"testing/fstest"

	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/require"

	"github.com/vkassets/vkassets/alloc"
	"github.com/vkassets/vkassets/assets"
	"github.com/vkassets/vkassets/assets/internal/ktx2write"
	"github.com/vkassets/vkassets/vk"
	"github.com/vkassets/vkassets/vk/vktest"
)

// ktxFormat is the test's own description of a KTX2 payload format.
type ktxFormat struct {
	name       string
	vk         vk.Format
	block      uint32 // 1 or 4
	blockBytes uint32
	typeSize   uint32
	model      uint8
	srgb       bool
	channels   int
	float      bool
}

var (
	ktxR8      = ktxFormat{"R8_UNORM", vk.FormatR8Unorm, 1, 1, 1, 1, false, 1, false}
	ktxRG8     = ktxFormat{"R8G8_UNORM", vk.FormatR8G8Unorm, 1, 2, 1, 1, false, 2, false}
	ktxRGBA8   = ktxFormat{"R8G8B8A8_UNORM", vk.FormatR8G8B8A8Unorm, 1, 4, 1, 1, false, 4, false}
	ktxSRGBA8  = ktxFormat{"R8G8B8A8_SRGB", vk.FormatR8G8B8A8Srgb, 1, 4, 1, 1, true, 4, false}
	ktxRGBA16F = ktxFormat{"R16G16B16A16_SFLOAT", vk.FormatR16G16B16A16Sfloat, 1, 8, 2, 1, false, 4, true}
	ktxBC1     = ktxFormat{"BC1_RGBA_UNORM", vk.FormatBC1RGBAUnormBlock, 4, 8, 1, 128, false, 1, false}
	ktxBC1RGB  = ktxFormat{"BC1_RGB_SRGB", vk.FormatBC1RGBSrgbBlock, 4, 8, 1, 128, true, 1, false}
	ktxBC7     = ktxFormat{"BC7_SRGB", vk.FormatBC7SrgbBlock, 4, 16, 1, 134, true, 1, false}
)

func (f ktxFormat) levelSize(w, h uint32) int {
	return int((w+f.block-1)/f.block) * int((h+f.block-1)/f.block) * int(f.blockBytes)
}

func (f ktxFormat) dfd() []byte {
	transfer := uint8(1)
	if f.srgb {
		transfer = 2
	}
	return ktx2write.BasicDFD(f.model, transfer, uint8(f.block), uint8(f.blockBytes), f.channels, f.float)
}

// randomLevels makes n levels of random texels (any bytes are valid BC1
// and BC7 blocks too) of a w×h image.
func randomLevels(f ktxFormat, w, h uint32, n int, seed uint64) [][]byte {
	r := rand.New(rand.NewPCG(seed, 7))
	var out [][]byte
	for i := range n {
		l := make([]byte, f.levelSize(max(w>>i, 1), max(h>>i, 1)))
		for j := range l {
			l[j] = byte(r.Uint32())
		}
		out = append(out, l)
	}
	return out
}

// ktxFile is a well-formed KTX2 file of levels, plain or (zstd) Zstandard
// supercompressed by klauspost's encoder.
func ktxFile(f ktxFormat, w, h uint32, levels [][]byte, zstdLevels bool) ktx2write.File {
	file := ktx2write.File{VkFormat: uint32(f.vk), TypeSize: f.typeSize, Width: w, Height: h, DFD: f.dfd(),
		KV: [][2]string{{"KTXwriter", "vkassets test"}}}
	var enc *zstd.Encoder
	if zstdLevels {
		file.Scheme = 2
		enc, _ = zstd.NewWriter(nil)
		defer enc.Close()
	}
	for _, l := range levels {
		data := l
		if enc != nil {
			data = enc.EncodeAll(l, nil)
		}
		file.Levels = append(file.Levels, ktx2write.Level{Data: data, UncompressedLength: uint64(len(l))})
	}
	return file
}

// readRaw copies one level of a texture (shader-read layout) to the host,
// as stored: texels, or blocks of a compressed format.
func readRaw(t testing.TB, e *env, tex *assets.Texture2D, level uint32, size int) []byte {
	t.Helper()
	w, h := max(tex.Width>>level, 1), max(tex.Height>>level, 1)
	buf, mem, err := e.alloc.CreateBuffer(uint64(size), vk.BufferUsageTransferDst, alloc.AllocationOptions{Usage: alloc.UsageReadback, Mapped: true})
	require.NoError(t, err)
	defer func() { require.NoError(t, e.alloc.DestroyBuffer(buf, mem)) }()
	serial, err := e.sync.OneShot(func(cmd vk.CommandBuffer) error {
		d := e.dev
		d.CmdBarrier(cmd, vk.Barrier{SrcStage: vk.StageFragmentShader, DstStage: vk.StageTransfer, SrcAccess: vk.AccessShaderRead, DstAccess: vk.AccessTransferRead,
			Image: tex.Handles().Image, OldLayout: vk.LayoutShaderReadOnlyOptimal, NewLayout: vk.LayoutTransferSrcOptimal, BaseMipLevel: level})
		d.CmdCopyImageToBuffer(cmd, tex.Handles().Image, vk.LayoutTransferSrcOptimal, buf, vk.BufferImageCopy{MipLevel: level, Width: w, Height: h})
		d.CmdBarrier(cmd, vk.Barrier{SrcStage: vk.StageTransfer, DstStage: vk.StageHost, SrcAccess: vk.AccessTransferWrite, DstAccess: vk.AccessHostRead})
		d.CmdBarrier(cmd, vk.Barrier{SrcStage: vk.StageTransfer, DstStage: vk.StageFragmentShader, SrcAccess: vk.AccessTransferRead, DstAccess: vk.AccessShaderRead,
			Image: tex.Handles().Image, OldLayout: vk.LayoutTransferSrcOptimal, NewLayout: vk.LayoutShaderReadOnlyOptimal, BaseMipLevel: level})
		return nil
	})
	require.NoError(t, err)
	require.NoError(t, assets.Use(serial, tex))
	require.NoError(t, e.sync.Wait(context.Background(), serial))
	require.NoError(t, e.alloc.Invalidate(mem, 0, uint64(size)))
	return bytes.Clone(mem.Mapped[:size])
}

// readDecoded blits one level of a texture, nearest-filtered, onto an
// RGBA8 UNORM image of its size and reads that back: the device's decode
// of the level's texels (sRGB ones come back as their encoded bytes, the
// blit converting through linear and back to UNORM… so only UNORM
// sources are compared to a CPU decode).
func readDecoded(t testing.TB, e *env, tex *assets.Texture2D, level uint32) []byte {
	t.Helper()
	w, h := max(tex.Width>>level, 1), max(tex.Height>>level, 1)
	img, imem, err := e.alloc.CreateImage(vk.ImageInfo{Format: vk.FormatR8G8B8A8Unorm, Width: w, Height: h,
		Usage: vk.ImageUsageTransferDst | vk.ImageUsageTransferSrc}, alloc.AllocationOptions{Usage: alloc.UsageGPUOnly})
	require.NoError(t, err)
	size := int(w * h * 4)
	buf, mem, err := e.alloc.CreateBuffer(uint64(size), vk.BufferUsageTransferDst, alloc.AllocationOptions{Usage: alloc.UsageReadback, Mapped: true})
	require.NoError(t, err)
	serial, err := e.sync.OneShot(func(cmd vk.CommandBuffer) error {
		d := e.dev
		d.CmdBarrier(cmd, vk.Barrier{SrcStage: vk.StageFragmentShader, DstStage: vk.StageTransfer, SrcAccess: vk.AccessShaderRead, DstAccess: vk.AccessTransferRead,
			Image: tex.Handles().Image, OldLayout: vk.LayoutShaderReadOnlyOptimal, NewLayout: vk.LayoutTransferSrcOptimal, BaseMipLevel: level})
		d.CmdBarrier(cmd, vk.Barrier{SrcStage: vk.StageTopOfPipe, DstStage: vk.StageTransfer, DstAccess: vk.AccessTransferWrite,
			Image: img, OldLayout: vk.LayoutUndefined, NewLayout: vk.LayoutTransferDstOptimal})
		d.CmdBlitImage(cmd, tex.Handles().Image, vk.LayoutTransferSrcOptimal, img, vk.LayoutTransferDstOptimal, vk.ImageBlit{
			SrcLevel: level, Src1: [2]int32{int32(w), int32(h)}, Dst1: [2]int32{int32(w), int32(h)}}, vk.FilterNearest)
		d.CmdBarrier(cmd, vk.Barrier{SrcStage: vk.StageTransfer, DstStage: vk.StageTransfer, SrcAccess: vk.AccessTransferWrite, DstAccess: vk.AccessTransferRead,
			Image: img, OldLayout: vk.LayoutTransferDstOptimal, NewLayout: vk.LayoutTransferSrcOptimal})
		d.CmdCopyImageToBuffer(cmd, img, vk.LayoutTransferSrcOptimal, buf, vk.BufferImageCopy{Width: w, Height: h})
		d.CmdBarrier(cmd, vk.Barrier{SrcStage: vk.StageTransfer, DstStage: vk.StageHost, SrcAccess: vk.AccessTransferWrite, DstAccess: vk.AccessHostRead})
		d.CmdBarrier(cmd, vk.Barrier{SrcStage: vk.StageTransfer, DstStage: vk.StageFragmentShader, SrcAccess: vk.AccessTransferRead, DstAccess: vk.AccessShaderRead,
			Image: tex.Handles().Image, OldLayout: vk.LayoutTransferSrcOptimal, NewLayout: vk.LayoutShaderReadOnlyOptimal, BaseMipLevel: level})
		return nil
	})
	require.NoError(t, err)
	require.NoError(t, assets.Use(serial, tex))
	require.NoError(t, e.sync.Wait(context.Background(), serial))
	require.NoError(t, e.alloc.Invalidate(mem, 0, uint64(size)))
	out := bytes.Clone(mem.Mapped[:size])
	require.NoError(t, e.alloc.DestroyBuffer(buf, mem))
	require.NoError(t, e.alloc.DestroyImage(img, imem))
	return out
}

// bc1Decode is the test's own decode of BC1 blocks (tightly packed, row
// by row) to w×h RGBA8: RGB565 endpoints widened by bit replication,
// thirds (c0 > c1) or a half and black (transparent when rgba) between.
func bc1Decode(blocks []byte, w, h int, rgba bool) []byte {
	out := make([]byte, w*h*4)
	bw := (w + 3) / 4
	expand := func(c uint16) [3]int {
		r, g, b := int(c>>11&31), int(c>>5&63), int(c&31)
		return [3]int{r<<3 | r>>2, g<<2 | g>>4, b<<3 | b>>2}
	}
	for by := 0; by < (h+3)/4; by++ {
		for bx := 0; bx < bw; bx++ {
			blk := blocks[(by*bw+bx)*8:]
			c0, c1 := binary.LittleEndian.Uint16(blk), binary.LittleEndian.Uint16(blk[2:])
			e0, e1 := expand(c0), expand(c1)
			var pal [4][4]byte
			for c := range 3 {
				pal[0][c], pal[1][c] = byte(e0[c]), byte(e1[c])
				if c0 > c1 {
					pal[2][c], pal[3][c] = byte((2*e0[c]+e1[c])/3), byte((e0[c]+2*e1[c])/3)
				} else {
					pal[2][c] = byte((e0[c] + e1[c]) / 2)
				}
			}
			pal[0][3], pal[1][3], pal[2][3], pal[3][3] = 255, 255, 255, 255
			if c0 <= c1 && rgba {
				pal[3][3] = 0
			}
			idx := binary.LittleEndian.Uint32(blk[4:])
			for y := range 4 {
				for x := range 4 {
					px, py := bx*4+x, by*4+y
					if px >= w || py >= h {
						continue
					}
					copy(out[(py*w+px)*4:], pal[idx>>(2*(4*y+x))&3][:])
				}
			}
		}
	}
	return out
}

func ktxBundle(t testing.TB, e *env, files map[string][]byte) *assets.Bundle {
	t.Helper()
	fsys := fstest.MapFS{}
	for name, data := range files {
		fsys[name] = &fstest.MapFile{Data: data}
	}
	b, err := e.m.AddBundle("ktx", fsys)
	require.NoError(t, err)
	return b
}

// TestKTX2Uncompressed: every uncompressed format, plain and Zstandard
// supercompressed, with its full chain of levels from the file: every
// level reads back as the file's bytes, and the supercompressed file's
// levels equal the plain one's.
func TestKTX2Uncompressed(t *testing.T) {
	e := open(t, assets.Options{})
	const w, h = 13, 6 // odd sides: levels 13x6, 6x3, 3x1, 1x1
	files := map[string][]byte{}
	formats := []ktxFormat{ktxR8, ktxRG8, ktxRGBA8, ktxSRGBA8, ktxRGBA16F}
	levels := map[string][][]byte{}
	for i, f := range formats {
		levels[f.name] = randomLevels(f, w, h, int(vk.MipLevels(w, h)), uint64(i))
		files[f.name+".ktx2"] = ktxFile(f, w, h, levels[f.name], false).Bytes()
		files[f.name+"-zstd.ktx2"] = ktxFile(f, w, h, levels[f.name], true).Bytes()
	}
	b := ktxBundle(t, e, files)
	for _, f := range formats {
		for _, suffix := range []string{"", "-zstd"} {
			tex, err := b.LoadTexture(context.Background(), f.name+suffix+".ktx2")
			require.NoError(t, err, f.name+suffix)
			require.Equal(t, f.vk, tex.Format, "the file's vkFormat, sRGB or not")
			require.Equal(t, uint32(4), tex.MipLevels, "the file's levels")
			for level := range tex.MipLevels {
				want := levels[f.name][level]
				require.Equal(t, want, readRaw(t, e, tex, level, len(want)), "%s%s level %d", f.name, suffix, level)
			}
		}
	}
}

// requireBC1 compares a device's decode of BC1 with the test's: alpha
// exact, colour channels within 1 — the interpolated colours are the
// format's approximations (D3D allows 3%; lavapipe's come out one below
// the truncated thirds for some), endpoints come out exact either way.
func requireBC1(t *testing.T, want, got []byte, msg string, args ...any) {
	t.Helper()
	require.Len(t, got, len(want))
	off := 0
	for i := range want {
		d := int(want[i]) - int(got[i])
		if i%4 == 3 {
			d *= 256 // alpha: exact
		}
		if d != 0 {
			off++
		}
		if d < -1 || d > 1 {
			t.Fatalf("%s: byte %d (texel %d channel %d): want %d, got %d", fmt.Sprintf(msg, args...), i, i/4, i%4, want[i], got[i])
		}
	}
	t.Logf("%s: %d of %d bytes one step off", fmt.Sprintf(msg, args...), off, len(want))
}

// TestKTX2BC1: random BC1 blocks in a 4-level file (16x12: 4x3 blocks
// down to one) upload as they are — every level's blocks read back
// byte-exact — and the device's decode of each level (a blit onto RGBA8)
// is the test's own BC1 decode, texel for texel; for the RGB variant too
// (black where the RGBA one is transparent).
func TestKTX2BC1(t *testing.T) {
	e := open(t, assets.Options{})
	const w, h = 16, 12
	unorm := ktxFormat{"BC1_RGB_UNORM", vk.FormatBC1RGBUnormBlock, 4, 8, 1, 128, false, 1, false}
	files := map[string][]byte{}
	levels := map[string][][]byte{}
	for i, f := range []ktxFormat{ktxBC1, unorm} {
		levels[f.name] = randomLevels(f, w, h, 4, uint64(10+i))
		// Every fourth block with c0 <= c1: the three-colour mode.
		for _, l := range levels[f.name] {
			for b := 0; b < len(l); b += 32 {
				l[b], l[b+1], l[b+2], l[b+3] = 0x10, 0x20, 0x30, 0x40
			}
		}
		files[f.name+".ktx2"] = ktxFile(f, w, h, levels[f.name], false).Bytes()
	}
	b := ktxBundle(t, e, files)
	for _, c := range []struct {
		f    ktxFormat
		rgba bool
	}{{ktxBC1, true}, {unorm, false}} {
		tex, err := b.LoadTexture(context.Background(), c.f.name+".ktx2")
		require.NoError(t, err)
		require.Equal(t, c.f.vk, tex.Format)
		require.Equal(t, uint32(4), tex.MipLevels)
		for level := range tex.MipLevels {
			want := levels[c.f.name][level]
			require.Equal(t, want, readRaw(t, e, tex, level, len(want)), "%s level %d blocks", c.f.name, level)
			lw, lh := max(w>>level, 1), max(h>>level, 1)
			requireBC1(t, bc1Decode(want, lw, lh, c.rgba), readDecoded(t, e, tex, level), "%s level %d", c.f.name, level)
		}
	}
}

// TestKTX2BC7: random BC7 blocks (sRGB), plain and supercompressed, read
// back byte-exact at every level; a BC file of one level stays one level.
func TestKTX2BC7(t *testing.T) {
	e := open(t, assets.Options{})
	const w, h = 20, 8
	levels := randomLevels(ktxBC7, w, h, int(vk.MipLevels(w, h)), 3)
	b := ktxBundle(t, e, map[string][]byte{
		"bc7.ktx2":      ktxFile(ktxBC7, w, h, levels, false).Bytes(),
		"bc7-zstd.ktx2": ktxFile(ktxBC7, w, h, levels, true).Bytes(),
		"bc7-one.ktx2":  ktxFile(ktxBC7, w, h, levels[:1], false).Bytes(),
	})
	for _, name := range []string{"bc7.ktx2", "bc7-zstd.ktx2"} {
		tex, err := b.LoadTexture(context.Background(), name)
		require.NoError(t, err)
		require.Equal(t, vk.FormatBC7SrgbBlock, tex.Format)
		require.Equal(t, uint32(5), tex.MipLevels)
		for level := range tex.MipLevels {
			require.Equal(t, levels[level], readRaw(t, e, tex, level, len(levels[level])), "%s level %d", name, level)
		}
	}
	one, err := b.LoadTexture(context.Background(), "bc7-one.ktx2")
	require.NoError(t, err)
	require.Equal(t, uint32(1), one.MipLevels, "no chain is made for a block-compressed format")
	require.Equal(t, levels[0], readRaw(t, e, one, 0, len(levels[0])))
}

// TestKTX2Mips: a one-level uncompressed file gets a full chain (the
// file's level 0 kept exact), as a PNG does, unless NoMips; NoMips keeps
// level 0 alone of a file with levels; a levelCount of 0 asks for a chain;
// Linear does not change the file's sRGB format.
func TestKTX2Mips(t *testing.T) {
	e := open(t, assets.Options{})
	const w, h = 8, 4
	levels := randomLevels(ktxSRGBA8, w, h, 4, 5)
	zero := ktxFile(ktxRGBA8, w, h, levels[:1], false)
	zero.LevelCount, zero.LevelCountSet = 0, true
	b := ktxBundle(t, e, map[string][]byte{
		"one.ktx2":   ktxFile(ktxSRGBA8, w, h, levels[:1], false).Bytes(),
		"full.ktx2":  ktxFile(ktxSRGBA8, w, h, levels, false).Bytes(),
		"zero.ktx2":  zero.Bytes(),
		"r8one.ktx2": ktxFile(ktxR8, w, h, randomLevels(ktxR8, w, h, 1, 6), false).Bytes(),
	})
	ctx := context.Background()
	one, err := b.LoadTexture(ctx, "one.ktx2")
	require.NoError(t, err)
	require.Equal(t, uint32(4), one.MipLevels, "a chain made for one level")
	require.Equal(t, levels[0], readRaw(t, e, one, 0, len(levels[0])))
	require.Len(t, readRaw(t, e, one, 3, 4), 4)
	flat, err := b.LoadTexture(ctx, "one.ktx2", assets.TextureOptions{NoMips: true})
	require.NoError(t, err)
	require.Equal(t, uint32(1), flat.MipLevels)
	full, err := b.LoadTexture(ctx, "full.ktx2", assets.TextureOptions{NoMips: true, Linear: true})
	require.NoError(t, err)
	require.Equal(t, uint32(1), full.MipLevels, "NoMips: level 0 alone")
	require.Equal(t, vk.FormatR8G8B8A8Srgb, full.Format, "the file says sRGB; Linear does not apply")
	require.Equal(t, levels[0], readRaw(t, e, full, 0, len(levels[0])))
	z, err := b.LoadTexture(ctx, "zero.ktx2")
	require.NoError(t, err)
	require.Equal(t, uint32(4), z.MipLevels, "levelCount 0 asks for a chain")
	require.Equal(t, vk.FormatR8G8B8A8Unorm, z.Format)
	r8, err := b.LoadTexture(ctx, "r8one.ktx2")
	require.NoError(t, err)
	require.Equal(t, uint32(4), r8.MipLevels, "R8 blits linearly on lavapipe")
	require.Equal(t, 5, countKind(e.m, "texture"))
	require.Zero(t, countKind(e.m, "image"), "a KTX2 texture has no RGBA8 image")
}

// TestKTX2Sniffed: a KTX2 file without the .ktx2 extension loads by its
// identifier (as a sprite through Load too); loaded as an RGBA8 image it
// is refused, saying how to load it.
func TestKTX2Sniffed(t *testing.T) {
	e := open(t, assets.Options{})
	levels := randomLevels(ktxRGBA8, 4, 4, 3, 8)
	data := ktxFile(ktxRGBA8, 4, 4, levels, false).Bytes()
	b := ktxBundle(t, e, map[string][]byte{"tex.bin": data, "sprite.ktx2": data})
	tex, err := b.LoadTexture(context.Background(), "tex.bin")
	require.NoError(t, err)
	require.Equal(t, levels[1], readRaw(t, e, tex, 1, len(levels[1])))
	s, err := b.Load(context.Background(), "sprite.ktx2")
	require.NoError(t, err)
	require.Equal(t, uint32(4), s.(*assets.SpriteFrame).Texture().Width)
	_, err = b.LoadImage(context.Background(), "tex.bin")
	require.ErrorIs(t, err, assets.ErrUnknownKind)
	require.EqualError(t, err, `load "ktx:tex.bin#image": image "tex.bin": assets: no loader for this kind of file: a KTX2 file holds GPU texels, not RGBA8 pixels: load it as a texture (LoadTexture, LoadSpriteFrame)`)
}

// patch returns a copy of data with a little-endian uint32 or uint64 at off.
func patch32(data []byte, off int, v uint32) []byte {
	out := bytes.Clone(data)
	binary.LittleEndian.PutUint32(out[off:], v)
	return out
}

func patch64(data []byte, off int, v uint64) []byte {
	out := bytes.Clone(data)
	binary.LittleEndian.PutUint64(out[off:], v)
	return out
}

// zstdBomb is a one-level 64x64 RGBA8 file whose level claims its true
// size (16 KiB) but inflates to 64 MiB of zeros: in one frame that says
// its size, or (streamed) in one that does not, which the decoder can only
// stop by counting what it writes.
func zstdBomb(streamed bool) []byte {
	var bomb []byte
	if streamed {
		var buf bytes.Buffer
		enc, _ := zstd.NewWriter(&buf, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithWindowSize(1<<20))
		zeros := make([]byte, 1<<20)
		for range 64 {
			_, _ = enc.Write(zeros)
		}
		_ = enc.Close()
		bomb = buf.Bytes()
	} else {
		enc, _ := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest))
		bomb = enc.EncodeAll(make([]byte, 64<<20), nil)
		_ = enc.Close()
	}
	f := ktxFile(ktxRGBA8, 64, 64, nil, false)
	f.Scheme = 2
	f.Levels = []ktx2write.Level{{Data: bomb, UncompressedLength: 64 * 64 * 4}}
	return f.Bytes()
}

// TestKTX2Refused: every refusal, each from its own file, with its exact
// error; nothing is left allocated.
func TestKTX2Refused(t *testing.T) {
	e := open(t, assets.Options{MaxImageBytes: 1 << 20})
	good := ktxFile(ktxRGBA8, 8, 8, randomLevels(ktxRGBA8, 8, 8, 4, 9), false).Bytes()
	lvl := func(i, field int) int { return ktx2write.OffLevelIndex + 24*i + 8*field }
	basis := ktxFormat{"UASTC", 0, 4, 16, 1, 166, false, 1, false}
	etc1s := ktxFormat{"ETC1S", 0, 4, 8, 1, 163, false, 1, false}
	one := randomLevels(ktxRGBA8, 4, 4, 1, 1)
	badDFD := ktxFile(ktxRGBA8, 4, 4, one, false)
	badDFD.DFD = ktxSRGBA8.dfd() // sRGB transfer for a UNORM format
	sizeDFD := ktxFile(ktxRGBA8, 4, 4, one, false)
	sizeDFD.DFD = patch32(ktxRGBA8.dfd(), 0, 7)
	basisLZ := ktxFile(etc1s, 4, 4, [][]byte{make([]byte, 8)}, false)
	basisLZ.Scheme = 1
	cube := ktxFile(ktxRGBA8, 4, 4, one, false)
	cube.Face = 6
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"truncated header", good[:40], "cannot decode: KTX2: truncated header: 40 bytes, the header and index take 80"},
		{"truncated index", good[:100], "cannot decode: KTX2: truncated level index: 4 levels need 176 bytes, the file has 100"},
		{"no identifier", patch32(good, 0, 0), "cannot decode: KTX2: no KTX2 identifier"},
		{"level beyond file", patch64(good, lvl(0, 0), uint64(len(good))-10), fmt.Sprintf("cannot decode: KTX2: level 0 at offset %d, 256 bytes, beyond the file's %d bytes", len(good)-10, len(good))},
		{"level offset overflow", patch64(good, lvl(1, 0), ^uint64(0)-10), fmt.Sprintf("cannot decode: KTX2: level 1 at offset %d, 64 bytes, beyond the file's %d bytes", ^uint64(0)-10, len(good))},
		{"level inside the index", patch64(good, lvl(3, 0), 100), "cannot decode: KTX2: level 3 at offset 100, inside the header and level index (176 bytes)"},
		{"levels out of order", patch64(good, lvl(1, 0), uint64(len(good))-64), fmt.Sprintf("cannot decode: KTX2: level 1 at offset %d, 64 bytes, overlaps or follows level 0: levels are stored smallest first", len(good)-64)},
		{"level size lies", patch64(good, lvl(0, 2), 255), "cannot decode: KTX2: level 0: uncompressedByteLength 255, a 8x8 level of R8G8B8A8_UNORM takes 256"},
		{"too many levels", patch32(good, ktx2write.OffLevelCount, 5), "cannot decode: KTX2: levelCount 5: a 8x8 image has at most 4 levels"},
		{"bad DFD transfer", badDFD.Bytes(), "cannot decode: KTX2: bad DFD: transfer function 2 for R8G8B8A8_UNORM"},
		{"bad DFD size", sizeDFD.Bytes(), "cannot decode: KTX2: bad DFD: dfdTotalSize 7, dfdByteLength 92"},
		{"DFD beyond file", patch32(good, ktx2write.OffDFD, uint32(len(good))), fmt.Sprintf("cannot decode: KTX2: data format descriptor at offset %d, 92 bytes, beyond the file's %d bytes", len(good), len(good))},
		{"zstd bomb", zstdBomb(false), "cannot decode: KTX2: level 0: Zstandard data inflates beyond its uncompressedByteLength 16384"},
		{"streamed zstd bomb", zstdBomb(true), "cannot decode: KTX2: level 0: Zstandard data inflates beyond its uncompressedByteLength 16384"},
		{"BasisLZ", basisLZ.Bytes(), "not supported: KTX2: supercompression scheme 1 (BasisLZ/ETC1S) needs a Basis Universal transcoder, which vkassets does not have"},
		{"UASTC", ktxFile(basis, 4, 4, [][]byte{make([]byte, 16)}, false).Bytes(), "not supported: KTX2: UASTC payload (vkFormat 0, colour model 166) needs a Basis Universal transcoder, which vkassets does not have"},
		{"ZLIB", patch32(good, ktx2write.OffScheme, 3), "not supported: KTX2: supercompression scheme 3 (ZLIB); schemes 0 (none) and 2 (Zstandard) are"},
		{"unknown format", patch32(good, ktx2write.OffVkFormat, 1000), "not supported: KTX2: vkFormat 1000; supported: R8, R8G8, R8G8B8A8 (UNORM, SRGB), R16G16B16A16_SFLOAT, BC1-BC7"},
		{"BC levelCount 0", patch32(ktxFile(ktxBC1, 4, 4, [][]byte{make([]byte, 8)}, false).Bytes(), ktx2write.OffLevelCount, 0), "cannot decode: KTX2: levelCount 0 for BC1_RGBA_UNORM_BLOCK: a block-compressed file holds its levels, none can be generated"},
		{"cube map", cube.Bytes(), "not supported: KTX2: cube maps (faceCount 6)"},
		{"oversize dimensions", patch32(patch32(good, ktx2write.OffWidth, 1<<20), ktx2write.OffHeight, 8), "too large: KTX2 image 1048576x8, the device allows 16384"},
		{"over MaxImageBytes", patch32(patch32(good, ktx2write.OffWidth, 1024), ktx2write.OffHeight, 512), "too large: KTX2 image 1024x512 takes 2785280 bytes in 4 levels of R8G8B8A8_UNORM, the limit is 1048576 (Options.MaxImageBytes)"},
	}
	files := map[string][]byte{}
	for i, c := range cases {
		files[fmt.Sprintf("bad%d.ktx2", i)] = c.data
	}
	b := ktxBundle(t, e, files)
	for i, c := range cases {
		name := fmt.Sprintf("bad%d.ktx2", i)
		_, err := b.LoadTexture(context.Background(), name)
		require.EqualError(t, err, fmt.Sprintf(`load "ktx:%s#texture": texture %q: assets: %s`, name, name, c.want), c.name)
	}
	require.Zero(t, e.liveAllocations())
}

// TestKTX2BombBounded: the Zstandard bombs (16 KiB claimed, 64 MiB
// inside) are refused having allocated little more than the level, the
// streamed one too.
func TestKTX2BombBounded(t *testing.T) {
	e := open(t, assets.Options{})
	b := ktxBundle(t, e, map[string][]byte{"bomb.ktx2": zstdBomb(false), "streamed.ktx2": zstdBomb(true)})
	for _, name := range []string{"bomb.ktx2", "streamed.ktx2"} {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		_, err := b.LoadTexture(context.Background(), name)
		runtime.ReadMemStats(&after)
		require.ErrorIs(t, err, assets.ErrDecode)
		alloced := after.TotalAlloc - before.TotalAlloc
		t.Logf("%s refused with %d bytes allocated: %v", name, alloced, err)
		require.Less(t, alloced, uint64(2<<20), "%s: the decoder stops at the level's size, not after 64 MiB", name)
	}
}

// TestKTX2NoBCFeature: on a device created without textureCompressionBC,
// a BC file is refused naming the feature; an uncompressed one loads.
func TestKTX2NoBCFeature(t *testing.T) {
	d := vktest.OpenWith(t, vktest.Options{DisableTextureCompressionBC: true})
	e := openOn(t, d, assets.Options{})
	levels := randomLevels(ktxBC1, 8, 8, 1, 2)
	b := ktxBundle(t, e, map[string][]byte{"bc1.ktx2": ktxFile(ktxBC1, 8, 8, levels, false).Bytes(),
		"rgba.ktx2": ktxFile(ktxRGBA8, 8, 8, randomLevels(ktxRGBA8, 8, 8, 1, 2), false).Bytes()})
	_, err := b.LoadTexture(context.Background(), "bc1.ktx2")
	require.ErrorIs(t, err, assets.ErrUnsupported)
	require.EqualError(t, err, fmt.Sprintf(`load "ktx:bc1.ktx2#texture": texture "bc1.ktx2": assets: not supported: KTX2: BC1_RGBA_UNORM_BLOCK needs the textureCompressionBC feature, which device %q was created without`, d.Physical().Name))
	_, err = b.LoadTexture(context.Background(), "rgba.ktx2")
	require.NoError(t, err)
}

// TestKTX2Admission: a KTX2 load is admitted against the budget from its
// header (its levels and their staging copy), before anything is inflated.
func TestKTX2Admission(t *testing.T) {
	e := open(t, assets.Options{LoadBudget: 1000})
	levels := randomLevels(ktxRGBA8, 16, 16, 1, 4) // 1024 bytes, 2048 with staging
	b := ktxBundle(t, e, map[string][]byte{"big.ktx2": ktxFile(ktxRGBA8, 16, 16, levels, true).Bytes()})
	_, err := b.LoadTexture(context.Background(), "big.ktx2", assets.TextureOptions{NoMips: true})
	require.ErrorIs(t, err, assets.ErrOverBudget)
	require.ErrorContains(t, err, `"big.ktx2" needs 2048 bytes`)
}

// basisuScene is quad.gltf with its texture's KHR_texture_basisu source
// set to image 1 (a file or, when inBuffer, a buffer view of a second
// buffer) and the PNG kept as the core fallback.
func basisuScene(ktxLen int, inBuffer bool) string {
	image1, buffers, views := `{"uri":"tex.ktx2","mimeType":"image/ktx2"}`, `{"uri":"quad.bin","byteLength":92}`, ""
	if inBuffer {
		image1 = `{"bufferView":3,"mimeType":"image/ktx2"}`
		buffers += fmt.Sprintf(`,{"uri":"tex.bin","byteLength":%d}`, ktxLen)
		views = fmt.Sprintf(`,{"buffer":1,"byteLength":%d}`, ktxLen)
	}
	return `{"asset":{"version":"2.0"},"extensionsUsed":["KHR_texture_basisu"],
"buffers":[` + buffers + `],
"accessors":[{"bufferView":0,"componentType":5126,"count":4,"type":"VEC3","max":[1,1,0],"min":[-1,-1,0]},{"bufferView":1,"componentType":5126,"count":4,"type":"VEC2"},{"bufferView":2,"componentType":5123,"count":6,"type":"SCALAR"}],
"bufferViews":[{"buffer":0,"byteLength":48},{"buffer":0,"byteOffset":48,"byteLength":32},{"buffer":0,"byteOffset":80,"byteLength":12}` + views + `],
"images":[{"uri":"quad_albedo.png"},` + image1 + `],
"textures":[{"source":0,"extensions":{"KHR_texture_basisu":{"source":1}}}],
"materials":[{"pbrMetallicRoughness":{"baseColorTexture":{"index":0}}}],
"meshes":[{"primitives":[{"attributes":{"POSITION":0,"TEXCOORD_0":1},"indices":2,"material":0}]}],
"nodes":[{"mesh":0}],"scene":0,"scenes":[{"nodes":[0]}]}`
}

// TestKTX2GLTFBasisu: a glTF texture whose KHR_texture_basisu source is a
// KTX2 file or buffer view with a supported payload loads it (the KTX2's
// format and levels, not the PNG fallback); a UASTC one is refused naming
// the texture, its image and the reason.
func TestKTX2GLTFBasisu(t *testing.T) {
	quadBin, err := fs.ReadFile(content, "scenes/quad.bin")
	require.NoError(t, err)
	png, err := fs.ReadFile(content, "scenes/quad_albedo.png")
	require.NoError(t, err)
	levels := randomLevels(ktxBC7, 8, 8, 4, 12)
	bc7 := ktxFile(ktxBC7, 8, 8, levels, true).Bytes()
	uastc := ktxFile(ktxFormat{"UASTC", 0, 4, 16, 1, 166, false, 1, false}, 8, 8, [][]byte{make([]byte, 64)}, false).Bytes()
	for _, c := range []struct {
		name     string
		ktx      []byte
		inBuffer bool
		err      string
	}{
		{"file", bc7, false, ""},
		{"buffer view", bc7, true, ""},
		{"uastc file", uastc, false, `load "basisu:s.gltf#scene": load "basisu:s.gltf#mesh/0": load "basisu:s.gltf#material/0": texture 0 (KHR_texture_basisu image 1): images[1].uri: load "basisu:tex.ktx2#texture": texture "tex.ktx2": assets: not supported: KTX2: UASTC payload (vkFormat 0, colour model 166) needs a Basis Universal transcoder, which vkassets does not have`},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := open(t, assets.Options{})
			fsys := fstest.MapFS{
				"s.gltf":          {Data: []byte(basisuScene(len(c.ktx), c.inBuffer))},
				"quad.bin":        {Data: quadBin},
				"quad_albedo.png": {Data: png},
				"tex.ktx2":        {Data: c.ktx},
				"tex.bin":         {Data: c.ktx},
			}
			b, err := e.m.AddBundle("basisu", fsys)
			require.NoError(t, err)
			s, err := b.LoadScene(context.Background(), "s.gltf")
			if c.err != "" {
				require.ErrorIs(t, err, assets.ErrUnsupported)
				require.EqualError(t, err, c.err)
				return
			}
			require.NoError(t, err)
			tex := s.Meshes[0].Material.BaseTexture
			require.Equal(t, vk.FormatBC7SrgbBlock, tex.Format)
			require.Equal(t, uint32(4), tex.MipLevels)
			for level := range tex.MipLevels {
				require.Equal(t, levels[level], readRaw(t, e, tex, level, len(levels[level])), "level %d", level)
			}
		})
	}
}

// bc7Mode6Blocks makes n random BC7 blocks of mode 6 (one subset, RGBA
// endpoints of 7 bits and a p-bit each, 4-bit indices).
func bc7Mode6Blocks(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 9))
	out := make([]byte, 16*n)
	for b := range n {
		lo, hi := r.Uint64(), r.Uint64()
		lo = lo&^0x7F | 0x40 // mode 6: bit 6 is the first set bit
		binary.LittleEndian.PutUint64(out[16*b:], lo)
		binary.LittleEndian.PutUint64(out[16*b+8:], hi)
	}
	return out
}

// bc7Mode6Decode is the test's own decode of mode-6 BC7 blocks to w×h
// RGBA8, after the BC7 specification: endpoints (c << 1) | p, weights
// of 4-bit indices (the first index has 3 bits, its top bit 0),
// ((64-w)·e0 + w·e1 + 32) >> 6.
func bc7Mode6Decode(blocks []byte, w, h int) []byte {
	weights := [16]int{0, 4, 9, 13, 17, 21, 26, 30, 34, 38, 43, 47, 51, 55, 60, 64}
	out := make([]byte, w*h*4)
	bw := (w + 3) / 4
	for by := 0; by < (h+3)/4; by++ {
		for bx := 0; bx < bw; bx++ {
			blk := blocks[(by*bw+bx)*16:]
			pos := 7
			bits := func(n int) int {
				v := 0
				for i := range n {
					bit := int(blk[(pos+i)/8]>>((pos+i)%8)) & 1
					v |= bit << i
				}
				pos += n
				return v
			}
			var e [2][4]int
			for c := range 4 {
				e[0][c], e[1][c] = bits(7), bits(7)
			}
			p0, p1 := bits(1), bits(1)
			for c := range 4 {
				e[0][c], e[1][c] = e[0][c]<<1|p0, e[1][c]<<1|p1
			}
			for i := range 16 {
				n := 4
				if i == 0 {
					n = 3
				}
				wt := weights[bits(n)]
				x, y := bx*4+i%4, by*4+i/4
				if x >= w || y >= h {
					continue
				}
				for c := range 4 {
					out[(y*w+x)*4+c] = byte(((64-wt)*e[0][c] + wt*e[1][c] + 32) >> 6)
				}
			}
		}
	}
	return out
}

// TestKTX2BC7Decode: random mode-6 BC7 blocks (UNORM) in a file of
// levels: the device's decode of every level (a blit onto RGBA8) is the
// test's own, texel for texel.
func TestKTX2BC7Decode(t *testing.T) {
	e := open(t, assets.Options{})
	const w, h = 12, 8
	unorm := ktxFormat{"BC7_UNORM", vk.FormatBC7UnormBlock, 4, 16, 1, 134, false, 1, false}
	var levels [][]byte
	for i := range 4 {
		lw, lh := max(w>>i, 1), max(h>>i, 1)
		levels = append(levels, bc7Mode6Blocks(((lw+3)/4)*((lh+3)/4), uint64(30+i)))
	}
	b := ktxBundle(t, e, map[string][]byte{"bc7.ktx2": ktxFile(unorm, w, h, levels, false).Bytes()})
	tex, err := b.LoadTexture(context.Background(), "bc7.ktx2")
	require.NoError(t, err)
	for level := range tex.MipLevels {
		lw, lh := max(w>>level, 1), max(h>>level, 1)
		require.Equal(t, bc7Mode6Decode(levels[level], lw, lh), readDecoded(t, e, tex, level), "level %d", level)
	}
}

// TestKTX2Manifest: a manifest lists a KTX2 file as a texture (with its
// options) and as a sprite; Load gives what it says.
func TestKTX2Manifest(t *testing.T) {
	e := open(t, assets.Options{})
	data := ktxFile(ktxRGBA8, 4, 4, randomLevels(ktxRGBA8, 4, 4, 3, 40), false).Bytes()
	b := ktxBundle(t, e, map[string][]byte{"t.ktx2": data, "s.ktx2": data, assets.ManifestName: []byte(`{"version":1,"assets":[
		{"path":"t.ktx2","kind":"texture","texture":{"noMips":true}},{"path":"s.ktx2","kind":"sprite"}]}`)})
	tex, err := b.Load(context.Background(), "t.ktx2")
	require.NoError(t, err)
	require.Equal(t, uint32(1), tex.(*assets.Texture2D).MipLevels)
	s, err := b.Load(context.Background(), "s.ktx2")
	require.NoError(t, err)
	require.Equal(t, uint32(3), s.(*assets.SpriteFrame).Texture().MipLevels)
}
