package main

import (
	"bytes"
	"encoding/json"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// handTrace: A, B, D of 100 bytes, C of 200; scenes s0 {A, B}, s1 {B, C},
// s2 {A, D}; visits s0 s1 s0 s2 s1. The loads, by position:
//
//	0:A 1:B | 2:B 3:C | 4:A 5:B | 6:A 7:D | 8:B 9:C
func handTrace() *residencyTrace {
	return &residencyTrace{
		Assets: []residencyAsset{{Path: "A", Bytes: 100}, {Path: "B", Bytes: 100}, {Path: "C", Bytes: 200}, {Path: "D", Bytes: 100}},
		Scenes: [][]int{{0, 1}, {1, 2}, {0, 3}},
		Visits: []int{0, 1, 0, 2, 1},
	}
}

func TestSimKeepAll(t *testing.T) {
	tr := handTrace()
	require.Equal(t, uint64(500), tr.workingSet())
	require.Equal(t, 10, tr.loads())
	// Only the first load of each of the four misses.
	require.Equal(t, simResult{Loads: 10, Hits: 6, BytesLoaded: 500, Peak: 500}, simKeepAll(tr))
}

func TestSimCocos(t *testing.T) {
	// s0: A B miss. s1 (from s0): B hit, C miss. s0 (from s1): A miss, B
	// hit. s2 (from s0): A hit, D miss. s1 (from s2): B, C miss.
	// Peak: s2 and s1 together, A B C D = 500; the others 200, 400, 400, 300.
	require.Equal(t, simResult{Loads: 10, Hits: 3, BytesLoaded: 900, Peak: 500}, simCocos(handTrace()))
}

func TestSimBelady(t *testing.T) {
	tr := handTrace()
	// Budget 300:
	//   s0: A, B miss (200).
	//   s1: B hit; C miss, 400 > 300: evict A (next at 4; B is in the scene) → B C.
	//   s0: A miss, 400 > 300: evict C (next at 9) → B A; B hit.
	//   s2: A hit; D miss, 300 fits → A B D.
	//   s1: B hit; C miss, 500 > 300: A and D never again, evicted → B C.
	// Hits B B A B = 4; loaded A B C A D C = 800.
	require.Equal(t, simResult{Loads: 10, Hits: 4, BytesLoaded: 800, Peak: 300}, simBelady(tr, 300))
	// Budget 200:
	//   s0: A, B miss (200).
	//   s1: B hit; C miss: evict A, still 300 > 200 and nothing else to
	//       evict (B is in the scene): over the budget, B C (300).
	//   s0: A miss: evict C → B A (200); B hit.
	//   s2: A hit; D miss: evict B (next at 8) → A D.
	//   s1: B miss: A and D are never used again, of equal size: the first
	//       found, A, goes → D B; C miss: evict D → B C (300).
	// Hits B B A = 3; loaded A B C A D B C = 900.
	require.Equal(t, simResult{Loads: 10, Hits: 3, BytesLoaded: 900, Peak: 300}, simBelady(tr, 200))
	// A budget of the working set is keep-everything.
	require.Equal(t, simKeepAll(tr), simBelady(tr, tr.workingSet()))
}

// TestSimOrder: on generated traces, at any budget, release on switch hits
// no more than the offline reference at the working set, and the offline
// reference no more than keep-everything; the offline reference never
// goes over a budget that holds the largest scene.
func TestSimOrder(t *testing.T) {
	for seed := range uint64(20) {
		tr := genResidencyTrace(seed, 12, 120)
		ws := tr.workingSet()
		keep, cocos := simKeepAll(&tr), simCocos(&tr)
		require.Equal(t, ws, keep.Peak)
		require.Equal(t, ws, keep.BytesLoaded)
		require.LessOrEqual(t, cocos.Hits, keep.Hits)
		largest := uint64(0)
		for _, s := range tr.Scenes {
			largest = max(largest, tr.bytesOf(s))
		}
		prev := -1
		for _, pct := range []uint64{50, 75, 100, 150} {
			b := simBelady(&tr, ws*pct/100)
			require.LessOrEqual(t, b.Hits, keep.Hits, "seed %d, %d%%", seed, pct)
			require.GreaterOrEqual(t, b.Hits, prev, "seed %d: a larger budget hits no less", seed)
			prev = b.Hits
			if ws*pct/100 >= largest {
				require.LessOrEqual(t, b.Peak, ws*pct/100, "seed %d, %d%%", seed, pct)
			}
			if pct >= 100 {
				require.Equal(t, keep.Hits, b.Hits, "seed %d, %d%%", seed, pct)
			}
		}
		require.GreaterOrEqual(t, simBelady(&tr, ws*50/100).Hits, cocos.Hits, "seed %d", seed)
	}
}

func TestGenResidencyTrace(t *testing.T) {
	a, b := genResidencyTrace(7, 12, 200), genResidencyTrace(7, 12, 200)
	require.Equal(t, a, b, "a seed replays the same trace")
	require.NotEqual(t, a.Visits, genResidencyTrace(8, 12, 200).Visits)
	require.Len(t, a.Scenes, 12)
	require.Len(t, a.Visits, 200)
	inScenes := make([]int, len(a.Assets))
	for _, s := range a.Scenes {
		require.GreaterOrEqual(t, len(s), 6)
		require.LessOrEqual(t, len(s), 12)
		for _, x := range s {
			inScenes[x]++
		}
	}
	shared := 0
	for i, n := range inScenes {
		if n > 1 {
			shared++
			require.Contains(t, a.Assets[i].Path, "shared/")
		}
		require.Equal(t, uint64(a.Assets[i].W*a.Assets[i].H*4), a.Assets[i].Bytes)
	}
	require.Greater(t, shared, 3, "scenes share assets")
	visits := make([]int, 12)
	for i, s := range a.Visits {
		visits[s]++
		if i > 0 {
			require.NotEqual(t, a.Visits[i-1], s, "no scene twice in a row")
		}
	}
	require.Greater(t, slices.Max(visits), 3*slices.Min(visits), "Zipf: some scenes far more often than others: %v", visits)
	require.Less(t, len(a.used()), len(a.Visits), "revisits are common")
}

// TestBenchResidency runs the benchmark end to end on a short trace and
// checks that its figures agree with each other.
func TestBenchResidency(t *testing.T) {
	var out, errOut bytes.Buffer
	require.Equal(t, 0, run([]string{"bench", "residency", "--json", "--visits", "30", "--seed", "3"}, &out, &errOut), errOut.String())
	require.Contains(t, errOut.String(), "residency: budget 50%", "progress goes to stderr")
	var res residencyResults
	dec := json.NewDecoder(&out)
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&res))
	require.False(t, dec.More(), "one JSON object")

	require.Zero(t, res.ValidationErrors)
	require.Zero(t, res.Leaks)
	require.Equal(t, 30, res.Visits)
	tr := genResidencyTrace(3, 12, 30)
	require.Equal(t, tr.loads(), res.Loads)
	require.Equal(t, len(tr.used()), res.Assets)
	require.Greater(t, res.MeanMissMs, 0.0)
	require.Len(t, res.Budgets, len(residencyBudgets))
	for i, b := range res.Budgets {
		require.Equal(t, residencyBudgets[i], b.Percent)
		require.Equal(t, res.WorkingSetDevice*b.Percent/100, b.Budget)
		require.True(t, b.Residency.On)
		require.Equal(t, b.Budget+b.Base, b.Residency.Budget, "the policy's budget counts the empty stack's memory too")
		require.Less(t, b.Low, b.High)
		require.LessOrEqual(t, b.High, b.Budget)
		require.Len(t, b.Rows, 4)
		for j, policy := range []string{"vkassets", "cocos", "keep-all", "belady"} {
			r := b.Rows[j]
			require.Equal(t, policy, r.Policy)
			require.Equal(t, res.Loads, r.Loads, policy)
			require.Equal(t, r.Loads, r.Hits+r.Misses, policy)
			require.InDelta(t, float64(r.Hits)/float64(r.Loads), r.HitRate, 1e-9, policy)
			require.GreaterOrEqual(t, r.BytesLoaded, res.WorkingSet, "%s loads every texture at least once", policy)
			require.Equal(t, policy == "vkassets", r.ReliefFrames != nil, policy)
		}
		v, cocos, keep, bel := b.row("vkassets"), b.row("cocos"), b.row("keep-all"), b.row("belady")
		require.Equal(t, res.WorkingSet, keep.BytesLoaded)
		require.Equal(t, res.WorkingSet, keep.PeakBytes)
		require.LessOrEqual(t, cocos.Hits, keep.Hits)
		require.LessOrEqual(t, bel.Hits, keep.Hits)
		require.LessOrEqual(t, v.Hits, keep.Hits)
		require.GreaterOrEqual(t, bel.Hits, v.Hits, "%d%%: the offline reference hits at least as often", b.Percent)
		require.GreaterOrEqual(t, v.Hits, cocos.Hits, "%d%%: residency keeps at least what release on switch does", b.Percent)
		if b.Percent >= 100 {
			require.Equal(t, keep.Hits, bel.Hits)
		}
		require.Equal(t, b.PeakAtLoad, max(b.PeakAtLoad, b.PeakAtFrameEnd))
		require.Equal(t, v.PeakBytes, max(b.PeakAtLoad, b.PeakAtFrameEnd))
		require.InDelta(t, float64(cocos.Misses-v.Misses)*res.MeanMissMs, v.LoadTimeSavedMs, 1e-6)
		require.Zero(t, cocos.LoadTimeSavedMs)
		if v.BytesLoaded > res.WorkingSet {
			require.NotZero(t, b.Residency.Evictions, "%d%%: reloads only after evictions", b.Percent)
		}
		require.Equal(t, b.Residency.Reliefs, uint64(b.ReliefsMeasured), "%d%%: the policy's reliefs are those seen here", b.Percent)
	}
	require.Len(t, res.Goals, 6)
	for _, g := range res.Goals {
		require.NotEmpty(t, g.Goal)
		require.NotEmpty(t, g.Detail)
	}
	// The 150% budget holds the working set and what waits to retire.
	require.Zero(t, res.Budgets[2].Residency.Evictions)
	require.True(t, res.Goals[2].Pass, res.Goals[2].Detail)

	// The text form has a table per budget and the goals.
	out.Reset()
	errOut.Reset()
	require.Equal(t, 0, run([]string{"bench", "residency", "--visits", "5", "--frames", "1"}, &out, &errOut), errOut.String())
	for _, want := range []string{"budget 50% of the working set", "belady", "keep-all", "cocos", "relief frames", "hit rate ≥ 85% of belady's", "validation errors 0, leaks 0"} {
		require.Contains(t, out.String(), want)
	}
}

func TestBenchResidencyUsage(t *testing.T) {
	var out, errOut bytes.Buffer
	require.Equal(t, 0, run([]string{"bench", "residency", "--help"}, &out, &errOut))
	for _, want := range []string{"usage: vkassets bench residency [flags]", "Residency under a memory budget", "belady",
		"--visits int\n        scene visits in the trace (default 200)", "--seed uint", "vkassets bench without a name runs it too"} {
		require.Contains(t, out.String(), want)
	}
	require.NotContains(t, out.String(), "--peer")
	var help bytes.Buffer
	require.Equal(t, 0, run([]string{"help", "bench", "residency"}, &help, &errOut))
	require.Equal(t, out.String(), help.String())
	out.Reset()
	require.Equal(t, 2, run([]string{"bench", "residency", "--visits", "0"}, &out, &errOut))
	require.Equal(t, 2, run([]string{"bench", "residency", "x"}, &out, &errOut))
	require.Contains(t, errOut.String(), `unexpected arguments ["x"]`)
	require.Empty(t, out.String())
}
