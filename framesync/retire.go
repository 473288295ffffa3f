package framesync

import (
	"errors"
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

// objKey identifies a queued object, to refuse a second Defer of it: a
// handle with its kind, or an allocation by its memory and offset.
type objKey struct {
	handle uint64
	kind   uint64 // kind, and for memory the offset above it
}

// key is the identity of an item of kind k; false for closures and null
// handles, which are not checked.
func key(k kind, it *item) (objKey, bool) {
	switch k {
	case kindFunc:
		return objKey{}, false
	case kindMemory:
		return objKey{uint64(it.mem.Memory), it.mem.Offset<<3 | uint64(k)}, it.mem.Memory != 0
	}
	return objKey{it.handle, uint64(k)}, it.handle != 0
}

// batch is buckets taken off the queue to be destroyed, possibly without
// the lock that guards the queue, and the free errors met doing it.
type batch struct {
	buckets []*bucket
	errs    []error // the first keptErrors
	failed  int
	frame   uint64      // the frame count when taken, for latency statistics
	st      retireStats // what run destroyed: retired, bytes, latencies
}

// keptErrors bounds the free errors kept for a report; all are counted.
const keptErrors = 16

// RetireQueue holds objects until the serial of their last use completes:
// Dawn's SerialQueue, one bucket per serial, each split by kind so that
// destruction follows the type order. Retire touches only the buckets that
// are due: its cost grows with what retires, not with what is pending.
//
// A RetireQueue is not safe for concurrent use; Sync guards its own, and
// destroys what is due without holding its lock.
type RetireQueue struct {
	dst   Destroyer
	freer Freer

	ring  []*bucket // circular, by serial, ascending; len is a power of two
	head  int
	n     int
	spare []*bucket // emptied buckets, for reuse
	own   batch     // scratch for Retire and Drain

	// set maps the identity of objects pushed to the serial they were
	// pushed at (Sync's queue only), to refuse a second Defer of one. An
	// entry is live while its serial is above taken: take removes buckets
	// in serial order and every push comes above what was taken, so
	// retiring costs no map operation. Stale entries are swept when the
	// set outgrows what is pending.
	set   map[objKey]Serial
	taken Serial // the newest serial of a bucket taken off the queue

	stats retireStats
	errs  []error // free errors not yet reported, the first keptErrors
	unrep int     // free errors not yet reported, all of them
}

type retireStats struct {
	pending, pendingBytes uint64
	retired               uint64
	freeErrors            uint64
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
	if q.set != nil {
		q.sweep()
	}
	q.fill(q.bucket(serial), o, frame, now, q.set != nil)
}

// fill adds o to b: an image or a buffer with its memory as two items;
// track records them in the set.
func (q *RetireQueue) fill(b *bucket, o Object, frame uint64, now int64, track bool) {
	it := item{handle: o.handle, mem: o.mem, fn: o.fn, name: o.name, frame: frame, at: now}
	if o.kind == kindImage || o.kind == kindBuffer {
		q.add(b, o.kind, item{handle: o.handle, name: o.name, frame: frame, at: now}, track)
		if o.mem.IsZero() {
			return
		}
		it = item{mem: o.mem, name: o.name, frame: frame, at: now}
		o.kind = kindMemory
	}
	q.add(b, o.kind, it, track)
}

func (q *RetireQueue) add(b *bucket, k kind, it item, track bool) {
	b.items[k] = append(b.items[k], it)
	q.stats.pending++
	q.stats.pendingBytes += it.mem.Size
	if track {
		if key, ok := key(k, &it); ok {
			q.set[key] = b.serial
		}
	}
}

// sweep forgets the set's stale entries once they may outnumber the live
// ones: amortised, a constant per push.
func (q *RetireQueue) sweep() {
	if len(q.set) < 2*int(q.stats.pending)+4096 {
		return
	}
	for k, serial := range q.set {
		if serial <= q.taken {
			delete(q.set, k)
		}
	}
}

// queued reports whether o, or the memory deferred with it, is queued.
// Only a queue with a set answers. An object stops counting as queued when
// it is taken off the queue to be destroyed, not after: by then its handle
// value may already be the driver's again, for a new object.
func (q *RetireQueue) queued(o Object) bool {
	if q.set == nil {
		return false
	}
	k := o.kind
	if k == kindImage || k == kindBuffer {
		if q.live(k, &item{handle: o.handle}) {
			return true
		}
		k = kindMemory
	}
	return q.live(k, &item{handle: o.handle, mem: o.mem})
}

func (q *RetireQueue) live(k kind, it *item) bool {
	key, ok := key(k, it)
	if !ok {
		return false
	}
	serial, ok := q.set[key]
	return ok && serial > q.taken
}

// newBucket is an empty bucket for serial, reused when one is spare.
func (q *RetireQueue) newBucket(serial Serial) *bucket {
	var b *bucket
	if n := len(q.spare); n > 0 {
		b, q.spare = q.spare[n-1], q.spare[:n-1]
	} else {
		b = &bucket{}
	}
	b.serial = serial
	return b
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
	b := q.newBucket(serial)
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
	if !q.Due(completed) {
		return 0
	}
	q.take(completed, &q.own)
	q.own.frame = frame
	n := q.run(&q.own, now)
	q.finish(&q.own)
	return n
}

// Due reports whether Retire(completed, …) would destroy anything: the
// oldest entry's serial is done. It costs one comparison.
func (q *RetireQueue) Due(completed Serial) bool {
	return q.n > 0 && q.at(0).serial <= completed
}

// Drain destroys everything queued, whatever its serial: after a device
// loss, or at shutdown once the device is idle.
func (q *RetireQueue) Drain(frame uint64, now int64) int {
	return q.Retire(^Serial(0), frame, now)
}

// take moves the buckets at serials up to limit from the queue to b, and
// their objects out of the set.
func (q *RetireQueue) take(limit Serial, b *batch) {
	for q.n > 0 && q.at(0).serial <= limit {
		bk := q.at(0)
		q.taken = max(q.taken, bk.serial)
		b.buckets = append(b.buckets, bk)
		q.ring[q.head] = nil
		q.head = (q.head + 1) & (len(q.ring) - 1)
		q.n--
	}
}

// single puts o alone in a bucket of b, to be destroyed at once.
func (q *RetireQueue) single(serial Serial, o Object, frame uint64, now int64, b *batch) {
	bk := q.newBucket(serial)
	q.fill(bk, o, frame, now, false)
	b.buckets = append(b.buckets, bk)
}

// Pending lists what is queued, for leak reports: "kind name (serial N)".
func (q *RetireQueue) Pending() []string { return q.pendingAfter(0) }

// pendingAfter lists what is queued at serials above after.
func (q *RetireQueue) pendingAfter(after Serial) []string {
	var out []string
	for i := range q.n {
		b := q.at(i)
		if b.serial <= after {
			continue
		}
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

// run destroys what b holds, kind by kind across its buckets, and returns
// how many objects that was. It reads nothing of q but the destroyer and
// the freer, which never change, so Sync runs it without its lock: Free and
// closures are user code, and may call back into the Sync.
// The statistics of what it destroys go to the batch's own, merged into
// the queue's by finish.
func (q *RetireQueue) run(b *batch, now int64) int {
	n := 0
	for k := range kindCount {
		for _, bk := range b.buckets {
			items := bk.items[k]
			for i := range items {
				it := &items[i]
				q.destroyItem(kind(k), it, bk.serial, b)
				b.st.account(it, b.frame, now)
			}
			n += len(items)
		}
	}
	return n
}

// finish merges what run destroyed into the queue's statistics, forgets
// it, and keeps the buckets for reuse.
func (q *RetireQueue) finish(b *batch) {
	q.stats.merge(&b.st)
	b.st = retireStats{}
	for _, bk := range b.buckets {
		for k := range bk.items {
			clear(bk.items[k]) // drop references to closures and mappings
			bk.items[k] = bk.items[k][:0]
		}
	}
	q.spare = append(q.spare, b.buckets...)
	clear(b.buckets)
	b.buckets = b.buckets[:0]
	if b.failed > 0 {
		q.stats.freeErrors += uint64(b.failed)
		q.unrep += b.failed
		for _, err := range b.errs {
			if len(q.errs) < keptErrors {
				q.errs = append(q.errs, err)
			}
		}
		clear(b.errs)
		b.errs, b.failed = b.errs[:0], 0
	}
}

// takeErrors returns the free errors not reported yet, joined, and
// forgets them; nil when there were none.
func (q *RetireQueue) takeErrors() error {
	if q.unrep == 0 {
		return nil
	}
	errs := q.errs
	if more := q.unrep - len(errs); more > 0 {
		errs = append(errs, fmt.Errorf("framesync: and %d more failed frees", more))
	}
	err := fmt.Errorf("framesync: %d failed frees: %w", q.unrep, errors.Join(errs...))
	q.errs, q.unrep = nil, 0
	return err
}

func (q *RetireQueue) destroyItem(k kind, it *item, serial Serial, b *batch) {
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
		if q.freer == nil {
			return
		}
		if err := q.freer.Free(it.mem); err != nil {
			b.failed++
			if len(b.errs) < keptErrors {
				b.errs = append(b.errs, fmt.Errorf("framesync: free memory %q (serial %d): %w", nameOr(it.name), serial, err))
			}
		}
	case kindFunc:
		it.fn()
	}
}

// account counts one destroyed item in a batch's statistics: its
// pendingBytes add up what it freed, to be taken off the queue's.
func (s *retireStats) account(it *item, frame uint64, now int64) {
	s.pendingBytes += it.mem.Size
	s.retired++
	frames := frame - it.frame
	s.frames[min(frames, frameBuckets-1)]++
	s.maxFrames = max(s.maxFrames, frames)
	d := max(now-it.at, 0)
	s.times[min(bits.Len64(uint64(d)), timeBuckets-1)]++
	s.maxTime = max(s.maxTime, d)
}

// merge adds a batch's statistics to the queue's.
func (s *retireStats) merge(b *retireStats) {
	s.pending -= b.retired
	s.pendingBytes -= b.pendingBytes
	s.retired += b.retired
	for i := range s.frames {
		s.frames[i] += b.frames[i]
	}
	for i := range s.times {
		s.times[i] += b.times[i]
	}
	s.maxFrames = max(s.maxFrames, b.maxFrames)
	s.maxTime = max(s.maxTime, b.maxTime)
}
