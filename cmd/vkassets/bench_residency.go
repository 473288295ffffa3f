package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing/fstest"
	"text/tabwriter"
	"time"

	"github.com/vkassets/vkassets/alloc"
	"github.com/vkassets/vkassets/assets"
	"github.com/vkassets/vkassets/finalizer"
	"github.com/vkassets/vkassets/framesync"
	"github.com/vkassets/vkassets/vk"
)

// residencyTrace is a seeded replay of scene visits: each scene a set of
// textures, some shared with other scenes, visited in an order where the
// next scene is drawn from a Zipf distribution over the scenes' popularity,
// so that revisits are common.
type residencyTrace struct {
	Assets []residencyAsset
	Scenes [][]int // each scene's assets (indices into Assets), in load order
	Visits []int   // the scenes visited, in order; no scene twice in a row
}

// residencyAsset is a PNG texture of the trace.
type residencyAsset struct {
	Path string
	W, H int
	// Bytes is its device memory: RGBA8, W×H×4, unless the run measured
	// otherwise (assets.Bytes of the loaded texture).
	Bytes uint64
}

// residencySides are the texture sides the trace draws from, with weights.
var residencySides = []struct{ side, weight int }{{64, 2}, {128, 4}, {256, 3}, {512, 1}}

func drawSide(rng *rand.Rand) int {
	total := 0
	for _, s := range residencySides {
		total += s.weight
	}
	k := rng.IntN(total)
	for _, s := range residencySides {
		if k < s.weight {
			return s.side
		}
		k -= s.weight
	}
	return residencySides[0].side
}

// genResidencyTrace makes the trace of a seed: scenes scenes, each with 4 to
// 8 textures of its own and 2 to 4 from a shared pool (one shared texture
// per scene in the pool), sides 64 to 512 (rectangles too); visits visits,
// each next scene drawn from Zipf(s=1.2, v=1) over a seeded ranking of the
// scenes, redrawn when it is the scene being left.
func genResidencyTrace(seed uint64, scenes, visits int) residencyTrace {
	rng := rand.New(rand.NewPCG(seed, 0x7265736964656e74)) // "resident"
	var t residencyTrace
	add := func(path string) int {
		w, h := drawSide(rng), drawSide(rng)
		t.Assets = append(t.Assets, residencyAsset{Path: path, W: w, H: h, Bytes: uint64(w * h * 4)})
		return len(t.Assets) - 1
	}
	shared := make([]int, scenes)
	for i := range shared {
		shared[i] = add(fmt.Sprintf("shared/%02d.png", i))
	}
	for s := range scenes {
		var set []int
		for _, k := range rng.Perm(len(shared))[:min(len(shared), 2+rng.IntN(3))] {
			set = append(set, shared[k])
		}
		for i := range 4 + rng.IntN(5) {
			set = append(set, add(fmt.Sprintf("scene%02d/%02d.png", s, i)))
		}
		rng.Shuffle(len(set), func(i, j int) { set[i], set[j] = set[j], set[i] })
		t.Scenes = append(t.Scenes, set)
	}
	if scenes < 2 {
		for range visits {
			t.Visits = append(t.Visits, 0)
		}
		return t
	}
	rank := rng.Perm(scenes) // rank → scene: the most popular is rank[0]
	z := rand.NewZipf(rng, 1.2, 1, uint64(scenes-1))
	prev := -1
	for len(t.Visits) < visits {
		s := rank[z.Uint64()]
		if s == prev {
			continue
		}
		t.Visits = append(t.Visits, s)
		prev = s
	}
	return t
}

// used is the assets the visits load, each once, in the order first loaded.
func (t *residencyTrace) used() []int {
	seen := make([]bool, len(t.Assets))
	var out []int
	for _, s := range t.Visits {
		for _, a := range t.Scenes[s] {
			if !seen[a] {
				seen[a] = true
				out = append(out, a)
			}
		}
	}
	return out
}

// workingSet is the bytes of every asset the visits load.
func (t *residencyTrace) workingSet() uint64 {
	var n uint64
	for _, a := range t.used() {
		n += t.Assets[a].Bytes
	}
	return n
}

// loads is the number of asset loads the visits make.
func (t *residencyTrace) loads() int {
	n := 0
	for _, s := range t.Visits {
		n += len(t.Scenes[s])
	}
	return n
}

// sceneBytes is the bytes of a set of assets.
func (t *residencyTrace) bytesOf(set []int) uint64 {
	var n uint64
	for _, a := range set {
		n += t.Assets[a].Bytes
	}
	return n
}

// simResult is what a reference policy does with a trace.
type simResult struct {
	Loads, Hits int
	BytesLoaded uint64 // the bytes of the misses
	Peak        uint64 // the most bytes resident at once
}

func (r simResult) misses() int { return r.Loads - r.Hits }

// simKeepAll keeps every asset once loaded, whatever the budget: a load is
// a hit when the asset was loaded before.
func simKeepAll(t *residencyTrace) simResult {
	var r simResult
	resident := make([]bool, len(t.Assets))
	var bytes uint64
	for _, s := range t.Visits {
		for _, a := range t.Scenes[s] {
			r.Loads++
			if resident[a] {
				r.Hits++
				continue
			}
			resident[a] = true
			bytes += t.Assets[a].Bytes
			r.BytesLoaded += t.Assets[a].Bytes
			r.Peak = max(r.Peak, bytes)
		}
	}
	return r
}

// simCocos releases on switch, as Cocos Creator's auto-release does: the
// next scene is loaded, then the assets of the scene left that the next one
// does not use are released. A load is a hit when the scene left used the
// asset too; the peak is the two scenes together.
func simCocos(t *residencyTrace) simResult {
	var r simResult
	var prev []int
	for _, s := range t.Visits {
		next := t.Scenes[s]
		for _, a := range next {
			r.Loads++
			if slices.Contains(prev, a) {
				r.Hits++
				continue
			}
			r.BytesLoaded += t.Assets[a].Bytes
		}
		union := t.bytesOf(next)
		for _, a := range prev {
			if !slices.Contains(next, a) {
				union += t.Assets[a].Bytes
			}
		}
		r.Peak = max(r.Peak, union)
		prev = next
	}
	return r
}

// simBelady is the offline reference for a byte budget, Belady's rule: at a
// miss that would take the resident bytes over the budget, the resident
// assets the current scene does not use are evicted, the one next used
// furthest in the future first (those never used again first, the larger
// of them first), until the new one fits. A scene larger than the budget
// goes over it (nothing else is left to evict). With assets of unequal
// sizes the rule is the standard offline reference, not a proven optimum.
func simBelady(t *residencyTrace, budget uint64) simResult {
	// next[p] is the position of the next load of the asset loaded at p.
	var seq []int
	for _, s := range t.Visits {
		seq = append(seq, t.Scenes[s]...)
	}
	next := make([]int, len(seq))
	last := make([]int, len(t.Assets))
	for i := range last {
		last[i] = math.MaxInt
	}
	for p := len(seq) - 1; p >= 0; p-- {
		next[p] = last[seq[p]]
		last[seq[p]] = p
	}

	var r simResult
	nextUse := make([]int, len(t.Assets)) // of the resident assets
	resident := make([]bool, len(t.Assets))
	var bytes uint64
	p := 0
	for _, s := range t.Visits {
		scene := t.Scenes[s]
		for _, a := range scene {
			r.Loads++
			if resident[a] {
				r.Hits++
				nextUse[a] = next[p]
				p++
				continue
			}
			need := t.Assets[a].Bytes
			for bytes+need > budget {
				victim := -1
				for v, in := range resident {
					if !in || slices.Contains(scene, v) {
						continue
					}
					if victim < 0 || nextUse[v] > nextUse[victim] ||
						(nextUse[v] == nextUse[victim] && t.Assets[v].Bytes > t.Assets[victim].Bytes) {
						victim = v
					}
				}
				if victim < 0 {
					break
				}
				resident[victim] = false
				bytes -= t.Assets[victim].Bytes
			}
			resident[a] = true
			nextUse[a] = next[p]
			bytes += need
			r.BytesLoaded += need
			r.Peak = max(r.Peak, bytes)
			p++
		}
	}
	return r
}

// residencyOptions configure the residency benchmark.
type residencyOptions struct {
	seed   uint64
	visits int
	frames int // frames rendered per visit
	scenes int
}

// residencyBudgets are the budgets run, in percent of the working set.
var residencyBudgets = []uint64{50, 100, 150}

// residencyResults is what `vkassets bench residency --json` prints.
type residencyResults struct {
	Device     string `json:"device"`
	Validation string `json:"validation"` // "on", or why it is off
	Seed       uint64 `json:"seed"`
	Scenes     int    `json:"scenes"`
	Visits     int    `json:"visits"`
	Frames     int    `json:"frames_per_visit"`
	Assets     int    `json:"assets"` // distinct textures the visits load
	Loads      int    `json:"loads"`
	// WorkingSet is the device bytes of every texture the visits load,
	// each once (assets.Bytes of the loaded textures).
	WorkingSet uint64 `json:"working_set_bytes"`
	// WorkingSetDevice is the device-local memory all of them take at
	// once, alignment and block padding included: the unit of the real
	// run's budgets (the references' are in WorkingSet's).
	WorkingSetDevice uint64 `json:"working_set_device_bytes"`
	// MeanMissMs is the mean time of a load that missed (read, decode,
	// upload submitted), over every miss of the runs.
	MeanMissMs float64 `json:"mean_miss_load_ms"`
	// Budgets are the runs, one per budget.
	Budgets []residencyBudget `json:"budgets"`
	Goals   []residencyGoal   `json:"goals"`
	// ValidationErrors and Leaks end the command with an error when not 0.
	ValidationErrors int `json:"validation_errors"`
	Leaks            int `json:"leaks"`
}

// residencyBudget is one budget's run and its references.
type residencyBudget struct {
	Percent uint64 `json:"percent"` // of the working set
	// Budget is the device-local memory the assets may take: Percent of
	// the working set. The policy is given Base more (Residency.Budget),
	// the stack's own memory with nothing loaded (the staging ring, ...),
	// and every usage figure here is of the assets: device-local usage less
	// Base.
	Budget uint64         `json:"budget_bytes"`
	Base   uint64         `json:"base_bytes"`
	High   uint64         `json:"high_bytes"`
	Low    uint64         `json:"low_bytes"`
	Rows   []residencyRow `json:"policies"` // vkassets, cocos, keep-all, belady
	// PeakAtLoad and PeakAtFrameEnd split vkassets' peak: after a load
	// (before the frame's Collect could act), and at a frame's end, before
	// or after its Collect.
	PeakAtLoad     uint64 `json:"peak_at_load_bytes"`
	PeakAtFrameEnd uint64 `json:"peak_at_frame_end_bytes"`
	// WorstExcess is the most that device-local usage was over the budget
	// plus what was pending retirement at that moment (0: never), with
	// the pending bytes then and where ("load" or "frame").
	WorstExcess   uint64 `json:"worst_excess_bytes"`
	ExcessPending uint64 `json:"excess_pending_bytes"`
	ExcessAt      string `json:"excess_at,omitempty"`
	// MaxOverBudget is the most usage was over the budget alone, and what
	// was pending then.
	MaxOverBudget        uint64 `json:"max_over_budget_bytes"`
	MaxOverBudgetPending uint64 `json:"max_over_budget_pending_bytes"`
	MaxPending           uint64 `json:"max_pending_bytes"`
	// Residency is the policy's own account at the end of the run.
	Residency finalizer.ResidencyStats `json:"residency"`
	// Resurrected counts hits on resident, unused assets (Manager.Stats).
	Resurrected uint64 `json:"resurrected"`
	// ReliefsMeasured and MaxReliefMeasured are the reliefs as the
	// benchmark saw them, from the usage each Collect starts with (what the
	// policy sees): frames from the one where usage less what waits to
	// retire is over High to the one where usage is back within High;
	// Unrelieved, the frames since usage crossed High when the run ended
	// without relief.
	ReliefsMeasured   int `json:"reliefs_measured"`
	MaxReliefMeasured int `json:"max_relief_frames_measured"`
	Unrelieved        int `json:"unrelieved_frames,omitempty"`
	// RetireFrames is the most frames any object released in the run
	// (evicted assets' included) waited from its release to its
	// destruction (framesync.Stats.MaxLatencyFrames): how soon memory an
	// eviction gave up came back.
	RetireFrames uint64 `json:"max_retire_frames"`
}

// residencyRow is one policy's figures at a budget.
type residencyRow struct {
	Policy      string  `json:"policy"`
	Loads       int     `json:"loads"`
	Hits        int     `json:"hits"`
	Misses      int     `json:"misses"`
	HitRate     float64 `json:"hit_rate"`
	BytesLoaded uint64  `json:"bytes_loaded"`
	// PeakBytes: vkassets', device-local allocated bytes (what waits to
	// retire and staging included); a reference's, its resident bytes.
	PeakBytes uint64 `json:"peak_device_bytes"`
	// LoadTimeSavedMs is the misses avoided against release on switch
	// (cocos), times the mean measured miss.
	LoadTimeSavedMs float64 `json:"load_time_saved_ms"`
	// ReliefFrames: vkassets', ResidencyStats.MaxReliefFrames; null for
	// the references, which evict as they load.
	ReliefFrames *int `json:"relief_frames"`
}

// residencyGoal is one of the goals, checked.
type residencyGoal struct {
	Goal   string `json:"goal"`
	Pass   bool   `json:"pass"`
	Detail string `json:"detail"`
}

func newRow(policy string, r simResult) residencyRow {
	row := residencyRow{Policy: policy, Loads: r.Loads, Hits: r.Hits, Misses: r.misses(), BytesLoaded: r.BytesLoaded, PeakBytes: r.Peak}
	if r.Loads > 0 {
		row.HitRate = float64(r.Hits) / float64(r.Loads)
	}
	return row
}

// residencyFS is the trace's textures as PNG files, with a manifest that
// makes each load a Texture2D (with its ImageAsset).
func residencyFS(t *residencyTrace) (fstest.MapFS, error) {
	fsys := fstest.MapFS{}
	type entry struct {
		Path string `json:"path"`
		Kind string `json:"kind"`
	}
	mf := struct {
		Version int     `json:"version"`
		Assets  []entry `json:"assets"`
	}{Version: 1}
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	for i, a := range t.Assets {
		img := image.NewRGBA(image.Rect(0, 0, a.W, a.H))
		c := color.RGBA{uint8(i * 37), uint8(i * 91), uint8(i * 13), 255}
		for y := range a.H {
			for x := range a.W {
				if (x/16+y/16)%2 == 0 {
					img.SetRGBA(x, y, c)
				}
			}
		}
		var buf bytes.Buffer
		if err := enc.Encode(&buf, img); err != nil {
			return nil, err
		}
		fsys[a.Path] = &fstest.MapFile{Data: buf.Bytes()}
		mf.Assets = append(mf.Assets, entry{Path: a.Path, Kind: assets.KindTexture})
	}
	data, err := json.Marshal(mf)
	if err != nil {
		return nil, err
	}
	fsys[assets.ManifestName] = &fstest.MapFile{Data: data}
	return fsys, nil
}

// residencyStack is a device's allocator, frame sync, manager and policy,
// made for one run.
type residencyStack struct {
	a   *alloc.Allocator
	s   *framesync.Sync
	m   *assets.Manager
	fin *finalizer.Finalizer
	b   *assets.Bundle
}

func newResidencyStack(d *vk.Device, logger *slog.Logger, fsys fstest.MapFS) (*residencyStack, error) {
	a, err := alloc.New(alloc.Options{Device: d, Logger: logger})
	if err != nil {
		return nil, err
	}
	st := &residencyStack{a: a}
	if st.s, err = framesync.New(framesync.Options{Device: d, Allocator: a, Logger: logger}); err != nil {
		_ = a.Close()
		return nil, err
	}
	if st.m, err = assets.New(assets.Options{Device: d, Allocator: a, Sync: st.s, Logger: logger}); err != nil {
		_ = st.s.Close()
		_ = a.Close()
		return nil, err
	}
	st.fin = finalizer.New(st.m)
	if st.b, err = st.m.AddBundle("bench", fsys); err != nil {
		_, _ = st.close()
		return nil, err
	}
	return st, nil
}

// close releases everything and closes the stack; it returns the
// allocations still live when the allocator closed.
func (st *residencyStack) close() (leaks int, err error) {
	_ = st.fin.SetResidency(nil)
	st.fin.ReleaseAll()
	errs := []error{st.s.WaitIdle(), st.m.Close(), st.s.Close()}
	leaks = len(st.a.Leaks())
	errs = append(errs, st.a.Close())
	if leaks > 0 {
		errs = append(errs, fmt.Errorf("%d allocations leaked", leaks))
	}
	return leaks, errors.Join(errs...)
}

// measureBytes loads every texture the visits use, sets each one's Bytes
// to assets.Bytes of the loaded texture, and returns the device-local
// memory they take together, alignment and block padding included (the
// unit of the policy's budget), once their staging has retired.
func measureBytes(ctx context.Context, st *residencyStack, t *residencyTrace) (uint64, error) {
	base := st.a.AllocatedBytes(vk.HeapDeviceLocal)
	var held []assets.Asset
	defer func() {
		for _, x := range held {
			_ = st.m.DecRef(x)
		}
		st.fin.Collect()
	}()
	for _, i := range t.used() {
		a := &t.Assets[i]
		x, err := st.b.Acquire(ctx, a.Path)
		if err != nil {
			return 0, err
		}
		held = append(held, x)
		a.Bytes = assets.Bytes(x)
	}
	if err := st.s.WaitIdle(); err != nil {
		return 0, err
	}
	if _, err := st.s.Poll(); err != nil {
		return 0, err
	}
	used := st.a.AllocatedBytes(vk.HeapDeviceLocal)
	return used - min(used, base), nil
}

// residencyRun is what one budget's replay measured.
type residencyRun struct {
	row      residencyRow
	budget   residencyBudget
	missTime time.Duration
}

// replay runs the visits at a budget: on each visit, acquire every texture
// of the scene (timed; a hit when the manager counted no miss), render
// frames frames that use them (Collect at each frame's end), then drop
// them, leaving them resident and unused.
func replay(ctx context.Context, st *residencyStack, t *residencyTrace, frames int, budget uint64) (residencyRun, error) {
	var run residencyRun
	base := st.a.AllocatedBytes(vk.HeapDeviceLocal)
	if err := st.fin.SetResidency(&finalizer.Residency{Budget: base + budget}); err != nil {
		return run, err
	}
	rs := st.fin.ResidencyStats()
	run.budget = residencyBudget{Budget: rs.Budget - base, Base: base, High: rs.High - base, Low: rs.Low - base}
	row := &run.row
	row.Policy = "vkassets"
	rb := &run.budget
	over, overSince, frame := false, 0, 0
	sample := func(where string) {
		used := st.a.AllocatedBytes(vk.HeapDeviceLocal)
		used -= min(used, base)
		pending := st.s.Stats().PendingBytes
		row.PeakBytes = max(row.PeakBytes, used)
		rb.MaxPending = max(rb.MaxPending, pending)
		if where == "load" {
			rb.PeakAtLoad = max(rb.PeakAtLoad, used)
		} else {
			rb.PeakAtFrameEnd = max(rb.PeakAtFrameEnd, used)
		}
		if used > budget && used-budget > rb.MaxOverBudget {
			rb.MaxOverBudget, rb.MaxOverBudgetPending = used-budget, pending
		}
		if ex := used - min(used, budget+pending); ex > rb.WorstExcess {
			rb.WorstExcess, rb.ExcessPending, rb.ExcessAt = ex, pending, where
		}
		if where != "collect" {
			return
		}
		// What the policy sees as it starts a Collect: usage less what
		// waits to retire crossing High (the budget allows what retires),
		// and some frames later usage, retiring included, back within it.
		switch {
		case !over && used-min(used, pending) > rb.High:
			over, overSince = true, frame
		case over && used <= rb.High:
			over = false
			rb.ReliefsMeasured++
			rb.MaxReliefMeasured = max(rb.MaxReliefMeasured, frame-overSince)
		}
	}
	held := make([]assets.Asset, 0, 16)
	for _, s := range t.Visits {
		for _, i := range t.Scenes[s] {
			before := st.m.Stats().Misses
			t0 := time.Now()
			x, err := st.b.Acquire(ctx, t.Assets[i].Path)
			dt := time.Since(t0)
			if err != nil {
				return run, err
			}
			held = append(held, x)
			row.Loads++
			if st.m.Stats().Misses == before {
				row.Hits++
			} else {
				row.BytesLoaded += assets.Bytes(x)
				run.missTime += dt
			}
			sample("load")
		}
		for range frames {
			f, err := st.s.BeginFrame(ctx)
			if err != nil {
				return run, err
			}
			for _, x := range held {
				if err := assets.Use(f.Serial(), x); err != nil {
					return run, fmt.Errorf("use %v: %w", assets.BaseOf(x), err)
				}
			}
			if err := st.s.EndFrame(f); err != nil {
				return run, err
			}
			frame++
			sample("collect")
			st.fin.Collect()
			sample("frame")
		}
		for _, x := range held {
			if err := st.m.DecRef(x); err != nil {
				return run, err
			}
		}
		held = held[:0]
	}
	if over {
		rb.Unrelieved = frame - overSince
	}
	rb.RetireFrames = st.s.Stats().MaxLatencyFrames
	row.Misses = row.Loads - row.Hits
	if row.Loads > 0 {
		row.HitRate = float64(row.Hits) / float64(row.Loads)
	}
	rb.Residency = st.fin.ResidencyStats()
	rb.Resurrected = st.m.Stats().Resurrected
	relief := rb.Residency.MaxReliefFrames
	row.ReliefFrames = &relief
	return run, nil
}

// benchResidency runs the trace of o at each budget, on one device with
// the validation layer on where it is installed.
func benchResidency(progress io.Writer, logger *slog.Logger, o residencyOptions) (residencyResults, error) {
	res := residencyResults{Seed: o.seed, Scenes: o.scenes, Visits: o.visits, Frames: o.frames, Validation: "on"}
	t := genResidencyTrace(o.seed, o.scenes, o.visits)
	fsys, err := residencyFS(&t)
	if err != nil {
		return res, err
	}
	d, err := vk.Open(vk.Options{InstanceOptions: vk.InstanceOptions{AppName: "vkassets bench residency", Logger: logger, Validation: true}})
	if errors.Is(err, vk.ErrNoValidationLayer) {
		res.Validation = "off: " + vk.ValidationLayer + " is not installed"
		fmt.Fprintf(progress, "residency: validation %s\n", res.Validation)
		d, err = vk.Open(vk.Options{InstanceOptions: vk.InstanceOptions{AppName: "vkassets bench residency", Logger: logger}})
	}
	if err != nil {
		return res, err
	}
	defer d.Close()
	res.Device = d.Physical().Name
	ctx := context.Background()

	// Each run's stack is closed before the next is made; a failed run
	// closes its own.
	runOn := func(fn func(st *residencyStack) error) error {
		st, err := newResidencyStack(d, logger, fsys)
		if err != nil {
			return err
		}
		ferr := fn(st)
		leaks, cerr := st.close()
		res.Leaks += leaks
		return errors.Join(ferr, cerr)
	}
	var wsDevice uint64
	if err := runOn(func(st *residencyStack) (err error) { wsDevice, err = measureBytes(ctx, st, &t); return err }); err != nil {
		return res, fmt.Errorf("measuring the textures: %w", err)
	}
	ws := t.workingSet()
	res.Assets, res.Loads, res.WorkingSet, res.WorkingSetDevice = len(t.used()), t.loads(), ws, wsDevice
	fmt.Fprintf(progress, "residency: seed %d, %d scenes, %d textures, %d visits (%d loads), working set %.1f MiB, on %s\n",
		o.seed, o.scenes, res.Assets, o.visits, res.Loads, mib(ws), res.Device)

	keep, cocos := simKeepAll(&t), simCocos(&t)
	var missTime time.Duration
	misses := 0
	for _, pct := range residencyBudgets {
		// Each policy gets the share of the working set in its own unit:
		// the references count the textures' bytes, the real run the
		// device memory they take.
		budget, refBudget := wsDevice*pct/100, ws*pct/100
		fmt.Fprintf(progress, "residency: budget %d%% (%.1f MiB): replaying ...\n", pct, mib(budget))
		var run residencyRun
		if err := runOn(func(st *residencyStack) error {
			var err error
			run, err = replay(ctx, st, &t, o.frames, budget)
			return err
		}); err != nil {
			return res, fmt.Errorf("budget %d%%: %w", pct, err)
		}
		missTime += run.missTime
		misses += run.row.Misses
		rb := run.budget
		rb.Percent = pct
		rb.Rows = []residencyRow{run.row, newRow("cocos", cocos), newRow("keep-all", keep), newRow("belady", simBelady(&t, refBudget))}
		res.Budgets = append(res.Budgets, rb)
	}
	if misses > 0 {
		res.MeanMissMs = missTime.Seconds() * 1000 / float64(misses)
	}
	for i := range res.Budgets {
		for j := range res.Budgets[i].Rows {
			r := &res.Budgets[i].Rows[j]
			r.LoadTimeSavedMs = float64(cocos.misses()-r.Misses) * res.MeanMissMs
		}
	}
	res.Goals = residencyGoals(res.Budgets)
	res.ValidationErrors = d.Validator().Errors()
	if res.ValidationErrors > 0 {
		return res, fmt.Errorf("%w: %d", errValidation, res.ValidationErrors)
	}
	return res, nil
}

func mib(n uint64) float64 { return float64(n) / (1 << 20) }

// row returns a budget's row of a policy.
func (b *residencyBudget) row(policy string) residencyRow {
	for _, r := range b.Rows {
		if r.Policy == policy {
			return r
		}
	}
	return residencyRow{}
}

// residencyGoals checks the goals: peak within the budget plus
// what waits to retire; at 100% the hit rate of keep-everything; at 50%
// at least 85% of the offline reference's hit rate; pressure relieved
// within 2 frames.
func residencyGoals(budgets []residencyBudget) []residencyGoal {
	var goals []residencyGoal
	for _, b := range budgets {
		goals = append(goals, residencyGoal{
			Goal: fmt.Sprintf("%d%%: peak ≤ budget + pending retirement", b.Percent),
			Pass: b.WorstExcess == 0,
			Detail: fmt.Sprintf("peak %.2f MiB (after loads %.2f, at frame ends %.2f), budget %.2f MiB; worst excess over budget+pending %.2f MiB (pending then %.2f MiB, at %s)",
				mib(b.row("vkassets").PeakBytes), mib(b.PeakAtLoad), mib(b.PeakAtFrameEnd), mib(b.Budget), mib(b.WorstExcess), mib(b.ExcessPending), cmp.Or(b.ExcessAt, "-")),
		})
	}
	for _, b := range budgets {
		v, keep, bel := b.row("vkassets"), b.row("keep-all"), b.row("belady")
		switch b.Percent {
		case 100:
			goals = append(goals, residencyGoal{
				Goal:   "100%: hit rate = keep-all's",
				Pass:   v.Hits >= keep.Hits,
				Detail: fmt.Sprintf("vkassets %.4f (%d hits), keep-all %.4f (%d hits)", v.HitRate, v.Hits, keep.HitRate, keep.Hits),
			})
		case 50:
			goals = append(goals, residencyGoal{
				Goal:   "50%: hit rate ≥ 85% of belady's",
				Pass:   v.HitRate >= 0.85*bel.HitRate,
				Detail: fmt.Sprintf("vkassets %.4f, belady %.4f: %.1f%%", v.HitRate, bel.HitRate, 100*v.HitRate/max(bel.HitRate, 1e-9)),
			})
		}
	}
	worst, unrelieved, retire := 0, 0, uint64(0)
	var where []string
	for _, b := range budgets {
		f := max(b.Residency.MaxReliefFrames, b.MaxReliefMeasured)
		worst = max(worst, f)
		unrelieved = max(unrelieved, b.Unrelieved)
		retire = max(retire, b.RetireFrames)
		where = append(where, fmt.Sprintf("%d%%: %d in %d reliefs (measured %d in %d), released memory back within %d frames", b.Percent,
			b.Residency.MaxReliefFrames, b.Residency.Reliefs, b.MaxReliefMeasured, b.ReliefsMeasured, b.RetireFrames))
	}
	detail := "frames from a Collect that found usage (less what retires) over High to one that found usage back within it, ResidencyStats (and as seen here); the allocator's soft limit evicts before an allocation crosses High, so Collect may see no episode: then what counts is how soon evicted memory retired (framesync's latency): " + strings.Join(where, "; ")
	if unrelieved > 0 {
		detail += fmt.Sprintf("; still over High at the end after %d frames", unrelieved)
	}
	goals = append(goals, residencyGoal{Goal: "pressure relieved within 2 frames", Pass: worst <= 2 && unrelieved <= 2 && retire <= 2, Detail: detail})
	return goals
}

// printResidency writes the tables and the goals.
func printResidency(w io.Writer, res residencyResults) {
	fmt.Fprintf(w, "device %s, validation %s; seed %d: %d scenes, %d textures, %d visits, %d loads, %d frames a visit\n",
		res.Device, res.Validation, res.Seed, res.Scenes, res.Assets, res.Visits, res.Loads, res.Frames)
	fmt.Fprintf(w, "working set %.2f MiB of textures, %.2f MiB of device memory all loaded (budgets are shares of each, the references' of the first); mean miss %.3f ms; load time saved is against cocos\n",
		mib(res.WorkingSet), mib(res.WorkingSetDevice), res.MeanMissMs)
	for _, b := range res.Budgets {
		fmt.Fprintf(w, "\nbudget %d%% of the working set: %.2f MiB (high %.2f, low %.2f)\n", b.Percent, mib(b.Budget), mib(b.High), mib(b.Low))
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "policy\thit rate\thits\tloads\tMiB loaded\tpeak MiB\tload time saved ms\trelief frames\t")
		for _, r := range b.Rows {
			relief := "-"
			if r.ReliefFrames != nil {
				relief = fmt.Sprint(*r.ReliefFrames)
			}
			fmt.Fprintf(tw, "%s\t%.4f\t%d\t%d\t%.2f\t%.2f\t%.1f\t%s\t\n", r.Policy, r.HitRate, r.Hits, r.Loads, mib(r.BytesLoaded), mib(r.PeakBytes), r.LoadTimeSavedMs, relief)
		}
		tw.Flush()
		rs := b.Residency
		fmt.Fprintf(w, "vkassets: %d evictions (%.2f MiB), %d resurrected, %d reliefs, %d pressure events; peak after loads %.2f MiB, at frame ends %.2f MiB; most pending %.2f MiB\n",
			rs.Evictions, mib(rs.EvictedBytes), b.Resurrected, rs.Reliefs, rs.PressureEvents, mib(b.PeakAtLoad), mib(b.PeakAtFrameEnd), mib(b.MaxPending))
	}
	fmt.Fprintln(w)
	for _, g := range res.Goals {
		verdict := "PASS"
		if !g.Pass {
			verdict = "FAIL"
		}
		fmt.Fprintf(w, "%s  %s: %s\n", verdict, g.Goal, g.Detail)
	}
	fmt.Fprintf(w, "validation errors %d, leaks %d\n", res.ValidationErrors, res.Leaks)
}

const residencyAbout = `Residency under a memory budget: replay a seeded trace of scene visits at
budgets of 50%, 100% and 150% of its working set, with the finalizer's
residency policy on (unused textures stay resident until usage crosses the
High watermark, then the least recently used, weighted by bytes, are evicted
down to Low), against three references computed from the same trace:
cocos (release on switch: the scene left's assets the next one does not
use), keep-all (ignores the budget) and belady (the offline reference for
the budget: evict what is next used furthest in the future).

The trace: 12 scenes, each 4 to 8 PNG textures of its own and 2 to 4 from a
shared pool (sides 64 to 512, RGBA8; "meshes" are textures too: only what
loads from files), the next scene drawn from a Zipf distribution, so that
revisits are common. Each visit acquires the scene's textures (timed), renders
--frames frames using them, Collect at each frame's end, then drops them.
The validation layer is on (when installed); a validation error or a leak
at Close ends the command with exit status 3.

Reported per policy and budget: hit rate, bytes loaded, peak device bytes
(device-local allocated bytes for vkassets; resident bytes for the
references), load time saved against cocos (misses avoided times the mean
measured miss), frames to relieve pressure; then the issue's goals as PASS
or FAIL lines (a missed goal does not change the exit status). About 3 s on
lavapipe: vkassets bench without a name runs it too, with --seed.`

func runBenchResidency(o residencyOptions, asJSON bool, stdout, stderr io.Writer) int {
	if o.visits < 1 || o.frames < 1 {
		fmt.Fprintf(stderr, "vkassets bench residency: --visits and --frames must be at least 1\n")
		return 2
	}
	o.scenes = 12
	res, err := benchResidency(stderr, residencyLogger(stderr), o)
	if err != nil {
		fmt.Fprintf(stderr, "vkassets bench residency: %v\n", err)
		return residencyExit(err, res)
	}
	if asJSON {
		writeJSON(stdout, res)
	} else {
		printResidency(stdout, res)
	}
	return 0
}

// residencyLogger logs errors only: the validation layer's among them.
func residencyLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelError}))
}

// residencyExit is the exit status of a failed run: 3 for a validation
// error or a leak, as stress has it; 1 otherwise.
func residencyExit(err error, res residencyResults) int {
	if errors.Is(err, errValidation) || res.Leaks > 0 {
		return 3
	}
	return 1
}
