package framesync

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vkassets/vkassets/vk"
)

// Errors.
var (
	// ErrDeviceLost is vk.ErrDeviceLost: once a wait or a status query
	// reports it, every pending object is destroyed without waiting, and
	// every later submission fails with it.
	ErrDeviceLost = vk.ErrDeviceLost
	// ErrFrameRecording: BeginFrame while a frame is being recorded.
	ErrFrameRecording = errors.New("framesync: a frame is already being recorded")
	// ErrNotRecording: EndFrame of a frame that is not being recorded.
	ErrNotRecording = errors.New("framesync: frame is not being recorded")
	// ErrFutureSerial: Defer or Wait with a serial no submission has been given.
	ErrFutureSerial = errors.New("framesync: serial not handed out yet")
	// ErrNotSubmitted: Wait for the serial of the frame still being recorded.
	ErrNotSubmitted = errors.New("framesync: serial belongs to the frame being recorded")
	// ErrClosed: the Sync was closed. Every method that returns an error
	// returns it after Close.
	ErrClosed = errors.New("framesync: closed")
	// ErrUnsubmitted: Close found objects deferred to a frame that was never
	// submitted, or waiting on an app's timeline beyond what it reached; the
	// error names them. The first are destroyed by Close, or, when that
	// frame is still being recorded, when its EndFrame returns; the others
	// are left alive, as the app's later submissions may use them.
	ErrUnsubmitted = errors.New("framesync: objects deferred to a frame that was never submitted")
	// ErrDuplicate: Defer of an object (the same kind and handle, or the
	// same memory and offset) that is already queued. Nothing was queued;
	// the object stays where it was.
	ErrDuplicate = errors.New("framesync: object already deferred")
)

// submitTries bounds the attempts at one vkQueueSubmit.
const submitTries = 4

// Options configure New.
type Options struct {
	Device Device
	// Allocator frees the memory of retired images, buffers and Memory objects.
	Allocator Freer
	// FramesInFlight is 1 to 4; 0 means 2.
	FramesInFlight int
	// Present gives every frame a pair of binary semaphores for a swapchain:
	// Frame.ImageAvailable and Frame.RenderFinished.
	Present bool
	// UseFences tracks completion with fences even where the device has
	// timeline semaphores.
	UseFences bool
	// Logger receives reports of what Close found; nil discards.
	Logger *slog.Logger
	// Clock is the time source for latency statistics; nil is time.Now.
	Clock func() time.Time
}

// Frame is one slot of the ring: a fence, a command pool and its command
// buffer, and with Options.Present two semaphores. Between BeginFrame and
// EndFrame, record into Cmd and defer what the frame uses at Serial.
type Frame struct {
	Index          int              // slot in the ring
	Cmd            vk.CommandBuffer // primary, begun by BeginFrame
	ImageAvailable vk.Semaphore     // with Options.Present: wait for it in EndFrameWith
	RenderFinished vk.Semaphore     // with Options.Present: signal it, present after it

	fence    vk.Fence
	pool     vk.CommandPool
	serial   Serial // this slot's current (or last) submission
	inFlight bool   // the fence was submitted and not yet waited for
}

// Serial is the serial the frame is submitted with: objects it uses retire
// when it completes.
func (f *Frame) Serial() Serial { return f.serial }

// oneShot is a pooled command buffer for submissions outside the frames.
type oneShot struct {
	pool   vk.CommandPool
	cmd    vk.CommandBuffer
	fence  vk.Fence // fence mode only
	serial Serial
}

// submission is one in flight, in fence mode. A zero fence is a void
// serial: its submission failed, and it completes with the ones before it.
type submission struct {
	serial Serial
	fence  vk.Fence
}

// waitSlice is how long one driver wait blocks before ctx and Close are
// looked at again.
const waitSlice = 10 * time.Millisecond

// Sync is a queue's frames in flight, its submission serials and its
// retirement queue. It is safe for concurrent use: loads may submit uploads
// and defer objects from other goroutines while one goroutine runs frames.
//
// Its lock guards bookkeeping and the driver calls that must be ordered
// with it (resets, submissions, status queries). It is never held across a
// blocking wait or user code: the Freer, Func closures, the Clock and the
// Logger are called without it, and may call back into the Sync.
type Sync struct {
	dev      Device
	logger   *slog.Logger
	clock    func() time.Time
	timeline vk.Semaphore // 0 in fence mode; never changes after New
	frames   []*Frame     // never changes after New

	closed atomic.Bool   // written under mu; read without it by blocked waits
	idled  chan struct{} // closed once Close has waited for the device
	// finished is closed when the first Close returns: a later or
	// concurrent Close waits for it.
	finished chan struct{}

	mu      sync.Mutex // guards the fields below
	waiters sync.Cond  // on mu: Close waits for blocked waits to leave
	waiting int        // goroutines blocked in a driver wait on our objects
	// fenceWaits counts, by fence, the goroutines inside vkWaitForFences
	// on it. A fence is reset only at 0: vkResetFences must not run while
	// another thread waits on the fence (external synchronization, caught
	// by the validation layer's threading checks). waiters is broadcast
	// when a count drops to 0.
	fenceWaits map[vk.Fence]int
	begun      uint64 // frames begun
	recording  *Frame
	next       Serial // the next serial to hand out
	submitted  Serial // the newest serial submitted, or void
	real       Serial // the newest serial a submission that reached the queue signals
	completed  Serial // the newest serial known complete
	pending    []submission
	inflight   []*oneShot           // submitted one-shots, by serial
	batched    []*oneShot           // recorded during a frame: submitted with it
	waits      []vk.SemaphoreSubmit // what the batched one-shots wait for: the frame's submission waits
	allWaits   []vk.SemaphoreSubmit // scratch for EndFrameWith
	idle       []*oneShot
	cmds       []vk.CommandBuffer // scratch for Submit
	signals    []vk.SemaphoreSubmit
	retire     *RetireQueue
	lines      [MaxTimelines]*timeline // registered timelines; [0] is the frame timeline
	nlines     int
	batches    []*batch // free batches for the retire queue
	lost       bool
	retried    int  // submissions tried again after a failure
	failed     int  // submissions that failed every try (their serials are void)
	closeDone  bool // Close has destroyed what it destroys
	leaked     bool // Close could not prove the GPU idle: nothing more is destroyed
}

// New creates the frame ring and, where the device has them, the timeline
// semaphore that tracks completion.
func New(opts Options) (*Sync, error) {
	if opts.Device == nil {
		return nil, errors.New("framesync: Options.Device is nil")
	}
	n := opts.FramesInFlight
	if n == 0 {
		n = 2
	}
	if n < 1 || n > 4 {
		return nil, fmt.Errorf("framesync: %d frames in flight: want 1 to 4", n)
	}
	s := &Sync{dev: opts.Device, logger: opts.Logger, clock: opts.Clock, next: 1,
		retire: NewRetireQueue(opts.Device, opts.Allocator)}
	s.retire.set = map[objKey]setEntry{}
	s.lines[0], s.nlines = &timeline{s: s, name: "frames"}, 1
	s.idled = make(chan struct{})
	s.finished = make(chan struct{})
	s.waiters.L = &s.mu
	s.fenceWaits = map[vk.Fence]int{}
	if s.logger == nil {
		s.logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if s.clock == nil {
		s.clock = time.Now
	}
	if opts.Device.TimelineSemaphores() && !opts.UseFences {
		t, err := opts.Device.CreateTimelineSemaphore(0)
		if err != nil {
			return nil, fmt.Errorf("framesync: timeline semaphore: %w", err)
		}
		s.timeline = t
	}
	for i := range n {
		f, err := s.newFrame(i, opts.Present)
		if err != nil {
			for _, f := range s.frames {
				s.destroyFrame(f)
			}
			s.dev.DestroySemaphore(s.timeline)
			return nil, err
		}
		s.frames = append(s.frames, f)
	}
	return s, nil
}

func (s *Sync) newFrame(i int, present bool) (*Frame, error) {
	d := s.dev
	f := &Frame{Index: i}
	var err error
	if f.fence, err = d.CreateFence(true); err != nil {
		return nil, fmt.Errorf("framesync: frame %d: %w", i, err)
	}
	if f.pool, err = d.CreateCommandPool(vk.CommandPoolTransient); err != nil {
		d.DestroyFence(f.fence)
		return nil, fmt.Errorf("framesync: frame %d: %w", i, err)
	}
	if f.Cmd, err = d.AllocateCommandBuffer(f.pool); err == nil && present {
		if f.ImageAvailable, err = d.CreateSemaphore(); err == nil {
			f.RenderFinished, err = d.CreateSemaphore()
		}
	}
	if err != nil {
		s.destroyFrame(f)
		return nil, fmt.Errorf("framesync: frame %d: %w", i, err)
	}
	return f, nil
}

func (s *Sync) destroyFrame(f *Frame) {
	s.dev.DestroySemaphore(f.ImageAvailable)
	s.dev.DestroySemaphore(f.RenderFinished)
	s.dev.DestroyCommandPool(f.pool)
	s.dev.DestroyFence(f.fence)
}

func (s *Sync) destroyOneShot(o *oneShot) {
	s.dev.DestroyFence(o.fence)
	s.dev.DestroyCommandPool(o.pool)
}

// Timeline reports whether completion comes from a timeline semaphore
// (else from fences).
func (s *Sync) Timeline() bool { return s.timeline != 0 }

// FramesInFlight is the size of the ring.
func (s *Sync) FramesInFlight() int { return len(s.frames) }

// now is the clock in ns for latency statistics; s.mu is not held.
func (s *Sync) now() int64 { return s.clock().UnixNano() }

// BeginFrame takes the next slot of the ring, waiting only until the GPU has
// finished that slot's previous frame, retires what is due, and begins the
// slot's command buffer. A Close while it waits makes it return ErrClosed.
func (s *Sync) BeginFrame(ctx context.Context) (*Frame, error) {
	s.mu.Lock()
	var f *Frame
	for {
		if err := s.usable(); err != nil {
			s.mu.Unlock()
			return nil, err
		}
		if s.recording != nil {
			s.mu.Unlock()
			return nil, ErrFrameRecording
		}
		f = s.frames[s.begun%uint64(len(s.frames))]
		if !f.inFlight {
			if s.fenceWaits[f.fence] == 0 {
				break
			}
			// Another goroutine still waits on the fence begin resets
			// (it is signalled: the wait is leaving); look again after.
			s.waiters.Wait()
			continue
		}
		// The slot's own fence, even with a timeline semaphore: the fence
		// is reset next, and only waiting on it proves its signal done.
		serial := f.serial
		if err := s.block(ctx, f.fence, 0); err != nil {
			return nil, s.blockFailed(ctx, "wait for frame", err)
		}
		if f.serial == serial { // else another BeginFrame took the slot meanwhile
			f.inFlight = false
		}
	}
	bt, err := s.collect()
	if err == nil {
		err = s.begin(f)
	}
	s.mu.Unlock()
	s.run(bt)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// begin resets the slot and begins its command buffer; s.mu is held.
func (s *Sync) begin(f *Frame) error {
	d := s.dev
	if err := d.ResetFence(f.fence); err != nil {
		return s.fail("reset frame fence", err)
	}
	if err := d.ResetCommandPool(f.pool); err != nil {
		return s.fail("reset frame command pool", err)
	}
	if err := d.BeginCommandBuffer(f.Cmd); err != nil {
		return s.fail("begin frame", err)
	}
	f.serial = s.next
	s.next++
	s.begun++
	s.recording = f
	return nil
}

// EndFrame ends and submits the frame, with the one-off submissions made
// while it was recorded before it.
//
// A failed submission is returned and leaves the Sync usable: the frame's
// serial is void, and what was deferred to it retires once the submissions
// before it complete (they are the last that may use it). Only a lost
// device (ErrDeviceLost) is for good. One-shots that travelled with the
// failed frame did not run either.
//
// After Close, EndFrame of the frame being recorded returns ErrClosed and
// destroys the frame and what was deferred to it (the teardown Close left
// to the recorder), with the errors of freeing them joined.
func (s *Sync) EndFrame(f *Frame) error { return s.EndFrameWith(f, nil, nil) }

// EndFrameWith is EndFrame with semaphores to wait on and signal (a
// swapchain's ImageAvailable and RenderFinished, say).
func (s *Sync) EndFrameWith(f *Frame, waits, signals []vk.SemaphoreSubmit) error {
	s.mu.Lock()
	if f == nil || s.recording != f {
		s.mu.Unlock()
		if s.closed.Load() {
			return ErrClosed
		}
		return ErrNotRecording
	}
	if s.closed.Load() {
		return s.endClosed(f)
	}
	s.recording = nil
	s.cmds = s.cmds[:0]
	for _, o := range s.batched {
		s.cmds = append(s.cmds, o.cmd)
		o.serial = f.serial
	}
	if len(s.waits) > 0 {
		s.allWaits = append(append(s.allWaits[:0], waits...), s.waits...)
		waits = s.allWaits
		s.waits = s.waits[:0]
	}
	err := s.dev.EndCommandBuffer(f.Cmd)
	if err != nil {
		err = s.fail("end frame", err)
		s.void(f.serial)
		if !s.lost {
			s.failed++
		}
	} else {
		s.cmds = append(s.cmds, f.Cmd)
		err = s.submit(f.serial, s.cmds, waits, signals, f.fence)
	}
	if err != nil {
		// Nothing reached the queue: the one-shots can be used again.
		s.idle = append(s.idle, s.batched...)
		s.batched = s.batched[:0]
		var bt *batch
		if s.lost {
			bt = s.drain()
		}
		s.mu.Unlock()
		s.run(bt)
		return err
	}
	s.inflight = append(s.inflight, s.batched...)
	s.batched = s.batched[:0]
	f.inFlight = true
	s.mu.Unlock()
	return nil
}

// endClosed is EndFrame of the frame that was being recorded when Close
// came; s.mu is held, and released.
func (s *Sync) endClosed(f *Frame) error {
	s.recording = nil
	s.waits = s.waits[:0]
	if !s.closeDone || s.leaked {
		// Close has not looked yet, and will destroy the frame and what
		// was deferred to it; or it could not wait for the GPU.
		s.mu.Unlock()
		return ErrClosed
	}
	bt := s.getBatch()
	if s.lost {
		s.retire.takeAll(^Serial(0), bt)
	} else {
		s.retire.takeClosed(^Serial(0), bt) // what waits on an app's timeline stays, as in Close
	}
	s.destroyFrame(f)
	s.mu.Unlock()
	s.run(bt)
	s.mu.Lock()
	err := s.retire.takeErrors()
	s.mu.Unlock()
	if err != nil {
		return errors.Join(ErrClosed, err)
	}
	return ErrClosed
}

// block waits for fence, or when it is 0 for the timeline to reach value,
// with s.mu released, in slices so that ctx and Close are honoured. s.mu is
// held on entry and on return. Close waits for every block to return before
// it destroys what they wait on. It returns nil, ErrClosed, ctx.Err() or
// the driver's error.
func (s *Sync) block(ctx context.Context, fence vk.Fence, value uint64) error {
	s.waiting++
	if fence != 0 {
		s.fenceWaits[fence]++
	}
	s.mu.Unlock()
	var err error
	for {
		if fence != 0 {
			err = s.dev.WaitFence(fence, waitSlice)
		} else {
			err = s.dev.WaitSemaphore(s.timeline, value, waitSlice)
		}
		if err == nil || !errors.Is(err, vk.ErrTimeout) {
			break
		}
		if s.closed.Load() {
			err = ErrClosed
			break
		}
		if ctx.Err() != nil {
			err = ctx.Err()
			break
		}
	}
	s.mu.Lock()
	s.waiting--
	if fence != 0 {
		if s.fenceWaits[fence]--; s.fenceWaits[fence] == 0 {
			delete(s.fenceWaits, fence)
			s.waiters.Broadcast() // a reset of this fence may go ahead
		}
	}
	if s.waiting == 0 && s.closed.Load() {
		s.waiters.Broadcast()
	}
	return err
}

// blockFailed turns an error of block into what the caller returns; s.mu
// is held, and released.
func (s *Sync) blockFailed(ctx context.Context, op string, err error) error {
	switch {
	case errors.Is(err, ErrClosed):
		s.mu.Unlock()
		return ErrClosed
	case ctx.Err() != nil && err == ctx.Err():
		s.mu.Unlock()
		return fmt.Errorf("framesync: %s: %w", op, err)
	}
	err = s.fail(op, err)
	bt, _ := s.collect()
	s.mu.Unlock()
	s.run(bt)
	return err
}

// submit hands cmds to the queue as serial; s.mu is held. When it fails,
// serial is void.
func (s *Sync) submit(serial Serial, cmds []vk.CommandBuffer, waits, signals []vk.SemaphoreSubmit, fence vk.Fence) error {
	if s.lost {
		s.void(serial)
		return ErrDeviceLost
	}
	if s.timeline != 0 {
		s.signals = append(append(s.signals[:0], signals...), vk.SemaphoreSubmit{Semaphore: s.timeline, Value: uint64(serial)})
		signals = s.signals
	}
	// A failed vkQueueSubmit submits nothing and leaves the command
	// buffers executable: try again a few times.
	var err error
	for try := 0; try < submitTries; try++ {
		if err = s.dev.Submit(cmds, waits, signals, fence); err == nil || errors.Is(err, vk.ErrDeviceLost) {
			break
		}
		s.retried++
	}
	if err != nil {
		err = s.fail("submit", err)
		s.void(serial)
		if !s.lost {
			s.failed++
		}
		return err
	}
	s.submitted, s.real = serial, serial
	if s.timeline == 0 {
		s.pending = append(s.pending, submission{serial: serial, fence: fence})
	}
	return nil
}

// void gives up on serial, the newest handed out, whose submission failed:
// nothing of it runs, so it completes when the submissions before it have
// (advance and waitTarget know). s.mu is held.
func (s *Sync) void(serial Serial) {
	s.submitted = serial
	if s.timeline == 0 {
		s.pending = append(s.pending, submission{serial: serial})
	}
}

// OneShot records a submission outside the frames — an upload, say — into
// a pooled command buffer, and returns the serial it completes with. While a
// frame is being recorded, the command buffer is submitted with that frame,
// before it, and shares its serial; otherwise it is submitted at once.
// record may be called from any goroutine; it runs without the Sync's lock.
// A failed submission is returned, and the Sync stays usable.
func (s *Sync) OneShot(record func(cmd vk.CommandBuffer) error) (Serial, error) {
	return s.OneShotAfter(nil, record)
}

// OneShotAfter is OneShot whose submission first waits, on the GPU, for
// each semaphore in waits to reach its value (a timeline semaphore) or be
// signalled (a binary one), at its stage: the point of an upload made on
// another queue, say. The host never waits. Batched with the frame being
// recorded, the frame's submission waits for them (they delay only the
// stages given). A barrier recorded in the one-shot whose source stages
// include a wait's stage extends the wait to every later submission on
// the queue (an execution dependency chain), as for a swapchain image.
func (s *Sync) OneShotAfter(waits []vk.SemaphoreSubmit, record func(cmd vk.CommandBuffer) error) (Serial, error) {
	o, err := s.takeOneShot()
	if err != nil {
		return 0, err
	}
	d := s.dev
	if err = d.ResetCommandPool(o.pool); err == nil {
		if err = d.BeginCommandBuffer(o.cmd); err == nil {
			if err = record(o.cmd); err == nil {
				err = d.EndCommandBuffer(o.cmd)
			}
		}
	}
	s.mu.Lock()
	if s.closed.Load() {
		// Close did not see o: it is ours to destroy, and never submitted.
		s.mu.Unlock()
		s.destroyOneShot(o)
		return 0, ErrClosed
	}
	if err != nil {
		s.idle = append(s.idle, o)
		s.mu.Unlock()
		return 0, fmt.Errorf("framesync: one-shot: %w", err)
	}
	if f := s.recording; f != nil {
		s.batched = append(s.batched, o)
		s.waits = append(s.waits, waits...)
		serial := f.serial
		s.mu.Unlock()
		return serial, nil
	}
	if err := s.usable(); err != nil {
		s.idle = append(s.idle, o)
		s.mu.Unlock()
		return 0, err
	}
	if o.fence != 0 {
		if err := d.ResetFence(o.fence); err != nil {
			s.idle = append(s.idle, o)
			err = s.fail("reset one-shot fence", err)
			s.mu.Unlock()
			return 0, err
		}
	}
	serial := s.next
	s.next++
	o.serial = serial
	s.cmds = append(s.cmds[:0], o.cmd)
	if err := s.submit(serial, s.cmds, waits, nil, o.fence); err != nil {
		s.idle = append(s.idle, o)
		s.mu.Unlock()
		return 0, err
	}
	s.inflight = append(s.inflight, o)
	s.mu.Unlock()
	return serial, nil
}

func (s *Sync) takeOneShot() (*oneShot, error) {
	s.mu.Lock()
	if err := s.usable(); err != nil {
		s.mu.Unlock()
		return nil, err
	}
	// The last idle one-shot whose fence no goroutine still waits on (a
	// Wait that found it in flight): OneShotAfter resets that fence. Once
	// idle, a one-shot is no longer a wait's target, so none starts.
	for i := len(s.idle) - 1; i >= 0; i-- {
		if o := s.idle[i]; o.fence == 0 || s.fenceWaits[o.fence] == 0 {
			s.idle = slices.Delete(s.idle, i, i+1)
			s.mu.Unlock()
			return o, nil
		}
	}
	s.mu.Unlock()
	d := s.dev
	o := &oneShot{}
	var err error
	if o.pool, err = d.CreateCommandPool(vk.CommandPoolTransient); err != nil {
		return nil, fmt.Errorf("framesync: one-shot pool: %w", err)
	}
	if o.cmd, err = d.AllocateCommandBuffer(o.pool); err == nil && s.timeline == 0 {
		o.fence, err = d.CreateFence(false)
	}
	if err != nil {
		d.DestroyCommandPool(o.pool)
		return nil, fmt.Errorf("framesync: one-shot: %w", err)
	}
	return o, nil
}

// Defer queues o for destruction once serial completes; if it already has,
// o is destroyed at once. Use the serial of the last submission that used
// o: a Frame's Serial, what OneShot returned, or Issued for "after
// everything handed out so far".
//
// Objects deferred to the frame being recorded wait for it even after a
// device loss. Defer refuses, and queues nothing (the caller keeps the
// object): after Close (ErrClosed), an object already queued (ErrDuplicate),
// a serial not handed out (ErrFutureSerial). After Close, Defer returns
// once Close has waited for the device: the caller may destroy o at once.
func (s *Sync) Defer(serial Serial, o Object) error {
	var u Use
	u[0] = uint64(serial)
	return s.deferUse(o, u, false)
}

// deferUse is Defer for every timeline: o waits until each has reached
// its value in u. strict refuses values on removed timelines (DeferAt's
// points); otherwise they count as reached.
func (s *Sync) deferUse(o Object, u Use, strict bool) error {
	now := s.now()
	s.mu.Lock()
	if s.closed.Load() {
		s.mu.Unlock()
		<-s.idled // what was submitted before Close is done: the caller may destroy o
		return ErrClosed
	}
	for i := 1; i < MaxTimelines; i++ {
		if u[i] == 0 {
			continue
		}
		if i >= s.nlines {
			s.mu.Unlock()
			return fmt.Errorf("%w: index %d of a Use (value %d)", ErrUnknownTimeline, i, u[i])
		}
		if strict && s.lines[i].removed.Load() {
			tl := Timeline{s.lines[i]}
			s.mu.Unlock()
			return fmt.Errorf("%w: %v", ErrTimelineRemoved, tl.At(u[i]))
		}
	}
	serial := Serial(u[0])
	if serial >= s.next {
		next := s.next
		s.mu.Unlock()
		return fmt.Errorf("%w: %d (next is %d)", ErrFutureSerial, serial, next)
	}
	if s.retire.queued(o) {
		s.mu.Unlock()
		return fmt.Errorf("%w: %s %q", ErrDuplicate, kindNames[o.kind], nameOr(o.name))
	}
	if !s.lost && serial > s.completed && serial <= s.submitted {
		// Submitted but not known complete: ask, so that an object whose
		// serial is done is destroyed now, not at the next Poll.
		_ = s.advance()
	}
	s.retire.done[0] = s.completed
	keep := s.recording != nil && serial == s.recording.serial
	line := s.retire.pending(&u)
	switch {
	case keep:
		s.retire.pushAt(0, u, o, s.begun, now)
	case !s.lost && line >= 0:
		s.retire.pushAt(line, u, o, s.begun, now)
	default:
		bt := s.getBatch()
		s.retire.single(serial, o, s.begun, now, bt)
		s.mu.Unlock()
		s.run(bt)
		return nil
	}
	s.mu.Unlock()
	return nil
}

// Poll retires everything whose serial the GPU has completed, without
// blocking: it reads the timeline semaphore, or the status of the fences of
// the submissions that may have completed since the last Poll. It costs what
// retires, not what is pending. It returns the number of objects destroyed.
func (s *Sync) Poll() (int, error) {
	s.mu.Lock()
	bt, err := s.collect()
	s.mu.Unlock()
	return s.run(bt), err
}

// collect advances the completed serial and takes what is due off the
// queue, to be destroyed by run once s.mu is released; s.mu is held. On a
// lost device it takes everything pending, without waiting.
func (s *Sync) collect() (*batch, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	if s.lost {
		return s.drain(), ErrDeviceLost
	}
	err := s.advance()
	if err == nil {
		err = s.advanceLines()
	}
	if err != nil {
		if s.lost {
			return s.drain(), err
		}
		return nil, err
	}
	done := 0
	for done < len(s.inflight) && s.inflight[done].serial <= s.completed {
		s.idle = append(s.idle, s.inflight[done])
		done++
	}
	if done > 0 {
		s.inflight = append(s.inflight[:0], s.inflight[done:]...)
	}
	s.retire.done[0] = s.completed
	if !s.retire.due() {
		return nil, nil
	}
	bt := s.getBatch()
	s.retire.takeDue(bt)
	return bt, nil
}

// drain takes everything queued but what was deferred to the frame being
// recorded (its recorder may still use it); s.mu is held.
func (s *Sync) drain() *batch {
	limit := ^Serial(0)
	if s.recording != nil {
		limit = s.recording.serial - 1
	}
	if s.retire.Len() == 0 {
		return nil
	}
	bt := s.getBatch()
	s.retire.takeAll(limit, bt)
	if len(bt.buckets) == 0 {
		s.batches = append(s.batches, bt)
		return nil
	}
	return bt
}

// getBatch is a free batch, stamped with the frame count; s.mu is held.
func (s *Sync) getBatch() *batch {
	var b *batch
	if n := len(s.batches); n > 0 {
		b = s.batches[n-1]
		s.batches = s.batches[:n-1]
	} else {
		b = &batch{}
	}
	b.frame = s.begun
	return b
}

// run destroys what collect, drain or single took, with s.mu released,
// then accounts for it. It returns the number of objects destroyed.
func (s *Sync) run(bt *batch) int {
	if bt == nil {
		return 0
	}
	n := s.retire.run(bt, s.now())
	s.mu.Lock()
	s.retire.finish(bt)
	s.batches = append(s.batches, bt)
	s.mu.Unlock()
	return n
}

// advance reads how far the GPU has got; s.mu is held. With nothing in
// flight it asks the driver nothing.
func (s *Sync) advance() error {
	if s.completed >= s.submitted {
		return nil
	}
	if s.timeline != 0 {
		v, err := s.dev.SemaphoreValue(s.timeline)
		if err != nil {
			return s.fail("read timeline", err)
		}
		if Serial(v) >= s.real {
			s.completed = s.submitted // and the void serials after it
		} else {
			s.completed = max(s.completed, Serial(v))
		}
		return nil
	}
	done := 0
	for ; done < len(s.pending); done++ {
		p := s.pending[done]
		if p.fence != 0 {
			signaled, err := s.dev.FenceSignaled(p.fence)
			if err != nil {
				s.pending = append(s.pending[:0], s.pending[done:]...)
				return s.fail("fence status", err)
			}
			if !signaled {
				break
			}
		}
		s.completed = p.serial
	}
	s.pending = append(s.pending[:0], s.pending[done:]...)
	return nil
}

// completeThrough records that the device finished everything up to
// target (it was waited idle); s.mu is held.
func (s *Sync) completeThrough(target Serial) {
	s.completed = max(s.completed, target)
	done := 0
	for done < len(s.pending) && s.pending[done].serial <= target {
		done++
	}
	s.pending = append(s.pending[:0], s.pending[done:]...)
}

// waitTarget is what to block on for serial: the first fence at or after
// it, or the timeline's value; a void serial after the last real
// submission is done with that one. s.mu is held.
func (s *Sync) waitTarget(serial Serial) (vk.Fence, uint64) {
	if s.timeline != 0 {
		return 0, uint64(min(serial, s.real))
	}
	var last vk.Fence
	for _, p := range s.pending {
		if p.fence == 0 {
			continue
		}
		if p.serial >= serial {
			return p.fence, 0
		}
		last = p.fence
	}
	return last, 0
}

// wait blocks until serial completes, ctx is done, the Sync is closed or
// the device is lost, and retires what is due. s.mu is not held.
func (s *Sync) wait(ctx context.Context, serial Serial) error {
	s.mu.Lock()
	for {
		var err error
		switch {
		case s.closed.Load():
			err = ErrClosed
		case s.lost:
			err = ErrDeviceLost
		case serial <= s.completed:
		case serial >= s.next:
			err = fmt.Errorf("%w: %d", ErrFutureSerial, serial)
		case serial > s.submitted:
			err = fmt.Errorf("%w: %d", ErrNotSubmitted, serial)
		}
		if err != nil {
			s.mu.Unlock()
			return err
		}
		bt, err := s.collect()
		if err != nil || serial <= s.completed {
			s.mu.Unlock()
			s.run(bt)
			return err
		}
		if bt != nil {
			s.mu.Unlock()
			s.run(bt)
			s.mu.Lock()
			continue
		}
		fence, value := s.waitTarget(serial)
		if fence == 0 && s.timeline == 0 {
			s.mu.Unlock()
			return fmt.Errorf("framesync: wait for serial %d: no submission to wait for", serial)
		}
		if err := s.block(ctx, fence, value); err != nil {
			return s.blockFailed(ctx, fmt.Sprintf("wait for serial %d", serial), err)
		}
	}
}

// Wait blocks until serial has completed (and retires what is due). A Close
// while it waits makes it return ErrClosed.
func (s *Sync) Wait(ctx context.Context, serial Serial) error { return s.wait(ctx, serial) }

// Flush waits until every submission made so far has completed and retires
// everything deferred to them. Objects deferred to the frame being recorded
// stay queued. Flush waits for the frame timeline only: what also waits on
// an app's timeline retires once that has passed too (the app waits for
// its own timelines; Flush and Poll then retire).
func (s *Sync) Flush(ctx context.Context) error {
	s.mu.Lock()
	target := s.submitted
	s.mu.Unlock()
	return s.wait(ctx, target)
}

// WaitIdle waits for the device to finish everything and retires all that
// was submitted.
func (s *Sync) WaitIdle() error {
	s.mu.Lock()
	if s.closed.Load() {
		s.mu.Unlock()
		return ErrClosed
	}
	if !s.lost {
		target := s.submitted
		s.mu.Unlock()
		err := s.dev.WaitIdle()
		s.mu.Lock()
		if s.closed.Load() {
			s.mu.Unlock()
			return ErrClosed
		}
		if err != nil {
			_ = s.fail("wait idle", err)
		} else {
			s.completeThrough(target)
		}
	}
	bt, err := s.collect()
	s.mu.Unlock()
	s.run(bt)
	return err
}

// usable reports whether submissions may be made; s.mu is held.
func (s *Sync) usable() error {
	switch {
	case s.closed.Load():
		return ErrClosed
	case s.lost:
		return ErrDeviceLost
	}
	return nil
}

// fail wraps a device error; a lost device marks the Sync lost, so that
// pending objects are destroyed without waiting and no later submission
// reaches the queue. s.mu is held.
func (s *Sync) fail(op string, err error) error {
	if errors.Is(err, vk.ErrDeviceLost) {
		s.lost = true
	}
	return fmt.Errorf("framesync: %s: %w", op, err)
}

// Lost reports whether the device was lost.
func (s *Sync) Lost() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lost
}

// Close waits for the device to be idle (unless it is lost), retires
// everything, and destroys the frames. It is idempotent (a second Close
// returns nil at once) and safe from any goroutine, at any time; after it,
// every method that returns an error returns ErrClosed.
//
// Close never waits for user code, only for the driver:
//   - Waits blocked in BeginFrame, Wait or Flush return ErrClosed within one
//     10 ms slice of their driver wait, and Close destroys no fence or
//     semaphore before they have.
//   - A frame being recorded belongs to its recorder until EndFrame. Close
//     destroys everything else; the frame's command pool, fence and
//     semaphores and the objects deferred to it are destroyed when its
//     EndFrame (or EndFrameWith) returns ErrClosed. Close names those
//     objects in an error wrapping ErrUnsubmitted, and logs the frame; a
//     recorder that gives up a frame calls EndFrame on it all the same.
//   - Defer after Close returns ErrClosed, once Close has waited for the
//     device: the caller keeps the object and may destroy it at once.
//   - Objects a concurrent Poll, Wait or BeginFrame has already taken off
//     the queue are destroyed by that call, which may return after Close.
//
// Objects deferred to a frame never submitted are destroyed too and named
// in an error wrapping ErrUnsubmitted. Objects that wait on an app's
// timeline beyond the value it has reached are not: the app may still
// submit the work that uses them, which Close cannot know. They are left
// alive, named in the same error; the app destroys them once its own
// submissions have run (or they leak, and the allocator names them).
// A second Close, concurrent or later, returns nil once the first has
// returned. Errors of Freer.Free since the last
// report are joined into the result. If the device cannot be waited for
// (and is not lost), nothing is destroyed: the error names what is left.
func (s *Sync) Close() error {
	s.mu.Lock()
	if s.closed.Load() {
		s.mu.Unlock()
		// Another Close is under way, or done: return once it has
		// finished, so that what the caller closes next (the allocator)
		// finds what this Sync retires retired.
		<-s.finished
		return nil
	}
	s.closed.Store(true)
	defer close(s.finished)
	for s.waiting > 0 {
		s.waiters.Wait()
	}
	if !s.lost {
		s.mu.Unlock()
		err := s.dev.WaitIdle()
		s.mu.Lock()
		if err != nil {
			err = s.fail("close: wait idle", err)
		}
		if err != nil && !s.lost {
			// The GPU may still run what was submitted: free nothing.
			s.closeDone, s.leaked = true, true
			left := s.retire.pendingAfter(0, s.lineName, true)
			s.mu.Unlock()
			close(s.idled)
			s.logger.Error("close could not wait for the device: objects left alive", "count", len(left), "objects", left)
			return fmt.Errorf("%w; left alive: %s", err, strings.Join(left, ", "))
		}
		s.completeThrough(s.submitted)
	}
	bt := s.getBatch()
	if !s.lost && s.advanceLines() == nil {
		// What the app's timelines reached is done; the rest never will be.
		s.retire.done[0] = s.completed
		s.retire.takeDue(bt)
	}
	// Everything submitted is done (or the device is lost). What is queued
	// beyond s.submitted was deferred to a frame never submitted, and what
	// waits on an app's timeline beyond its value to a submission never made.
	left := s.retire.pendingAfter(s.submitted, s.lineName, s.lost) // with the device, what waits on an app's timeline is listed below
	rec := s.recording
	var recIndex int
	var recSerial Serial
	limit := ^Serial(0)
	if rec != nil {
		recIndex, recSerial = rec.Index, rec.serial
		limit = rec.serial - 1
	}
	var alive []string
	if s.lost {
		s.retire.takeAll(limit, bt) // nothing will run any more
	} else {
		// What waits on an app's timeline beyond what it reached stays:
		// the app may still submit the work that uses it (Close cannot
		// know it will not).
		s.retire.takeClosed(limit, bt)
		alive = s.retire.pendingAfter(^Serial(0), s.lineName, true)
	}
	for _, f := range s.frames {
		if f != rec {
			s.destroyFrame(f)
		}
	}
	for _, list := range [][]*oneShot{s.idle, s.inflight, s.batched} {
		for _, o := range list {
			s.destroyOneShot(o)
		}
	}
	s.idle, s.inflight, s.batched, s.waits = nil, nil, nil, nil
	s.dev.DestroySemaphore(s.timeline)
	s.closeDone = true
	s.mu.Unlock()
	close(s.idled)
	s.run(bt)
	s.mu.Lock()
	freeErr := s.retire.takeErrors()
	s.mu.Unlock()

	var err error
	if len(left) > 0 {
		list := strings.Join(left, ", ")
		if rec != nil {
			err = fmt.Errorf("%w: %s; frame %d (serial %d) is still being recorded: they are destroyed when its EndFrame returns", ErrUnsubmitted, list, recIndex, recSerial)
		} else {
			err = fmt.Errorf("%w: %s", ErrUnsubmitted, list)
		}
		s.logger.Warn("objects deferred to a frame never submitted", "count", len(left), "objects", left)
	}
	if len(alive) > 0 {
		// Never destroyed by the Sync: the app destroys them once its own
		// submissions have run, or they leak (and the allocator names them).
		msg := fmt.Sprintf("waiting on the app's timelines, left alive as its later submissions may use them: %s", strings.Join(alive, ", "))
		if err == nil {
			err = fmt.Errorf("%w: %s", ErrUnsubmitted, msg)
		} else {
			err = fmt.Errorf("%w; %s", err, msg)
		}
		s.logger.Warn("objects waiting on the app's timelines left alive", "count", len(alive), "objects", alive)
	}
	if rec != nil {
		s.logger.Warn("closed while a frame is being recorded: it is destroyed when its EndFrame returns", "frame", recIndex, "serial", recSerial)
	}
	return errors.Join(err, freeErr)
}

// Completed is the newest serial known complete.
func (s *Sync) Completed() Serial {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.completed
}

// Submitted is the newest serial submitted. A serial whose submission
// failed counts as submitted (it is void: it completes with the ones
// before it).
func (s *Sync) Submitted() Serial {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.submitted
}

// Issued is the newest serial handed out: the frame being recorded (and
// the one-shots batched with it) included. Defer(s.Issued(), o) retires o
// after everything issued so far, once the frame being recorded, if any,
// has been submitted and completed. It is 0 before the first.
func (s *Sync) Issued() Serial {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.next - 1
}

// Stats is a snapshot of the retirement queue and the serials.
type Stats struct {
	Frames       uint64 // frames begun
	Issued       Serial // the newest serial handed out
	Submitted    Serial
	Completed    Serial
	Pending      int    // objects waiting for their serial
	PendingBytes uint64 // bytes of memory they hold
	Retired      uint64 // objects destroyed so far
	// LatencyFrames counts retired objects by frames from Defer to
	// destruction: index i is i frames, the last is that many or more.
	LatencyFrames [frameBuckets]uint64
	// LatencyTime counts them by time from Defer to destruction: index i
	// holds latencies in [2^(i-1), 2^i) ns.
	LatencyTime      [timeBuckets]uint64
	MaxLatencyFrames uint64
	MaxLatency       time.Duration
	Timeline         bool
	Lost             bool
	// SubmitRetries counts vkQueueSubmit calls tried again after a failure.
	SubmitRetries int
	// SubmitFailures counts frames and one-shots whose submission failed
	// every try, or whose command buffer could not be ended (not counting
	// a lost device's): their serials are void.
	SubmitFailures int
	// FreeErrors counts Freer.Free calls that returned an error; Close and
	// the EndFrame that finishes it return them.
	FreeErrors uint64
	// Closed reports whether Close was called.
	Closed bool
}

// Stats takes a snapshot.
func (s *Sync) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := &s.retire.stats
	return Stats{
		Frames: s.begun, Issued: s.next - 1, Submitted: s.submitted, Completed: s.completed,
		Pending: int(r.pending), PendingBytes: r.pendingBytes, Retired: r.retired,
		LatencyFrames: r.frames, LatencyTime: r.times,
		MaxLatencyFrames: r.maxFrames, MaxLatency: time.Duration(r.maxTime),
		Timeline: s.timeline != 0, Lost: s.lost, SubmitRetries: s.retried,
		SubmitFailures: s.failed, FreeErrors: r.freeErrors, Closed: s.closed.Load(),
	}
}
