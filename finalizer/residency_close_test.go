package finalizer_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vkassets/vkassets/alloc"
	"github.com/vkassets/vkassets/assets"
	"github.com/vkassets/vkassets/finalizer"
	"github.com/vkassets/vkassets/framesync"
	"github.com/vkassets/vkassets/vk"
	"github.com/vkassets/vkassets/vk/vktest"
)

// openSmallBlocks is openWith with 1 MiB memory blocks, so that a heap
// capped by fault injection is reached every few textures.
func openSmallBlocks(t testing.TB, opts vktest.Options) *env {
	t.Helper()
	d := vktest.OpenWith(t, opts)
	a, err := alloc.New(alloc.Options{Device: d, PreferredBlockSize: 1 << 20})
	require.NoError(t, err)
	s, err := framesync.New(framesync.Options{Device: d, Allocator: a, FramesInFlight: 2})
	require.NoError(t, err)
	m, err := assets.New(assets.Options{Device: d, Allocator: a, Sync: s, StagingBlockSize: 1 << 20})
	require.NoError(t, err)
	t.Cleanup(func() {
		require.NoError(t, m.Close())
		require.NoError(t, s.Close())
		require.NoError(t, a.Close(), "shutdown: nothing alive")
	})
	return &env{alloc: a, dev: d, sync: s, m: m, fin: finalizer.New(m)}
}

// TestCloseDuringPressure: loads on four goroutines under a capped
// heap (every vkAllocateMemory refused once on: each allocation goes
// through the pressure handler's evict-wait-retry), frames rendered on
// another, Collect and SetResidency churned on a third; then Manager.Close
// and Sync.Close from the test goroutine while all of it runs. Nothing may
// hang, and the cleanup's allocator Close must find nothing alive.
func TestCloseDuringPressure(t *testing.T) {
	for round := range 6 {
		t.Run(fmt.Sprint(round), func(t *testing.T) {
			e := openSmallBlocks(t, vktest.Options{})
			b, err := e.m.AddBundle("res", pngFS(t, 32, 256))
			require.NoError(t, err)
			require.NoError(t, e.fin.SetResidency(&finalizer.Residency{Budget: 1 << 40}))
			ctx := context.Background()
			for i := range 8 { // resident, unused: what pressure evicts
				a, err := b.Acquire(ctx, fmt.Sprintf("t%d.png", i))
				require.NoError(t, err)
				require.NoError(t, e.m.DecRef(a))
			}
			var full atomic.Bool
			e.dev.SetFaultInjector(func(op string) vk.Result {
				if op == "vkAllocateMemory" && full.Load() {
					return vk.ErrorOutOfDeviceMemory
				}
				return vk.Success
			})
			defer e.dev.SetFaultInjector(nil)
			full.Store(true)
			var stop atomic.Bool
			var wg sync.WaitGroup
			var bad atomic.Value
			for w := range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := w; !stop.Load(); i += 4 {
						a, err := b.Acquire(ctx, fmt.Sprintf("t%d.png", i%32))
						switch {
						case err == nil:
							_ = e.m.DecRef(a)
						case errors.Is(err, assets.ErrClosed), errors.Is(err, vk.ErrOutOfDeviceMemory),
							errors.Is(err, framesync.ErrClosed):
						default:
							bad.Store(err)
						}
					}
				}()
			}
			wg.Add(2)
			go func() {
				defer wg.Done()
				for !stop.Load() {
					f, err := e.sync.BeginFrame(ctx)
					if err != nil {
						return
					}
					_ = e.sync.EndFrame(f)
					e.fin.Collect()
				}
			}()
			go func() {
				defer wg.Done()
				for i := 0; !stop.Load(); i++ {
					if i%3 == 0 {
						_ = e.fin.SetResidency(&finalizer.Residency{Budget: 1})
					} else {
						_ = e.fin.SetResidency(&finalizer.Residency{Budget: 1 << 40})
					}
					e.fin.ReleaseUnused()
					_ = e.m.Unused()
				}
			}()
			time.Sleep(time.Duration(100+round*150) * time.Millisecond)
			closed := make(chan error, 2)
			go func() { closed <- e.m.Close() }()
			if round%2 == 1 {
				go func() {
					err := e.sync.Close()
					if errors.Is(err, framesync.ErrUnsubmitted) {
						// The frame the renderer is recording holds objects
						// (an upload batched into it): the Sync says so, and
						// they are destroyed when its EndFrame returns.
						err = nil
					}
					closed <- err
				}()
			} else {
				closed <- nil
			}
			for range 2 {
				select {
				case err := <-closed:
					require.NoError(t, err)
				case <-time.After(30 * time.Second):
					buf := make([]byte, 1<<22)
					t.Fatalf("Close hung:\n%s", buf[:stackAll(buf)])
				}
			}
			stop.Store(true)
			done := make(chan struct{})
			go func() { wg.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				buf := make([]byte, 1<<22)
				t.Fatalf("workers hung after Close:\n%s", buf[:stackAll(buf)])
			}
			full.Store(false)
			if err, _ := bad.Load().(error); err != nil {
				t.Errorf("unexpected load error: %v", err)
			}
			as := e.alloc.Stats()
			t.Logf("alloc: pressure events %d, recovered %d", as.PressureEvents, as.PressureRecovered)
		})
	}
}
