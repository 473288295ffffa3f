package assets_test

// One test per finding of the lifetime review (issue "Lifetime safety under
// concurrency"), named after it. The finalizer's side (locks, cycles, the
// atlas, the one vocabulary) is in package finalizer's lifetimes_test.go.

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vkassets/vkassets/assets"
	"github.com/vkassets/vkassets/framesync"
	"github.com/vkassets/vkassets/vk"
)

// closureReady fails unless a and everything it reaches is Ready.
func closureReady(t *testing.T, a assets.Asset) {
	t.Helper()
	stack := []assets.Asset{a}
	for len(stack) > 0 {
		x := assets.BaseOf(stack[len(stack)-1])
		stack = stack[:len(stack)-1]
		if x.State() != assets.Ready {
			t.Fatalf("%v, in the closure of %v, is %v", x, assets.BaseOf(a), x.State())
		}
		stack = append(stack, x.Deps()...)
	}
}

// Finding 1: a load racing ReleaseUnused returned a Ready asset over
// destroyed intermediates. Now what a load makes is pinned until the load
// ends, and Acquire returns it held.
func TestLoadRacingReleaseUnused(t *testing.T) {
	e := open(t, assets.Options{})
	ctx := context.Background()
	stop := make(chan struct{})
	var swept atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				swept.Add(int64(e.m.ReleaseUnused()))
			}
		}
	})
	files := []string{"hero.png", "scenes/quad.gltf", "scenes/cube.glb", "icons/star.png"}
	for i := range 120 {
		a, err := e.b.Acquire(ctx, files[i%len(files)])
		require.NoError(t, err)
		closureReady(t, a)
		require.NoError(t, e.m.DecRef(a))
		// A plain Load returns a Ready closure too; without a reference it
		// may go at once, so it is checked only as far as it is still Ready.
		b, err := e.b.Load(ctx, files[(i+1)%len(files)])
		require.NoError(t, err)
		if assets.BaseOf(b).State() != assets.Ready {
			continue
		}
		if err := e.m.AddRef(b); err == nil {
			closureReady(t, b)
			require.NoError(t, e.m.DecRef(b))
		}
	}
	// What the last loads left unreferenced is the sweeper's: let it find
	// some (on a fast machine it may not have run during the loads), so
	// that the test never passes without a sweep having released anything.
	for deadline := time.Now().Add(time.Minute); swept.Load() == 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	close(stop)
	wg.Wait()
	require.Positive(t, swept.Load(), "the sweeper released what the loads left")
}

// Finding 2: a failed load's rollback destroyed a texture a concurrent
// successful load held. Two scenes share a texture; one fails after
// loading it; the other must come back whole, every round.
func TestFailedLoadRollbackKeepsSharedAsset(t *testing.T) {
	e := open(t, assets.Options{})
	read := func(p string) []byte {
		data, err := os.ReadFile("testdata/content/" + p)
		require.NoError(t, err)
		return data
	}
	good := read("scenes/quad.gltf")
	bad := strings.Replace(string(good), `"nodes":[{"name":"quad","mesh":0}]`,
		`"nodes":[{"name":"quad","mesh":0},{"name":"broken","mesh":1}]`, 1)
	bad = strings.Replace(bad, `"meshes":[{"name":"quad","primitives":[{"attributes":{"POSITION":0,"TEXCOORD_0":1},"indices":2,"material":0}]}]`,
		`"meshes":[{"name":"quad","primitives":[{"attributes":{"POSITION":0,"TEXCOORD_0":1},"indices":2,"material":0}]},{"name":"broken","primitives":[{"attributes":{}}]}]`, 1)
	require.NotEqual(t, string(good), bad)
	b, err := e.m.AddBundle("shared", fstest.MapFS{
		"good.gltf":       {Data: good},
		"bad.gltf":        {Data: []byte(bad)},
		"quad.bin":        {Data: read("scenes/quad.bin")},
		"quad_albedo.png": {Data: read("scenes/quad_albedo.png")},
	})
	require.NoError(t, err)
	ctx := context.Background()
	for range 60 {
		var wg sync.WaitGroup
		var scene assets.Asset
		var goodErr, badErr error
		wg.Go(func() { scene, goodErr = b.Acquire(ctx, "good.gltf") })
		wg.Go(func() { _, badErr = b.Acquire(ctx, "bad.gltf") })
		wg.Wait()
		require.NoError(t, goodErr)
		require.ErrorIs(t, badErr, assets.ErrDecode)
		closureReady(t, scene)
		_, cached := e.m.Lookup("shared:bad.gltf#scene")
		require.False(t, cached)
		require.NoError(t, e.m.DecRef(scene))
		n, err := e.m.Release(scene, false)
		require.NoError(t, err)
		require.Positive(t, n)
	}
}

// Finding 3: Use of a released asset was accepted silently, and a check
// followed by a mark let a release slip between. Now Use is one claim: it
// fails on a released asset, and a release racing it retires after every
// claim that succeeded.
func TestUseClaimCannotRaceRelease(t *testing.T) {
	e := open(t, assets.Options{})
	ctx := context.Background()
	var top framesync.Serial // serials handed out: claims must use real ones
	for range 64 {
		var err error
		top, err = e.sync.OneShot(func(vk.CommandBuffer) error { return nil })
		require.NoError(t, err)
	}
	for round := range 40 {
		s, err := e.b.LoadSpriteFrame(ctx, "icons/star.png")
		require.NoError(t, err)
		tex := s.Texture()
		var maxClaimed atomic.Uint64
		var wg sync.WaitGroup
		start := make(chan struct{})
		for g := range 4 {
			wg.Go(func() {
				<-start
				for i := uint64(1); ; i++ {
					serial := min(framesync.Serial(i*4+uint64(g)), top)
					if err := assets.Use(serial, s); err != nil {
						require.ErrorIs(t, err, assets.ErrReleased)
						return
					}
					for old := maxClaimed.Load(); uint64(serial) > old && !maxClaimed.CompareAndSwap(old, uint64(serial)); old = maxClaimed.Load() {
					}
				}
			})
		}
		close(start)
		time.Sleep(time.Millisecond)
		n, err := e.m.Release(s, true)
		require.NoError(t, err)
		require.Equal(t, 3, n)
		wg.Wait()
		// The release handed the texture to framesync at LastUse: every
		// claim that succeeded is at or below it.
		require.GreaterOrEqual(t, uint64(tex.LastUse()), maxClaimed.Load(), "round %d", round)
		require.ErrorIs(t, assets.Use(1, s), assets.ErrReleased)
	}
}

// Finding 6: DecRef of a texture whose only reference is its sprite's was
// accepted; the texture went under the live sprite.
func TestDecRefCannotDropDependentsReferences(t *testing.T) {
	e := open(t, assets.Options{})
	s, err := e.b.LoadSpriteFrame(context.Background(), "hero.png")
	require.NoError(t, err)
	tex := s.Texture()
	require.ErrorIs(t, e.m.DecRef(tex), assets.ErrRefCount)
	require.Equal(t, 1, tex.RefCount(), "nothing changed")
	require.Equal(t, assets.Ready, tex.State())
	n, err := e.m.Release(tex, true)
	require.ErrorIs(t, err, assets.ErrInUse, "not even by force while the sprite lives")
	require.Zero(t, n)
}

// Finding 8: a shared load used its first caller's context. Each waiter
// now waits with its own; the work is cancelled only when all have gone.
func TestSharedLoadEachWaiterOwnContext(t *testing.T) {
	png, err := os.ReadFile("testdata/content/icons/star.png")
	require.NoError(t, err)
	var abandoned atomic.Int64 // requests whose client went away
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(500 * time.Millisecond):
			_, _ = w.Write(png)
		case <-r.Context().Done():
			abandoned.Add(1)
		}
	}))
	defer srv.Close()
	e := open(t, assets.Options{})

	t.Run("a leader's short deadline does not fail a patient follower", func(t *testing.T) {
		url := srv.URL + "/a.png"
		leaderCtx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		var wg sync.WaitGroup
		var leaderErr error
		wg.Go(func() { _, leaderErr = e.m.LoadRemote(leaderCtx, url) })
		time.Sleep(20 * time.Millisecond) // the follower joins the leader's flight
		follower, err := e.m.AcquireRemote(context.Background(), url)
		wg.Wait()
		require.ErrorIs(t, leaderErr, context.DeadlineExceeded)
		require.NoError(t, err)
		closureReady(t, follower)
		require.NoError(t, e.m.DecRef(follower))
	})
	t.Run("an impatient follower does not wait for the leader", func(t *testing.T) {
		url := srv.URL + "/b.png"
		var wg sync.WaitGroup
		var leaderErr error
		wg.Go(func() { _, leaderErr = e.m.LoadRemote(context.Background(), url) })
		time.Sleep(20 * time.Millisecond)
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		t0 := time.Now()
		_, err := e.m.LoadRemote(ctx, url)
		waited := time.Since(t0)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.Less(t, waited, 400*time.Millisecond, "the follower left at its own deadline, not the leader's end")
		wg.Wait()
		require.NoError(t, leaderErr)
	})
	t.Run("the work stops when every waiter has gone", func(t *testing.T) {
		url := srv.URL + "/c.png"
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { _, err := e.m.LoadRemote(ctx, url); done <- err }()
		time.Sleep(20 * time.Millisecond)
		before := abandoned.Load()
		cancel()
		require.ErrorIs(t, <-done, context.Canceled)
		// The flight (and the ones it waits on) was cancelled: its request
		// is abandoned, not left to run for nobody.
		deadline := time.Now().Add(2 * time.Second)
		for abandoned.Load() == before && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		require.Greater(t, abandoned.Load(), before, "the request of a load nobody waits for is cancelled")
		s, err := e.m.LoadRemote(context.Background(), url)
		require.NoError(t, err)
		require.Equal(t, assets.Ready, s.State())
	})
}

// Finding 9: AddDependency wrote deps and marks under the manager's lock
// while Use and graph walks read them without it. Under -race: claims,
// Deps readers and AddDependency at once.
func TestAddDependencyRacesUseAndWalks(t *testing.T) {
	e := open(t, assets.Options{})
	ctx := context.Background()
	a, err := e.b.Acquire(ctx, "hero.png")
	require.NoError(t, err)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 2 {
		wg.Go(func() {
			for i := framesync.Serial(1); ; i = i%4 + 1 {
				select {
				case <-stop:
					return
				default:
				}
				_ = assets.Use(i, a)
				for _, d := range assets.BaseOf(a).Deps() {
					_ = assets.BaseOf(d).RefCount()
				}
			}
		})
	}
	for _, p := range []string{"icons/star.png", "icons/coin.png", "icons/heart.png", "checker.png"} {
		tex, err := e.b.LoadTexture(ctx, p)
		require.NoError(t, err)
		require.NoError(t, e.m.AddDependency(a, tex))
	}
	close(stop)
	wg.Wait()
	require.Len(t, assets.BaseOf(a).Deps(), 5)
	require.NoError(t, e.m.DecRef(a))
	n, err := e.m.Release(a, false)
	require.NoError(t, err)
	require.Equal(t, 11, n, "the sprite, its texture and image, and four textures with their images")
}

// Close stops new loads with ErrClosed, and what a load made before is
// released; the manager's own HTTP connections close with it.
func TestClosedManagerRefuses(t *testing.T) {
	e := open(t, assets.Options{})
	s, err := e.b.Acquire(context.Background(), "hero.png")
	require.NoError(t, err)
	require.NoError(t, e.m.Close())
	require.NoError(t, e.m.Close(), "idempotent")
	_, err = e.b.Load(context.Background(), "hero.png")
	require.ErrorIs(t, err, assets.ErrClosed)
	require.ErrorIs(t, e.m.AddRef(s), assets.ErrClosed)
	require.ErrorIs(t, e.m.DecRef(s), assets.ErrClosed)
	_, err = e.m.Release(s, true)
	require.ErrorIs(t, err, assets.ErrClosed)
	_, err = e.m.AddBundle("more", fstest.MapFS{})
	require.ErrorIs(t, err, assets.ErrClosed)
	_, err = e.m.NewImage("late", 1, 1, make([]byte, 4))
	require.True(t, errors.Is(err, assets.ErrClosed), "%v", err)
	require.NotEqual(t, assets.Ready, assets.BaseOf(s).State())
}

// Close while loads run on other goroutines: they are cancelled and
// waited for, each returns its asset or ErrClosed, what they made is
// rolled back, and nothing leaks (the cleanup's allocator and validation
// checks).
func TestCloseWithLoadsInFlight(t *testing.T) {
	e := open(t, assets.Options{})
	files := []string{"hero.png", "scenes/quad.gltf", "scenes/cube.glb", "icons/star.png", "checker.png", "logo.jpg"}
	var wg sync.WaitGroup
	var closedSeen atomic.Int64
	for g := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				a, err := e.b.Acquire(context.Background(), files[(g+i)%len(files)])
				if errors.Is(err, assets.ErrClosed) {
					closedSeen.Add(1)
					return
				}
				if err != nil {
					t.Errorf("load: %v", err)
					return
				}
				_ = e.m.DecRef(a)
			}
		})
	}
	time.Sleep(30 * time.Millisecond)
	require.NoError(t, e.m.Close())
	wg.Wait()
	require.Equal(t, int64(8), closedSeen.Load(), "every loader ends with ErrClosed")
	require.Empty(t, e.m.Assets())
}

// After LoadRemote, the manager's own HTTP transport keeps idle
// connections (each with its goroutines); Close closes them.
func TestCloseEndsRemoteConnections(t *testing.T) {
	png, err := os.ReadFile("testdata/content/icons/star.png")
	require.NoError(t, err)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(png) }))
	defer srv.Close()
	e := open(t, assets.Options{})
	_, err = e.m.LoadRemote(context.Background(), srv.URL+"/star.png")
	require.NoError(t, err)
	conns := func() int {
		buf := make([]byte, 1<<20)
		return strings.Count(string(buf[:runtime.Stack(buf, true)]), "net/http.(*persistConn)")
	}
	require.Positive(t, conns(), "an idle keep-alive connection")
	require.NoError(t, e.m.Close())
	deadline := time.Now().Add(2 * time.Second)
	for conns() > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	require.Zero(t, conns(), "the connection's goroutines end with the manager")
}
