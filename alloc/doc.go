// Package alloc is vkassets' device-memory allocator: the job VMA does in
// C++, with a pure-Go core.
//
// It has two layers, as VMA does.
//
// The core, package alloc/virtual, is a pure-Go sub-allocator of offsets,
// usable on its own as a virtual block: TLSF for general use and a linear
// ring/stack for staging and per-frame data, with no allocation per
// operation and a strictly bounded search.
//
// The Allocator runs those blocks on VkDeviceMemory through an alloc.Device
// (a *vk.Device, or a simulated one from alloc/simdev):
//
//   - memory types are chosen from intent (Usage: GPU-only, upload, dynamic,
//     readback, transient) plus required and preferred flags, keeping staging
//     out of the small device-local host-visible BAR heap;
//   - each memory type has a list of blocks whose sizes grow from 1/8 of the
//     preferred size (256 MiB, or heap/8 on heaps of 1 GiB or less);
//   - dedicated allocations are made when the driver requires or prefers them
//     or the request is larger than half a block;
//   - bufferImageGranularity is respected between linear and optimal
//     resources; mappings are counted (Map and Unmap, as vmaMapMemory; a
//     persistently mapped allocation holds one) and a block is unmapped at
//     the last; Flush and Invalidate widen ranges to nonCoherentAtomSize on
//     non-coherent memory;
//   - custom pools have a fixed block size, a block count range and either
//     algorithm; empty blocks are kept while the heap is under budget;
//   - budgets come from VK_EXT_memory_budget, else 80% of the heap;
//     StayWithinBudget fails with ErrBudgetExceeded instead of going over;
//   - never more than maxMemoryAllocationCount device allocations; when
//     vkAllocateMemory fails the allocator retries smaller blocks, then a
//     dedicated allocation, then the next allowed memory type, and only then
//     returns the error, having leaked nothing;
//   - each allocation may carry a debug name and user data; Close reports
//     leaks by name and keeps their memory until they are freed (see
//     Allocator.Close);
//   - VMA's per-allocation flags NeverAllocate (existing blocks only, else
//     ErrWouldAllocate) and WithinBudget, and its device-memory callbacks
//     (Options.DeviceMemoryCallbacks), told of every vkAllocateMemory and
//     vkFreeMemory.
//   - VMA's debugging margins and corruption detection
//     (Options.DebugMargin, DetectCorruption; CheckCorruption), buffer
//     device addresses (Options.BufferDeviceAddress), resources aliasing an
//     allocation (CreateAliasingBuffer, CreateAliasingImage) and memory
//     priorities (Options.MemoryPriority, AllocationOptions.Priority,
//     SetPriority under VK_EXT_pageable_device_local_memory), and
//     double-stack linear pools (AllocationOptions.UpperAddress).
//
// When an allocation still fails for lack of memory (out of device or host
// memory, over budget under StayWithinBudget, at maxMemoryAllocationCount),
// a handler set with SetPressureHandler may free what nothing uses, as
// DXVK evicts unused resources, and have it tried once more:
//
//	a.SetPressureHandler(func(p alloc.Pressure) bool {
//		return cache.Evict(p.Heap, p.Size) > 0 // frees through a.Free
//	})
//
// It runs with no allocator lock held, at most twice per allocation; Stats
// counts its calls and the allocations it saved. AllocatedBytes, lock-free,
// is the live bytes a residency policy polls every frame.
//
// Defragmentation (BeginDefragmentation, VMA's shape) moves allocations
// out of the emptiest blocks so that those can be freed: the allocator
// plans passes of moves within per-pass limits, the application copies
// its buffers and images and says what it did with each move, and EndPass
// commits them; see DefragAlgorithm and docs/allocator.md.
//
// Stats, WriteStatsJSON (VMA's statistics-string format, which VMA's
// GpuMemDumpVis.py draws) and WriteBlockMapPNG show the state.
//
// An Allocation is a value. Keep it and hand it back to Free; a double free,
// a stale copy (even when the driver has reused its VkDeviceMemory handle)
// or another allocator's allocation is an error that changes nothing. The
// Allocator is safe for concurrent use with one lock per memory type; a
// VirtualBlock is not.
package alloc
