// Package traffic is concurrent asset traffic with invariant checks: the
// workload of the lifetime tests and of `vkassets stress --concurrency`.
//
// Workers on their own goroutines load (sprites, textures, glTF scenes,
// remote sprites), take and drop references, release, force, lock and
// unlock, run ReleaseUnused and Collect, switch scenes, pack frames into an
// atlas, ask Why and take snapshots, and hand assets to the render
// goroutine, which draws every asset it holds each frame through the use
// claims. After every frame the render goroutine stops the workers between
// two operations and checks the graph against a model of who holds what:
//
//   - every cached asset's count is its dependents' edges plus the
//     references the model holds (workers, renderer, scene slot, atlas);
//   - every Ready asset's dependencies are Ready (so a held asset's whole
//     closure is);
//   - every locked asset is Ready;
//   - nothing a frame claimed is destroyed before that frame completes.
//
// The validation layer checks the rest: nothing is destroyed while a
// recorded or submitted frame uses it.
package traffic

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vkassets/vkassets/assets"
	"github.com/vkassets/vkassets/finalizer"
	"github.com/vkassets/vkassets/framesync"
	"github.com/vkassets/vkassets/internal/render"
)

// Config is what Run works on. The caller owns and closes everything.
type Config struct {
	Sync      *framesync.Sync
	Manager   *assets.Manager
	Finalizer *finalizer.Finalizer
	Renderer  *render.Renderer
	Atlas     *finalizer.Atlas
	// Bundle holds the sample content (assets.SampleContent).
	Bundle *assets.Bundle
	// RemoteBase, when set, is a URL prefix serving the same files
	// ("http://127.0.0.1:port/"): workers load remote sprites from it.
	RemoteBase string
	// Workers is the number of goroutines besides the render one (at least 1).
	Workers int
	// Duration bounds the run; Frames, when positive, ends it earlier.
	Duration time.Duration
	Frames   int
	Seed     uint64
	// Progress, when set, is called after every frame.
	Progress func(frame int)
}

// Op names the kinds of operation, in Report.Ops.
var Op = [...]string{
	"acquire", "acquire-scene", "acquire-remote", "load-then-addref", "addref", "decref",
	"release", "force-release", "lock", "unlock", "release-unused", "collect",
	"switch-scene", "pack", "why", "snapshot", "hand-over",
}

const (
	opAcquire = iota
	opAcquireScene
	opAcquireRemote
	opLoadAddRef
	opAddRef
	opDecRef
	opRelease
	opForce
	opLock
	opUnlock
	opReleaseUnused
	opCollect
	opSwitch
	opPack
	opWhy
	opSnapshot
	opHandOver
	opCount
)

// Report is what a run did.
type Report struct {
	Frames        int              `json:"frames"`
	Checks        int              `json:"checks"`
	Ops           map[string]int64 `json:"operations"`
	Draws         int64            `json:"draws"`
	DrawsRefused  int64            `json:"draws_refused"` // claims that lost to a release: nothing drawn
	LoadsRefused  int64            `json:"loads_refused"` // Load then AddRef that lost to a release
	ForcesRefused int64            `json:"forces_refused"`
}

var sprites = []string{"hero.png", "checker.png", "logo.jpg", "icons/star.png", "icons/coin.png", "icons/heart.png"}
var scenes = []string{"scenes/quad.gltf", "scenes/cube.glb"}

// world is the shared state of one run.
type world struct {
	cfg Config
	ctx context.Context

	// gate: workers hold it shared for each operation, the checker
	// exclusively, so the model and the graph are compared at rest.
	gate sync.RWMutex

	mu      sync.Mutex // guards the model below
	holds   map[assets.ID]int
	locked  map[assets.ID]assets.Asset
	scene   *assets.Scene
	persist []assets.Asset
	exclude map[assets.ID]bool // cached before the run (the renderer's own)

	switching sync.Mutex // a scene switch and its model update, as one step
	handoff   chan assets.Asset
	ops       [opCount]atomic.Int64
	report    Report
	loadsRef  atomic.Int64
	forcesRef atomic.Int64
	stop      atomic.Bool
	failMu    sync.Mutex
	failure   error
}

// Run runs the traffic until Duration or Frames, or the first broken
// invariant, which it returns.
func Run(ctx context.Context, cfg Config) (Report, error) {
	if cfg.Workers < 1 {
		cfg.Workers = 1
	}
	w := &world{cfg: cfg, ctx: ctx, holds: map[assets.ID]int{}, locked: map[assets.ID]assets.Asset{},
		exclude: map[assets.ID]bool{}, handoff: make(chan assets.Asset, 64)}
	for _, a := range cfg.Manager.Assets() {
		w.exclude[assets.BaseOf(a).ID()] = true
	}
	var wg sync.WaitGroup
	for i := range cfg.Workers {
		wg.Go(func() { w.worker(rand.New(rand.NewPCG(cfg.Seed, uint64(i)+1))) })
	}
	err := w.render()
	w.stop.Store(true)
	wg.Wait()
	w.drain()
	if err == nil {
		err = w.failed()
	}
	w.report.Ops = map[string]int64{}
	for i := range w.ops {
		w.report.Ops[Op[i]] = w.ops[i].Load()
	}
	w.report.LoadsRefused = w.loadsRef.Load()
	w.report.ForcesRefused = w.forcesRef.Load()
	return w.report, err
}

func (w *world) fail(err error) {
	w.failMu.Lock()
	if w.failure == nil {
		w.failure = err
	}
	w.failMu.Unlock()
	w.stop.Store(true)
}

func (w *world) failed() error {
	w.failMu.Lock()
	defer w.failMu.Unlock()
	return w.failure
}

// hold records a reference the model holds.
func (w *world) hold(a assets.Asset, n int) {
	w.mu.Lock()
	w.holds[assets.BaseOf(a).ID()] += n
	w.mu.Unlock()
}

// pick is a random cached asset, or nil.
func (w *world) pick(r *rand.Rand) assets.Asset {
	all := w.cfg.Manager.Assets()
	all = slices.DeleteFunc(all, func(a assets.Asset) bool { return w.exclude[assets.BaseOf(a).ID()] })
	if len(all) == 0 {
		return nil
	}
	return all[r.IntN(len(all))]
}

// worker does random operations, each under the shared gate, and keeps
// the references it holds.
func (w *world) worker(r *rand.Rand) {
	var mine []assets.Asset
	m, fin, b := w.cfg.Manager, w.cfg.Finalizer, w.cfg.Bundle
	drop := func(i int) {
		a := mine[i]
		mine = slices.Delete(mine, i, i+1)
		if err := m.DecRef(a); err == nil {
			w.hold(a, -1)
		} else if !errors.Is(err, assets.ErrReleased) { // forced meanwhile: nothing to drop
			w.fail(fmt.Errorf("decref %v: %w", assets.BaseOf(a), err))
		}
	}
	for !w.stop.Load() {
		op := r.IntN(opCount)
		w.gate.RLock()
		switch op {
		case opAcquire, opAcquireScene, opAcquireRemote:
			var a assets.Asset
			var err error
			switch {
			case op == opAcquireScene:
				a, err = b.Acquire(w.ctx, scenes[r.IntN(len(scenes))])
			case op == opAcquireRemote && w.cfg.RemoteBase != "":
				a, err = m.AcquireRemote(w.ctx, w.cfg.RemoteBase+sprites[r.IntN(len(sprites))])
			default:
				a, err = b.Acquire(w.ctx, sprites[r.IntN(len(sprites))])
			}
			if err != nil {
				w.fail(fmt.Errorf("acquire: %w", err))
			} else {
				w.hold(a, 1)
				mine = append(mine, a)
				w.checkClosure(a, "acquired")
			}
		case opLoadAddRef:
			a, err := b.Load(w.ctx, sprites[r.IntN(len(sprites))])
			if err != nil {
				w.fail(fmt.Errorf("load: %w", err))
			} else if err := m.AddRef(a); errors.Is(err, assets.ErrReleased) {
				w.loadsRef.Add(1) // the documented race of Load then AddRef
			} else if err != nil {
				w.fail(fmt.Errorf("addref: %w", err))
			} else {
				w.hold(a, 1)
				mine = append(mine, a)
			}
		case opAddRef:
			if a := w.pick(r); a != nil && m.AddRef(a) == nil {
				w.hold(a, 1)
				mine = append(mine, a)
			}
		case opDecRef:
			if len(mine) > 0 {
				drop(r.IntN(len(mine)))
			}
		case opRelease:
			if a := w.pick(r); a != nil {
				_ = fin.Release(a)
			}
		case opForce:
			if a := w.pick(r); a != nil && fin.ForceRelease(a) != nil {
				w.forcesRef.Add(1)
			}
		case opLock:
			if a := w.pick(r); a != nil {
				w.mu.Lock()
				if fin.Lock(a) == nil {
					w.locked[assets.BaseOf(a).ID()] = a
				}
				w.mu.Unlock()
			}
		case opUnlock:
			w.mu.Lock()
			for id, a := range w.locked {
				fin.Unlock(a)
				delete(w.locked, id)
				break
			}
			w.mu.Unlock()
		case opReleaseUnused:
			fin.ReleaseUnused()
		case opCollect:
			fin.Collect()
		case opSwitch:
			w.switchScene(r, mine)
		case opPack:
			if a := w.pick(r); a != nil {
				if sf, ok := a.(*assets.SpriteFrame); ok {
					if err := w.cfg.Atlas.Pack(sf); err != nil && !errors.Is(err, finalizer.ErrTooBig) &&
						!errors.Is(err, assets.ErrReleased) && !errors.Is(err, assets.ErrLoading) {
						w.fail(fmt.Errorf("pack: %w", err))
					}
				}
			}
		case opWhy:
			if a := w.pick(r); a != nil {
				_ = fin.Why(a)
			}
		case opSnapshot:
			_ = fin.Snapshot()
		case opHandOver:
			if len(mine) > 0 {
				i := r.IntN(len(mine))
				select {
				case w.handoff <- mine[i]: // the reference goes with it
					mine = slices.Delete(mine, i, i+1)
				default:
				}
			}
		}
		w.ops[op].Add(1)
		w.gate.RUnlock()
		for len(mine) > 12 {
			w.gate.RLock()
			drop(0)
			w.gate.RUnlock()
		}
	}
	w.gate.RLock()
	for len(mine) > 0 {
		drop(0)
	}
	w.gate.RUnlock()
}

// switchScene makes a held scene current, with a held sprite as a
// persistent root now and then.
func (w *world) switchScene(r *rand.Rand, mine []assets.Asset) {
	var next *assets.Scene
	var persist []assets.Asset
	for _, a := range mine {
		switch x := a.(type) {
		case *assets.Scene:
			next = x
		case *assets.SpriteFrame:
			if r.IntN(2) == 0 {
				persist = append(persist, x)
			}
		}
	}
	if next == nil {
		return
	}
	w.switching.Lock()
	defer w.switching.Unlock()
	if err := w.cfg.Finalizer.SwitchScene(next, persist...); err != nil {
		if !errors.Is(err, assets.ErrReleased) {
			w.fail(fmt.Errorf("switch scene: %w", err))
		}
		return
	}
	w.mu.Lock()
	if w.scene != nil {
		w.holds[w.scene.ID()]--
	}
	for _, p := range w.persist {
		w.holds[assets.BaseOf(p).ID()]--
	}
	w.scene, w.persist = next, persist
	w.holds[next.ID()]++
	for _, p := range persist {
		w.holds[assets.BaseOf(p).ID()]++
	}
	w.mu.Unlock()
}

// checkClosure: a Ready asset's dependencies are all Ready.
func (w *world) checkClosure(a assets.Asset, what string) {
	b := assets.BaseOf(a)
	if b.State() != assets.Ready {
		return
	}
	for _, d := range b.Deps() {
		// A forced release on another goroutine may take a and then its
		// dependencies between the two reads: a must still be Ready after.
		if st := assets.BaseOf(d).State(); st != assets.Ready && b.State() == assets.Ready {
			w.fail(fmt.Errorf("%s %v is ready but its dependency %v is %v", what, b, assets.BaseOf(d), st))
			return
		}
	}
}

// drawn is one claim a frame made.
type drawn struct {
	b      *assets.Base
	serial framesync.Serial
}

// render draws what it was handed each frame, then checks.
func (w *world) render() error {
	cfg := w.cfg
	type held struct {
		a     assets.Asset
		until int
	}
	var shown []held
	var claims []drawn
	deadline := time.Now().Add(cfg.Duration)
	for frame := 0; ; frame++ {
		if (cfg.Frames > 0 && frame >= cfg.Frames) || (cfg.Frames <= 0 && time.Now().After(deadline)) || w.stop.Load() {
			w.report.Frames = frame
			for _, h := range shown {
				w.release(h.a)
			}
			return nil
		}
		for more := true; more; {
			select {
			case a := <-w.handoff:
				shown = append(shown, held{a, frame + 1 + frame%3})
			default:
				more = false
			}
		}
		f, err := cfg.Sync.BeginFrame(w.ctx)
		if err != nil {
			return fmt.Errorf("frame %d: begin: %w", frame, err)
		}
		if err := cfg.Renderer.Begin(f, [4]float32{0, 0, 0, 1}); err != nil {
			return fmt.Errorf("frame %d: %w", frame, err)
		}
		claims = claims[:0]
		for i, h := range shown {
			claims = w.draw(f, h.a, float32(i%8)*8, float32(i/8%8)*8, claims)
		}
		cfg.Renderer.End(f, false)
		if err := cfg.Sync.EndFrame(f); err != nil {
			return fmt.Errorf("frame %d: end: %w", frame, err)
		}
		cfg.Finalizer.Collect()
		kept := shown[:0]
		for _, h := range shown {
			if h.until <= frame {
				w.release(h.a)
			} else {
				kept = append(kept, h)
			}
		}
		shown = kept
		if err := w.check(frame, claims); err != nil {
			return err
		}
		if cfg.Progress != nil {
			cfg.Progress(frame)
		}
	}
}

// release drops a reference the renderer was handed.
func (w *world) release(a assets.Asset) {
	w.gate.RLock()
	defer w.gate.RUnlock()
	if err := w.cfg.Manager.DecRef(a); err == nil {
		w.hold(a, -1)
	} else if !errors.Is(err, assets.ErrReleased) {
		w.fail(fmt.Errorf("renderer decref %v: %w", assets.BaseOf(a), err))
	}
}

// draw records a's draws; a refused claim draws nothing (a forced release
// won the race). It returns claims with what was claimed added.
func (w *world) draw(f *framesync.Frame, a assets.Asset, x, y float32, claims []drawn) []drawn {
	r := w.cfg.Renderer
	switch t := a.(type) {
	case *assets.SpriteFrame:
		tex, _, err := t.Claim(f.Serial())
		if err != nil {
			w.report.DrawsRefused++
			return claims
		}
		if err := r.DrawSprite(f, t, x, y, 8, 8, [4]float32{1, 1, 1, 1}); err != nil {
			if errors.Is(err, assets.ErrReleased) {
				w.report.DrawsRefused++
				return claims
			}
			w.fail(fmt.Errorf("draw %v: %w", &t.Base, err))
			return claims
		}
		w.report.Draws++
		claims = append(claims, drawn{&tex.Base, f.Serial()}, drawn{&t.Source.Base, f.Serial()})
	case *assets.Scene:
		for _, mesh := range t.Meshes {
			if mesh.Material == nil || mesh.Material.BaseTexture == nil {
				continue
			}
			mvp := [16]float32{0.2, 0, 0, 0, 0, 0.2, 0, 0, 0, 0, 0.2, 0, 0, 0, 0.5, 1}
			if err := r.DrawMesh(f, mesh, mvp, [4]float32{1, 1, 1, 1}); err != nil {
				if errors.Is(err, assets.ErrReleased) {
					w.report.DrawsRefused++
					continue
				}
				w.fail(fmt.Errorf("draw %v: %w", &mesh.Base, err))
				continue
			}
			w.report.Draws++
			claims = append(claims, drawn{&mesh.Vertices.Base, f.Serial()}, drawn{&mesh.Indices.Base, f.Serial()},
				drawn{&mesh.Material.BaseTexture.Base, f.Serial()})
		}
	}
	return claims
}

// check compares the graph with the model, the workers stopped.
func (w *world) check(frame int, claims []drawn) error {
	w.gate.Lock()
	defer w.gate.Unlock()
	w.report.Checks++
	if err := w.failed(); err != nil {
		return err
	}
	for _, c := range claims {
		// The state first: a legitimate destroy follows the completion,
		// so completion read after it covers the serial.
		if c.b.State() == assets.Destroyed {
			if completed := w.cfg.Sync.Completed(); completed < c.serial {
				return fmt.Errorf("frame %d: %v was destroyed before the frame that drew it (serial %d) completed (%d)", frame, c.b, c.serial, completed)
			}
		}
	}
	w.mu.Lock()
	holds := make(map[assets.ID]int, len(w.holds))
	for id, n := range w.holds {
		holds[id] = n
	}
	locked := make([]assets.Asset, 0, len(w.locked))
	for _, a := range w.locked {
		locked = append(locked, a)
	}
	w.mu.Unlock()
	for _, p := range w.cfg.Atlas.PageTextures() {
		holds[p.ID()]++
	}
	cached := w.cfg.Manager.Assets()
	edges := map[assets.ID]int{}
	for _, a := range cached {
		for _, d := range assets.BaseOf(a).Deps() {
			edges[assets.BaseOf(d).ID()]++
		}
	}
	for _, a := range cached {
		b := assets.BaseOf(a)
		if b.State() != assets.Ready {
			return fmt.Errorf("frame %d: %v is cached but %v", frame, b, b.State())
		}
		for _, d := range b.Deps() {
			if st := assets.BaseOf(d).State(); st != assets.Ready {
				return fmt.Errorf("frame %d: %v is ready but its dependency %v is %v", frame, b, assets.BaseOf(d), st)
			}
		}
		if w.exclude[b.ID()] {
			continue
		}
		if want := edges[b.ID()] + holds[b.ID()]; b.RefCount() != want {
			return fmt.Errorf("frame %d: %v has count %d; its holders are %d dependents and %d references (%s)",
				frame, b, b.RefCount(), edges[b.ID()], holds[b.ID()], w.cfg.Finalizer.Why(a))
		}
	}
	for _, a := range locked {
		if st := assets.BaseOf(a).State(); st != assets.Ready {
			return fmt.Errorf("frame %d: locked %v is %v", frame, assets.BaseOf(a), st)
		}
	}
	return nil
}

// drain lets go of what the run still holds: the scene slot, the locks.
func (w *world) drain() {
	for more := true; more; {
		select {
		case a := <-w.handoff:
			w.release(a)
		default:
			more = false
		}
	}
	w.mu.Lock()
	for id, a := range w.locked {
		w.cfg.Finalizer.Unlock(a)
		delete(w.locked, id)
	}
	w.mu.Unlock()
}
