package framesync_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/vkassets/vkassets/alloc"
	"github.com/vkassets/vkassets/framesync"
	"github.com/vkassets/vkassets/vk"
)

// mline is the model of one app timeline.
type mline struct {
	tl      framesync.Timeline
	fence   bool
	sem     vk.Semaphore
	removed bool
	fences  []mfence // given to SignalFence, in order
	top     uint64   // the last value given to SignalFence
	told    uint64   // the highest value given to Reached
}

type mfence struct {
	value uint64
	fence vk.Fence
	done  bool // signalled
	gone  bool // the app destroyed it (allowed by the contract)
}

// mobj is a deferred object of the model.
type mobj struct {
	h    uint64
	use  framesync.Use
	fn   bool // a closure (one item), else a buffer with its memory
	gone bool
}

// syncModel drives a Sync on a fakeDev with random calls of the whole API
// (frames, one-shots, app semaphore and fence timelines, defers, polls,
// removals, misuse) and checks it against a model: nothing is destroyed
// before every timeline of its last use has passed it (the fake device
// asks the model at each destruction), exactly what is due is destroyed
// by every Poll, refusals change nothing, a lost device or Close destroys
// what they say, and framesync never touches a fence or semaphore the app
// was allowed to destroy.
type syncModel struct {
	d, od     *fakeDev
	s, other  *framesync.Sync
	foreign   framesync.Timeline
	lines     []*mline // index i-1 is the timeline with Index i
	objs      map[uint64]*mobj
	next      uint64
	recording *framesync.Frame
	lost      bool
	closed    bool
	free      bool           // a frame never submitted is torn down: anything may go
	alive     map[*mobj]bool // what Close left alive: it waits on an app timeline not reached
}

func (m *syncModel) truth(i int) uint64 {
	if i == 0 {
		return m.d.completedSubs()
	}
	l := m.lines[i-1]
	if l.removed {
		return math.MaxUint64
	}
	if !l.fence {
		return m.d.Value(l.sem)
	}
	v := l.told
	for _, f := range l.fences {
		if !f.done {
			break
		}
		v = max(v, f.value)
	}
	return v
}

func (m *syncModel) reached(u framesync.Use) bool {
	for i, v := range u {
		if v != 0 && m.truth(i) < v {
			return false
		}
	}
	return true
}

// appUnreached reports whether u waits on an app timeline beyond what its
// GPU reached.
func (m *syncModel) appUnreached(u framesync.Use) bool {
	for i, v := range u[1:] {
		if v != 0 && m.truth(i+1) < v {
			return true
		}
	}
	return false
}

func (m *syncModel) pendingItems() int {
	n := 0
	for _, o := range m.objs {
		if !o.gone {
			n += 2
			if o.fn {
				n--
			}
		}
	}
	return n
}

// check compares what is gone with the model. due: a Poll just ran, so
// everything reached must be gone.
func (m *syncModel) check(t *rapid.T, step string, due bool) {
	if errs := m.d.Errors(); len(errs) > 0 {
		t.Fatalf("%s: %s", step, strings.Join(errs, "; "))
	}
	for h, o := range m.objs {
		dead := m.d.isDead(h)
		if due && !dead && m.reached(o.use) && !m.closed {
			t.Fatalf("%s: object %d (use %v) not destroyed by a Poll though every timeline passed it (truth %v)", step, h, o.use, m.truths())
		}
		o.gone = dead
	}
	if !m.closed {
		if got, want := m.s.Stats().Pending, m.pendingItems(); got != want {
			t.Fatalf("%s: Stats().Pending %d, model %d", step, got, want)
		}
	}
}

func (m *syncModel) truths() []uint64 {
	out := []uint64{m.truth(0)}
	for i := range m.lines {
		out = append(out, m.truth(i+1))
	}
	return out
}

func (d *fakeDev) completedSubs() uint64 { d.mu.Lock(); defer d.mu.Unlock(); return d.subsDone }

func (d *fakeDev) isDead(h uint64) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, ok := d.dead[h]
	return ok
}

// point draws a point on timeline i: values around what it reached.
func (m *syncModel) point(t *rapid.T, i int) framesync.Point {
	if i == 0 {
		issued := uint64(m.s.Issued())
		return m.s.FrameTimeline().At(rapid.Uint64Range(0, issued).Draw(t, "serial"))
	}
	l := m.lines[i-1]
	base := m.truth(i)
	if l.removed {
		base = 3
	}
	if l.fence {
		base = max(base, l.top)
	}
	return l.tl.At(base - min(base, uint64(rapid.IntRange(0, 2).Draw(t, "back"))) + uint64(rapid.IntRange(0, 3).Draw(t, "ahead")))
}

func (m *syncModel) object(h uint64, fn bool) framesync.Object {
	if fn {
		return framesync.Func(func() { m.d.destroyed(h, "closure") })
	}
	return framesync.Buffer(vk.Buffer(h), alloc.Allocation{Memory: vk.DeviceMemory(h), Size: 16})
}

func TestBreakSyncModel(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		fences := rapid.Bool().Draw(rt, "useFences")
		m := &syncModel{d: newFakeDev(true), od: newFakeDev(true), objs: map[uint64]*mobj{}, next: 1}
		var err error
		m.s, err = framesync.New(framesync.Options{Device: m.d, Allocator: m.d, FramesInFlight: rapid.IntRange(1, 3).Draw(rt, "frames"), UseFences: fences})
		if err != nil {
			rt.Fatal(err)
		}
		m.other, _ = framesync.New(framesync.Options{Device: m.od})
		defer m.other.Close()
		sem, _ := m.od.CreateTimelineSemaphore(0)
		m.foreign, _ = m.other.AddTimeline("foreign", sem)
		m.d.onDestroy = func(h uint64) string {
			o := m.objs[h]
			switch {
			case o == nil:
				return "not deferred"
			case m.lost || m.free:
				return ""
			}
			for i, v := range o.use {
				if v != 0 && m.truth(i) < v {
					return fmt.Sprintf("timeline %d at %d, needs %d (use %v)", i, m.truth(i), v, o.use)
				}
			}
			return ""
		}
		ctx := context.Background()
		live := func(i int) bool { return i == 0 || !m.lines[i-1].removed }
		expectClosed := func(err error) {
			if !errors.Is(err, framesync.ErrClosed) {
				rt.Fatalf("after Close: %v, want ErrClosed", err)
			}
		}
		// deferObj defers a new (or, with dup, a pending) object at a random
		// use, through DeferAt or DeferUse, and checks the answer.
		deferObj := func(rt *rapid.T, viaUse bool) {
			var u, model framesync.Use // what is passed; what it means
			var points []framesync.Point
			var wants []error // acceptable refusals; none: accepted
			for i := 0; i <= len(m.lines); i++ {
				if !rapid.Bool().Draw(rt, "on") {
					continue
				}
				p := m.point(rt, i)
				points = append(points, p)
				u.Add(p)
				if live(i) {
					model.Add(p)
				} else if p.Value != 0 && !viaUse {
					wants = append(wants, framesync.ErrTimelineRemoved)
				}
			}
			switch rapid.IntRange(0, 9).Draw(rt, "misuse") {
			case 0:
				if !viaUse {
					points = append(points, m.foreign.At(1))
					wants = append(wants, framesync.ErrUnknownTimeline)
				}
			case 1:
				if !viaUse {
					points = append(points, framesync.Timeline{}.At(1))
					wants = append(wants, framesync.ErrUnknownTimeline)
				}
			case 2:
				if viaUse && len(m.lines) < framesync.MaxTimelines-1 {
					u[len(m.lines)+1] = 1
					wants = append(wants, framesync.ErrUnknownTimeline)
				}
			case 3:
				p := m.s.FrameTimeline().At(uint64(m.s.Issued()) + 1)
				points = append(points, p)
				u.Add(p)
				wants = append(wants, framesync.ErrFutureSerial)
			}
			if m.recording != nil && rapid.IntRange(0, 3).Draw(rt, "atRecording") == 0 {
				p := m.s.FrameTimeline().At(uint64(m.recording.Serial()))
				points = append(points, p)
				u.Add(p)
				model.Add(p)
			}
			fn := rapid.Bool().Draw(rt, "closure")
			h := m.next
			dup := false
			if !fn && rapid.IntRange(0, 5).Draw(rt, "dup") == 0 {
				for ph, o := range m.objs {
					if !m.d.isDead(ph) && !o.fn {
						h, dup = ph, true
						break
					}
				}
			}
			if !dup {
				m.next++
			}
			if dup && len(wants) == 0 {
				wants = append(wants, framesync.ErrDuplicate)
			}
			before := m.s.Stats().Pending
			if !dup { // known before the call: it may be destroyed at once
				m.objs[h] = &mobj{h: h, use: model, fn: fn}
			}
			var err error
			if viaUse {
				err = m.s.DeferUse(m.object(h, fn), u)
			} else {
				err = m.s.DeferAt(m.object(h, fn), points...)
			}
			if err != nil && !dup {
				delete(m.objs, h)
			}
			switch {
			case m.closed:
				expectClosed(err)
				return
			case len(wants) > 0:
				ok := false
				for _, w := range wants {
					ok = ok || errors.Is(err, w)
				}
				if !ok {
					rt.Fatalf("defer %v (points %v): %v, want one of %v", u, points, err, wants)
				}
				if after := m.s.Stats().Pending; after != before {
					rt.Fatalf("refused defer changed Pending from %d to %d", before, after)
				}
				return
			case err != nil:
				rt.Fatalf("defer %v (points %v): %v", u, points, err)
			}
		}
		actions := map[string]func(*rapid.T){
			"addTimeline": func(rt *rapid.T) {
				fence := rapid.Bool().Draw(rt, "fence")
				var tl framesync.Timeline
				var err error
				l := &mline{fence: fence}
				if fence {
					tl, err = m.s.AddFenceTimeline(fmt.Sprint("f", len(m.lines)))
				} else {
					l.sem, _ = m.d.CreateTimelineSemaphore(0)
					tl, err = m.s.AddTimeline(fmt.Sprint("s", len(m.lines)), l.sem)
				}
				switch {
				case m.closed:
					expectClosed(err)
				case len(m.lines) == framesync.MaxTimelines-1:
					if !errors.Is(err, framesync.ErrTooManyTimelines) {
						rt.Fatalf("timeline %d: %v, want ErrTooManyTimelines", len(m.lines)+1, err)
					}
				case err != nil:
					rt.Fatal(err)
				default:
					if tl.Index() != len(m.lines)+1 {
						rt.Fatalf("index %d, want %d", tl.Index(), len(m.lines)+1)
					}
					l.tl = tl
					m.lines = append(m.lines, l)
				}
			},
			"signal": func(rt *rapid.T) {
				if len(m.lines) == 0 {
					return
				}
				l := m.lines[rapid.IntRange(0, len(m.lines)-1).Draw(rt, "line")]
				if l.removed {
					return
				}
				if !l.fence {
					m.d.Signal(l.sem, m.d.Value(l.sem)+uint64(rapid.IntRange(1, 3).Draw(rt, "by")))
					return
				}
				// The app submits on the fence timeline, or a submission
				// finishes (in order, or not).
				if len(l.fences) == 0 || rapid.Bool().Draw(rt, "submit") {
					f, _ := m.d.CreateFence(false)
					v := l.top + uint64(rapid.IntRange(1, 2).Draw(rt, "step"))
					err := m.s.SignalFence(l.tl, v, f)
					if m.closed {
						expectClosed(err)
						return
					}
					if err != nil {
						rt.Fatal(err)
					}
					l.top = v
					l.fences = append(l.fences, mfence{value: v, fence: f})
					return
				}
				j := rapid.IntRange(0, len(l.fences)-1).Draw(rt, "fence")
				m.d.SignalFenceNow(l.fences[j].fence)
				l.fences[j].done = true
			},
			"reached": func(rt *rapid.T) {
				// The app waited for a fence (and those before it) on the
				// host, says so, and then destroys those fences.
				if len(m.lines) == 0 {
					return
				}
				l := m.lines[rapid.IntRange(0, len(m.lines)-1).Draw(rt, "line")]
				if l.removed || !l.fence || len(l.fences) == 0 {
					return
				}
				j := rapid.IntRange(0, len(l.fences)-1).Draw(rt, "fence")
				for k := 0; k <= j; k++ {
					m.d.SignalFenceNow(l.fences[k].fence)
					l.fences[k].done = true
				}
				err := m.s.Reached(l.tl, l.fences[j].value)
				if m.closed {
					expectClosed(err)
					return
				}
				if err != nil {
					rt.Fatal(err)
				}
				l.told = max(l.told, l.fences[j].value)
				m.recycle(l, l.told)
			},
			"recycle": func(rt *rapid.T) {
				// The app destroys the fences framesync says it has seen.
				if len(m.lines) == 0 || m.closed {
					return
				}
				l := m.lines[rapid.IntRange(0, len(m.lines)-1).Draw(rt, "line")]
				if l.removed || !l.fence {
					return
				}
				v, err := m.s.CompletedAt(l.tl)
				if err != nil {
					rt.Fatal(err)
				}
				m.recycle(l, v)
			},
			"defer":    func(rt *rapid.T) { deferObj(rt, false) },
			"deferUse": func(rt *rapid.T) { deferObj(rt, true) },
			"poll": func(rt *rapid.T) {
				_, err := m.s.Poll()
				switch {
				case m.closed:
					expectClosed(err)
					return
				case m.lost:
					if err != nil && !errors.Is(err, framesync.ErrDeviceLost) {
						rt.Fatalf("poll after loss: %v", err)
					}
					if m.s.Lost() {
						m.checkLost(rt)
					}
					return
				case err != nil:
					rt.Fatal(err)
				}
				m.check(rt, "poll", true)
			},
			"gpu": func(rt *rapid.T) { m.d.Step() },
			"remove": func(rt *rapid.T) {
				if len(m.lines) == 0 {
					return
				}
				i := rapid.IntRange(1, len(m.lines)).Draw(rt, "line")
				l := m.lines[i-1]
				err := m.s.RemoveTimeline(l.tl)
				switch {
				case m.closed:
					expectClosed(err)
					return
				case m.lost:
					l.removed = l.removed || err == nil
					return
				case l.removed:
					if !errors.Is(err, framesync.ErrTimelineRemoved) {
						rt.Fatalf("second removal: %v", err)
					}
					return
				}
				busy := false
				for _, o := range m.objs {
					if !m.d.isDead(o.h) && o.use[i] > m.truth(i) {
						busy = true
					}
				}
				if busy != errors.Is(err, framesync.ErrTimelineBusy) || (!busy && err != nil) {
					rt.Fatalf("remove timeline %d (truth %d): %v, busy %v", i, m.truth(i), err, busy)
				}
				if !busy {
					l.removed = true
					if !l.fence {
						m.d.DestroySemaphore(l.sem) // the app's, once removed
					}
					m.recycle(l, math.MaxUint64)
				}
				m.check(rt, "remove", true)
			},
			"begin": func(rt *rapid.T) {
				if m.recording != nil {
					_, err := m.s.BeginFrame(ctx)
					if !m.closed && !m.lost && !errors.Is(err, framesync.ErrFrameRecording) {
						rt.Fatalf("second BeginFrame: %v", err)
					}
					return
				}
				f, err := m.s.BeginFrame(ctx)
				switch {
				case m.closed:
					expectClosed(err)
				case err == nil:
					m.recording = f
				case !m.lost:
					rt.Fatal(err)
				}
			},
			"end": func(rt *rapid.T) {
				if m.recording == nil {
					return
				}
				m.free = m.closed // Close left the frame, never submitted, to EndFrame
				err := m.s.EndFrame(m.recording)
				m.recording = nil
				if !m.closed && !m.lost && err != nil {
					rt.Fatal(err)
				}
			},
			"oneShot": func(rt *rapid.T) {
				_, err := m.s.OneShot(func(vk.CommandBuffer) error { return nil })
				if !m.closed && !m.lost && err != nil {
					rt.Fatal(err)
				}
			},
			"lose": func(rt *rapid.T) {
				if m.lost || m.closed || rapid.IntRange(0, 4).Draw(rt, "rarely") != 0 {
					return
				}
				m.lost = true
				m.d.SetLost()
				_, err := m.s.Poll() // nothing in flight: it asks the driver nothing
				if err != nil && !errors.Is(err, framesync.ErrDeviceLost) {
					rt.Fatalf("poll of a lost device: %v", err)
				}
				if m.s.Lost() {
					m.checkLost(rt)
				}
			},
			"close": func(rt *rapid.T) {
				if rapid.IntRange(0, 5).Draw(rt, "rarely") != 0 {
					return
				}
				m.close(rt)
			},
		}
		// Long runs by default (rt.Repeat's default is short): a timeline
		// needs a few steps to be added, deferred on, signalled and polled.
		names := slices.Sorted(maps.Keys(actions))
		for range rapid.IntRange(300, 2000).Draw(rt, "steps") {
			actions[rapid.SampledFrom(names).Draw(rt, "action")](rt)
			m.check(rt, "step", false)
		}
		m.close(rt)
		if m.recording != nil {
			m.free = true
			if err := m.s.EndFrame(m.recording); !errors.Is(err, framesync.ErrClosed) {
				rt.Fatalf("EndFrame of the frame Close left: %v", err)
			}
			m.recording = nil
		}
		for h, o := range m.objs {
			// What waits on an app timeline its GPU never reached is left
			// alive by Close (the app's later submissions may use it).
			if !m.d.isDead(h) && !m.alive[o] {
				rt.Fatalf("object %d (use %v) never destroyed", h, o.use)
			}
		}
		if errs := m.d.Errors(); len(errs) > 0 {
			rt.Fatal(strings.Join(errs, "; "))
		}
	})
}

// recycle destroys the app's fences at values up to v, as the contract
// allows once framesync has seen them (or been told).
func (m *syncModel) recycle(l *mline, v uint64) {
	for k := range l.fences {
		f := &l.fences[k]
		if f.value <= v && !f.gone {
			f.gone = true
			m.d.DestroyFence(f.fence)
		}
	}
}

// checkLost: after a loss everything pending is gone, but what waits on
// the frame being recorded.
func (m *syncModel) checkLost(t *rapid.T) {
	for h, o := range m.objs {
		keep := m.recording != nil && o.use[0] == uint64(m.recording.Serial())
		if m.d.isDead(h) == keep {
			t.Fatalf("after a loss: object %d (use %v) gone %v", h, o.use, !keep)
		}
	}
}

func (m *syncModel) close(t *rapid.T) {
	if m.closed {
		if err := m.s.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		return
	}
	m.closed = true
	// Close waits for the device: every submission made completes. What
	// waits beyond on an app timeline may still be used by a submission
	// the app makes later: it stays alive, named in ErrUnsubmitted (after
	// a loss it goes: nothing runs any more).
	if !m.lost {
		m.d.WaitIdle()
	}
	unsub := false
	alive := map[*mobj]bool{} // waiting on an app timeline: left alive
	m.alive = alive
	for _, o := range m.objs {
		if !m.d.isDead(o.h) && !m.reached(o.use) {
			unsub = true
			if !m.lost && m.appUnreached(o.use) {
				alive[o] = true
			}
		}
	}
	for _, l := range m.lines {
		if !l.removed {
			l.removed = true // Close ends every timeline
		}
	}
	err := m.s.Close()
	if m.lost {
		if err != nil && !errors.Is(err, framesync.ErrUnsubmitted) {
			t.Fatalf("Close after a loss: %v", err)
		}
	} else if unsub != errors.Is(err, framesync.ErrUnsubmitted) || (!unsub && err != nil) {
		t.Fatalf("Close: %v; objects never reached: %v", err, unsub)
	}
	for h, o := range m.objs {
		keep := m.recording != nil && o.use[0] == uint64(m.recording.Serial()) || alive[o]
		if m.d.isDead(h) == keep {
			t.Fatalf("after Close: object %d (use %v) gone %v", h, o.use, !keep)
		}
	}
}
