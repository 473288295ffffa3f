package framesync_test

import (
	"context"
	"os"
	"testing"

	"github.com/vkassets/vkassets/alloc"
	"github.com/vkassets/vkassets/framesync"
	"github.com/vkassets/vkassets/vk"
	"github.com/vkassets/vkassets/vk/vktest"
)

// benchDevice is a device without validation unless VKASSETS_VALIDATION=1:
// the layer's own bookkeeping would dominate what is measured.
func benchDevice(b *testing.B) *vk.Device {
	if os.Getenv(vk.EnvValidation) == "1" {
		return vktest.Open(b)
	}
	d, err := vk.Open(vk.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(d.Close)
	return d
}

// BenchmarkPollIdle: Poll with 1,000,000 objects pending and none due (the
// frame they wait for is held back by a semaphore), on lavapipe. It reads
// the completion once and looks at the oldest bucket.
func BenchmarkPollIdle(b *testing.B) {
	for _, m := range modes {
		b.Run(m.name, func(b *testing.B) {
			vd := benchDevice(b)
			s, err := framesync.New(framesync.Options{Device: vd, UseFences: m.useFences})
			if err != nil {
				b.Fatal(err)
			}
			gate, _ := vd.CreateTimelineSemaphore(0)
			f, _ := s.BeginFrame(context.Background())
			nop := framesync.Func(func() {})
			for range 1_000_000 {
				_ = s.Defer(f.Serial(), nop)
			}
			_ = s.EndFrameWith(f, []vk.SemaphoreSubmit{{Semaphore: gate, Value: 1, Stage: vk.StageAllCommands}}, nil)
			b.ResetTimer()
			for b.Loop() {
				if n, err := s.Poll(); n != 0 || err != nil {
					b.Fatal(n, err)
				}
			}
			b.StopTimer()
			if s.Stats().Pending != 1_000_000 {
				b.Fatal("something retired")
			}
			_ = vd.SignalSemaphore(gate, 1)
			_ = s.Close()
			vd.DestroySemaphore(gate)
		})
	}
}

// BenchmarkCompletionQuery is the peer of BenchmarkPollIdle: the bare
// driver call Poll makes to learn how far the GPU has got
// (vkGetSemaphoreCounterValue, or vkGetFenceStatus of the oldest
// submission). Poll's own cost is the difference.
func BenchmarkCompletionQuery(b *testing.B) {
	vd := benchDevice(b)
	b.Run("timeline", func(b *testing.B) {
		sem, err := vd.CreateTimelineSemaphore(0)
		if err != nil {
			b.Fatal(err)
		}
		defer vd.DestroySemaphore(sem)
		for b.Loop() {
			if _, err := vd.SemaphoreValue(sem); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("fences", func(b *testing.B) {
		fence, err := vd.CreateFence(false)
		if err != nil {
			b.Fatal(err)
		}
		defer vd.DestroyFence(fence)
		for b.Loop() {
			if _, err := vd.FenceSignaled(fence); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkRetire10k: one Poll retiring 10,000 buffers on lavapipe, against
// the same 10,000 vkDestroyBuffer calls made directly: the difference is
// framesync's own cost.
func BenchmarkRetire10k(b *testing.B) {
	vd := benchDevice(b)
	a, _ := alloc.New(alloc.Options{Device: vd})
	make10k := func() []vk.Buffer {
		bufs := make([]vk.Buffer, 10_000)
		for i := range bufs {
			bufs[i], _ = vd.CreateBuffer(256, vk.BufferUsageVertex)
		}
		return bufs
	}
	b.Run("direct-destroy", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			bufs := make10k()
			b.StartTimer()
			for _, buf := range bufs {
				vd.DestroyBuffer(buf)
			}
		}
	})
	b.Run("framesync", func(b *testing.B) {
		s, _ := framesync.New(framesync.Options{Device: vd, Allocator: a})
		for b.Loop() {
			b.StopTimer()
			bufs := make10k()
			f, _ := s.BeginFrame(context.Background())
			for _, buf := range bufs {
				_ = s.Defer(f.Serial(), framesync.Buffer(buf, alloc.Allocation{}))
			}
			_ = s.EndFrame(f)
			_ = vd.QueueWaitIdle()
			b.StartTimer()
			if n, err := s.Poll(); n != 10_000 || err != nil {
				b.Fatal(n, err)
			}
		}
		_ = s.Close()
	})
	_ = a.Close()
}
