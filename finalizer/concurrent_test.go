package finalizer_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkassets/vkassets/assets"
	"github.com/vkassets/vkassets/internal/render"
)

// TestConcurrentReleasesWhileRendering: eight goroutines load overlapping
// sprites, take references, hand them to the renderer, take them back,
// drop their references (at 0 the finalizer is asked to release), while the main goroutine renders
// frames that draw whatever is handed over and runs Collect after each.
// Under -race and the validation layer: no data race, no use of a
// destroyed object by a frame, and at the end nothing alive.
func TestConcurrentReleasesWhileRendering(t *testing.T) {
	e := open(t, 2)
	r, err := render.New(e.m, e.dev, e.alloc, e.sync, 64, 64)
	require.NoError(t, err)
	defer func() {
		_ = e.sync.WaitIdle() // the frames that used the renderer's objects
		r.Close()
	}()

	files := []string{"hero.png", "checker.png", "logo.jpg", "icons/star.png", "icons/coin.png", "icons/heart.png"}
	type entry struct {
		worker int
		s      *assets.SpriteFrame
	}
	var (
		mu       sync.Mutex
		shown    []entry // what the renderer draws; guarded by mu
		wg       sync.WaitGroup
		ctx      = context.Background()
		errs     = make(chan error, 8)
		rounds   = 40
		lostRace atomic.Int64
		rendered atomic.Int64 // frames submitted
	)
	for w := range 8 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 9))
			for range rounds {
				// Load, then AddRef: between the two, another goroutine's
				// DecRef and the render loop's Collect may release the
				// cached asset. AddRef then says ErrReleased, and a new
				// load makes a fresh one.
				var s *assets.SpriteFrame
				for s == nil {
					var err error
					s, err = e.b.LoadSpriteFrame(ctx, files[rng.IntN(len(files))])
					if err != nil {
						errs <- err
						return
					}
					if err := e.m.AddRef(s); errors.Is(err, assets.ErrReleased) {
						lostRace.Add(1)
						s = nil
					} else if err != nil {
						errs <- err
						return
					}
				}
				mu.Lock()
				shown = append(shown, entry{w, s})
				mu.Unlock()
				for until := rendered.Load() + 1 + rng.Int64N(2); rendered.Load() < until; {
					runtime.Gosched() // one or two frames draw it
				}
				mu.Lock()
				for i, x := range shown {
					if x.worker == w && x.s == s {
						shown = append(shown[:i], shown[i+1:]...)
						break
					}
				}
				mu.Unlock()
				if err := e.m.DecRef(s); err != nil { // at 0 the finalizer hears of it
					errs <- err
					return
				}
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
		}
		f, err := e.sync.BeginFrame(ctx)
		require.NoError(t, err)
		require.NoError(t, r.Begin(f, [4]float32{0, 0, 0, 1}))
		mu.Lock()
		for i, x := range shown {
			require.NoError(t, r.DrawSprite(f, x.s, float32(i%8)*8, float32(i/8%8)*8, 8, 8, [4]float32{1, 1, 1, 1}))
		}
		mu.Unlock()
		r.End(f, false)
		require.NoError(t, e.sync.EndFrame(f))
		e.fin.Collect()
		rendered.Add(1)
	}
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Positive(t, e.sync.Stats().Retired, "sprites were released and their GPU objects retired")
	e.fin.Collect()
	for _, a := range e.m.Assets() { // the renderer's own quad buffers stay
		require.NotContains(t, assets.BaseOf(a).String(), "content:", "every sprite, texture and image was released: %v", e.fin.Report())
	}
	t.Logf("%d frames rendered while 8 goroutines loaded and released %d sprites; %d AddRefs lost the race to a release and loaded again",
		rendered.Load(), 8*rounds, lostRace.Load())
}
