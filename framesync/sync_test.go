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

// device wraps a real device: it counts destroy calls and submissions, logs
// the destruction order, and can be told the device is lost.
type device struct {
	*vk.Device
	lost      atomic.Bool
	submits   atomic.Int64
	destroyed atomic.Int64
	waits     atomic.Int64 // blocking driver waits begun
	mu        sync.Mutex
	log       []string
	// failFree makes the next frees report an error (after freeing).
	failFree atomic.Int64
	// onFree runs inside every Free.
	onFree atomic.Pointer[func()]
}

func (d *device) record(s string) {
	d.destroyed.Add(1)
	d.mu.Lock()
	d.log = append(d.log, s)
	d.mu.Unlock()
}

func (d *device) DestroyImageView(v vk.ImageView) { d.record("view"); d.Device.DestroyImageView(v) }
func (d *device) DestroySampler(s vk.Sampler)     { d.record("sampler"); d.Device.DestroySampler(s) }
func (d *device) DestroyImage(i vk.Image)         { d.record("image"); d.Device.DestroyImage(i) }
func (d *device) DestroyBuffer(b vk.Buffer)       { d.record("buffer"); d.Device.DestroyBuffer(b) }

func (d *device) Submit(cmds []vk.CommandBuffer, waits, signals []vk.SemaphoreSubmit, fence vk.Fence) error {
	d.submits.Add(1)
	return d.Device.Submit(cmds, waits, signals, fence)
}

var errLost = &vk.Error{Op: "injected", Result: vk.ErrorDeviceLostCode}

func (d *device) FenceSignaled(f vk.Fence) (bool, error) {
	if d.lost.Load() {
		return false, errLost
	}
	return d.Device.FenceSignaled(f)
}

func (d *device) WaitFence(f vk.Fence, timeout time.Duration) error {
	d.waits.Add(1)
	if d.lost.Load() {
		return errLost
	}
	return d.Device.WaitFence(f, timeout)
}

func (d *device) SemaphoreValue(s vk.Semaphore) (uint64, error) {
	if d.lost.Load() {
		return 0, errLost
	}
	return d.Device.SemaphoreValue(s)
}

func (d *device) WaitSemaphore(s vk.Semaphore, v uint64, timeout time.Duration) error {
	d.waits.Add(1)
	if d.lost.Load() {
		return errLost
	}
	return d.Device.WaitSemaphore(s, v, timeout)
}

// freer counts frees through a real allocator and logs them in order.
type freer struct {
	a   *alloc.Allocator
	dev *device
}

var errFree = errors.New("injected free error")

func (f freer) Free(al alloc.Allocation) error {
	f.dev.record("memory")
	if fn := f.dev.onFree.Load(); fn != nil {
		(*fn)()
	}
	err := f.a.Free(al)
	if err == nil && f.dev.failFree.Add(-1) >= 0 {
		return errFree
	}
	return err
}

type env struct {
	dev   *device
	alloc *alloc.Allocator
	sync  *framesync.Sync
}

// modes are the two completion paths, both tested on lavapipe.
var modes = []struct {
	name      string
	useFences bool
}{{"timeline", false}, {"fences", true}}

func open(t *testing.T, frames int, useFences bool, opts vktest.Options) *env {
	t.Helper()
	vd := vktest.OpenWith(t, opts)
	d := &device{Device: vd}
	a, err := alloc.New(alloc.Options{Device: vd, Logger: vktest.Logger(t)})
	require.NoError(t, err)
	s, err := framesync.New(framesync.Options{Device: d, Allocator: freer{a, d}, FramesInFlight: frames, UseFences: useFences})
	require.NoError(t, err)
	require.Equal(t, !useFences, s.Timeline())
	t.Cleanup(func() {
		require.NoError(t, s.Close())
		require.NoError(t, a.Close(), "every allocation was retired")
	})
	return &env{dev: d, alloc: a, sync: s}
}

func (e *env) buffer(t testing.TB, size uint64) (vk.Buffer, alloc.Allocation) {
	b, al, err := e.alloc.CreateBuffer(size, vk.BufferUsageTransferDst|vk.BufferUsageTransferSrc, alloc.AllocationOptions{})
	require.NoError(t, err)
	return b, al
}

// fillFrame renders one frame that fills a new buffer of size bytes and
// defers the buffer at the frame's serial.
func (e *env) fillFrame(t *testing.T, size uint64) {
	t.Helper()
	f, err := e.sync.BeginFrame(context.Background())
	require.NoError(t, err)
	b, al := e.buffer(t, size)
	e.dev.CmdFillBuffer(f.Cmd, b, 0, size, 1)
	require.NoError(t, e.sync.Defer(f.Serial(), framesync.Buffer(b, al)))
	require.NoError(t, e.sync.EndFrame(f))
}

// TestStress renders frames that create buffers and images, use them in
// their command buffers and defer them at the frame's serial, with 1, 2 and
// 3 frames in flight, on both completion paths, with synchronization
// validation on. Any early destruction is a validation error.
func TestStress(t *testing.T) {
	for _, m := range modes {
		for frames := 1; frames <= 3; frames++ {
			t.Run(fmt.Sprintf("%s/%d-in-flight", m.name, frames), func(t *testing.T) {
				e := open(t, frames, m.useFences, vktest.Options{SyncValidation: true})
				d, s := e.dev.Device, e.sync
				r := rand.New(rand.NewPCG(uint64(frames), 1))
				created := 0
				for range 120 {
					f, err := s.BeginFrame(context.Background())
					require.NoError(t, err)
					for range 4 + r.IntN(8) {
						b, al := e.buffer(t, uint64(256+r.IntN(1<<14))&^3)
						d.CmdFillBuffer(f.Cmd, b, 0, al.Size&^3, uint32(created))
						require.NoError(t, s.Defer(f.Serial(), framesync.Buffer(b, al)))
						created += 2 // the buffer and its memory
					}
					img, al, err := e.alloc.CreateImage(vk.ImageInfo{Format: vk.FormatR8G8B8A8Unorm, Width: 16, Height: 16,
						Usage: vk.ImageUsageTransferDst | vk.ImageUsageSampled}, alloc.AllocationOptions{})
					require.NoError(t, err)
					view, err := d.CreateImageView(img, vk.FormatR8G8B8A8Unorm, vk.AspectColor, 1)
					require.NoError(t, err)
					d.CmdBarrier(f.Cmd, vk.Barrier{SrcStage: vk.StageTopOfPipe, DstStage: vk.StageTransfer, DstAccess: vk.AccessTransferWrite,
						Image: img, OldLayout: vk.LayoutUndefined, NewLayout: vk.LayoutTransferDstOptimal})
					require.NoError(t, s.Defer(f.Serial(), framesync.ImageView(view)))
					require.NoError(t, s.Defer(f.Serial(), framesync.Image(img, al)))
					created += 3 // the view, the image, its memory
					require.NoError(t, s.EndFrame(f))
				}
				require.NoError(t, s.Flush(context.Background()))
				st := s.Stats()
				require.Zero(t, st.Pending)
				require.Equal(t, uint64(created), st.Retired)
				require.Equal(t, uint64(120), st.Frames)
			})
		}
	}
}

// blocked submits a frame that waits for a timeline semaphore the host has
// not signalled: the GPU cannot finish it until the gate is signalled.
func blocked(t *testing.T, e *env) vk.Semaphore {
	t.Helper()
	gate, err := e.dev.Device.CreateTimelineSemaphore(0)
	require.NoError(t, err)
	f, err := e.sync.BeginFrame(context.Background())
	require.NoError(t, err)
	require.NoError(t, e.sync.EndFrameWith(f, []vk.SemaphoreSubmit{{Semaphore: gate, Value: 1, Stage: vk.StageAllCommands}}, nil))
	return gate
}

// TestExactness: an object is destroyed in the first Poll after its
// serial's submission completes, and not one Poll earlier. While the
// submission is held back by a semaphore, no Poll may destroy the buffer
// it uses (the validation layer would report VUID-vkDestroyBuffer-buffer-00922).
func TestExactness(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			e := open(t, 2, m.useFences, vktest.Options{})
			d, s := e.dev.Device, e.sync
			gate, err := d.CreateTimelineSemaphore(0)
			require.NoError(t, err)
			defer d.DestroySemaphore(gate)
			f, err := s.BeginFrame(context.Background())
			require.NoError(t, err)
			b, al := e.buffer(t, 4096)
			d.CmdFillBuffer(f.Cmd, b, 0, 4096, 7)
			require.NoError(t, s.Defer(f.Serial(), framesync.Buffer(b, al).Named("held")))
			serial := f.Serial()
			require.NoError(t, s.EndFrameWith(f, []vk.SemaphoreSubmit{{Semaphore: gate, Value: 1, Stage: vk.StageAllCommands}}, nil))

			for range 20 {
				n, err := s.Poll()
				require.NoError(t, err)
				require.Zero(t, n, "destroyed while the GPU may still use it")
				time.Sleep(time.Millisecond)
			}
			require.Equal(t, int64(0), e.dev.destroyed.Load())

			require.NoError(t, d.SignalSemaphore(gate, 1))
			// Wait for completion through the driver, not through Sync.
			require.NoError(t, d.QueueWaitIdle())
			n, err := s.Poll()
			require.NoError(t, err)
			require.Equal(t, 2, n, "the first Poll after completion destroys the buffer and frees its memory")
			require.Equal(t, serial, s.Completed())
		})
	}
}

// TestLateDefer: objects deferred to a serial already submitted. One whose
// serial is still running waits for it, and the first Poll after it
// completes destroys it. One whose serial has completed, though Sync has not
// looked yet, is destroyed at once.
func TestLateDefer(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			e := open(t, 2, m.useFences, vktest.Options{})
			d, s := e.dev.Device, e.sync
			gate := blocked(t, e)
			defer d.DestroySemaphore(gate)
			serial := s.Submitted()
			n, err := s.Poll() // nothing queued
			require.NoError(t, err)
			require.Zero(t, n)

			b, al := e.buffer(t, 4096)
			require.NoError(t, s.Defer(serial, framesync.Buffer(b, al).Named("late")))
			n, err = s.Poll()
			require.NoError(t, err)
			require.Zero(t, n, "destroyed while its submission is held back")
			require.NoError(t, d.SignalSemaphore(gate, 1))
			require.NoError(t, d.QueueWaitIdle())
			n, err = s.Poll()
			require.NoError(t, err)
			require.Equal(t, 2, n, "the first Poll after completion destroys the late buffer and frees its memory")

			f, err := s.BeginFrame(context.Background())
			require.NoError(t, err)
			serial = f.Serial()
			require.NoError(t, s.EndFrame(f))
			require.NoError(t, d.QueueWaitIdle()) // complete, and Sync has not looked
			before := e.dev.destroyed.Load()
			b, al = e.buffer(t, 4096)
			require.NoError(t, s.Defer(serial, framesync.Buffer(b, al).Named("after")))
			require.Equal(t, before+2, e.dev.destroyed.Load(), "an object whose serial completed is destroyed (and its memory freed) at once")
			require.Zero(t, s.Stats().Pending)
		})
	}
}

// TestIdleProgress: with no frame rendered after the last one, Poll (and
// Flush) still retire what the GPU finished.
func TestIdleProgress(t *testing.T) {
	e := open(t, 2, false, vktest.Options{})
	s := e.sync
	for range 3 {
		e.fillFrame(t, 1024)
	}
	require.Eventually(t, func() bool {
		_, err := s.Poll()
		require.NoError(t, err)
		return s.Stats().Pending == 0
	}, 10*time.Second, time.Millisecond, "Poll alone must retire finished work")
	// A one-off upload outside any frame also retires by Poll alone.
	b, al := e.buffer(t, 256)
	serial, err := s.OneShot(func(cmd vk.CommandBuffer) error {
		e.dev.CmdFillBuffer(cmd, b, 0, 256, 9)
		return nil
	})
	require.NoError(t, err)
	require.NoError(t, s.Defer(serial, framesync.Buffer(b, al)))
	require.NoError(t, s.Flush(context.Background()))
	require.Zero(t, s.Stats().Pending)
}

// TestOneShotDuringFrame: a one-off recorded while a frame is being
// recorded goes with that frame and shares its serial.
func TestOneShotDuringFrame(t *testing.T) {
	e := open(t, 2, true, vktest.Options{})
	s := e.sync
	f, err := s.BeginFrame(context.Background())
	require.NoError(t, err)
	b, al := e.buffer(t, 256)
	serial, err := s.OneShot(func(cmd vk.CommandBuffer) error {
		e.dev.CmdFillBuffer(cmd, b, 0, 256, 3)
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, f.Serial(), serial)
	require.ErrorIs(t, s.Wait(context.Background(), serial), framesync.ErrNotSubmitted)
	before := e.dev.submits.Load()
	require.NoError(t, s.Defer(serial, framesync.Buffer(b, al)))
	require.NoError(t, s.EndFrame(f))
	require.Equal(t, before+1, e.dev.submits.Load(), "one vkQueueSubmit for both")
	require.NoError(t, s.Wait(context.Background(), serial))
	require.Zero(t, s.Stats().Pending)
}

func TestDestroyOrder(t *testing.T) {
	e := open(t, 2, false, vktest.Options{})
	d, s := e.dev.Device, e.sync
	f, err := s.BeginFrame(context.Background())
	require.NoError(t, err)
	img, imgMem, err := e.alloc.CreateImage(vk.ImageInfo{Format: vk.FormatR8G8B8A8Unorm, Width: 8, Height: 8, Usage: vk.ImageUsageSampled}, alloc.AllocationOptions{})
	require.NoError(t, err)
	view, err := d.CreateImageView(img, vk.FormatR8G8B8A8Unorm, vk.AspectColor, 1)
	require.NoError(t, err)
	smp, err := d.CreateSampler(true, true)
	require.NoError(t, err)
	b, bufMem := e.buffer(t, 64)
	ran := false
	// Deferred in the wrong order on purpose.
	require.NoError(t, s.Defer(f.Serial(), framesync.Func(func() { ran = true; e.dev.record("func") })))
	require.NoError(t, s.Defer(f.Serial(), framesync.Buffer(b, bufMem)))
	require.NoError(t, s.Defer(f.Serial(), framesync.Image(img, imgMem)))
	require.NoError(t, s.Defer(f.Serial(), framesync.Sampler(smp)))
	require.NoError(t, s.Defer(f.Serial(), framesync.ImageView(view)))
	require.NoError(t, s.EndFrame(f))
	require.NoError(t, s.Flush(context.Background()))
	require.True(t, ran)
	require.Equal(t, []string{"view", "sampler", "image", "buffer", "memory", "memory", "func"}, e.dev.log)
}

// TestDeviceLost: an injected device loss makes Poll and waits report
// ErrDeviceLost, destroys everything pending without waiting, and stops
// submissions before they reach the queue; nothing hangs.
func TestDeviceLost(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			e := open(t, 2, m.useFences, vktest.Options{})
			s, d := e.sync, e.dev.Device
			gate := blocked(t, e)
			f, err := s.BeginFrame(context.Background())
			require.NoError(t, err)
			b, al := e.buffer(t, 256)
			require.NoError(t, s.Defer(f.Serial(), framesync.Buffer(b, al)))
			require.NoError(t, s.EndFrame(f))
			require.NotZero(t, s.Stats().Pending)

			e.dev.lost.Store(true)
			_, err = s.Poll()
			require.ErrorIs(t, err, framesync.ErrDeviceLost)
			require.Zero(t, s.Stats().Pending, "pending objects are destroyed without waiting")
			require.True(t, s.Lost())
			require.ErrorIs(t, s.Wait(context.Background(), s.Submitted()), framesync.ErrDeviceLost)

			submits := e.dev.submits.Load()
			_, err = s.BeginFrame(context.Background())
			require.ErrorIs(t, err, framesync.ErrDeviceLost)
			_, err = s.OneShot(func(vk.CommandBuffer) error { return nil })
			require.ErrorIs(t, err, framesync.ErrDeviceLost)
			require.Equal(t, submits, e.dev.submits.Load(), "no submission after the loss")

			// Objects deferred after the loss are destroyed at once.
			b2, al2 := e.buffer(t, 256)
			require.NoError(t, s.Defer(s.Submitted(), framesync.Buffer(b2, al2)))
			require.Zero(t, s.Stats().Pending)

			// The real device is fine: let the held-back work run so the
			// test ends cleanly.
			require.NoError(t, d.SignalSemaphore(gate, 1))
			require.NoError(t, d.QueueWaitIdle())
			d.DestroySemaphore(gate)
		})
	}
}

func TestCloseReportsUnsubmitted(t *testing.T) {
	vd := vktest.Open(t)
	a, err := alloc.New(alloc.Options{Device: vd})
	require.NoError(t, err)
	s, err := framesync.New(framesync.Options{Device: vd, Allocator: a})
	require.NoError(t, err)
	f, err := s.BeginFrame(context.Background())
	require.NoError(t, err)
	b, al, err := a.CreateBuffer(64, vk.BufferUsageVertex, alloc.AllocationOptions{})
	require.NoError(t, err)
	require.NoError(t, s.Defer(f.Serial(), framesync.Buffer(b, al).Named("orphan")))
	err = s.Close()
	require.ErrorIs(t, err, framesync.ErrUnsubmitted)
	require.Contains(t, err.Error(), "orphan")
	require.NoError(t, s.Close(), "idempotent")
	// The frame was being recorded: its recorder's EndFrame finishes the
	// teardown.
	require.ErrorIs(t, s.EndFrame(f), framesync.ErrClosed)
	require.NoError(t, a.Close(), "the orphan's memory was freed")
	_, err = s.BeginFrame(context.Background())
	require.ErrorIs(t, err, framesync.ErrClosed)
}

func TestBadInput(t *testing.T) {
	vd := vktest.Open(t)
	_, err := framesync.New(framesync.Options{Device: vd, FramesInFlight: 5})
	require.Error(t, err)
	_, err = framesync.New(framesync.Options{})
	require.Error(t, err)
	s, err := framesync.New(framesync.Options{Device: vd})
	require.NoError(t, err)
	defer func() { require.NoError(t, s.Close()) }()
	require.ErrorIs(t, s.Defer(99, framesync.Func(func() {})), framesync.ErrFutureSerial)
	require.ErrorIs(t, s.EndFrame(&framesync.Frame{}), framesync.ErrNotRecording)
	f, err := s.BeginFrame(context.Background())
	require.NoError(t, err)
	_, err = s.BeginFrame(context.Background())
	require.ErrorIs(t, err, framesync.ErrFrameRecording)
	require.NoError(t, s.EndFrame(f))
	require.ErrorIs(t, s.Wait(context.Background(), 99), framesync.ErrFutureSerial)
}

// TestLatencyStats: with 2 frames in flight, an object used by frame N is
// retired when frame N+2 begins (its slot comes round) at the latest.
func TestLatencyStats(t *testing.T) {
	e := open(t, 2, false, vktest.Options{})
	s := e.sync
	for range 50 {
		e.fillFrame(t, 256)
	}
	st := s.Stats()
	require.LessOrEqual(t, st.MaxLatencyFrames, uint64(2))
	var counted uint64
	for _, c := range st.LatencyFrames {
		counted += c
	}
	require.Equal(t, st.Retired, counted)
	require.NotZero(t, st.MaxLatency)
}

// TestFrameLoopAllocatesNothing: BeginFrame, Defer, EndFrame and Poll make
// no Go allocation in steady state.
func TestFrameLoopAllocatesNothing(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			e := open(t, 2, m.useFences, vktest.Options{})
			s := e.sync
			fn := framesync.Func(func() {})
			loop := func() {
				f, err := s.BeginFrame(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				_ = s.Defer(f.Serial(), fn)
				if err := s.EndFrame(f); err != nil {
					t.Fatal(err)
				}
				_, _ = s.Poll()
			}
			for range 20 {
				loop()
			}
			require.Zero(t, testing.AllocsPerRun(200, loop))
		})
	}
}
