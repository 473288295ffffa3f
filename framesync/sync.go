package framesync

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
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
	// ErrClosed: the Sync was closed.
	ErrClosed = errors.New("framesync: closed")
	// ErrUnsubmitted: Close found objects deferred to a frame that was never
	// submitted; they were destroyed, and the error names them.
	ErrUnsubmitted = errors.New("framesync: objects deferred to a frame that was never submitted")
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

// submission is one in flight, in fence mode.
type submission struct {
	serial Serial
	fence  vk.Fence
}

// Sync is a queue's frames in flight, its submission serials and its
// retirement queue. It is safe for concurrent use: loads may submit uploads
// and defer objects from other goroutines while one goroutine runs frames.
type Sync struct {
	dev      Device
	logger   *slog.Logger
	clock    func() time.Time
	timeline vk.Semaphore // 0 in fence mode

	mu        sync.Mutex // guards the fields below
	frames    []*Frame
	begun     uint64 // frames begun
	recording *Frame
	next      Serial // the next serial to hand out
	submitted Serial // the newest serial submitted
	completed Serial // the newest serial known complete
	pending   []submission
	inflight  []*oneShot // submitted one-shots, by serial
	batched   []*oneShot // recorded during a frame: submitted with it
	idle      []*oneShot
	cmds      []vk.CommandBuffer // scratch for Submit
	signals   []vk.SemaphoreSubmit
	retire    *RetireQueue
	lost      bool
	broken    error // a submission that failed every try without losing the device
	retried   int   // submissions tried again after a failure
	closed    bool
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
			s.destroyObjects()
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

// Timeline reports whether completion comes from a timeline semaphore
// (else from fences).
func (s *Sync) Timeline() bool { return s.timeline != 0 }

// FramesInFlight is the size of the ring.
func (s *Sync) FramesInFlight() int { return len(s.frames) }

// now is the clock in ns for latency statistics.
func (s *Sync) now() int64 { return s.clock().UnixNano() }

// BeginFrame takes the next slot of the ring, waiting only until the GPU has
// finished that slot's previous frame, retires what is due, and begins the
// slot's command buffer.
func (s *Sync) BeginFrame(ctx context.Context) (*Frame, error) {
	s.mu.Lock()
	if err := s.usable(); err != nil {
		s.mu.Unlock()
		return nil, err
	}
	if s.recording != nil {
		s.mu.Unlock()
		return nil, ErrFrameRecording
	}
	f := s.frames[s.begun%uint64(len(s.frames))]
	if f.inFlight {
		// The slot's own fence, even with a timeline semaphore: the fence
		// is reset next, and only waiting on it proves its signal done.
		s.mu.Unlock()
		if err := s.waitFence(ctx, f.fence); err != nil {
			return nil, err
		}
		s.mu.Lock()
		f.inFlight = false
	}
	defer s.mu.Unlock()
	if _, err := s.poll(); err != nil {
		return nil, err
	}
	d := s.dev
	if err := d.ResetFence(f.fence); err != nil {
		return nil, s.fail("reset frame fence", err)
	}
	if err := d.ResetCommandPool(f.pool); err != nil {
		return nil, s.fail("reset frame command pool", err)
	}
	if err := d.BeginCommandBuffer(f.Cmd); err != nil {
		return nil, s.fail("begin frame", err)
	}
	f.serial = s.next
	s.next++
	s.begun++
	s.recording = f
	return f, nil
}

// EndFrame ends and submits the frame, with the one-off submissions made
// while it was recorded before it.
func (s *Sync) EndFrame(f *Frame) error { return s.EndFrameWith(f, nil, nil) }

// EndFrameWith is EndFrame with semaphores to wait on and signal (a
// swapchain's ImageAvailable and RenderFinished, say).
func (s *Sync) EndFrameWith(f *Frame, waits, signals []vk.SemaphoreSubmit) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.recording != f || f == nil {
		return ErrNotRecording
	}
	s.recording = nil
	if err := s.dev.EndCommandBuffer(f.Cmd); err != nil {
		return s.fail("end frame", err)
	}
	s.cmds = s.cmds[:0]
	for _, o := range s.batched {
		s.cmds = append(s.cmds, o.cmd)
		o.serial = f.serial
		s.inflight = append(s.inflight, o)
	}
	s.batched = s.batched[:0]
	s.cmds = append(s.cmds, f.Cmd)
	if err := s.submit(f.serial, s.cmds, waits, signals, f.fence); err != nil {
		return err
	}
	f.inFlight = true
	return nil
}

// waitFence waits for a frame's fence, in slices so that ctx is honoured;
// s.mu is not held.
func (s *Sync) waitFence(ctx context.Context, fence vk.Fence) error {
	for {
		err := s.dev.WaitFence(fence, 10*time.Millisecond)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, vk.ErrTimeout):
			if ctx.Err() != nil {
				return fmt.Errorf("framesync: wait for frame: %w", ctx.Err())
			}
		default:
			s.mu.Lock()
			err = s.fail("wait for frame", err)
			_, _ = s.poll()
			s.mu.Unlock()
			return err
		}
	}
}

// submit hands cmds to the queue as serial; s.mu is held.
func (s *Sync) submit(serial Serial, cmds []vk.CommandBuffer, waits, signals []vk.SemaphoreSubmit, fence vk.Fence) error {
	if s.lost {
		return ErrDeviceLost
	}
	if s.timeline != 0 {
		s.signals = append(append(s.signals[:0], signals...), vk.SemaphoreSubmit{Semaphore: s.timeline, Value: uint64(serial)})
		signals = s.signals
	}
	// A failed vkQueueSubmit submits nothing and leaves the command
	// buffers executable: try again a few times, because the serial has
	// been handed out and the ones after it depend on it completing.
	var err error
	for try := 0; try < submitTries; try++ {
		if err = s.dev.Submit(cmds, waits, signals, fence); err == nil || errors.Is(err, vk.ErrDeviceLost) {
			break
		}
		s.retried++
	}
	if err != nil {
		err = s.fail("submit", err)
		if !s.lost {
			// The serial will never complete: the order of completions is
			// broken for good.
			s.broken = err
		}
		return err
	}
	s.submitted = serial
	if s.timeline == 0 {
		s.pending = append(s.pending, submission{serial: serial, fence: fence})
	}
	return nil
}

// OneShot records a submission outside the frames — an upload, say — into
// a pooled command buffer, and returns the serial it completes with. While a
// frame is being recorded, the command buffer is submitted with that frame,
// before it, and shares its serial; otherwise it is submitted at once.
// record may be called from any goroutine.
func (s *Sync) OneShot(record func(cmd vk.CommandBuffer) error) (Serial, error) {
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
	defer s.mu.Unlock()
	if err != nil {
		s.idle = append(s.idle, o)
		return 0, fmt.Errorf("framesync: one-shot: %w", err)
	}
	if f := s.recording; f != nil {
		s.batched = append(s.batched, o)
		return f.serial, nil
	}
	if err := s.usable(); err != nil {
		s.idle = append(s.idle, o)
		return 0, err
	}
	serial := s.next
	s.next++
	o.serial = serial
	if o.fence != 0 {
		if err := d.ResetFence(o.fence); err != nil {
			s.idle = append(s.idle, o)
			return 0, s.fail("reset one-shot fence", err)
		}
	}
	s.cmds = append(s.cmds[:0], o.cmd)
	if err := s.submit(serial, s.cmds, nil, nil, o.fence); err != nil {
		s.idle = append(s.idle, o)
		return 0, err
	}
	s.inflight = append(s.inflight, o)
	return serial, nil
}

func (s *Sync) takeOneShot() (*oneShot, error) {
	s.mu.Lock()
	if err := s.usable(); err != nil {
		s.mu.Unlock()
		return nil, err
	}
	if n := len(s.idle); n > 0 {
		o := s.idle[n-1]
		s.idle = s.idle[:n-1]
		s.mu.Unlock()
		return o, nil
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
// o: a Frame's Serial, or what OneShot returned.
func (s *Sync) Defer(serial Serial, o Object) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if serial >= s.next {
		return fmt.Errorf("%w: %d (next is %d)", ErrFutureSerial, serial, s.next)
	}
	if !s.lost && serial > s.completed && serial <= s.submitted {
		// Submitted but not known complete: ask, so that an object whose
		// serial is done is destroyed now, not at the next Poll.
		_ = s.advance()
	}
	if s.lost || serial <= s.completed {
		s.retire.destroyNow(o, s.begun, s.now())
		return nil
	}
	s.retire.Push(serial, o, s.begun, s.now())
	return nil
}

// Poll retires everything whose serial the GPU has completed, without
// blocking: it reads the timeline semaphore, or the status of the fences of
// the submissions that may have completed since the last Poll. It costs what
// retires, not what is pending. It returns the number of objects destroyed.
func (s *Sync) Poll() (int, error) {
	s.mu.Lock()
	n, err := s.poll()
	s.mu.Unlock()
	return n, err
}

// poll advances the completed serial and retires; s.mu is held. On a lost
// device it destroys everything pending, without waiting.
func (s *Sync) poll() (int, error) {
	if s.lost {
		return s.retire.Drain(s.begun, s.now()), ErrDeviceLost
	}
	if err := s.advance(); err != nil {
		if s.lost {
			return s.retire.Drain(s.begun, s.now()), err
		}
		return 0, err
	}
	done := 0
	for done < len(s.inflight) && s.inflight[done].serial <= s.completed {
		s.idle = append(s.idle, s.inflight[done])
		done++
	}
	if done > 0 {
		s.inflight = append(s.inflight[:0], s.inflight[done:]...)
	}
	if !s.retire.Due(s.completed) {
		return 0, nil // the clock is read only when something retires
	}
	return s.retire.Retire(s.completed, s.begun, s.now()), nil
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
		s.completed = max(s.completed, Serial(v))
		return nil
	}
	done := 0
	for ; done < len(s.pending); done++ {
		p := s.pending[done]
		signaled, err := s.dev.FenceSignaled(p.fence)
		if err != nil {
			s.pending = append(s.pending[:0], s.pending[done:]...)
			return s.fail("fence status", err)
		}
		if !signaled {
			break
		}
		s.completed = p.serial
	}
	s.pending = append(s.pending[:0], s.pending[done:]...)
	return nil
}

// wait blocks until serial completes, ctx is done, or the device is lost.
// s.mu is not held.
func (s *Sync) wait(ctx context.Context, serial Serial) error {
	s.mu.Lock()
	var fence vk.Fence
	switch {
	case s.lost:
		s.mu.Unlock()
		return ErrDeviceLost
	case serial <= s.completed:
		s.mu.Unlock()
		return nil
	case serial >= s.next:
		s.mu.Unlock()
		return fmt.Errorf("%w: %d", ErrFutureSerial, serial)
	case serial > s.submitted:
		s.mu.Unlock()
		return fmt.Errorf("%w: %d", ErrNotSubmitted, serial)
	}
	if s.timeline == 0 {
		for _, p := range s.pending {
			if p.serial >= serial {
				fence = p.fence
				break
			}
		}
	}
	s.mu.Unlock()
	for {
		var err error
		if fence != 0 {
			err = s.dev.WaitFence(fence, 10*time.Millisecond)
		} else {
			err = s.dev.WaitSemaphore(s.timeline, uint64(serial), 10*time.Millisecond)
		}
		switch {
		case err == nil:
			s.mu.Lock()
			_, err = s.poll()
			s.mu.Unlock()
			return err
		case errors.Is(err, vk.ErrTimeout):
			if ctx.Err() != nil {
				return fmt.Errorf("framesync: wait for serial %d: %w", serial, ctx.Err())
			}
		default:
			s.mu.Lock()
			err = s.fail("wait", err)
			_, _ = s.poll()
			s.mu.Unlock()
			return err
		}
	}
}

// Wait blocks until serial has completed (and retires what is due).
func (s *Sync) Wait(ctx context.Context, serial Serial) error { return s.wait(ctx, serial) }

// Flush waits until every submission made so far has completed and retires
// everything deferred to them. Objects deferred to the frame being recorded
// stay queued.
func (s *Sync) Flush(ctx context.Context) error {
	s.mu.Lock()
	target := s.submitted
	s.mu.Unlock()
	if err := s.wait(ctx, target); err != nil {
		return err
	}
	_, err := s.Poll()
	return err
}

// WaitIdle waits for the device to finish everything and retires all that
// was submitted.
func (s *Sync) WaitIdle() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.lost {
		if err := s.dev.WaitIdle(); err != nil {
			_ = s.fail("wait idle", err)
		} else {
			s.completed = s.submitted
			s.pending = s.pending[:0]
		}
	}
	_, err := s.poll()
	return err
}

// usable reports whether submissions may be made; s.mu is held.
func (s *Sync) usable() error {
	switch {
	case s.closed:
		return ErrClosed
	case s.lost:
		return ErrDeviceLost
	case s.broken != nil:
		return fmt.Errorf("framesync: unusable after a failed submission: %w", s.broken)
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
// everything, and destroys the frames. Objects that were deferred to a frame
// never submitted are destroyed too and named in an error wrapping
// ErrUnsubmitted. Close is idempotent.
func (s *Sync) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	if f := s.recording; f != nil {
		_ = s.dev.EndCommandBuffer(f.Cmd)
		s.recording = nil
	}
	s.mu.Unlock()
	_ = s.WaitIdle()
	s.mu.Lock()
	defer s.mu.Unlock()
	_, _ = s.poll()
	left := s.retire.Pending()
	s.retire.Drain(s.begun, s.now())
	s.destroyObjects()
	if len(left) > 0 {
		s.logger.Warn("objects deferred to a frame never submitted", "count", len(left), "objects", left)
		return fmt.Errorf("%w: %s", ErrUnsubmitted, strings.Join(left, ", "))
	}
	return nil
}

func (s *Sync) destroyObjects() {
	for _, f := range s.frames {
		s.destroyFrame(f)
	}
	s.frames = nil
	for _, list := range [][]*oneShot{s.idle, s.inflight, s.batched} {
		for _, o := range list {
			s.dev.DestroyFence(o.fence)
			s.dev.DestroyCommandPool(o.pool)
		}
	}
	s.idle, s.inflight, s.batched = nil, nil, nil
	s.dev.DestroySemaphore(s.timeline)
	s.timeline = 0
}

// Completed is the newest serial known complete.
func (s *Sync) Completed() Serial {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.completed
}

// Submitted is the newest serial submitted.
func (s *Sync) Submitted() Serial {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.submitted
}

// Stats is a snapshot of the retirement queue and the serials.
type Stats struct {
	Frames       uint64 // frames begun
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
}

// Stats takes a snapshot.
func (s *Sync) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := &s.retire.stats
	return Stats{
		Frames: s.begun, Submitted: s.submitted, Completed: s.completed,
		Pending: int(r.pending), PendingBytes: r.pendingBytes, Retired: r.retired,
		LatencyFrames: r.frames, LatencyTime: r.times,
		MaxLatencyFrames: r.maxFrames, MaxLatency: time.Duration(r.maxTime),
		Timeline: s.timeline != 0, Lost: s.lost, SubmitRetries: s.retried,
	}
}
