package main

import (
	"bytes"
	"encoding/json"
	"runtime"
	"strings"
	"testing"

	"github.com/vkassets/vkassets/alloc/trace"
	"github.com/vkngwrapper/arsenal/memutils/metadata"
)

func TestShortRandom(t *testing.T) {
	const n = 20_000
	res := runSpec(trace.Specs[0], 1, n, 1)
	if len(res) != len(impls) {
		t.Fatalf("%d results, want %d", len(res), len(impls))
	}
	for i, r := range res {
		if r.Impl != impls[i].name || r.Trace != "random" {
			t.Errorf("result %d: %s/%s", i, r.Trace, r.Impl)
		}
		if r.Ops != n {
			t.Errorf("%s: %d ops, want %d", r.Impl, r.Ops, n)
		}
		if r.Failed != 0 {
			t.Errorf("%s: %d failed allocations", r.Impl, r.Failed)
		}
		if r.NsPerOp <= 0 || r.Utilization <= 0 || r.Utilization > 1 {
			t.Errorf("%s: %+v", r.Impl, r)
		}
		t.Logf("%+v", r)
	}
	if res[0].Utilization != res[1].Utilization {
		// Same ops and no failures: the same bytes are live at every sample.
		t.Errorf("utilization differs: %v vs %v", res[0].Utilization, res[1].Utilization)
	}
}

// TestArsenalOffsets checks the adapter against arsenal's own bookkeeping:
// offsets are aligned, allocations do not overlap and frees coalesce.
func TestArsenalOffsets(t *testing.T) {
	ai := Arsenal(1 << 20)().(*arsenalImpl)
	type span struct{ off, size uint64 }
	var live []uint64
	spans := map[uint64]span{}
	for i, op := range trace.Random(2, 3000) {
		if op.Free {
			continue
		}
		size := op.Size%8192 + 1
		h, ok := ai.Alloc(size, op.Align)
		if !ok {
			break
		}
		off, err := ai.m.AllocationOffset(metadata.BlockAllocationHandle(h))
		if err != nil {
			t.Fatal(err)
		}
		if op.Align > 1 && uint64(off)%op.Align != 0 {
			t.Fatalf("op %d: offset %d not aligned to %d", i, off, op.Align)
		}
		for _, s := range spans {
			if uint64(off) < s.off+s.size && s.off < uint64(off)+size {
				t.Fatalf("op %d: [%d,+%d) overlaps [%d,+%d)", i, off, size, s.off, s.size)
			}
		}
		spans[h] = span{uint64(off), size}
		live = append(live, h)
	}
	if len(live) < 10 {
		t.Fatalf("only %d allocations", len(live))
	}
	if err := ai.m.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, h := range live {
		ai.Free(h)
	}
	if !ai.m.IsEmpty() || ai.m.FreeRegionsCount() != 1 {
		t.Fatalf("after freeing all: empty %v, %d free regions", ai.m.IsEmpty(), ai.m.FreeRegionsCount())
	}
}

func TestOutput(t *testing.T) {
	res := runSpec(trace.Specs[1], 1, trace.AdversarialLive+2000, 1)
	var js, table bytes.Buffer
	if err := writeJSON(&js, res); err != nil {
		t.Fatal(err)
	}
	var decoded struct{ Results []trace.Result }
	if err := json.Unmarshal(js.Bytes(), &decoded); err != nil || len(decoded.Results) != 2 {
		t.Fatalf("%v: %s", err, js.String())
	}
	if err := writeTable(&table, res); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(table.String(), "vkassets/arsenal") {
		t.Fatalf("no ratio row:\n%s", table.String())
	}
	t.Logf("\n%s", table.String())
}

const (
	benchRandomOps      = 200_000
	benchAdversarialOps = 200_000
)

// benchReplay replays ops on a fresh impl per b.Loop iteration; ns/traceop
// and allocs/traceop are per trace operation (ns/op is per whole replay).
func benchReplay(b *testing.B, ops []trace.Op, newImpl func() trace.Impl) {
	r, err := trace.NewReplayer(ops)
	if err != nil {
		b.Fatal(err)
	}
	r.Replay(newImpl()) // warm-up
	b.ReportAllocs()
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	iters, failed := 0, 0
	for b.Loop() {
		f, _, _ := r.Replay(newImpl())
		failed += f
		iters++
	}
	runtime.ReadMemStats(&after)
	total := float64(iters) * float64(len(ops))
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/total, "ns/traceop")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/total, "allocs/traceop")
	b.ReportMetric(float64(failed)/float64(iters), "failed/replay")
}

func benchImpls(b *testing.B, ops []trace.Op) {
	for _, im := range impls {
		b.Run("impl="+im.name, func(b *testing.B) {
			benchReplay(b, ops, im.new(trace.DefaultBlockSize))
		})
	}
}

func BenchmarkRandom(b *testing.B) {
	benchImpls(b, trace.Random(1, benchRandomOps))
}

func BenchmarkAdversarial(b *testing.B) {
	benchImpls(b, trace.Adversarial(1, benchAdversarialOps))
}

func BenchmarkGPUMix(b *testing.B) {
	benchImpls(b, trace.GPUMix(1, 100_000))
}

func TestRunsTakeTurns(t *testing.T) {
	res := runSpec(trace.Specs[0], 1, 5_000, 3)
	if len(res) != len(impls) {
		t.Fatalf("%d results, want %d", len(res), len(impls))
	}
	for i, r := range res {
		if r.Impl != impls[i].name || r.Runs != 3 || r.Ops != 5_000 {
			t.Errorf("result %d: %s, %d runs, %d ops", i, r.Impl, r.Runs, r.Ops)
		}
	}
}
