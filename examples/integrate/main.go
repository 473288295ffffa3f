// Command integrate shows vkassets' allocator and GPU-exact retirement in an
// application that owns its Vulkan instance, device and queue: vk.Wrap takes
// the raw handles, and nothing else of vkassets is needed.
//
//	go run ./examples/integrate
package main

import (
	"context"
	"fmt"
	"log"

	"github.com/vkassets/vkassets/alloc"
	"github.com/vkassets/vkassets/framesync"
	"github.com/vkassets/vkassets/vk"
)

func main() {
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

func run() error {
	// Your engine made these. Here vk.Open stands in for it; any loader
	// works, as long as the same libvulkan is in the process.
	app, err := vk.Open(vk.Options{InstanceOptions: vk.InstanceOptions{AppName: "your engine"}})
	if err != nil {
		return err
	}
	defer app.Close()

	d, err := vk.Wrap(vk.External{
		Instance:           app.Instance().Handle(),
		PhysicalDevice:     app.Physical().Handle(),
		Device:             app.Handle(),
		Queue:              app.QueueHandle(),
		QueueFamily:        app.QueueFamily(),
		TimelineSemaphores: app.TimelineSemaphores(),
		APIVersion:         app.Instance().APIVersion(), // what your VkApplicationInfo asked for: Wrap checks it
	})
	if err != nil {
		return err
	}
	defer d.Close() // vkassets' bookkeeping only: your device lives on

	a, err := alloc.New(alloc.Options{Device: d})
	if err != nil {
		return err
	}
	s, err := framesync.New(framesync.Options{Device: d, Allocator: a, FramesInFlight: 2})
	if err != nil {
		return err
	}
	ctx := context.Background()
	for frame := range 10 {
		f, err := s.BeginFrame(ctx)
		if err != nil {
			return err
		}
		// A per-frame buffer, used by this frame only, freed when the GPU
		// has finished it.
		buf, mem, err := a.CreateBuffer(64<<10, vk.BufferUsageTransferDst, alloc.AllocationOptions{Name: fmt.Sprintf("frame %d", frame)})
		if err != nil {
			return err
		}
		d.CmdFillBuffer(f.Cmd, buf, 0, 64<<10, uint32(frame))
		if err := s.Defer(f.Serial(), framesync.Buffer(buf, mem)); err != nil {
			return err
		}
		if err := s.EndFrame(f); err != nil {
			return err
		}
	}
	if err := s.Flush(ctx); err != nil {
		return err
	}
	st := s.Stats()
	fmt.Printf("%d frames on %s: %d objects retired, %d pending, at most %d frames after their last use\n",
		st.Frames, d.Physical().Name, st.Retired, st.Pending, st.MaxLatencyFrames)
	fmt.Printf("vkAllocateMemory calls: %d for %d buffers\n", a.AllocateCalls(), st.Frames)
	if err := s.Close(); err != nil {
		return err
	}
	if err := a.Close(); err != nil {
		return err
	}
	d.Close()
	app.Close()
	if n := app.Validator().Errors(); n > 0 { // with VKASSETS_VALIDATION=1
		return fmt.Errorf("%d validation errors: %v", n, app.Validator().ErrorCounts())
	}
	return nil
}
