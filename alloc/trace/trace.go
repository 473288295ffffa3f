// Package trace generates and replays allocation traces against
// sub-allocators, to compare them on the same sequence of requests.
//
// A trace is a []Op: each Op allocates into a slot or frees the allocation
// held by a slot. Generators are deterministic for a seed (math/rand/v2 PCG)
// and reuse slots (most recently freed first), so the slot table stays as
// small as the peak live count.
//
// The package is standard library only; the adapter over virtual.Block
// is VKAssets. Peers (other allocators) implement Impl in their own modules.
package trace

import (
	"math"
	"math/rand/v2"
)

// Op is one operation of a trace: allocate Size bytes aligned to Align into
// slot Slot, or (Free) free the allocation held by slot Slot.
type Op struct {
	Free        bool
	Size, Align uint64
	Slot        int
}

// DefaultBlockSize is the block every trace is meant to run on: 256 MiB.
const DefaultBlockSize = 256 << 20

// Spec names a trace generator with its default length and block size.
type Spec struct {
	Name       string
	Generate   func(seed uint64, n int) []Op
	DefaultOps int
	BlockSize  uint64
}

// Specs are the traces of the benchmark suite, in report order.
var Specs = []Spec{
	{Name: "random", Generate: Random, DefaultOps: 2_000_000, BlockSize: DefaultBlockSize},
	{Name: "adversarial", Generate: Adversarial, DefaultOps: 1_000_000, BlockSize: DefaultBlockSize},
	{Name: "gpumix", Generate: GPUMix, DefaultOps: 300_000, BlockSize: DefaultBlockSize},
}

// Bounds of the traces' live counts.
const (
	RandomLiveMin       = 500
	RandomLiveMax       = 2000
	RandomLiveStart     = 1000
	AdversarialLive     = 40_000
	GPUMixLiveMin       = 200
	GPUMixLiveMax       = 1000
	GPUMixLiveStart     = 500
	RandomMinSize       = 64
	RandomMaxSize       = 1 << 20
	AdversarialMinSize  = 64
	AdversarialMaxSize  = 4096
	AdversarialAlign    = 256
	GPUMixMinSize       = 256
	GPUMixMaxSize       = 16 << 20
	GPUMixBufferAlign   = 256
	GPUMixImageAlign    = 65536
	gpuMixImageOneInN   = 3
	randomStreamSalt    = 0x9e3779b97f4a7c15
	adversarialStreamSa = 0xbf58476d1ce4e5b9
	gpuMixStreamSalt    = 0x94d049bb133111eb
)

// RandomAligns are the alignments of the random trace, drawn uniformly.
var RandomAligns = [...]uint64{1, 16, 64, 256, 4096}

// builder tracks the live slots while a trace is generated.
type builder struct {
	rng   *rand.Rand
	ops   []Op
	live  []int // live slots, in no order
	pos   []int // pos[slot] = index in live, or -1
	spare []int // freed slots, reused last-in first-out
}

func newBuilder(seed, salt uint64, n int) *builder {
	return &builder{rng: rand.New(rand.NewPCG(seed, salt)), ops: make([]Op, 0, max(n, 0))}
}

func (b *builder) full(n int) bool { return len(b.ops) >= n }

func (b *builder) alloc(size, align uint64) {
	var slot int
	if k := len(b.spare); k > 0 {
		slot = b.spare[k-1]
		b.spare = b.spare[:k-1]
	} else {
		slot = len(b.pos)
		b.pos = append(b.pos, -1)
	}
	b.pos[slot] = len(b.live)
	b.live = append(b.live, slot)
	b.ops = append(b.ops, Op{Size: size, Align: align, Slot: slot})
}

// freeRandom frees a uniformly random live slot.
func (b *builder) freeRandom() {
	i := b.rng.IntN(len(b.live))
	slot := b.live[i]
	last := b.live[len(b.live)-1]
	b.live[i] = last
	b.pos[last] = i
	b.live = b.live[:len(b.live)-1]
	b.pos[slot] = -1
	b.spare = append(b.spare, slot)
	b.ops = append(b.ops, Op{Free: true, Slot: slot})
}

// logUniform draws a size whose logarithm is uniform in [log lo, log hi].
func (b *builder) logUniform(lo, hi uint64) uint64 {
	l, h := math.Log2(float64(lo)), math.Log2(float64(hi))
	s := uint64(math.Exp2(l + b.rng.Float64()*(h-l)))
	return min(max(s, lo), hi)
}

// walk fills to start live allocations, then random-walks the live count:
// at or below lo it always allocates, at or above hi it always frees, and
// in between it allocates or frees with even odds. After the fill the live
// count stays within [lo, hi].
func (b *builder) walk(n, lo, hi, start int, draw func() (size, align uint64)) {
	for len(b.live) < start && !b.full(n) {
		b.alloc(draw())
	}
	for !b.full(n) {
		switch live := len(b.live); {
		case live <= lo:
			b.alloc(draw())
		case live >= hi:
			b.freeRandom()
		case b.rng.IntN(2) == 0:
			b.alloc(draw())
		default:
			b.freeRandom()
		}
	}
}

// Random is the random trace: n operations, sizes log-uniform in
// [64 B, 1 MiB], alignments uniform in RandomAligns, frees of a uniformly
// random live slot. It fills to 1,000 live allocations, then the live count
// random-walks within [500, 2000]. It is meant for one 256 MiB block (at
// 2,000 live the mean demand is about 216 MB, so some allocations may fail).
func Random(seed uint64, n int) []Op {
	b := newBuilder(seed, randomStreamSalt, n)
	b.walk(n, RandomLiveMin, RandomLiveMax, RandomLiveStart, func() (uint64, uint64) {
		size := b.logUniform(RandomMinSize, RandomMaxSize)
		return size, RandomAligns[b.rng.IntN(len(RandomAligns))]
	})
	return b.ops
}

// Adversarial is a fragmentation trace: sizes uniform in [64, 4096] that
// are never multiples of 256, all aligned to 256, so every allocation leaves
// an unaligned tail. It fills to 40,000 live allocations, then alternates a
// free of a random live slot with an allocation. About 90 MB live.
func Adversarial(seed uint64, n int) []Op {
	b := newBuilder(seed, adversarialStreamSa, n)
	draw := func() (uint64, uint64) {
		for {
			s := AdversarialMinSize + b.rng.Uint64N(AdversarialMaxSize-AdversarialMinSize+1)
			if s%AdversarialAlign != 0 {
				return s, AdversarialAlign
			}
		}
	}
	for len(b.live) < AdversarialLive && !b.full(n) {
		b.alloc(draw())
	}
	for !b.full(n) {
		b.freeRandom()
		if !b.full(n) {
			b.alloc(draw())
		}
	}
	return b.ops
}

// GPUMix is a GPU-like mix: buffers (alignment 256) and, one time in three,
// images (alignment 65536), sizes log-uniform in [256 B, 16 MiB]. It fills
// to 500 live, then the live count random-walks within [200, 1000]. The
// mean size is about 1.5 MB, so on a 256 MiB block the demand exceeds the
// block for most of the trace and many allocations fail: that is the
// out-of-space path, counted in Result.Failed.
func GPUMix(seed uint64, n int) []Op {
	b := newBuilder(seed, gpuMixStreamSalt, n)
	b.walk(n, GPUMixLiveMin, GPUMixLiveMax, GPUMixLiveStart, func() (uint64, uint64) {
		size := b.logUniform(GPUMixMinSize, GPUMixMaxSize)
		if b.rng.IntN(gpuMixImageOneInN) == 0 {
			return size, GPUMixImageAlign
		}
		return size, GPUMixBufferAlign
	})
	return b.ops
}
