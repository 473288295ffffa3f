package finalizer_test

import (
	"testing"

	"github.com/vkassets/vkassets/assets"
	"github.com/vkassets/vkassets/finalizer"
)

// node is a user-defined asset kind with no GPU object: graph benchmarks
// need many assets and no device memory.
type node struct{ assets.Base }

func benchEnv(b *testing.B) *env {
	b.Helper()
	return openB(b)
}

// BenchmarkReleaseUnused1M: Galacean's gc over 1,000,000 cached assets,
// every one unreferenced.
func BenchmarkReleaseUnused1M(b *testing.B) {
	e := benchEnv(b)
	for b.Loop() {
		b.StopTimer()
		for range 1_000_000 {
			n := &node{}
			_ = e.m.Register(n, "node", "n")
			_ = e.m.DecRef(n) // made at run time with the caller's reference
		}
		b.StartTimer()
		if n := e.fin.ReleaseUnused(); n != 1_000_000 {
			b.Fatal(n)
		}
	}
}

// BenchmarkCycleCheck100k: a non-forced release of the head of a
// 100,000-asset chain whose tail depends on the head again: the cycle check
// walks the whole chain once.
func BenchmarkCycleCheck100k(b *testing.B) {
	e := benchEnv(b)
	for b.Loop() {
		b.StopTimer()
		head := &node{}
		_ = e.m.Register(head, "node", "head")
		prev := assets.Asset(head)
		for range 99_999 {
			n := &node{}
			_ = e.m.Register(n, "node", "n", prev)
			prev = n
		}
		_ = e.m.AddDependency(head, prev) // head → tail → … → head
		for x := assets.Asset(prev); ; {
			_ = e.m.DecRef(x) // made at run time with the caller's reference
			deps := assets.BaseOf(x).Deps()
			if x == assets.Asset(head) || len(deps) == 0 {
				break
			}
			x = deps[0]
		}
		b.StartTimer()
		if !e.fin.IsCycleOnly(prev) {
			b.Fatal("no cycle found")
		}
		b.StopTimer()
		if n := e.fin.Collect(); n != 100_000 { // the cycle goes together
			b.Fatal(n)
		}
		b.StartTimer()
	}
}

// BenchmarkCycleCheck100kCold: one cycle check of a 100,000-asset cycle on
// a manager that has never walked its graph (vkassets bench release's
// case), each iteration on a fresh manager.
func BenchmarkCycleCheck100kCold(b *testing.B) {
	e := benchEnv(b)
	for b.Loop() {
		b.StopTimer()
		m, _ := assets.New(assets.Options{Device: e.dev, Allocator: e.alloc, Sync: e.sync})
		fin := finalizer.New(m)
		head := &node{}
		_ = m.Register(head, "node", "head")
		chain := []assets.Asset{head}
		for range 99_999 {
			n := &node{}
			_ = m.Register(n, "node", "n", chain[len(chain)-1])
			chain = append(chain, n)
		}
		_ = m.AddDependency(head, chain[len(chain)-1])
		for _, n := range chain {
			_ = m.DecRef(n)
		}
		b.StartTimer()
		if !fin.IsCycleOnly(chain[len(chain)-1]) {
			b.Fatal("no cycle found")
		}
		b.StopTimer()
		_ = m.Close()
		b.StartTimer()
	}
}

// BenchmarkReleaseLeaf: a non-forced release of one unreferenced asset,
// decided at Collect.
func BenchmarkReleaseLeaf(b *testing.B) {
	e := benchEnv(b)
	for b.Loop() {
		b.StopTimer()
		n := &node{}
		_ = e.m.Register(n, "node", "leaf")
		e.m.SetReleaser(nil) // unreferenced without asking, as a loaded root is
		_ = e.m.DecRef(n)
		e.m.SetReleaser(e.fin)
		b.StartTimer()
		_ = e.fin.Release(n)
		if e.fin.Collect() != 1 {
			b.Fatal("not released")
		}
	}
}
