package assets

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/klauspost/compress/zstd"

	"github.com/vkassets/vkassets/vk"
)

// KTX2 (Khronos Texture 2.0) files carry texels in their GPU format, with
// their mip levels: they upload as they are, with no decode to RGBA8. The
// container is checked whole against the file's length before any of its
// payload is used; the limits (maximum dimension, Options.MaxImageBytes)
// apply from the header.

// ktx2Identifier opens every KTX2 file: «KTX 20»\r\n\x1A\n.
var ktx2Identifier = []byte{0xAB, 'K', 'T', 'X', ' ', '2', '0', 0xBB, '\r', '\n', 0x1A, '\n'}

// errKTX2Content: the bytes given to the RGBA8 decoder are a KTX2 file.
var errKTX2Content = fmt.Errorf("%w: a KTX2 file holds GPU texels, not RGBA8 pixels: load it as a texture (LoadTexture, LoadSpriteFrame)", ErrUnknownKind)

// isKTX2 reports whether data opens with the KTX2 identifier.
func isKTX2(data []byte) bool { return bytes.HasPrefix(data, ktx2Identifier) }

// isKTX2Name reports whether a path or URL names a .ktx2 file.
func isKTX2Name(name string) bool {
	if i := strings.IndexAny(name, "?#"); i >= 0 {
		name = name[:i]
	}
	return strings.EqualFold(path.Ext(name), ".ktx2")
}

const (
	ktx2HeaderSize = 80 // identifier, header and index, up to the level index
	ktx2LevelSize  = 24 // one level index entry
	ktx2MaxLevels  = 32 // a 2D image of at most 2³²−1 texels a side
	dfdBasicSize   = 24 // a basic descriptor block without its samples
	dfdSampleSize  = 16

	schemeNone      = 0
	schemeBasisLZ   = 1
	schemeZstandard = 2
	schemeZLIB      = 3

	// Data Format Descriptor colour models and transfer functions.
	modelRGBSDA  = 1
	modelBC1A    = 128
	modelETC1S   = 163
	modelUASTC   = 166
	transferSRGB = 2
)

// ktx2Format is what the loader knows of one VkFormat: its texel blocks,
// typeSize, colour model and whether its texels are sRGB-encoded.
type ktx2Format struct {
	name       string
	block      uint32 // block side in texels: 1 for uncompressed, 4 for BC
	blockBytes uint32
	typeSize   uint32
	model      uint8
	srgb       bool
}

// ktx2Formats are the payloads vkassets uploads.
var ktx2Formats = func() map[vk.Format]ktx2Format {
	m := map[vk.Format]ktx2Format{
		vk.FormatR8Unorm:            {"R8_UNORM", 1, 1, 1, modelRGBSDA, false},
		vk.FormatR8G8Unorm:          {"R8G8_UNORM", 1, 2, 1, modelRGBSDA, false},
		vk.FormatR8G8B8A8Unorm:      {"R8G8B8A8_UNORM", 1, 4, 1, modelRGBSDA, false},
		vk.FormatR8G8B8A8Srgb:       {"R8G8B8A8_SRGB", 1, 4, 1, modelRGBSDA, true},
		vk.FormatR16G16B16A16Sfloat: {"R16G16B16A16_SFLOAT", 1, 8, 2, modelRGBSDA, false},
	}
	bc := []struct {
		name  string
		bytes uint32
		srgb  bool
	}{
		{"BC1_RGB_UNORM", 8, false}, {"BC1_RGB_SRGB", 8, true}, {"BC1_RGBA_UNORM", 8, false}, {"BC1_RGBA_SRGB", 8, true},
		{"BC2_UNORM", 16, false}, {"BC2_SRGB", 16, true}, {"BC3_UNORM", 16, false}, {"BC3_SRGB", 16, true},
		{"BC4_UNORM", 8, false}, {"BC4_SNORM", 8, false}, {"BC5_UNORM", 16, false}, {"BC5_SNORM", 16, false},
		{"BC6H_UFLOAT", 16, false}, {"BC6H_SFLOAT", 16, false}, {"BC7_UNORM", 16, false}, {"BC7_SRGB", 16, true},
	}
	for i, f := range bc {
		// BC1 (RGB and RGBA) is model BC1A, then one model per BCn.
		model := uint8(modelBC1A)
		if i >= 4 {
			model += uint8((i - 2) / 2)
		}
		m[vk.FormatBC1RGBUnormBlock+vk.Format(i)] = ktx2Format{f.name + "_BLOCK", 4, f.bytes, 1, model, f.srgb}
	}
	return m
}()

// ktx2File is a KTX2 container, checked: every offset and length lies
// within the file, every level has the size its format and dimensions
// give, and the limits hold.
type ktx2File struct {
	format        vk.Format
	info          ktx2Format
	width, height uint32
	scheme        uint32
	genMips       bool        // levelCount 0: the file asks for a generated chain
	levels        []ktx2Level // level 0 (the largest) first
	writer        string      // the KTXwriter key, if any
}

// ktx2Level is one mip level: where its bytes lie in the file, and the
// size it has once inflated.
type ktx2Level struct {
	offset, length uint64
	size           uint64 // uncompressedByteLength, checked against the format
	width, height  uint32
}

// bytes is the device memory the file's levels take uploaded.
func (f *ktx2File) bytes() uint64 {
	var n uint64
	for _, l := range f.levels {
		n += l.size
	}
	return n
}

// levelSize is the byte size of a w×h level of format fi.
func levelSize(fi ktx2Format, w, h uint32) uint64 {
	bw := (uint64(w) + uint64(fi.block) - 1) / uint64(fi.block)
	bh := (uint64(h) + uint64(fi.block) - 1) / uint64(fi.block)
	return bw * bh * uint64(fi.blockBytes)
}

// within reports whether [off, off+n) lies in a file of size bytes,
// without overflow.
func within(off, n, size uint64) bool { return n <= size && off <= size-n }

func ktx2Err(format string, args ...any) error {
	return fmt.Errorf("%w: KTX2: %s", ErrDecode, fmt.Sprintf(format, args...))
}

func ktx2Unsupported(format string, args ...any) error {
	return fmt.Errorf("%w: KTX2: %s", ErrUnsupported, fmt.Sprintf(format, args...))
}

// parseKTX2 checks a KTX2 file whole, with sides of at most maxDim and
// levels of at most maxBytes together, before any payload is read.
func parseKTX2(data []byte, maxDim uint32, maxBytes int64) (*ktx2File, error) {
	size := uint64(len(data))
	if size < ktx2HeaderSize {
		return nil, ktx2Err("truncated header: %d bytes, the header and index take %d", size, ktx2HeaderSize)
	}
	if !isKTX2(data) {
		return nil, ktx2Err("no KTX2 identifier")
	}
	le := binary.LittleEndian
	u32 := func(off int) uint32 { return le.Uint32(data[off:]) }
	format, typeSize := vk.Format(u32(12)), u32(16)
	width, height, depth := u32(20), u32(24), u32(28)
	layers, faces, levelCount, scheme := u32(32), u32(36), u32(40), u32(44)
	dfdOff, dfdLen := uint64(u32(48)), uint64(u32(52))
	kvdOff, kvdLen := uint64(u32(56)), uint64(u32(60))
	sgdOff, sgdLen := le.Uint64(data[64:]), le.Uint64(data[72:])

	if levelCount > ktx2MaxLevels {
		return nil, ktx2Err("levelCount %d: a 2D image has at most %d levels", levelCount, ktx2MaxLevels)
	}
	n := max(levelCount, 1)
	indexEnd := uint64(ktx2HeaderSize + n*ktx2LevelSize)
	if indexEnd > size {
		return nil, ktx2Err("truncated level index: %d levels need %d bytes, the file has %d", n, indexEnd, size)
	}
	for _, r := range []struct {
		name      string
		off, size uint64
	}{{"data format descriptor", dfdOff, dfdLen}, {"key/value data", kvdOff, kvdLen}, {"supercompression global data", sgdOff, sgdLen}} {
		if !within(r.off, r.size, size) {
			return nil, ktx2Err("%s at offset %d, %d bytes, beyond the file's %d bytes", r.name, r.off, r.size, size)
		}
	}
	dfd, err := parseDFD(data[dfdOff : dfdOff+dfdLen])
	if err != nil {
		return nil, err
	}

	// What the file holds, before its size: refusals name what is missing.
	switch {
	case scheme == schemeBasisLZ:
		return nil, ktx2Unsupported("supercompression scheme 1 (BasisLZ/ETC1S) needs a Basis Universal transcoder, which vkassets does not have")
	case format == 0 && dfd.model == modelUASTC:
		return nil, ktx2Unsupported("UASTC payload (vkFormat 0, colour model %d) needs a Basis Universal transcoder, which vkassets does not have", dfd.model)
	case format == 0 && dfd.model == modelETC1S:
		return nil, ktx2Unsupported("ETC1S payload (vkFormat 0, colour model %d) needs a Basis Universal transcoder, which vkassets does not have", dfd.model)
	case scheme == schemeZLIB:
		return nil, ktx2Unsupported("supercompression scheme 3 (ZLIB); schemes 0 (none) and 2 (Zstandard) are")
	case scheme > schemeZLIB:
		return nil, ktx2Unsupported("unknown supercompression scheme %d", scheme)
	}
	fi, ok := ktx2Formats[format]
	if !ok {
		return nil, ktx2Unsupported("vkFormat %d; supported: R8, R8G8, R8G8B8A8 (UNORM, SRGB), R16G16B16A16_SFLOAT, BC1-BC7", format)
	}
	switch {
	case typeSize != fi.typeSize:
		return nil, ktx2Err("typeSize %d for %s, which has %d", typeSize, fi.name, fi.typeSize)
	case width == 0:
		return nil, ktx2Err("pixelWidth 0")
	case height == 0:
		return nil, ktx2Unsupported("1D textures (pixelHeight 0)")
	case depth != 0:
		return nil, ktx2Unsupported("3D textures (pixelDepth %d)", depth)
	case layers > 1:
		return nil, ktx2Unsupported("array textures (layerCount %d)", layers)
	case faces == 6:
		return nil, ktx2Unsupported("cube maps (faceCount 6)")
	case faces != 1:
		return nil, ktx2Err("faceCount %d: 1 or 6", faces)
	case width > maxDim || height > maxDim:
		return nil, fmt.Errorf("%w: KTX2 image %dx%d, the device allows %d", ErrTooLarge, width, height, maxDim)
	case levelCount == 0 && fi.block > 1:
		return nil, ktx2Err("levelCount 0 for %s: a block-compressed file holds its levels, none can be generated", fi.name)
	case n > vk.MipLevels(width, height):
		return nil, ktx2Err("levelCount %d: a %dx%d image has at most %d levels", levelCount, width, height, vk.MipLevels(width, height))
	}
	f := &ktx2File{format: format, info: fi, width: width, height: height, scheme: scheme, genMips: levelCount == 0}
	var total uint64 // from the header alone: at most 2³² sides², no overflow
	for i := range n {
		total += levelSize(fi, max(width>>i, 1), max(height>>i, 1))
	}
	if total > uint64(max(maxBytes, 0)) {
		return nil, fmt.Errorf("%w: KTX2 image %dx%d takes %d bytes in %d levels of %s, the limit is %d (Options.MaxImageBytes)",
			ErrTooLarge, width, height, total, n, fi.name, maxBytes)
	}
	for i := range n {
		w, h := max(width>>i, 1), max(height>>i, 1)
		e := data[ktx2HeaderSize+i*ktx2LevelSize:]
		l := ktx2Level{offset: le.Uint64(e), length: le.Uint64(e[8:]), size: le.Uint64(e[16:]), width: w, height: h}
		if want := levelSize(fi, w, h); l.size != want {
			return nil, ktx2Err("level %d: uncompressedByteLength %d, a %dx%d level of %s takes %d", i, l.size, w, h, fi.name, want)
		}
		f.levels = append(f.levels, l)
	}
	if err := dfd.check(format, fi); err != nil {
		return nil, err
	}
	if f.writer, err = parseKVD(data[kvdOff : kvdOff+kvdLen]); err != nil {
		return nil, err
	}
	if sgdLen != 0 {
		return nil, ktx2Err("supercompression global data of %d bytes with scheme %d, which has none", sgdLen, scheme)
	}
	return f, f.checkLevels(size, indexEnd)
}

// checkLevels checks that each level lies in the file, after the level
// index, in the order the specification stores them (the smallest level
// first), with no two overlapping, and that an uncompressed level has
// exactly its size.
func (f *ktx2File) checkLevels(size, indexEnd uint64) error {
	next := size // levels lie below the next larger level's offset
	for i, l := range f.levels {
		switch {
		case !within(l.offset, l.length, size):
			return ktx2Err("level %d at offset %d, %d bytes, beyond the file's %d bytes", i, l.offset, l.length, size)
		case l.offset < indexEnd:
			return ktx2Err("level %d at offset %d, inside the header and level index (%d bytes)", i, l.offset, indexEnd)
		case l.offset+l.length > next:
			return ktx2Err("level %d at offset %d, %d bytes, overlaps or follows level %d: levels are stored smallest first", i, l.offset, l.length, i-1)
		case f.scheme == schemeNone && l.length != l.size:
			return ktx2Err("level %d: byteLength %d, uncompressedByteLength %d, without supercompression", i, l.length, l.size)
		case f.scheme == schemeZstandard && l.length == 0:
			return ktx2Err("level %d: no bytes", i)
		}
		next = l.offset
	}
	return nil
}

// dfdBasic is the basic descriptor block of a Data Format Descriptor.
type dfdBasic struct {
	model, transfer uint8
	blockDim        [4]uint8
}

// parseDFD reads the basic descriptor block of a Data Format Descriptor.
func parseDFD(d []byte) (dfdBasic, error) {
	le := binary.LittleEndian
	if len(d) < 4+dfdBasicSize {
		return dfdBasic{}, ktx2Err("bad DFD: %d bytes, a basic descriptor block takes %d", len(d), 4+dfdBasicSize)
	}
	if total := le.Uint32(d); uint64(total) != uint64(len(d)) {
		return dfdBasic{}, ktx2Err("bad DFD: dfdTotalSize %d, dfdByteLength %d", total, len(d))
	}
	b := d[4:]
	vendor, kind := le.Uint32(b)&0x1FFFF, le.Uint32(b)>>17
	version, blockSize := le.Uint16(b[4:]), le.Uint16(b[6:])
	switch {
	case vendor != 0 || kind != 0:
		return dfdBasic{}, ktx2Err("bad DFD: first block is vendor %d type %d, not the Khronos basic block", vendor, kind)
	case version != 2:
		return dfdBasic{}, ktx2Err("bad DFD: version %d, not 2 (Khronos Data Format 1.3)", version)
	case blockSize < dfdBasicSize || (blockSize-dfdBasicSize)%dfdSampleSize != 0 || int(blockSize) > len(b):
		return dfdBasic{}, ktx2Err("bad DFD: descriptorBlockSize %d in %d bytes", blockSize, len(b))
	}
	return dfdBasic{model: b[8], transfer: b[10], blockDim: [4]uint8(b[12:16])}, nil
}

// check compares the descriptor with the file's vkFormat.
func (d dfdBasic) check(format vk.Format, fi ktx2Format) error {
	if d.model != fi.model {
		return ktx2Err("bad DFD: colour model %d for %s, which has %d", d.model, fi.name, fi.model)
	}
	if want := fi.block - 1; d.blockDim != [4]uint8{uint8(want), uint8(want), 0, 0} {
		return ktx2Err("bad DFD: texel block %dx%d for %s, which has %dx%d", d.blockDim[0]+1, d.blockDim[1]+1, fi.name, fi.block, fi.block)
	}
	if (d.transfer == transferSRGB) != fi.srgb {
		return ktx2Err("bad DFD: transfer function %d for %s", d.transfer, fi.name)
	}
	return nil
}

// parseKVD walks the key/value data (each entry's length inside the
// block) and returns the KTXwriter value, if any.
func parseKVD(d []byte) (writer string, err error) {
	le := binary.LittleEndian
	for off := uint64(0); off < uint64(len(d)); {
		if !within(off, 4, uint64(len(d))) {
			return "", ktx2Err("key/value data: entry at %d truncated", off)
		}
		n := uint64(le.Uint32(d[off:]))
		if !within(off+4, n, uint64(len(d))) {
			return "", ktx2Err("key/value data: entry at %d of %d bytes beyond the block's %d", off, n, len(d))
		}
		kv := d[off+4 : off+4+n]
		key, value, ok := bytes.Cut(kv, []byte{0})
		if !ok || len(key) == 0 {
			return "", ktx2Err("key/value data: entry at %d has no NUL-terminated key", off)
		}
		if string(key) == "KTXwriter" {
			writer = string(bytes.TrimRight(value, "\x00"))
		}
		off += 4 + (n+3)&^3
	}
	return writer, nil
}

// levelInto writes level i's texels into dst (len(dst) is the level's
// size): copied from data, or inflated by dec (one decoder per load, its
// memory bounded by the largest level) straight into dst, its output
// capped at dst's capacity.
func (f *ktx2File) levelInto(dst, data []byte, i int, dec *zstd.Decoder) error {
	l := f.levels[i]
	src := data[l.offset : l.offset+l.length]
	if f.scheme == schemeNone {
		copy(dst, src)
		return nil
	}
	out, err := dec.DecodeAll(src, dst[:0:l.size])
	if errors.Is(err, zstd.ErrWindowSizeExceeded) {
		return ktx2Err("level %d: Zstandard window over the %d bytes allowed", i, max(f.levels[0].size, zstdMinWindow))
	}
	if errors.Is(err, zstd.ErrDecoderSizeExceeded) {
		return ktx2Err("level %d: Zstandard data inflates beyond its uncompressedByteLength %d", i, l.size)
	}
	if err != nil {
		return ktx2Err("level %d: Zstandard: %v", i, err)
	}
	if uint64(len(out)) != l.size {
		return ktx2Err("level %d: Zstandard data inflates to %d bytes, uncompressedByteLength is %d", i, len(out), l.size)
	}
	return nil
}

// decoder is the Zstandard decoder of a supercompressed file (nil for
// others): one goroutine, its output capped at the level's size (the
// destination's capacity), its window at the largest level — but at least
// 8 MiB, the window libzstd's levels up to 19 declare, which may exceed a
// small level.
func (f *ktx2File) decoder() (*zstd.Decoder, error) {
	if f.scheme != schemeZstandard {
		return nil, nil
	}
	return zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
		zstd.WithDecoderMaxMemory(max(f.levels[0].size, zstdMinWindow)), zstd.WithDecodeAllCapLimit(true))
}

// zstdMinWindow is the window a Zstandard decoder allows whatever the
// level's size.
const zstdMinWindow = 8 << 20

// decodeKTX2 checks a whole KTX2 file and inflates its levels, as a load
// would, without a device: for fuzzing and tools. ctx is checked between
// levels.
func decodeKTX2(ctx context.Context, data []byte, maxDim uint32, maxBytes int64) (*ktx2File, [][]byte, error) {
	f, err := parseKTX2(data, maxDim, maxBytes)
	if err != nil {
		return nil, nil, err
	}
	dec, err := f.decoder()
	if err != nil {
		return nil, nil, err
	}
	if dec != nil {
		defer dec.Close()
	}
	out := make([][]byte, len(f.levels))
	for i := range f.levels {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		out[i] = make([]byte, f.levels[i].size)
		if err := f.levelInto(out[i], data, i, dec); err != nil {
			return nil, nil, err
		}
	}
	return f, out, nil
}
