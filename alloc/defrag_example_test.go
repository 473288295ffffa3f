package alloc_test

import (
	"fmt"

	"github.com/vkassets/vkassets/alloc"
	"github.com/vkassets/vkassets/alloc/simdev"
	"github.com/vkassets/vkassets/vk"
)

// A defragmentation pass by pass. Here the allocations are raw memory
// whose contents do not matter; an application would create each resource
// again at DstMemory+DstOffset, record a copy, wait for it and destroy the
// old resource before EndPass.
func ExampleAllocator_BeginDefragmentation() {
	d, _ := simdev.Load("1080 Ti")
	a, _ := alloc.New(alloc.Options{Device: d, PreferredBlockSize: 1 << 20})
	var live []alloc.Allocation
	for i := range 64 {
		al, _ := a.Allocate(vk.MemoryRequirements{Size: 32 << 10, Alignment: 256, TypeBits: 1 << 7},
			alloc.AllocationOptions{Kind: alloc.KindLinear})
		if i%2 == 0 {
			_ = a.Free(al) // fragment the blocks
			continue
		}
		live = append(live, al)
	}
	fmt.Println("blocks before:", a.DeviceAllocations())

	dfr, _ := a.BeginDefragmentation(alloc.DefragOptions{MaxMovesPerPass: 8})
	for {
		moves, _ := dfr.BeginPass()
		if len(moves) == 0 {
			break
		}
		// (copy each moves[i].Src to moves[i].DstMemory+DstOffset here)
		_ = dfr.EndPass()
		for _, m := range moves {
			for i := range live {
				if live[i].Memory == m.Src.Memory && live[i].Offset == m.Src.Offset {
					live[i] = m.Dst // the allocation's new value
				}
			}
		}
	}
	st := dfr.End()
	fmt.Println("blocks after:", a.DeviceAllocations(), "freed:", st.BlocksFreed)
	for _, al := range live {
		_ = a.Free(al)
	}
	_ = a.Close()
	// Output:
	// blocks before: 4
	// blocks after: 1 freed: 3
}
