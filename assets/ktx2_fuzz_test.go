package assets

import (
	"context"
	"errors"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/vkassets/vkassets/assets/internal/ktx2write"
)

// ktx2Seeds are well-formed files: plain and supercompressed RGBA8 with
// levels, one BC7 level.
func ktx2Seeds() [][]byte {
	dfd := ktx2write.BasicDFD(modelRGBSDA, 1, 1, 4, 4, false)
	levels := func(enc *zstd.Encoder) []ktx2write.Level {
		var out []ktx2write.Level
		for _, side := range []int{4, 2, 1} {
			l := make([]byte, side*side*4)
			for i := range l {
				l[i] = byte(i * 7)
			}
			data := l
			if enc != nil {
				data = enc.EncodeAll(l, nil)
			}
			out = append(out, ktx2write.Level{Data: data, UncompressedLength: uint64(len(l))})
		}
		return out
	}
	enc, _ := zstd.NewWriter(nil)
	defer enc.Close()
	plain := ktx2write.File{VkFormat: 37, TypeSize: 1, Width: 4, Height: 4, DFD: dfd, KV: [][2]string{{"KTXwriter", "seed"}}, Levels: levels(nil)}
	packed := plain
	packed.Scheme, packed.Levels = 2, levels(enc)
	bc7 := ktx2write.File{VkFormat: 145, TypeSize: 1, Width: 4, Height: 4, DFD: ktx2write.BasicDFD(134, 1, 4, 16, 1, false),
		Levels: []ktx2write.Level{{Data: make([]byte, 16), UncompressedLength: 16}}}
	return [][]byte{plain.Bytes(), packed.Bytes(), bc7.Bytes()}
}

// FuzzKTX2: any bytes either fail with ErrDecode, ErrUnsupported or
// ErrTooLarge, or give levels of exactly the sizes their format and
// dimensions make, within the limits; never a panic, and never more
// memory than the limit (a level's buffer is its checked size).
func FuzzKTX2(f *testing.F) {
	for _, s := range ktx2Seeds() {
		f.Add(s)
		f.Add(s[:len(s)/2])
	}
	addSeeds(f, "testdata/ktx2/*.ktx2")
	const maxDim, maxBytes = 1024, 4 << 20
	f.Fuzz(func(t *testing.T, data []byte) {
		file, levels, err := decodeKTX2(context.Background(), data, maxDim, maxBytes)
		if err != nil {
			if !errors.Is(err, ErrDecode) && !errors.Is(err, ErrUnsupported) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("unclassified error: %v", err)
			}
			return
		}
		if file.width > maxDim || file.height > maxDim || file.bytes() > maxBytes || len(levels) != len(file.levels) {
			t.Fatalf("%dx%d, %d bytes in %d levels", file.width, file.height, file.bytes(), len(levels))
		}
		for i, l := range levels {
			w, h := max(file.width>>i, 1), max(file.height>>i, 1)
			if uint64(len(l)) != levelSize(file.info, w, h) {
				t.Fatalf("level %d: %d bytes for %dx%d", i, len(l), w, h)
			}
		}
	})
}

// TestKTX2Context: a cancelled context stops the inflation between levels.
func TestKTX2Context(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err := decodeKTX2(ctx, ktx2Seeds()[1], 1024, 1<<20)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
}
