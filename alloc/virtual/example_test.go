package virtual_test

import (
	"fmt"

	"github.com/vkassets/vkassets/alloc/virtual"
)

// A Block allocates offsets of an abstract space, like VMA's.
func ExampleBlock() {
	b, err := virtual.New(virtual.Options{Size: 1 << 20})
	if err != nil {
		panic(err)
	}
	x, _ := b.Allocate(1000, 1, virtual.KindAny)
	y, _ := b.Allocate(5000, 4096, virtual.KindAny)
	fmt.Println(x.Offset+x.Size <= y.Offset || y.Offset+y.Size <= x.Offset, y.Offset%4096 == 0)
	fmt.Println(b.Stats().Used)
	_ = b.Free(x)
	fmt.Println(b.Free(x) != nil) // a double free is an error
	// Output:
	// true true
	// 6000
	// true
}

// A linear block is a ring: space freed at the front is reused.
func ExampleBlock_linear() {
	b, _ := virtual.New(virtual.Options{Size: 300, Algorithm: virtual.AlgorithmLinear})
	f1, _ := b.Allocate(100, 1, virtual.KindAny)
	f2, _ := b.Allocate(100, 1, virtual.KindAny)
	f3, _ := b.Allocate(100, 1, virtual.KindAny)
	_ = b.Free(f1) // frame 1's data retired
	f4, _ := b.Allocate(100, 1, virtual.KindAny)
	fmt.Println(f2.Offset, f3.Offset, f4.Offset)
	// Output: 100 200 0
}
