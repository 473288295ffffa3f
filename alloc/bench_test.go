package alloc_test

import (
	"math/rand/v2"
	"testing"

	"github.com/vkassets/vkassets/alloc"
	"github.com/vkassets/vkassets/alloc/simdev"
	"github.com/vkassets/vkassets/alloc/trace"
	"github.com/vkassets/vkassets/vk"
)

// BenchmarkCreateDestroy is the whole-allocator path: a buffer or an image
// created (vkCreate*, requirements, allocation, bind) and another destroyed,
// per op, with fake driver calls on the simulated GTX 1080 Ti, about 1,000
// resources live.
func BenchmarkCreateDestroy(b *testing.B) {
	d, _ := simdev.LoadWith("1080 Ti", simdev.Options{Unchecked: true})
	a, _ := alloc.New(alloc.Options{Device: d})
	r := rand.New(rand.NewPCG(1, 1))
	live := make([]resource, 0, 1024)
	create := func() resource {
		if r.IntN(3) == 0 {
			side := uint32(16) << r.IntN(6)
			img, al, err := a.CreateImage(vk.ImageInfo{Format: vk.FormatR8G8B8A8Unorm, Width: side, Height: side, Usage: vk.ImageUsageSampled}, alloc.AllocationOptions{})
			if err != nil {
				b.Fatal(err)
			}
			return resource{img: img, al: al}
		}
		buf, al, err := a.CreateBuffer(uint64(256+r.IntN(1<<18)), vk.BufferUsageVertex, alloc.AllocationOptions{})
		if err != nil {
			b.Fatal(err)
		}
		return resource{buf: buf, al: al}
	}
	for range 1000 {
		live = append(live, create())
	}
	b.ReportAllocs()
	for b.Loop() {
		k := r.IntN(len(live))
		if err := live[k].destroy(a); err != nil {
			b.Fatal(err)
		}
		live[k] = create()
	}
}

// gpuMixResult replays trace.GPUMix through the allocator on the simulated
// 1080 Ti: buffers (alignment 256) and optimal images (alignment 65536) in
// device-local memory. It reports live bytes over reserved device memory at
// the end and on average, and the vkAllocateMemory calls made.
type gpuMixResult struct {
	finalUtilization, meanUtilization float64
	allocateCalls, blocks, failed     int
}

func replayGPUMix(tb testing.TB, ops []trace.Op, policy alloc.EmptyBlockPolicy) gpuMixResult {
	d, _ := simdev.LoadWith("1080 Ti", simdev.Options{Unchecked: true})
	a, _ := alloc.New(alloc.Options{Device: d, EmptyBlocks: policy})
	slots := map[int]alloc.Allocation{}
	var live uint64
	var res gpuMixResult
	var sum float64
	samples := 0
	for i, o := range ops {
		if o.Free {
			if al, ok := slots[o.Slot]; ok {
				live -= al.Size
				if err := a.Free(al); err != nil {
					tb.Fatal(err)
				}
				delete(slots, o.Slot)
			}
		} else {
			kind := alloc.KindLinear
			if o.Align == trace.GPUMixImageAlign {
				kind = alloc.KindOptimal
			}
			al, err := a.Allocate(vk.MemoryRequirements{Size: o.Size, Alignment: o.Align, TypeBits: 1 << 7}, alloc.AllocationOptions{Kind: kind})
			if err != nil {
				res.failed++
				continue
			}
			slots[o.Slot] = al
			live += al.Size
		}
		if i%1000 == 999 {
			sum += float64(live) / float64(a.Stats().Total.BlockBytes)
			samples++
		}
	}
	s := a.Stats()
	res.finalUtilization = float64(live) / float64(s.Total.BlockBytes)
	res.meanUtilization = sum / float64(samples)
	res.allocateCalls = s.AllocateCalls
	res.blocks = s.DeviceAllocations
	for _, al := range slots {
		_ = a.Free(al)
	}
	_ = a.Close()
	return res
}

func BenchmarkGPUMix(b *testing.B) {
	ops := trace.GPUMix(1, 300_000)
	for _, p := range []struct {
		name   string
		policy alloc.EmptyBlockPolicy
	}{{"keep-under-budget", alloc.KeepWhileUnderBudget}, {"free-empty", alloc.FreeEmptyBlocks}} {
		b.Run(p.name, func(b *testing.B) {
			var r gpuMixResult
			for b.Loop() {
				r = replayGPUMix(b, ops, p.policy)
			}
			b.ReportMetric(r.finalUtilization, "live/reserved")
			b.ReportMetric(r.meanUtilization, "mean-live/reserved")
			b.ReportMetric(float64(r.allocateCalls), "vkAllocateMemory")
			b.ReportMetric(float64(r.blocks), "blocks")
			b.ReportMetric(float64(r.failed), "failed")
		})
	}
}

// BenchmarkAllocateFree is the allocator without the driver: one Allocate
// and one Free of random sizes per op, about 1,000 live, on the simulated
// 1080 Ti (no device call happens once the blocks exist).
func BenchmarkAllocateFree(b *testing.B) {
	d, _ := simdev.LoadWith("1080 Ti", simdev.Options{Unchecked: true})
	a, _ := alloc.New(alloc.Options{Device: d})
	r := rand.New(rand.NewPCG(1, 1))
	req := func() vk.MemoryRequirements {
		return vk.MemoryRequirements{Size: uint64(256 + r.IntN(1<<18)), Alignment: 256, TypeBits: 1<<7 | 1<<8}
	}
	live := make([]alloc.Allocation, 0, 1024)
	for range 1000 {
		al, err := a.Allocate(req(), alloc.AllocationOptions{Kind: alloc.KindLinear})
		if err != nil {
			b.Fatal(err)
		}
		live = append(live, al)
	}
	b.ReportAllocs()
	for b.Loop() {
		k := r.IntN(len(live))
		if err := a.Free(live[k]); err != nil {
			b.Fatal(err)
		}
		al, err := a.Allocate(req(), alloc.AllocationOptions{Kind: alloc.KindLinear})
		if err != nil {
			b.Fatal(err)
		}
		live[k] = al
	}
}
