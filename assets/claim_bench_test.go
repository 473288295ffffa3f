package assets

import (
	"image"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/vkassets/vkassets/framesync"
)

// The use claim per draw against the mark it replaced (the Use of before
// the claim: raise each mark's serial, no released check, no result),
// measured on the same graph: a sprite frame over a texture, and a mesh
// over two buffers and a textured material.

// legacyBase is the mark-only word of before: the serial alone, in an
// object the size of the Base of before (so that three of them do not share
// a cache line, which they never did).
type legacyBase struct {
	lastUse atomic.Uint64
	_       [120]byte
}

func (b *legacyBase) markUse(serial uint64) {
	for {
		old := b.lastUse.Load()
		if old >= serial || b.lastUse.CompareAndSwap(old, serial) {
			return
		}
	}
}

func legacyUse(serial framesync.Serial, marks []*legacyBase) {
	for _, m := range marks {
		m.markUse(uint64(serial))
	}
}

// claimGraph builds, without a device, a sprite over a texture and a mesh
// over two buffers and a material's texture, as the loaders link them.
func claimGraph() (*SpriteFrame, *Mesh) {
	tex := &Texture2D{Width: 16, Height: 16}
	tex.owner = tex
	link(&tex.Base, tex)
	s := &SpriteFrame{Source: tex}
	s.view.Store(&spriteView{tex: tex, rect: image.Rect(0, 0, 16, 16)})
	link(&s.Base, nil, tex)
	vb, ib := &Buffer{}, &Buffer{}
	link(&vb.Base, vb)
	link(&ib.Base, ib)
	mtex := &Texture2D{}
	link(&mtex.Base, mtex)
	mat := &Material{BaseTexture: mtex}
	link(&mat.Base, nil, mtex)
	mesh := &Mesh{Vertices: vb, Indices: ib, Material: mat}
	link(&mesh.Base, nil, vb, ib, mat)
	return s, mesh
}

// linked numbers link's assets.
var linked uint64

// link is newBase without a manager: deps and flattened marks.
func link(b *Base, owner GPUOwner, deps ...Asset) {
	linked++
	b.id = ID(linked) // Use refuses an asset no manager made
	b.owner = owner
	b.state.Store(int32(Ready))
	var marks []*Base
	if owner != nil {
		marks = append(marks, b)
	}
	for _, d := range deps {
		marks = append(marks, d.base().markList()...)
	}
	b.deps.Store(&deps)
	b.marks.Store(&marks)
}

func legacyMarks(n int) []*legacyBase {
	out := make([]*legacyBase, n)
	for i := range out {
		out[i] = &legacyBase{}
	}
	return out
}

func BenchmarkUse(b *testing.B) {
	sprite, mesh := claimGraph()
	b.Run("sprite/claim", func(b *testing.B) {
		b.ReportAllocs()
		for i := range b.N {
			if _, _, err := sprite.Claim(framesync.Serial(i)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("sprite/legacy-mark", func(b *testing.B) {
		b.ReportAllocs()
		marks := legacyMarks(1)
		for i := range b.N {
			legacyUse(framesync.Serial(i), marks)
		}
	})
	b.Run("mesh/claim", func(b *testing.B) {
		b.ReportAllocs()
		for i := range b.N {
			if err := Use(framesync.Serial(i), mesh); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("mesh/legacy-mark", func(b *testing.B) {
		b.ReportAllocs()
		marks := legacyMarks(3)
		for i := range b.N {
			legacyUse(framesync.Serial(i), marks)
		}
	})
	// A frame: one serial, many draws (the first claim of a serial is a
	// CAS, the rest loads).
	b.Run("mesh/claim-same-serial", func(b *testing.B) {
		b.ReportAllocs()
		for i := range b.N {
			if err := Use(framesync.Serial(i>>10), mesh); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("mesh/legacy-mark-same-serial", func(b *testing.B) {
		b.ReportAllocs()
		marks := legacyMarks(3)
		for i := range b.N {
			legacyUse(framesync.Serial(i>>10), marks)
		}
	})
	// Four goroutines claiming the same assets (the contended case: every
	// claim of a new serial is a CAS on a shared word).
	b.Run("mesh/claim-4-goroutines", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(max(1, 4/runtimeProcs()))
		var serial atomic.Uint64
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := Use(framesync.Serial(serial.Add(1)), mesh); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("mesh/legacy-mark-4-goroutines", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(max(1, 4/runtimeProcs()))
		marks := legacyMarks(3)
		var serial atomic.Uint64
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				legacyUse(framesync.Serial(serial.Add(1)), marks)
			}
		})
	})
}

// TestUseAllocatesNothing: the claim is on the per-draw path.
func TestUseAllocatesNothing(t *testing.T) {
	sprite, mesh := claimGraph()
	var serial framesync.Serial
	if n := testing.AllocsPerRun(1000, func() {
		serial++
		_ = Use(serial, mesh)
		_, _, _ = sprite.Claim(serial)
	}); n != 0 {
		t.Fatalf("a use claim allocates %.1f times", n)
	}
	mesh.Vertices.markReleased()
	if n := testing.AllocsPerRun(1000, func() { _ = Use(serial, mesh) }); n != 0 {
		t.Fatalf("a refused claim allocates %.1f times", n)
	}
	if err := Use(serial+1, mesh); err != ErrReleased {
		t.Fatalf("a claim over a released buffer: %v", err)
	}
}

func runtimeProcs() int { return runtime.GOMAXPROCS(0) }
