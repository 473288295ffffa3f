package alloc_test

import (
	"fmt"

	"github.com/vkassets/vkassets/alloc"
	"github.com/vkassets/vkassets/alloc/simdev"
	"github.com/vkassets/vkassets/vk"
)

// An asset cache keeps textures nothing uses any more until memory runs
// short; the pressure handler evicts the oldest and has the allocation
// tried again.
func ExampleAllocator_SetPressureHandler() {
	dev, err := simdev.Load("PowerVR Rogue GE8300") // one heap of 1 GiB
	if err != nil {
		panic(err)
	}
	a, err := alloc.New(alloc.Options{Device: dev})
	if err != nil {
		panic(err)
	}
	var unused []alloc.Allocation // least recently used first
	a.SetPressureHandler(func(p alloc.Pressure) bool {
		if len(unused) == 0 {
			return false
		}
		fmt.Printf("%s needs %d MiB of heap %d: evict one\n", p.Name, p.Size>>20, p.Heap)
		if err := a.Free(unused[0]); err != nil {
			panic(err)
		}
		unused = unused[1:]
		return true
	})

	req := vk.MemoryRequirements{Size: 400 << 20, Alignment: 256, TypeBits: ^uint32(0)}
	for _, name := range []string{"level 1", "level 2", "level 3"} {
		al, err := a.Allocate(req, alloc.AllocationOptions{Name: name})
		if err != nil {
			panic(err)
		}
		unused = append(unused, al) // the level is left, its textures kept
	}
	s := a.Stats()
	fmt.Printf("%d MiB live, pressure events %d, recovered %d\n", a.AllocatedBytes(0)>>20, s.PressureEvents, s.PressureRecovered)
	for _, al := range unused {
		if err := a.Free(al); err != nil {
			panic(err)
		}
	}
	fmt.Println(a.Close())
	// Output:
	// level 3 needs 400 MiB of heap 0: evict one
	// 800 MiB live, pressure events 1, recovered 1
	// <nil>
}
