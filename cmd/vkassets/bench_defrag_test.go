package main

import (
	"bytes"
	"encoding/json"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestBenchDefragJSON(t *testing.T) {
	var out, errOut bytes.Buffer
	require.Equal(t, 0, run([]string{"bench", "defrag", "--part", "allocator", "--json", "--ops", "30000", "--max-moves-per-pass", "50"}, &out, &errOut), errOut.String())
	var both struct{ Allocator []defragResult }
	require.NoError(t, json.Unmarshal(out.Bytes(), &both))
	rs := both.Allocator
	require.Len(t, rs, 2)
	for _, r := range rs {
		require.GreaterOrEqual(t, r.LiveReservedA, r.LiveReservedB, "%+v", r)
		require.Equal(t, r.BlocksBefore-r.BlocksFreed, r.BlocksAfter, "%+v", r)
		require.Positive(t, r.LiveBytes)
		require.LessOrEqual(t, r.Moves, 50*r.Passes)
	}
	require.Equal(t, "fast", rs[0].Algorithm)
	require.Equal(t, "full", rs[1].Algorithm)
	out.Reset()
	require.Equal(t, 0, run([]string{"bench", "defrag", "--part", "allocator", "--ops", "20000"}, &out, &errOut), errOut.String())
	require.Contains(t, out.String(), "live/reserved before")
	require.Equal(t, 2, run([]string{"bench", "defrag", "--ops", "0"}, &out, &errOut))
}

// TestBenchDefragAssetsJSON runs the assets part on lavapipe: the
// fragmenting workload ends with fewer blocks, bytes moved, and a
// defragmentation that reached its steady state.
func TestBenchDefragAssetsJSON(t *testing.T) {
	var out, errOut bytes.Buffer
	require.Equal(t, 0, run([]string{"bench", "defrag", "--part", "assets", "--json"}, &out, &errOut), errOut.String())
	var both struct {
		Allocator []defragResult
		Assets    []assetDefragResult
	}
	require.NoError(t, json.Unmarshal(out.Bytes(), &both))
	require.Empty(t, both.Allocator)
	require.Len(t, both.Assets, 2)
	for _, r := range both.Assets {
		require.Positive(t, r.BlocksFreed, "%+v", r)
		require.Equal(t, r.BlocksBefore-r.BlocksFreed, r.BlocksAfter, "%+v", r)
		require.Positive(t, r.BytesMoved, "%+v", r)
		require.Less(t, r.ReservedLiveA, r.ReservedLiveB, "%+v", r)
		require.Less(t, r.FramesToSteady, 5000, "%+v", r)
		require.LessOrEqual(t, r.FramesOver, r.FramesToSteady, "%+v", r)
		if runtime.GOOS == "linux" {
			require.Positive(t, r.ThreadMsMax, "the thread's CPU clock read: %+v", r)
		}
	}
	require.Equal(t, 2, run([]string{"bench", "defrag", "--part", "gpu"}, &out, &errOut))
}

func TestBenchAllocBestFitColumn(t *testing.T) {
	var out, errOut bytes.Buffer
	require.Equal(t, 0, run([]string{"bench", "alloc", "--json", "--ops", "20000", "--peer", ""}, &out, &errOut), errOut.String())
	var res benchResults
	require.NoError(t, json.Unmarshal(out.Bytes(), &res))
	require.Contains(t, res.BestFitRefused, "random")
	require.Contains(t, res.BestFitRefused, "gpumix")
	require.NotContains(t, res.BestFitRefused, "adversarial")
	require.Positive(t, res.BestFitRefused["gpumix"], "gpumix overflows its block: best fit refuses too")
	for _, r := range res.Results { // the block's search is that best fit: the same refusals
		if n, ok := res.BestFitRefused[r.Trace]; ok {
			require.Equal(t, n, r.Failed, "%s: vkassets refused %d, best fit %d", r.Trace, r.Failed, n)
		}
	}
	out.Reset()
	require.Equal(t, 0, run([]string{"bench", "alloc", "--ops", "20000", "--peer", ""}, &out, &errOut), errOut.String())
	require.Contains(t, out.String(), "best fit refused")
	require.Contains(t, out.String(), "best fit: exhaustive, with vkassets' placement")
}
