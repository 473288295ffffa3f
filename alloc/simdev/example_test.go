package simdev_test

import (
	"fmt"

	"github.com/vkassets/vkassets/alloc/simdev"
)

func Example() {
	dev, err := simdev.Load("1080 Ti")
	if err != nil {
		panic(err)
	}
	p := dev.Physical()
	fmt.Println(p.Name, "granularity", p.Limits.BufferImageGranularity)
	for i, h := range p.Memory.Heaps {
		fmt.Printf("heap %d: %d MiB [%s]\n", i, h.Size>>20, h.Flags)
	}
	for i, t := range p.Memory.Types {
		fmt.Printf("type %d: heap %d [%s]\n", i, t.HeapIndex, t.Flags)
	}
	// Output:
	// GeForce GTX 1080 Ti granularity 1024
	// heap 0: 11127 MiB [DEVICE_LOCAL]
	// heap 1: 65476 MiB []
	// type 0: heap 1 []
	// type 1: heap 1 []
	// type 2: heap 1 []
	// type 3: heap 1 []
	// type 4: heap 1 []
	// type 5: heap 1 []
	// type 6: heap 1 []
	// type 7: heap 0 [DEVICE_LOCAL]
	// type 8: heap 0 [DEVICE_LOCAL]
	// type 9: heap 1 [HOST_VISIBLE|HOST_COHERENT]
	// type 10: heap 1 [HOST_VISIBLE|HOST_COHERENT|HOST_CACHED]
}
