package framesync

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/vkassets/vkassets/alloc"
	"github.com/vkassets/vkassets/vk"
)

// recorder is a Destroyer and Freer that logs what it is asked to destroy.
type recorder struct {
	log []string
}

func (r *recorder) DestroyImageView(v vk.ImageView) { r.log = append(r.log, fmt.Sprintf("view %d", v)) }
func (r *recorder) DestroySampler(s vk.Sampler)     { r.log = append(r.log, fmt.Sprintf("sampler %d", s)) }
func (r *recorder) DestroyImage(i vk.Image)         { r.log = append(r.log, fmt.Sprintf("image %d", i)) }
func (r *recorder) DestroyBuffer(b vk.Buffer)       { r.log = append(r.log, fmt.Sprintf("buffer %d", b)) }
func (r *recorder) Free(a alloc.Allocation) error {
	r.log = append(r.log, fmt.Sprintf("memory %d", a.Memory))
	return nil
}

// mem is an allocation whose Memory field identifies it in the log.
func mem(id uint64) alloc.Allocation { return alloc.Allocation{Memory: vk.DeviceMemory(id), Size: 100} }

func rank(entry string) int {
	for i, p := range []string{"view", "sampler", "image", "buffer", "memory", "func"} {
		if len(entry) >= len(p) && entry[:len(p)] == p {
			return i
		}
	}
	return -1
}

// TestRetireOrder: everything due at one Retire goes views, samplers,
// images, buffers, memory, closures — across serials too — and an image's
// memory after the image.
func TestRetireOrder(t *testing.T) {
	r := &recorder{}
	q := NewRetireQueue(r, r)
	q.Push(2, Func(func() { r.log = append(r.log, "func 1") }), 0, 0)
	q.Push(2, Memory(mem(9)), 0, 0)
	q.Push(2, Buffer(5, mem(6)), 0, 0)
	q.Push(1, Image(3, mem(4)), 0, 0)
	q.Push(1, ImageView(2), 0, 0)
	q.Push(2, Sampler(7), 0, 0)
	q.Push(3, ImageView(8), 0, 0)
	if n := q.Retire(2, 0, 0); n != 8 {
		t.Fatalf("retired %d, want 8 (a buffer and an image count with their memory)", n)
	}
	want := []string{"view 2", "sampler 7", "image 3", "buffer 5", "memory 4", "memory 9", "memory 6", "func 1"}
	// Within a kind, lower serials first.
	if !slices.Equal(r.log, want) {
		t.Fatalf("order %v, want %v", r.log, want)
	}
	if q.Len() != 1 {
		t.Fatalf("%d pending, want the view of serial 3", q.Len())
	}
	q.Retire(3, 0, 0)
	if r.log[len(r.log)-1] != "view 8" || q.Len() != 0 {
		t.Fatalf("serial 3: %v, %d pending", r.log, q.Len())
	}
}

// TestRetireExact is model-based: random pushes at random serials and
// retires at advancing completed serials; each Retire must destroy exactly
// the objects with serial ≤ completed, each once.
func TestRetireExact(t *testing.T) {
	r := &recorder{}
	q := NewRetireQueue(r, nil)
	rng := rand.New(rand.NewPCG(4, 2))
	model := map[uint64]Serial{} // buffer handle → serial
	var completed Serial
	next := uint64(1)
	for step := range 20_000 {
		if rng.IntN(4) > 0 {
			serial := completed + 1 + Serial(rng.IntN(6))
			q.Push(serial, Buffer(vk.Buffer(next), alloc.Allocation{}), 0, 0)
			model[next] = serial
			next++
			continue
		}
		completed += Serial(rng.IntN(3))
		r.log = r.log[:0]
		due := q.Due(completed)
		n := q.Retire(completed, 0, 0)
		if due != (n > 0) {
			t.Fatalf("step %d: Due said %v, Retire destroyed %d", step, due, n)
		}
		if n != len(r.log) {
			t.Fatalf("step %d: Retire said %d, destroyed %d", step, n, len(r.log))
		}
		for _, e := range r.log {
			var h uint64
			fmt.Sscanf(e, "buffer %d", &h)
			s, ok := model[h]
			if !ok {
				t.Fatalf("step %d: %s destroyed twice or never queued", step, e)
			}
			if s > completed {
				t.Fatalf("step %d: %s (serial %d) destroyed at completed %d", step, e, s, completed)
			}
			delete(model, h)
		}
		for h, s := range model {
			if s <= completed {
				t.Fatalf("step %d: buffer %d (serial %d) still queued at completed %d", step, h, s, completed)
			}
		}
		if q.Len() != len(model) {
			t.Fatalf("step %d: Len %d, model %d", step, q.Len(), len(model))
		}
	}
}

// TestRetireAllocatesNothing: in steady state, pushing and retiring reuse
// the buckets' slices.
func TestRetireAllocatesNothing(t *testing.T) {
	q := NewRetireQueue(nopDestroyer{}, nil)
	serial := Serial(1)
	step := func() {
		for i := range 64 {
			q.Push(serial+2, Buffer(vk.Buffer(i+1), alloc.Allocation{}), 0, 0)
		}
		q.Retire(serial, 0, 0)
		serial++
	}
	for range 10 {
		step()
	}
	if n := testing.AllocsPerRun(1000, step); n != 0 {
		t.Fatalf("%v allocations per frame of pushes and a retire", n)
	}
}

type nopDestroyer struct{}

func (nopDestroyer) DestroyImageView(vk.ImageView) {}
func (nopDestroyer) DestroySampler(vk.Sampler)     {}
func (nopDestroyer) DestroyImage(vk.Image)         {}
func (nopDestroyer) DestroyBuffer(vk.Buffer)       {}

// BenchmarkRetireIdle is a poll of the queue with 1,000,000 objects pending
// and none due: it looks at the oldest bucket only.
func BenchmarkRetireIdle(b *testing.B) {
	q := NewRetireQueue(nopDestroyer{}, nil)
	for i := range 1_000_000 {
		q.Push(Serial(100+i/1000), Buffer(vk.Buffer(i+1), alloc.Allocation{}), 0, 0)
	}
	b.ResetTimer()
	for b.Loop() {
		q.Retire(50, 0, 0)
	}
	if q.Len() != 1_000_000 {
		b.Fatal("retired something")
	}
}

// BenchmarkRetire10k retires 10,000 due objects per op with a destroyer
// that does nothing: the queue's own cost beyond the driver's.
func BenchmarkRetire10k(b *testing.B) {
	q := NewRetireQueue(nopDestroyer{}, nil)
	serial := Serial(1)
	for b.Loop() {
		b.StopTimer()
		for i := range 10_000 {
			q.Push(serial, Buffer(vk.Buffer(i+1), alloc.Allocation{}), 0, 0)
		}
		b.StartTimer()
		if n := q.Retire(serial, 0, 0); n != 10_000 {
			b.Fatal(n)
		}
		serial++
	}
}

// TestDuplicateSet: the set that refuses a second Defer knows what is
// queued, forgets what was taken off the queue without a map operation
// per object, and sweeps its stale entries once they outnumber the rest,
// a bounded number per push.
func TestDuplicateSet(t *testing.T) {
	q := NewRetireQueue(nopDestroyer{}, nil)
	q.set = map[objKey]setEntry{}
	for i := range 5000 {
		q.Push(1, Buffer(vk.Buffer(i+1), alloc.Allocation{}), 0, 0)
	}
	q.Push(2, Image(9000, mem(7)), 0, 0)
	if !q.queued(Buffer(1, alloc.Allocation{})) || !q.queued(Memory(mem(7))) || !q.queued(Image(9000, alloc.Allocation{})) {
		t.Fatal("a queued object is not seen as queued")
	}
	if q.queued(Image(1, alloc.Allocation{})) || q.queued(Func(func() {})) || q.queued(ImageView(0)) {
		t.Fatal("another kind, a closure or a null handle is seen as queued")
	}
	q.Retire(1, 0, 0)
	if q.queued(Buffer(1, alloc.Allocation{})) {
		t.Fatal("a retired object is still seen as queued")
	}
	if !q.queued(Memory(mem(7))) {
		t.Fatal("the image's memory, still queued, is not seen as queued")
	}
	before := len(q.set)
	q.Push(3, Buffer(1, alloc.Allocation{}), 0, 0) // the handle value, reused
	if swept := before - len(q.set); swept <= 0 || swept > sweepBatch {
		t.Fatalf("one push forgot %d entries of %d, want 1 to %d (a push never pays for the whole set)", swept, before, sweepBatch)
	}
	if !q.queued(Buffer(1, alloc.Allocation{})) {
		t.Fatal("a handle deferred again after it retired is not seen as queued")
	}
	// Pushes go on forgetting until the set is within its bound.
	for i := 0; len(q.set) >= 2*int(q.stats.pending)+4096; i++ {
		if i == before/(sweepBatch/2) {
			t.Fatalf("%d entries after %d pushes, %d pending: the set does not shrink", len(q.set), i, q.stats.pending)
		}
		q.Push(3, Buffer(vk.Buffer(10000+i), alloc.Allocation{}), 0, 0)
	}
	if !q.queued(Buffer(1, alloc.Allocation{})) || !q.queued(Memory(mem(7))) || q.queued(Buffer(2, alloc.Allocation{})) {
		t.Fatal("the sweep forgot a queued object, or a retired one is seen as queued")
	}
}
