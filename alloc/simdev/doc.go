// Package simdev simulates the memory system of real Vulkan devices, for
// testing the allocator in package alloc without a GPU and on layouts that
// the lavapipe CPU device, which CI runs on, lacks.
//
// lavapipe has one heap and one memory type that is everything at once, so an
// allocator tested only on it never picks between types, never fills a small
// heap, never meets bufferImageGranularity and never runs out of
// allocations. The ten devices in devices.json (heaps, types and limits of
// real GPUs from vulkan.gpuinfo.org exports, and llvmpipe itself) have what
// it lacks:
//
//   - several types and heaps, with device-local memory apart from host
//     memory (GeForce GTX 1080 Ti, GeForce 940M, RX 480, RADV POLARIS10);
//   - a small device-local, host-visible "BAR" heap: 256 MiB on the RX 480
//     (heap 2), 222 MiB on RADV POLARIS10 (heap 1);
//   - bufferImageGranularity of 1024 (1080 Ti, Tegra X1), 4096 (Mali-T760)
//     and 65536 (940M);
//   - LAZILY_ALLOCATED memory (Mali-T760), host-cached memory that is not
//     coherent (Adreno 540, Mali-T760, Tegra X1), a nonCoherentAtomSize of 128
//     (RX 480, PowerVR);
//   - maxMemoryAllocationCount of 4096 (1080 Ti, 940M, Adreno) and 9999
//     (PowerVR).
//
// A Device implements alloc.Device. Its memory is bookkeeping (and a Go slice
// once mapped); heaps run out when their bytes are allocated. Every call
// checks the rules of the Vulkan specification that an allocator could break
// (alignment, memory type bits, binding past the end, mapping twice, flush
// ranges and nonCoherentAtomSize, double free, …) and, stricter than Vulkan,
// that bound resources never overlap, that linear resources and optimal
// images never share a bufferImageGranularity page, and that resources are
// destroyed before their memory is freed. A broken rule is recorded in
// Violations, so a test ends with
//
//	assert.Empty(t, dev.Violations())
//	assert.Empty(t, dev.Leaks())
//
// and calls that break one return an error wrapping ErrViolation. Failures
// can be injected into AllocateMemory (FailNext, FailLargerThan,
// SetAllocateHook) and VK_EXT_memory_budget simulated (Options.Budget).
//
// Memory requirements follow simple, documented rules (see CreateBuffer and
// CreateImage), not any one driver's.
package simdev
