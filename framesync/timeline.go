package framesync

import (
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/vkassets/vkassets/vk"
)

// MaxTimelines bounds the timelines of one Sync, its own frame timeline
// included: a last-use record (Use) is a fixed array of that many values,
// so that keeping and checking one allocates nothing. Indices are not
// reused: a Sync registers at most MaxTimelines-1 app timelines in its life.
const MaxTimelines = 8

// Errors of the app-timeline API.
var (
	// ErrUnknownTimeline: a Point or Timeline that this Sync did not
	// register (the zero Timeline, or another Sync's).
	ErrUnknownTimeline = errors.New("framesync: timeline not registered with this Sync")
	// ErrTimelineRemoved: a Point on a timeline that RemoveTimeline removed.
	ErrTimelineRemoved = errors.New("framesync: timeline removed")
	// ErrTooManyTimelines: AddTimeline beyond MaxTimelines.
	ErrTooManyTimelines = errors.New("framesync: too many timelines")
	// ErrTimelineBusy: RemoveTimeline of a timeline that objects still wait on.
	ErrTimelineBusy = errors.New("framesync: objects still wait on the timeline")
	// ErrNotFenceTimeline: SignalFence on a timeline that is a semaphore's,
	// or the frame timeline.
	ErrNotFenceTimeline = errors.New("framesync: not a fence timeline")
)

// Timeline is a handle to a monotonic counter that the GPU advances and
// framesync reads without blocking: an app's timeline semaphore, a series
// of the app's fences (AddFenceTimeline), or the Sync's own frame timeline
// (FrameTimeline), whose values are the Serials of BeginFrame and OneShot.
// The zero Timeline is registered with no Sync. Timelines are comparable.
type Timeline struct{ t *timeline }

// timeline is what a Timeline handle points to.
type timeline struct {
	s     *Sync
	index int
	name  string
	sem   vk.Semaphore // the app's timeline semaphore; 0 for fences and the frame timeline
	fence bool         // completion comes from fences given to SignalFence

	removed atomic.Bool // set under s.mu, read without it by claims

	// Guarded by s.mu (fence timelines only).
	fences    []fencePoint // submitted, not yet seen signalled, by value
	signalled uint64       // the newest value given to SignalFence
}

// fencePoint is a fence that signals value on a fence timeline.
type fencePoint struct {
	value uint64
	fence vk.Fence
}

// Name is the name the timeline was registered with ("frames" for the
// frame timeline).
func (t Timeline) Name() string {
	if t.t == nil {
		return ""
	}
	return t.t.name
}

// Index is the timeline's slot in a Use: 0 for the frame timeline, 1 to
// MaxTimelines-1 for app timelines; -1 for the zero Timeline.
func (t Timeline) Index() int {
	if t.t == nil {
		return -1
	}
	return t.t.index
}

// IsZero reports whether t is the zero Timeline.
func (t Timeline) IsZero() bool { return t.t == nil }

// At is the point value on t: a use at it is over once t has reached value.
func (t Timeline) At(value uint64) Point { return Point{Timeline: t, Value: value} }

func (t Timeline) String() string {
	if t.t == nil {
		return "timeline(none)"
	}
	return fmt.Sprintf("timeline %q (#%d)", t.t.name, t.t.index)
}

// Point is a position on a timeline: the submission that signals Value on
// Timeline (for the frame timeline, the one with serial Value). A use of
// an object "at" a point ends when the timeline reaches Value.
type Point struct {
	Timeline Timeline
	Value    uint64
}

func (p Point) String() string { return fmt.Sprintf("%v at %d", p.Timeline, p.Value) }

// Use is an object's last use on every timeline of a Sync: Use[i] is the
// value the timeline with Index i must reach (0: not used there). An object
// deferred with DeferUse retires once every timeline has reached its
// value. The zero Use waits for nothing. A Use is a plain array: copying
// or keeping one allocates nothing.
type Use [MaxTimelines]uint64

// Add raises u to include p (a Use never goes down). A Point on the zero
// Timeline changes nothing.
func (u *Use) Add(p Point) {
	if i := p.Timeline.Index(); i >= 0 {
		u[i] = max(u[i], p.Value)
	}
}

// Merge raises u to include every value of v.
func (u *Use) Merge(v Use) {
	for i := range u {
		u[i] = max(u[i], v[i])
	}
}

// UseOf is the Use of the given points.
func UseOf(points ...Point) Use {
	var u Use
	for _, p := range points {
		u.Add(p)
	}
	return u
}

// FrameTimeline is the Sync's own timeline: its values are the Serials of
// its frames and one-shots, and Defer(serial, o) is DeferAt(o,
// FrameTimeline().At(uint64(serial))). It is backed by the Sync's timeline
// semaphore, or by the fences of its submissions.
func (s *Sync) FrameTimeline() Timeline { return Timeline{s.lines[0]} }

// AddTimeline registers an app's timeline semaphore, which the app signals
// from its own submissions (typically one per queue: graphics, async
// compute, transfer). Poll reads its value with vkGetSemaphoreCounterValue,
// without blocking. The semaphore stays the app's: it must outlive the
// registration (RemoveTimeline, or Close), and framesync never waits on,
// signals or destroys it. A semaphore registered already (and not
// removed), or the Sync's own, is refused.
func (s *Sync) AddTimeline(name string, sem vk.Semaphore) (Timeline, error) {
	if sem == 0 {
		return Timeline{}, fmt.Errorf("framesync: add timeline %q: null semaphore", name)
	}
	return s.addTimeline(&timeline{name: name, sem: sem})
}

// AddFenceTimeline registers a timeline made of the app's fences, for a
// device without timeline semaphores: the app numbers its submissions on
// one queue 1, 2, 3, …, and tells SignalFence which fence each one
// signals. Poll reads the fences' status without blocking, oldest first.
func (s *Sync) AddFenceTimeline(name string) (Timeline, error) {
	return s.addTimeline(&timeline{name: name, fence: true})
}

// SignalFence tells a fence timeline that the submission the app just made
// with fence completes value (values increase: each is above the last, and
// above what Reached said the timeline reached).
// The fence must stay unreset and alive until framesync has seen it
// signalled (CompletedAt(t) ≥ value) or the app has called Reached for a
// value at or above it: an app that waits for the fence before reusing it
// calls Reached(t, value) after the wait, then resets it.
func (s *Sync) SignalFence(t Timeline, value uint64, fence vk.Fence) error {
	if fence == 0 {
		return fmt.Errorf("framesync: signal fence on %v at %d: null fence", t, value)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	tl, err := s.lookup(t)
	if err != nil {
		return err
	}
	if !tl.fence {
		return fmt.Errorf("%w: %v", ErrNotFenceTimeline, t)
	}
	if value <= tl.signalled {
		return fmt.Errorf("framesync: signal fence on %v at %d: values must increase (last %d)", t, value, tl.signalled)
	}
	if done := uint64(s.retire.done[tl.index]); value <= done {
		// Kept, it would be read after the app may have destroyed it.
		return fmt.Errorf("framesync: signal fence on %v at %d: the timeline already reached %d", t, value, done)
	}
	tl.signalled = value
	tl.fences = append(tl.fences, fencePoint{value: value, fence: fence})
	return nil
}

// Reached tells framesync that the app knows t has reached value (it
// waited for the semaphore or the fence on the host): the next Poll
// retires what waited for it, without asking the driver. For the frame
// timeline it is refused: framesync tracks its own submissions.
func (s *Sync) Reached(t Timeline, value uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	tl, err := s.lookup(t)
	if err != nil {
		return err
	}
	if tl.index == 0 {
		return fmt.Errorf("framesync: reached %d on the frame timeline: framesync tracks it itself", value)
	}
	s.reach(tl, value)
	return nil
}

// CompletedAt is the value framesync last saw t reach (it does not ask the
// driver: Poll does).
func (s *Sync) CompletedAt(t Timeline) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tl, err := s.lookup(t)
	if err != nil {
		return 0, err
	}
	return uint64(s.retire.done[tl.index]), nil
}

// RemoveTimeline ends a registration: afterwards points on t are refused
// with ErrTimelineRemoved, and a Use's value on t counts as reached (the
// app removes a timeline once the GPU has passed everything it signals).
// It first reads t; while objects still wait on points of t beyond what it
// has reached, it refuses with ErrTimelineBusy and changes nothing.
// Removing a removed timeline returns ErrTimelineRemoved; the frame
// timeline cannot be removed (Close ends it).
func (s *Sync) RemoveTimeline(t Timeline) error {
	s.mu.Lock()
	tl, err := s.lookup(t)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	if tl.index == 0 {
		s.mu.Unlock()
		return fmt.Errorf("framesync: remove %v: the frame timeline ends with Close", t)
	}
	bt, err := s.collect()
	if err == nil {
		if n := s.retire.waiting(tl.index); n > 0 {
			err = fmt.Errorf("%w: %v: %d objects wait beyond %d", ErrTimelineBusy, t, n, s.retire.done[tl.index])
		} else {
			tl.removed.Store(true)
			tl.fences = nil
			s.retire.done[tl.index] = ^Serial(0) // a Use's value on it counts as reached
		}
	}
	s.mu.Unlock()
	s.run(bt)
	return err
}

// DeferAt queues o for destruction once every point has been reached: the
// last uses of o on each timeline (several points on one timeline: the
// highest counts). With no points, or points all reached, o is destroyed
// at once. Points on the frame timeline follow Defer's rules. DeferAt
// refuses, and queues nothing: a point on a timeline this Sync did not
// register (ErrUnknownTimeline) or that was removed (ErrTimelineRemoved),
// and what Defer refuses. After Close it returns ErrClosed (whatever the
// points) once Close has waited for the device; that wait covers only what
// was submitted before it, so an object the app's own later submissions
// use must wait for their points before the app destroys it.
func (s *Sync) DeferAt(o Object, points ...Point) error {
	var u Use
	for _, p := range points {
		if err := s.checkPoint(p); err != nil {
			if s.closed.Load() {
				return s.deferUse(o, u, true) // ErrClosed, once Close waited for the device
			}
			return err
		}
		u.Add(p)
	}
	return s.deferUse(o, u, true)
}

// DeferUse queues o for destruction once every timeline has reached its
// value in u (an asset's LastUses, say). Values on removed timelines count
// as reached; a value on an index no timeline was registered at is refused
// with ErrUnknownTimeline.
func (s *Sync) DeferUse(o Object, u Use) error {
	return s.deferUse(o, u, false)
}

// CheckPoint refuses a point on a timeline this Sync did not register
// (ErrUnknownTimeline) or removed (ErrTimelineRemoved). It takes no lock.
func (s *Sync) CheckPoint(p Point) error { return s.checkPoint(p) }

// checkPoint refuses a point on a timeline this Sync does not know.
func (s *Sync) checkPoint(p Point) error {
	tl := p.Timeline.t
	switch {
	case tl == nil || tl.s != s:
		return fmt.Errorf("%w: %v", ErrUnknownTimeline, p)
	case tl.removed.Load():
		return fmt.Errorf("%w: %v", ErrTimelineRemoved, p)
	}
	return nil
}

// lookup is t's registration, refused when foreign or removed; s.mu is held.
func (s *Sync) lookup(t Timeline) (*timeline, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	if err := s.checkPoint(Point{Timeline: t}); err != nil {
		return nil, err
	}
	return t.t, nil
}

func (s *Sync) addTimeline(tl *timeline) (Timeline, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return Timeline{}, ErrClosed
	}
	for _, o := range s.lines[:s.nlines] {
		if tl.sem != 0 && !o.removed.Load() && (o.sem == tl.sem || (o.index == 0 && s.timeline == tl.sem)) {
			return Timeline{}, fmt.Errorf("framesync: add timeline %q: its semaphore is already registered, as %v", tl.name, Timeline{o})
		}
	}
	if s.nlines == MaxTimelines {
		return Timeline{}, fmt.Errorf("%w: %q would be the %d-th (at most %d, the frame timeline included)", ErrTooManyTimelines, tl.name, s.nlines+1, MaxTimelines)
	}
	tl.s, tl.index = s, s.nlines
	s.lines[s.nlines] = tl
	s.nlines++
	s.retire.lines = s.nlines
	return Timeline{tl}, nil
}

// lineName names the timeline at index line; s.mu is held.
func (s *Sync) lineName(line int) string { return s.lines[line].name }

// reach records that tl has reached value, and forgets the fences that
// signal values up to it; s.mu is held.
func (s *Sync) reach(tl *timeline, value uint64) {
	q := s.retire
	q.done[tl.index] = max(q.done[tl.index], Serial(value))
	done := 0
	for done < len(tl.fences) && tl.fences[done].value <= value {
		done++
	}
	if done > 0 {
		tl.fences = append(tl.fences[:0], tl.fences[done:]...)
	}
}

// advanceLines reads how far the app's timelines have got, without
// blocking: the semaphore's counter, or the status of the oldest fences.
// A semaphore that nothing can wait on beyond what it reached is not read;
// a fence timeline is read while it has fences not yet seen signalled, so
// that CompletedAt, which tells the app when it may reuse a fence, moves
// on and the fences kept do not pile up. s.mu is held.
func (s *Sync) advanceLines() error {
	q := s.retire
	for i := 1; i < s.nlines; i++ {
		tl := s.lines[i]
		if tl.removed.Load() || (q.top[i] <= q.done[i] && len(tl.fences) == 0) {
			continue
		}
		if !tl.fence {
			v, err := s.dev.SemaphoreValue(tl.sem)
			if err != nil {
				return s.fail(fmt.Sprintf("read %v", Timeline{tl}), err)
			}
			s.reach(tl, v)
			continue
		}
		for len(tl.fences) > 0 {
			f := tl.fences[0]
			signaled, err := s.dev.FenceSignaled(f.fence)
			if err != nil {
				return s.fail(fmt.Sprintf("fence status of %v at %d", Timeline{tl}, f.value), err)
			}
			if !signaled {
				break
			}
			s.reach(tl, f.value)
		}
	}
	return nil
}
