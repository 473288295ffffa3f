package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"

	"github.com/vkassets/vkassets/alloc"
	"github.com/vkassets/vkassets/assets"
	"github.com/vkassets/vkassets/finalizer"
	"github.com/vkassets/vkassets/framesync"
	"github.com/vkassets/vkassets/internal/render"
	"github.com/vkassets/vkassets/vk"
)

// stressResult is what `vkassets stress --json` prints.
type stressResult struct {
	Frames           int    `json:"frames"`
	Operations       int    `json:"operations"`
	ValidationErrors int    `json:"validation_errors"`
	Leaks            int    `json:"leaks"`
	MaxPending       int    `json:"max_pending"`
	Seed             uint64 `json:"seed"`
	Device           string `json:"device"`
}

func runStress(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("stress", flag.ContinueOnError)
	fs.SetOutput(stderr)
	frames := fs.Int("frames", 1000, "frames to run")
	seed := fs.Uint64("seed", 1, "random seed: the same seed replays the same operations")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if fs.Parse(args) != nil {
		return 2
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	res, err := stress(*frames, *seed, logger, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "vkassets stress: %v\n", err)
		return 1
	}
	if *asJSON {
		writeJSON(stdout, res)
	} else {
		fmt.Fprintf(stdout, "%d frames, %d operations on %s (seed %d): %d validation errors, %d leaks, at most %d objects pending\n",
			res.Frames, res.Operations, res.Device, res.Seed, res.ValidationErrors, res.Leaks, res.MaxPending)
	}
	if res.ValidationErrors > 0 || res.Leaks > 0 {
		return 3
	}
	return 0
}

// stress runs random asset traffic — load, use, release, force, lock,
// ReleaseUnused, scene switch, atlas packing — for frames frames, with the
// frames in flight changing between 1 and 3, synchronization validation on.
func stress(frames int, seed uint64, logger *slog.Logger, progressOut io.Writer) (stressResult, error) {
	res := stressResult{Frames: frames, Seed: seed}
	d, err := vk.Open(vk.Options{InstanceOptions: vk.InstanceOptions{AppName: "vkassets stress", Logger: logger, SyncValidation: true}})
	if err != nil {
		return res, err
	}
	defer d.Close()
	res.Device = d.Physical().Name
	a, err := alloc.New(alloc.Options{Device: d, Logger: logger})
	if err != nil {
		return res, err
	}
	rng := rand.New(rand.NewPCG(seed, 99))
	ctx := context.Background()
	files := []string{"hero.png", "checker.png", "logo.jpg", "icons/star.png", "icons/coin.png", "icons/heart.png", "scenes/quad.gltf", "scenes/cube.glb"}
	done := 0
	progress := newProgress(progressOut, frames, false)
	// The run is cut in rounds, each with its own number of frames in flight.
	for done < frames {
		inFlight := 1 + rng.IntN(3)
		n := min(frames-done, 50+rng.IntN(200))
		if err := stressRound(ctx, d, a, logger, rng, files, inFlight, n, &res, done, progress); err != nil {
			return res, err
		}
		done += n
	}
	progress.done()
	res.Leaks = len(a.Leaks())
	if err := a.Close(); err != nil {
		logger.Warn("allocator", "error", err)
	}
	d.Close()
	res.ValidationErrors = d.Validator().Errors()
	return res, nil
}

func stressRound(ctx context.Context, d *vk.Device, a *alloc.Allocator, logger *slog.Logger, rng *rand.Rand,
	files []string, inFlight, frames int, res *stressResult, base int, progress *progress) error {
	s, err := framesync.New(framesync.Options{Device: d, Allocator: a, FramesInFlight: inFlight, Logger: logger})
	if err != nil {
		return err
	}
	m, err := assets.New(assets.Options{Device: d, Allocator: a, Sync: s, Logger: logger})
	if err != nil {
		return err
	}
	fin := finalizer.New(m)
	b, err := m.AddBundle("content", assets.SampleContent())
	if err != nil {
		return err
	}
	r, err := render.New(m, d, a, s, 64, 64)
	if err != nil {
		return err
	}
	atlas := fin.NewAtlas(m, d, finalizer.AtlasOptions{PageSize: 64, MaxFrame: 32})
	held := map[assets.ID]assets.Asset{}
	for i := range frames {
		for range 1 + rng.IntN(4) {
			res.Operations++
			switch op := rng.IntN(9); op {
			case 0, 1:
				x, err := b.Load(ctx, files[rng.IntN(len(files))])
				if err != nil {
					return err
				}
				if m.AddRef(x) == nil {
					held[assets.BaseOf(x).ID()] = x
				}
			case 2:
				for id, x := range held {
					_ = m.DecRef(x)
					delete(held, id)
					break
				}
			case 3:
				if x := anyOf(held, rng); x != nil {
					_ = fin.Release(x)
				}
			case 4:
				if x := anyOf(held, rng); x != nil && fin.ForceRelease(x) == nil {
					delete(held, assets.BaseOf(x).ID())
				}
			case 5:
				if x := anyOf(held, rng); x != nil {
					if fin.IsLocked(x) {
						fin.Unlock(x)
					} else {
						fin.Lock(x)
					}
				}
			case 6:
				fin.ReleaseUnused()
			case 7:
				sc, err := b.LoadScene(ctx, files[6+rng.IntN(2)])
				if err != nil {
					return err
				}
				if err := fin.SwitchScene(sc); err != nil {
					return err
				}
			case 8:
				if sp, ok := anyOf(held, rng).(*assets.SpriteFrame); ok && sp.State() == assets.Ready {
					_ = atlas.Pack(sp)
				}
			}
		}
		f, err := s.BeginFrame(ctx)
		if err != nil {
			return err
		}
		if err := r.Begin(f, [4]float32{0, 0, 0, 1}); err != nil {
			return err
		}
		drawn := 0
		for _, x := range held {
			if drawn == 32 {
				break
			}
			switch v := x.(type) {
			case *assets.SpriteFrame:
				if v.State() == assets.Ready && v.Texture.State() == assets.Ready {
					_ = r.DrawSprite(f, v, float32(drawn%8)*8, float32(drawn/8)*8, 8, 8, [4]float32{1, 1, 1, 1})
					drawn++
				}
			case *assets.Scene:
				for _, mesh := range v.Meshes {
					if mesh.State() == assets.Ready && r.DrawMesh(f, mesh, render.Scale(0.3), [4]float32{1, 1, 1, 1}) == nil {
						drawn++
					}
				}
			}
		}
		if sc := fin.CurrentScene(); sc != nil && sc.State() == assets.Ready {
			for _, mesh := range sc.Meshes {
				_ = r.DrawMesh(f, mesh, render.Translate(0.5, 0.5, 0).Mul(render.Scale(0.2)), [4]float32{1, 1, 1, 1})
			}
		}
		r.End(f, false)
		if err := s.EndFrame(f); err != nil {
			return err
		}
		fin.Collect()
		res.MaxPending = max(res.MaxPending, s.Stats().Pending)
		progress.step(base + i + 1)
	}
	for _, x := range held {
		_ = m.DecRef(x)
	}
	for _, x := range m.Assets() {
		fin.Unlock(x)
	}
	fin.ReleaseAll()
	if err := s.WaitIdle(); err != nil {
		return err
	}
	r.Close()
	if err := m.Close(); err != nil {
		return err
	}
	if err := s.Close(); err != nil && !errors.Is(err, framesync.ErrUnsubmitted) {
		return err
	}
	return nil
}

// anyOf picks one asset of a set, or nil.
func anyOf(set map[assets.ID]assets.Asset, rng *rand.Rand) assets.Asset {
	if len(set) == 0 {
		return nil
	}
	k := rng.IntN(len(set))
	for _, x := range set {
		if k == 0 {
			return x
		}
		k--
	}
	return nil
}
