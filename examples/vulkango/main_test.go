package main

import (
	"context"
	"image"
	"image/color"
	_ "image/png"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	vulkan "github.com/vulkan-go/vulkan"

	"github.com/vkassets/vkassets/assets"
	"github.com/vkassets/vkassets/vk"
)

// syncValidation turns on the layer's synchronization validation for
// instances created afterwards (the layer reads the variable).
func syncValidation(t *testing.T) {
	t.Setenv("VK_LAYER_ENABLES", "VK_VALIDATION_FEATURE_ENABLE_SYNCHRONIZATION_VALIDATION_EXT")
}

// noValidationErrors fails the test on any error the layer reported.
func noValidationErrors(t *testing.T) {
	t.Helper()
	n, first := validation.Errors()
	require.Zero(t, n, "validation errors: %q", first)
}

// TestRun runs the program as it ships, with validation on.
func TestRun(t *testing.T) {
	t.Setenv(vk.EnvValidation, "1")
	syncValidation(t)
	require.NoError(t, run(8, filepath.Join(t.TempDir(), "frame.png")))
	noValidationErrors(t)
}

// TestAppTimelineRetirement: the application holds its GPU back (its frame
// waits on a semaphore only the test signals) after a frame that used the
// assets; another goroutine releases them meanwhile. Their GPU objects
// stay while the application's timeline is below that frame's point, and
// go in the first Poll after it passes; the validation layer (with
// synchronization validation) reports nothing, and the frames read back
// are right: with the assets before the release, without after.
func TestAppTimelineRetirement(t *testing.T) {
	syncValidation(t)
	a, err := newApp(true)
	require.NoError(t, err)
	gate := newGate(t, a)
	t.Cleanup(func() {
		// Whatever happened, let the GPU go before the device waits for it.
		// (Signalling a value it already has would be an error: lavapipe
		// reports the device lost.)
		if v, err := a.dev.SemaphoreValue(vk.SemaphoreFromVulkanGo(gate)); err == nil && v == 0 {
			_ = a.dev.SignalSemaphore(vk.SemaphoreFromVulkanGo(gate), 1)
		}
		q := a.dev.QueueLocker()
		q.Lock()
		vulkan.DeviceWaitIdle(a.gpu.dev)
		q.Unlock()
		vulkan.DestroySemaphore(a.gpu.dev, gate, nil)
		require.NoError(t, a.close())
		noValidationErrors(t)
	})
	// The uploads ran on framesync's own timeline: let them finish, so
	// that only the application's timeline decides below.
	require.NoError(t, a.sync.Wait(context.Background(), a.sync.Issued()))

	p, err := a.frame()
	require.NoError(t, err)
	img, err := a.image(p)
	require.NoError(t, err)
	checkWithAssets(t, img)

	held, err := a.frame(wait{sem: gate, value: 1}) // the GPU waits for the test
	require.NoError(t, err)
	released := make(chan error, 1)
	go func() { released <- a.release() }()
	polls := 0
	for done := false; !done; polls++ {
		select {
		case err := <-released:
			require.NoError(t, err)
			done = true
		default:
		}
		require.NoError(t, a.poll())
		requireAlive(t, a, held)
	}
	require.Len(t, a.watched, 4, "the hero, the mesh's two buffers and the quad's texture")
	for range 5 {
		time.Sleep(2 * time.Millisecond)
		require.NoError(t, a.poll())
		requireAlive(t, a, held)
	}
	t.Logf("%d polls while another goroutine released; nothing destroyed while the GPU was held", polls+5)
	for _, w := range a.watched {
		require.Equal(t, held, assets.BaseOf(w.asset).LastUses()[a.tl.Index()], w.name)
	}
	require.ErrorIs(t, a.m.UseAt(a.tl.At(held+1), a.hero), assets.ErrReleased)
	require.NoError(t, a.dev.SignalSemaphore(vk.SemaphoreFromVulkanGo(gate), 1))
	deadline := time.Now().Add(30 * time.Second)
	for len(a.watched) > 0 {
		require.True(t, time.Now().Before(deadline), "not retired after the timeline passed: %v", a.watched)
		before := timelineValue(t, a)
		require.NoError(t, a.poll())
		if before >= held {
			require.Empty(t, a.watched, "the first Poll after the timeline passed %d must retire them", held)
		}
	}
	for _, d := range a.destroyed {
		require.Equal(t, held, d.lastUse, d.name)
		require.GreaterOrEqual(t, d.timeline, held, "%s destroyed before the timeline passed its last use", d.name)
	}

	// Later frames go on without the released assets.
	for range 3 {
		p, err = a.frame()
		require.NoError(t, err)
	}
	img, err = a.image(p)
	require.NoError(t, err)
	checkCleared(t, img, img.Bounds())
}

// requireAlive fails if a watched asset is destroyed while the timeline is
// below held.
func requireAlive(t *testing.T, a *app, held uint64) {
	t.Helper()
	require.Less(t, timelineValue(t, a), held, "the GPU was let go early")
	require.Empty(t, a.destroyed, "destroyed while the timeline is below their last use")
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, w := range a.watched {
		require.Equal(t, assets.Retiring.String(), assets.BaseOf(w.asset).State().String(),
			"%s: its GPU objects must wait for the timeline", w.name)
	}
}

func timelineValue(t *testing.T, a *app) uint64 {
	t.Helper()
	v, err := a.dev.SemaphoreValue(vk.SemaphoreFromVulkanGo(a.gpu.timeline))
	require.NoError(t, err)
	return v
}

// newGate makes a timeline semaphore with vulkan-go that only the host
// signals.
func newGate(t *testing.T, a *app) vulkan.Semaphore {
	t.Helper()
	typ := vk.TimelineSemaphoreType(0)
	defer typ.Free()
	var gate vulkan.Semaphore
	require.NoError(t, check("vkCreateSemaphore", vulkan.CreateSemaphore(a.gpu.dev,
		&vulkan.SemaphoreCreateInfo{SType: vulkan.StructureTypeSemaphoreCreateInfo, PNext: typ.Pointer()}, nil, &gate)))
	return gate
}

var (
	clearRGBA = color.RGBA{0, 0, 255, 255} // clearColor in the sRGB target
	heroRect  = image.Rect(0, 0, 32, 32)   // where the hero is copied
	quadRect  = image.Rect(width/4, height/4, 3*width/4, 3*height/4)
)

// checkWithAssets: the hero's texels exactly in its corner, the quad drawn
// in the middle, the clear colour elsewhere.
func checkWithAssets(t *testing.T, img *image.RGBA) {
	t.Helper()
	f, err := assets.SampleContent().Open("hero.png")
	require.NoError(t, err)
	defer f.Close()
	hero, _, err := image.Decode(f)
	require.NoError(t, err)
	require.Equal(t, heroRect.Size(), hero.Bounds().Size())
	for y := range heroRect.Dy() {
		for x := range heroRect.Dx() {
			want := color.NRGBAModel.Convert(hero.At(x, y)).(color.NRGBA)
			require.Equal(t, color.RGBA(want), img.RGBAAt(x, y), "hero texel (%d, %d)", x, y)
		}
	}
	drawn := 0
	for y := quadRect.Min.Y + 2; y < quadRect.Max.Y-2; y++ {
		for x := quadRect.Min.X + 2; x < quadRect.Max.X-2; x++ {
			if img.RGBAAt(x, y) != clearRGBA {
				drawn++
			}
		}
	}
	require.Greater(t, drawn, quadRect.Inset(2).Dx()*quadRect.Inset(2).Dy()/4, "the quad is not drawn")
	checkCleared(t, img, image.Rect(heroRect.Max.X, 0, width, quadRect.Min.Y-1))
	checkCleared(t, img, image.Rect(0, quadRect.Max.Y+1, width, height))
}

// checkCleared: every pixel of r is the clear colour.
func checkCleared(t *testing.T, img *image.RGBA, r image.Rectangle) {
	t.Helper()
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if got := img.RGBAAt(x, y); got != clearRGBA {
				require.Failf(t, "not the clear colour", "pixel (%d, %d) is %v, want %v", x, y, got, clearRGBA)
			}
		}
	}
}

// TestLoadsWhileRendering: another goroutine loads textures — their uploads
// go to the application's queue through framesync while the loop submits
// its frames there too (QueueLocker keeps them apart; the layer checks the
// queue's external synchronization) — hands each to the loop, which
// copies it into its frames, and releases it once a frame has used it,
// while that frame may be on the GPU. Every texture is destroyed, and
// only after the application's timeline passed its last use.
func TestLoadsWhileRendering(t *testing.T) {
	syncValidation(t)
	a, err := newApp(true)
	require.NoError(t, err)
	t.Cleanup(func() {
		require.NoError(t, a.close())
		noValidationErrors(t)
	})
	b, ok := a.m.Bundle("content")
	require.True(t, ok)
	paths := []string{"checker.png", "logo.jpg", "icons/coin.png", "icons/heart.png", "icons/star.png"}
	const rounds = 3

	loaded := make(chan *assets.Texture2D)
	used := make(chan uint64)
	loaderDone := make(chan error, 1)
	go func() {
		defer close(loaded)
		loaderDone <- func() error {
			for range rounds {
				for _, p := range paths {
					tex, err := b.LoadTexture(context.Background(), p)
					if err != nil {
						return err
					}
					loaded <- tex
					<-used // a frame that copies it has been submitted
					if err := a.fin.Release(tex); err != nil {
						return err
					}
					a.fin.Collect()
				}
			}
			return nil
		}()
	}()

	var textures []*assets.Texture2D
	frames, checked := 0, false
	for loading := true; loading; frames++ {
		select {
		case tex, ok := <-loaded:
			if !ok {
				loading = false
				break
			}
			textures = append(textures, tex)
			a.sprite = tex
			a.mu.Lock()
			a.watched = append(a.watched, watched{name: tex.String(), asset: tex})
			a.mu.Unlock()
			p, err := a.frame()
			require.NoError(t, err)
			if !checked { // checker.png, in the bottom-left corner
				img, err := a.image(p)
				require.NoError(t, err)
				checkSprite(t, img, "checker.png")
				checked = true
			}
			used <- p
		default:
			_, err := a.frame()
			require.NoError(t, err)
		}
	}
	require.NoError(t, <-loaderDone)
	require.Len(t, textures, rounds*len(paths))
	for i := range 3 * framesInFlight { // past the last use of each
		_, err := a.frame()
		require.NoError(t, err, "frame %d", i)
	}
	for _, slot := range a.slots {
		_, err := a.image(slot.point)
		require.NoError(t, err)
	}
	require.NoError(t, a.poll())
	require.Empty(t, a.watched, "every texture retired once the timeline passed its last use")
	require.Len(t, a.destroyed, len(textures))
	for _, d := range a.destroyed {
		require.NotZero(t, d.lastUse, "%s was used by a frame", d.name)
		require.GreaterOrEqual(t, d.timeline, d.lastUse, "%s destroyed before the timeline passed its last use", d.name)
	}
	for _, tex := range textures {
		require.Equal(t, assets.Destroyed.String(), tex.State().String(), tex.String())
	}
	t.Logf("%d frames while %d textures were loaded, used and released", frames, len(textures))
}

// checkSprite: the sprite's top-left corner, exactly, in the target's
// bottom-left corner.
func checkSprite(t *testing.T, img *image.RGBA, path string) {
	t.Helper()
	f, err := assets.SampleContent().Open(path)
	require.NoError(t, err)
	defer f.Close()
	src, _, err := image.Decode(f)
	require.NoError(t, err)
	for y := range spriteSize {
		for x := range spriteSize {
			want := color.NRGBAModel.Convert(src.At(x, y)).(color.NRGBA)
			require.Equal(t, color.RGBA(want), img.RGBAAt(x, height-spriteSize+y), "%s texel (%d, %d)", path, x, y)
		}
	}
}
