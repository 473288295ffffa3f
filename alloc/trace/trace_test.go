package trace

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// liveCounts returns the live count after each op.
func liveCounts(ops []Op) []int {
	out := make([]int, len(ops))
	live := 0
	for i, op := range ops {
		if op.Free {
			live--
		} else {
			live++
		}
		out[i] = live
	}
	return out
}

func TestDeterministic(t *testing.T) {
	for _, s := range Specs {
		t.Run(s.Name, func(t *testing.T) {
			a, b := s.Generate(7, 50_000), s.Generate(7, 50_000)
			if !slices.Equal(a, b) {
				t.Fatal("same seed, different traces")
			}
			if c := s.Generate(8, 50_000); slices.Equal(a, c) {
				t.Fatal("different seeds, same trace")
			}
			if len(a) != 50_000 {
				t.Fatalf("len %d, want 50000", len(a))
			}
			if _, err := Validate(a); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestShortTraces(t *testing.T) {
	for _, s := range Specs {
		for _, n := range []int{0, 1, 2, 10} {
			ops := s.Generate(1, n)
			if len(ops) != n {
				t.Fatalf("%s: len %d, want %d", s.Name, len(ops), n)
			}
			if _, err := Validate(ops); err != nil {
				t.Fatalf("%s: %v", s.Name, err)
			}
		}
	}
}

func checkWalk(t *testing.T, ops []Op, lo, hi, start int) {
	t.Helper()
	counts := liveCounts(ops)
	warm := slices.Index(counts, start)
	if warm < 0 || warm != start-1 {
		t.Fatalf("fill reached %d live at op %d, want op %d", start, warm, start-1)
	}
	seenLo, seenHi := hi, lo
	for i, c := range counts[warm:] {
		if c < lo || c > hi {
			t.Fatalf("op %d: %d live, outside [%d, %d]", warm+i, c, lo, hi)
		}
		seenLo, seenHi = min(seenLo, c), max(seenHi, c)
	}
	// The walk should wander, not sit still.
	if seenHi-seenLo < (hi-lo)/4 {
		t.Errorf("live count only ranged over [%d, %d]", seenLo, seenHi)
	}
}

func TestRandom(t *testing.T) {
	ops := Random(1, 300_000)
	checkWalk(t, ops, RandomLiveMin, RandomLiveMax, RandomLiveStart)
	aligns := map[uint64]int{}
	var minS, maxS uint64 = 1 << 63, 0
	var small, large int
	for _, op := range ops {
		if op.Free {
			continue
		}
		if op.Size < RandomMinSize || op.Size > RandomMaxSize {
			t.Fatalf("size %d outside [64, 1 MiB]", op.Size)
		}
		if !slices.Contains(RandomAligns[:], op.Align) {
			t.Fatalf("alignment %d", op.Align)
		}
		aligns[op.Align]++
		minS, maxS = min(minS, op.Size), max(maxS, op.Size)
		// Log-uniform: [64, 1 KiB) is 4 of the 14 octaves.
		if op.Size < 1024 {
			small++
		} else if op.Size >= 64<<10 {
			large++
		}
	}
	if len(aligns) != len(RandomAligns) {
		t.Errorf("alignments seen: %v", aligns)
	}
	total := 0
	for _, c := range aligns {
		total += c
	}
	for a, c := range aligns {
		if f := float64(c) / float64(total); f < 0.17 || f > 0.23 {
			t.Errorf("alignment %d drawn %.3f of the time, want about 0.2", a, f)
		}
	}
	if f := float64(small) / float64(total); f < 0.25 || f > 0.32 {
		t.Errorf("sizes below 1 KiB: %.3f, want about 4/14", f)
	}
	if f := float64(large) / float64(total); f < 0.25 || f > 0.32 {
		t.Errorf("sizes at or above 64 KiB: %.3f, want about 4/14", f)
	}
	if minS > 80 || maxS < 900<<10 {
		t.Errorf("sizes ranged over [%d, %d]", minS, maxS)
	}
}

func TestAdversarial(t *testing.T) {
	ops := Adversarial(1, 200_000)
	counts := liveCounts(ops)
	if counts[AdversarialLive-1] != AdversarialLive {
		t.Fatalf("fill: %d live after %d ops", counts[AdversarialLive-1], AdversarialLive)
	}
	for i, c := range counts[AdversarialLive:] {
		if c != AdversarialLive-1 && c != AdversarialLive {
			t.Fatalf("op %d: %d live", AdversarialLive+i, c)
		}
	}
	for i, op := range ops[AdversarialLive:] {
		if op.Free != (i%2 == 0) {
			t.Fatalf("op %d: free=%v, want alternation", AdversarialLive+i, op.Free)
		}
	}
	var minS, maxS uint64 = 1 << 63, 0
	for _, op := range ops {
		if op.Free {
			continue
		}
		if op.Size%256 == 0 {
			t.Fatalf("size %d is a multiple of 256", op.Size)
		}
		if op.Size < AdversarialMinSize || op.Size > AdversarialMaxSize {
			t.Fatalf("size %d outside [64, 4096]", op.Size)
		}
		if op.Align != AdversarialAlign {
			t.Fatalf("alignment %d", op.Align)
		}
		minS, maxS = min(minS, op.Size), max(maxS, op.Size)
	}
	if minS > 70 || maxS < 4000 {
		t.Errorf("sizes ranged over [%d, %d]", minS, maxS)
	}
}

func TestGPUMix(t *testing.T) {
	ops := GPUMix(1, 100_000)
	checkWalk(t, ops, GPUMixLiveMin, GPUMixLiveMax, GPUMixLiveStart)
	var images, total int
	for _, op := range ops {
		if op.Free {
			continue
		}
		total++
		if op.Size < GPUMixMinSize || op.Size > GPUMixMaxSize {
			t.Fatalf("size %d outside [256, 16 MiB]", op.Size)
		}
		switch op.Align {
		case GPUMixImageAlign:
			images++
		case GPUMixBufferAlign:
		default:
			t.Fatalf("alignment %d", op.Align)
		}
	}
	if f := float64(images) / float64(total); f < 0.30 || f > 0.37 {
		t.Errorf("images are %.3f of allocations, want about 1/3", f)
	}
}

func TestValidate(t *testing.T) {
	bad := map[string][]Op{
		"free of empty": {{Free: true, Slot: 0}},
		"double alloc":  {{Size: 1, Slot: 0}, {Size: 1, Slot: 0}},
		"zero size":     {{Size: 0, Slot: 0}},
		"bad alignment": {{Size: 1, Align: 3, Slot: 0}},
		"negative slot": {{Size: 1, Slot: -1}},
		"double free":   {{Size: 1, Slot: 2}, {Free: true, Slot: 2}, {Free: true, Slot: 2}},
	}
	for name, ops := range bad {
		if _, err := Validate(ops); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	n, err := Validate([]Op{{Size: 1, Slot: 3}, {Free: true, Slot: 3}, {Size: 1, Align: 0, Slot: 0}})
	if err != nil || n != 4 {
		t.Fatalf("slots %d, err %v", n, err)
	}
}

// fake is a bump allocator that refuses every allocation that does not fit
// and records what it was asked.
type fake struct {
	size, top     uint64
	live          map[uint64]uint64
	next          uint64
	allocs, frees int
	refused       int
}

func newFake(size uint64) func() Impl {
	return func() Impl { return &fake{size: size, live: map[uint64]uint64{}} }
}

func (f *fake) BlockSize() uint64 { return f.size }

func (f *fake) Alloc(size, align uint64) (uint64, bool) {
	f.allocs++
	if f.top+size > f.size {
		f.refused++
		return 0, false
	}
	f.top += size
	f.next++
	f.live[f.next] = size
	return f.next, true
}

func (f *fake) Free(h uint64) {
	f.frees++
	if _, ok := f.live[h]; !ok {
		panic("free of unknown handle")
	}
	delete(f.live, h)
}

func TestReplayFailures(t *testing.T) {
	// A 100-byte bump block that never reuses space: 60 fits, 50 does not
	// (slot 1 stays empty and its free is skipped), 40 fits, 1 does not
	// (slot 2's free is skipped too); only slot 0's free reaches the impl.
	ops := []Op{
		{Size: 60, Slot: 0},
		{Size: 50, Slot: 1},
		{Free: true, Slot: 1},
		{Size: 40, Slot: 1},
		{Size: 1, Slot: 2},
		{Free: true, Slot: 0},
		{Free: true, Slot: 2},
	}
	r, err := NewReplayer(ops)
	if err != nil {
		t.Fatal(err)
	}
	f := newFake(100)().(*fake)
	failed, _, _ := r.Replay(f)
	if failed != 2 || f.refused != 2 {
		t.Fatalf("failed %d, refused %d, want 2", failed, f.refused)
	}
	if f.allocs != 4 || f.frees != 1 {
		t.Fatalf("allocs %d frees %d, want 4 and 1", f.allocs, f.frees)
	}
	if len(f.live) != 1 {
		t.Fatalf("%d left live, want 1", len(f.live))
	}
	// Replaying again on a fresh impl gives the same answer: the slot
	// table is cleared.
	if failed, _, _ := r.Replay(newFake(100)()); failed != 2 {
		t.Fatalf("second replay: failed %d", failed)
	}
	lat := r.ReplayTimed(newFake(100)())
	if len(lat) != len(ops) {
		t.Fatalf("%d latencies for %d ops", len(lat), len(ops))
	}
}

func TestRun(t *testing.T) {
	// 1,000-byte block, every allocation 10 bytes, never freed: the first
	// 100 succeed and the rest fail.
	ops := make([]Op, 3000)
	for i := range ops {
		ops[i] = Op{Size: 10, Align: 1, Slot: i}
	}
	res := Run("fill", "fake", ops, newFake(1000))
	if res.Trace != "fill" || res.Impl != "fake" || res.Ops != 3000 {
		t.Fatalf("%+v", res)
	}
	if res.Failed != 2900 {
		t.Fatalf("failed %d, want 2900", res.Failed)
	}
	// Samples after 1000, 2000, 3000 ops: the block is full each time.
	if res.Utilization != 1 {
		t.Fatalf("utilization %v, want 1", res.Utilization)
	}
	if res.NsPerOp <= 0 || res.MaxNs < res.P999Ns || res.P999Ns < 0 {
		t.Fatalf("timings %+v", res)
	}
	js, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"trace", "impl", "ops", "ns_per_op", "p999_ns", "max_ns", "allocs_per_op", "failed", "utilization"} {
		if !strings.Contains(string(js), `"`+k+`":`) {
			t.Errorf("JSON %s lacks %q", js, k)
		}
	}
}

func TestRunVKAssets(t *testing.T) {
	for _, s := range Specs {
		t.Run(s.Name, func(t *testing.T) {
			n := 20_000
			if s.Name == "adversarial" {
				n = 50_000
			}
			res := Run(s.Name, "vkassets", s.Generate(3, n), VKAssets(s.BlockSize))
			if res.Ops != n || res.NsPerOp <= 0 {
				t.Fatalf("%+v", res)
			}
			if s.Name != "gpumix" && res.Failed != 0 {
				t.Errorf("%d allocations failed", res.Failed)
			}
			if res.Utilization <= 0 || res.Utilization > 1 {
				t.Errorf("utilization %v", res.Utilization)
			}
			t.Logf("%+v", res)
		})
	}
}

func TestReplayDoesNotAllocate(t *testing.T) {
	ops := Random(5, 5000)
	r, err := NewReplayer(ops)
	if err != nil {
		t.Fatal(err)
	}
	// The fake's map allocates; a handle-only impl does not.
	impl := &counting{size: 1 << 30}
	if n := testing.AllocsPerRun(5, func() { r.Replay(impl) }); n != 0 {
		t.Errorf("Replay: %v allocations per run", n)
	}
	if n := testing.AllocsPerRun(5, func() { r.ReplayTimed(impl) }); n != 0 {
		t.Errorf("ReplayTimed: %v allocations per run", n)
	}
}

type counting struct{ size, n uint64 }

func (c *counting) BlockSize() uint64 { return c.size }
func (c *counting) Alloc(size, align uint64) (uint64, bool) {
	c.n++
	return c.n, true
}
func (c *counting) Free(uint64) {}

func TestQuantile(t *testing.T) {
	cases := []struct {
		n    int
		q    float64
		want int
	}{{1000, 0.999, 998}, {1, 0.999, 0}, {10, 0.5, 4}, {10, 1, 9}, {2_000_000, 0.999, 1_997_999}, {0, 0.5, 0}}
	for _, c := range cases {
		if got := Quantile(c.n, c.q); got != c.want {
			t.Errorf("Quantile(%d, %v) = %d, want %d", c.n, c.q, got, c.want)
		}
	}
}

func TestMedian(t *testing.T) {
	rs := []Result{{NsPerOp: 90, Failed: 1}, {NsPerOp: 50, Failed: 2}, {NsPerOp: 70, Failed: 3}, {NsPerOp: 60, Failed: 4}}
	m := Median(rs[:3])
	if m.NsPerOp != 70 || m.Failed != 3 || m.Runs != 3 {
		t.Errorf("median of 3: %+v, want the run of 70 ns/op", m)
	}
	m = Median(rs)
	if m.NsPerOp != 60 || m.Failed != 4 || m.Runs != 4 {
		t.Errorf("median of 4: %+v, want the lower middle run, 60 ns/op", m)
	}
}
