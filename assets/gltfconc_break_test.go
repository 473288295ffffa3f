package assets_test

import (
	"context"
	"errors"
	"image/color"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vkassets/vkassets/assets"
)

// sharedScenes are two glTF files of one bundle that share an image file
// (as sRGB base colour and as a linear normal map) and a sampler's
// parameters, each with an image of its own in a data URI.
func sharedScenes(t *testing.T) fstest.MapFS {
	own := b64("image/png", tinyPNG(t, color.RGBA{9, 9, 9, 255}))
	scene := minimal(`,"images":[{"uri":"tex.png"},{"uri":"` + own + `"}],"samplers":[{"magFilter":9728,"wrapS":33071}],
"textures":[{"source":0,"sampler":0},{"source":1,"sampler":0}],
"materials":[{"pbrMetallicRoughness":{"baseColorTexture":{"index":0},"metallicRoughnessTexture":{"index":1}},"normalTexture":{"index":0}}]`)
	return fstest.MapFS{"a.gltf": {Data: []byte(scene)}, "b.gltf": {Data: []byte(scene)}, "tex.png": {Data: tinyPNG(t, color.RGBA{200, 0, 0, 255})}}
}

// closureAllReady (safe off the test goroutine) walks a's dependencies: every one must be Ready.
func closureAllReady(t *testing.T, a assets.Asset) bool {
	x := assets.BaseOf(a)
	ok := assert.Equal(t, assets.Ready, x.State(), "%v", x)
	for _, d := range x.Deps() {
		ok = closureAllReady(t, d) && ok
	}
	return ok
}

// TestGLTFConcurrentLoadRelease: eight goroutines acquire two scenes that
// share a texture and a sampler while two others release what is unused
// (in the bundle, and in the whole manager: the shared sampler has no
// bundle), and, in a second run, force-release everything. Without force
// every acquired scene's whole closure is Ready; either way, at the end
// nothing is cached and nothing is allocated (a sampler or texture made
// twice for one key and dropped would be left over: the validation layer
// reports a VkSampler never destroyed).
func TestGLTFConcurrentLoadRelease(t *testing.T) {
	for _, force := range []bool{false, true} {
		e := open(t, assets.Options{})
		b, err := e.m.AddBundle("shared", sharedScenes(t))
		require.NoError(t, err)
		var loads atomic.Int64
		stop := make(chan struct{})
		var releasers sync.WaitGroup
		for i := range 2 {
			releasers.Add(1)
			go func() {
				defer releasers.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					switch {
					case force:
						b.ReleaseAll()
					case i == 0:
						b.ReleaseUnused()
					default:
						e.m.ReleaseUnused()
					}
					time.Sleep(50 * time.Microsecond)
				}
			}()
		}
		var loaders sync.WaitGroup
		for i := range 8 {
			loaders.Add(1)
			go func() {
				defer loaders.Done()
				for k := range 25 {
					p := [...]string{"a.gltf", "b.gltf"}[(i+k)%2]
					a, err := b.Acquire(context.Background(), p)
					if !assert.NoError(t, err, p) {
						return
					}
					loads.Add(1)
					s := a.(*assets.Scene)
					if !force {
						closureAllReady(t, s)
					}
					tex := s.Meshes[0].Material.BaseColorTexture
					assert.Equal(t, "shared:tex.png#texture", tex.Texture.Key(), "the file's texture, shared with a direct load")
					if err := e.m.DecRef(s); !force || !errors.Is(err, assets.ErrReleased) {
						assert.NoError(t, err) // a forced release may have come first
					}
				}
			}()
		}
		loaders.Wait()
		close(stop)
		releasers.Wait()
		t.Logf("force %v: %d scenes acquired", force, loads.Load())
		for e.m.ReleaseAll() > 0 {
		}
		require.Empty(t, e.m.Assets(), "nothing cached, the shared sampler included")
		require.NoError(t, e.sync.Flush(context.Background()))
		require.Zero(t, e.liveAllocations())
	}
}

// TestGLTFCancelledMidLoad: scenes whose load is cancelled at every point
// from before the first read to after the upload leave nothing cached and
// nothing allocated once their detached work has ended; a load that
// finishes is whole.
func TestGLTFCancelledMidLoad(t *testing.T) {
	e := open(t, assets.Options{})
	b, err := e.m.AddBundle("cancel", sharedScenes(t))
	require.NoError(t, err)
	r := rand.New(rand.NewPCG(1, 2))
	done, cancelled := 0, 0
	for range 60 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(r.IntN(3000))*time.Microsecond)
		a, err := b.Acquire(ctx, "a.gltf")
		cancel()
		if err != nil {
			require.ErrorIs(t, err, context.DeadlineExceeded)
			cancelled++
		} else {
			done++
			closureAllReady(t, a)
			require.NoError(t, e.m.DecRef(a))
		}
		b.ReleaseAll()
	}
	t.Logf("%d loads done, %d cancelled", done, cancelled)
	// The flights a cancel left running end on their own, rolling back.
	require.Eventually(t, func() bool {
		e.m.ReleaseAll() // the sampler is in no bundle
		return len(e.m.Assets()) == 0
	}, 10*time.Second, 5*time.Millisecond, "nothing cached")
	require.NoError(t, e.sync.Flush(context.Background()))
	require.Zero(t, e.liveAllocations())
}
