package assets_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkassets/vkassets/alloc"
	"github.com/vkassets/vkassets/assets"
	"github.com/vkassets/vkassets/framesync"
	"github.com/vkassets/vkassets/internal/render"
	"github.com/vkassets/vkassets/vk"
	"github.com/vkassets/vkassets/vk/vktest"
)

// defragEnv is a device with synchronization validation, an allocator of
// small blocks (so that a few hundred small assets spread over many), a
// Sync, a manager and a renderer.
type defragEnv struct {
	d *vk.Device
	a *alloc.Allocator
	s *framesync.Sync
	m *assets.Manager
	r *render.Renderer
}

func openDefragEnv(t *testing.T, frames int) *defragEnv {
	d := vktest.OpenWith(t, vktest.Options{SyncValidation: true})
	vktest.WatchVertexReads(t, d) // the moves' buffer copies before the draws' reads
	a, err := alloc.New(alloc.Options{Device: d, PreferredBlockSize: 1 << 20})
	require.NoError(t, err)
	s, err := framesync.New(framesync.Options{Device: d, Allocator: a, FramesInFlight: frames})
	require.NoError(t, err)
	m, err := assets.New(assets.Options{Device: d, Allocator: a, Sync: s, Logger: vktest.Logger(t)})
	require.NoError(t, err)
	r, err := render.New(m, d, a, s, 64, 64)
	require.NoError(t, err)
	return &defragEnv{d: d, a: a, s: s, m: m, r: r}
}

// close tears everything down; the allocator's Close fails on any leak.
func (e *defragEnv) close(t *testing.T) {
	require.NoError(t, e.s.WaitIdle())
	e.r.Close()
	require.NoError(t, e.m.Close())
	require.NoError(t, e.s.Close())
	require.NoError(t, e.a.Close())
}

// pixels are size×size RGBA8 texels made from seed.
func pixels(seed uint64, size int) []byte {
	rng := rand.New(rand.NewPCG(seed, 7))
	p := make([]byte, size*size*4)
	for i := range p {
		p[i] = byte(rng.Uint32())
	}
	for i := 3; i < len(p); i += 4 {
		p[i] = 255
	}
	return p
}

// newTexture makes a run-time texture holding one reference (the caller's).
func newTexture(m *assets.Manager, name string, seed uint64, size int) (*assets.Texture2D, error) {
	im, err := m.NewImage(name, uint32(size), uint32(size), pixels(seed, size))
	if err != nil {
		return nil, err
	}
	tex, err := m.NewTexture(im)
	_ = m.DecRef(im) // the texture holds it
	if err != nil {
		_, _ = m.Release(im, false)
		return nil, err
	}
	return tex, nil
}

// drop lets go of a run-time asset: its reference, then the release.
func drop(m *assets.Manager, a assets.Asset) {
	_ = m.DecRef(a)
	_, _ = m.Release(a, false)
}

// scene is what every frame draws: sprites of textures made among others
// that are released, so that they end up scattered, and the cube.
type scene struct {
	sprites []*assets.SpriteFrame
	texs    []*assets.Texture2D
	cube    *assets.Mesh
	junk    []assets.Asset // the undrawn assets left, each holding its maker's reference
}

// fragment makes the scene's textures among n others and buffers, then
// releases a random half of those others.
func fragment(t *testing.T, e *defragEnv, rng *rand.Rand, n int) *scene {
	sc := &scene{}
	var junk []assets.Asset
	for i := range n {
		if i == 2*n/3 { // the cube's buffers and texture among the rest
			b, err := e.m.AddBundle("content", assets.SampleContent())
			require.NoError(t, err)
			cube, err := b.LoadScene(context.Background(), "scenes/cube.glb")
			require.NoError(t, err)
			sc.cube = cube.Meshes[0]
		}
		if i%8 == 0 && len(sc.texs) < 16 {
			tex, err := newTexture(e.m, fmt.Sprintf("drawn-%d", i), uint64(i), 16+rng.IntN(3)*16)
			require.NoError(t, err)
			sp, err := e.m.NewSpriteFrame(fmt.Sprintf("sprite-%d", i), tex, image.Rect(0, 0, int(tex.Width), int(tex.Height)))
			require.NoError(t, err)
			sc.texs, sc.sprites = append(sc.texs, tex), append(sc.sprites, sp)
			continue
		}
		if i%2 == 0 {
			tex, err := newTexture(e.m, fmt.Sprintf("junk-%d", i), uint64(i), 16+rng.IntN(4)*16)
			require.NoError(t, err)
			junk = append(junk, tex)
		} else {
			b, err := e.m.NewBuffer(fmt.Sprintf("junk-buf-%d", i), vk.BufferUsageVertex, make([]byte, 1024+rng.IntN(32)*1024))
			require.NoError(t, err)
			junk = append(junk, b)
		}
	}
	// Locked assets move too (they are only never released).
	require.NoError(t, e.m.Lock(sc.texs[0]))
	for k, i := range rng.Perm(len(junk)) {
		if k < len(junk)/2 {
			drop(e.m, junk[i])
		} else {
			sc.junk = append(sc.junk, junk[i])
		}
	}
	return sc
}

// draw records the scene into f.
func (sc *scene) draw(t *testing.T, e *defragEnv, f *framesync.Frame) {
	require.NoError(t, e.r.Begin(f, [4]float32{0.1, 0.1, 0.15, 1}))
	for i, sp := range sc.sprites {
		x, y := float32(i%4)*16, float32(i/4)*16
		require.NoError(t, e.r.DrawSprite(f, sp, x, y, 12, 12, [4]float32{1, 1, 1, 1}))
	}
	mvp := render.Orthographic(2, 2, 4).Mul(render.RotateX(0.5)).Mul(render.Scale(0.5))
	require.NoError(t, e.r.DrawMesh(f, sc.cube, mvp, [4]float32{1, 1, 1, 1}))
	e.r.End(f, true)
}

// frameLoop renders frames, calling step (if any) after each BeginFrame,
// and checks each captured picture against want (when set) once its frame
// completes; it returns the first picture.
type frameLoop struct {
	e       *defragEnv
	sc      *scene
	pending []capture
	frames  int
}

type capture struct {
	f      *framesync.Frame
	serial framesync.Serial
}

func (l *frameLoop) frame(t *testing.T, step func(), check func(*image.RGBA)) {
	ctx := context.Background()
	if len(l.pending) == l.e.s.FramesInFlight() {
		l.read(t, check)
	}
	f, err := l.e.s.BeginFrame(ctx)
	require.NoError(t, err)
	if step != nil {
		step()
	}
	l.sc.draw(t, l.e, f)
	require.NoError(t, l.e.s.EndFrame(f))
	l.pending = append(l.pending, capture{f: f, serial: f.Serial()})
	l.frames++
}

// read waits for the oldest captured frame and checks its picture.
func (l *frameLoop) read(t *testing.T, check func(*image.RGBA)) {
	c := l.pending[0]
	l.pending = l.pending[1:]
	require.NoError(t, l.e.s.Wait(context.Background(), c.serial))
	img, err := l.e.r.Image(c.f)
	require.NoError(t, err)
	check(img)
}

func (l *frameLoop) drain(t *testing.T, check func(*image.RGBA)) {
	for len(l.pending) > 0 {
		l.read(t, check)
	}
}

// TestDefragFramesIdentical fragments memory with textures and buffers,
// then renders frames with automatic defragmentation on while two other
// goroutines load and release assets, with 1 to 3 frames in flight and
// synchronization validation on: every frame must be pixel-identical to
// the scene rendered before defragmentation was turned on, the drawn
// textures must have moved, and blocks must have been freed.
func TestDefragFramesIdentical(t *testing.T) {
	for frames := 1; frames <= 3; frames++ {
		t.Run(fmt.Sprintf("frames=%d", frames), func(t *testing.T) {
			e := openDefragEnv(t, frames)
			rng := rand.New(rand.NewPCG(uint64(frames), 1))
			sc := fragment(t, e, rng, 240)
			l := &frameLoop{e: e, sc: sc}

			// The reference: the same scene, defragmentation off.
			var want []byte
			l.frame(t, nil, func(img *image.RGBA) { want = img.Pix })
			l.drain(t, func(img *image.RGBA) { want = img.Pix })
			require.NotEmpty(t, want)
			gens := make([]uint64, len(sc.texs))
			for i, tex := range sc.texs {
				gens[i] = tex.Generation()
			}

			// Both algorithms: fast (frames 1, 3), full (frames 2).
			algo := alloc.DefragFast
			if frames == 2 {
				algo = alloc.DefragFull
			}
			require.NoError(t, e.m.SetDefrag(assets.DefragPolicy{MaxBytesPerFrame: 96 << 10, MaxMovesPerFrame: 24, RestartAfterFrames: 1000, Algorithm: algo}))
			identical, total := 0, 0
			check := func(img *image.RGBA) {
				total++
				if bytes.Equal(img.Pix, want) {
					identical++
				}
			}
			step := func() {
				_, err := e.m.DefragFrame()
				require.NoError(t, err)
			}

			// Churn from two goroutines while frames render.
			stop := make(chan struct{})
			var churned atomic.Int64
			var wg sync.WaitGroup
			for g := range 2 {
				wg.Go(func() {
					rng := rand.New(rand.NewPCG(uint64(g), 99))
					var mine []assets.Asset
					for i := 0; ; i++ {
						select {
						case <-stop:
							for _, a := range mine {
								drop(e.m, a)
							}
							return
						default:
						}
						var a assets.Asset
						var err error
						if i%2 == 0 {
							a, err = newTexture(e.m, fmt.Sprintf("churn-%d-%d", g, i), uint64(i), 16+rng.IntN(4)*16)
						} else {
							a, err = e.m.NewBuffer(fmt.Sprintf("churn-buf-%d-%d", g, i), vk.BufferUsageVertex, make([]byte, 512+rng.IntN(16)*1024))
						}
						if err != nil {
							t.Errorf("churn: %v", err)
							return
						}
						mine = append(mine, a)
						if len(mine) > 16 {
							k := rng.IntN(len(mine))
							drop(e.m, mine[k])
							mine = append(mine[:k], mine[k+1:]...)
						}
						churned.Add(1)
					}
				})
			}
			for range 40 {
				l.frame(t, step, check)
			}
			close(stop)
			wg.Wait()
			// Then frames until a defragmentation begun after the churn
			// (the churn's releases left holes) has found nothing more
			// to move.
			ended := e.m.DefragStats().Completed
			require.NoError(t, e.m.SetDefrag(assets.DefragPolicy{MaxBytesPerFrame: 96 << 10, MaxMovesPerFrame: 24, RestartAfterFrames: 1000, Algorithm: algo}))
			for i := 0; i < 400 && e.m.DefragStats().Completed == ended; i++ {
				l.frame(t, step, check)
			}
			l.drain(t, check)

			st := e.m.DefragStats()
			t.Logf("%d frames, %d churned; %+v", l.frames, churned.Load(), st)
			require.Equal(t, total, identical, "frames identical to the reference")
			require.Positive(t, st.Completed, "the defragmentation ended")
			require.Positive(t, st.Moved)
			require.Positive(t, st.BlocksFreed)
			moved := 0
			for i, tex := range sc.texs {
				if tex.Generation() != gens[i] {
					moved++
				}
			}
			require.Positive(t, moved, "drawn textures moved")
			t.Logf("%d drawn textures moved; the cube's vertices %d times, indices %d times", moved,
				sc.cube.Vertices.Generation(), sc.cube.Indices.Generation())
			e.close(t)
		})
	}
}

// TestDefragmentNow fragments memory, then defragments in one call (a
// loading screen): fewer blocks, the same picture, no leak at Close.
func TestDefragmentNow(t *testing.T) {
	e := openDefragEnv(t, 2)
	rng := rand.New(rand.NewPCG(5, 5))
	sc := fragment(t, e, rng, 240)
	l := &frameLoop{e: e, sc: sc}
	var want []byte
	l.frame(t, nil, func(img *image.RGBA) { want = img.Pix })
	l.drain(t, func(img *image.RGBA) { want = img.Pix })
	// Only the drawn assets stay, scattered; full compaction moves them.
	for _, a := range sc.junk {
		drop(e.m, a)
	}
	require.NoError(t, e.m.SetDefrag(assets.DefragPolicy{MaxBytesPerFrame: 1 << 20, Algorithm: alloc.DefragFull}))
	before := e.a.Stats()
	st, err := e.m.DefragmentNow(context.Background())
	require.NoError(t, err)
	after := e.a.Stats()
	t.Logf("%+v; blocks %d -> %d", st, before.Total.BlockCount, after.Total.BlockCount)
	require.Positive(t, st.Moved)
	require.Positive(t, st.BlocksFreed)
	require.Less(t, after.Total.BlockCount, before.Total.BlockCount)
	t.Logf("the cube's vertices moved %d times, its indices %d times", sc.cube.Vertices.Generation(), sc.cube.Indices.Generation())
	require.Positive(t, sc.cube.Vertices.Generation()+sc.cube.Indices.Generation(), "a drawn buffer moved")
	for range 3 {
		l.frame(t, nil, func(img *image.RGBA) { require.Equal(t, want, img.Pix) })
	}
	l.drain(t, func(img *image.RGBA) { require.Equal(t, want, img.Pix) })
	e.close(t)
}

// TestDefragClaimRace claims textures and buffers and records reads of
// their handles from several goroutines while another defragments, in and
// between frames, and another releases and remakes assets (run it with -race): every handle a
// claim reads must be alive through its frame (the validation layer
// reports a destroyed one), and no handle is destroyed twice.
func TestDefragClaimRace(t *testing.T) {
	e := openDefragEnv(t, 2)
	rng := rand.New(rand.NewPCG(9, 9))
	sc := fragment(t, e, rng, 160)
	require.NoError(t, e.m.SetDefrag(assets.DefragPolicy{MaxMovesPerFrame: 8, RestartAfterFrames: 2}))
	ctx := context.Background()

	// A pool of assets the claimers draw from, replaced as they go.
	var mu sync.Mutex
	pool := make([]assets.Asset, 0, 32)
	for i := range 32 {
		tex, err := newTexture(e.m, fmt.Sprintf("pool-%d", i), uint64(i), 32)
		require.NoError(t, err)
		pool = append(pool, tex)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { // releases and remakes
		rng := rand.New(rand.NewPCG(1, 2))
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			var a assets.Asset
			var err error
			if i%2 == 0 {
				a, err = newTexture(e.m, fmt.Sprintf("repl-%d", i), uint64(i), 16+rng.IntN(3)*16)
			} else {
				a, err = e.m.NewBuffer(fmt.Sprintf("repl-buf-%d", i), vk.BufferUsageVertex, make([]byte, 2048))
			}
			if err != nil {
				t.Errorf("remake: %v", err)
				return
			}
			mu.Lock()
			k := rng.IntN(len(pool))
			old := pool[k]
			pool[k] = a
			mu.Unlock()
			drop(e.m, old)
		}
	})
	wg.Go(func() { // defragments between and during frames
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := e.m.DefragFrame(); err != nil {
				t.Errorf("defrag: %v", err)
				return
			}
			_, _ = e.s.Poll()
			runtime.Gosched()
		}
	})
	var swaps atomic.Int64
	for range 60 {
		f, err := e.s.BeginFrame(ctx)
		require.NoError(t, err)
		var rec sync.Mutex // one recorder of f.Cmd at a time
		var claimers sync.WaitGroup
		for g := range 3 {
			claimers.Go(func() {
				for i := range 20 {
					mu.Lock()
					a := pool[(g*7+i)%len(pool)]
					mu.Unlock()
					if err := assets.Use(f.Serial(), a); err != nil {
						if !errors.Is(err, assets.ErrReleased) {
							t.Errorf("use: %v", err)
						}
						continue
					}
					rec.Lock()
					switch x := a.(type) {
					case *assets.Texture2D:
						h := x.Handles()
						if h.Generation > 0 {
							swaps.Add(1)
						}
						e.d.CmdBarrier(f.Cmd, vk.Barrier{SrcStage: vk.StageFragmentShader, DstStage: vk.StageFragmentShader,
							SrcAccess: vk.AccessShaderRead, DstAccess: vk.AccessShaderRead, Image: h.Image,
							OldLayout: vk.LayoutShaderReadOnlyOptimal, NewLayout: vk.LayoutShaderReadOnlyOptimal})
					case *assets.Buffer:
						h := x.Handles()
						if h.Generation > 0 {
							swaps.Add(1)
						}
						e.d.CmdBarrier(f.Cmd, vk.Barrier{SrcStage: vk.StageVertexInput, DstStage: vk.StageVertexInput,
							SrcAccess: vk.AccessMemoryRead, DstAccess: vk.AccessMemoryRead, Buffer: h.Buffer})
					}
					rec.Unlock()
				}
			})
		}
		claimers.Wait()
		sc.draw(t, e, f)
		require.NoError(t, e.s.EndFrame(f))
	}
	close(stop)
	wg.Wait()
	mu.Lock()
	for _, a := range pool {
		drop(e.m, a)
	}
	mu.Unlock()
	st := e.m.DefragStats()
	t.Logf("%+v; %d claims saw moved handles", st, swaps.Load())
	require.Positive(t, st.Moved)
	e.close(t)
}

// TestDefragClaimBeforeSwap makes the narrowest race of the handle swap
// happen every time: a pass's copies are submitted outside any frame, and
// before the swap the next frame claims the moving assets and records a
// read of their (old) handles. The old objects must outlive that frame,
// not only the copy: the validation layer reports an image destroyed while
// a submitted frame uses it, or a frame submitted with a destroyed one.
func TestDefragClaimBeforeSwap(t *testing.T) {
	e := openDefragEnv(t, 2)
	rng := rand.New(rand.NewPCG(3, 3))
	sc := fragment(t, e, rng, 160)
	require.NoError(t, e.m.SetDefrag(assets.DefragPolicy{MaxMovesPerFrame: 4, RestartAfterFrames: 1}))
	ctx := context.Background()
	l := &frameLoop{e: e, sc: sc}
	junk := map[assets.Asset]bool{}
	for _, a := range sc.junk {
		junk[a] = true
	}
	claimed, released := 0, 0
	var moving []assets.Asset
	assets.SetBeforeSwap(func(as []assets.Asset) {
		moving = as
		f, err := e.s.BeginFrame(ctx)
		require.NoError(t, err)
		pendingFrame = f
		for _, a := range as {
			if junk[a] || assets.Use(f.Serial(), a) != nil {
				continue
			}
			claimed++
			switch x := a.(type) {
			case *assets.Texture2D:
				e.d.CmdBarrier(f.Cmd, vk.Barrier{SrcStage: vk.StageFragmentShader, DstStage: vk.StageFragmentShader,
					SrcAccess: vk.AccessShaderRead, DstAccess: vk.AccessShaderRead, Image: x.Handles().Image,
					OldLayout: vk.LayoutShaderReadOnlyOptimal, NewLayout: vk.LayoutShaderReadOnlyOptimal})
			case *assets.Buffer:
				e.d.CmdBarrier(f.Cmd, vk.Barrier{SrcStage: vk.StageVertexInput, DstStage: vk.StageVertexInput,
					SrcAccess: vk.AccessMemoryRead, DstAccess: vk.AccessMemoryRead, Buffer: x.Handles().Buffer})
			}
		}
	})
	defer assets.SetBeforeSwap(nil)
	for range 30 {
		l.drain(t, func(*image.RGBA) {}) // the hook's frame reuses a slot
		pendingFrame, moving = nil, nil
		_, err := e.m.DefragFrame() // outside any frame: the copies go at once
		require.NoError(t, err)
		if f := pendingFrame; f != nil {
			// An unclaimed moved asset released now retires with the
			// copy, before the pass ends (with the claimed ones' frame).
			for _, a := range moving {
				if junk[a] {
					delete(junk, a)
					drop(e.m, a)
					released++
					break
				}
			}
			require.NoError(t, e.s.EndFrame(f))
		}
		l.frame(t, func() {}, func(*image.RGBA) {})
	}
	l.drain(t, func(*image.RGBA) {})
	t.Logf("%d claims of old handles before the swap, %d releases before the pass ended; %+v", claimed, released, e.m.DefragStats())
	require.Positive(t, claimed)
	require.Positive(t, released)
	e.close(t)
}

// pendingFrame is the frame TestDefragClaimBeforeSwap's hook began.
var pendingFrame *framesync.Frame

// TestDefragReleaseDuringMove releases moving assets at the two points a
// release can meet a move: between the copy's submission and the swap
// (the release must retire the old objects after the copy that reads
// them, and the move must not swap in), and after the swap but before the
// pass ends (the release retires the new objects, and the destination's
// allocation is freed once, by whichever of the release and the pass's
// end comes second). Validation stays clean and Close finds no leak.
func TestDefragReleaseDuringMove(t *testing.T) {
	e := openDefragEnv(t, 2)
	rng := rand.New(rand.NewPCG(4, 4))
	sc := fragment(t, e, rng, 200)
	require.NoError(t, e.m.SetDefrag(assets.DefragPolicy{MaxMovesPerFrame: 6, RestartAfterFrames: 1}))
	junk := map[assets.Asset]bool{}
	for _, a := range sc.junk {
		junk[a] = true
	}
	before, after := 0, 0
	var moving []assets.Asset
	assets.SetBeforeSwap(func(as []assets.Asset) {
		moving = as
		for _, a := range as {
			if !junk[a] {
				continue
			}
			delete(junk, a)
			// The release blocks, once the asset is marked, until the
			// swap is done: let it run on.
			go drop(e.m, a)
			for assets.BaseOf(a).State() == assets.Ready {
				runtime.Gosched()
			}
			before++
			return
		}
	})
	defer assets.SetBeforeSwap(nil)
	l := &frameLoop{e: e, sc: sc}
	for range 40 {
		moving = nil
		l.frame(t, func() {
			_, err := e.m.DefragFrame()
			require.NoError(t, err)
			for _, a := range moving {
				if junk[a] {
					delete(junk, a)
					drop(e.m, a) // swapped, its pass not ended
					after++
					break
				}
			}
		}, func(*image.RGBA) {})
	}
	l.drain(t, func(*image.RGBA) {})
	t.Logf("released %d before and %d after a swap; %+v", before, after, e.m.DefragStats())
	require.Positive(t, before)
	require.Positive(t, after)
	e.close(t)
}
