package main

import (
	"context"
	"fmt"
	"image"
	"io"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/vkassets/vkassets/alloc"
	"github.com/vkassets/vkassets/assets"
	"github.com/vkassets/vkassets/framesync"
	"github.com/vkassets/vkassets/internal/render"
	"github.com/vkassets/vkassets/vk"
)

// assetDefragResult is the assets part of `vkassets bench defrag`: the
// asset manager's automatic defragmentation of a fragmenting workload,
// frames rendering throughout.
type assetDefragResult struct {
	Algorithm        string  `json:"algorithm"`
	Seed             uint64  `json:"seed"`
	FramesInFlight   int     `json:"frames_in_flight"`
	MaxBytesPerFrame uint64  `json:"max_bytes_per_frame"`
	Textures         int     `json:"textures"`
	Buffers          int     `json:"buffers"`
	LiveBytes        uint64  `json:"live_bytes"`
	ReservedBefore   uint64  `json:"reserved_bytes_before"`
	ReservedAfter    uint64  `json:"reserved_bytes_after"`
	ReservedLiveB    float64 `json:"reserved_live_before"`
	ReservedLiveA    float64 `json:"reserved_live_after"`
	BlocksBefore     int     `json:"blocks_before"`
	BlocksAfter      int     `json:"blocks_after"`
	BlocksFreed      int     `json:"blocks_freed"`
	BytesMoved       uint64  `json:"bytes_moved"`
	Moved            int     `json:"moved"`
	Skipped          int     `json:"skipped"`
	Passes           int     `json:"passes"`
	FramesToSteady   int     `json:"frames_to_steady_state"`
	// MsToSteady is the wall time of those frames: frames here are short
	// (about a millisecond), so frames that only wait for a pass's end or
	// plan count many.
	MsToSteady float64 `json:"ms_to_steady_state"`
	// Milliseconds the frame's goroutine spends in DefragFrame per frame
	// (planning, new objects, recording, swaps, handing to framesync),
	// over the frames until the steady state.
	CPUMsMean float64 `json:"cpu_ms_per_frame_mean"`
	CPUMsP99  float64 `json:"cpu_ms_per_frame_p99"`
	CPUMsMax  float64 `json:"cpu_ms_per_frame_max"`
	// FramesOver is how many of those frames spent over 0.5 ms in
	// DefragFrame (the target: none).
	FramesOver int `json:"frames_over_half_ms"`
	// The same from the thread's CPU clock (Linux): without the time the
	// thread was preempted or blocked, so a wait does not show here, only
	// in the wall-clock figures above.
	ThreadMsMean float64 `json:"thread_cpu_ms_per_frame_mean,omitempty"`
	ThreadMsP99  float64 `json:"thread_cpu_ms_per_frame_p99,omitempty"`
	ThreadMsMax  float64 `json:"thread_cpu_ms_per_frame_max,omitempty"`
	// All the defragmentation's CPU time (DefragStats.CPU) over the frames,
	// the ends of passes included.
	AllMsPerFrame float64 `json:"all_cpu_ms_per_frame"`
	// The ends of passes, on their own goroutines: the allocator's EndPass
	// (frees of the sources, vkFreeMemory of the emptied blocks).
	EndPassMsMean float64 `json:"end_pass_ms_mean"`
	EndPassMsMax  float64 `json:"end_pass_ms_max"`
}

// benchDefragAssets loads textures and buffers in rounds, releasing a
// random half after each, then renders frames with automatic
// defragmentation on (maxBytes per frame) until a defragmentation finds
// nothing more to move.
func benchDefragAssets(progress io.Writer, seed uint64, maxBytes uint64) ([]assetDefragResult, error) {
	var out []assetDefragResult
	for _, algo := range []alloc.DefragAlgorithm{alloc.DefragFast, alloc.DefragFull} {
		fmt.Fprintf(progress, "assets: fragmenting workload, seed %d, %d MiB per frame, %v ...\n", seed, maxBytes>>20, algo)
		r, err := defragAssetsOnce(seed, maxBytes, algo)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

func defragAssetsOnce(seed, maxBytes uint64, algo alloc.DefragAlgorithm) (res assetDefragResult, err error) {
	res = assetDefragResult{Algorithm: algo.String(), Seed: seed, FramesInFlight: 2, MaxBytesPerFrame: maxBytes}
	logger := slog.New(slog.DiscardHandler)
	d, err := vk.Open(vk.Options{InstanceOptions: vk.InstanceOptions{AppName: "vkassets bench defrag", Logger: logger}})
	if err != nil {
		return res, err
	}
	defer d.Close()
	a, err := alloc.New(alloc.Options{Device: d, Logger: logger})
	if err != nil {
		return res, err
	}
	s, err := framesync.New(framesync.Options{Device: d, Allocator: a, FramesInFlight: res.FramesInFlight})
	if err != nil {
		_ = a.Close()
		return res, err
	}
	m, err := assets.New(assets.Options{Device: d, Allocator: a, Sync: s, Logger: logger})
	if err != nil {
		_ = s.Close()
		_ = a.Close()
		return res, err
	}
	r, err := render.New(m, d, a, s, 128, 128)
	if err != nil {
		_ = m.Close()
		_ = s.Close()
		_ = a.Close()
		return res, err
	}
	defer func() {
		_ = s.WaitIdle()
		r.Close()
		err = cmpErr(err, m.Close(), s.Close(), a.Close())
	}()

	rng := rand.New(rand.NewPCG(seed, 16))
	var live []assets.Asset
	var sprites []*assets.SpriteFrame
	pix := make([]byte, 512*512*4)
	for i := range pix {
		pix[i] = byte(rng.Uint32())
	}
	// Six rounds: load 400 assets, then release a random half of what is
	// loaded.
	for round := range 6 {
		for i := range 400 {
			name := fmt.Sprintf("r%d-%d", round, i)
			if i%2 == 0 {
				side := 64 << rng.IntN(4) // 64 to 512
				im, err := m.NewImage(name, uint32(side), uint32(side), pix[:side*side*4])
				if err != nil {
					return res, err
				}
				tex, err := m.NewTexture(im)
				_ = m.DecRef(im)
				if err != nil {
					return res, err
				}
				live = append(live, tex)
				res.Textures++
				if len(sprites) < 16 && round == 0 {
					sp, err := m.NewSpriteFrame(name, tex, image.Rect(0, 0, side, side))
					if err != nil {
						return res, err
					}
					sprites = append(sprites, sp)
				}
			} else {
				b, err := m.NewBuffer(name, vk.BufferUsageVertex, pix[:(4+rng.IntN(252))<<10])
				if err != nil {
					return res, err
				}
				live = append(live, b)
				res.Buffers++
			}
		}
		rng.Shuffle(len(live), func(i, j int) { live[i], live[j] = live[j], live[i] })
		half := len(live) / 2
		for _, x := range live[:half] {
			if slices.ContainsFunc(sprites, func(sp *assets.SpriteFrame) bool { return sp.Source == x }) {
				continue // drawn: kept
			}
			_ = m.DecRef(x)
			_, _ = m.Release(x, false)
		}
		live = slices.DeleteFunc(live, func(x assets.Asset) bool { return assets.BaseOf(x).State() != assets.Ready })
	}
	ctx := context.Background()
	if err := s.Flush(ctx); err != nil {
		return res, err
	}
	before := a.Stats()
	res.LiveBytes = before.Total.AllocationBytes
	res.ReservedBefore, res.BlocksBefore = before.Total.BlockBytes, before.Total.BlockCount

	if err := m.SetDefrag(assets.DefragPolicy{MaxBytesPerFrame: maxBytes, Algorithm: algo, RestartAfterFrames: 1 << 30}); err != nil {
		return res, err
	}
	var perFrame, perFrameCPU []float64
	// One OS thread for the frames: its CPU clock measures DefragFrame.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	st0 := m.DefragStats()
	began := time.Now()
	for frame := 0; frame < 5000 && m.DefragStats().Completed == 0; frame++ {
		f, err := s.BeginFrame(ctx) // its Poll starts the ends of the passes that are done
		if err != nil {
			return res, err
		}
		cpu0, cpuOK := threadCPU()
		start := time.Now()
		if _, err := m.DefragFrame(); err != nil {
			return res, err
		}
		took := time.Since(start)
		if cpu1, ok := threadCPU(); ok && cpuOK {
			perFrameCPU = append(perFrameCPU, ms(cpu1-cpu0))
		}
		perFrame = append(perFrame, ms(took))
		if took > time.Millisecond/2 {
			res.FramesOver++
		}
		if err := r.Begin(f, [4]float32{0, 0, 0, 1}); err != nil {
			return res, err
		}
		for i, sp := range sprites {
			if err := r.DrawSprite(f, sp, float32(i%4)*32, float32(i/4)*32, 32, 32, [4]float32{1, 1, 1, 1}); err != nil {
				return res, err
			}
		}
		r.End(f, false)
		if err := s.EndFrame(f); err != nil {
			return res, err
		}
		res.FramesToSteady = frame + 1
	}
	res.MsToSteady = ms(time.Since(began))
	res.CPUMsMean, res.CPUMsP99, res.CPUMsMax = summary(perFrame)
	res.ThreadMsMean, res.ThreadMsP99, res.ThreadMsMax = summary(perFrameCPU)
	st1 := m.DefragStats()
	res.AllMsPerFrame = ms(st1.CPU-st0.CPU) / float64(max(1, res.FramesToSteady))
	if st1.Passes > st0.Passes {
		res.EndPassMsMean = ms(st1.EndPass-st0.EndPass) / float64(st1.Passes-st0.Passes)
	}
	res.EndPassMsMax = ms(st1.EndPassMax)
	if err := s.Flush(ctx); err != nil {
		return res, err
	}
	after := a.Stats()
	st := m.DefragStats()
	res.ReservedAfter, res.BlocksAfter = after.Total.BlockBytes, after.Total.BlockCount
	res.ReservedLiveB = float64(res.ReservedBefore) / float64(res.LiveBytes)
	res.ReservedLiveA = float64(res.ReservedAfter) / float64(after.Total.AllocationBytes)
	res.BlocksFreed, res.BytesMoved, res.Moved, res.Skipped, res.Passes = st.BlocksFreed, st.BytesMoved, st.Moved, st.Skipped, st.Passes
	return res, nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// summary is the mean, 99th percentile and maximum of v (zeros if empty).
func summary(v []float64) (mean, p99, maxV float64) {
	n := len(v)
	if n == 0 {
		return 0, 0, 0
	}
	for _, x := range v {
		mean += x
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return mean / float64(n), s[min(n-1, n*99/100)], s[n-1]
}

// cmpErr is the first non-nil error.
func cmpErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

func printDefragAssets(w io.Writer, rs []assetDefragResult) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "assets\tMiB/frame\tlive MiB\treserved/live before\tafter\tblocks\tfreed\tMiB moved\tmoved\tpasses\tframes to steady\tms\tDefragFrame ms mean\tp99\tmax\tframes > 0.5 ms\tthread CPU ms mean\tp99\tmax\tall CPU ms/frame\tEndPass ms mean\tmax\t")
	for _, r := range rs {
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.3f\t%.3f\t%d -> %d\t%d\t%.1f\t%d\t%d\t%d\t%.0f\t%.3f\t%.3f\t%.3f\t%d\t%.3f\t%.3f\t%.3f\t%.3f\t%.2f\t%.2f\t\n", r.Algorithm,
			r.MaxBytesPerFrame>>20, float64(r.LiveBytes)/(1<<20), r.ReservedLiveB, r.ReservedLiveA, r.BlocksBefore, r.BlocksAfter,
			r.BlocksFreed, float64(r.BytesMoved)/(1<<20), r.Moved, r.Passes, r.FramesToSteady, r.MsToSteady, r.CPUMsMean, r.CPUMsP99, r.CPUMsMax,
			r.FramesOver, r.ThreadMsMean, r.ThreadMsP99, r.ThreadMsMax, r.AllMsPerFrame, r.EndPassMsMean, r.EndPassMsMax)
	}
	tw.Flush()
}
