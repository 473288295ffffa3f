package trace

import (
	"cmp"
	"fmt"
	"math"
	"math/bits"
	"runtime"
	"slices"
	"time"
)

// Impl is an allocator under test: one block of BlockSize bytes.
//
// Alloc returns an opaque handle and true, or false when the block has no
// room (any other failure is a bug of the adapter and should panic). Free
// releases a handle that Alloc returned and that has not been freed.
type Impl interface {
	Alloc(size, align uint64) (handle uint64, ok bool)
	Free(handle uint64)
	// BlockSize is the size of the block, for Result.Utilization.
	BlockSize() uint64
}

// Result is one replay of a trace by one Impl.
type Result struct {
	Trace string `json:"trace"`
	Impl  string `json:"impl"`
	Ops   int    `json:"ops"`
	// NsPerOp is the wall time of the measured pass over Ops.
	NsPerOp float64 `json:"ns_per_op"`
	// P999Ns and MaxNs are per-operation latencies from the timed pass
	// (each includes the clock read, see Run).
	P999Ns float64 `json:"p999_ns"`
	MaxNs  float64 `json:"max_ns"`
	// AllocsPerOp is Go heap allocations (runtime.MemStats.Mallocs) during
	// the measured pass over Ops.
	AllocsPerOp float64 `json:"allocs_per_op"`
	// Failed is the number of allocations the Impl refused in the measured
	// pass.
	Failed int `json:"failed"`
	// Utilization is the mean, over samples taken every SampleEvery ops of
	// the measured pass, of live requested bytes / BlockSize.
	Utilization float64 `json:"utilization"`
	// Runs, when set, is the number of measured runs this result is the
	// median of (see Median); the whole row is that one run's.
	Runs int `json:"runs,omitempty"`
}

// SampleEvery is the period, in operations, of the utilization samples.
const SampleEvery = 1000

// Validate checks that ops is a well-formed trace: non-zero sizes,
// power-of-two alignments (0 means 1), non-negative slots, no allocation
// into a live slot and no free of an empty one. It returns the slot table
// size (the largest slot plus one).
func Validate(ops []Op) (slots int, err error) {
	live := []bool{}
	for i, op := range ops {
		if op.Slot < 0 {
			return 0, fmt.Errorf("trace: op %d: negative slot %d", i, op.Slot)
		}
		if op.Slot >= len(live) {
			live = append(live, make([]bool, op.Slot+1-len(live))...)
		}
		if op.Free {
			if !live[op.Slot] {
				return 0, fmt.Errorf("trace: op %d: free of empty slot %d", i, op.Slot)
			}
			live[op.Slot] = false
			continue
		}
		if op.Size == 0 {
			return 0, fmt.Errorf("trace: op %d: zero size", i)
		}
		if op.Align > 1 && bits.OnesCount64(op.Align) != 1 {
			return 0, fmt.Errorf("trace: op %d: alignment %d is not a power of two", i, op.Align)
		}
		if live[op.Slot] {
			return 0, fmt.Errorf("trace: op %d: allocation into live slot %d", i, op.Slot)
		}
		live[op.Slot] = true
	}
	return len(live), nil
}

// Replayer replays one trace, with its slot table allocated once. Replay
// itself does not allocate; only the Impl may.
type Replayer struct {
	ops   []Op
	slots []slot  // each slot's allocation, indexed by Op.Slot
	lat   []int64 // per-op latencies of ReplayTimed
}

// slot is one allocation of the replay: its handle and requested size
// together, so that an operation touches one cache line of the table.
type slot struct {
	handle uint64
	size   uint64 // 0: empty
}

// NewReplayer validates ops (see Validate) and sizes the slot table.
func NewReplayer(ops []Op) (*Replayer, error) {
	slots, err := Validate(ops)
	if err != nil {
		return nil, err
	}
	return &Replayer{ops: ops, slots: make([]slot, slots)}, nil
}

// Ops is the trace.
func (r *Replayer) Ops() []Op { return r.ops }

func (r *Replayer) clear() {
	clear(r.slots)
}

// Replay runs the trace on impl, a fresh block. A refused allocation
// leaves its slot empty and the later free of that slot is skipped.
// Allocations still live at the end are left in impl.
//
// It returns the number of refused allocations and the sum and count of
// the live-bytes samples (one every SampleEvery ops).
func (r *Replayer) Replay(impl Impl) (failed int, liveSum float64, samples int) {
	r.clear()
	slots := r.slots
	var live uint64
	next := SampleEvery
	for i := range r.ops {
		op := &r.ops[i]
		if op.Free {
			if s := &slots[op.Slot]; s.size != 0 {
				impl.Free(s.handle)
				live -= s.size
				s.size = 0
			}
		} else if h, ok := impl.Alloc(op.Size, op.Align); ok {
			slots[op.Slot] = slot{h, op.Size}
			live += op.Size
		} else {
			failed++
		}
		if i+1 == next {
			liveSum += float64(live)
			samples++
			next += SampleEvery
		}
	}
	return failed, liveSum, samples
}

// ReplayTimed runs the trace on impl like Replay, reading the monotonic
// clock after every operation, and returns the per-op latencies in ns, in
// trace order (the slice is reused by the next call). Each latency is the
// time between two clock reads, so it includes one clock read (time.Since,
// about 20–40 ns) and the slot-table bookkeeping; nothing is subtracted.
func (r *Replayer) ReplayTimed(impl Impl) []int64 {
	r.clear()
	if cap(r.lat) < len(r.ops) {
		r.lat = make([]int64, len(r.ops))
	}
	lat := r.lat[:len(r.ops)]
	// Touch every page of the latency table first: a page fault on first
	// write would otherwise land in every 512th latency.
	clear(lat)
	slots := r.slots
	base := time.Now()
	prev := time.Since(base)
	for i := range r.ops {
		op := &r.ops[i]
		if op.Free {
			if s := &slots[op.Slot]; s.size != 0 {
				impl.Free(s.handle)
				s.size = 0
			}
		} else if h, ok := impl.Alloc(op.Size, op.Align); ok {
			slots[op.Slot] = slot{h, op.Size}
		}
		now := time.Since(base)
		lat[i] = int64(now - prev)
		prev = now
	}
	return lat
}

// Run replays ops three times, each on a fresh Impl from newImpl:
//
//  1. a warm-up pass (code, caches, the Go heap), not measured;
//  2. the measured pass: wall time around the whole replay for NsPerOp,
//     runtime.MemStats.Mallocs for AllocsPerOp, Failed and Utilization;
//  3. a timed pass that reads the clock after every op for P999Ns and
//     MaxNs. These include the clock read (about 20–40 ns, not subtracted)
//     and so are upper bounds; compare them between impls, not with NsPerOp.
//
// A garbage collection runs before passes 2 and 3 so that the garbage of
// the previous pass is not charged to the next; garbage made during a pass
// (and the collections it causes) is charged to it.
//
// Run panics if ops is not a valid trace (see Validate).
func Run(traceName, implName string, ops []Op, newImpl func() Impl) Result {
	r, err := NewReplayer(ops)
	if err != nil {
		panic(err)
	}
	r.lat = make([]int64, len(ops))
	res := Result{Trace: traceName, Impl: implName, Ops: len(ops)}
	if len(ops) == 0 {
		return res
	}

	r.Replay(newImpl())

	impl := newImpl()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	failed, liveSum, samples := r.Replay(impl)
	elapsed := time.Since(start)
	runtime.ReadMemStats(&after)
	res.NsPerOp = float64(elapsed.Nanoseconds()) / float64(len(ops))
	res.AllocsPerOp = float64(after.Mallocs-before.Mallocs) / float64(len(ops))
	res.Failed = failed
	if samples > 0 {
		res.Utilization = liveSum / float64(samples) / float64(impl.BlockSize())
	}

	timedImpl := newImpl()
	runtime.GC()
	lat := r.ReplayTimed(timedImpl)
	slices.Sort(lat)
	res.P999Ns = float64(lat[Quantile(len(lat), 0.999)])
	res.MaxNs = float64(lat[len(lat)-1])
	return res
}

// Median is the result with the median NsPerOp of rs, all runs of one impl
// on one trace (the lower of the two middle ones for an even count), with
// Runs set to len(rs). rs is sorted in place; it must not be empty.
func Median(rs []Result) Result {
	slices.SortFunc(rs, func(a, b Result) int { return cmp.Compare(a.NsPerOp, b.NsPerOp) })
	m := rs[(len(rs)-1)/2]
	m.Runs = len(rs)
	return m
}

// Quantile is the index of the q-quantile of n sorted values (nearest
// rank): the smallest index i with (i+1)/n >= q.
func Quantile(n int, q float64) int {
	if n <= 0 {
		return 0
	}
	i := int(math.Ceil(float64(n)*q-1e-9)) - 1 // tolerant of q's rounding
	return min(max(i, 0), n-1)
}
