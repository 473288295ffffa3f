package assets_test

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/draw"
	"image/png"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkassets/vkassets/assets"
	"github.com/vkassets/vkassets/vk"
)

// readLevel reads one mip level of a texture (in the shader-read layout)
// back to the host, as stored: sRGB texels come back as their bytes.
func readLevel(t testing.TB, e *env, tex *assets.Texture2D, level uint32) []byte {
	t.Helper()
	w, h := max(tex.Width>>level, 1), max(tex.Height>>level, 1)
	return readRaw(t, e, tex, level, int(w)*int(h)*4)
}

// pngSuite lists the PngSuite's valid images (the x* files are broken on purpose).
func pngSuite(t *testing.T) (string, []string) {
	dir := filepath.Join(runtime.GOROOT(), "src", "image", "png", "testdata", "pngsuite")
	names, err := filepath.Glob(filepath.Join(dir, "*.png"))
	require.NoError(t, err)
	var out []string
	for _, n := range names {
		if b := filepath.Base(n); !strings.HasPrefix(b, "x") {
			out = append(out, b)
		}
	}
	if len(out) == 0 {
		t.Fatalf("no PngSuite in %s: it ships with Go's sources (GOROOT/src/image/png/testdata/pngsuite)", dir)
	}
	return dir, out
}

// decodeRGBA is the test's own decode: image/png drawn onto RGBA.
func decodeRGBA(t *testing.T, path string) (int, int, []byte) {
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	src, err := png.Decode(f)
	require.NoError(t, err)
	b := src.Bounds()
	dst := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(dst, dst.Bounds(), src, b.Min, draw.Src)
	return b.Dx(), b.Dy(), dst.Pix
}

// TestPngSuiteThroughTextures: every valid PngSuite image, loaded as a
// texture with its mip chain (made by blits on lavapipe), reads back from
// level 0 pixel-exact, in sRGB (as stored) and UNORM; the chain is full and
// its last level is 1×1.
func TestPngSuiteThroughTextures(t *testing.T) {
	dir, names := pngSuite(t)
	e := open(t, assets.Options{})
	b, err := e.m.AddBundle("pngsuite", os.DirFS(dir))
	require.NoError(t, err)
	for _, opts := range []assets.TextureOptions{{}, {Linear: true}} {
		for _, name := range names {
			w, h, want := decodeRGBA(t, filepath.Join(dir, name))
			tex, err := b.LoadTexture(context.Background(), name, opts)
			require.NoError(t, err, name)
			require.Equal(t, opts.Format(), tex.Format)
			require.Equal(t, vk.MipLevels(uint32(w), uint32(h)), tex.MipLevels, name)
			require.True(t, bytes.Equal(want, readLevel(t, e, tex, 0)), "%s %+v: level 0 differs from the PNG's pixels", name, opts)
			require.Len(t, readLevel(t, e, tex, tex.MipLevels-1), 4, name)
		}
	}
	require.Equal(t, 2*len(names), countKind(e.m, "texture"), "one texture per image and colour space")
}

func countKind(m *assets.Manager, kind string) int {
	n := 0
	for _, a := range m.Assets() {
		if assets.BaseOf(a).Kind() == kind {
			n++
		}
	}
	return n
}

// checker is a w×h RGBA8 image of 1-pixel black and white squares, opaque.
func checker(w, h int) []byte {
	pix := make([]byte, w*h*4)
	for y := range h {
		for x := range w {
			v := byte(0)
			if (x+y)%2 == 1 {
				v = 255
			}
			copy(pix[(y*w+x)*4:], []byte{v, v, v, 255})
		}
	}
	return pix
}

// TestMipChainAverages: every level below the first of a black-and-white
// checker is its average — mid-grey in linear light. UNORM: 127 or 128;
// sRGB (averaged in linear light, then encoded): 188, not 128. By blits
// and on the CPU alike.
func TestMipChainAverages(t *testing.T) {
	for _, cpu := range []bool{false, true} {
		t.Run(fmt.Sprintf("cpu=%v", cpu), func(t *testing.T) {
			e := open(t, assets.Options{KeepPixels: true}) // two textures of one image
			assets.SetCPUMips(e.m, cpu)
			im, err := e.m.NewImage("checker", 8, 4, checker(8, 4))
			require.NoError(t, err)
			for _, c := range []struct {
				opts assets.TextureOptions
				grey byte
			}{{assets.TextureOptions{Linear: true}, 128}, {assets.TextureOptions{}, 188}} {
				tex, err := e.m.NewTexture(im, c.opts)
				require.NoError(t, err)
				require.Equal(t, uint32(4), tex.MipLevels, "8x4: 8, 4, 2, 1")
				require.Equal(t, checker(8, 4), readLevel(t, e, tex, 0))
				for level := uint32(1); level < tex.MipLevels; level++ {
					got := readLevel(t, e, tex, level)
					require.Len(t, got, int(max(8>>level, 1)*max(4>>level, 1)*4))
					for i := 0; i < len(got); i += 4 {
						for ch := range 3 {
							require.InDelta(t, c.grey, got[i+ch], 1, "%+v level %d texel %d: %v", c.opts, level, i/4, got[i:i+4])
						}
						require.Equal(t, byte(255), got[i+3], "alpha")
					}
				}
				require.NoError(t, e.m.DecRef(tex))
			}
			require.NoError(t, e.m.DecRef(im))
		})
	}
}

// TestMipsCPUMatchesBlits: on the PngSuite's even-sided images, the CPU
// chain's second level is the blits' to within one step of rounding.
func TestMipsCPUMatchesBlits(t *testing.T) {
	dir, names := pngSuite(t)
	gpu, cpu := open(t, assets.Options{}), open(t, assets.Options{})
	assets.SetCPUMips(cpu.m, true)
	checked := 0
	for _, name := range names {
		w, h, pix := decodeRGBA(t, filepath.Join(dir, name))
		if w%2 != 0 || h%2 != 0 {
			continue
		}
		for _, opts := range []assets.TextureOptions{{}, {Linear: true}} {
			var levels [2][]byte
			for i, e := range []*env{gpu, cpu} {
				im, err := e.m.NewImage(name, uint32(w), uint32(h), pix)
				require.NoError(t, err)
				tex, err := e.m.NewTexture(im, opts)
				require.NoError(t, err)
				levels[i] = readLevel(t, e, tex, 1)
				require.NoError(t, e.m.DecRef(tex))
				require.NoError(t, e.m.DecRef(im))
			}
			for i := range levels[0] {
				require.InDelta(t, levels[0][i], levels[1][i], 1, "%s %+v: byte %d", name, opts, i)
			}
			checked++
		}
	}
	require.Positive(t, checked)
}

// TestNoMips: NoMips makes one level, a texture of its own (another key)
// and a smaller allocation; Bytes is what the allocator reserved.
func TestNoMips(t *testing.T) {
	e := open(t, assets.Options{})
	ctx := context.Background()
	full, err := e.b.LoadTexture(ctx, "checker.png")
	require.NoError(t, err)
	one, err := e.b.LoadTexture(ctx, "checker.png", assets.TextureOptions{NoMips: true})
	require.NoError(t, err)
	require.NotSame(t, full, one)
	require.Equal(t, "content:checker.png#texture+nomips", one.Key())
	require.Equal(t, uint32(7), full.MipLevels, "64x64")
	require.Equal(t, uint32(1), one.MipLevels)
	require.Equal(t, full.Handles().Memory.Size, assets.Bytes(full))
	require.Equal(t, one.Handles().Memory.Size, assets.Bytes(one))
	require.GreaterOrEqual(t, assets.Bytes(one), uint64(64*64*4))
	require.GreaterOrEqual(t, assets.Bytes(full), uint64(64*64*4+32*32*4+16*16*4+8*8*4+4*4*4+2*2*4+4))
	sprite, err := e.b.LoadSpriteFrame(ctx, "checker.png", assets.TextureOptions{NoMips: true, Linear: true})
	require.NoError(t, err)
	require.Equal(t, "content:checker.png#sprite+linear+nomips", sprite.Key())
	require.Equal(t, uint32(1), sprite.Texture().MipLevels)
	require.Equal(t, vk.FormatR8G8B8A8Unorm, sprite.Texture().Format)
	def, err := e.b.LoadSpriteFrame(ctx, "hero.png")
	require.NoError(t, err)
	require.Equal(t, vk.FormatR8G8B8A8Srgb, def.Texture().Format, "sprites are sRGB by default")
}

// BenchmarkMipGeneration4096 uploads a 4096² RGBA8 image (64 MiB) as an
// sRGB texture and waits for it: with one level (the upload alone), with
// its 13-level chain made by blits, and made on the CPU. Mip generation's
// cost is the difference from one level.
func BenchmarkMipGeneration4096(b *testing.B) {
	const side = 4096
	pix := make([]byte, side*side*4)
	for i := range pix {
		pix[i] = byte(i*7 + i/(side*4)*13)
	}
	for _, c := range []struct {
		name string
		opts assets.TextureOptions
		cpu  bool
	}{{"one-level", assets.TextureOptions{NoMips: true}, false}, {"blits", assets.TextureOptions{}, false}, {"cpu", assets.TextureOptions{}, true}} {
		b.Run(c.name, func(b *testing.B) {
			e := open(b, assets.Options{KeepPixels: true})
			assets.SetCPUMips(e.m, c.cpu)
			im, err := e.m.NewImage("big", side, side, pix)
			require.NoError(b, err)
			b.SetBytes(int64(len(pix)))
			b.ResetTimer()
			for range b.N {
				tex, err := e.m.NewTexture(im, c.opts)
				require.NoError(b, err)
				require.NoError(b, e.sync.Wait(context.Background(), assets.BaseOf(tex).LastUse()))
				b.StopTimer()
				require.NoError(b, e.m.DecRef(tex))
				e.m.ReleaseUnused()
				require.NoError(b, e.sync.WaitIdle())
				_, err = e.sync.Poll()
				require.NoError(b, err)
				b.StartTimer()
			}
			b.StopTimer()
			require.NoError(b, e.m.DecRef(im))
		})
	}
}
