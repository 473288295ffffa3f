package framesync_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vkassets/vkassets/alloc"
	"github.com/vkassets/vkassets/framesync"
	"github.com/vkassets/vkassets/vk"
	"github.com/vkassets/vkassets/vk/vktest"
)

// appQueue is an app's own submissions on one timeline semaphore: its
// command pool, and the next value it signals.
type appQueue struct {
	sem  vk.Semaphore
	pool vk.CommandPool
	cmd  vk.CommandBuffer
	tl   framesync.Timeline
	next uint64
}

// TestAppTimelinesExact: an app with its own submissions on three timeline
// semaphores (two signalled by its submissions, one by the host), on the
// one queue, interleaved with framesync's own frames. Objects (real
// buffers the submissions write, and a closure that logs when it ran) are
// deferred from other goroutines at random points of those timelines. The
// host releases the submissions one at a time in a random order of
// timelines (a gate semaphore holds them back), and after each step Poll
// must have destroyed exactly the objects whose every timeline passed its
// point: none earlier (the validation layer checks the buffers, the log
// checks the closures), none later.
func TestAppTimelinesExact(t *testing.T) {
	d := vktest.OpenWith(t, vktest.Options{SyncValidation: true})
	a, err := alloc.New(alloc.Options{Device: d})
	require.NoError(t, err)
	defer func() { require.NoError(t, a.Close()) }()
	s, err := framesync.New(framesync.Options{Device: d, Allocator: a})
	require.NoError(t, err)
	defer func() { require.NoError(t, s.Close()) }()

	newSem := func() vk.Semaphore {
		sem, err := d.CreateTimelineSemaphore(0)
		require.NoError(t, err)
		t.Cleanup(func() { d.DestroySemaphore(sem) })
		return sem
	}
	gate, probe := newSem(), newSem() // gate holds submissions back; the frames signal probe
	var queues [2]*appQueue
	for i := range queues {
		q := &appQueue{sem: newSem(), next: 1}
		q.pool, err = d.CreateCommandPool(vk.CommandPoolTransient)
		require.NoError(t, err)
		defer d.DestroyCommandPool(q.pool)
		q.cmd, err = d.AllocateCommandBuffer(q.pool)
		require.NoError(t, err)
		q.tl, err = s.AddTimeline(fmt.Sprintf("queue %d", i), q.sem)
		require.NoError(t, err)
		queues[i] = q
	}
	// A failing test leaves submissions held by the gate: release them,
	// or Close would wait for the device forever.
	defer func() { _ = d.SignalSemaphore(gate, 1<<40) }()
	host := newSem()
	hostTL, err := s.AddTimeline("host", host)
	require.NoError(t, err)
	var hostNext uint64 = 1
	frames := s.FrameTimeline()

	// What the test knows each timeline has reached.
	reached := map[framesync.Timeline]uint64{}
	type object struct {
		points []framesync.Point
		ran    bool // its closure ran
	}
	var (
		mu      sync.Mutex
		objects []*object
	)
	allReached := func(o *object) bool {
		for _, p := range o.points {
			if reached[p.Timeline] < p.Value {
				return false
			}
		}
		return true
	}
	check := func(step string) {
		t.Helper()
		mu.Lock()
		defer mu.Unlock()
		for i, o := range objects {
			if want := allReached(o); o.ran != want {
				t.Fatalf("%s: object %d (points %v, reached %v): destroyed %v, want %v", step, i, o.points, reached, o.ran, want)
			}
		}
	}
	fill := func(cmd vk.CommandBuffer, bufs []vk.Buffer) {
		// Queue submission order and this barrier order the fills of one
		// buffer by several submissions (synchronization validation).
		d.CmdBarrier(cmd, vk.Barrier{SrcStage: vk.StageTransfer, DstStage: vk.StageTransfer,
			SrcAccess: vk.AccessTransferWrite, DstAccess: vk.AccessTransferWrite})
		for _, b := range bufs {
			d.CmdFillBuffer(cmd, b, 0, 256, 7)
		}
	}

	rng := rand.New(rand.NewPCG(1, 19))
	var gateValue uint64
	for round := range 12 {
		f, err := s.BeginFrame(context.Background())
		require.NoError(t, err)
		for _, q := range queues {
			require.NoError(t, d.ResetCommandPool(q.pool))
			require.NoError(t, d.BeginCommandBuffer(q.cmd))
		}
		// Points of this round: the frame, each queue's next submission,
		// the host timeline's next value.
		avail := []framesync.Point{frames.At(uint64(f.Serial())), queues[0].tl.At(queues[0].next),
			queues[1].tl.At(queues[1].next), hostTL.At(hostNext)}
		users := [][]vk.Buffer{nil, nil, nil} // per submission: frame, queue 0, queue 1
		var batch []*object
		var bufs []vk.Buffer
		var mems []alloc.Allocation
		for range 8 {
			buf, mem, err := a.CreateBuffer(256, vk.BufferUsageTransferDst, alloc.AllocationOptions{Usage: alloc.UsageGPUOnly})
			require.NoError(t, err)
			o := &object{}
			for j, p := range avail {
				if rng.IntN(2) == 0 {
					continue
				}
				o.points = append(o.points, p)
				if j < 3 {
					users[j] = append(users[j], buf)
				}
			}
			batch, bufs, mems = append(batch, o), append(bufs, buf), append(mems, mem)
		}
		fill(f.Cmd, users[0])
		fill(queues[0].cmd, users[1])
		fill(queues[1].cmd, users[2])
		mu.Lock()
		objects = append(objects, batch...)
		mu.Unlock()

		// Defer from other goroutines while this one submits.
		var wg sync.WaitGroup
		errs := make(chan error, 2*len(batch))
		for i, o := range batch {
			wg.Go(func() {
				errs <- s.DeferAt(framesync.Buffer(bufs[i], mems[i]), o.points...)
				errs <- s.DeferAt(framesync.Func(func() { mu.Lock(); o.ran = true; mu.Unlock() }), o.points...)
			})
		}
		// Submit the three in a random order, each held by the gate.
		order := rng.Perm(3)
		var sub []int // submission order: which is released at gate k
		for _, j := range order {
			gateValue++
			wait := []vk.SemaphoreSubmit{{Semaphore: gate, Value: gateValue, Stage: vk.StageAllCommands}}
			if j == 0 {
				require.NoError(t, s.EndFrameWith(f, wait, []vk.SemaphoreSubmit{{Semaphore: probe, Value: uint64(f.Serial()), Stage: vk.StageAllCommands}}))
			} else {
				q := queues[j-1]
				require.NoError(t, d.EndCommandBuffer(q.cmd))
				require.NoError(t, d.Submit([]vk.CommandBuffer{q.cmd}, wait, []vk.SemaphoreSubmit{{Semaphore: q.sem, Value: q.next, Stage: vk.StageAllCommands}}, 0))
			}
			sub = append(sub, j)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		check(fmt.Sprintf("round %d, deferred", round))

		// Release the submissions one by one, with the host timeline's
		// signal at a random place among them.
		hostAt := rng.IntN(4)
		for k := 0; k <= 3; k++ {
			if k == hostAt {
				require.NoError(t, d.SignalSemaphore(host, hostNext))
				reached[hostTL] = hostNext
				hostNext++
				_, err := s.Poll()
				require.NoError(t, err)
				check(fmt.Sprintf("round %d, host signalled", round))
			}
			if k == 3 {
				break
			}
			require.NoError(t, d.SignalSemaphore(gate, gateValue-2+uint64(k)))
			switch j := sub[k]; j {
			case 0:
				require.NoError(t, d.WaitSemaphore(probe, uint64(f.Serial()), 5*time.Second))
				// The frame's submission signals the probe and the Sync's own
				// timeline; lavapipe can show the probe's value a moment
				// before the other's, so the test also waits for the latter
				// (the Sync's Wait, which only blocks on it).
				require.NoError(t, s.Wait(context.Background(), f.Serial()))
				reached[frames] = uint64(f.Serial())
			default:
				q := queues[j-1]
				require.NoError(t, d.WaitSemaphore(q.sem, q.next, 5*time.Second))
				reached[q.tl] = q.next
				q.next++
			}
			_, err := s.Poll()
			require.NoError(t, err)
			check(fmt.Sprintf("round %d, submission %d (of %d) done", round, sub[k], k))
		}
	}
	st := s.Stats()
	require.Zero(t, st.Pending, "everything reached, nothing pending")
	require.EqualValues(t, 12*8*3, st.Retired, "buffers, their memory and the closures")
}

// TestFenceTimeline: on a device without timeline semaphores the app
// declares a timeline of its own fences; Poll reads their status without
// blocking, and Reached lets an app that waited for a fence reset it.
func TestFenceTimeline(t *testing.T) {
	d := vktest.OpenWith(t, vktest.Options{DisableTimeline: true, SyncValidation: true})
	s, err := framesync.New(framesync.Options{Device: d})
	require.NoError(t, err)
	defer func() { require.NoError(t, s.Close()) }()
	require.False(t, s.Timeline())
	tl, err := s.AddFenceTimeline("graphics")
	require.NoError(t, err)

	fences := make([]vk.Fence, 3)
	for i := range fences {
		fences[i], err = d.CreateFence(false)
		require.NoError(t, err)
		defer d.DestroyFence(fences[i])
	}
	ran := make([]bool, 4)
	deferAt := func(i int, v uint64) {
		require.NoError(t, s.DeferAt(framesync.Func(func() { ran[i] = true }), tl.At(v)))
	}
	deferAt(0, 1)
	deferAt(1, 2)
	deferAt(2, 3)
	deferAt(3, 4)

	// Value 1 and 2: empty submissions that signal their fences.
	for v := range 2 {
		require.NoError(t, d.Submit(nil, nil, nil, fences[v]))
		require.NoError(t, s.SignalFence(tl, uint64(v+1), fences[v]))
	}
	require.NoError(t, d.WaitFence(fences[1], 5*time.Second))
	n, err := s.Poll()
	require.NoError(t, err)
	require.Equal(t, 2, n)
	require.Equal(t, []bool{true, true, false, false}, ran)
	v, err := s.CompletedAt(tl)
	require.NoError(t, err)
	require.EqualValues(t, 2, v)

	// Value 3: the app waits, says so, and resets the fence at once.
	require.NoError(t, d.Submit(nil, nil, nil, fences[2]))
	require.NoError(t, s.SignalFence(tl, 3, fences[2]))
	require.NoError(t, d.WaitFence(fences[2], 5*time.Second))
	require.NoError(t, s.Reached(tl, 3))
	require.NoError(t, d.ResetFence(fences[2]))
	n, err = s.Poll()
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Equal(t, []bool{true, true, true, false}, ran)

	require.ErrorContains(t, s.SignalFence(tl, 3, fences[2]), "values must increase")
	// Value 4 is not submitted before Close: the app may still submit it,
	// so Close leaves what waits on it alive, and names it.
	err = s.Close()
	require.ErrorIs(t, err, framesync.ErrUnsubmitted)
	require.ErrorContains(t, err, `waiting on the app's timelines, left alive as its later submissions may use them: func "unnamed" (timeline "graphics" at 4)`)
	require.False(t, ran[3])
}

// TestTimelineRefusals: points on a timeline the Sync did not register,
// or removed, are refused with a clear error and queue nothing; so are
// uses of indices no timeline has, a timeline too many, a busy removal.
// Close stays idempotent and every call after it answers ErrClosed.
func TestTimelineRefusals(t *testing.T) {
	d := vktest.Open(t)
	s, err := framesync.New(framesync.Options{Device: d})
	require.NoError(t, err)
	defer s.Close()
	other, err := framesync.New(framesync.Options{Device: d})
	require.NoError(t, err)
	defer other.Close()
	sem, err := d.CreateTimelineSemaphore(0)
	require.NoError(t, err)
	defer d.DestroySemaphore(sem)

	tl, err := s.AddTimeline("compute", sem)
	require.NoError(t, err)
	foreign, err := other.AddTimeline("compute", sem)
	require.NoError(t, err)
	require.Equal(t, 1, tl.Index())
	require.Equal(t, 0, s.FrameTimeline().Index())

	nop := framesync.Func(func() {})
	err = s.DeferAt(nop, foreign.At(1))
	require.ErrorIs(t, err, framesync.ErrUnknownTimeline)
	require.ErrorContains(t, err, `timeline "compute" (#1) at 1`)
	require.ErrorIs(t, s.DeferAt(nop, framesync.Timeline{}.At(1)), framesync.ErrUnknownTimeline)
	require.ErrorIs(t, s.DeferUse(nop, framesync.Use{0, 0, 5}), framesync.ErrUnknownTimeline)
	require.ErrorIs(t, s.Reached(foreign, 1), framesync.ErrUnknownTimeline)
	_, err = s.CompletedAt(foreign)
	require.ErrorIs(t, err, framesync.ErrUnknownTimeline)
	require.ErrorIs(t, s.SignalFence(tl, 1, 1), framesync.ErrNotFenceTimeline)
	_, err = s.AddTimeline("null", 0)
	require.ErrorContains(t, err, "null semaphore")
	_, err = s.AddTimeline("again", sem)
	require.ErrorContains(t, err, `its semaphore is already registered, as timeline "compute" (#1)`)
	require.Zero(t, s.Stats().Pending, "nothing refused was queued")

	// Busy: an object waits on it.
	ran := false
	require.NoError(t, s.DeferAt(framesync.Func(func() { ran = true }), tl.At(2)))
	require.ErrorIs(t, s.RemoveTimeline(tl), framesync.ErrTimelineBusy)
	require.NoError(t, s.DeferAt(nop, tl.At(1)), "a busy removal changed nothing")
	require.NoError(t, d.SignalSemaphore(sem, 2))
	require.NoError(t, s.RemoveTimeline(tl)) // reads it: both retire
	require.True(t, ran)
	require.Zero(t, s.Stats().Pending)
	require.ErrorIs(t, s.RemoveTimeline(tl), framesync.ErrTimelineRemoved)
	require.ErrorIs(t, s.DeferAt(nop, tl.At(3)), framesync.ErrTimelineRemoved)
	require.ErrorIs(t, s.CheckPoint(tl.At(3)), framesync.ErrTimelineRemoved)
	// A Use's value on a removed timeline counts as reached.
	ran = false
	require.NoError(t, s.DeferUse(framesync.Func(func() { ran = true }), framesync.UseOf(tl.At(9))))
	require.True(t, ran)
	require.Error(t, s.RemoveTimeline(s.FrameTimeline()))

	// Indices are not reused: six more fit, the seventh does not.
	for i := range framesync.MaxTimelines - 2 {
		_, err := s.AddFenceTimeline(fmt.Sprint("fences ", i))
		require.NoError(t, err)
	}
	_, err = s.AddFenceTimeline("one too many")
	require.ErrorIs(t, err, framesync.ErrTooManyTimelines)

	require.NoError(t, s.Close())
	require.NoError(t, s.Close())
	_, err = s.AddTimeline("late", sem)
	require.ErrorIs(t, err, framesync.ErrClosed)
	require.ErrorIs(t, s.DeferAt(nop, s.FrameTimeline().At(0)), framesync.ErrClosed)
	require.ErrorIs(t, s.Reached(tl, 1), framesync.ErrClosed)
	require.ErrorIs(t, s.RemoveTimeline(tl), framesync.ErrClosed)
	require.True(t, errors.Is(s.SignalFence(tl, 1, 1), framesync.ErrClosed))
}

// TestCloseWhileRecordingAppTimeline: Close while a frame is being
// recorded leaves what was deferred to that frame to its EndFrame, also an
// object that waits on an app timeline as well, at a value never signalled
// (were the object kept in that timeline's ring, Close would take it).
func TestCloseWhileRecordingAppTimeline(t *testing.T) {
	d := vktest.Open(t)
	s, err := framesync.New(framesync.Options{Device: d})
	require.NoError(t, err)
	sem, err := d.CreateTimelineSemaphore(0)
	require.NoError(t, err)
	defer d.DestroySemaphore(sem)
	tl, err := s.AddTimeline("compute", sem)
	require.NoError(t, err)

	f, err := s.BeginFrame(context.Background())
	require.NoError(t, err)
	ran := false
	require.NoError(t, s.DeferAt(framesync.Func(func() { ran = true }).Named("shared"), tl.At(1), s.FrameTimeline().At(uint64(f.Serial()))))
	err = s.Close() // the app never signals 1
	require.ErrorIs(t, err, framesync.ErrUnsubmitted)
	require.ErrorContains(t, err, `"shared"`)
	require.False(t, ran, "Close destroyed an object the frame being recorded may use")
	require.ErrorIs(t, s.EndFrame(f), framesync.ErrClosed)
	require.False(t, ran, "EndFrame of the closed frame destroyed what the app's submissions may still use")
}
