package trace

import (
	"runtime"
	"testing"
)

// Benchmark trace lengths: long enough to reach the steady state (the
// adversarial fill alone is 40,000 ops), short enough for a few iterations.
const (
	benchRandomOps      = 200_000
	benchAdversarialOps = 200_000
	benchGPUMixOps      = 100_000
)

// benchReplay replays ops on a fresh impl per b.Loop iteration and reports
// ns/traceop and allocs/traceop (per trace operation; the default ns/op is
// per replay of the whole trace). Creating the impl is timed too; for
// virtual.Block it is a few µs against milliseconds of replay.
func benchReplay(b *testing.B, ops []Op, newImpl func() Impl) {
	r, err := NewReplayer(ops)
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

func BenchmarkRandom(b *testing.B) {
	benchReplay(b, Random(1, benchRandomOps), VKAssets(DefaultBlockSize))
}

func BenchmarkAdversarial(b *testing.B) {
	benchReplay(b, Adversarial(1, benchAdversarialOps), VKAssets(DefaultBlockSize))
}

func BenchmarkGPUMix(b *testing.B) {
	benchReplay(b, GPUMix(1, benchGPUMixOps), VKAssets(DefaultBlockSize))
}
