package framesync_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vkassets/vkassets/alloc"
	"github.com/vkassets/vkassets/framesync"
	"github.com/vkassets/vkassets/vk"
	"github.com/vkassets/vkassets/vk/vktest"
)

// within runs fn, and ends the test binary with every goroutine's stack if
// fn has not returned after d: a deadlock is reported at once, with where
// it is, not when the test binary's own timeout comes.
func within(t *testing.T, d time.Duration, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		select {
		case <-done:
		case <-time.After(d):
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			panic(fmt.Sprintf("%s: %s did not return within %v (a deadlock?)\n%s", t.Name(), what, d, buf))
		}
	}()
	defer close(done)
	fn()
}

// closedEverywhere checks that every method answers ErrClosed.
func closedEverywhere(t *testing.T, s *framesync.Sync, f *framesync.Frame) {
	t.Helper()
	ctx := context.Background()
	_, err := s.BeginFrame(ctx)
	require.ErrorIs(t, err, framesync.ErrClosed)
	require.ErrorIs(t, s.EndFrame(f), framesync.ErrClosed)
	require.ErrorIs(t, s.EndFrameWith(&framesync.Frame{}, nil, nil), framesync.ErrClosed)
	_, err = s.Poll()
	require.ErrorIs(t, err, framesync.ErrClosed)
	require.ErrorIs(t, s.Wait(ctx, 1), framesync.ErrClosed)
	require.ErrorIs(t, s.Flush(ctx), framesync.ErrClosed)
	require.ErrorIs(t, s.WaitIdle(), framesync.ErrClosed)
	_, err = s.OneShot(func(vk.CommandBuffer) error { return nil })
	require.ErrorIs(t, err, framesync.ErrClosed)
	require.ErrorIs(t, s.Defer(0, framesync.Func(func() { t.Error("ran after Close") })), framesync.ErrClosed)
	require.NoError(t, s.Close())
	require.True(t, s.Stats().Closed)
}

// TestCloseWhileWaiting: Close from another goroutine while BeginFrame
// (or Wait) is blocked in the driver on a fence or the timeline of a frame
// the GPU cannot finish. The waiter returns ErrClosed, and Close destroys
// the fence and semaphore only after it has left the driver.
func TestCloseWhileWaiting(t *testing.T) {
	for _, m := range modes {
		for _, what := range []string{"BeginFrame", "Wait"} {
			t.Run(m.name+"/"+what, func(t *testing.T) {
				e := open(t, 1, m.useFences, vktest.Options{})
				d, s := e.dev.Device, e.sync
				gate := blocked(t, e)
				serial := s.Submitted()
				waits := e.dev.waits.Load()
				res := make(chan error, 1)
				go func() {
					if what == "BeginFrame" {
						_, err := s.BeginFrame(context.Background())
						res <- err
					} else {
						res <- s.Wait(context.Background(), serial)
					}
				}()
				require.Eventually(t, func() bool { return e.dev.waits.Load() > waits+1 }, 10*time.Second, time.Millisecond,
					"%s blocks in the driver", what)
				closed := make(chan error, 1)
				go func() { closed <- s.Close() }()
				var err error
				select {
				case err = <-res:
				case <-time.After(5 * time.Second):
					err = errors.New("still blocked after Close")
				}
				// Let the held-back frame run, so that Close's wait for the
				// device ends.
				require.NoError(t, d.SignalSemaphore(gate, 1))
				require.ErrorIs(t, err, framesync.ErrClosed)
				require.NoError(t, <-closed)
				d.DestroySemaphore(gate)
				closedEverywhere(t, s, nil)
			})
		}
	}
}

// TestCloseWhileRecording: Close from another goroutine between BeginFrame
// and EndFrame. The recorder keeps recording into the frame's command
// buffer (and using the buffer it deferred to the frame) after Close
// returned; its EndFrame returns ErrClosed and finishes the teardown. The
// validation layer sees no command buffer ended under the recorder, no
// object destroyed while recorded into, and nothing leaked.
func TestCloseWhileRecording(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			e := open(t, 2, m.useFences, vktest.Options{SyncValidation: true})
			d, s := e.dev.Device, e.sync
			e.fillFrame(t, 256)
			b, al := e.buffer(t, 4096)
			begun := make(chan *framesync.Frame, 1)
			closed := make(chan struct{})
			ended := make(chan error, 2)
			go func() {
				f, err := s.BeginFrame(context.Background())
				if err != nil {
					ended <- err
					close(begun)
					return
				}
				d.CmdFillBuffer(f.Cmd, b, 0, 2048, 1)
				if err := s.Defer(f.Serial(), framesync.Buffer(b, al).Named("recorded")); err != nil {
					ended <- err
				}
				begun <- f
				<-closed
				d.CmdFillBuffer(f.Cmd, b, 2048, 2048, 2) // still recording, after Close
				ended <- s.EndFrame(f)
			}()
			f := <-begun
			require.NotNil(t, f)
			err := s.Close()
			require.ErrorIs(t, err, framesync.ErrUnsubmitted)
			require.Contains(t, err.Error(), `"recorded"`)
			require.Equal(t, 2, s.Stats().Pending, "the recorder's buffer and its memory wait for its EndFrame")
			close(closed)
			require.ErrorIs(t, <-ended, framesync.ErrClosed)
			require.Zero(t, s.Stats().Pending)
			closedEverywhere(t, s, f)
		})
	}
}

// TestCloseAnyGoroutine: frames rendered on one goroutine, uploads and
// defers on two others, and Close called from four more at once, midway.
// Every call answers nil or ErrClosed (Close: ErrUnsubmitted for the frame
// being recorded); an object whose Defer was refused is destroyed by its
// caller at once, safely; nothing leaks and the validation layer (with
// synchronization validation) reports nothing.
func TestCloseAnyGoroutine(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			e := open(t, 2, m.useFences, vktest.Options{SyncValidation: true})
			d, s := e.dev.Device, e.sync
			var wg sync.WaitGroup
			errs := make(chan error, 100)
			ok := func(what string, err error) bool {
				if err != nil && !errors.Is(err, framesync.ErrClosed) {
					errs <- fmt.Errorf("%s: %w", what, err)
				}
				return err == nil
			}
			keep := func(b vk.Buffer, al alloc.Allocation) { // refused: ours to destroy
				d.DestroyBuffer(b)
				if err := e.alloc.Free(al); err != nil {
					errs <- err
				}
			}
			frames := make(chan struct{}, 1000)
			wg.Add(1)
			go func() { // the render loop
				defer wg.Done()
				for {
					b, al, err := e.alloc.CreateBuffer(1024, vk.BufferUsageTransferDst, alloc.AllocationOptions{})
					if err != nil {
						errs <- err
						return
					}
					f, err := s.BeginFrame(context.Background())
					if !ok("BeginFrame", err) {
						keep(b, al)
						return
					}
					d.CmdFillBuffer(f.Cmd, b, 0, 512, 1)
					deferred := ok("Defer", s.Defer(f.Serial(), framesync.Buffer(b, al)))
					if deferred {
						d.CmdFillBuffer(f.Cmd, b, 512, 512, 2) // maybe after Close
					}
					ok("EndFrame", s.EndFrame(f))
					if !deferred {
						keep(b, al) // the frame was never submitted
					}
					select {
					case frames <- struct{}{}:
					default:
					}
				}
			}()
			for range 2 {
				wg.Add(1)
				go func() { // uploads from a loader goroutine
					defer wg.Done()
					for {
						b, al, err := e.alloc.CreateBuffer(256, vk.BufferUsageTransferDst, alloc.AllocationOptions{})
						if err != nil {
							errs <- err
							return
						}
						serial, err := s.OneShot(func(cmd vk.CommandBuffer) error {
							d.CmdFillBuffer(cmd, b, 0, 256, 3)
							return nil
						})
						if !ok("OneShot", err) {
							keep(b, al)
							return
						}
						if !ok("Defer", s.Defer(serial, framesync.Buffer(b, al))) {
							keep(b, al) // Defer returned once the device was idle
							return
						}
						_, err = s.Poll()
						ok("Poll", err)
					}
				}()
			}
			for range 10 {
				<-frames
			}
			var closers sync.WaitGroup
			for range 4 {
				closers.Add(1)
				go func() {
					defer closers.Done()
					if err := s.Close(); err != nil && !errors.Is(err, framesync.ErrUnsubmitted) {
						errs <- err
					}
				}()
			}
			within(t, 20*time.Second, "Close and every goroutine", func() {
				closers.Wait()
				wg.Wait()
			})
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			require.Zero(t, s.Stats().Pending)
			closedEverywhere(t, s, nil)
		})
	}
}

// TestDeferAfterClose: Defer after Close queues nothing and destroys
// nothing; the caller keeps the object. A Defer that comes while Close
// still waits for the GPU returns only once the GPU is done with what was
// submitted, so that the caller may destroy the object at once (the
// validation layer would report VUID-vkDestroyBuffer-buffer-00922).
func TestDeferAfterClose(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			e := open(t, 2, m.useFences, vktest.Options{})
			d, s := e.dev.Device, e.sync
			gate, err := d.CreateTimelineSemaphore(0)
			require.NoError(t, err)
			defer d.DestroySemaphore(gate)
			release := sync.OnceFunc(func() { require.NoError(t, d.SignalSemaphore(gate, 1)) })
			defer release() // also when the test fails: Close waits for the GPU
			b, al := e.buffer(t, 4096)
			f, err := s.BeginFrame(context.Background())
			require.NoError(t, err)
			d.CmdFillBuffer(f.Cmd, b, 0, 4096, 1)
			require.NoError(t, s.EndFrameWith(f, []vk.SemaphoreSubmit{{Semaphore: gate, Value: 1, Stage: vk.StageAllCommands}}, nil))

			closed := make(chan error, 1)
			go func() { closed <- s.Close() }()
			require.Eventually(t, func() bool { return s.Stats().Closed }, 10*time.Second, time.Millisecond)
			deferred := make(chan error, 1)
			go func() { deferred <- s.Defer(f.Serial(), framesync.Buffer(b, al)) }()
			select {
			case err := <-deferred:
				t.Fatalf("Defer returned (%v) while the GPU may still use the buffer", err)
			case <-time.After(100 * time.Millisecond):
			}
			before := e.dev.destroyed.Load()
			release()
			require.ErrorIs(t, <-deferred, framesync.ErrClosed)
			require.NoError(t, <-closed)
			require.ErrorIs(t, s.Defer(1, framesync.Memory(al)), framesync.ErrClosed)
			require.Equal(t, before, e.dev.destroyed.Load(), "nothing destroyed")
			require.Zero(t, s.Stats().Pending, "nothing queued")
			d.DestroyBuffer(b) // still ours, and the GPU is done with it
			require.NoError(t, e.alloc.Free(al))
		})
	}
}

// TestDeferDuplicate: the same object deferred twice — at the same serial,
// at a later one, at a completed one (destroyed at once otherwise), or its
// memory alone — is refused with ErrDuplicate and changes nothing; each
// object is destroyed once (the validation layer reports a second
// vkDestroyBuffer of a handle, a second free fails in the allocator).
func TestDeferDuplicate(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			e := open(t, 2, m.useFences, vktest.Options{})
			d, s := e.dev.Device, e.sync
			e.fillFrame(t, 256)
			require.NoError(t, s.Flush(context.Background()))
			done := s.Completed()
			f, err := s.BeginFrame(context.Background())
			require.NoError(t, err)
			b, al := e.buffer(t, 4096)
			d.CmdFillBuffer(f.Cmd, b, 0, 4096, 1)
			view := e.view(t)
			require.NoError(t, s.Defer(f.Serial(), framesync.Buffer(b, al).Named("twice")))
			require.NoError(t, s.Defer(f.Serial(), framesync.ImageView(view.view)))
			before := s.Stats()
			destroyed := e.dev.destroyed.Load()
			for i, o := range []framesync.Object{
				framesync.Buffer(b, al), framesync.Buffer(b, alloc.Allocation{}), framesync.Memory(al),
				framesync.ImageView(view.view),
			} {
				for _, serial := range []framesync.Serial{f.Serial(), done} {
					err := s.Defer(serial, o)
					require.ErrorIs(t, err, framesync.ErrDuplicate, "object %d at serial %d", i, serial)
				}
			}
			require.Equal(t, before.Pending, s.Stats().Pending, "nothing queued")
			require.Equal(t, destroyed, e.dev.destroyed.Load(), "nothing destroyed")
			require.NoError(t, s.EndFrame(f))
			require.NoError(t, s.Flush(context.Background()))
			require.Equal(t, destroyed+3, e.dev.destroyed.Load(), "buffer, memory and view destroyed once each")
			require.NoError(t, s.Defer(done, framesync.Image(view.img, view.mem)), "an image whose view is gone")
			// Retired, a handle may be deferred again (drivers reuse values).
			b2, al2 := e.buffer(t, 64)
			require.NoError(t, s.Defer(s.Completed(), framesync.Buffer(b2, al2)))
		})
	}
}

type viewed struct {
	img  vk.Image
	mem  alloc.Allocation
	view vk.ImageView
}

func (e *env) view(t *testing.T) viewed {
	img, mem, err := e.alloc.CreateImage(vk.ImageInfo{Format: vk.FormatR8G8B8A8Unorm, Width: 4, Height: 4, Usage: vk.ImageUsageSampled}, alloc.AllocationOptions{})
	require.NoError(t, err)
	v, err := e.dev.Device.CreateImageView(img, vk.FormatR8G8B8A8Unorm, vk.AspectColor, 1)
	require.NoError(t, err)
	return viewed{img, mem, v}
}

// TestCallbacksOutsideLock: Func closures and Freer.Free run without the
// Sync's lock: closures that call back into the Sync (Defer, Poll, Stats,
// Issued, Completed, Lost, OneShot) and a Free that reads Stats do not
// deadlock, whether Poll, Flush, BeginFrame, an immediate Defer or Close
// runs them; a Func may even Close the Sync.
func TestCallbacksOutsideLock(t *testing.T) {
	e := open(t, 2, false, vktest.Options{})
	s := e.sync
	ran := 0
	var reenter func()
	reenter = func() {
		ran++
		_ = s.Stats()
		_ = s.Issued()
		_ = s.Completed()
		_ = s.Lost()
		_, _ = s.Poll()
		if ran < 50 {
			require.NoError(t, s.Defer(s.Issued(), framesync.Func(reenter)))
		}
	}
	onFree := func() { _ = s.Stats(); _, _ = s.Poll() }
	e.dev.onFree.Store(&onFree)
	within(t, 20*time.Second, "callbacks that call back into the Sync", func() {
		require.NoError(t, s.Defer(0, framesync.Func(reenter)), "destroyed at once")
		for range 10 {
			f, err := s.BeginFrame(context.Background())
			require.NoError(t, err)
			b, al := e.buffer(t, 256)
			require.NoError(t, s.Defer(f.Serial(), framesync.Buffer(b, al)))
			require.NoError(t, s.Defer(f.Serial(), framesync.Func(reenter)))
			require.NoError(t, s.EndFrame(f))
			_, err = s.Poll()
			require.NoError(t, err)
		}
		_, err := s.OneShot(func(vk.CommandBuffer) error {
			_ = s.Stats()
			return s.Defer(s.Issued(), framesync.Func(reenter))
		})
		require.NoError(t, err)
		require.NoError(t, s.Flush(context.Background()))
		require.Zero(t, s.Stats().Pending)
		// A Func that closes the Sync, run by Poll.
		f, err := s.BeginFrame(context.Background())
		require.NoError(t, err)
		closeErr := make(chan error, 1)
		require.NoError(t, s.Defer(f.Serial(), framesync.Func(func() { closeErr <- s.Close() })))
		b, al := e.buffer(t, 256)
		require.NoError(t, s.Defer(f.Serial(), framesync.Buffer(b, al)))
		require.NoError(t, s.EndFrame(f))
		require.Eventually(t, func() bool { _, _ = s.Poll(); return len(closeErr) > 0 }, 10*time.Second, time.Millisecond)
		require.NoError(t, <-closeErr)
	})
	require.GreaterOrEqual(t, ran, 50)
	closedEverywhere(t, s, nil)
}

// TestFreeErrors: an error from Freer.Free is counted in Stats and
// returned from Close, wrapped, naming the object.
func TestFreeErrors(t *testing.T) {
	e := open(t, 2, false, vktest.Options{})
	s := e.sync
	e.dev.failFree.Store(2)
	for i := range 3 {
		f, err := s.BeginFrame(context.Background())
		require.NoError(t, err)
		b, al := e.buffer(t, 256)
		require.NoError(t, s.Defer(f.Serial(), framesync.Buffer(b, al).Named(fmt.Sprint("staging-", i))))
		require.NoError(t, s.EndFrame(f))
	}
	require.NoError(t, s.Flush(context.Background()))
	st := s.Stats()
	require.Zero(t, st.Pending)
	require.Equal(t, uint64(2), st.FreeErrors)
	err := s.Close()
	require.ErrorIs(t, err, errFree)
	require.Contains(t, err.Error(), `"staging-0"`)
	require.Contains(t, err.Error(), `"staging-1"`)
	require.Contains(t, err.Error(), "2 failed frees")
	require.NoError(t, s.Close(), "reported once")
}

// TestSubmitFailures: a failed vkQueueSubmit is tried again; one that fails
// every try is returned, the Sync stays usable, and what was deferred to
// the failed frame retires once the frames before it complete — not
// before: the buffer is also used by an earlier frame the GPU is held from
// finishing, and the validation layer would report its early destruction.
func TestSubmitFailures(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			e := open(t, 2, m.useFences, vktest.Options{})
			d, s := e.dev.Device, e.sync
			var fails atomic32
			d.SetFaultInjector(func(op string) vk.Result {
				if op == "vkQueueSubmit" && fails.take() {
					return vk.ErrorOutOfHostMemory
				}
				return vk.Success
			})
			defer d.SetFaultInjector(nil)
			fails.set(2)
			f, err := s.BeginFrame(context.Background())
			require.NoError(t, err)
			require.NoError(t, s.EndFrame(f), "two failures, then the submission goes through")
			require.Equal(t, 2, s.Stats().SubmitRetries)

			// A frame the GPU cannot finish, using the buffer.
			gate, err := d.CreateTimelineSemaphore(0)
			require.NoError(t, err)
			defer d.DestroySemaphore(gate)
			release := sync.OnceFunc(func() { require.NoError(t, d.SignalSemaphore(gate, 1)) })
			defer release() // also when the test fails: Close waits for the GPU
			b, al := e.buffer(t, 4096)
			f, err = s.BeginFrame(context.Background())
			require.NoError(t, err)
			d.CmdFillBuffer(f.Cmd, b, 0, 4096, 1)
			require.NoError(t, s.EndFrameWith(f, []vk.SemaphoreSubmit{{Semaphore: gate, Value: 1, Stage: vk.StageAllCommands}}, nil))

			// The next frame uses it last, and its submission fails.
			fails.set(100)
			f, err = s.BeginFrame(context.Background())
			require.NoError(t, err)
			d.CmdFillBuffer(f.Cmd, b, 0, 4096, 2)
			require.NoError(t, s.Defer(f.Serial(), framesync.Buffer(b, al).Named("last used by the failed frame")))
			failed := f.Serial()
			err = s.EndFrame(f)
			require.ErrorIs(t, err, vk.ErrOutOfHostMemory)
			require.Equal(t, 1, s.Stats().SubmitFailures)
			fails.set(0)
			for range 10 {
				n, err := s.Poll()
				require.NoError(t, err)
				require.Zero(t, n, "destroyed while an earlier frame may use it")
			}
			require.Equal(t, 2, s.Stats().Pending)

			release()
			require.NoError(t, s.Wait(context.Background(), failed), "a void serial completes with the frames before it")
			require.Zero(t, s.Stats().Pending, "retired, not leaked")

			// The Sync is still usable.
			e.fillFrame(t, 256)
			_, err = s.OneShot(func(vk.CommandBuffer) error { return nil })
			require.NoError(t, err)
			require.NoError(t, s.Flush(context.Background()))
			require.Zero(t, s.Stats().Pending)
			require.False(t, s.Lost())
		})
	}
}

// atomic32 is a count of injected failures left, safe from the
// goroutines the driver calls come from.
type atomic32 struct {
	mu sync.Mutex
	n  int
}

func (a *atomic32) set(n int) { a.mu.Lock(); a.n = n; a.mu.Unlock() }
func (a *atomic32) take() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.n > 0 {
		a.n--
		return true
	}
	return false
}

// TestIssued: Issued is the newest serial handed out, the frame being
// recorded and the one-shots batched with it included; Defer at Issued
// runs after everything issued so far.
func TestIssued(t *testing.T) {
	e := open(t, 2, true, vktest.Options{})
	s := e.sync
	require.Zero(t, s.Issued())
	serial, err := s.OneShot(func(vk.CommandBuffer) error { return nil })
	require.NoError(t, err)
	require.Equal(t, serial, s.Issued())
	f, err := s.BeginFrame(context.Background())
	require.NoError(t, err)
	require.Equal(t, f.Serial(), s.Issued(), "the frame being recorded")
	batched, err := s.OneShot(func(vk.CommandBuffer) error { return nil })
	require.NoError(t, err)
	require.Equal(t, f.Serial(), batched)
	require.Equal(t, f.Serial(), s.Issued(), "a one-shot batched with the frame shares its serial")
	ran := false
	require.NoError(t, s.Defer(s.Issued(), framesync.Func(func() { ran = true })))
	require.NoError(t, s.Wait(context.Background(), serial))
	require.False(t, ran, "waits for the frame being recorded")
	require.NoError(t, s.EndFrame(f))
	require.Equal(t, f.Serial(), s.Stats().Issued)
	require.NoError(t, s.Flush(context.Background()))
	require.True(t, ran)
}
