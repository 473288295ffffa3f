package framesync

import (
	"fmt"
	"math/bits"

	"github.com/vkassets/vkassets/alloc"
	"github.com/vkassets/vkassets/vk"
)

// Serial numbers queue submissions: every submission made through a Sync
// gets the next one, and the GPU completes them in order.
type Serial uint64

// kind is an object's type, in destruction order: views before the images
// they view, images and buffers before the memory they are bound to.
type kind uint8

const (
	kindView kind = iota
	kindSampler
	kindImage
	kindBuffer
	kindMemory
	kindFunc
	kindCount
)

var kindNames = [kindCount]string{"image view", "sampler", "image", "buffer", "memory", "func"}

// Object is something to destroy once the GPU has finished with it. Make
// one with ImageView, Sampler, Image, Buffer, Memory or Func.
type Object struct {
	kind   kind
	handle uint64
	mem    alloc.Allocation // Image and Buffer: their memory, freed after them
	fn     func()
	name   string
}

// ImageView is a view to destroy.
func ImageView(v vk.ImageView) Object { return Object{kind: kindView, handle: uint64(v)} }

// Sampler is a sampler to destroy.
func Sampler(s vk.Sampler) Object { return Object{kind: kindSampler, handle: uint64(s)} }

// Image is an image to destroy and its memory (zero for none) to free after it.
func Image(img vk.Image, mem alloc.Allocation) Object {
	return Object{kind: kindImage, handle: uint64(img), mem: mem}
}

// Buffer is a buffer to destroy and its memory (zero for none) to free after it.
func Buffer(b vk.Buffer, mem alloc.Allocation) Object {
	return Object{kind: kindBuffer, handle: uint64(b), mem: mem}
}

// Memory is an allocation to free (staging space, say).
func Memory(a alloc.Allocation) Object { return Object{kind: kindMemory, mem: a} }

// Func is a closure to run, after every Vulkan object due at the same time.
func Func(f func()) Object { return Object{kind: kindFunc, fn: f} }

// Named gives the object a debug name for reports.
func (o Object) Named(name string) Object { o.name = name; return o }

// item is one queued destruction.
type item struct {
	handle uint64
	mem    alloc.Allocation
	fn     func()
	name   string
	frame  uint64 // the frame count when deferred
	at     int64  // the clock (ns) when deferred
}

// bucket holds what is due at one serial, by kind.
type bucket struct {
	serial Serial
	items  [kindCount][]item
}

func (b *bucket) len() int {
	n := 0
	for _, s := range b.items {
		n += len(s)
	}
	return n
}

// RetireQueue holds objects until the serial of their last use completes:
// Dawn's SerialQueue, one bucket per serial, each split by kind so that
// destruction follows the type order. Retire touches only the buckets that
// are due: its cost grows with what retires, not with what is pending.
//
// A RetireQueue is not safe for concurrent use; Sync guards its own.
type RetireQueue struct {
	dst   Destroyer
	freer Freer

	ring  []*bucket // circular, by serial, ascending; len is a power of two
	head  int
	n     int
	spare []*bucket // emptied buckets, for reuse
	due   []*bucket // scratch for Retire

	stats retireStats
}

type retireStats struct {
	pending, pendingBytes uint64
	retired               uint64
	frames                [frameBuckets]uint64
	times                 [timeBuckets]uint64
	maxFrames             uint64
	maxTime               int64
}

const (
	frameBuckets = 18 // 0, 1, ..., 16, more
	timeBuckets  = 40 // log2 of nanoseconds
)

// NewRetireQueue makes a queue that destroys through dst and frees
// allocations through freer (nil when no Memory objects are deferred).
func NewRetireQueue(dst Destroyer, freer Freer) *RetireQueue {
	return &RetireQueue{dst: dst, freer: freer, ring: make([]*bucket, 16)}
}

func (q *RetireQueue) at(i int) *bucket { return q.ring[(q.head+i)&(len(q.ring)-1)] }

// Len is the number of objects waiting.
func (q *RetireQueue) Len() int { return int(q.stats.pending) }

// Push queues o until serial completes. The caller has checked that serial
// has not completed yet.
func (q *RetireQueue) Push(serial Serial, o Object, frame uint64, now int64) {
	b := q.bucket(serial)
	it := item{handle: o.handle, mem: o.mem, fn: o.fn, name: o.name, frame: frame, at: now}
	if o.kind == kindImage || o.kind == kindBuffer {
		b.items[o.kind] = append(b.items[o.kind], item{handle: o.handle, name: o.name, frame: frame, at: now})
		q.stats.pending++
		if o.mem.IsZero() {
			return
		}
		it = item{mem: o.mem, name: o.name, frame: frame, at: now}
		o.kind = kindMemory
	}
	b.items[o.kind] = append(b.items[o.kind], it)
	q.stats.pending++
	q.stats.pendingBytes += it.mem.Size
}

// bucket finds or makes the bucket of serial. Pushes come at the newest
// serials, so the search starts from the back.
func (q *RetireQueue) bucket(serial Serial) *bucket {
	i := q.n
	for i > 0 && q.at(i-1).serial > serial {
		i--
	}
	if i > 0 && q.at(i-1).serial == serial {
		return q.at(i - 1)
	}
	var b *bucket
	if n := len(q.spare); n > 0 {
		b, q.spare = q.spare[n-1], q.spare[:n-1]
	} else {
		b = &bucket{}
	}
	b.serial = serial
	if q.n == len(q.ring) {
		q.grow()
	}
	// Insert at i, shifting the (few) newer buckets back.
	for j := q.n; j > i; j-- {
		q.ring[(q.head+j)&(len(q.ring)-1)] = q.at(j - 1)
	}
	q.ring[(q.head+i)&(len(q.ring)-1)] = b
	q.n++
	return b
}

func (q *RetireQueue) grow() {
	next := make([]*bucket, 2*len(q.ring))
	for i := range q.n {
		next[i] = q.at(i)
	}
	q.ring, q.head = next, 0
}

// Retire destroys everything queued at serials up to completed, in type
// order across all of them, and returns how many objects it destroyed.
func (q *RetireQueue) Retire(completed Serial, frame uint64, now int64) int {
	q.due = q.due[:0]
	for q.n > 0 && q.at(0).serial <= completed {
		q.due = append(q.due, q.at(0))
		q.ring[q.head] = nil
		q.head = (q.head + 1) & (len(q.ring) - 1)
		q.n--
	}
	if len(q.due) == 0 {
		return 0
	}
	return q.destroy(q.due, frame, now)
}

// Due reports whether Retire(completed, …) would destroy anything: the
// oldest entry's serial is done. It costs one comparison.
func (q *RetireQueue) Due(completed Serial) bool {
	return q.n > 0 && q.at(0).serial <= completed
}

// Drain destroys everything queued, whatever its serial: after a device
// loss, or at shutdown once the device is idle.
func (q *RetireQueue) Drain(frame uint64, now int64) int {
	q.due = q.due[:0]
	for q.n > 0 {
		q.due = append(q.due, q.at(0))
		q.ring[q.head] = nil
		q.head = (q.head + 1) & (len(q.ring) - 1)
		q.n--
	}
	return q.destroy(q.due, frame, now)
}

// Pending lists what is queued, for leak reports: "kind name (serial N)".
func (q *RetireQueue) Pending() []string {
	var out []string
	for i := range q.n {
		b := q.at(i)
		for k, items := range b.items {
			for _, it := range items {
				out = append(out, fmt.Sprintf("%s %q (serial %d)", kindNames[k], nameOr(it.name), b.serial))
			}
		}
	}
	return out
}

func nameOr(n string) string {
	if n == "" {
		return "unnamed"
	}
	return n
}

func (q *RetireQueue) destroy(due []*bucket, frame uint64, now int64) int {
	n := 0
	for k := range kindCount {
		for _, b := range due {
			for i := range b.items[k] {
				it := &b.items[k][i]
				q.destroyItem(kind(k), it)
				q.account(it, frame, now)
			}
			n += len(b.items[k])
			clear(b.items[k]) // drop references to closures and mappings
			b.items[k] = b.items[k][:0]
		}
	}
	q.spare = append(q.spare, due...)
	return n
}

func (q *RetireQueue) destroyItem(k kind, it *item) {
	switch k {
	case kindView:
		q.dst.DestroyImageView(vk.ImageView(it.handle))
	case kindSampler:
		q.dst.DestroySampler(vk.Sampler(it.handle))
	case kindImage:
		q.dst.DestroyImage(vk.Image(it.handle))
	case kindBuffer:
		q.dst.DestroyBuffer(vk.Buffer(it.handle))
	case kindMemory:
		if q.freer != nil {
			_ = q.freer.Free(it.mem) // a foreign or double free is the caller's bug, reported by the allocator's own checks
		}
	case kindFunc:
		it.fn()
	}
}

func (q *RetireQueue) account(it *item, frame uint64, now int64) {
	s := &q.stats
	s.pending--
	s.pendingBytes -= it.mem.Size
	s.retired++
	frames := frame - it.frame
	s.frames[min(frames, frameBuckets-1)]++
	s.maxFrames = max(s.maxFrames, frames)
	d := max(now-it.at, 0)
	s.times[min(bits.Len64(uint64(d)), timeBuckets-1)]++
	s.maxTime = max(s.maxTime, d)
}

// destroyNow destroys one object at once, in type order (an image before
// its memory).
func (q *RetireQueue) destroyNow(o Object, frame uint64, now int64) {
	it := item{handle: o.handle, mem: o.mem, fn: o.fn, frame: frame, at: now}
	if o.kind == kindImage || o.kind == kindBuffer {
		q.stats.pending++
		q.destroyItem(o.kind, &item{handle: o.handle})
		q.account(&item{frame: frame, at: now}, frame, now)
		if o.mem.IsZero() {
			return
		}
		o.kind = kindMemory
		it = item{mem: o.mem, frame: frame, at: now}
	}
	q.stats.pending++
	q.stats.pendingBytes += it.mem.Size
	q.destroyItem(o.kind, &it)
	q.account(&it, frame, now)
}
