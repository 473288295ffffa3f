package assets_test

import (
	"context"
	"errors"
	"fmt"
	"image"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vkassets/vkassets/assets"
	"github.com/vkassets/vkassets/framesync"
	"github.com/vkassets/vkassets/internal/render"
	"github.com/vkassets/vkassets/vk"
	"github.com/vkassets/vkassets/vk/vktest"
)

// TestUploadQueueChoice: uploads take the dedicated transfer queue exactly
// when vk made one (lavapipe has one family with one queue: the graphics
// queue, named by Manager.UploadQueue); UploadGraphics always takes the
// graphics queue; UploadTransfer without a transfer queue is refused.
func TestUploadQueueChoice(t *testing.T) {
	d := vktest.OpenWith(t, vktest.Options{TransferQueue: true})
	_, has := d.TransferQueueFamily()
	want := assets.UploadGraphics
	if has {
		want = assets.UploadTransfer
	}
	t.Logf("device %q: transfer-only family %v, uploads on the %v queue", d.Physical().Name, has, want)
	require.Equal(t, want, openOn(t, d, assets.Options{}).m.UploadQueue())
	require.Equal(t, assets.UploadGraphics, openOn(t, d, assets.Options{UploadQueue: assets.UploadGraphics}).m.UploadQueue())
	require.Equal(t, assets.UploadGraphics, open(t, assets.Options{}).m.UploadQueue(), "no transfer queue asked of vk")
	// The transfer path set up and closed with no upload made: its
	// semaphore and timeline go (the device's teardown reports leaks).
	require.NoError(t, assets.ForceTransferUploads(openOn(t, d, assets.Options{}).m))
	if !has {
		e := open(t, assets.Options{})
		_, err := assets.New(assets.Options{Device: e.dev, Allocator: e.alloc, Sync: e.sync, UploadQueue: assets.UploadTransfer})
		require.ErrorContains(t, err, "no transfer queue")
	}
}

// TestTransferUploads streams textures (blitted mips, CPU-made mips, one
// level) and a scene's buffers from another goroutine while frames render
// them, each sprite drawn in the first frame after its upload returned,
// with validation and synchronization validation on: on a device with a
// transfer-only family through the transfer queue (the frames wait for the
// copies on the GPU), elsewhere through the fallback. Each frame's picture
// must show the sprite's colour.
func TestTransferUploads(t *testing.T) {
	d := vktest.OpenWith(t, vktest.Options{TransferQueue: true, SyncValidation: true})
	e := openOn(t, d, assets.Options{})
	_, has := d.TransferQueueFamily()
	if has {
		require.Equal(t, assets.UploadTransfer, e.m.UploadQueue())
	} else {
		require.Equal(t, assets.UploadGraphics, e.m.UploadQueue(), "lavapipe: the fallback")
	}
	streamAndRender(t, e)
}

// TestTransferUploadsForced runs the transfer-queue path where the device
// has no transfer queue (lavapipe): the copies are submitted on their own,
// signal the manager's transfer timeline, and the graphics side waits for
// it on the GPU — the real semaphore path on one queue.
func TestTransferUploadsForced(t *testing.T) {
	d := vktest.OpenWith(t, vktest.Options{TransferQueue: true, SyncValidation: true})
	e := openOn(t, d, assets.Options{})
	require.NoError(t, assets.ForceTransferUploads(e.m))
	require.Equal(t, assets.UploadTransfer, e.m.UploadQueue())
	streamAndRender(t, e)
}

// streamAndRender uploads textures on one goroutine while another renders
// frames that draw the newest one, and checks each frame's picture.
func streamAndRender(t *testing.T, e *env) {
	const size, count = 32, 24
	r, err := render.New(e.m, e.dev, e.alloc, e.sync, size, size)
	require.NoError(t, err)
	defer r.Close()
	ctx := context.Background()

	type upload struct {
		sprite *assets.SpriteFrame
		rgb    [3]byte
	}
	ready := make(chan upload, count)
	var sceneMu sync.Mutex
	var scene *assets.Scene
	var held []assets.Asset
	streamErr := make(chan error, 1)
	go func() {
		defer close(ready)
		streamErr <- func() error {
			for i := range count {
				rgb := [3]byte{255 * byte(i&1), 255 * byte(i>>1&1), 255 * byte(i>>2&1)}
				side := uint32(size) << (i % 5) // up to 512²: copies that take a while on lavapipe
				px := make([]byte, side*side*4)
				for p := 0; p < len(px); p += 4 {
					px[p], px[p+1], px[p+2], px[p+3] = rgb[0], rgb[1], rgb[2], 255
				}
				im, err := e.m.NewImage(fmt.Sprintf("stream%d", i), side, side, px)
				if err != nil {
					return err
				}
				tex, err := e.m.NewTexture(im, assets.TextureOptions{NoMips: i%3 == 2})
				if err != nil {
					return err
				}
				sp, err := e.m.NewSpriteFrame(fmt.Sprintf("stream%d", i), tex, image.Rect(0, 0, int(side), int(side)))
				if err != nil {
					return err
				}
				held = append(held, im, tex, sp)
				ready <- upload{sp, rgb}
				if i == count/2 {
					s, err := e.b.LoadScene(ctx, "scenes/quad.gltf")
					if err != nil {
						return err
					}
					sceneMu.Lock()
					scene = s
					sceneMu.Unlock()
				}
			}
			return nil
		}()
	}()

	frames, drawn := 0, 0
	for up := range ready {
		f, err := e.sync.BeginFrame(ctx)
		require.NoError(t, err)
		require.NoError(t, r.Begin(f, [4]float32{0.1, 0.1, 0.15, 1}))
		sceneMu.Lock()
		s := scene
		sceneMu.Unlock()
		if s != nil {
			require.NoError(t, r.DrawScene(f, s, render.Identity(), [4]float32{1, 1, 1, 1}))
		}
		require.NoError(t, r.DrawSprite(f, up.sprite, 0, 0, size, size, [4]float32{1, 1, 1, 1}))
		r.End(f, true)
		require.NoError(t, e.sync.EndFrame(f))
		require.NoError(t, e.sync.Wait(ctx, f.Serial()))
		img, err := r.Image(f)
		require.NoError(t, err)
		c := img.RGBAAt(size/2, size/2)
		require.Equal(t, up.rgb, [3]byte{c.R, c.G, c.B}, "frame %d: the sprite's texels", frames)
		frames++
		drawn++
	}
	require.NoError(t, <-streamErr)
	require.Equal(t, count, drawn)
	for _, a := range held {
		require.NoError(t, e.m.DecRef(a))
	}
	require.NoError(t, e.sync.WaitIdle())
}

// BenchmarkFrameWhileStreaming: the time of a frame (2 in flight, a
// 256×256 target, 16 textured sprites) while another goroutine streams
// 512² RGBA textures with blitted mips (1 MiB of texels each) through the
// manager, at most 8 in flight, releasing the older ones, with uploads on the graphics queue
// ("graphics") or where UploadAuto puts them ("auto": the transfer queue
// on a device with a transfer-only family, such as NVIDIA's; on lavapipe
// the graphics queue again, so both measure the fallback there). One op
// is one frame; MiB/s is what the uploads moved meanwhile.
func BenchmarkFrameWhileStreaming(b *testing.B) {
	for _, q := range []assets.UploadQueue{assets.UploadGraphics, assets.UploadAuto} {
		b.Run(q.String(), func(b *testing.B) {
			e := openOn(b, streamDevice(b), assets.Options{UploadQueue: q})
			b.Logf("uploads on the %v queue", e.m.UploadQueue())
			benchStreaming(b, e)
		})
	}
}

// streamDevice is a device with a transfer queue where it has a
// transfer-only family, without validation unless VKASSETS_VALIDATION=1:
// the layer's bookkeeping would dominate what is measured.
func streamDevice(b *testing.B) *vk.Device {
	if os.Getenv(vk.EnvValidation) == "1" {
		return vktest.OpenWith(b, vktest.Options{TransferQueue: true})
	}
	d, err := vk.Open(vk.Options{TransferQueue: true})
	require.NoError(b, err)
	b.Cleanup(d.Close)
	return d
}

// waitUpload waits for an upload's serial (0: none), also when it travels
// with the frame being recorded.
func waitUpload(ctx context.Context, s *framesync.Sync, serial framesync.Serial) error {
	for serial != 0 {
		err := s.Wait(ctx, serial)
		if !errors.Is(err, framesync.ErrNotSubmitted) {
			return err
		}
		time.Sleep(100 * time.Microsecond)
	}
	return nil
}

func benchStreaming(b *testing.B, e *env) {
	const target, side = 256, 512
	r, err := render.New(e.m, e.dev, e.alloc, e.sync, target, target)
	require.NoError(b, err)
	defer r.Close()
	ctx, cancel := context.WithCancel(context.Background())
	px := make([]byte, side*side*4)
	for i := range px {
		px[i] = byte(i * 7)
	}

	var mu sync.Mutex // guards current: a draw claims it under mu, the streamer swaps it under mu
	var current *assets.SpriteFrame
	var uploaded atomic.Int64
	done := make(chan error, 1)
	go func() {
		done <- func() error {
			var window [8]framesync.Serial // the last uploads: at most 8 in flight
			for i := 0; ctx.Err() == nil; i++ {
				if err := waitUpload(ctx, e.sync, window[i%len(window)]); err != nil {
					return nil // cancelled
				}
				im, err := e.m.NewImage(fmt.Sprintf("s%d", i), side, side, px)
				if err != nil {
					return err
				}
				tex, err := e.m.NewTexture(im)
				if err != nil {
					return err
				}
				sp, err := e.m.NewSpriteFrame(fmt.Sprintf("s%d", i), tex, image.Rect(0, 0, side, side))
				if err != nil {
					return err
				}
				window[i%len(window)] = tex.LastUse()
				uploaded.Add(int64(len(px)))
				mu.Lock()
				old := current
				current = sp
				mu.Unlock()
				held := []assets.Asset{im, tex}
				if old != nil {
					held = append(held, old)
				}
				for _, a := range held {
					if err := e.m.DecRef(a); err != nil {
						return err
					}
				}
				e.m.ReleaseUnused()
			}
			return nil
		}()
	}()

	frame := func() {
		f, err := e.sync.BeginFrame(ctx)
		require.NoError(b, err)
		require.NoError(b, r.Begin(f, [4]float32{0.1, 0.1, 0.15, 1}))
		mu.Lock()
		for k := 0; k < 16 && current != nil; k++ {
			x := float32(k%4) * target / 4
			y := float32(k/4) * target / 4
			if err := r.DrawSprite(f, current, x, y, target/4, target/4, [4]float32{1, 1, 1, 1}); err != nil {
				mu.Unlock()
				b.Fatal(err)
			}
		}
		mu.Unlock()
		r.End(f, false)
		require.NoError(b, e.sync.EndFrame(f))
	}
	for range 4 { // warm up: pipelines, descriptor pools
		frame()
	}
	start := uploaded.Load()
	b.ResetTimer()
	t0 := time.Now()
	for range b.N {
		frame()
	}
	require.NoError(b, e.sync.Flush(context.Background()))
	b.StopTimer()
	b.ReportMetric(float64(uploaded.Load()-start)/(1<<20)/time.Since(t0).Seconds(), "MiB/s")
	cancel()
	require.NoError(b, <-done)
	mu.Lock()
	if current != nil {
		require.NoError(b, e.m.DecRef(current))
	}
	mu.Unlock()
	require.NoError(b, e.sync.WaitIdle())
}
