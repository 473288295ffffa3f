package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/vkassets/vkassets/alloc"
	"github.com/vkassets/vkassets/assets"
	"github.com/vkassets/vkassets/finalizer"
	"github.com/vkassets/vkassets/framesync"
	"github.com/vkassets/vkassets/inspector"
	"github.com/vkassets/vkassets/internal/render"
	"github.com/vkassets/vkassets/vk"
)

// stressResult is what `vkassets stress --json` prints.
type stressResult struct {
	Frames           int     `json:"frames"`
	Operations       int     `json:"operations"`
	ValidationErrors int     `json:"validation_errors"`
	Leaks            int     `json:"leaks"`
	MaxPending       int     `json:"max_pending"`
	BoundFrames      int     `json:"pending_bound_frames"` // frames whose pending count was checked against the bound
	FaultsInjected   int     `json:"faults_injected"`
	FaultsSurvived   int     `json:"faults_survived"`
	FaultsSurfaced   int     `json:"faults_surfaced"` // returned as errors; the rest were absorbed by retries
	DeviceLosses     int     `json:"device_losses"`
	RSSSlope         float64 `json:"rss_slope_bytes_per_1k_frames"`
	HeapSlope        float64 `json:"heap_slope_bytes_per_1k_frames"`
	Seed             uint64  `json:"seed"`
	Device           string  `json:"device"`
}

type stressOptions struct {
	frames int
	seed   uint64
	faults float64 // probability that a fallible call fails
	loseAt int     // simulate a lost device at this frame (0: never)

	concurrency int     // > 0: the concurrent lifetime traffic, with this many goroutines
	seconds     float64 // how long the concurrent traffic runs

	inspect string         // --inspect ADDR: serve the inspector there
	insp    *inspectServer // nil without --inspect
}

const stressAbout = `Random asset traffic for N frames, in rounds of 1 to 3 frames in flight,
with synchronization validation on: loads (from the bundle, and over HTTP
through an in-process transport), use, release, force, lock, ReleaseUnused,
scene switches, atlas packing. After every operation nothing half-made is
cached; at the end of every frame the pending retirements are within their
bound. A fault counts as survived once a frame completed after it with
those checks passed. Exits 1 when a check fails or a fault ends the run,
3 on a validation error, a leak, or a fault no completed frame followed.`

func runStress(args []string, stdout, stderr io.Writer) int {
	fset := flag.NewFlagSet("stress", flag.ContinueOnError)
	var o stressOptions
	fset.IntVar(&o.frames, "frames", 1000, "frames to run")
	fset.Uint64Var(&o.seed, "seed", 1, "random seed: the same seed replays the same operations and faults")
	fset.Float64Var(&o.faults, "faults", 0, "fail this fraction of fallible Vulkan calls, asset reads and HTTP loads (0 to 1)")
	fset.IntVar(&o.loseAt, "lose-at", 0, "simulate a lost device at this frame (0: never): waits, status queries and submissions report VK_ERROR_DEVICE_LOST until a new device is opened")
	fset.IntVar(&o.concurrency, "concurrency", 0, "run the concurrent lifetime traffic instead, with this many goroutines besides the render one (loads, references, releases, forces, locks, collects, scene switches, atlas packing, Why)")
	fset.Float64Var(&o.seconds, "seconds", 60, "with --concurrency: how long to run, in rounds of about 10 s with 1, 2 and 3 frames in flight")
	fset.StringVar(&o.inspect, "inspect", "", "serve the inspector (assets, graph, memory, retirement, chart, leaks; live) on `ADDR`, e.g. 127.0.0.1:6060, while the stress runs, over each round's manager in turn; its URL goes to stderr")
	asJSON := fset.Bool("json", false, "print the result as JSON")
	if code, ok := parseFlags(fset, stressAbout, args, stdout, stderr); !ok {
		return code
	}
	insp, err := startInspect(o.inspect, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "vkassets stress: %v\n", err)
		return 1
	}
	defer insp.close()
	o.insp = insp
	if o.concurrency > 0 {
		return runStressConcurrent(o, *asJSON, stdout, stderr)
	}
	if o.faults < 0 || o.faults > 1 {
		fmt.Fprintln(stderr, "vkassets stress: --faults must be between 0 and 1")
		return 2
	}
	res, err := stress(o, stressLogger(stderr), stderr)
	if err != nil {
		fmt.Fprintf(stderr, "vkassets stress: %v\n", err)
		return 1
	}
	if *asJSON {
		writeJSON(stdout, res)
	} else {
		fmt.Fprintf(stdout, "%d frames, %d operations on %s (seed %d): %d validation errors, %d leaks, at most %d objects pending; "+
			"%d faults injected, %d survived (%d returned as errors), %d device losses; RSS slope %.0f B, Go heap slope %.0f B per 1,000 frames\n",
			res.Frames, res.Operations, res.Device, res.Seed, res.ValidationErrors, res.Leaks, res.MaxPending,
			res.FaultsInjected, res.FaultsSurvived, res.FaultsSurfaced, res.DeviceLosses, res.RSSSlope, res.HeapSlope)
	}
	if n := res.FaultsInjected - res.FaultsSurvived; n > 0 {
		fmt.Fprintf(stderr, "vkassets stress: %d faults injected after the last completed frame: not survived\n", n)
	}
	if res.ValidationErrors > 0 || res.Leaks > 0 || res.FaultsSurvived != res.FaultsInjected {
		return 3
	}
	return 0
}

// stressLogger logs errors only (the validation layer's among them).
func stressLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelError}))
}

// injector fails fallible calls at a rate.
type injector struct {
	rng      *rand.Rand
	rate     float64
	on       atomic.Bool // faults only while frames run, not during setup
	injected atomic.Int64
	lost     atomic.Bool // a simulated lost device: the fallible status, wait and submit calls report it
}

func (in *injector) fault(op string) vk.Result {
	if in.lost.Load() {
		switch op {
		case "vkWaitForFences", "vkGetFenceStatus", "vkGetSemaphoreCounterValue", "vkWaitSemaphores", "vkQueueSubmit":
			return vk.ErrorDeviceLostCode
		}
	}
	if !in.on.Load() || in.rate == 0 || in.rng.Float64() >= in.rate {
		return vk.Success
	}
	var r vk.Result
	switch op {
	case "vkAllocateMemory":
		r = vk.ErrorOutOfDeviceMemory
	case "vkCreateBuffer", "vkCreateImage", "vkQueueSubmit":
		r = vk.ErrorOutOfHostMemory
	case "vkMapMemory":
		r = vk.ErrorMemoryMapFailed
	case "vkWaitForFences":
		r = vk.Timeout
	default:
		return vk.Success // status queries fail only with a lost device
	}
	in.injected.Add(1)
	return r
}

// faultyFS fails reads, or truncates them, at the injector's rate.
type faultyFS struct {
	fsys fs.FS
	in   *injector
}

var errInjectedRead = errors.New("injected read error")

func (f faultyFS) Open(name string) (fs.File, error) { return f.fsys.Open(name) }

func (f faultyFS) ReadFile(name string) ([]byte, error) {
	data, err := fs.ReadFile(f.fsys, name)
	if err != nil || !f.in.on.Load() || f.in.rate == 0 || f.in.rng.Float64() >= f.in.rate {
		return data, err
	}
	f.in.injected.Add(1)
	if f.in.rng.IntN(2) == 0 {
		return nil, fmt.Errorf("%s: %w", name, errInjectedRead)
	}
	return data[:len(data)/2], nil // truncated
}

// faultyTransport serves the sample content over "HTTP" in process (no
// socket: a seed replays the same run), and at the injector's rate answers
// 503, cuts the body short, or never answers (the load's 20 ms timeout ends
// it).
type faultyTransport struct {
	fsys fs.FS
	in   *injector
}

func (t faultyTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	data, err := fs.ReadFile(t.fsys, strings.TrimPrefix(req.URL.Path, "/"))
	status := http.StatusOK
	if err != nil {
		status, data = http.StatusNotFound, nil
	}
	if t.in.on.Load() && t.in.rate > 0 && t.in.rng.Float64() < t.in.rate {
		t.in.injected.Add(1)
		switch t.in.rng.IntN(3) {
		case 0:
			status, data = http.StatusServiceUnavailable, nil
		case 1:
			data = data[:len(data)/2]
		default:
			<-req.Context().Done()
			return nil, req.Context().Err()
		}
	}
	return &http.Response{StatusCode: status, Status: http.StatusText(status), ContentLength: int64(len(data)),
		Body: io.NopCloser(bytes.NewReader(data)), Header: http.Header{}, Request: req, ProtoMajor: 1, ProtoMinor: 1}, nil
}

// stress runs random asset traffic — load (from the bundle, or over HTTP
// through an in-process transport), use, release, force, lock, ReleaseUnused,
// scene switch, atlas packing — for o.frames frames, in rounds of 1 to 3
// frames in flight, with synchronization validation on, and with --faults
// failing Vulkan calls, file reads and HTTP responses at random.
func stress(o stressOptions, logger *slog.Logger, progressOut io.Writer) (stressResult, error) {
	res := stressResult{Frames: o.frames, Seed: o.seed}
	rng := rand.New(rand.NewPCG(o.seed, 99))
	in := &injector{rng: rand.New(rand.NewPCG(o.seed, 7)), rate: o.faults}
	st := &stressState{o: o, res: &res, rng: rng, in: in, logger: logger, lostAt: -1}
	if err := st.openDevice(); err != nil {
		return res, err
	}
	progress := newProgress(progressOut, o.frames, false)
	st.progress = progress
	for st.done < o.frames {
		inFlight := 1 + rng.IntN(3)
		n := min(o.frames-st.done, 50+rng.IntN(200))
		if err := st.round(inFlight, n); err != nil {
			// The faults since the last completed frame are not survived:
			// one of them may be what ended the run.
			res.FaultsInjected = int(in.injected.Load())
			return res, err
		}
	}
	progress.done()
	st.closeDevice()
	res.FaultsInjected = int(in.injected.Load())
	res.RSSSlope, res.HeapSlope = slope(st.rss), slope(st.heap)
	return res, nil
}

type stressState struct {
	o        stressOptions
	res      *stressResult
	rng      *rand.Rand
	in       *injector
	logger   *slog.Logger
	progress *progress
	d        *vk.Device
	a        *alloc.Allocator
	done     int
	lostAt   int     // st.done at the last device loss; -1 before any
	rss      []point // (frame, bytes) samples after warm-up
	heap     []point
}

type point struct{ x, y float64 }

func (st *stressState) openDevice() error {
	d, err := vk.Open(vk.Options{InstanceOptions: vk.InstanceOptions{AppName: "vkassets stress", Logger: st.logger, SyncValidation: true}})
	if err != nil {
		return err
	}
	st.in.lost.Store(false) // a new device is not lost
	d.SetFaultInjector(st.in.fault)
	a, err := alloc.New(alloc.Options{Device: d, Logger: st.logger})
	if err != nil {
		d.Close()
		return err
	}
	st.d, st.a = d, a
	st.res.Device = d.Physical().Name
	return nil
}

func (st *stressState) closeDevice() {
	st.res.Leaks += len(st.a.Leaks())
	_ = st.a.Close()
	st.d.Close()
	st.res.ValidationErrors += st.d.Validator().Errors()
}

// checkCache is what must hold after every failure: nothing half-made in
// the cache.
func checkCache(m *assets.Manager) error {
	for _, x := range m.Assets() {
		if s := assets.BaseOf(x).State(); s != assets.Ready {
			return fmt.Errorf("cached %v is %v", assets.BaseOf(x), s)
		}
	}
	return nil
}

// round runs n frames on a fresh frame sync, manager and renderer.
func (st *stressState) round(inFlight, n int) error {
	ctx := context.Background()
	d, a, rng, in, res := st.d, st.a, st.rng, st.in, st.res
	s, err := framesync.New(framesync.Options{Device: d, Allocator: a, FramesInFlight: inFlight, Logger: st.logger})
	if err != nil {
		return err
	}
	m, err := assets.New(assets.Options{Device: d, Allocator: a, Sync: s, Logger: st.logger,
		HTTPClient: &http.Client{Transport: faultyTransport{assets.SampleContent(), in}}, RemoteTimeout: 20 * time.Millisecond})
	if err != nil {
		return err
	}
	fin := finalizer.New(m)
	b, err := m.AddBundle("content", faultyFS{assets.SampleContent(), in})
	if err != nil {
		return err
	}
	r, err := render.New(m, d, a, s, 64, 64)
	if err != nil {
		return err
	}
	atlas := fin.NewAtlas(m, d, finalizer.AtlasOptions{PageSize: 64, MaxFrame: 32})
	st.o.insp.set(&inspector.Options{Manager: m, Finalizer: fin, Sync: s, Allocator: a})
	defer st.o.insp.set(nil)
	files := []string{"hero.png", "checker.png", "logo.jpg", "icons/star.png", "icons/coin.png", "icons/heart.png", "scenes/quad.gltf", "scenes/cube.glb"}
	held := map[assets.ID]assets.Asset{}
	survive := func(err error) error {
		if err == nil {
			return nil
		}
		if cerr := checkCache(m); cerr != nil {
			return fmt.Errorf("after %v: %w", err, cerr)
		}
		res.FaultsSurfaced++
		return nil
	}
	bound := pendingBound{inFlight: s.FramesInFlight()}
	lost := false
	in.on.Store(true)
	for i := 0; i < n && !lost; i++ {
		frame := st.done + 1
		if frame == st.o.loseAt {
			st.o.loseAt = 0 // once: the frame is run again on the new device
			// The GPU is idle (a real wait), then the device "is lost".
			if err := d.WaitIdle(); err != nil {
				return err
			}
			in.lost.Store(true)
		}
		for range 1 + rng.IntN(4) {
			res.Operations++
			if err := st.operation(ctx, m, fin, b, atlas, held, files, survive); err != nil {
				if errors.Is(err, vk.ErrDeviceLost) {
					lost = true
					break
				}
				return err
			}
			// After every operation, failed or not: nothing half-made cached.
			if err := checkCache(m); err != nil {
				return fmt.Errorf("frame %d: %w", frame, err)
			}
		}
		if lost {
			break
		}
		f, err := s.BeginFrame(ctx)
		if errors.Is(err, vk.ErrDeviceLost) {
			lost = true
			break
		}
		if err != nil {
			// A transient failure (framesync stays usable after one): the
			// frame is skipped, the next one tries again. Only a check that
			// fails, or no frame ever completing, ends the run.
			if cerr := checkCache(m); cerr != nil {
				return fmt.Errorf("frame %d: after %v: %w", frame, err, cerr)
			}
			res.FaultsSurfaced++
			bound.restart()
			continue
		}
		bound.begun(deferred(s.Stats()))
		if err := r.Begin(f, [4]float32{0, 0, 0, 1}); err != nil {
			return err
		}
		st.draw(r, f, held, fin)
		r.End(f, false)
		if err := s.EndFrame(f); err != nil {
			if errors.Is(err, vk.ErrDeviceLost) {
				lost = true
				break
			}
			// Every try of the frame's submission failed: it was never
			// submitted (its deferred objects retire without it), and the
			// Sync goes on with the next frame.
			if cerr := checkCache(m); cerr != nil {
				return fmt.Errorf("frame %d: after %v: %w", frame, err, cerr)
			}
			res.FaultsSurfaced++
			bound.restart()
			continue
		}
		fin.Collect()
		fs := s.Stats()
		res.MaxPending = max(res.MaxPending, fs.Pending)
		checked, err := bound.check(fs.Pending, deferred(fs))
		if err != nil {
			return fmt.Errorf("frame %d: %w", frame, err)
		}
		if checked {
			res.BoundFrames++
		}
		// This frame completed and its checks passed (nothing half-made
		// cached after every operation, the pending bound) after every
		// fault injected so far: they are survived.
		res.FaultsSurvived = int(in.injected.Load())
		st.step()
	}
	in.on.Store(false)
	for _, x := range held {
		_ = m.DecRef(x)
	}
	for _, x := range m.Assets() {
		fin.Unlock(x)
	}
	fin.ReleaseAll()
	if !lost {
		if err := s.WaitIdle(); err != nil {
			return err
		}
	}
	r.Close()
	if err := m.Close(); err != nil && !errors.Is(err, vk.ErrDeviceLost) {
		return err
	}
	if err := s.Close(); err != nil && !errors.Is(err, framesync.ErrUnsubmitted) {
		return err
	}
	if lost {
		// A new device, and the assets are loaded again on it next round —
		// unless it was lost too before a single frame completed: then
		// another new device would be lost the same way, for ever.
		if st.done == st.lostAt {
			return fmt.Errorf("frame %d: device lost again before any frame completed on the new device", st.done+1)
		}
		st.lostAt = st.done
		res.DeviceLosses++
		st.closeDevice()
		return st.openDevice()
	}
	return nil
}

func (st *stressState) step() {
	st.done++
	st.progress.step(st.done)
	if st.done%1000 == 0 && st.done > st.o.frames/5 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		st.heap = append(st.heap, point{float64(st.done), float64(ms.HeapAlloc)})
		st.rss = append(st.rss, point{float64(st.done), float64(processRSS())})
	}
}

// operation is one random operation; errors from injected faults are
// survived (checked), a lost device is returned.
func (st *stressState) operation(ctx context.Context, m *assets.Manager, fin *finalizer.Finalizer, b *assets.Bundle,
	atlas *finalizer.Atlas, held map[assets.ID]assets.Asset, files []string, survive func(error) error) error {
	rng := st.rng
	switch rng.IntN(10) {
	case 0, 1, 9:
		var x assets.Asset
		var err error
		if f := files[rng.IntN(len(files))]; strings.HasSuffix(f, ".png") && rng.IntN(3) == 0 {
			x, err = m.LoadRemote(ctx, "http://content.invalid/"+f)
		} else {
			x, err = b.Load(ctx, f)
		}
		if err != nil {
			if errors.Is(err, vk.ErrDeviceLost) {
				return err
			}
			return survive(err)
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
			if errors.Is(err, vk.ErrDeviceLost) {
				return err
			}
			return survive(err)
		}
		if err := fin.SwitchScene(sc); err != nil {
			return err
		}
	case 8:
		if sp, ok := anyOf(held, rng).(*assets.SpriteFrame); ok && sp.State() == assets.Ready {
			if err := atlas.Pack(sp); err != nil && !errors.Is(err, finalizer.ErrTooBig) {
				if errors.Is(err, vk.ErrDeviceLost) {
					return err
				}
				return survive(err)
			}
		}
	}
	return nil
}

func (st *stressState) draw(r *render.Renderer, f *framesync.Frame, held map[assets.ID]assets.Asset, fin *finalizer.Finalizer) {
	drawn := 0
	for _, x := range held {
		if drawn == 32 {
			break
		}
		switch v := x.(type) {
		case *assets.SpriteFrame:
			if r.DrawSprite(f, v, float32(drawn%8)*8, float32(drawn/8)*8, 8, 8, [4]float32{1, 1, 1, 1}) == nil {
				drawn++
			}
		case *assets.Scene:
			for _, mesh := range v.Meshes {
				if r.DrawMesh(f, mesh, render.Scale(0.3), [4]float32{1, 1, 1, 1}) == nil {
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

// processRSS is the resident set in bytes (Linux).
func processRSS() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}

// slope is the least-squares slope of the samples, per 1,000 frames.
func slope(ps []point) float64 {
	if len(ps) < 2 {
		return 0
	}
	var sx, sy, sxx, sxy float64
	for _, p := range ps {
		sx += p.x
		sy += p.y
		sxx += p.x * p.x
		sxy += p.x * p.y
	}
	n := float64(len(ps))
	den := n*sxx - sx*sx
	if den == 0 {
		return 0
	}
	return (n*sxy - sx*sy) / den * 1000
}

// deferred is how many objects were ever handed to s to retire.
func deferred(fs framesync.Stats) uint64 { return uint64(fs.Pending) + fs.Retired }

// pendingBound checks the soak's bound on pending retirements (releases per
// frame × (frames in flight + 1)) in its exact form: at the end of
// frame j, with N frames in flight, BeginFrame(j) has waited for frame j-N,
// so everything still pending was deferred after BeginFrame(j-N) returned —
// in the last N+1 frames. Pending may not exceed what was deferred since.
type pendingBound struct {
	inFlight int
	snaps    []uint64 // deferred totals right after each of the last N+1 BeginFrames
}

// begun records the deferred total right after a BeginFrame returned.
func (b *pendingBound) begun(deferred uint64) {
	if len(b.snaps) > b.inFlight {
		b.snaps = append(b.snaps[:0], b.snaps[1:]...)
	}
	b.snaps = append(b.snaps, deferred)
}

// restart forgets the window after a frame that was never submitted: the
// bound's premise — BeginFrame(j) waited for the frame N back, which ran —
// does not hold across it (what was deferred to the unsubmitted serial
// retires once the submissions before it complete, at the next poll). The
// next N+1 submitted frames are checked again.
func (b *pendingBound) restart() { b.snaps = b.snaps[:0] }

// check is called at the end of a frame; it reports whether there were
// enough frames to check, and an error when the bound is broken.
func (b *pendingBound) check(pending int, deferred uint64) (bool, error) {
	if len(b.snaps) <= b.inFlight {
		return false, nil
	}
	since := deferred - b.snaps[0]
	if uint64(pending) > since {
		return true, fmt.Errorf("%d retirements pending, more than the %d deferred in the last %d frames (%d in flight): something waits longer than the GPU needs",
			pending, since, b.inFlight+1, b.inFlight)
	}
	return true, nil
}
