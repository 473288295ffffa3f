package framesync_test

import (
	"fmt"
	"sync"
	"time"

	"github.com/vkassets/vkassets/alloc"
	"github.com/vkassets/vkassets/vk"
)

// fakeDev is a simulated device in plain Go: timeline semaphores are
// counters, fences flags, and the queue a list of submissions that the test
// completes one at a time (a blocking wait completes what it waits for, as
// the GPU would get there). It refuses every use of a destroyed fence or
// semaphore and every second destruction, and asks onDestroy whether an
// object may go now: the checks of the validation layer, without one.
type fakeDev struct {
	mu       sync.Mutex
	next     uint64
	sems     map[vk.Semaphore]uint64 // timeline semaphores alive: their value
	fences   map[vk.Fence]bool       // fences alive: signalled
	dead     map[uint64]string       // destroyed handles, by what they were
	queue    []fakeSub
	lost     bool
	errs     []string
	timeline bool
	subsDone uint64 // submissions completed
	// onDestroy is asked, with mu released, whether the buffer or closure
	// with this handle may be destroyed now; it returns why not, or "".
	onDestroy func(handle uint64) string
}

type fakeSub struct {
	signals []vk.SemaphoreSubmit
	fence   vk.Fence
}

func newFakeDev(timeline bool) *fakeDev {
	return &fakeDev{next: 1 << 20, sems: map[vk.Semaphore]uint64{}, fences: map[vk.Fence]bool{},
		dead: map[uint64]string{}, timeline: timeline}
}

func (d *fakeDev) errorf(format string, args ...any) {
	d.errs = append(d.errs, fmt.Sprintf(format, args...))
}

// Errors are the misuses seen so far; mu is not held.
func (d *fakeDev) Errors() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.errs...)
}

func (d *fakeDev) handle() uint64 { d.next++; return d.next }

// complete runs the oldest submission; mu is held.
func (d *fakeDev) complete() bool {
	if len(d.queue) == 0 {
		return false
	}
	s := d.queue[0]
	d.queue = d.queue[1:]
	d.subsDone++
	for _, sig := range s.signals {
		if _, ok := d.sems[sig.Semaphore]; ok {
			d.sems[sig.Semaphore] = max(d.sems[sig.Semaphore], sig.Value)
		}
	}
	if s.fence != 0 {
		if _, ok := d.fences[s.fence]; ok {
			d.fences[s.fence] = true
		}
	}
	return true
}

// Step completes the oldest submission.
func (d *fakeDev) Step() bool { d.mu.Lock(); defer d.mu.Unlock(); return d.complete() }

// Signal is a host signal of a timeline semaphore (vkSignalSemaphore).
func (d *fakeDev) Signal(s vk.Semaphore, v uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.sems[s] = max(d.sems[s], v)
}

// SignalFenceNow signals a fence from the host, as a finished submission.
func (d *fakeDev) SignalFenceNow(f vk.Fence) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.fences[f]; ok {
		d.fences[f] = true
	}
}

func (d *fakeDev) Value(s vk.Semaphore) uint64 { d.mu.Lock(); defer d.mu.Unlock(); return d.sems[s] }

func (d *fakeDev) SetLost() { d.mu.Lock(); d.lost = true; d.mu.Unlock() }

var errFakeLost = &vk.Error{Op: "fake", Result: vk.ErrorDeviceLostCode}

func (d *fakeDev) TimelineSemaphores() bool { return d.timeline }

func (d *fakeDev) WaitIdle() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.lost {
		return errFakeLost
	}
	for d.complete() {
	}
	return nil
}

func (d *fakeDev) CreateFence(signaled bool) (vk.Fence, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	f := vk.Fence(d.handle())
	d.fences[f] = signaled
	return f, nil
}

func (d *fakeDev) DestroyFence(f vk.Fence) {
	if f == 0 {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.fences[f]; !ok {
		d.errorf("destroy fence %d: not alive (%s)", f, d.dead[uint64(f)])
		return
	}
	for _, s := range d.queue {
		if s.fence == f && !d.lost { // after a loss the queue never finishes: destroying is allowed
			d.errorf("destroy fence %d: a pending submission signals it", f)
		}
	}
	delete(d.fences, f)
	d.dead[uint64(f)] = "fence"
}

func (d *fakeDev) ResetFence(f vk.Fence) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.fences[f]; !ok {
		d.errorf("reset fence %d: not alive", f)
		return nil
	}
	d.fences[f] = false
	return nil
}

func (d *fakeDev) FenceSignaled(f vk.Fence) (bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.lost {
		return false, errFakeLost
	}
	s, ok := d.fences[f]
	if !ok {
		d.errorf("fence status of %d: not alive (%s)", f, d.dead[uint64(f)])
	}
	return s, nil
}

func (d *fakeDev) WaitFence(f vk.Fence, timeout time.Duration) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.lost {
		return errFakeLost
	}
	for {
		s, ok := d.fences[f]
		if !ok {
			d.errorf("wait for fence %d: not alive", f)
			return nil
		}
		if s {
			return nil
		}
		if !d.complete() {
			return vk.ErrTimeout
		}
	}
}

func (d *fakeDev) CreateSemaphore() (vk.Semaphore, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return vk.Semaphore(d.handle()), nil
}

func (d *fakeDev) CreateTimelineSemaphore(initial uint64) (vk.Semaphore, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := vk.Semaphore(d.handle())
	d.sems[s] = initial
	return s, nil
}

func (d *fakeDev) DestroySemaphore(s vk.Semaphore) {
	if s == 0 {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.sems[s]; !ok {
		d.errorf("destroy semaphore %d: not alive", s)
		return
	}
	delete(d.sems, s)
	d.dead[uint64(s)] = "semaphore"
}

func (d *fakeDev) SemaphoreValue(s vk.Semaphore) (uint64, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.lost {
		return 0, errFakeLost
	}
	v, ok := d.sems[s]
	if !ok {
		d.errorf("value of semaphore %d: not alive (%s)", s, d.dead[uint64(s)])
	}
	return v, nil
}

func (d *fakeDev) WaitSemaphore(s vk.Semaphore, value uint64, timeout time.Duration) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.lost {
		return errFakeLost
	}
	for {
		v, ok := d.sems[s]
		if !ok {
			d.errorf("wait for semaphore %d: not alive", s)
			return nil
		}
		if v >= value {
			return nil
		}
		if !d.complete() {
			return vk.ErrTimeout
		}
	}
}

func (d *fakeDev) CreateCommandPool(vk.CommandPoolFlags) (vk.CommandPool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return vk.CommandPool(d.handle()), nil
}
func (d *fakeDev) DestroyCommandPool(vk.CommandPool)     {}
func (d *fakeDev) ResetCommandPool(vk.CommandPool) error { return nil }
func (d *fakeDev) AllocateCommandBuffer(vk.CommandPool) (vk.CommandBuffer, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return vk.CommandBuffer(uintptr(d.handle())), nil
}
func (d *fakeDev) BeginCommandBuffer(vk.CommandBuffer) error { return nil }
func (d *fakeDev) EndCommandBuffer(vk.CommandBuffer) error   { return nil }

func (d *fakeDev) Submit(cmds []vk.CommandBuffer, waits, signals []vk.SemaphoreSubmit, fence vk.Fence) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.lost {
		return errFakeLost
	}
	d.queue = append(d.queue, fakeSub{signals: append([]vk.SemaphoreSubmit(nil), signals...), fence: fence})
	return nil
}

func (d *fakeDev) DestroyImageView(vk.ImageView) {}
func (d *fakeDev) DestroySampler(vk.Sampler)     {}
func (d *fakeDev) DestroyImage(vk.Image)         {}
func (d *fakeDev) DestroyBuffer(b vk.Buffer)     { d.destroyed(uint64(b), "buffer") }

// Free is the Freer of the buffers' memory: it is checked as the buffer.
func (d *fakeDev) Free(a alloc.Allocation) error {
	d.destroyed(uint64(a.Memory), "memory")
	return nil
}

func (d *fakeDev) destroyed(h uint64, what string) {
	d.mu.Lock()
	key := h
	if what == "memory" {
		key |= 1 << 62
	}
	if prev, ok := d.dead[key]; ok {
		d.errorf("%s %d destroyed twice (%s)", what, h, prev)
		d.mu.Unlock()
		return
	}
	d.dead[key] = what
	fn := d.onDestroy
	d.mu.Unlock()
	if fn != nil {
		if why := fn(h); why != "" {
			d.mu.Lock()
			d.errorf("%s %d destroyed early: %s", what, h, why)
			d.mu.Unlock()
		}
	}
}
