package virtual_test

import (
	"testing"

	"github.com/vkassets/vkassets/alloc/trace"
	"github.com/vkassets/vkassets/alloc/virtual"
)

// replay runs a trace straight on a Block, with no adapter in between.
func replay(b *testing.B, ops []trace.Op) {
	slots := 0
	for _, o := range ops {
		slots = max(slots, o.Slot+1)
	}
	live := make([]virtual.Allocation, slots)
	b.ResetTimer()
	for b.Loop() {
		blk, _ := virtual.New(virtual.Options{Size: 256 << 20})
		clear(live)
		for _, o := range ops {
			if o.Free {
				if !live[o.Slot].IsZero() {
					_ = blk.Free(live[o.Slot])
					live[o.Slot] = virtual.Allocation{}
				}
				continue
			}
			a, err := blk.Allocate(o.Size, o.Align, virtual.KindAny)
			if err == nil {
				live[o.Slot] = a
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(ops)), "ns/traceop")
}

func BenchmarkTraceRandom(b *testing.B)      { replay(b, trace.Random(1, 200_000)) }
func BenchmarkTraceAdversarial(b *testing.B) { replay(b, trace.Adversarial(1, 200_000)) }
