package framesync_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vkassets/vkassets/alloc"
	"github.com/vkassets/vkassets/framesync"
	"github.com/vkassets/vkassets/vk"
	"github.com/vkassets/vkassets/vk/vktest"
)

// TestBreakConcurrentTimelines attacks the app-timeline path from many
// goroutines at once, on lavapipe with the validation layer: a frame loop;
// an app submitting on two timeline semaphores of its own, whose buffers
// (some used by both queues and the frame) and command pools are deferred
// by other goroutines, before or after the submission; four goroutines
// polling; one adding a host timeline, deferring on it, signalling it,
// telling Reached and removing it while others defer on it; then Close
// from yet another goroutine while all of it runs. Any early destruction
// is a validation error (a buffer a pending submission writes, a command
// pool whose buffers are pending); a closure that runs before its
// timelines passed fails the test; every closure runs exactly once; after
// Close every call answers ErrClosed.
func TestBreakConcurrentTimelines(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			e := open(t, 2, m.useFences, vktest.Options{})
			d, s := e.dev.Device, e.sync
			ctx := context.Background()
			newSem := func() vk.Semaphore {
				sem, err := d.CreateTimelineSemaphore(0)
				require.NoError(t, err)
				t.Cleanup(func() { d.DestroySemaphore(sem) })
				return sem
			}
			type queue struct {
				sem  vk.Semaphore
				tl   framesync.Timeline
				next uint64
			}
			// The app's submissions wait on a gate the host opens a little
			// later, so that the frames, on the same queue, complete before
			// them and objects move between rings (lavapipe runs later
			// submissions past one that waits).
			gate := newSem()
			var gateNext atomic.Uint64
			defer func() { _ = d.SignalSemaphore(gate, 1<<40) }() // a failing test must not leave Close waiting
			var qs [2]*queue
			for i := range qs {
				q := &queue{sem: newSem(), next: 1}
				var err error
				q.tl, err = s.AddTimeline(fmt.Sprint("app ", i), q.sem)
				require.NoError(t, err)
				qs[i] = q
			}

			errc := make(chan error, 64)
			report := func(err error) {
				select {
				case errc <- err:
				default:
				}
			}
			var ran, early, twice atomic.Int64
			// closure is a Func that checks, when it runs, that every
			// timeline semaphore of its points has reached its value.
			closure := func(sems []vk.Semaphore, points []framesync.Point) framesync.Object {
				var once atomic.Bool
				return framesync.Func(func() {
					if once.Swap(true) {
						twice.Add(1)
					}
					ran.Add(1)
					for i, p := range points {
						if sems[i] == 0 {
							continue
						}
						if v, err := d.SemaphoreValue(sems[i]); err == nil && v < p.Value {
							early.Add(1)
							report(fmt.Errorf("closure at %v ran with the semaphore at %d (closed: %v)", p, v, s.Stats().Closed))
						}
					}
				})
			}
			var deferred, removed atomic.Int64
			var wg sync.WaitGroup
			stop := make(chan struct{})
			ok := func(err error, allowed ...error) bool {
				if err == nil {
					return true
				}
				for _, a := range allowed {
					if errors.Is(err, a) {
						return false
					}
				}
				report(err)
				return false
			}

			// The gate keeper.
			wg.Go(func() {
				var opened uint64
				for {
					select {
					case <-stop:
						return
					default:
					}
					time.Sleep(100 * time.Microsecond)
					// One value at a time: the layer refuses a host signal
					// above a pending wait (VUID-VkSemaphoreSignalInfo-value-03259).
					if gateNext.Load() > opened {
						opened++
						if err := d.SignalSemaphore(gate, opened); err != nil {
							report(err)
						}
					}
				}
			})
			// Pollers.
			for range 4 {
				wg.Go(func() {
					for {
						select {
						case <-stop:
							return
						default:
						}
						_, err := s.Poll()
						if ok(err, framesync.ErrClosed) {
							for _, q := range qs {
								_, err := s.CompletedAt(q.tl)
								ok(err, framesync.ErrClosed)
							}
						}
						time.Sleep(50 * time.Microsecond)
					}
				})
			}
			// A host timeline added, deferred on, signalled, removed, over
			// and over (indices are not reused: at most 5 of them), while
			// others defer on it.
			hostDone := make(chan struct{})
			wg.Go(func() {
				defer close(hostDone)
				for range framesync.MaxTimelines - 3 {
					sem := newSem()
					tl, err := s.AddTimeline("host", sem)
					if !ok(err, framesync.ErrClosed) {
						return
					}
					var inner sync.WaitGroup
					for g := range 3 {
						inner.Go(func() {
							for v := uint64(1); v <= 20; v++ {
								p := tl.At(v + uint64(g))
								err := s.DeferAt(closure([]vk.Semaphore{sem}, []framesync.Point{p}), p)
								if ok(err, framesync.ErrClosed, framesync.ErrTimelineRemoved) {
									deferred.Add(1)
								}
							}
						})
					}
					for v := uint64(1); v <= 25; v++ {
						time.Sleep(200 * time.Microsecond) // let the deferrals in
						if err := d.SignalSemaphore(sem, v); err != nil {
							report(err)
						}
						if v%5 == 0 {
							ok(s.Reached(tl, v), framesync.ErrClosed)
						}
						err := s.RemoveTimeline(tl)
						if err == nil {
							removed.Add(1)
							break
						}
						if ok(err, framesync.ErrTimelineBusy, framesync.ErrClosed); errors.Is(err, framesync.ErrClosed) {
							break
						}
					}
					inner.Wait()
					for {
						err := s.RemoveTimeline(tl)
						if err == nil {
							removed.Add(1)
						}
						if err == nil || errors.Is(err, framesync.ErrTimelineRemoved) || errors.Is(err, framesync.ErrClosed) {
							break
						}
						ok(err, framesync.ErrTimelineBusy)
					}
				}
			})

			// The app: per round, buffers written by the frame and by the
			// two app queues, deferred by other goroutines at the points
			// of their users once submitted (a deferral before the
			// submission is TestBreakCloseBeforeAppSubmits' case), racing
			// the GPU, the pollers and Close.
			rng := rand.New(rand.NewPCG(7, 19))
			// gone is what the app does with an object Close refused: its
			// own submissions may still run (Close waited only for what
			// was submitted before it), so it waits for its points first.
			gone := func(points []framesync.Point, sems []vk.Semaphore, destroy func()) {
				for i, p := range points {
					if sems[i] != 0 {
						if err := d.WaitSemaphore(sems[i], p.Value, 5*time.Second); err != nil {
							report(err)
						}
					}
				}
				destroy()
			}
			app := func(rounds int) {
				for round := range rounds {
					f, err := s.BeginFrame(ctx)
					if !ok(err, framesync.ErrClosed) {
						return
					}
					var cmds [2]vk.CommandBuffer
					var pls [2]vk.CommandPool
					for i := range cmds {
						pls[i], err = d.CreateCommandPool(vk.CommandPoolTransient)
						require.NoError(t, err)
						cmds[i], err = d.AllocateCommandBuffer(pls[i])
						require.NoError(t, err)
						require.NoError(t, d.BeginCommandBuffer(cmds[i]))
					}
					var jobs []func()
					for range 6 {
						buf, mem, err := e.alloc.CreateBuffer(256, vk.BufferUsageTransferDst, alloc.AllocationOptions{Usage: alloc.UsageGPUOnly})
						require.NoError(t, err)
						var points []framesync.Point
						var sems []vk.Semaphore
						if rng.IntN(2) == 0 {
							d.CmdFillBuffer(f.Cmd, buf, 0, 256, 1)
							points, sems = append(points, s.FrameTimeline().At(uint64(f.Serial()))), append(sems, 0)
						}
						for i, q := range qs {
							if rng.IntN(2) == 0 || len(points) == 0 && i == 1 {
								d.CmdFillBuffer(cmds[i], buf, 0, 256, 2)
								points, sems = append(points, q.tl.At(q.next)), append(sems, q.sem)
							}
						}
						jobs = append(jobs, func() {
							err := s.DeferAt(framesync.Buffer(buf, mem).Named(fmt.Sprint("round ", round)), points...)
							if errors.Is(err, framesync.ErrClosed) {
								gone(points, sems, func() { _ = e.alloc.DestroyBuffer(buf, mem) })
							} else {
								ok(err)
							}
							if ok(s.DeferAt(closure(sems, points), points...), framesync.ErrClosed) {
								deferred.Add(1)
							}
						})
					}
					for i, q := range qs {
						require.NoError(t, d.EndCommandBuffer(cmds[i]))
						pool, p := pls[i], q.tl.At(q.next)
						jobs = append(jobs, func() { // the pool goes once its submission is done
							err := s.DeferAt(framesync.Func(func() { d.DestroyCommandPool(pool) }), p)
							if errors.Is(err, framesync.ErrClosed) {
								gone([]framesync.Point{p}, []vk.Semaphore{q.sem}, func() { d.DestroyCommandPool(pool) })
							} else {
								ok(err)
							}
						})
					}
					for i, q := range qs {
						wait := []vk.SemaphoreSubmit{{Semaphore: gate, Value: gateNext.Add(1), Stage: vk.StageAllCommands}}
						err := d.Submit([]vk.CommandBuffer{cmds[i]}, wait, []vk.SemaphoreSubmit{{Semaphore: q.sem, Value: q.next, Stage: vk.StageAllCommands}}, 0)
						require.NoError(t, err)
						q.next++
					}
					ok(s.EndFrame(f), framesync.ErrClosed)
					var wg sync.WaitGroup
					for _, j := range jobs {
						wg.Go(j)
					}
					wg.Wait()
				}
			}
			app(40)
			// Close from another goroutine while the rest runs on, the
			// app included.
			closed := make(chan error, 1)
			go func() {
				// Not before the host timelines are done: Close destroys what
				// waits on a value an app timeline never reached (by design;
				// TestBreakCloseBeforeAppSubmits is why that is a problem).
				<-hostDone
				time.Sleep(2 * time.Millisecond)
				closed <- s.Close()
			}()
			app(1000) // ends at ErrClosed
			if err := <-closed; err != nil {
				// Closed while the app recorded a frame: it names the
				// frame, which its EndFrame tore down.
				require.ErrorIs(t, err, framesync.ErrUnsubmitted)
			}
			close(stop)
			wg.Wait()
			require.NoError(t, d.WaitIdle()) // the app's last submissions, before its semaphores go
			close(errc)
			for err := range errc {
				t.Error(err)
			}
			t.Logf("%d closures deferred and run; %d host timelines removed; stats %+v", ran.Load(), removed.Load(), s.Stats().Retired)
			require.Zero(t, early.Load(), "closures ran before their timelines passed")
			require.Zero(t, twice.Load(), "closures ran twice")
			require.Equal(t, deferred.Load(), ran.Load(), "every accepted closure ran")
			_, err := s.Poll()
			require.ErrorIs(t, err, framesync.ErrClosed)
			require.ErrorIs(t, s.DeferAt(framesync.Func(func() {}), qs[0].tl.At(1)), framesync.ErrClosed)
			require.NoError(t, s.Close())
		})
	}
}
