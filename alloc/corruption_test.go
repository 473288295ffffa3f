package alloc_test

import (
	"errors"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"

	"github.com/vkassets/vkassets/alloc"
	"github.com/vkassets/vkassets/vk"
)

// beyond is the n bytes that follow b in memory (b's backing array or
// mapping continues there), for planting an overwrite past an allocation.
func beyond(b []byte, n int) []byte {
	return unsafe.Slice((*byte)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(b)), len(b))), n)
}

// before is the n bytes that precede b in memory.
func before(b []byte, n int) []byte {
	return unsafe.Slice((*byte)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(b)), -n)), n)
}

// corruptions is the number of damaged allocations err reports.
func corruptions(err error) int {
	if err == nil {
		return 0
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return len(j.Unwrap())
	}
	return 1
}

// TestCorruptionDetection: with DetectCorruption, every sub-allocation of
// a host-visible coherent type has margins of the magic pattern before and
// after it (no two allocations closer than two margins); a byte planted
// past one allocation's end, and one before another's start, are found by
// CheckCorruption, which names the allocation, its block and the offset,
// and by the Free of that allocation, which frees it all the same; the
// others are clean; a type without detection (device-local) is
// ErrCorruptionDetectionOff; the dump stays valid.
func TestCorruptionDetection(t *testing.T) {
	d := sim(t, "1080 Ti") // types 9 and 10 host-visible and coherent, 7 and 8 device-local
	const margin = 32
	a := newAllocator(t, d, alloc.Options{DetectCorruption: true, DebugMargin: margin})
	hostType := uint32(1 << 9)
	pool, err := a.NewPool(alloc.PoolOptions{Name: "ring", MemoryType: 9, BlockSize: 1 << 20, Algorithm: alloc.AlgorithmLinear})
	require.NoError(t, err)

	var live []alloc.Allocation
	names := []string{}
	for i := range 24 {
		o := alloc.AllocationOptions{Usage: alloc.UsageUpload, Mapped: true, Name: "a" + string(rune('A'+i))}
		if i%3 == 2 {
			o.Pool = pool
		}
		size := uint64(1 + i*37)
		al, err := a.Allocate(vk.MemoryRequirements{Size: size, Alignment: 1 << (i % 9), TypeBits: hostType}, o)
		require.NoError(t, err)
		require.Zero(t, al.Offset%(1<<(i%9)), "alignment kept")
		live = append(live, al)
		names = append(names, o.Name)
	}
	// Margins: in each memory, allocations are at least two margins apart
	// and start at least one margin in.
	byMem := map[vk.DeviceMemory][]alloc.Allocation{}
	for _, al := range live {
		byMem[al.Memory] = append(byMem[al.Memory], al)
	}
	for _, as := range byMem {
		slices.SortFunc(as, func(x, y alloc.Allocation) int { return int(x.Offset) - int(y.Offset) })
		require.GreaterOrEqual(t, as[0].Offset, uint64(margin))
		for i := 1; i < len(as); i++ {
			require.GreaterOrEqual(t, as[i].Offset, as[i-1].Offset+as[i-1].Size+2*margin, "allocations %d and %d", i-1, i)
		}
	}
	require.NoError(t, a.CheckCorruption(hostType))
	require.ErrorIs(t, a.CheckCorruption(1<<7), alloc.ErrCorruptionDetectionOff, "device-local memory is not checked")
	dumpOf(t, a)

	// Plant: one byte just past aF's end (in the linear pool's block), one
	// byte 3 before aK's start.
	beyond(live[5].Mapped, 1)[0] ^= 0xFF
	before(live[10].Mapped, 3)[0] ^= 0x01
	err = a.CheckCorruption(hostType)
	require.ErrorIs(t, err, alloc.ErrCorruption)
	require.Equal(t, 2, corruptions(err), "exactly the two damaged allocations: %v", err)
	require.Contains(t, err.Error(), `"aF"`)
	require.Contains(t, err.Error(), "1 bytes past its end")
	require.Contains(t, err.Error(), `"aK"`)
	require.Contains(t, err.Error(), "3 bytes before its start")
	require.Contains(t, err.Error(), "memory type 9")
	dumpOf(t, a)

	// Free reports it and frees all the same.
	err = a.Free(live[5])
	require.ErrorIs(t, err, alloc.ErrCorruption)
	require.Contains(t, err.Error(), `"aF"`)
	require.ErrorIs(t, a.Free(live[5]), alloc.ErrInvalidFree, "it was freed")
	require.Equal(t, 1, corruptions(a.CheckCorruption(hostType)))
	require.ErrorIs(t, a.Free(live[10]), alloc.ErrCorruption)
	require.NoError(t, a.CheckCorruption(hostType))
	for i, al := range live {
		if i != 5 && i != 10 {
			require.NoError(t, a.Free(al), names[i])
		}
	}
	require.NoError(t, pool.Close())
	require.NoError(t, a.Close())
	require.ErrorIs(t, a.CheckCorruption(hostType), alloc.ErrClosed)
	noViolations(t, d)
	require.Empty(t, d.Leaks())
}

// TestCorruptionOptions: a margin that is not a multiple of 4 is refused;
// margins without DetectCorruption keep allocations apart but are not
// checked; DetectCorruption alone has the 16-byte default; the allocator
// without it checks nothing.
func TestCorruptionOptions(t *testing.T) {
	d := sim(t, "1080 Ti")
	_, err := alloc.New(alloc.Options{Device: d, DebugMargin: 6})
	require.ErrorContains(t, err, "DebugMargin 6")

	a := newAllocator(t, d, alloc.Options{DebugMargin: 64})
	req := vk.MemoryRequirements{Size: 100, Alignment: 4, TypeBits: 1 << 9}
	x, err := a.Allocate(req, alloc.AllocationOptions{})
	require.NoError(t, err)
	y, err := a.Allocate(req, alloc.AllocationOptions{})
	require.NoError(t, err)
	require.Equal(t, x.Memory, y.Memory)
	require.GreaterOrEqual(t, max(x.Offset, y.Offset)-min(x.Offset, y.Offset), uint64(100+2*64))
	require.ErrorIs(t, a.CheckCorruption(^uint32(0)), alloc.ErrCorruptionDetectionOff)
	require.NoError(t, a.Free(x))
	require.NoError(t, a.Free(y))
	require.NoError(t, a.Close())

	a = newAllocator(t, d, alloc.Options{DetectCorruption: true})
	x, err = a.Allocate(req, alloc.AllocationOptions{Mapped: true})
	require.NoError(t, err)
	require.GreaterOrEqual(t, x.Offset, uint64(16), "the default margin")
	beyond(x.Mapped, 16)[15] = 0
	require.ErrorContains(t, a.CheckCorruption(1<<9), "16 bytes past its end")
	require.ErrorIs(t, a.Free(x), alloc.ErrCorruption)
	require.NoError(t, a.Close())
	noViolations(t, d)
}

// TestCorruptionConcurrent: allocations, writes inside them and frees on
// several goroutines while another checks the margins: never a false
// report, and under -race no race.
func TestCorruptionConcurrent(t *testing.T) {
	d := sim(t, "1080 Ti")
	a := newAllocator(t, d, alloc.Options{DetectCorruption: true})
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan error, 16)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := a.CheckCorruption(1 << 9); err != nil {
				errs <- err
				return
			}
		}
	}()
	var workers sync.WaitGroup
	for g := range 4 {
		workers.Add(1)
		go func() {
			defer workers.Done()
			r := rand.New(rand.NewPCG(uint64(g), 7))
			var mine []alloc.Allocation
			for range 400 {
				if len(mine) > 0 && r.IntN(2) == 0 {
					i := r.IntN(len(mine))
					if err := a.Free(mine[i]); err != nil {
						errs <- err
						return
					}
					mine = slices.Delete(mine, i, i+1)
					continue
				}
				al, err := a.Allocate(vk.MemoryRequirements{Size: 1 + r.Uint64N(5000), Alignment: 1 << r.IntN(8), TypeBits: 1 << 9},
					alloc.AllocationOptions{Mapped: true})
				if err != nil {
					errs <- err
					return
				}
				for i := range al.Mapped {
					al.Mapped[i] = 0xEE // every byte of its own, none beyond
				}
				mine = append(mine, al)
			}
			for _, al := range mine {
				if err := a.Free(al); err != nil {
					errs <- err
				}
			}
		}()
	}
	workers.Wait()
	close(stop)
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	require.NoError(t, errors.Join(all...))
	require.NoError(t, a.Close())
	noViolations(t, d)
}
