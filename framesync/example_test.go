package framesync_test

import (
	"context"
	"fmt"
	"log"

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
