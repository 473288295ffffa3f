package framesync

import (
	"fmt"
	"testing"

	"pgregory.net/rapid"

	"github.com/vkassets/vkassets/alloc"
	"github.com/vkassets/vkassets/vk"
)

// tally records what a queue destroys: buffers by handle, memory by its
// vk.DeviceMemory value.
type tally struct {
	buffers map[uint64]int
	mems    map[uint64]int
}

func (t *tally) DestroyImageView(vk.ImageView) {}
func (t *tally) DestroySampler(vk.Sampler)     {}
func (t *tally) DestroyImage(vk.Image)         {}
func (t *tally) DestroyBuffer(b vk.Buffer)     { t.buffers[uint64(b)]++ }
func (t *tally) Free(a alloc.Allocation) error { t.mems[uint64(a.Memory)]++; return nil }

// TestRetireModel checks the per-timeline last use against a reference
// model: random objects, each used at random points on up to MaxTimelines
// timelines, and the timelines completing in random orders and steps. After
// every retirement, exactly the objects whose every timeline has reached
// its value have been destroyed, each once, with its memory; the rest are
// pending and still refused as duplicates. Each object is a buffer with
// its memory: two items that move between rings together.
func TestRetireModel(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		lines := rapid.IntRange(1, MaxTimelines).Draw(rt, "lines")
		tl := &tally{buffers: map[uint64]int{}, mems: map[uint64]int{}}
		q := NewRetireQueue(tl, tl)
		q.set = map[objKey]setEntry{}
		pending := map[uint64]Use{} // the model: object id → its last use
		gone := map[uint64]bool{}
		next := uint64(1)
		obj := func(id uint64) Object {
			return Buffer(vk.Buffer(id), alloc.Allocation{Memory: vk.DeviceMemory(id), Size: 16})
		}
		reached := func(u Use) bool {
			for i, v := range u {
				if Serial(v) > q.done[i] {
					return false
				}
			}
			return true
		}
		check := func(step string, retired bool) {
			for id, u := range pending {
				if retired && reached(u) {
					rt.Fatalf("%s: object %d (use %v) not destroyed though every timeline passed it (done %v)", step, id, u, q.done)
				}
				if tl.buffers[id] != 0 || tl.mems[id] != 0 {
					rt.Fatalf("%s: object %d (use %v) destroyed before its timelines passed it (done %v)", step, id, u, q.done)
				}
				if !q.queued(obj(id)) {
					rt.Fatalf("%s: pending object %d is not seen as queued", step, id)
				}
			}
			for id := range gone {
				if tl.buffers[id] != 1 || tl.mems[id] != 1 {
					rt.Fatalf("%s: object %d destroyed %d times, its memory freed %d times", step, id, tl.buffers[id], tl.mems[id])
				}
				if q.queued(obj(id)) {
					rt.Fatalf("%s: destroyed object %d still seen as queued", step, id)
				}
			}
			if q.Len() != 2*len(pending) {
				rt.Fatalf("%s: Len %d, want %d", step, q.Len(), 2*len(pending))
			}
		}
		rt.Repeat(map[string]func(*rapid.T){
			"push": func(rt *rapid.T) {
				var u Use
				for i := range lines {
					if rapid.Bool().Draw(rt, "used") {
						u[i] = uint64(q.done[i]) + uint64(rapid.IntRange(0, 6).Draw(rt, "ahead"))
					}
				}
				line := q.pending(&u)
				if line < 0 {
					return // Sync destroys it at once
				}
				id := next
				next++
				q.pushAt(line, u, obj(id), 0, 0)
				pending[id] = u
			},
			"advance": func(rt *rapid.T) {
				i := rapid.IntRange(0, lines-1).Draw(rt, "line")
				q.done[i] += Serial(rapid.IntRange(0, 4).Draw(rt, "by"))
			},
			"retire": func(rt *rapid.T) {
				want := 0
				for id, u := range pending {
					if reached(u) {
						want++
						gone[id] = true
						delete(pending, id)
					}
				}
				// due may be true when a due bucket's objects only move on;
				// it may not be false when something is to be destroyed.
				if want > 0 && !q.due() {
					rt.Fatalf("due() = false with %d objects due", want)
				}
				q.takeDue(&q.own)
				if n := q.runOwn(0, 0); n != 2*want {
					rt.Fatalf("retired %d items, want %d (%d objects with their memory)", n, 2*want, want)
				}
				check("retire", true)
			},
			"": func(rt *rapid.T) { check("step", false) },
		})
		// Every timeline reaches everything: all goes, no kept use is left.
		for i := range q.done {
			q.done[i] = q.top[i]
		}
		for id := range pending {
			gone[id] = true
		}
		clear(pending)
		q.takeDue(&q.own)
		q.runOwn(0, 0)
		check("end", true)
		if len(q.free) != len(q.uses) {
			rt.Fatalf("%d kept uses, %d free: %s", len(q.uses), len(q.free), fmt.Sprint(q.uses))
		}
	})
}
