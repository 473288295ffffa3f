package framesync_test

import (
	"context"
	"fmt"
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

// BenchmarkPollThreeTimelines: retiring 64 objects used on three app
// timelines (host-signalled timeline semaphores on lavapipe), against the
// same objects on one timeline, in the same run. One op defers the 64
// objects, signals the timelines and polls until they are gone:
//   - one-timeline: one signal, one Poll;
//   - three-together: three signals, one Poll that reads the three;
//   - three-staggered: signal, Poll, three times: each Poll moves the 64
//     objects on to the next timeline they wait on, the last destroys them.
//
// Steady state allocates nothing.
func BenchmarkPollThreeTimelines(b *testing.B) {
	const perOp = 64
	for _, c := range []struct {
		name      string
		lines     int
		staggered bool
	}{{"one-timeline", 1, false}, {"three-together", 3, false}, {"three-staggered", 3, true}} {
		b.Run(c.name, func(b *testing.B) {
			vd := benchDevice(b)
			s, err := framesync.New(framesync.Options{Device: vd})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			sems := make([]vk.Semaphore, c.lines)
			lines := make([]framesync.Timeline, c.lines)
			for i := range sems {
				sems[i], _ = vd.CreateTimelineSemaphore(0)
				defer vd.DestroySemaphore(sems[i])
				if lines[i], err = s.AddTimeline(fmt.Sprint("queue ", i), sems[i]); err != nil {
					b.Fatal(err)
				}
			}
			nop := framesync.Func(func() {})
			var v uint64
			op := func() {
				v++
				var u framesync.Use
				for _, l := range lines {
					u.Add(l.At(v))
				}
				for range perOp {
					if err := s.DeferUse(nop, u); err != nil {
						b.Fatal(err)
					}
				}
				got := 0
				for i, sem := range sems {
					if err := vd.SignalSemaphore(sem, v); err != nil {
						b.Fatal(err)
					}
					if c.staggered || i == len(sems)-1 {
						n, err := s.Poll()
						if err != nil {
							b.Fatal(err)
						}
						got += n
					}
				}
				if got != perOp {
					b.Fatalf("retired %d, want %d", got, perOp)
				}
			}
			for range 100 { // warm the queue's buckets and scratch
				op()
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				op()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*perOp), "ns/object")
		})
	}
}
