package finalizer_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vkassets/vkassets/assets"
	"github.com/vkassets/vkassets/finalizer"
	"github.com/vkassets/vkassets/internal/render"
	"github.com/vkassets/vkassets/internal/traffic"
	"github.com/vkassets/vkassets/vk"
	"github.com/vkassets/vkassets/vk/vktest"
)

// TestConcurrentLifetimes is the concurrent model test of the lifetime
// rules (DESIGN.md invariants 5, 6, 11-13): eight goroutines load sprites,
// glTF scenes and remote sprites, take and drop references, release, force,
// lock, unlock, collect, switch scenes, pack into an atlas and ask Why,
// while a render goroutine draws everything handed to it each frame, with
// 1, 2 and 3 frames in flight, and with 2 and residency under a budget
// that evicts at almost every Collect, synchronization validation on. After every
// frame the graph is checked against the model (package traffic); the
// validation layer reports any destroy the GPU could still see, and the
// shutdown any leak.
func TestConcurrentLifetimes(t *testing.T) {
	d := 6 * time.Second
	if testing.Short() {
		d = time.Second
	}
	if s := os.Getenv("LIFETIMES_SECONDS"); s != "" {
		var n int
		_, _ = fmt.Sscan(s, &n)
		d = time.Duration(n) * time.Second
	}
	srv := httptest.NewServer(http.FileServerFS(assets.SampleContent()))
	defer srv.Close()
	// The fourth run keeps unused assets resident under a budget a little
	// above what the stack needs with nothing loaded: eviction runs at
	// almost every Collect, racing the workers' loads and references.
	for run := 1; run <= 4; run++ {
		frames, residency := run, run == 4
		if residency {
			frames = 2
		}
		name := fmt.Sprintf("%d-in-flight", frames)
		if residency {
			name += "-residency"
		}
		t.Run(name, func(t *testing.T) {
			e := openWith(t, frames, vktest.Options{SyncValidation: true})
			dev, a, s, m, b, fin := e.dev, e.alloc, e.sync, e.m, e.b, e.fin
			r, err := render.New(m, dev, a, s, 64, 64)
			require.NoError(t, err)
			if residency {
				budget := a.AllocatedBytes(vk.HeapDeviceLocal) + 128<<10
				require.NoError(t, fin.SetResidency(&finalizer.Residency{Budget: budget}))
			}
			rep, err := traffic.Run(context.Background(), traffic.Config{
				Sync: s, Manager: m, Finalizer: fin, Renderer: r, Bundle: b, RemoteBase: srv.URL + "/",
				Atlas:   fin.NewAtlas(m, dev, finalizer.AtlasOptions{PageSize: 128, MaxFrame: 32}),
				Workers: 8, Duration: d, Seed: uint64(frames),
			})
			require.NoError(t, err)
			t.Logf("%d frames, %d checks, %d draws (%d claims refused), operations %v", rep.Frames, rep.Checks, rep.Draws, rep.DrawsRefused, rep.Ops)
			require.Positive(t, rep.Checks)
			if residency {
				rs, st := fin.ResidencyStats(), m.Stats()
				t.Logf("residency: %+v; cache: %+v", rs, st)
				require.Positive(t, rs.Evictions, "the budget never evicted")
				require.Positive(t, st.Resurrected, "no load found a resident asset")
			}
			fin.ReleaseAll()
			require.NoError(t, s.WaitIdle())
			r.Close() // the cleanup closes the rest: nothing may leak
		})
	}
}

// newNode registers a node of no GPU object, depending on deps, and drops
// the reference its creation gave the caller.
func newNode(t *testing.T, e *env, name string, deps ...assets.Asset) *node {
	t.Helper()
	n := &node{}
	require.NoError(t, e.m.Register(n, "node", name, deps...))
	require.NoError(t, e.m.DecRef(n))
	return n
}

// cycle opens an environment holding two nodes a → b → a, unreferenced
// but for each other.
func cycle(t *testing.T) (e *env, a, b *node) {
	t.Helper()
	e = open(t, 2)
	a = newNode(t, e, "a")
	b = newNode(t, e, "b", a)
	require.NoError(t, e.m.AddDependency(a, b))
	return e, a, b
}

// noLiveListsReleased: no cached asset lists a dependency that is gone.
func noLiveListsReleased(t *testing.T, e *env) {
	t.Helper()
	for _, a := range e.m.Assets() {
		for _, d := range assets.BaseOf(a).Deps() {
			require.Equal(t, assets.Ready, assets.BaseOf(d).State(), "%v lists %v", assets.BaseOf(a), assets.BaseOf(d))
		}
	}
}

// Finding 4: Manager.ReleaseUnused, the Bundle verbs and Finalizer.ReleaseAll
// ignored locks (and the renderer's own buffers). Every verb now goes
// through the one rule.
func TestOneReleaseVocabulary(t *testing.T) {
	e := open(t, 2)
	s := e.sprite(t, "hero.png")
	require.NoError(t, e.fin.Lock(s))
	verbs := map[string]func(){
		"Manager.ReleaseUnused":   func() { e.m.ReleaseUnused() },
		"Manager.ReleaseAll":      func() { e.m.ReleaseAll() },
		"Manager.Release(force)":  func() { _, _ = e.m.Release(s, true) },
		"Bundle.Release(path)":    func() { _, _ = e.b.Release("hero.png") },
		"Bundle.ReleaseUnused":    func() { e.b.ReleaseUnused() },
		"Bundle.ReleaseAll":       func() { e.b.ReleaseAll() },
		"Finalizer.ReleaseAll":    func() { e.fin.ReleaseAll() },
		"Finalizer.ForceRelease":  func() { _ = e.fin.ForceRelease(s) },
		"Finalizer.ReleaseUnused": func() { e.fin.ReleaseUnused() },
		"Release+Collect":         func() { _ = e.fin.Release(s); e.fin.Collect() },
	}
	for name, verb := range verbs {
		verb()
		require.Equal(t, assets.Ready, s.State(), "%s released a locked sprite", name)
		require.Equal(t, assets.Ready, s.Texture().State(), "%s released what a locked sprite depends on", name)
	}
	_, err := e.b.Release("hero.png")
	require.ErrorIs(t, err, assets.ErrLocked)

	r, err := render.New(e.m, e.dev, e.alloc, e.sync, 16, 16)
	require.NoError(t, err)
	e.fin.ReleaseAll()
	f, err := e.sync.BeginFrame(context.Background())
	require.NoError(t, err)
	require.NoError(t, r.Begin(f, [4]float32{}), "the renderer's quad survives ReleaseAll")
	r.End(f, false)
	require.NoError(t, e.sync.EndFrame(f))
	require.NoError(t, e.sync.WaitIdle())
	r.Close()
	e.fin.Unlock(s)
}

// Finding 5: cycles follow Cocos's rule on every path.
func TestCyclesOnEveryPath(t *testing.T) {
	t.Run("a cycle whose outside reference DecRef drops goes at Collect", func(t *testing.T) {
		e, a, _ := cycle(t)
		require.NoError(t, e.m.AddRef(a))
		require.Zero(t, e.fin.Collect())
		require.NoError(t, e.m.DecRef(a))
		require.Equal(t, 2, e.fin.Collect(), "a and b, together")
		require.Empty(t, e.m.Assets())
	})
	t.Run("and at ReleaseUnused", func(t *testing.T) {
		e, _, _ := cycle(t)
		require.Equal(t, 2, e.m.ReleaseUnused(), "no Collect: the sweep finds the cycle")
		require.Empty(t, e.m.Assets())
	})
	t.Run("a cycle member held from outside keeps the cycle", func(t *testing.T) {
		e, a, b := cycle(t)
		require.NoError(t, e.m.AddRef(b))
		require.NoError(t, e.fin.Release(a))
		require.Zero(t, e.fin.Collect())
		require.ErrorIs(t, e.fin.ForceRelease(a), assets.ErrInUse, "b lives and lists a")
		require.Zero(t, e.m.ReleaseUnused())
		require.False(t, e.fin.IsCycleOnly(a))
		noLiveListsReleased(t, e)
		require.NoError(t, e.m.DecRef(b))
		e.fin.Collect()
		require.Empty(t, e.m.Assets())
	})
	t.Run("a locked asset's dependency on its cycle stays", func(t *testing.T) {
		e := open(t, 2)
		l := newNode(t, e, "locked")
		a := newNode(t, e, "a", l)
		require.NoError(t, e.m.AddDependency(l, a))
		require.NoError(t, e.fin.Lock(l))
		require.NoError(t, e.fin.Release(a))
		require.Zero(t, e.fin.Collect())
		require.Zero(t, e.fin.ReleaseUnused())
		require.ErrorIs(t, e.fin.ForceRelease(a), finalizer.ErrLocked, "its cycle holds a locked asset")
		require.Equal(t, assets.Ready, a.State())
		e.fin.Unlock(l)
		require.Equal(t, 2, e.fin.ReleaseUnused())
	})
	t.Run("scene switch: an old scene held only by its cycle goes", func(t *testing.T) {
		e := open(t, 2)
		ctx := context.Background()
		one, err := e.b.LoadScene(ctx, "scenes/quad.gltf")
		require.NoError(t, err)
		require.NoError(t, e.fin.SwitchScene(one))
		require.NoError(t, e.m.AddDependency(one.Meshes[0], one)) // a run-time back edge
		two, err := e.b.LoadScene(ctx, "scenes/cube.glb")
		require.NoError(t, err)
		require.NoError(t, e.fin.SwitchScene(two))
		require.NotEqual(t, assets.Ready, one.State())
		require.NotEqual(t, assets.Ready, one.Meshes[0].State())
		noLiveListsReleased(t, e)
	})
}

// Finding 7: after a packed frame and its page were released, the next
// Pack copied into a destroyed image; Pack rewrote a frame's texture and
// rectangle while the renderer read them.
func TestAtlasNeverPacksOntoReleasedPage(t *testing.T) {
	e := open(t, 2)
	at := e.fin.NewAtlas(e.m, e.dev, finalizer.AtlasOptions{PageSize: 64, MaxFrame: 32})
	ctx := context.Background()
	for round := range 4 {
		s, err := e.b.Acquire(ctx, "icons/star.png")
		require.NoError(t, err)
		star := s.(*assets.SpriteFrame)
		require.NoError(t, at.Pack(star))
		page := star.Texture()
		require.NotSame(t, star.Source, page)
		require.NoError(t, e.m.DecRef(star))
		e.fin.Collect()
		require.NotEqual(t, assets.Ready, page.State(), "round %d: the page went with its last frame", round)
		require.Zero(t, at.Pages())
	}
	// Readers of a frame's view while it is packed: the texture and the
	// rectangle always belong together (-race checks the rest).
	s, err := e.b.Acquire(ctx, "icons/heart.png")
	require.NoError(t, err)
	heart := s.(*assets.SpriteFrame)
	stop := make(chan struct{})
	done := make(chan error)
	go func() {
		for {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			tex, r := heart.View()
			if tex == heart.Source && r.Min.X != 0 || tex != heart.Source && r.Dx() != 16 {
				done <- fmt.Errorf("view %v of %v", r, &tex.Base)
				return
			}
		}
	}()
	require.NoError(t, at.Pack(heart))
	close(stop)
	require.NoError(t, <-done)
	require.NoError(t, e.m.DecRef(heart))
	e.fin.Collect()
}
