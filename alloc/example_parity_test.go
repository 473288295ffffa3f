package alloc_test

import (
	"errors"
	"fmt"

	"github.com/vkassets/vkassets/alloc"
	"github.com/vkassets/vkassets/alloc/simdev"
	"github.com/vkassets/vkassets/vk"
)

// A debug build turns corruption detection on: a write one byte past a
// staging buffer's end is found by CheckCorruption and by Free.
func ExampleAllocator_CheckCorruption() {
	dev, err := simdev.Load("1080 Ti")
	if err != nil {
		panic(err)
	}
	a, err := alloc.New(alloc.Options{Device: dev, DetectCorruption: true})
	if err != nil {
		panic(err)
	}
	req := vk.MemoryRequirements{Size: 100, Alignment: 16, TypeBits: 1 << 9} // host-visible, coherent
	al, err := a.Allocate(req, alloc.AllocationOptions{Name: "staging", Mapped: true})
	if err != nil {
		panic(err)
	}
	whole, err := a.Allocate(req, alloc.AllocationOptions{Name: "neighbour", Mapped: true})
	if err != nil {
		panic(err)
	}
	fmt.Println(a.CheckCorruption(^uint32(0)))

	overrun(al.Mapped) // a bug writes one byte too many
	err = a.CheckCorruption(^uint32(0))
	fmt.Println(errors.Is(err, alloc.ErrCorruption))
	fmt.Println(errors.Is(a.Free(al), alloc.ErrCorruption), a.Free(whole), a.Close())
	// Output:
	// <nil>
	// true
	// true <nil> <nil>
}

func overrun(b []byte) { beyond(b, 1)[0] = 0 }

// A linear pool of one block is a double stack: per-frame data from the
// bottom, per-level data from the top.
func ExampleAllocationOptions_upperAddress() {
	dev, err := simdev.Load("1080 Ti")
	if err != nil {
		panic(err)
	}
	a, err := alloc.New(alloc.Options{Device: dev})
	if err != nil {
		panic(err)
	}
	pool, err := a.NewPool(alloc.PoolOptions{Name: "frame", MemoryType: 9, BlockSize: 1 << 20, MaxBlocks: 1, Algorithm: alloc.AlgorithmLinear})
	if err != nil {
		panic(err)
	}
	req := vk.MemoryRequirements{Size: 256 << 10, Alignment: 256, TypeBits: 1 << 9}
	frame, _ := a.Allocate(req, alloc.AllocationOptions{Pool: pool})
	level, _ := a.Allocate(req, alloc.AllocationOptions{Pool: pool, UpperAddress: true})
	fmt.Println(frame.Offset, level.Offset)
	_, err = a.Allocate(vk.MemoryRequirements{Size: 600 << 10, Alignment: 256, TypeBits: 1 << 9}, alloc.AllocationOptions{Pool: pool})
	fmt.Println(errors.Is(err, alloc.ErrNoSpace))
	fmt.Println(a.Free(frame), a.Free(level), pool.Close(), a.Close())
	// Output:
	// 0 786432
	// true
	// <nil> <nil> <nil> <nil>
}
