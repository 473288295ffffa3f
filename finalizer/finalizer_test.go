package finalizer_test

import (
	"context"
	"fmt"
	"image"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkassets/vkassets/alloc"
	"github.com/vkassets/vkassets/assets"
	"github.com/vkassets/vkassets/finalizer"
	"github.com/vkassets/vkassets/framesync"
	"github.com/vkassets/vkassets/vk"
	"github.com/vkassets/vkassets/vk/vktest"
)

type env struct {
	alloc *alloc.Allocator
	dev   *vk.Device
	sync  *framesync.Sync
	m     *assets.Manager
	b     *assets.Bundle
	fin   *finalizer.Finalizer
}

func open(t *testing.T, frames int) *env { return openTB(t, frames) }

func openB(b *testing.B) *env { return openTB(b, 2) }

func openWithAlloc(t *testing.T) (*env, *alloc.Allocator) {
	e := openTB(t, 2)
	return e, e.alloc
}

func openTB(t testing.TB, frames int) *env { return openWith(t, frames, vktest.Options{}) }

// openWith opens a validated device with opts and the stack over it; the
// cleanup closes it all and requires that nothing is left alive.
func openWith(t testing.TB, frames int, opts vktest.Options) *env {
	t.Helper()
	d := vktest.OpenWith(t, opts)
	a, err := alloc.New(alloc.Options{Device: d})
	require.NoError(t, err)
	s, err := framesync.New(framesync.Options{Device: d, Allocator: a, FramesInFlight: frames})
	require.NoError(t, err)
	m, err := assets.New(assets.Options{Device: d, Allocator: a, Sync: s})
	require.NoError(t, err)
	b, err := m.AddBundle("content", os.DirFS("../assets/testdata/content"))
	require.NoError(t, err)
	t.Cleanup(func() {
		require.NoError(t, m.Close())
		require.NoError(t, s.Close())
		require.NoError(t, a.Close(), "shutdown: nothing alive")
	})
	return &env{alloc: a, dev: d, sync: s, m: m, b: b, fin: finalizer.New(m)}
}

func (e *env) sprite(t *testing.T, p string) *assets.SpriteFrame {
	t.Helper()
	s, err := e.b.LoadSpriteFrame(context.Background(), p)
	require.NoError(t, err)
	return s
}

func TestReleaseIsDecidedAtCollect(t *testing.T) {
	e := open(t, 2)
	s := e.sprite(t, "hero.png")
	require.NoError(t, e.fin.Release(s))
	require.Equal(t, assets.Ready, s.State(), "nothing happens before Collect")
	require.Equal(t, 3, e.fin.Collect(), "the sprite, then its texture and image, left with no holder")
	require.NotEqual(t, assets.Ready, s.State())
	require.NotEqual(t, assets.Ready, s.Texture().State())
}

// Invariant 7: an asset whose count rises again before the deferred check
// runs survives.
func TestReAddRefBeforeCollectSurvives(t *testing.T) {
	e := open(t, 2)
	s := e.sprite(t, "hero.png")
	require.NoError(t, e.m.AddRef(s))
	require.NoError(t, e.m.DecRef(s)) // count 0: a release is asked for
	require.NoError(t, e.m.AddRef(s)) // the same frame, someone takes it again
	require.Zero(t, e.fin.Collect())
	require.Equal(t, assets.Ready, s.State())
}

func TestLockedIsNeverReleased(t *testing.T) {
	e := open(t, 2)
	s := e.sprite(t, "hero.png")
	e.fin.Lock(s)
	require.True(t, e.fin.IsLocked(s))
	require.NoError(t, e.fin.Release(s))
	require.Zero(t, e.fin.Collect())
	require.ErrorIs(t, e.fin.ForceRelease(s), finalizer.ErrLocked, "not even by force")
	require.ErrorIs(t, e.fin.ForceRelease(s.Texture()), assets.ErrInUse, "nor what it depends on")
	require.Zero(t, e.fin.ReleaseUnused())
	require.Zero(t, e.fin.ReleaseAll())
	require.Equal(t, assets.Ready, s.State())
	require.Contains(t, e.fin.Why(s), "locked")
	e.fin.Unlock(s)
	require.Equal(t, 3, e.fin.ReleaseUnused())
}

func TestCheckOrderHeldAssetSurvives(t *testing.T) {
	e := open(t, 2)
	s := e.sprite(t, "hero.png")
	require.NoError(t, e.fin.Release(s.Texture())) // held by the sprite
	require.Zero(t, e.fin.Collect())
	require.Equal(t, assets.Ready, s.Texture().State())
	why := e.fin.Why(s.Texture())
	require.Contains(t, why, "count 1")
	require.Contains(t, why, "held by sprite")
}

// A forced release is immediate on the CPU side; the GPU objects of an
// asset in flight still wait for the GPU (the validation layer would
// report an early destroy).
func TestForceReleaseInFlight(t *testing.T) {
	e := open(t, 2)
	s := e.sprite(t, "checker.png")
	require.NoError(t, e.m.AddRef(s))
	gate, err := e.dev.CreateTimelineSemaphore(0)
	require.NoError(t, err)
	defer e.dev.DestroySemaphore(gate)
	f, err := e.sync.BeginFrame(context.Background())
	require.NoError(t, err)
	e.dev.CmdBarrier(f.Cmd, vk.Barrier{SrcStage: vk.StageFragmentShader, DstStage: vk.StageFragmentShader, SrcAccess: vk.AccessShaderRead, DstAccess: vk.AccessShaderRead,
		Image: s.Texture().Handles().Image, OldLayout: vk.LayoutShaderReadOnlyOptimal, NewLayout: vk.LayoutShaderReadOnlyOptimal})
	assets.Use(f.Serial(), s)
	require.NoError(t, e.sync.EndFrameWith(f, []vk.SemaphoreSubmit{{Semaphore: gate, Value: 1, Stage: vk.StageAllCommands}}, nil))

	require.NoError(t, e.fin.ForceRelease(s))
	require.NotEqual(t, assets.Ready, s.State(), "invalid to the CPU at once")
	e.fin.Collect()
	require.Equal(t, assets.Retiring, s.Texture().State())
	require.Contains(t, e.fin.Why(s.Texture()), fmt.Sprintf("serial %d", f.Serial()))
	require.NoError(t, e.dev.SignalSemaphore(gate, 1))
	require.NoError(t, e.sync.Flush(context.Background()))
	require.Equal(t, assets.Destroyed, s.Texture().State())
}

// Invariant 6: releasing an asset decrements each direct dependency exactly
// once, and a shared dependency survives.
func TestDependenciesDecrementedOnce(t *testing.T) {
	e := open(t, 2)
	ctx := context.Background()
	cube, err := e.b.LoadScene(ctx, "scenes/cube.glb")
	require.NoError(t, err)
	mat := cube.Meshes[0].Material
	require.Equal(t, 2, mat.RefCount(), "two meshes")
	require.NoError(t, e.m.AddRef(mat)) // a dynamic holder too
	require.NoError(t, e.fin.Release(cube))
	e.fin.Collect()
	require.NotEqual(t, assets.Ready, cube.Meshes[0].State())
	require.NotEqual(t, assets.Ready, cube.Meshes[1].State())
	require.Equal(t, 1, mat.RefCount(), "each mesh gave back its one reference")
	require.Equal(t, assets.Ready, mat.State())
	require.Equal(t, assets.Ready, mat.BaseTexture.State())
}

// Invariant 5, cycles: a count held only by a cycle through the asset
// itself does not keep it.
func TestCycleCheck(t *testing.T) {
	e := open(t, 2)
	a := e.sprite(t, "icons/star.png")
	b := e.sprite(t, "icons/coin.png")
	require.NoError(t, e.m.AddDependency(a, b))
	require.NoError(t, e.m.AddDependency(b, a))
	require.Equal(t, 1, a.RefCount())
	require.Contains(t, e.fin.Why(a), "in a cycle")
	require.NoError(t, e.fin.Release(a))
	n := e.fin.Collect()
	require.Equal(t, 6, n, "both sprites, their textures and images")
	require.NotEqual(t, assets.Ready, a.State())
	require.NotEqual(t, assets.Ready, b.State())

	// A cycle with an outside holder is kept.
	c := e.sprite(t, "icons/heart.png")
	d := e.sprite(t, "hero.png")
	require.NoError(t, e.m.AddDependency(c, d))
	require.NoError(t, e.m.AddDependency(d, c))
	require.NoError(t, e.m.AddRef(c))
	require.NoError(t, e.fin.Release(c))
	require.Zero(t, e.fin.Collect())
	require.Equal(t, assets.Ready, c.State())
}

func TestReleaseUnusedSkipsIgnored(t *testing.T) {
	e := open(t, 2)
	keep := e.sprite(t, "hero.png")
	gone := e.sprite(t, "icons/star.png")
	e.fin.Ignore(keep, true)
	before := e.fin.Snapshot()
	require.Equal(t, 3, e.fin.ReleaseUnused())
	after := e.fin.Snapshot()
	freed, survived, added := finalizer.Diff(before, after)
	require.Len(t, freed, 3)
	require.Len(t, survived, 3)
	require.Empty(t, added)
	require.Equal(t, assets.Ready, keep.State())
	require.NotEqual(t, assets.Ready, gone.State())
	require.Less(t, after.Bytes, before.Bytes)
}

func TestBundleScopedRelease(t *testing.T) {
	e := open(t, 2)
	other, err := e.m.AddBundle("other", os.DirFS("../assets/testdata/content"))
	require.NoError(t, err)
	mine := e.sprite(t, "hero.png")
	theirs, err := other.LoadSpriteFrame(context.Background(), "hero.png")
	require.NoError(t, err)
	require.NoError(t, e.m.AddRef(theirs))
	require.NoError(t, e.m.AddRef(mine))
	require.Equal(t, 3, e.fin.ReleaseAllIn(other), "forced, even though held")
	require.Equal(t, assets.Ready, mine.State())
	require.NotEqual(t, assets.Ready, theirs.State())
	require.Zero(t, e.fin.ReleaseUnusedIn(e.b))
}

// SwitchScene never frees what the new scene or a persistent root needs,
// releases the old scene's own assets, and keeps them when auto-release is off.
func TestSwitchScene(t *testing.T) {
	e := open(t, 2)
	ctx := context.Background()
	quad, err := e.b.LoadScene(ctx, "scenes/quad.gltf")
	require.NoError(t, err)
	cube, err := e.b.LoadScene(ctx, "scenes/cube.glb")
	require.NoError(t, err)
	hud := e.sprite(t, "hero.png")

	require.NoError(t, e.fin.SwitchScene(quad, hud))
	require.Equal(t, 1, quad.RefCount())
	require.NoError(t, e.fin.SwitchScene(cube, hud))
	require.NotEqual(t, assets.Ready, quad.State(), "auto-release on: the old scene goes")
	require.Equal(t, assets.Ready, cube.State())
	require.Equal(t, assets.Ready, hud.State(), "persistent across the switch")
	require.Equal(t, 1, hud.RefCount())

	// Auto-release off: the scene stays cached for the next visit.
	e.fin.SetAutoRelease(cube, false)
	quad2, err := e.b.LoadScene(ctx, "scenes/quad.gltf")
	require.NoError(t, err)
	require.NoError(t, e.fin.SwitchScene(quad2))
	require.Equal(t, assets.Ready, cube.State())
	require.Equal(t, 0, cube.RefCount())
	require.Equal(t, 0, hud.RefCount(), "no longer persistent")
	e.fin.Collect()
	require.NotEqual(t, assets.Ready, hud.State(), "released once nothing holds it")
	again, err := e.b.LoadScene(ctx, "scenes/cube.glb")
	require.NoError(t, err)
	require.Same(t, cube, again, "the next visit finds it cached")
}

// TestModel is model-based: random loads, AddRef, DecRef, releases, forced
// releases, locks, ReleaseUnused, scene switches, atlas packing and frames
// with 1–3 in flight, against a small reference model of counts, checked after every
// step; the validation layer checks that nothing is destroyed while the GPU
// may read it, and the shutdown that nothing survives. MODEL_TRACE=1 logs
// every operation, to follow a failure.
func TestModel(t *testing.T) {
	for frames := 1; frames <= 3; frames++ {
		t.Run(fmt.Sprintf("%d-in-flight", frames), func(t *testing.T) {
			e := open(t, frames)
			ctx := context.Background()
			r := rand.New(rand.NewPCG(uint64(frames), 7))
			files := []string{"hero.png", "checker.png", "icons/star.png", "icons/coin.png", "icons/heart.png", "scenes/quad.gltf", "scenes/cube.glb"}
			holds := map[assets.ID]int{} // the model: dynamic references the test holds
			live := map[assets.ID]assets.Asset{}
			locked := map[assets.ID]bool{}
			var frame *framesync.Frame
			var current *assets.Scene
			var currentPersist []assets.Asset
			atlas := e.fin.NewAtlas(e.m, e.dev, finalizer.AtlasOptions{PageSize: 64, MaxFrame: 32})
			for step := range 400 {
				if frame == nil {
					var err error
					frame, err = e.sync.BeginFrame(ctx)
					require.NoError(t, err)
				}
				op := r.IntN(12)
				if os.Getenv("MODEL_TRACE") != "" {
					t.Logf("step %d op %d", step, op)
				}
				switch {
				case op == 11:
					sc, err := e.b.LoadScene(ctx, files[5+r.IntN(2)])
					require.NoError(t, err)
					live[sc.ID()] = sc
					var persist []assets.Asset
					if x := pick(r, live); assets.BaseOf(x).State() == assets.Ready && r.IntN(2) == 0 {
						persist = append(persist, x)
					}
					if os.Getenv("MODEL_TRACE") != "" {
						t.Logf("switch to %v persist %v (current %v)", &sc.Base, persist, current)
					}
					require.NoError(t, e.fin.SwitchScene(sc, persist...))
					current, currentPersist = sc, persist
				case op == 10 && len(live) > 0:
					if sf, ok := pick(r, live).(*assets.SpriteFrame); ok && sf.State() == assets.Ready {
						err := atlas.Pack(sf)
						if sf.Rect().Dx() > 32 {
							require.ErrorIs(t, err, finalizer.ErrTooBig)
						} else {
							require.NoError(t, err)
						}
					}
				case op < 3:
					a, err := e.m.Load(ctx, "content:"+files[r.IntN(len(files))])
					require.NoError(t, err)
					live[assets.BaseOf(a).ID()] = a
				case op < 5 && len(live) > 0:
					a := pick(r, live)
					if assets.BaseOf(a).State() == assets.Ready {
						require.NoError(t, e.m.AddRef(a))
						holds[assets.BaseOf(a).ID()]++
						if os.Getenv("MODEL_TRACE") != "" {
							t.Logf("addref %v", assets.BaseOf(a))
						}
						assets.Use(frame.Serial(), a)
						if tex, ok := a.(*assets.SpriteFrame); ok {
							e.dev.CmdBarrier(frame.Cmd, vk.Barrier{SrcStage: vk.StageFragmentShader, DstStage: vk.StageFragmentShader,
								SrcAccess: vk.AccessShaderRead, DstAccess: vk.AccessShaderRead, Image: tex.Texture().Handles().Image,
								OldLayout: vk.LayoutShaderReadOnlyOptimal, NewLayout: vk.LayoutShaderReadOnlyOptimal})
						}
					}
				case op < 6:
					for id, n := range holds {
						if n > 0 {
							holds[id]--
							require.NoError(t, e.m.DecRef(live[id]))
							if os.Getenv("MODEL_TRACE") != "" {
								t.Logf("decref %v", assets.BaseOf(live[id]))
							}
							break
						}
					}
				case op < 7 && len(live) > 0:
					_ = e.fin.Release(pick(r, live))
				case op < 8 && len(live) > 0:
					a := pick(r, live)
					id := assets.BaseOf(a).ID()
					if assets.BaseOf(a).State() != assets.Ready {
						break
					}
					if r.IntN(2) == 0 {
						e.fin.Lock(a)
						locked[id] = true
					} else {
						e.fin.Unlock(a)
						delete(locked, id)
					}
				case op < 9 && len(live) > 0:
					a := pick(r, live)
					if assets.BaseOf(a).State() == assets.Ready {
						held := assets.BaseOf(a).Held() > 0
						err := e.fin.ForceRelease(a)
						if os.Getenv("MODEL_TRACE") != "" {
							t.Logf("force %v: %v", assets.BaseOf(a), err)
						}
						if locked[assets.BaseOf(a).ID()] {
							require.ErrorIs(t, err, finalizer.ErrLocked)
						} else if held {
							require.ErrorIs(t, err, assets.ErrInUse, "a live asset depends on it")
						} else {
							require.NoError(t, err)
							// Forced: whoever held it, the test, the scene slot
							// or the persistent roots, holds a released asset.
							delete(holds, assets.BaseOf(a).ID())
							if current != nil && current.ID() == assets.BaseOf(a).ID() {
								current = nil
							}
							currentPersist = slices.DeleteFunc(currentPersist, func(p assets.Asset) bool { return p == a })
						}
					}
				case op == 9:
					require.NoError(t, e.sync.EndFrame(frame))
					frame = nil
					e.fin.Collect()
					if r.IntN(4) == 0 {
						e.fin.ReleaseUnused()
					}
				}
				// The scene and the persistent roots of the last switch each
				// hold one reference, like the test's own holds.
				sceneHolds := maps.Clone(holds)
				if current != nil {
					sceneHolds[current.ID()]++
				}
				for _, p := range currentPersist {
					sceneHolds[assets.BaseOf(p).ID()]++
				}
				for _, p := range atlas.PageTextures() {
					sceneHolds[p.ID()]++ // the atlas holds its pages
				}
				checkModel(t, step, e, live, sceneHolds, locked)
			}
			if frame != nil {
				require.NoError(t, e.sync.EndFrame(frame))
			}
			for id := range locked {
				e.fin.Unlock(live[id])
			}
			e.fin.ReleaseAll()
			require.NoError(t, e.sync.Flush(ctx))
			require.Empty(t, e.m.Assets(), "ReleaseAll leaves nothing cached")
		})
	}
}

func pick(r *rand.Rand, m map[assets.ID]assets.Asset) assets.Asset {
	ids := make([]assets.ID, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slicesSort(ids)
	return m[ids[r.IntN(len(ids))]]
}

func slicesSort(ids []assets.ID) {
	for i := 1; i < len(ids); i++ {
		for j := i; j > 0 && ids[j] < ids[j-1]; j-- {
			ids[j], ids[j-1] = ids[j-1], ids[j]
		}
	}
}

// checkModel: every cached asset's count is its dependents' edges plus the
// references the test holds; a locked asset is never gone; an asset the
// test still holds is never gone unless forced.
func checkModel(t *testing.T, step int, e *env, live map[assets.ID]assets.Asset, holds map[assets.ID]int, locked map[assets.ID]bool) {
	t.Helper()
	edges := map[assets.ID]int{}
	cached := e.m.Assets()
	for _, a := range cached {
		for _, d := range assets.BaseOf(a).Deps() {
			edges[assets.BaseOf(d).ID()]++
		}
	}
	for _, a := range cached {
		b := assets.BaseOf(a)
		if want := edges[b.ID()] + holds[b.ID()]; b.RefCount() != want {
			t.Fatalf("step %d: %v has count %d, the model says %d (%d edges, %d held)\n%s",
				step, b, b.RefCount(), want, edges[b.ID()], holds[b.ID()], e.fin.Why(a))
		}
	}
	for id, a := range live {
		b := assets.BaseOf(a)
		if locked[id] && b.State() != assets.Ready {
			t.Fatalf("step %d: locked %v is %v", step, b, b.State())
		}
		if holds[id] > 0 && b.State() != assets.Ready {
			t.Fatalf("step %d: %v, held %d times, is %v", step, b, holds[id], b.State())
		}
	}
}

// A run-time sprite cut from a texture keeps the texture alive.
func TestWhyNamesHolders(t *testing.T) {
	e := open(t, 2)
	tex, err := e.b.LoadTexture(context.Background(), "checker.png")
	require.NoError(t, err)
	_, err = e.m.NewSpriteFrame("corner", tex, image.Rect(0, 0, 8, 8))
	require.NoError(t, err)
	require.NoError(t, e.m.AddRef(tex))
	why := e.fin.Why(tex)
	require.Contains(t, why, "count 2")
	require.Contains(t, why, `sprite "corner"`)
	require.Contains(t, why, "1 dynamic holder")
	report := e.fin.Report()
	require.NotEmpty(t, report)
	require.True(t, strings.Contains(strings.Join(report, "\n"), "checker.png"))
}
