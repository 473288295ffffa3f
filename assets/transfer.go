package assets

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/vkassets/vkassets/alloc"
	"github.com/vkassets/vkassets/framesync"
	"github.com/vkassets/vkassets/vk"
)

// UploadQueue is the queue staging copies run on.
type UploadQueue int

// Upload queues.
const (
	// UploadAuto (Options) is UploadTransfer where the device has a
	// dedicated transfer queue (vk.Options.TransferQueue on a device with
	// a transfer-only family) and timeline semaphores, else UploadGraphics.
	UploadAuto UploadQueue = iota
	// UploadGraphics records every upload into a framesync one-shot on
	// the Sync's queue.
	UploadGraphics
	// UploadTransfer records the staging copies into command buffers of
	// the transfer queue, which signal a timeline semaphore of the
	// Manager's; the graphics queue waits for it on the GPU.
	UploadTransfer
)

func (q UploadQueue) String() string {
	switch q {
	case UploadAuto:
		return "auto"
	case UploadGraphics:
		return "graphics"
	case UploadTransfer:
		return "transfer"
	}
	return fmt.Sprintf("UploadQueue(%d)", int(q))
}

// UploadQueue is the queue the manager's uploads run on: UploadGraphics
// or UploadTransfer.
func (m *Manager) UploadQueue() UploadQueue {
	if m.upload.xfer != nil {
		return UploadTransfer
	}
	return UploadGraphics
}

// transferQueue is the uploader's side of a dedicated transfer queue: a
// timeline semaphore its submissions signal, registered with the Sync so
// that staging buffers retire on it, and the command buffers they use.
type transferQueue struct {
	sem  vk.Semaphore
	line framesync.Timeline
	// families are the graphics and transfer families: resources that
	// uploads write are shared by both (concurrent sharing).
	families []uint32

	mu     sync.Mutex // guards the fields below, and orders submissions with their values
	next   uint64     // the newest value a submission signals
	idle   []transferCmd
	all    []transferCmd // every command buffer made: close destroys their pools
	closed bool
}

// transferCmd is a command buffer of the transfer queue's family, in a
// pool of its own (reset whole before each use).
type transferCmd struct {
	pool vk.CommandPool
	cmd  vk.CommandBuffer
}

// useTransfer sets u up to upload on the device's transfer queue (the
// main queue standing in where there is none: tests force that path on a
// one-queue device). Call it before any upload.
func (u *uploader) useTransfer() error {
	d := u.m.dev
	if !d.TimelineSemaphores() {
		return errors.New("assets: transfer uploads need timeline semaphores")
	}
	sem, err := d.CreateTimelineSemaphore(0)
	if err != nil {
		return fmt.Errorf("assets: transfer timeline: %w", err)
	}
	line, err := u.m.sync.AddTimeline("transfer uploads", sem)
	if err != nil {
		d.DestroySemaphore(sem)
		return fmt.Errorf("assets: transfer timeline: %w", err)
	}
	fams := []uint32{d.QueueFamily()}
	if f, ok := d.TransferQueueFamily(); ok && f != fams[0] {
		fams = append(fams, f)
	}
	u.xfer = &transferQueue{sem: sem, line: line, families: fams}
	return nil
}

// families is what a resource that uploads write is shared by: nil (the
// graphics queue's alone) without a transfer queue.
func (u *uploader) families() []uint32 {
	if u.xfer == nil {
		return nil
	}
	return u.xfer.families
}

func (x *transferQueue) take(d *vk.Device) (transferCmd, error) {
	x.mu.Lock()
	if n := len(x.idle); n > 0 {
		c := x.idle[n-1]
		x.idle = x.idle[:n-1]
		x.mu.Unlock()
		return c, nil
	}
	x.mu.Unlock()
	pool, err := d.CreateTransferCommandPool(vk.CommandPoolTransient)
	if err != nil {
		return transferCmd{}, err
	}
	cmd, err := d.AllocateCommandBuffer(pool)
	if err != nil {
		d.DestroyCommandPool(pool)
		return transferCmd{}, err
	}
	c := transferCmd{pool: pool, cmd: cmd}
	x.mu.Lock()
	if x.closed {
		x.mu.Unlock()
		d.DestroyCommandPool(pool)
		return transferCmd{}, ErrClosed
	}
	x.all = append(x.all, c)
	x.mu.Unlock()
	return c, nil
}

// put makes c usable again (its submission has run, or never was made).
func (x *transferQueue) put(c transferCmd) {
	x.mu.Lock()
	if !x.closed {
		x.idle = append(x.idle, c)
	}
	x.mu.Unlock()
}

// submit records cmd's copies and submits them to the transfer queue,
// signalling the next value of the timeline, which it returns.
func (x *transferQueue) submit(d *vk.Device, c transferCmd, record func(cmd vk.CommandBuffer)) (uint64, error) {
	err := d.ResetCommandPool(c.pool)
	if err == nil {
		if err = d.BeginCommandBuffer(c.cmd); err == nil {
			record(c.cmd)
			err = d.EndCommandBuffer(c.cmd)
		}
	}
	if err != nil {
		return 0, err
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.closed {
		return 0, ErrClosed
	}
	v := x.next + 1
	if err := d.SubmitTransfer([]vk.CommandBuffer{c.cmd}, nil,
		[]vk.SemaphoreSubmit{{Semaphore: x.sem, Value: v, Stage: vk.StageAllCommands}}, 0); err != nil {
		return 0, err
	}
	x.next = v
	return v, nil
}

// upload runs an upload from src. Without a transfer queue, copies and then
// after are recorded into one framesync one-shot (xfer false). With one,
// copies (xfer true: only what a transfer queue may record) is submitted
// there, signalling a new point of the transfer timeline at which src
// retires, and after into a one-shot whose submission waits for that
// point at stage, on the GPU. after must record a barrier whose source
// stages include stage, so that every later submission of the graphics
// queue is ordered after the copies. It returns the serial of the
// graphics side: the upload has run once it completes.
func (u *uploader) upload(src vk.Buffer, mem alloc.Allocation, copies func(cmd vk.CommandBuffer, xfer bool),
	stage vk.PipelineStage, after func(cmd vk.CommandBuffer, xfer bool)) (framesync.Serial, error) {
	x := u.xfer
	if x == nil {
		serial, err := u.m.sync.OneShot(func(cmd vk.CommandBuffer) error {
			copies(cmd, false)
			after(cmd, false)
			return nil
		})
		return u.retire(serial, err, src, mem)
	}
	d := u.m.dev
	c, err := x.take(d)
	if err != nil {
		_ = u.m.alloc.DestroyBuffer(src, mem)
		return 0, fmt.Errorf("upload: transfer command buffer: %w", err)
	}
	v, err := x.submit(d, c, func(cmd vk.CommandBuffer) { copies(cmd, true) })
	if err != nil {
		x.put(c)
		_ = u.m.alloc.DestroyBuffer(src, mem)
		return 0, fmt.Errorf("upload: transfer queue: %w", err)
	}
	point := x.line.At(v)
	if err := u.m.sync.DeferAt(framesync.Func(func() { x.put(c) }), point); err != nil {
		// The Sync is closed, and waited for the device: c is idle.
		x.put(c)
	}
	if err := u.m.sync.DeferAt(framesync.Buffer(src, mem).Named("staging"), point); err != nil {
		_ = d.WaitSemaphore(x.sem, v, 5*time.Second)
		_ = u.m.alloc.DestroyBuffer(src, mem)
		return 0, fmt.Errorf("upload: %w", err)
	}
	serial, err := u.m.sync.OneShotAfter([]vk.SemaphoreSubmit{{Semaphore: x.sem, Value: v, Stage: stage}},
		func(cmd vk.CommandBuffer) error {
			after(cmd, true)
			return nil
		})
	if err != nil {
		// The caller destroys what the copies write: not before they ran.
		if werr := d.WaitSemaphore(x.sem, v, 5*time.Second); werr != nil {
			u.m.logger.Error("assets: waiting for a transfer after a failed one-shot", "err", werr)
		}
		return 0, fmt.Errorf("upload: %w", err)
	}
	return serial, nil
}

// close ends the transfer timeline once the GPU has passed every upload
// (the graphics one-shots issued so far and the transfer point last
// signalled): the command pools go, the timeline is removed from the
// Sync, its semaphore destroyed. ring is closed first.
func (x *transferQueue) close(u *uploader, closeRing func()) error {
	s, d := u.m.sync, u.m.dev
	end := func() {
		closeRing()
		x.mu.Lock()
		x.closed = true
		all := x.all
		x.all, x.idle = nil, nil
		x.mu.Unlock()
		for _, c := range all {
			d.DestroyCommandPool(c.pool)
		}
		if err := s.RemoveTimeline(x.line); err != nil && !errors.Is(err, framesync.ErrClosed) {
			u.m.logger.Error("assets: transfer timeline", "err", err)
			return // it stays registered: its semaphore must outlive that
		}
		d.DestroySemaphore(x.sem)
	}
	_, _ = s.Poll()
	x.mu.Lock()
	last := x.next
	x.mu.Unlock()
	err := s.DeferAt(framesync.Func(end), s.FrameTimeline().At(uint64(s.Issued())), x.line.At(last))
	if err == nil {
		return nil
	}
	// The Sync is closed: it waited for the device.
	end()
	return nil
}
