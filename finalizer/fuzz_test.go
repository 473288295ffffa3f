package finalizer_test

import (
	"sync"
	"testing"

	"github.com/vkassets/vkassets/alloc"
	"github.com/vkassets/vkassets/assets"
	"github.com/vkassets/vkassets/finalizer"
	"github.com/vkassets/vkassets/framesync"
	"github.com/vkassets/vkassets/vk"
)

// fuzzStack is one device for the whole fuzzing process: the assets fuzzed
// own no GPU object, so the device only has to exist.
var fuzzStack struct {
	once sync.Once
	d    *vk.Device
	a    *alloc.Allocator
	s    *framesync.Sync
	err  error
}

func fuzzDevice(t *testing.T) (*vk.Device, *alloc.Allocator, *framesync.Sync) {
	fuzzStack.once.Do(func() {
		if fuzzStack.d, fuzzStack.err = vk.Open(vk.Options{}); fuzzStack.err != nil {
			return
		}
		if fuzzStack.a, fuzzStack.err = alloc.New(alloc.Options{Device: fuzzStack.d}); fuzzStack.err != nil {
			return
		}
		fuzzStack.s, fuzzStack.err = framesync.New(framesync.Options{Device: fuzzStack.d, Allocator: fuzzStack.a})
	})
	if fuzzStack.err != nil {
		t.Fatal(fuzzStack.err)
	}
	return fuzzStack.d, fuzzStack.a, fuzzStack.s
}

// FuzzReleasePolicy applies operation sequences decoded from the input —
// register an asset depending on earlier ones, add a dependency (cycles
// included), AddRef, DecRef, Release, ForceRelease, Lock, Unlock,
// ReleaseUnused, Collect, residency on (under or over budget) and off —
// and checks after each: every cached asset's
// count is its dependents' edges plus the references the sequence holds,
// and no locked asset (nor anything it depends on) is gone.
func FuzzReleasePolicy(f *testing.F) {
	f.Add([]byte{0, 0, 0, 1, 0, 0, 3, 0, 9, 0})
	f.Add([]byte{0, 0, 0, 0, 1, 0, 1, 1, 4, 0, 4, 1, 5, 0, 9, 0, 7, 0})
	f.Add([]byte{0, 0, 0, 0, 1, 1, 1, 0, 6, 0, 3, 0, 9, 0, 8, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		d, a, s := fuzzDevice(t)
		m, err := assets.New(assets.Options{Device: d, Allocator: a, Sync: s})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		fin := finalizer.New(m)
		// Device memory in use, so that a budget of 1 byte is exceeded.
		buf, mem, err := a.CreateBuffer(4096, vk.BufferUsageTransferDst, alloc.AllocationOptions{Name: "fuzz ballast"})
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = a.DestroyBuffer(buf, mem) }()
		var all []*node
		holds := map[assets.ID]int{}
		locked := map[assets.ID]bool{}
		tiny := false // residency on with a budget nothing fits
		pick := func(b byte) *node {
			if len(all) == 0 {
				return nil
			}
			return all[int(b)%len(all)]
		}
		for len(data) >= 2 {
			op, arg := data[0]%10, data[1]
			data = data[2:]
			x := pick(arg)
			ready := x != nil && x.State() == assets.Ready
			switch op {
			case 0: // register, depending on up to one earlier asset
				n := &node{}
				var deps []assets.Asset
				if x != nil && ready && arg%2 == 1 {
					deps = append(deps, x)
				}
				if err := m.Register(n, "node", "n", deps...); err != nil {
					t.Fatal(err)
				}
				holds[n.ID()] = 1 // made at run time: the caller's reference
				all = append(all, n)
			case 1:
				if y := pick(arg / 3); ready && y != nil && y.State() == assets.Ready {
					_ = m.AddDependency(x, y)
				}
			case 2:
				if ready && m.AddRef(x) == nil {
					holds[x.ID()]++
				}
			case 3:
				if x != nil && holds[x.ID()] > 0 {
					holds[x.ID()]--
					if err := m.DecRef(x); err != nil {
						t.Fatal(err)
					}
				}
			case 4:
				if ready {
					_ = fin.Release(x)
				}
			case 5:
				if ready && fin.ForceRelease(x) == nil {
					delete(holds, x.ID())
				}
			case 6:
				if ready {
					fin.Lock(x)
					locked[x.ID()] = true
				}
			case 7:
				if x != nil {
					fin.Unlock(x)
					delete(locked, x.ID())
				}
			case 8:
				fin.ReleaseUnused()
				// Nothing unreachable survives a sweep: every cached asset is
				// reached from one the sequence holds or has locked (cycles
				// included, both ways: no garbage kept, nothing held freed).
				reached := map[assets.ID]bool{}
				var stack []assets.Asset
				for _, c := range m.Assets() {
					if id := assets.BaseOf(c).ID(); holds[id] > 0 || locked[id] {
						reached[id] = true
						stack = append(stack, c)
					}
				}
				for len(stack) > 0 {
					c := stack[len(stack)-1]
					stack = stack[:len(stack)-1]
					for _, dep := range assets.BaseOf(c).Deps() {
						if id := assets.BaseOf(dep).ID(); !reached[id] {
							reached[id] = true
							stack = append(stack, dep)
						}
					}
				}
				for _, c := range m.Assets() {
					if b := assets.BaseOf(c); !reached[b.ID()] {
						t.Fatalf("%v survived ReleaseUnused unreachable (%s)", b, fin.Why(c))
					}
				}
			case 9:
				// Some arguments also switch residency: a budget nothing
				// fits (every Collect evicts what is unused), one
				// everything fits (nothing is evicted), or off.
				switch arg % 8 {
				case 5:
					tiny = true
					if err := fin.SetResidency(&finalizer.Residency{Budget: 1}); err != nil {
						t.Fatal(err)
					}
				case 6:
					tiny = false
					if err := fin.SetResidency(&finalizer.Residency{Budget: 1 << 50}); err != nil {
						t.Fatal(err)
					}
				case 7:
					tiny = false
					if err := fin.SetResidency(nil); err != nil {
						t.Fatal(err)
					}
				}
				fin.Collect()
				if rs := fin.ResidencyStats(); tiny && rs.Used <= rs.High {
					t.Fatalf("a budget of 1 byte not exceeded: %+v", rs)
				}
				if tiny {
					// Over budget, eviction takes every asset nothing holds
					// and that is not locked.
					for _, c := range m.Assets() {
						if b := assets.BaseOf(c); b.RefCount() == 0 && !locked[b.ID()] {
							t.Fatalf("%v stayed resident over budget (%s)", b, fin.Why(c))
						}
					}
				}
			}
			edges := map[assets.ID]int{}
			for _, c := range m.Assets() {
				for _, dep := range assets.BaseOf(c).Deps() {
					edges[assets.BaseOf(dep).ID()]++
				}
			}
			for _, c := range m.Assets() {
				b := assets.BaseOf(c)
				if want := edges[b.ID()] + holds[b.ID()]; b.RefCount() != want {
					t.Fatalf("%v: count %d, want %d", b, b.RefCount(), want)
				}
			}
			for _, n := range all {
				if locked[n.ID()] && n.State() != assets.Ready {
					t.Fatalf("locked %v is %v", &n.Base, n.State())
				}
				if n.State() != assets.Ready {
					continue
				}
				for _, dep := range n.Deps() {
					if st := assets.BaseOf(dep).State(); st != assets.Ready {
						t.Fatalf("live %v lists %v, which is %v", &n.Base, assets.BaseOf(dep), st)
					}
				}
			}
		}
		fin.ReleaseAll()
	})
}
