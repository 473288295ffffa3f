package assets_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	"image/png"
	"math/rand/v2"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vkassets/vkassets/assets"
	"github.com/vkassets/vkassets/vk"
)

// pngHeaderOnly is a PNG whose header says w×h 8-bit grey and whose pixel
// data is absent: what a decompression bomb's header looks like, and all
// that a check from the header may read.
func pngHeaderOnly(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		_ = binary.Write(&b, binary.BigEndian, uint32(len(data)))
		c := crc32.NewIEEE()
		c.Write([]byte(typ))
		c.Write(data)
		b.WriteString(typ)
		b.Write(data)
		_ = binary.Write(&b, binary.BigEndian, c.Sum32())
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 0 // 8-bit greyscale
	chunk("IHDR", ihdr)
	chunk("IEND", nil)
	return b.Bytes()
}

// noisePNG is a side×side PNG of noise (it compresses badly: decoding it
// takes a while).
func noisePNG(t *testing.T, side int) []byte {
	t.Helper()
	im := image.NewRGBA(image.Rect(0, 0, side, side))
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i+8 <= len(im.Pix); i += 8 {
		binary.LittleEndian.PutUint64(im.Pix[i:], r.Uint64())
	}
	var buf bytes.Buffer
	require.NoError(t, (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&buf, im))
	return buf.Bytes()
}

// TestHostileImageRefusedFromHeader: an image whose header promises more
// than Options.MaxImageBytes decoded (the default: 256 MiB at most) is
// refused before its pixels are read, naming the sizes; nothing is cached.
func TestHostileImageRefusedFromHeader(t *testing.T) {
	e := open(t, assets.Options{})
	b, err := e.m.AddBundle("hostile", fstest.MapFS{
		"bomb.png": {Data: pngHeaderOnly(16384, 16384)}, // 1 GiB of RGBA8, within the device's 16384
	})
	require.NoError(t, err)
	t0 := time.Now()
	_, err = b.LoadTexture(context.Background(), "bomb.png")
	require.ErrorIs(t, err, assets.ErrTooLarge)
	require.Contains(t, err.Error(), "16384x16384 decodes to 1073741824 bytes")
	require.Contains(t, err.Error(), "Options.MaxImageBytes")
	t.Logf("refused in %v: %v", time.Since(t0), err)
	require.Empty(t, b.Assets(), "nothing cached")

	// A smaller limit refuses an ordinary file too.
	small := open(t, assets.Options{MaxImageBytes: 16 * 16 * 4}) // hero.png is 32x32
	_, err = small.b.LoadTexture(context.Background(), "hero.png")
	require.ErrorIs(t, err, assets.ErrTooLarge)
}

// TestLoadHonoursContext: a load whose context ends during the decode of
// a large image fails with the context's error at once, and the manager
// closes cleanly after it (the decode stopping itself is
// TestDecodeStopsWhenCancelled's).
func TestLoadHonoursContext(t *testing.T) {
	data := noisePNG(t, 1024)
	e := open(t, assets.Options{})
	b, err := e.m.AddBundle("big", fstest.MapFS{"noise.png": {Data: data}})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	_, err = b.LoadTexture(ctx, "noise.png")
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.NoError(t, e.m.Close())
	require.Empty(t, b.Assets(), "nothing cached")
}

// TestLoadsAdmittedAgainstTheBudget: loads that together would take more
// than Options.LoadBudget are refused with ErrOverBudget naming the asset,
// one after another and from many goroutines at once; the memory in use
// never passes the budget.
func TestLoadsAdmittedAgainstTheBudget(t *testing.T) {
	const px, n = 128, 8
	// One level each: the budget's arithmetic below is of px*px*4 textures.
	oneLevel := assets.TextureOptions{NoMips: true}
	size := int64(px * px * 4)
	fsys := fstest.MapFS{}
	for i := range n {
		im := image.NewRGBA(image.Rect(0, 0, px, px))
		im.Pix[0] = uint8(i)
		var buf bytes.Buffer
		require.NoError(t, png.Encode(&buf, im))
		fsys[fmt.Sprintf("t%d.png", i)] = &fstest.MapFile{Data: buf.Bytes()}
	}
	budget := 4*size - 1 // each load takes its texture and a staging copy until the copy retires
	e := open(t, assets.Options{LoadBudget: budget})
	b, err := e.m.AddBundle("many", fsys)
	require.NoError(t, err)
	ctx := context.Background()

	_, err = b.LoadTexture(ctx, "t0.png", oneLevel)
	require.NoError(t, err)
	retire := func() { // the staging copies done and retired: only the textures stay
		require.NoError(t, e.sync.WaitIdle())
		_, err := e.sync.Poll()
		require.NoError(t, err)
	}
	retire()
	_, err = b.LoadTexture(ctx, "t1.png", oneLevel)
	require.NoError(t, err)
	retire()
	require.Equal(t, uint64(2*size), e.alloc.AllocatedBytes(vk.HeapDeviceLocal), "two textures")
	_, err = b.LoadTexture(ctx, "t2.png", oneLevel)
	require.ErrorIs(t, err, assets.ErrOverBudget)
	require.Contains(t, err.Error(), `"t2.png" needs 131072 bytes`)
	require.LessOrEqual(t, int64(e.alloc.AllocatedBytes(vk.HeapDeviceLocal)), budget)

	// Many at once on a manager with room for four textures and their
	// staging: some are admitted, the rest refused, and the memory in use
	// never passes the budget.
	budget = 8 * size
	e2 := open(t, assets.Options{LoadBudget: budget})
	b2, err := e2.m.AddBundle("many", fsys)
	require.NoError(t, err)
	var wg sync.WaitGroup
	var refused, loaded int
	var mu sync.Mutex
	for i := range n {
		wg.Go(func() {
			_, err := b2.LoadTexture(ctx, fmt.Sprintf("t%d.png", i), oneLevel)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				loaded++
			case errors.Is(err, assets.ErrOverBudget):
				refused++
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	require.Equal(t, n, refused+loaded)
	require.Positive(t, refused, "eight textures and their staging cannot all fit in %d bytes", budget)
	require.LessOrEqual(t, int64(e2.alloc.AllocatedBytes(vk.HeapDeviceLocal)), budget, "%d loaded", loaded)
}
