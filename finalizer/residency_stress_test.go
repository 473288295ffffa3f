package finalizer_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vkassets/vkassets/assets"
	"github.com/vkassets/vkassets/finalizer"
	"github.com/vkassets/vkassets/framesync"
	"github.com/vkassets/vkassets/internal/render"
	"github.com/vkassets/vkassets/vk"
	"github.com/vkassets/vkassets/vk/vktest"
)

func stressDuration() time.Duration {
	d := 8 * time.Second
	if testing.Short() {
		d = 2 * time.Second
	}
	if s := os.Getenv("STRESS_SECONDS"); s != "" {
		n, _ := strconv.Atoi(s)
		d = time.Duration(n) * time.Second
	}
	return d
}

// tolerated are the errors a racing user must expect.
func tolerated(err error) bool {
	return err == nil || errors.Is(err, vk.ErrOutOfDeviceMemory) || errors.Is(err, assets.ErrReleased) ||
		errors.Is(err, assets.ErrLocked) || errors.Is(err, assets.ErrInUse) || errors.Is(err, assets.ErrLoading) ||
		errors.Is(err, finalizer.ErrNotCached) || errors.Is(err, finalizer.ErrTooBig) || errors.Is(err, assets.ErrRefCount)
}

// TestResidencyStress: loads, references, releases, locks, cycles
// (AddDependency), atlas packing, Collect/ReleaseUnused/Stats/Unused/Why
// from several goroutines, SetResidency toggled between budgets and off,
// and vkAllocateMemory refused half the time in bursts (the pressure
// handler evicts, waits, retries), while a render goroutine draws any
// cached sprite (held or not) every frame, with synchronization
// validation. At the end nothing unreachable may survive ReleaseUnused,
// counts must match, and shutdown must leak nothing.
func TestResidencyStress(t *testing.T) {
	e := openWith(t, 2, vktest.Options{SyncValidation: true})
	r, err := render.New(e.m, e.dev, e.alloc, e.sync, 64, 64)
	require.NoError(t, err)
	t.Cleanup(func() { _ = e.sync.WaitIdle(); r.Close() })
	big, err := e.m.AddBundle("big", pngFS(t, 24, 128))
	require.NoError(t, err)
	small, err := e.m.AddBundle("small", pngFS(t, 16, 24))
	require.NoError(t, err)
	atlas := e.fin.NewAtlas(e.m, e.dev, finalizer.AtlasOptions{PageSize: 128, MaxFrame: 32})
	exclude := map[assets.ID]bool{} // the renderer's own (its quad): never forced
	for _, a := range e.m.Assets() {
		exclude[assets.BaseOf(a).ID()] = true
	}
	base := e.alloc.AllocatedBytes(vk.HeapDeviceLocal)
	require.NoError(t, e.fin.SetResidency(&finalizer.Residency{Budget: base + 512<<10}))

	var faulty atomic.Bool
	var faultN atomic.Uint64
	e.dev.SetFaultInjector(func(op string) vk.Result {
		if op == "vkAllocateMemory" && faulty.Load() && faultN.Add(1)%2 == 0 {
			return vk.ErrorOutOfDeviceMemory
		}
		return vk.Success
	})
	defer e.dev.SetFaultInjector(nil)

	ctx := context.Background()
	var stop atomic.Bool
	var errMu sync.Mutex
	var errs []error
	fail := func(err error) {
		errMu.Lock()
		if len(errs) < 20 {
			errs = append(errs, err)
		}
		errMu.Unlock()
	}
	var lockMu sync.Mutex
	locked := map[assets.ID]assets.Asset{}
	var ops [20]atomic.Int64

	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			var mine []assets.Asset
			pickCached := func() assets.Asset {
				all := slices.DeleteFunc(e.m.Assets(), func(a assets.Asset) bool { return exclude[assets.BaseOf(a).ID()] })
				if len(all) == 0 {
					return nil
				}
				return all[rng.IntN(len(all))]
			}
			for !stop.Load() {
				op := rng.IntN(18)
				ops[op].Add(1)
				switch op {
				case 0, 1:
					a, err := big.Acquire(ctx, fmt.Sprintf("t%d.png", rng.IntN(24)))
					if !tolerated(err) {
						fail(fmt.Errorf("acquire: %w", err))
					} else if err == nil {
						mine = append(mine, a)
					}
				case 2:
					a, err := small.Acquire(ctx, fmt.Sprintf("t%d.png", rng.IntN(16)))
					if !tolerated(err) {
						fail(fmt.Errorf("acquire small: %w", err))
					} else if err == nil {
						mine = append(mine, a)
					}
				case 3: // plain Load (count 0), then AddRef: the documented race
					a, err := big.Load(ctx, fmt.Sprintf("t%d.png", rng.IntN(24)))
					if !tolerated(err) {
						fail(fmt.Errorf("load: %w", err))
					} else if err == nil && e.m.AddRef(a) == nil {
						mine = append(mine, a)
					}
				case 4, 5:
					if len(mine) > 0 {
						i := rng.IntN(len(mine))
						if err := e.m.DecRef(mine[i]); !tolerated(err) {
							fail(fmt.Errorf("decref: %w", err))
						}
						mine = slices.Delete(mine, i, i+1)
					}
				case 6:
					if a := pickCached(); a != nil && e.m.AddRef(a) == nil {
						mine = append(mine, a)
					}
				case 7:
					if a := pickCached(); a != nil {
						_ = e.fin.Release(a)
					}
				case 8:
					if a := pickCached(); a != nil {
						if err := e.fin.ForceRelease(a); !tolerated(err) {
							fail(fmt.Errorf("force: %w", err))
						}
					}
				case 9:
					if a := pickCached(); a != nil && e.fin.Lock(a) == nil {
						lockMu.Lock()
						locked[assets.BaseOf(a).ID()] = a
						lockMu.Unlock()
					}
				case 10:
					lockMu.Lock()
					for id, a := range locked {
						e.fin.Unlock(a)
						delete(locked, id)
						break
					}
					lockMu.Unlock()
				case 11:
					if len(mine) >= 2 { // cycles among what this worker holds
						x, y := mine[rng.IntN(len(mine))], mine[rng.IntN(len(mine))]
						if x != y {
							_ = e.m.AddDependency(x, y)
						}
					}
				case 12:
					if a := pickCached(); a != nil {
						if sf, ok := a.(*assets.SpriteFrame); ok {
							if err := atlas.Pack(sf); !tolerated(err) {
								fail(fmt.Errorf("pack: %w", err))
							}
						}
					}
				case 13:
					e.fin.ReleaseUnused()
				case 14:
					e.fin.Collect()
				case 15:
					if a := pickCached(); a != nil {
						_ = e.fin.Why(a)
						_, _ = e.m.UnusedSince(a)
					}
				case 16:
					_ = e.m.Stats()
					_ = e.m.Unused()
					_ = e.fin.ResidencyStats()
				case 17:
					if a := pickCached(); a != nil {
						_, _ = e.m.Release(a, false)
					}
				}
				for len(mine) > 10 {
					if err := e.m.DecRef(mine[0]); !tolerated(err) {
						fail(fmt.Errorf("decref: %w", err))
					}
					mine = mine[1:]
				}
			}
			for _, a := range mine {
				if err := e.m.DecRef(a); !tolerated(err) {
					fail(fmt.Errorf("decref: %w", err))
				}
			}
		}()
	}
	// The toggler: residency changed, off, on; faults in bursts.
	wg.Add(1)
	go func() {
		defer wg.Done()
		rng := rand.New(rand.NewPCG(99, 1))
		for !stop.Load() {
			switch rng.IntN(6) {
			case 0:
				_ = e.fin.SetResidency(nil)
			case 1:
				_ = e.fin.SetResidency(&finalizer.Residency{Budget: 1})
			case 2:
				_ = e.fin.SetResidency(&finalizer.Residency{Budget: base + uint64(rng.IntN(2<<20))})
			case 3:
				_ = e.fin.SetResidency(&finalizer.Residency{Budget: 1 << 40, High: 0.5, Low: 0.2})
			default:
				faulty.Store(!faulty.Load())
			}
			time.Sleep(time.Duration(rng.IntN(20)) * time.Millisecond)
		}
		faulty.Store(false)
	}()
	// The render goroutine: any cached sprite, held or not.
	frames := 0
	var drawn, refused int
	deadline := time.Now().Add(stressDuration())
	for time.Now().Before(deadline) {
		f, err := e.sync.BeginFrame(ctx)
		require.NoError(t, err)
		require.NoError(t, r.Begin(f, [4]float32{0, 0, 0, 1}))
		n := 0
		for _, a := range e.m.Assets() {
			if sf, ok := a.(*assets.SpriteFrame); ok && n < 32 {
				n++
				if err := r.DrawSprite(f, sf, float32(n%8)*8, float32(n/8)*8, 8, 8, [4]float32{1, 1, 1, 1}); err != nil {
					require.ErrorIs(t, err, assets.ErrReleased)
					refused++
				} else {
					drawn++
				}
			}
		}
		r.End(f, false)
		require.NoError(t, e.sync.EndFrame(f))
		e.fin.Collect()
		frames++
	}
	stop.Store(true)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		buf := make([]byte, 1<<22)
		t.Fatalf("workers stuck:\n%s", buf[:stackAll(buf)])
	}
	faulty.Store(false)
	rs, st := e.fin.ResidencyStats(), e.m.Stats()
	t.Logf("%d frames, %d drawn, %d refused; residency %+v; cache %+v", frames, drawn, refused, rs, st)
	var opsN []int64
	for i := range ops {
		opsN = append(opsN, ops[i].Load())
	}
	t.Logf("ops %v", opsN)
	as := e.alloc.Stats()
	t.Logf("alloc: pressure events %d, recovered %d, soft-limit events %d", as.PressureEvents, as.PressureRecovered, as.SoftLimitEvents)
	require.Empty(t, errs)

	// Every reference dropped, every lock undone: ReleaseUnused must leave
	// only what the renderer holds (its quad) and what it reaches.
	for _, a := range locked {
		e.fin.Unlock(a)
	}
	e.fin.ReleaseUnused()
	// Reachability from the dynamic holders (the renderer's quad, the
	// atlas's pages; case 11 may make a page depend on a sprite, so a page
	// can keep a whole cycle alive legitimately): anything else cached is
	// garbage ReleaseUnused missed.
	reached := map[assets.ID]bool{}
	var stack []assets.Asset
	for _, a := range e.m.Assets() {
		if b := assets.BaseOf(a); b.RefCount() > b.Held() || e.fin.IsLocked(a) {
			reached[b.ID()] = true
			stack = append(stack, a)
		}
	}
	for len(stack) > 0 {
		c := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, d := range assets.BaseOf(c).Deps() {
			if id := assets.BaseOf(d).ID(); !reached[id] {
				reached[id] = true
				stack = append(stack, d)
			}
		}
	}
	garbage := 0
	for _, a := range e.m.Assets() {
		if b := assets.BaseOf(a); !reached[b.ID()] {
			if garbage < 8 {
				_, inSet := e.m.UnusedSince(a)
				t.Errorf("%v survived ReleaseUnused unreachable (in unused set %v; a release says %v): %s", b, inSet, releaseErr(e, a), e.fin.Why(a))
			}
			garbage++
		}
	}
	t.Logf("garbage left: %d", garbage)
	for i, a := range e.m.Assets() {
		if i < 12 || i > len(e.m.Assets())-4 {
			t.Logf("left: %s (dyn %d)", e.fin.Why(a), assets.BaseOf(a).RefCount()-assets.BaseOf(a).Held())
		}
	}
	// Counts: each cached asset's held part is its dependents' edges.
	edges := map[assets.ID]int{}
	for _, a := range e.m.Assets() {
		for _, d := range assets.BaseOf(a).Deps() {
			edges[assets.BaseOf(d).ID()]++
		}
	}
	for _, a := range e.m.Assets() {
		b := assets.BaseOf(a)
		require.Equal(t, edges[b.ID()], b.Held(), "%v", b)
	}
	atlasLeft := atlas.PageTextures()
	t.Logf("left cached: %d, atlas pages %d", len(e.m.Assets()), len(atlasLeft))
	_ = framesync.Stats{}
}

func stackAll(buf []byte) int { return runtime.Stack(buf, true) }

// releaseErr is what a non-forced release of a says (it frees a if the
// rule allows: only called on an asset already reported as garbage).
func releaseErr(e *env, a assets.Asset) error {
	_, err := e.m.Release(a, false)
	return err
}
