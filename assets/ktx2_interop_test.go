package assets_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkassets/vkassets/assets"
	"github.com/vkassets/vkassets/vk"
)

// interopPattern is scripts/ktx2-interop/write.mjs's texels, computed
// here on its own: byte i of texel (or block) (x, y) of a level.
func interopPattern(w, h, level, bytesPer int) []byte {
	b := make([]byte, w*h*bytesPer)
	for y := range h {
		for x := range w {
			for i := range bytesPer {
				b[(y*w+x)*bytesPer+i] = byte(x*17 + y*29 + level*53 + i*71)
			}
		}
	}
	return b
}

// TestKTX2FromKtxParse: the files ktx-parse wrote (assets/testdata/ktx2,
// its version in TOOLS.txt; Zstandard levels by the reference zstd) load,
// and every level reads back as the pattern the script wrote.
func TestKTX2FromKtxParse(t *testing.T) {
	e := open(t, assets.Options{})
	b, err := e.m.AddBundle("ktxparse", os.DirFS("testdata/ktx2"))
	require.NoError(t, err)
	for _, c := range []struct {
		file          string
		format        vk.Format
		w, h, levels  int
		bytesPer      int
		block, loaded int
	}{
		{"rgba8-srgb-mips.ktx2", vk.FormatR8G8B8A8Srgb, 16, 8, 5, 4, 1, 5},
		{"rgba8-srgb-mips-zstd.ktx2", vk.FormatR8G8B8A8Srgb, 16, 8, 5, 4, 1, 5},
		{"r8-unorm.ktx2", vk.FormatR8Unorm, 9, 5, 1, 1, 1, 4}, // one level: a chain is made
		{"bc1-rgba-unorm.ktx2", vk.FormatBC1RGBAUnormBlock, 8, 8, 4, 8, 4, 4},
	} {
		tex, err := b.LoadTexture(context.Background(), c.file)
		require.NoError(t, err, c.file)
		require.Equal(t, c.format, tex.Format, c.file)
		require.Equal(t, uint32(c.loaded), tex.MipLevels, c.file)
		for level := range c.levels {
			lw, lh := max(c.w>>level, 1), max(c.h>>level, 1)
			want := interopPattern((lw+c.block-1)/c.block, (lh+c.block-1)/c.block, level, c.bytesPer)
			require.Equal(t, want, readRaw(t, e, tex, uint32(level), len(want)), "%s level %d", c.file, level)
		}
	}
}

// ktxParseSummary is what scripts/ktx2-interop/read.mjs prints of a file.
type ktxParseSummary struct {
	VkFormat, TypeSize, PixelWidth, PixelHeight, LevelCount int
	SupercompressionScheme                                  int
	ColorModel, TransferFunction                            int
	TexelBlockDimension                                     []int
	Keys                                                    []string
	Levels                                                  []struct {
		ByteLength, UncompressedByteLength int
		SHA256                             string `json:"sha256"`
	}
}

// TestKtxParseReadsOurs: ktx-parse reads the files the tests write
// (internal/ktx2write) and finds what was written: header, DFD, keys and
// every level's bytes.
func TestKtxParseReadsOurs(t *testing.T) {
	script, err := filepath.Abs("../scripts/ktx2-interop/read.mjs")
	require.NoError(t, err)
	if _, err := os.Stat(filepath.Join(filepath.Dir(script), "node_modules", "ktx-parse")); err != nil {
		t.Fatalf("ktx-parse is not installed: run scripts/deps.sh (npm ci in scripts/ktx2-interop): %v", err)
	}
	dir := t.TempDir()
	rgba := randomLevels(ktxSRGBA8, 13, 6, 4, 21)
	bc7 := randomLevels(ktxBC7, 8, 8, 4, 22)
	cases := []struct {
		name   string
		format ktxFormat
		w, h   int
		levels [][]byte
		zstd   bool
	}{
		{"rgba.ktx2", ktxSRGBA8, 13, 6, rgba, false},
		{"rgba-zstd.ktx2", ktxSRGBA8, 13, 6, rgba, true},
		{"bc7.ktx2", ktxBC7, 8, 8, bc7, true},
	}
	var paths []string
	stored := map[string][][]byte{}
	for _, c := range cases {
		f := ktxFile(c.format, uint32(c.w), uint32(c.h), c.levels, c.zstd)
		p := filepath.Join(dir, c.name)
		require.NoError(t, os.WriteFile(p, f.Bytes(), 0o644))
		paths = append(paths, p)
		for _, l := range f.Levels {
			stored[c.name] = append(stored[c.name], l.Data)
		}
	}
	out, err := exec.Command("node", append([]string{script}, paths...)...).Output()
	require.NoError(t, err, "node %s", script)
	var got []ktxParseSummary
	require.NoError(t, json.Unmarshal(out, &got))
	require.Len(t, got, len(cases))
	for i, c := range cases {
		s := got[i]
		scheme, transfer := 0, 1
		if c.zstd {
			scheme = 2
		}
		if c.format.srgb {
			transfer = 2
		}
		require.Equal(t, []int{int(c.format.vk), int(c.format.typeSize), c.w, c.h, len(c.levels), scheme},
			[]int{s.VkFormat, s.TypeSize, s.PixelWidth, s.PixelHeight, s.LevelCount, s.SupercompressionScheme}, c.name)
		require.Equal(t, []int{int(c.format.model), transfer}, []int{s.ColorModel, s.TransferFunction}, c.name)
		require.Equal(t, []int{int(c.format.block) - 1, int(c.format.block) - 1, 0, 0}, s.TexelBlockDimension, c.name)
		require.Equal(t, []string{"KTXwriter"}, s.Keys, c.name)
		require.Len(t, s.Levels, len(c.levels), c.name)
		for l, lv := range s.Levels {
			sum := sha256.Sum256(stored[c.name][l])
			require.Equal(t, hex.EncodeToString(sum[:]), lv.SHA256, "%s level %d", c.name, l)
			require.Equal(t, len(stored[c.name][l]), lv.ByteLength, "%s level %d", c.name, l)
			require.Equal(t, len(c.levels[l]), lv.UncompressedByteLength, "%s level %d", c.name, l)
		}
	}
}
