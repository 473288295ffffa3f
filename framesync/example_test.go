package framesync_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/vkassets/vkassets/alloc"
	"github.com/vkassets/vkassets/framesync"
	"github.com/vkassets/vkassets/vk"
)

// A staging buffer used by a frame is freed once that frame has finished on
// the GPU — not before, and without waiting for the device to idle.
func Example() {
	dev, err := vk.Open(vk.Options{InstanceOptions: vk.InstanceOptions{Validation: true}})
	if err != nil {
		log.Fatal(err)
	}
	defer dev.Close()
	a, _ := alloc.New(alloc.Options{Device: dev})
	s, _ := framesync.New(framesync.Options{Device: dev, Allocator: a, FramesInFlight: 2})

	for range 3 {
		f, err := s.BeginFrame(context.Background())
		if err != nil {
			log.Fatal(err)
		}
		staging, mem, _ := a.CreateBuffer(4096, vk.BufferUsageTransferDst, alloc.AllocationOptions{Usage: alloc.UsageUpload})
		dev.CmdFillBuffer(f.Cmd, staging, 0, 4096, 0)
		_ = s.Defer(f.Serial(), framesync.Buffer(staging, mem))
		_ = s.EndFrame(f)
	}
	_ = s.Flush(context.Background()) // or keep calling Poll
	st := s.Stats()
	fmt.Println("pending:", st.Pending, "retired:", st.Retired)
	_ = s.Close()
	fmt.Println("allocator leaks:", a.Close())
	dev.Close()
	fmt.Println("validation errors:", dev.Validator().Errors())
	// Output:
	// pending: 0 retired: 6
	// allocator leaks: <nil>
	// validation errors: 0
}

// An app that submits on its own: it records and submits its command
// buffer itself, signalling its own timeline semaphore, and tells framesync
// at which point of that timeline the buffer was last used. No BeginFrame,
// no EndFrame.
func ExampleSync_AddTimeline() {
	dev, err := vk.Open(vk.Options{InstanceOptions: vk.InstanceOptions{Validation: true}})
	if err != nil {
		log.Fatal(err)
	}
	defer dev.Close()
	a, _ := alloc.New(alloc.Options{Device: dev})
	s, _ := framesync.New(framesync.Options{Device: dev, Allocator: a})

	sem, _ := dev.CreateTimelineSemaphore(0) // the app's, signalled by its submissions
	gfx, _ := s.AddTimeline("graphics", sem)
	pool, _ := dev.CreateCommandPool(vk.CommandPoolTransient)
	cmd, _ := dev.AllocateCommandBuffer(pool)

	buf, mem, _ := a.CreateBuffer(4096, vk.BufferUsageTransferDst, alloc.AllocationOptions{Usage: alloc.UsageGPUOnly})
	_ = dev.BeginCommandBuffer(cmd)
	dev.CmdFillBuffer(cmd, buf, 0, 4096, 0)
	_ = dev.EndCommandBuffer(cmd)
	_ = dev.Submit([]vk.CommandBuffer{cmd}, nil, []vk.SemaphoreSubmit{{Semaphore: sem, Value: 1, Stage: vk.StageAllCommands}}, 0)

	_ = s.DeferAt(framesync.Buffer(buf, mem), gfx.At(1)) // last used by the submission that signals 1
	_ = dev.WaitSemaphore(sem, 1, time.Second)           // the app's own frame pacing
	n, _ := s.Poll()                                     // reads the semaphore without blocking
	fmt.Println("retired:", n)

	_ = s.Close()
	dev.DestroyCommandPool(pool)
	dev.DestroySemaphore(sem)
	fmt.Println("allocator leaks:", a.Close())
	dev.Close()
	fmt.Println("validation errors:", dev.Validator().Errors())
	// Output:
	// retired: 2
	// allocator leaks: <nil>
	// validation errors: 0
}
