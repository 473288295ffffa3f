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
	// use is the index + 1 in RetireQueue.uses of the item's whole last
	// use, when it waits on more than its bucket's timeline; 0 otherwise.
	use uint32
}

// bucket holds what is due at one serial (one value of its timeline), by
// kind.
type bucket struct {
	serial Serial
	items  [kindCount][]item
	multi  int // items that wait on other timelines too (item.use != 0)
}

// ring is the buckets of one timeline: circular, by value, ascending; its
// length is a power of two (or zero before the first push).
type ring struct {
	buckets []*bucket
	head    int
	n       int
}

func (r *ring) at(i int) *bucket { return r.buckets[(r.head+i)&(len(r.buckets)-1)] }

// setEntry is where a queued object waits: a value of a timeline.
type setEntry struct {
	serial Serial
	line   uint8
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

	// rings holds one ring per timeline. An object waiting on several
	// timelines sits in the ring of one of them that has not reached its
	// value; when that value comes due it moves to the next one it still
	// waits on, so a retirement touches only what comes due.
	rings [MaxTimelines]ring
	lines int // the rings in use: timelines registered (at least 1)
	// done is how far each timeline is known to have got (Sync keeps
	// done[0] at its completed serial; a removed timeline is at the top).
	done [MaxTimelines]Serial
	// top is the highest value pushed on each timeline: one at or below
	// done needs no reading.
	top [MaxTimelines]Serial
	// uses holds the whole last use of items that wait on more than one
	// timeline (item.use is the index + 1); free lists reusable indices.
	uses  []Use
	free  []uint32
	spare []*bucket // emptied buckets, for reuse
	own   batch     // scratch for Retire and Drain

	// set maps the identity of objects pushed to the value they wait for
	// in the ring they sit in (Sync's queue only), to refuse a second
	// Defer of one. An entry is live while its value is above what was
	// taken off its ring: take removes buckets in order and every push
	// comes above what was taken, so retiring costs no map operation (an
	// object moving to another ring updates its entry). Stale entries are
	// swept when the set outgrows what is pending.
	set   map[objKey]setEntry
	taken [MaxTimelines]Serial // the newest value of a bucket taken off each ring

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
	return &RetireQueue{dst: dst, freer: freer, lines: 1}
}

// Len is the number of objects waiting.
func (q *RetireQueue) Len() int { return int(q.stats.pending) }

// Push queues o until serial completes. The caller has checked that serial
// has not completed yet.
func (q *RetireQueue) Push(serial Serial, o Object, frame uint64, now int64) {
	var u Use
	u[0] = uint64(serial)
	q.pushAt(0, u, o, frame, now)
}

// pending is the first timeline that has not reached its value in u, or
// -1 when every one has. The frame timeline comes first: an object that
// waits on the frame being recorded sits in its ring, which Close and a
// lost device leave to that frame's EndFrame, whatever else it waits on.
func (q *RetireQueue) pending(u *Use) int {
	for i, v := range u {
		if Serial(v) > q.done[i] {
			return i
		}
	}
	return -1
}

// pushAt queues o in the ring of timeline line, at its value in u, to wait
// for every timeline of u. The caller has checked that line has not
// reached it.
func (q *RetireQueue) pushAt(line int, u Use, o Object, frame uint64, now int64) {
	if q.set != nil {
		q.sweep()
	}
	multi := false
	for i, v := range u {
		q.top[i] = max(q.top[i], Serial(v))
		if i != line && Serial(v) > q.done[i] {
			multi = true
		}
	}
	b := q.bucket(line, Serial(u[line]))
	if !multi {
		u = Use{}
	}
	q.fill(b, line, &u, o, frame, now, q.set != nil)
}

// fill adds o to b, in the ring of timeline line: an image or a buffer
// with its memory as two items. When u is not zero, each item keeps a
// copy of it (the whole last use). track records them in the set.
func (q *RetireQueue) fill(b *bucket, line int, u *Use, o Object, frame uint64, now int64, track bool) {
	it := item{handle: o.handle, mem: o.mem, fn: o.fn, name: o.name, frame: frame, at: now}
	if o.kind == kindImage || o.kind == kindBuffer {
		q.add(b, line, o.kind, item{handle: o.handle, name: o.name, frame: frame, at: now, use: q.keepUse(u)}, track)
		if o.mem.IsZero() {
			return
		}
		it = item{mem: o.mem, name: o.name, frame: frame, at: now}
		o.kind = kindMemory
	}
	it.use = q.keepUse(u)
	q.add(b, line, o.kind, it, track)
}

// keepUse stores u for an item; 0 (nothing kept) for the zero Use.
func (q *RetireQueue) keepUse(u *Use) uint32 {
	if u == nil || *u == (Use{}) {
		return 0
	}
	if n := len(q.free); n > 0 {
		i := q.free[n-1]
		q.free = q.free[:n-1]
		q.uses[i] = *u
		return i + 1
	}
	q.uses = append(q.uses, *u)
	return uint32(len(q.uses))
}

// dropUse forgets an item's kept use.
func (q *RetireQueue) dropUse(it *item) {
	if it.use != 0 {
		q.uses[it.use-1] = Use{}
		q.free = append(q.free, it.use-1)
		it.use = 0
	}
}

func (q *RetireQueue) add(b *bucket, line int, k kind, it item, track bool) {
	b.items[k] = append(b.items[k], it)
	if it.use != 0 {
		b.multi++
	}
	q.stats.pending++
	q.stats.pendingBytes += it.mem.Size
	if track {
		if key, ok := key(k, &it); ok {
			q.set[key] = setEntry{serial: b.serial, line: uint8(line)}
		}
	}
}

// sweepBatch bounds the set entries one push looks at when sweeping.
const sweepBatch = 16

// sweep forgets stale entries of the set once they may outnumber the live
// ones, looking at most sweepBatch of them per push (from a random point
// of the map): no push pays for the whole set, nor a frame's pushes for
// most of it (a frame that defers a hundred objects after thousands of
// retirements would: 0.3 to 0.45 ms), and since then about half or more
// are stale, each push forgets several times the one or two it adds.
func (q *RetireQueue) sweep() {
	if len(q.set) < 2*int(q.stats.pending)+4096 {
		return
	}
	n := 0
	for k, e := range q.set {
		if e.serial <= q.taken[e.line] {
			delete(q.set, k)
		}
		if n++; n == sweepBatch {
			return
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
	e, ok := q.set[key]
	return ok && e.serial > q.taken[e.line]
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

// bucket finds or makes the bucket of serial in the ring of timeline line:
// a binary search, since objects moving between rings land anywhere.
func (q *RetireQueue) bucket(line int, serial Serial) *bucket {
	r := &q.rings[line]
	lo, hi := 0, r.n // the first bucket at or above serial is in [lo, hi]
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if r.at(mid).serial < serial {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	i := lo
	if i < r.n && r.at(i).serial == serial {
		return r.at(i)
	}
	b := q.newBucket(serial)
	if r.n == len(r.buckets) {
		r.grow()
	}
	// Insert at i, shifting the (few) newer buckets back.
	mask := len(r.buckets) - 1
	for j := r.n; j > i; j-- {
		r.buckets[(r.head+j)&mask] = r.at(j - 1)
	}
	r.buckets[(r.head+i)&mask] = b
	r.n++
	return b
}

func (r *ring) grow() {
	next := make([]*bucket, max(2*len(r.buckets), 16))
	for i := range r.n {
		next[i] = r.at(i)
	}
	r.buckets, r.head = next, 0
}

// Retire destroys everything queued at serials up to completed, in type
// order across all of them, and returns how many objects it destroyed.
func (q *RetireQueue) Retire(completed Serial, frame uint64, now int64) int {
	if !q.Due(completed) {
		return 0
	}
	q.done[0] = max(q.done[0], completed)
	q.take(0, completed, &q.own, false)
	return q.runOwn(frame, now)
}

func (q *RetireQueue) runOwn(frame uint64, now int64) int {
	q.own.frame = frame
	n := q.run(&q.own, now)
	q.finish(&q.own)
	return n
}

// Due reports whether Retire(completed, …) would destroy anything: the
// oldest entry's serial is done. It costs one comparison.
func (q *RetireQueue) Due(completed Serial) bool {
	r := &q.rings[0]
	return r.n > 0 && r.at(0).serial <= completed
}

// due reports whether any ring's oldest bucket has been reached.
func (q *RetireQueue) due() bool {
	for i := range q.lines {
		if r := &q.rings[i]; r.n > 0 && r.at(0).serial <= q.done[i] {
			return true
		}
	}
	return false
}

// Drain destroys everything queued, whatever its serial: after a device
// loss, or at shutdown once the device is idle.
func (q *RetireQueue) Drain(frame uint64, now int64) int {
	q.takeAll(^Serial(0), &q.own)
	return q.runOwn(frame, now)
}

// takeDue moves to b everything whose every timeline has reached its
// value, per q.done: the due buckets of each ring, less the objects that
// still wait on another timeline, which move to that timeline's ring.
func (q *RetireQueue) takeDue(b *batch) {
	for i := range q.lines {
		q.take(i, q.done[i], b, false)
	}
}

// takeClosed is takeDue for a closed Sync whose GPU is idle: every frame
// serial up to limit counts as done (what was submitted has run, and what
// was not never will). What still waits on an app's timeline stays queued:
// the app may yet submit the work that uses it.
func (q *RetireQueue) takeClosed(limit Serial, b *batch) {
	q.done[0] = max(q.done[0], limit)
	q.takeDue(b)
}

// takeAll moves to b everything queued, at any value on every timeline
// but at most limit on the frame timeline's.
func (q *RetireQueue) takeAll(limit Serial, b *batch) {
	for i := range q.lines {
		l := ^Serial(0)
		if i == 0 {
			l = limit
		}
		q.take(i, l, b, true)
	}
}

// take moves the buckets of ring line at values up to limit to b, and
// their objects out of the set. Unless all is set, an object that still
// waits on another timeline moves to that timeline's ring instead.
func (q *RetireQueue) take(line int, limit Serial, b *batch, all bool) {
	r := &q.rings[line]
	for r.n > 0 && r.at(0).serial <= limit {
		bk := r.at(0)
		q.taken[line] = max(q.taken[line], bk.serial)
		r.buckets[r.head] = nil
		r.head = (r.head + 1) & (len(r.buckets) - 1)
		r.n--
		q.sift(bk, all)
		b.buckets = append(b.buckets, bk)
	}
}

// sift forgets the kept uses of bk's items; unless all is set, those that
// still wait on some timeline move to its ring. It costs what bk holds.
func (q *RetireQueue) sift(bk *bucket, all bool) {
	if bk.multi == 0 {
		return // the usual case: one timeline, nothing to look at
	}
	bk.multi = 0
	for k := range bk.items {
		items := bk.items[k]
		n := 0
		for i := range items {
			it := items[i]
			if it.use != 0 {
				u := q.uses[it.use-1]
				if next := q.pending(&u); next >= 0 && !all {
					q.move(kind(k), it, next, Serial(u[next]))
					continue
				}
				q.dropUse(&it)
			}
			items[n] = it
			n++
		}
		clear(items[n:])
		bk.items[k] = items[:n]
	}
}

// move puts an item taken off one ring into the ring of timeline line, at
// serial, keeping its set entry live. It stays pending.
func (q *RetireQueue) move(k kind, it item, line int, serial Serial) {
	b := q.bucket(line, serial)
	b.items[k] = append(b.items[k], it)
	b.multi++
	if q.set != nil {
		if key, ok := key(k, &it); ok {
			q.set[key] = setEntry{serial: serial, line: uint8(line)}
		}
	}
}

// waiting counts the objects that wait on timeline line beyond what it
// has reached: those in its ring, and those elsewhere whose kept use has a
// value on it. It costs O(pending): for RemoveTimeline, not every frame.
func (q *RetireQueue) waiting(line int) int {
	n := 0
	r := &q.rings[line]
	for i := range r.n {
		n += r.at(i).len()
	}
	for i := range q.uses {
		if Serial(q.uses[i][line]) > q.done[line] {
			n++
		}
	}
	return n
}

// single puts o alone in a bucket of b, to be destroyed at once.
func (q *RetireQueue) single(serial Serial, o Object, frame uint64, now int64, b *batch) {
	bk := q.newBucket(serial)
	q.fill(bk, 0, nil, o, frame, now, false)
	b.buckets = append(b.buckets, bk)
}

// Pending lists what is queued, for leak reports: "kind name (serial N)",
// and for what waits on an app's timeline "kind name (timeline T at N)".
func (q *RetireQueue) Pending() []string { return q.pendingAfter(0, nil, true) }

// pendingAfter lists what is queued at serials above after on the frame
// timeline, and what waits on other timelines beyond what they reached.
// names names the timelines; nil numbers them. Without apps, only the
// frame timeline's.
func (q *RetireQueue) pendingAfter(after Serial, names func(line int) string, apps bool) []string {
	var out []string
	lines := q.lines
	if !apps {
		lines = 1
	}
	for line := range lines {
		r := &q.rings[line]
		for i := range r.n {
			b := r.at(i)
			if line == 0 && b.serial <= after {
				continue
			}
			for k, items := range b.items {
				for _, it := range items {
					out = append(out, fmt.Sprintf("%s %q (%s)", kindNames[k], nameOr(it.name), q.where(line, b.serial, names)))
				}
			}
		}
	}
	return out
}

func (q *RetireQueue) where(line int, serial Serial, names func(int) string) string {
	switch {
	case line == 0:
		return fmt.Sprintf("serial %d", serial)
	case names != nil:
		return fmt.Sprintf("timeline %q at %d", names(line), serial)
	}
	return fmt.Sprintf("timeline %d at %d", line, serial)
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
