package main

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/vkassets/vkassets/alloc"
	"github.com/vkassets/vkassets/alloc/simdev"
	"github.com/vkassets/vkassets/alloc/trace"
	"github.com/vkassets/vkassets/vk"
)

const defragAbout = `Replay the gpumix allocator trace through the Allocator on the simulated
GTX 1080 Ti (device-local memory, buffers and optimal images), then
defragment the state it ends in with each algorithm (fast, full): live /
reserved bytes before and after, blocks freed, bytes and allocations moved,
passes, the CPU time of the planning, and the vkAllocateMemory calls of
replay and defragmentation together.`

// defragResult is one row of `vkassets bench defrag`.
type defragResult struct {
	Algorithm      string  `json:"algorithm"`
	Seed           uint64  `json:"seed"`
	Ops            int     `json:"ops"`
	LiveBytes      uint64  `json:"live_bytes"`
	LiveReservedB  float64 `json:"live_reserved_before"`
	LiveReservedA  float64 `json:"live_reserved_after"`
	BlocksBefore   int     `json:"blocks_before"`
	BlocksAfter    int     `json:"blocks_after"`
	BlocksFreed    int     `json:"blocks_freed"`
	BytesMoved     uint64  `json:"bytes_moved"`
	Moves          int     `json:"moves"`
	Passes         int     `json:"passes"`
	PlanningMs     float64 `json:"planning_ms"`
	AllocateCalls  int     `json:"vk_allocate_memory_calls"`
	FreeRangesB    int     `json:"free_ranges_before"`
	FreeRangesA    int     `json:"free_ranges_after"`
	LargestFreeB   uint64  `json:"largest_free_before"`
	LargestFreeA   uint64  `json:"largest_free_after"`
	MaxBytesPass   uint64  `json:"max_bytes_per_pass,omitempty"`
	MaxMovesPass   int     `json:"max_moves_per_pass,omitempty"`
	FailedAllocate int     `json:"failed_allocations"`
}

// defragOptions are `vkassets bench defrag`'s flags.
type defragOptions struct {
	seed             uint64
	ops              int
	maxBytes         uint64
	maxMoves         int
	allocatorOptions alloc.Options
	part             string // allocator, assets or all
	assetBytes       uint64 // the assets part's MaxBytesPerFrame
}

// benchDefrag runs the gpumix replay and each algorithm's defragmentation.
func benchDefrag(progress io.Writer, o defragOptions) ([]defragResult, error) {
	if o.ops == 0 {
		o.ops = 300_000
	}
	ops := trace.GPUMix(o.seed, o.ops)
	var out []defragResult
	for _, algo := range []alloc.DefragAlgorithm{alloc.DefragFast, alloc.DefragFull} {
		fmt.Fprintf(progress, "gpumix seed %d, %d operations, defragmentation %v ...\n", o.seed, o.ops, algo)
		r, err := defragGPUMix(ops, algo, o)
		if err != nil {
			return nil, err
		}
		r.Seed, r.Ops = o.seed, o.ops
		out = append(out, r)
	}
	return out, nil
}

func defragGPUMix(ops []trace.Op, algo alloc.DefragAlgorithm, o defragOptions) (defragResult, error) {
	res := defragResult{Algorithm: algo.String(), MaxBytesPass: o.maxBytes, MaxMovesPass: o.maxMoves}
	d, err := simdev.LoadWith("1080 Ti", simdev.Options{Unchecked: true})
	if err != nil {
		return res, err
	}
	a, err := alloc.New(alloc.Options{Device: d})
	if err != nil {
		return res, err
	}
	defer a.Close()
	slots := map[int]alloc.Allocation{}
	for _, op := range ops {
		if op.Free {
			if al, ok := slots[op.Slot]; ok {
				if err := a.Free(al); err != nil {
					return res, err
				}
				delete(slots, op.Slot)
			}
			continue
		}
		kind := alloc.KindLinear
		if op.Align == trace.GPUMixImageAlign {
			kind = alloc.KindOptimal
		}
		al, err := a.Allocate(vk.MemoryRequirements{Size: op.Size, Alignment: op.Align, TypeBits: 1 << 7},
			alloc.AllocationOptions{Kind: kind, UserData: op.Slot})
		if err != nil {
			res.FailedAllocate++
			continue
		}
		slots[op.Slot] = al
	}
	before := a.Stats().Total
	res.LiveBytes = before.AllocationBytes
	res.LiveReservedB = float64(before.AllocationBytes) / float64(before.BlockBytes)
	res.BlocksBefore = before.BlockCount
	res.FreeRangesB, res.LargestFreeB = before.UnusedRangeCount, before.UnusedRangeSizeMax

	var moveErr error
	st, err := a.Defragment(alloc.DefragOptions{Algorithm: algo, MaxBytesPerPass: o.maxBytes, MaxMovesPerPass: o.maxMoves},
		func(from, to alloc.Allocation) {
			ud, _ := a.UserData(to)
			slot, _ := ud.(int)
			if held := slots[slot]; held.Memory != from.Memory || held.Offset != from.Offset {
				moveErr = fmt.Errorf("slot %d moved from %v+%d but held at %v+%d", slot, from.Memory, from.Offset, held.Memory, held.Offset)
			}
			to.Size = slots[slot].Size
			slots[slot] = to
		})
	if err != nil {
		return res, err
	}
	if moveErr != nil {
		return res, moveErr
	}
	after := a.Stats()
	res.LiveReservedA = float64(after.Total.AllocationBytes) / float64(after.Total.BlockBytes)
	res.BlocksAfter = after.Total.BlockCount
	res.FreeRangesA, res.LargestFreeA = after.Total.UnusedRangeCount, after.Total.UnusedRangeSizeMax
	res.BlocksFreed = st.BlocksFreed
	res.BytesMoved = st.BytesMoved
	res.Moves = st.AllocationsMoved
	res.Passes = st.Passes
	res.PlanningMs = float64(st.Planning.Microseconds()) / 1000
	res.AllocateCalls = after.AllocateCalls
	for slot, al := range slots {
		if err := a.Free(al); err != nil {
			return res, fmt.Errorf("slot %d after the defragmentation: %w", slot, err)
		}
	}
	return res, nil
}

func printDefrag(w io.Writer, rs []defragResult) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "algorithm\tlive/reserved before\tafter\tblocks\tfreed\tMiB moved\tmoves\tpasses\tplanning ms\tvkAllocateMemory\tfree ranges\tlargest free MiB\t")
	for _, r := range rs {
		fmt.Fprintf(tw, "%s\t%.3f\t%.3f\t%d -> %d\t%d\t%.1f\t%d\t%d\t%.2f\t%d\t%d -> %d\t%.1f -> %.1f\t\n", r.Algorithm,
			r.LiveReservedB, r.LiveReservedA, r.BlocksBefore, r.BlocksAfter, r.BlocksFreed, float64(r.BytesMoved)/(1<<20),
			r.Moves, r.Passes, r.PlanningMs, r.AllocateCalls, r.FreeRangesB, r.FreeRangesA,
			float64(r.LargestFreeB)/(1<<20), float64(r.LargestFreeA)/(1<<20))
	}
	tw.Flush()
}
