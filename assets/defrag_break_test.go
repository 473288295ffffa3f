package assets_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"io/fs"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vkassets/vkassets/alloc"
	"github.com/vkassets/vkassets/assets"
	"github.com/vkassets/vkassets/framesync"
	"github.com/vkassets/vkassets/vk"
	"github.com/vkassets/vkassets/vk/vktest"
)

// Adversarial tests of the automatic defragmentation: claims, releases,
// closes and loads from other goroutines and timelines while passes move
// assets.

// rangeLive reports whether the allocator still holds a live range at
// al's memory and offset.
func rangeLive(a *alloc.Allocator, al alloc.Allocation) bool {
	for _, b := range a.Blocks() {
		if b.Memory != al.Memory {
			continue
		}
		for _, r := range b.Ranges {
			if r.Offset == al.Offset {
				return !r.Free
			}
		}
	}
	return false
}

// TestDefragBreakOtherTimelineUse: an app that submits on a timeline of
// its own claims the scene's textures and buffers there (UseAt), then a
// pass moves them. The old objects and their memory must wait for that
// timeline too, not only for the copy and the frame timeline: while the
// app's timeline is short of its claim, the pass may not end (the sources
// stay allocated, the allocator does not know Handles().Memory, the
// destination, as the asset's); once it passes, the pass ends.
func TestDefragBreakOtherTimelineUse(t *testing.T) {
	e := openDefragEnv(t, 2)
	rng := rand.New(rand.NewPCG(11, 11))
	sc := fragment(t, e, rng, 160)
	sem, err := e.d.CreateTimelineSemaphore(0)
	require.NoError(t, err)
	t.Cleanup(func() { e.d.DestroySemaphore(sem) })
	tl, err := e.s.AddTimeline("compute", sem)
	require.NoError(t, err)

	type claimed struct {
		a   assets.Asset
		old alloc.Allocation
		gen uint64
	}
	handles := func(a assets.Asset) (alloc.Allocation, uint64) {
		switch x := a.(type) {
		case *assets.Texture2D:
			h := x.Handles()
			return h.Memory, h.Generation
		case *assets.Buffer:
			h := x.Handles()
			return h.Memory, h.Generation
		}
		panic("kind")
	}
	var all []claimed
	for _, a := range append([]assets.Asset{sc.cube.Vertices, sc.cube.Indices}, assetsOf(sc.texs)...) {
		require.NoError(t, e.m.UseAt(tl.At(100), a))
		mem, gen := handles(a)
		all = append(all, claimed{a: a, old: mem, gen: gen})
	}
	require.NoError(t, e.s.Flush(t.Context()))
	require.NoError(t, e.m.SetDefrag(assets.DefragPolicy{MaxMovesPerFrame: 256, RestartAfterFrames: 1}))
	var moved []claimed
	for i := 0; i < 20 && len(moved) == 0; i++ { // 20 passes recorded
		recordPass(t, e.m, func() assets.DefragPass {
			p, err := e.m.DefragFrame() // outside any frame: the copies go at once
			require.NoError(t, err)
			require.NoError(t, e.s.Flush(t.Context()))
			return p
		})
		for _, c := range all {
			if _, gen := handles(c.a); gen != c.gen {
				moved = append(moved, c)
			}
		}
	}
	require.NotEmpty(t, moved, "a claimed asset moved")
	t.Logf("%+v", e.m.DefragStats())
	// The copy and every frame are done; the app's timeline is at 0.
	require.NoError(t, e.s.Flush(t.Context()))
	_, err = e.s.Poll()
	require.NoError(t, err)
	for _, c := range moved {
		mem, _ := handles(c.a)
		require.False(t, committed(e.a, c.a, mem), "%v: its pass ended while %v is short of its claim", c.a, tl)
		require.True(t, rangeLive(e.a, c.old), "%v: its old memory was freed while %v is short of its claim", c.a, tl)
	}
	// The app's timeline passes the claim: the pass ends.
	require.NoError(t, e.d.SignalSemaphore(sem, 100))
	c := moved[0]
	for i := 0; i < 5000; i++ {
		if mem, _ := handles(c.a); committed(e.a, c.a, mem) {
			break
		}
		_, err = e.s.Poll()
		require.NoError(t, err)
		runtime.Gosched()
		time.Sleep(time.Millisecond)
	}
	mem, _ := handles(c.a)
	require.True(t, committed(e.a, c.a, mem), "%v: the pass did not end once %v passed the claim", c.a, tl)
	require.False(t, rangeLive(e.a, c.old), "%v: its old memory stayed once the pass ended", c.a)
	require.NoError(t, e.m.SetDefrag(assets.DefragPolicy{}))
	e.close(t)
}

// recordPass calls step (a DefragFrame, with what the test does around
// it) until one records a pass or ends the defragmentation
// (DefragStats().Frames grows): the first DefragFrame of a pass only
// starts its planner, on a goroutine of its own, and a later one records
// the pass once it is planned. It returns what that DefragFrame did. The
// minute's bound only turns a hang into a failure.
func recordPass(t *testing.T, m *assets.Manager, step func() assets.DefragPass) assets.DefragPass {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		frames := m.DefragStats().Frames
		p := step()
		if m.DefragStats().Frames > frames {
			return p
		}
		require.True(t, time.Now().Before(deadline), "no pass recorded within a minute")
		time.Sleep(time.Millisecond) // the planner runs
	}
}

// committed reports whether the pass that moved a has ended: the
// allocator knows the memory Handles() reports (where the new objects are
// bound, from the swap on) only once the pass has committed it, as a's.
func committed(a *alloc.Allocator, x assets.Asset, mem alloc.Allocation) bool {
	ud, ok := a.UserData(mem)
	return ok && ud == x
}

func assetsOf[T assets.Asset](xs []T) []assets.Asset {
	out := make([]assets.Asset, len(xs))
	for i, x := range xs {
		out[i] = x
	}
	return out
}

// TestDefragBreakCloseMidPass closes the manager, the Sync and the
// allocator, in every order, from another goroutine while a pass has
// planned, created its new objects and recorded its copies but not yet
// handed the old objects and its end to framesync (the hook holds it
// there), with the copies submitted at once or with a frame being
// recorded. Closing in the documented order (manager, Sync, allocator)
// must find no leak; every order must be free of validation errors and
// crashes, and the manager must answer ErrClosed afterwards.
func TestDefragBreakCloseMidPass(t *testing.T) {
	for _, inFrame := range []bool{false, true} {
		for _, order := range permutations(3) {
			t.Run(fmt.Sprintf("inFrame=%v/order=%v", inFrame, order), func(t *testing.T) {
				closeMidPass(t, inFrame, order)
			})
		}
	}
}

func closeMidPass(t *testing.T, inFrame bool, order []int) {
	e := openDefragEnv(t, 2)
	rng := rand.New(rand.NewPCG(12, 12))
	fragment(t, e, rng, 120)
	e.r.Close()
	require.NoError(t, e.s.Flush(t.Context()))
	require.NoError(t, e.m.SetDefrag(assets.DefragPolicy{MaxMovesPerFrame: 16, RestartAfterFrames: 1}))

	names := []string{"manager", "sync", "allocator"}
	closers := []func() error{e.m.Close, e.s.Close, e.a.Close}
	errs := make([]error, 3)
	closed := make(chan struct{})
	armed := true
	assets.SetBeforeFinish(func() {
		if !armed {
			return
		}
		armed = false
		go func() {
			defer close(closed)
			for _, i := range order {
				errs[i] = closers[i]()
			}
		}()
		// Let the closes run as far as they go before the pass goes on.
		select {
		case <-closed:
		case <-time.After(300 * time.Millisecond):
		}
	})
	defer assets.SetBeforeFinish(nil)
	var f *framesync.Frame
	if inFrame {
		var err error
		f, err = e.s.BeginFrame(t.Context())
		require.NoError(t, err)
	}
	// The first DefragFrame starts the planner; a later one records the
	// planned pass (the hook fires in its finish).
	for deadline := time.Now().Add(time.Minute); armed && time.Now().Before(deadline); {
		_, err := e.m.DefragFrame()
		require.NoError(t, err)
		if armed && !inFrame {
			require.NoError(t, e.s.Flush(t.Context()))
		}
		if armed {
			time.Sleep(time.Millisecond) // the planner runs
		}
	}
	require.False(t, armed, "a pass recorded copies")
	if f != nil {
		if err := e.s.EndFrame(f); err != nil {
			require.ErrorIs(t, err, framesync.ErrClosed)
		}
	}
	<-closed
	documented := order[0] == 0 && order[1] == 1
	for i, err := range errs {
		switch {
		case err == nil:
		case errors.Is(err, framesync.ErrUnsubmitted) && i == 1 && inFrame:
			// The frame being recorded was never submitted.
		case !documented && acceptable(err):
			t.Logf("%s close (order %v): %v", names[i], order, firstLine(err))
		default:
			t.Errorf("%s close (order %v): %v", names[i], order, err)
		}
	}
	_, err := e.m.DefragFrame()
	require.ErrorIs(t, err, assets.ErrClosed)
	_, err = e.m.DefragmentNow(t.Context())
	require.ErrorIs(t, err, assets.ErrClosed)
	require.ErrorIs(t, e.m.SetDefrag(assets.DefragPolicy{}), assets.ErrClosed)
	for _, c := range closers {
		require.NoError(t, c(), "a second Close")
	}
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}

// textureBundle is the sample content's images as textures (a manifest
// says so), so that a load of one yields a keyed Texture2D nothing holds.
func textureBundle(t *testing.T) (fs.FS, []string) {
	src := assets.SampleContent()
	paths := []string{"checker.png", "hero.png", "logo.jpg", "icons/star.png", "icons/coin.png", "icons/heart.png", "scenes/quad_albedo.png"}
	fsys := fstest.MapFS{}
	man := `{"version": 1, "assets": [`
	for i, p := range paths {
		data, err := fs.ReadFile(src, p)
		require.NoError(t, err)
		fsys[p] = &fstest.MapFile{Data: data}
		if i > 0 {
			man += ","
		}
		man += fmt.Sprintf(`{"path": %q, "kind": "texture"}`, p)
	}
	fsys["manifest.json"] = &fstest.MapFile{Data: []byte(man + "]}")}
	return fsys, paths
}

// TestDefragBreakReleaseRacesAcquire: with ReleaseUnreferenced on, passes
// release the cached textures nothing references instead of moving them,
// while three goroutines acquire the same keys (count 0 to 1), claim the
// textures for the frame being recorded, record reads of their handles and
// let go. An acquired texture must never be released under its holder:
// its claim must succeed and its handles must outlive the frame.
func TestDefragBreakReleaseRacesAcquire(t *testing.T) {
	e := openDefragEnv(t, 2)
	rng := rand.New(rand.NewPCG(13, 13))
	fsys, paths := textureBundle(t)
	b, err := e.m.AddBundle("tex", fsys)
	require.NoError(t, err)
	for _, p := range paths {
		_, err := b.Load(t.Context(), p)
		require.NoError(t, err)
	}
	sc := fragment(t, e, rng, 160)
	require.NoError(t, e.m.SetDefrag(assets.DefragPolicy{MaxMovesPerFrame: 32, RestartAfterFrames: 1, ReleaseUnreferenced: true, Algorithm: alloc.DefragFull}))

	var mu sync.Mutex // guards cur and records in cur.Cmd
	var cur *framesync.Frame
	var acquired, reloads, drawn atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := range 3 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 13))
			seen := map[assets.Asset]bool{}
			for {
				select {
				case <-stop:
					return
				default:
				}
				a, err := b.Acquire(t.Context(), paths[rng.IntN(len(paths))])
				if err != nil {
					t.Errorf("acquire: %v", err)
					return
				}
				acquired.Add(1)
				if !seen[a] {
					seen[a] = true
					reloads.Add(1)
				}
				tex := a.(*assets.Texture2D)
				mu.Lock()
				if f := cur; f != nil {
					if err := assets.Use(f.Serial(), tex); err != nil {
						t.Errorf("use of %v acquired (count %d): %v", tex, tex.RefCount(), err)
					} else {
						drawn.Add(1)
						e.d.CmdBarrier(f.Cmd, vk.Barrier{SrcStage: vk.StageFragmentShader, DstStage: vk.StageFragmentShader,
							SrcAccess: vk.AccessShaderRead, DstAccess: vk.AccessShaderRead, Image: tex.Handles().Image,
							OldLayout: vk.LayoutShaderReadOnlyOptimal, NewLayout: vk.LayoutShaderReadOnlyOptimal})
					}
				}
				mu.Unlock()
				if tex.State() != assets.Ready {
					t.Errorf("%v acquired and %v", tex, tex.State())
				}
				if err := e.m.DecRef(tex); err != nil {
					t.Errorf("dec ref: %v", err)
				}
				runtime.Gosched()
			}
		})
	}
	for range 150 {
		f, err := e.s.BeginFrame(t.Context())
		require.NoError(t, err)
		_, err = e.m.DefragFrame()
		require.NoError(t, err)
		mu.Lock()
		cur = f
		mu.Unlock()
		for range 3 {
			runtime.Gosched()
			time.Sleep(100 * time.Microsecond)
		}
		mu.Lock()
		cur = nil
		sc.draw(t, e, f)
		mu.Unlock()
		require.NoError(t, e.s.EndFrame(f))
	}
	close(stop)
	wg.Wait()
	st := e.m.DefragStats()
	t.Logf("%d acquired, %d drawn, %d loads seen; %+v", acquired.Load(), drawn.Load(), reloads.Load(), st)
	require.Positive(t, st.Released, "passes released unreferenced textures")
	require.Positive(t, drawn.Load())
	require.NoError(t, e.m.SetDefrag(assets.DefragPolicy{}))
	e.close(t)
}

// TestDefragBreakChaos renders frames (checking each picture against the
// scene rendered before defragmentation) while other goroutines, on a
// seeded random schedule, call DefragFrame (two at once), DefragmentNow
// with contexts that expire or are cancelled, change the policy (off, fast,
// full, releasing the unreferenced), pin and lock drawn textures, and make,
// release, force-release, lock and unlock other assets. Validation and
// synchronization validation stay clean, every frame is identical, and
// Close finds no leak.
func TestDefragBreakChaos(t *testing.T) {
	for seed := range uint64(4) {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) { defragChaos(t, seed) })
	}
}

func defragChaos(t *testing.T, seed uint64) {
	frames := 1 + int(seed%3)
	e := openDefragEnv(t, frames)
	rng := rand.New(rand.NewPCG(seed, 17))
	sc := fragment(t, e, rng, 200)
	l := &frameLoop{e: e, sc: sc}
	var want []byte
	l.frame(t, nil, func(img *image.RGBA) { want = img.Pix })
	l.drain(t, func(img *image.RGBA) { want = img.Pix })
	policies := []assets.DefragPolicy{
		{},
		{MaxMovesPerFrame: 4, RestartAfterFrames: 1},
		{MaxBytesPerFrame: 64 << 10, RestartAfterFrames: 2, Algorithm: alloc.DefragFull},
		{MaxMovesPerFrame: 16, RestartAfterFrames: 1, Algorithm: alloc.DefragFull, ReleaseUnreferenced: true},
	}
	require.NoError(t, e.m.SetDefrag(policies[1]))

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var nows, nowErrs, pins, forced atomic.Int64
	loop := func(g uint64, step func(rng *rand.Rand)) {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(seed, g))
			for {
				select {
				case <-stop:
					return
				default:
				}
				step(rng)
				if rng.IntN(4) == 0 {
					time.Sleep(time.Duration(rng.IntN(300)) * time.Microsecond)
				} else {
					runtime.Gosched()
				}
			}
		})
	}
	for g := range uint64(2) { // two DefragFrame callers
		loop(g, func(*rand.Rand) {
			if _, err := e.m.DefragFrame(); err != nil {
				t.Errorf("defrag frame: %v", err)
			}
		})
	}
	loop(2, func(rng *rand.Rand) { // the policy changes
		if err := e.m.SetDefrag(policies[rng.IntN(len(policies))]); err != nil {
			t.Errorf("set defrag: %v", err)
		}
		time.Sleep(time.Duration(rng.IntN(2000)) * time.Microsecond)
	})
	loop(3, func(rng *rand.Rand) { // loading screens, cut short
		ctx, cancel := context.WithTimeout(t.Context(), time.Duration(rng.IntN(3000))*time.Microsecond)
		if rng.IntN(4) == 0 {
			cancel()
		}
		_, err := e.m.DefragmentNow(ctx)
		cancel()
		nows.Add(1)
		if err != nil {
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				t.Errorf("defragment now: %v", err)
			}
			nowErrs.Add(1)
		}
	})
	loop(4, func(rng *rand.Rand) { // pins and locks of what is drawn
		tex := sc.texs[rng.IntN(len(sc.texs))]
		unpin, err := e.m.Pin(tex)
		if err != nil {
			t.Errorf("pin: %v", err)
			return
		}
		pins.Add(1)
		gen := tex.Generation() // a pinned texture does not move
		if rng.IntN(2) == 0 && tex != sc.texs[0] {
			if err := e.m.Lock(tex); err != nil {
				t.Errorf("lock: %v", err)
			}
			if _, err := e.m.Release(tex, true); !errors.Is(err, assets.ErrLocked) {
				t.Errorf("force release of a locked texture: %v", err)
			}
			e.m.Unlock(tex)
		}
		for range rng.IntN(4) {
			runtime.Gosched()
		}
		if g := tex.Generation(); g != gen {
			t.Errorf("%v moved while pinned (generation %d to %d)", tex, gen, g)
		}
		unpin()
	})
	loop(5, func(rng *rand.Rand) { // churn: make, release, force, lock
		var a assets.Asset
		var err error
		if rng.IntN(2) == 0 {
			a, err = newTexture(e.m, "chaos", rng.Uint64(), 16+rng.IntN(4)*16)
		} else {
			a, err = e.m.NewBuffer("chaos-buf", vk.BufferUsageVertex, make([]byte, 512+rng.IntN(16)*1024))
		}
		if err != nil {
			t.Errorf("make: %v", err)
			return
		}
		for range rng.IntN(3) {
			runtime.Gosched()
		}
		switch rng.IntN(3) {
		case 0:
			drop(e.m, a)
		case 1:
			if _, err := e.m.Release(a, true); err != nil {
				t.Errorf("force release: %v", err)
			}
			forced.Add(1)
		default:
			_ = e.m.Lock(a)
			runtime.Gosched()
			e.m.Unlock(a)
			drop(e.m, a)
		}
		if len(sc.junk) > 0 && rng.IntN(8) == 0 {
			// One of the scene's undrawn assets goes, forced.
			// (Only this goroutine touches sc.junk.)
			k := rng.IntN(len(sc.junk))
			_, _ = e.m.Release(sc.junk[k], true)
			sc.junk = append(sc.junk[:k], sc.junk[k+1:]...)
			forced.Add(1)
		}
	})
	identical, total := 0, 0
	check := func(img *image.RGBA) {
		total++
		if bytes.Equal(img.Pix, want) {
			identical++
		}
	}
	for range 150 {
		l.frame(t, nil, check)
	}
	close(stop)
	wg.Wait()
	l.drain(t, check)
	st := e.m.DefragStats()
	t.Logf("%d frames; %d DefragmentNow (%d cut short), %d pins, %d forced releases; %+v", l.frames, nows.Load(), nowErrs.Load(), pins.Load(), forced.Load(), st)
	require.Equal(t, total, identical, "frames identical to the reference")
	require.Positive(t, st.Moved)
	require.NoError(t, e.m.SetDefrag(assets.DefragPolicy{}))
	e.close(t)
}

// TestDefragBreakCloseWhileRendering closes the manager, the Sync and the
// allocator, in that order, at a random moment while one goroutine renders
// frames that claim the scene and read its handles, two call DefragFrame
// and one DefragmentNow. Every call answers or fails with a closed error,
// nothing leaks, nothing crashes, validation stays clean.
func TestDefragBreakCloseWhileRendering(t *testing.T) {
	for seed := range uint64(12) {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) { closeWhileRendering(t, seed) })
	}
}

func closeWhileRendering(t *testing.T, seed uint64) {
	e := openDefragEnv(t, 1+int(seed%3))
	rng := rand.New(rand.NewPCG(seed, 19))
	sc := fragment(t, e, rng, 120)
	e.r.Close()                           // frames are recorded by hand below
	f, err := e.s.BeginFrame(t.Context()) // the uploads go with it
	require.NoError(t, err)
	require.NoError(t, e.s.EndFrame(f))
	require.NoError(t, e.s.Flush(t.Context()))
	drawn := append([]assets.Asset{sc.cube.Vertices, sc.cube.Indices}, assetsOf(sc.texs)...)
	require.NoError(t, e.m.SetDefrag(assets.DefragPolicy{MaxMovesPerFrame: 8, RestartAfterFrames: 1, Algorithm: alloc.DefragFull}))

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var frames, moved atomic.Int64
	// between is held by the renderer while it records a frame: the
	// closes come between frames (with frames in flight), since objects
	// deferred to a frame being recorded are its recorder's to destroy, at
	// its EndFrame, after the allocator may have closed.
	var between sync.Mutex
	wg.Go(func() { // the renderer
		for {
			between.Lock()
			f, err := e.s.BeginFrame(t.Context())
			if err != nil {
				between.Unlock()
				if !closedErr(err) {
					t.Errorf("begin frame: %v", err)
				}
				return
			}
			for _, a := range drawn {
				if assets.Use(f.Serial(), a) != nil {
					continue // released by the manager's Close
				}
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
			err = e.s.EndFrame(f)
			between.Unlock()
			if err != nil {
				if !closedErr(err) {
					t.Errorf("end frame: %v", err)
				}
				return
			}
			frames.Add(1)
		}
	})
	for range 2 {
		wg.Go(func() {
			for {
				p, err := e.m.DefragFrame()
				if err != nil {
					if !closedErr(err) {
						t.Errorf("defrag frame: %v", err)
					}
					return
				}
				moved.Add(int64(p.Moved))
				time.Sleep(200 * time.Microsecond)
			}
		})
	}
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Millisecond)
			_, err := e.m.DefragmentNow(ctx)
			cancel()
			switch {
			case err == nil, errors.Is(err, context.DeadlineExceeded):
				time.Sleep(time.Millisecond)
			case closedErr(err):
				return
			default:
				t.Errorf("defragment now: %v", err)
				return
			}
		}
	})
	time.Sleep(time.Duration(10+rng.IntN(60)) * time.Millisecond)
	between.Lock()
	errM, errS, errA := e.m.Close(), e.s.Close(), e.a.Close()
	between.Unlock()
	close(stop)
	wg.Wait()
	t.Logf("closed after %d frames, %d moves", frames.Load(), moved.Load())
	require.NoError(t, errM, "manager close")
	require.NoError(t, errS, "sync close")
	require.NoError(t, errA, "allocator close: nothing may leak")
}

// TestDefragBreakDefragmentNowOtherTimeline: DefragmentNow with the
// scene claimed on an app's timeline that is short of the claims. The
// passes cannot end: a short ctx expires (the call must not report the
// defragmentation done); then the app's timeline passes the claims from
// another goroutine while DefragmentNow waits, and nobody else polls the
// Sync: DefragmentNow must see it and complete.
func TestDefragBreakDefragmentNowOtherTimeline(t *testing.T) {
	e := openDefragEnv(t, 2)
	rng := rand.New(rand.NewPCG(23, 23))
	sc := fragment(t, e, rng, 160)
	for _, a := range sc.junk {
		drop(e.m, a)
	}
	sem, err := e.d.CreateTimelineSemaphore(0)
	require.NoError(t, err)
	t.Cleanup(func() { e.d.DestroySemaphore(sem) })
	tl, err := e.s.AddTimeline("compute", sem)
	require.NoError(t, err)
	for _, a := range append([]assets.Asset{sc.cube.Vertices, sc.cube.Indices}, assetsOf(sc.texs)...) {
		require.NoError(t, e.m.UseAt(tl.At(7), a))
	}
	require.NoError(t, e.s.Flush(t.Context()))
	require.NoError(t, e.m.SetDefrag(assets.DefragPolicy{Algorithm: alloc.DefragFull, MaxMovesPerFrame: 64}))

	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	_, err = e.m.DefragmentNow(ctx)
	cancel()
	require.ErrorIs(t, err, context.DeadlineExceeded, "a pass ended while %v is short of the claims", tl)

	signalled := make(chan struct{})
	go func() {
		time.Sleep(20 * time.Millisecond)
		if err := e.d.SignalSemaphore(sem, 7); err != nil {
			t.Errorf("signal: %v", err)
		}
		close(signalled)
	}()
	ctx, cancel = context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	st, err := e.m.DefragmentNow(ctx)
	require.NoError(t, err, "DefragmentNow did not see %v pass the claims", tl)
	<-signalled
	t.Logf("%+v", st)
	require.Positive(t, e.m.DefragStats().Completed)
	require.NoError(t, e.m.SetDefrag(assets.DefragPolicy{}))
	e.close(t)
}

// TestDefragBreakReloadMidMove: a keyed texture that a pass is moving is
// force-released and its key loaded again, at the two points a release
// meets a move: between the copy's submission and the swap (from the
// hook: the release waits for the swap, which must not happen), and after
// the swap before the pass ends. The reload is a new texture, Ready, with
// handles of its own that frames claim and read; the old one is destroyed
// once its GPU work is done; validation stays clean and Close finds no
// leak.
func TestDefragBreakReloadMidMove(t *testing.T) {
	e := openDefragEnv(t, 2)
	fsys, paths := textureBundle(t)
	b, err := e.m.AddBundle("tex", fsys)
	require.NoError(t, err)
	ctx := t.Context()
	pathOf := map[assets.Asset]string{}
	var rng = rand.New(rand.NewPCG(29, 29))
	var junk []assets.Asset
	for i := range 100 { // the keyed textures among others, half of which go
		if i%12 == 5 && i/12 < len(paths) {
			tex, err := b.LoadTexture(ctx, paths[i/12])
			require.NoError(t, err)
			require.NoError(t, e.m.AddRef(tex))
			pathOf[tex] = paths[i/12]
			continue
		}
		tex, err := newTexture(e.m, fmt.Sprintf("junk-%d", i), uint64(i), 16+rng.IntN(4)*16)
		require.NoError(t, err)
		junk = append(junk, tex)
	}
	for _, k := range rng.Perm(len(junk))[:len(junk)/2] {
		drop(e.m, junk[k])
	}
	require.NoError(t, e.s.Flush(ctx))
	require.NoError(t, e.m.SetDefrag(assets.DefragPolicy{MaxMovesPerFrame: 16, RestartAfterFrames: 1, Algorithm: alloc.DefragFull}))

	var old, reloaded []*assets.Texture2D
	reload := func(tex *assets.Texture2D) {
		path := pathOf[tex]
		delete(pathOf, tex)
		r, err := b.LoadTexture(ctx, path)
		require.NoError(t, err)
		require.NotSame(t, tex, r, "the reload of %q returned the released texture", path)
		require.Equal(t, assets.Ready, r.State())
		require.NoError(t, e.m.AddRef(r))
		old, reloaded = append(old, tex), append(reloaded, r)
	}
	before := 0
	var moving []assets.Asset
	assets.SetBeforeSwap(func(as []assets.Asset) {
		moving = as
		if before >= 2 {
			return
		}
		for _, a := range as {
			tex, ok := a.(*assets.Texture2D)
			if !ok || pathOf[tex] == "" {
				continue
			}
			// The release blocks, once the texture is marked, until the
			// swap is done: let it run on.
			go func() { _, _ = e.m.Release(tex, true) }()
			for tex.State() == assets.Ready {
				runtime.Gosched()
			}
			gen := tex.Generation()
			reload(tex)
			require.Equal(t, gen, tex.Generation())
			before++
			return
		}
	})
	defer assets.SetBeforeSwap(nil)
	after := 0
	claim := func(f *framesync.Frame) {
		for _, r := range reloaded {
			require.NoError(t, assets.Use(f.Serial(), r))
			e.d.CmdBarrier(f.Cmd, vk.Barrier{SrcStage: vk.StageFragmentShader, DstStage: vk.StageFragmentShader,
				SrcAccess: vk.AccessShaderRead, DstAccess: vk.AccessShaderRead, Image: r.Handles().Image,
				OldLayout: vk.LayoutShaderReadOnlyOptimal, NewLayout: vk.LayoutShaderReadOnlyOptimal})
		}
	}
	for i := 0; i < 200 && (before < 2 || after < 2); i++ {
		moving = nil
		f, err := e.s.BeginFrame(ctx)
		require.NoError(t, err)
		_, err = e.m.DefragFrame()
		require.NoError(t, err)
		for _, a := range moving {
			tex, ok := a.(*assets.Texture2D)
			if after >= 2 || !ok || pathOf[tex] == "" || tex.Generation() == 0 || committed(e.a, tex, tex.Handles().Memory) {
				continue
			}
			_, err := e.m.Release(tex, true) // swapped, its pass not ended
			require.NoError(t, err)
			reload(tex)
			after++
			break
		}
		claim(f)
		require.NoError(t, e.s.EndFrame(f))
	}
	t.Logf("reloaded %d before and %d after a swap; %+v", before, after, e.m.DefragStats())
	require.Positive(t, before)
	require.Positive(t, after)
	require.NoError(t, e.m.SetDefrag(assets.DefragPolicy{}))
	for range 3 {
		f, err := e.s.BeginFrame(ctx)
		require.NoError(t, err)
		claim(f)
		require.NoError(t, e.s.EndFrame(f))
	}
	require.NoError(t, e.s.Flush(ctx))
	_, err = e.s.Poll()
	require.NoError(t, err)
	for _, tex := range old {
		require.Equal(t, assets.Destroyed, tex.State(), "%v", tex)
	}
	e.close(t)
}

// modelAsset is one asset of TestDefragBreakSequences with what the test
// did to it.
type modelAsset struct {
	a        assets.Asset
	released bool
	locked   bool
	unpin    func()
	pinGen   uint64
	page     bool // NewEmptyTexture's: never moves
}

func generation(a assets.Asset) uint64 {
	switch x := a.(type) {
	case *assets.Texture2D:
		return x.Generation()
	case *assets.Buffer:
		return x.Generation()
	}
	return 0
}

// TestDefragBreakSequences runs seeded random sequences of the public
// calls one goroutine can make around the automatic defragmentation —
// make, drop, force-release, lock, unlock, pin, unpin, frames that claim
// and read handles (with DefragFrame inside them or not), claims on an
// app's timeline and its signals, DefragFrame, DefragmentNow with short
// deadlines, policy changes, flushes — checking after every step that no
// validation error was reported, that what was not released is Ready with
// live handles, and that neither a pinned asset nor a NewEmptyTexture
// (an atlas page) has moved. At the end
// everything closes without a leak.
func TestDefragBreakSequences(t *testing.T) {
	for seed := range uint64(20) {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) { defragSequence(t, seed) })
	}
}

func defragSequence(t *testing.T, seed uint64) {
	d := vktest.OpenWith(t, vktest.Options{SyncValidation: true})
	a, err := alloc.New(alloc.Options{Device: d, PreferredBlockSize: 256 << 10})
	require.NoError(t, err)
	s, err := framesync.New(framesync.Options{Device: d, Allocator: a, FramesInFlight: 1 + int(seed%3)})
	require.NoError(t, err)
	m, err := assets.New(assets.Options{Device: d, Allocator: a, Sync: s, Logger: vktest.Logger(t)})
	require.NoError(t, err)
	sem, err := d.CreateTimelineSemaphore(0)
	require.NoError(t, err)
	defer d.DestroySemaphore(sem)
	tl, err := s.AddTimeline("compute", sem)
	require.NoError(t, err)
	ctx := t.Context()
	rng := rand.New(rand.NewPCG(seed, 37))
	var all []*modelAsset
	var signalled, claimed uint64
	var log []string
	policies := []assets.DefragPolicy{
		{},
		{MaxMovesPerFrame: 2, RestartAfterFrames: 1},
		{MaxMovesPerFrame: 8, RestartAfterFrames: 1, Algorithm: alloc.DefragFull},
		{MaxBytesPerFrame: 32 << 10, RestartAfterFrames: 3},
	}
	make1 := func() {
		var x assets.Asset
		var err error
		page := false
		switch rng.IntN(5) {
		case 0:
			x, err = m.NewEmptyTexture(fmt.Sprintf("p%d", len(all)), 32, 32)
			page = true
		case 1, 2:
			x, err = newTexture(m, fmt.Sprintf("t%d", len(all)), rng.Uint64(), 8+rng.IntN(4)*8)
		default:
			x, err = m.NewBuffer(fmt.Sprintf("b%d", len(all)), vk.BufferUsageVertex, make([]byte, 256+rng.IntN(8)*1024))
		}
		require.NoError(t, err)
		all = append(all, &modelAsset{a: x, page: page})
	}
	for range 40 {
		make1()
	}
	pick := func() *modelAsset {
		var live []*modelAsset
		for _, x := range all {
			if !x.released {
				live = append(live, x)
			}
		}
		if len(live) == 0 {
			return nil
		}
		return live[rng.IntN(len(live))]
	}
	release := func(x *modelAsset, force bool) {
		_, err := m.Release(x.a, force)
		switch {
		case x.locked:
			require.ErrorIs(t, err, assets.ErrLocked)
		case x.unpin != nil:
			require.ErrorIs(t, err, assets.ErrLoading)
		case err == nil:
			x.released = true
		case !force:
			// not released: the caller's reference is gone, the count was
			// not 0 — it cannot be here (each holds only the caller's)
			require.NoError(t, err)
		default:
			require.NoError(t, err)
		}
	}
	claim := func(f *framesync.Frame, x *modelAsset) {
		require.NoError(t, assets.Use(f.Serial(), x.a), "use of %v", x.a)
		switch y := x.a.(type) {
		case *assets.Texture2D:
			d.CmdBarrier(f.Cmd, vk.Barrier{SrcStage: vk.StageFragmentShader, DstStage: vk.StageFragmentShader,
				SrcAccess: vk.AccessShaderRead, DstAccess: vk.AccessShaderRead, Image: y.Handles().Image,
				OldLayout: vk.LayoutShaderReadOnlyOptimal, NewLayout: vk.LayoutShaderReadOnlyOptimal})
		case *assets.Buffer:
			d.CmdBarrier(f.Cmd, vk.Barrier{SrcStage: vk.StageVertexInput, DstStage: vk.StageVertexInput,
				SrcAccess: vk.AccessMemoryRead, DstAccess: vk.AccessMemoryRead, Buffer: y.Handles().Buffer})
		}
	}
	check := func() {
		if n := d.Validator().Errors(); n > 0 {
			t.Fatalf("seed %d: %d validation errors after: %s", seed, n, strings.Join(log[max(0, len(log)-12):], "; "))
		}
		for _, x := range all {
			if x.released {
				continue
			}
			require.Equal(t, assets.Ready, assets.BaseOf(x.a).State(), "%v after %s", x.a, log[len(log)-1])
			switch y := x.a.(type) {
			case *assets.Texture2D:
				require.NotZero(t, y.Handles().Image)
			case *assets.Buffer:
				require.NotZero(t, y.Handles().Buffer)
			}
			if x.unpin != nil {
				require.Equal(t, x.pinGen, generation(x.a), "%v moved while pinned, after %s", x.a, strings.Join(log[max(0, len(log)-12):], "; "))
			}
			if x.page {
				require.Zero(t, generation(x.a), "%v (an atlas page's kind) moved", x.a)
			}
		}
	}
	// Fragment: half of the first ones go.
	for _, k := range rng.Perm(len(all))[:len(all)/2] {
		_ = m.DecRef(all[k].a)
		release(all[k], false)
	}
	for step := range 200 {
		x := pick()
		switch k := rng.IntN(14); {
		case k == 0 || x == nil:
			log = append(log, "make")
			make1()
		case k == 1:
			log = append(log, fmt.Sprintf("drop %v", x.a))
			if x.locked || x.unpin != nil {
				release(x, false)
			} else {
				_ = m.DecRef(x.a)
				release(x, false)
			}
		case k == 2:
			log = append(log, fmt.Sprintf("force %v", x.a))
			release(x, true)
		case k == 3:
			log = append(log, fmt.Sprintf("lock/unlock %v", x.a))
			if x.locked {
				m.Unlock(x.a)
			} else {
				require.NoError(t, m.Lock(x.a))
			}
			x.locked = !x.locked
		case k == 4:
			log = append(log, fmt.Sprintf("pin/unpin %v", x.a))
			if x.unpin != nil {
				x.unpin()
				x.unpin = nil
			} else {
				x.unpin, err = m.Pin(x.a)
				require.NoError(t, err)
				x.pinGen = generation(x.a)
			}
		case k <= 7:
			inside := rng.IntN(2) == 0
			log = append(log, fmt.Sprintf("frame (defrag inside %v)", inside))
			f, err := s.BeginFrame(ctx)
			require.NoError(t, err)
			if inside && rng.IntN(2) == 0 {
				_, err := m.DefragFrame()
				require.NoError(t, err)
			}
			for _, y := range all {
				if !y.released && rng.IntN(2) == 0 {
					claim(f, y)
				}
			}
			if inside {
				_, err := m.DefragFrame()
				require.NoError(t, err)
			}
			require.NoError(t, s.EndFrame(f))
		case k == 8:
			log = append(log, "defrag")
			_, err := m.DefragFrame()
			require.NoError(t, err)
		case k == 9:
			log = append(log, "now")
			c, cancel := context.WithTimeout(ctx, 5*time.Millisecond)
			_, err := m.DefragmentNow(c)
			cancel()
			if err != nil {
				require.ErrorIs(t, err, context.DeadlineExceeded)
			}
		case k == 10:
			p := rng.IntN(len(policies))
			log = append(log, fmt.Sprintf("policy %d", p))
			require.NoError(t, m.SetDefrag(policies[p]))
		case k == 11:
			claimed = max(claimed, signalled) + 1 + uint64(rng.IntN(3))
			log = append(log, fmt.Sprintf("use %v at compute %d", x.a, claimed))
			require.NoError(t, m.UseAt(tl.At(claimed), x.a))
		case k == 12:
			log = append(log, fmt.Sprintf("signal compute %d", claimed))
			if claimed > signalled {
				signalled = claimed
				require.NoError(t, d.SignalSemaphore(sem, signalled))
			}
		default:
			log = append(log, "flush")
			require.NoError(t, s.Flush(ctx))
			_, err := s.Poll()
			require.NoError(t, err)
		}
		_ = step
		check()
	}
	st := m.DefragStats()
	t.Logf("seed %d: %+v", seed, st)
	for _, x := range all {
		if x.unpin != nil {
			x.unpin()
		}
		if x.locked {
			m.Unlock(x.a)
		}
	}
	if claimed > signalled {
		require.NoError(t, d.SignalSemaphore(sem, claimed))
	}
	require.NoError(t, s.WaitIdle())
	require.NoError(t, m.Close())
	require.NoError(t, s.Close())
	require.NoError(t, a.Close())
}

// TestDefragBreakBogusClaim: a caller claims textures with a serial no
// submission has (a caller's bug: Use does not check it). A release
// logs it and retires after everything issued; a move must do no worse:
// its pass must still end (the destinations committed, the sources freed)
// and Close must find no leak, rather than the pass waiting forever for a
// serial that never comes.
func TestDefragBreakBogusClaim(t *testing.T) {
	e := openDefragEnv(t, 2)
	rng := rand.New(rand.NewPCG(41, 41))
	sc := fragment(t, e, rng, 160)
	for _, a := range sc.junk {
		drop(e.m, a)
	}
	require.NoError(t, e.s.Flush(t.Context()))
	bogus := e.s.Issued() + 1000
	for _, tex := range sc.texs {
		require.NoError(t, assets.Use(bogus, tex))
	}
	require.NoError(t, e.m.SetDefrag(assets.DefragPolicy{MaxMovesPerFrame: 64, RestartAfterFrames: 1, Algorithm: alloc.DefragFull}))
	var moved *assets.Texture2D
	for i := 0; i < 20 && moved == nil; i++ { // 20 passes recorded
		recordPass(t, e.m, func() assets.DefragPass {
			p, err := e.m.DefragFrame()
			require.NoError(t, err)
			require.NoError(t, e.s.Flush(t.Context()))
			return p
		})
		for _, tex := range sc.texs {
			if tex.Generation() > 0 {
				moved = tex
			}
		}
	}
	require.NotNil(t, moved, "a claimed texture moved")
	for i := 0; i < 2000 && !committed(e.a, moved, moved.Handles().Memory); i++ {
		require.NoError(t, e.s.Flush(t.Context()))
		_, err := e.s.Poll()
		require.NoError(t, err)
		time.Sleep(time.Millisecond)
	}
	require.True(t, committed(e.a, moved, moved.Handles().Memory), "the pass that moved %v never ended", moved)
	require.NoError(t, e.m.SetDefrag(assets.DefragPolicy{}))
	e.close(t)
}

// TestDefragBreakForeignManager: two managers share a device, an
// allocator and a Sync (two subsystems of one engine). A's automatic
// defragmentation, releasing the unreferenced, runs over memory that
// holds B's textures too — cached, keyed, nothing referencing them, with
// the same IDs as some of A's assets. A must leave what it does not own in
// place (DefragStats.Skipped: "memory no asset of this manager owns"): B's
// textures stay Ready and unmoved, A's own assets stay in A's cache, and
// both close without a leak or a validation error.
func TestDefragBreakForeignManager(t *testing.T) {
	e := openDefragEnv(t, 2)
	mb, err := assets.New(assets.Options{Device: e.d, Allocator: e.a, Sync: e.s, Logger: vktest.Logger(t)})
	require.NoError(t, err)
	fsys, paths := textureBundle(t)
	bb, err := mb.AddBundle("tex", fsys)
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(43, 43))
	var theirs []*assets.Texture2D
	var mine []assets.Asset
	for i := range 120 { // B's textures among A's, half of A's then go
		if i%10 == 4 && len(theirs) < len(paths) {
			tex, err := bb.LoadTexture(t.Context(), paths[len(theirs)])
			require.NoError(t, err)
			theirs = append(theirs, tex)
			continue
		}
		tex, err := newTexture(e.m, fmt.Sprintf("a-%d", i), uint64(i), 16+rng.IntN(3)*16)
		require.NoError(t, err)
		mine = append(mine, tex)
	}
	var kept []assets.Asset
	for k, i := range rng.Perm(len(mine)) {
		if k%2 == 0 {
			drop(e.m, mine[i])
		} else {
			kept = append(kept, mine[i])
		}
	}
	require.NoError(t, e.m.SetDefrag(assets.DefragPolicy{Algorithm: alloc.DefragFull, ReleaseUnreferenced: true}))
	st, err := e.m.DefragmentNow(t.Context())
	require.NoError(t, err)
	t.Logf("%+v", st)
	for _, tex := range theirs {
		require.Equal(t, assets.Ready, tex.State(), "A released B's %v", tex)
		require.Zero(t, tex.Generation(), "A moved B's %v", tex)
	}
	for _, a := range kept {
		require.Equal(t, assets.Ready, assets.BaseOf(a).State(), "%v", a)
		require.NoError(t, e.m.AddRef(a), "A's %v left A's cache", a)
		require.NoError(t, e.m.DecRef(a))
	}
	require.NoError(t, e.s.WaitIdle())
	e.r.Close()
	require.NoError(t, mb.Close())
	require.NoError(t, e.m.Close())
	require.NoError(t, e.s.Close())
	require.NoError(t, e.a.Close())
}

// TestDefragBreakPolicyChangeBudget: the policy changes to a smaller
// budget (and another algorithm) while a defragmentation begun under the
// old one runs, and while DefragmentNow (64 MiB passes with the policy
// off) runs over one begun by DefragFrame. Each DefragFrame after the
// change must keep the new budget.
func TestDefragBreakPolicyChangeBudget(t *testing.T) {
	e := openDefragEnv(t, 2)
	rng := rand.New(rand.NewPCG(47, 47))
	sc := fragment(t, e, rng, 240)
	for _, a := range sc.junk {
		drop(e.m, a)
	}
	require.NoError(t, e.s.Flush(t.Context()))
	require.NoError(t, e.m.SetDefrag(assets.DefragPolicy{MaxMovesPerFrame: 12, RestartAfterFrames: 1, Algorithm: alloc.DefragFull}))
	p := recordPass(t, e.m, func() assets.DefragPass {
		p, err := e.m.DefragFrame()
		require.NoError(t, err)
		return p
	})
	require.Greater(t, p.Moved, 2, "the first pass moves more than the later budget")
	require.False(t, p.Complete)
	require.NoError(t, e.s.Flush(t.Context()))
	small := assets.DefragPolicy{MaxMovesPerFrame: 2, RestartAfterFrames: 1, Algorithm: alloc.DefragFull}
	require.NoError(t, e.m.SetDefrag(small))
	frames := 0
	for i := 0; i < 2000 && frames < 5; i++ {
		p, err := e.m.DefragFrame()
		require.NoError(t, err)
		require.LessOrEqual(t, p.Moved, small.MaxMovesPerFrame, "a DefragFrame under %+v", small)
		if p.Moved > 0 {
			frames++
		} else {
			time.Sleep(time.Millisecond) // the last pass's end runs on a goroutine of its own
		}
		require.NoError(t, e.s.Flush(t.Context()))
	}
	t.Logf("%d frames moved; %+v", frames, e.m.DefragStats())
	require.Positive(t, frames)
	require.NoError(t, e.m.SetDefrag(assets.DefragPolicy{}))
	e.close(t)
}
