// Package virtual is the pure-Go core of vkassets' allocator: a
// sub-allocator of offsets within one block, with no memory behind it. It is
// what VMA calls a virtual block, and what package alloc runs on each
// VkDeviceMemory. It uses no cgo and allocates nothing per operation.
//
// Two algorithms:
//
//   - TLSF (two-level segregated fit), for general use. Free ranges are filed
//     in 60×32 size classes found through two bitmaps, each class a balanced
//     tree ordered by (size, offset) whose nodes know the largest aligned
//     capacity below them; nodes live in a slice and are linked by index.
//     The search is an exact best fit (the smallest range that holds the
//     request once aligned) in O(log n): ranges too small once aligned are
//     pruned, never walked. (VMA's TLSF walks a whole free list when aligned
//     requests misfit; on adversarial traces that is its millisecond tail.)
//   - Linear, for staging and per-frame data: allocations go in order and
//     space comes back when the oldest are freed (a ring) or the newest (a
//     stack). AllocateUpper makes it a double stack, as VMA's upper-address
//     allocations do: a second stack down from the block's end.
//
// A granularity (Vulkan's bufferImageGranularity) keeps ranges of
// KindLinear and KindOptimal off each other's pages.
//
//	b, _ := virtual.New(virtual.Options{Size: 1 << 20})
//	a, _ := b.Allocate(4096, 256, virtual.KindAny)
//	fmt.Println(a.Offset)
//	_ = b.Free(a)
//
// An Allocation's handle names its block (an 8-bit id) and its node with a
// 32-bit generation: a double free, a stale handle (until its node has been
// reused 2^32 times) or another block's handle is refused and changes
// nothing. A block holds at most 2^24 nodes.
//
// A Planner plans a defragmentation over a set of blocks: passes of moves
// whose destinations it reserves, which the caller commits or cancels
// (see DefragAlgorithm).
//
// A Block is not safe for concurrent use.
package virtual
