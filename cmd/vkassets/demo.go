package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/png"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/vkassets/vkassets/alloc"
	"github.com/vkassets/vkassets/assets"
	"github.com/vkassets/vkassets/finalizer"
	"github.com/vkassets/vkassets/framesync"
	"github.com/vkassets/vkassets/inspector"
	"github.com/vkassets/vkassets/internal/present"
	"github.com/vkassets/vkassets/internal/render"
	"github.com/vkassets/vkassets/vk"
)

// demoSummary is what the demo reports, and prints with --json.
type demoSummary struct {
	Device                 string   `json:"device"`
	Frames                 int      `json:"frames"`
	FramesInFlight         int      `json:"frames_in_flight"`
	Validation             bool     `json:"validation"`
	ValidationErrors       int      `json:"validation_errors"`
	Leaks                  int      `json:"leaks"`
	PeakDeviceBytes        uint64   `json:"peak_device_bytes"`
	FinalDeviceBytes       uint64   `json:"final_device_bytes"`
	AssetsLoaded           int      `json:"assets_loaded"`
	AssetsReleased         int      `json:"assets_released"`
	Retired                uint64   `json:"retired"`
	AllocateCalls          int      `json:"vk_allocate_memory_calls"`
	PeakBlocks             int      `json:"peak_blocks"`
	MaxRetireLatencyFrames uint64   `json:"max_retire_latency_frames"`
	SceneSwitches          int      `json:"scene_switches"`
	RemoteLoads            int      `json:"remote_loads"`
	LockedRefusals         int      `json:"locked_refusals"`
	Swapchains             int      `json:"swapchains,omitempty"`
	Outputs                []string `json:"outputs"`
}

type demoOptions struct {
	frames, inFlight int
	seed             uint64
	out              string
	json             bool
	window           bool
	width, height    uint32
	inspect          string // --inspect ADDR: serve the inspector there
}

const demoAbout = `Render sprite and mesh scenes with N frames in flight while assets are
loaded (local and remote), switched, locked and released; write the first,
middle and last frames, VMA statistics, a block map and a memory chart to
--out, and a summary (validation errors, leaks, peak and final device
bytes) to stdout. Exits 3 on a validation error or a leak.`

func runDemo(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	var o demoOptions
	fs.IntVar(&o.frames, "frames", 240, "frames to render")
	fs.IntVar(&o.inFlight, "frames-in-flight", 2, "frames in flight, 1 to 4")
	fs.Uint64Var(&o.seed, "seed", 1, "random seed of the asset traffic")
	fs.StringVar(&o.out, "out", "out", "output folder")
	fs.BoolVar(&o.json, "json", false, "print the summary as JSON")
	fs.BoolVar(&o.window, "window", false, "show the frames in a GLFW window (swapchain, resize, minimise)")
	fs.StringVar(&o.inspect, "inspect", "", "serve the inspector (assets, graph, memory, retirement, chart, leaks; live) on `ADDR`, e.g. 127.0.0.1:6060, while the demo runs; its URL goes to stderr")
	if code, ok := parseFlags(fs, demoAbout, args, stdout, stderr); !ok {
		return code
	}
	if o.frames < 1 {
		fmt.Fprintln(stderr, "vkassets demo: --frames must be at least 1")
		return 2
	}
	o.width, o.height = 256, 192
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	sum, err := demo(o, stdout, stderr, logger)
	if err != nil {
		fmt.Fprintf(stderr, "vkassets demo: %v\n", err)
		return 1
	}
	if o.json {
		writeJSON(stdout, sum)
	} else {
		printSummary(stdout, sum)
	}
	if sum.ValidationErrors > 0 || sum.Leaks > 0 {
		return 3
	}
	return 0
}

// held is an icon a simulated node shows until a frame.
type held struct {
	sprite *assets.SpriteFrame
	until  int
}

// sample is one frame's memory: bytes in live allocations, bytes waiting
// for the GPU before they can be freed.
type sample struct{ live, pending uint64 }

func demo(o demoOptions, stdout, stderr io.Writer, logger *slog.Logger) (demoSummary, error) {
	var sum demoSummary
	vopts := vk.Options{InstanceOptions: vk.InstanceOptions{AppName: "vkassets demo", Logger: logger}}
	var pr *present.Presenter
	var d *vk.Device
	var err error
	if o.window {
		pr, d, err = present.Open("vkassets demo", 640, 480, vopts)
	} else {
		d, err = vk.Open(vopts)
	}
	if err != nil {
		return sum, err
	}
	defer d.Close()
	sum.Device, sum.Frames, sum.FramesInFlight, sum.Validation = d.Physical().Name, o.frames, o.inFlight, d.Validator() != nil
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return sum, err
	}
	a, err := alloc.New(alloc.Options{Device: d, Logger: logger})
	if err != nil {
		return sum, err
	}
	s, err := framesync.New(framesync.Options{Device: d, Allocator: a, FramesInFlight: o.inFlight, Logger: logger, Present: o.window})
	if err != nil {
		return sum, err
	}
	m, err := assets.New(assets.Options{Device: d, Allocator: a, Sync: s, Logger: logger, KeepPixels: true})
	if err != nil {
		return sum, err
	}
	fin := finalizer.New(m)
	content, err := m.AddBundle("content", assets.SampleContent())
	if err != nil {
		return sum, err
	}
	r, err := render.New(m, d, a, s, o.width, o.height)
	if err != nil {
		return sum, err
	}
	atlas := fin.NewAtlas(m, d, finalizer.AtlasOptions{PageSize: 128, MaxFrame: 32})
	insp, err := startInspect(o.inspect, stderr)
	if err != nil {
		return sum, err
	}
	defer insp.close()
	insp.set(&inspector.Options{Manager: m, Finalizer: fin, Sync: s, Allocator: a})

	// Remote assets come from a server of the demo's own on 127.0.0.1.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return sum, err
	}
	srv := &http.Server{Handler: http.FileServer(http.FS(assets.SampleContent())), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	base := "http://" + ln.Addr().String() + "/"

	ctx := context.Background()
	rng := rand.New(rand.NewPCG(o.seed, 42))
	seen := map[assets.ID]bool{}
	track := func() {
		for _, x := range m.Assets() {
			seen[assets.BaseOf(x).ID()] = true
		}
	}

	// The HUD: persistent across scene switches.
	hero, err := content.LoadSpriteFrame(ctx, "hero.png")
	if err != nil {
		return sum, err
	}
	remote, err := m.LoadRemote(ctx, base+"logo.jpg")
	if err != nil {
		return sum, err
	}
	sum.RemoteLoads++
	coin, err := content.LoadSpriteFrame(ctx, "icons/coin.png")
	if err != nil {
		return sum, err
	}
	fin.Lock(coin) // locked: even forced releases are refused while it is
	scenes := []string{"scenes/quad.gltf", "scenes/cube.glb"}
	var current *assets.Scene
	switchScene := func(i int) error {
		sc, err := content.LoadScene(ctx, scenes[i%len(scenes)])
		if err != nil {
			return err
		}
		if sc.Key() == "content:scenes/cube.glb#scene" {
			fin.SetAutoRelease(sc, false) // visited often: stays cached
		}
		if err := fin.SwitchScene(sc, hero, remote, coin); err != nil {
			return err
		}
		current = sc
		sum.SceneSwitches++
		return nil
	}
	if err := switchScene(0); err != nil {
		return sum, err
	}

	var icons []held
	iconFiles := []string{"icons/star.png", "icons/heart.png", "icons/coin.png", "checker.png"}
	period := max(o.frames/6, 1)
	samples := make([]sample, 0, o.frames)
	var switches []int
	captures := map[int]string{0: "frame-first.png", o.frames / 2: "frame-middle.png", o.frames - 1: "frame-last.png"}
	progress := newProgress(stdout, o.frames, o.json)
	for i := range o.frames {
		if i > 0 && i%period == 0 {
			if err := switchScene(i / period); err != nil {
				return sum, err
			}
			switches = append(switches, i)
		}
		// Asset traffic: icons come and go; some are packed in the atlas.
		if rng.IntN(4) == 0 {
			a, err := content.Acquire(ctx, iconFiles[rng.IntN(len(iconFiles))]) // loaded and held in one step
			if err != nil {
				return sum, err
			}
			sp := a.(*assets.SpriteFrame)
			icons = append(icons, held{sp, i + 5 + rng.IntN(30)})
			if sp.Rect().Dx() <= 32 && rng.IntN(2) == 0 && sp != coin {
				_ = atlas.Pack(sp)
			}
		}
		kept := icons[:0]
		for _, h := range icons {
			if h.until <= i {
				_ = m.DecRef(h.sprite) // at 0: released at Collect, GPU objects at their last use
			} else {
				kept = append(kept, h)
			}
		}
		icons = kept
		if i%40 == 20 && i < o.frames*3/4 {
			// The coin is locked: a forced release is refused.
			if err := fin.ForceRelease(coin); errors.Is(err, finalizer.ErrLocked) {
				sum.LockedRefusals++
			} else {
				return sum, fmt.Errorf("a forced release of a locked asset: %v", err)
			}
		}
		if i == o.frames*3/4 {
			fin.Unlock(coin)
		}
		if i%50 == 49 {
			fin.ReleaseUnused()
		}
		track()
		if pr != nil {
			if i == o.frames/3 {
				pr.Window().SetSize(800, 520) // the swapchain follows the resize
			}
			ok, err := pr.Ready()
			if err != nil {
				return sum, err
			}
			if !ok { // minimised: no frame, but what the GPU finished still retires
				if _, err := s.Poll(); err != nil {
					return sum, err
				}
				fin.Collect()
				time.Sleep(10 * time.Millisecond)
				continue
			}
		}

		f, err := s.BeginFrame(ctx)
		if err != nil {
			return sum, err
		}
		if err := drawFrame(r, f, i, current, hero, remote, coin, icons); err != nil {
			return sum, err
		}
		_, capture := captures[i]
		r.End(f, capture)
		if pr != nil {
			err = pr.End(s, r, f)
		} else {
			err = s.EndFrame(f)
		}
		if err != nil {
			return sum, err
		}
		fin.Collect()
		if capture {
			if err := s.Wait(ctx, f.Serial()); err != nil {
				return sum, err
			}
			img, err := r.Image(f)
			if err != nil {
				return sum, err
			}
			p := filepath.Join(o.out, captures[i])
			if err := writePNG(p, img); err != nil {
				return sum, err
			}
			sum.Outputs = append(sum.Outputs, p)
		}
		st := a.Stats()
		samples = append(samples, sample{live: st.Total.AllocationBytes, pending: s.Stats().PendingBytes})
		sum.PeakDeviceBytes = max(sum.PeakDeviceBytes, st.Total.BlockBytes)
		sum.PeakBlocks = max(sum.PeakBlocks, st.DeviceAllocations)
		if i == o.frames/2 {
			if p, err := writeAllocatorViews(a, o.out); err == nil {
				sum.Outputs = append(sum.Outputs, p...)
			} else {
				return sum, err
			}
		}
		progress.step(i + 1)
	}
	progress.done()

	// Shutdown: release everything, let the GPU finish, give memory back.
	insp.close()
	for _, h := range icons {
		_ = m.DecRef(h.sprite)
	}
	fin.Unlock(coin)
	fin.ReleaseAll()
	if err := s.WaitIdle(); err != nil {
		return sum, err
	}
	r.Close()
	track()
	if err := m.Close(); err != nil {
		return sum, err
	}
	st := s.Stats()
	sum.Retired, sum.MaxRetireLatencyFrames = st.Retired, st.MaxLatencyFrames
	if err := s.Close(); err != nil {
		sum.Leaks++
		logger.Warn("framesync", "error", err)
	}
	if pr != nil {
		sum.Swapchains = pr.Swapchains()
		pr.Close()
	}
	a.TrimEmptyBlocks()
	final := a.Stats()
	sum.FinalDeviceBytes = final.Total.BlockBytes
	sum.AllocateCalls = final.AllocateCalls
	sum.Leaks += len(a.Leaks())
	if err := a.Close(); err != nil {
		logger.Warn("allocator", "error", err)
	}
	sum.AssetsLoaded = len(seen)
	sum.AssetsReleased = len(seen) - len(m.Assets())
	p := filepath.Join(o.out, "memory.png")
	if err := writePNG(p, drawMemoryChart(samples, switches)); err != nil {
		return sum, err
	}
	sum.Outputs = append(sum.Outputs, p)
	d.Close()
	sum.ValidationErrors = d.Validator().Errors()
	return sum, nil
}

// drawFrame renders the current scene's meshes turning, the HUD sprites and
// the icons held this frame.
func drawFrame(r *render.Renderer, f *framesync.Frame, i int, sc *assets.Scene, hero, remote, coin *assets.SpriteFrame, icons []held) error {
	if err := r.Begin(f, [4]float32{0.08, 0.09, 0.12, 1}); err != nil {
		return err
	}
	angle := float32(i) * 0.05
	for k, mesh := range sc.Meshes {
		x := float32(k)*1.1 - float32(len(sc.Meshes)-1)*0.55
		mvp := render.Orthographic(2, 1.5, 4).Mul(render.Translate(x, 0.1, 0)).Mul(render.RotateX(0.4)).Mul(render.RotateY(angle)).Mul(render.Scale(0.55))
		if err := r.DrawMesh(f, mesh, mvp, [4]float32{1, 1, 1, 1}); err != nil {
			return err
		}
	}
	white := [4]float32{1, 1, 1, 1}
	if err := r.DrawSprite(f, hero, 8, 8, 32, 32, white); err != nil {
		return err
	}
	if err := r.DrawSprite(f, remote, 48, 12, 48, 24, white); err != nil {
		return err
	}
	if err := r.DrawSprite(f, coin, float32(r.Width)-28, 10, 20, 20, white); err != nil {
		return err
	}
	for k, h := range icons {
		x := 8 + float32(k%12)*20
		y := float32(r.Height) - 28 - float32(k/12)*20
		if err := r.DrawSprite(f, h.sprite, x, y, 16, 16, white); err != nil {
			return err
		}
	}
	return nil
}

func writePNG(path string, img image.Image) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// writeAllocatorViews writes the VMA-format statistics and the block map.
func writeAllocatorViews(a *alloc.Allocator, dir string) ([]string, error) {
	jsonPath := filepath.Join(dir, "vma-stats.json")
	f, err := os.Create(jsonPath)
	if err != nil {
		return nil, err
	}
	if err := a.WriteStatsJSON(f); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	mapPath := filepath.Join(dir, "blocks.png")
	f, err = os.Create(mapPath)
	if err != nil {
		return nil, err
	}
	if err := a.WriteBlockMapPNG(f); err != nil {
		f.Close()
		return nil, err
	}
	return []string{jsonPath, mapPath}, f.Close()
}

func printSummary(w io.Writer, s demoSummary) {
	fmt.Fprintf(w, "\nvkassets demo on %s, %d frames in flight, validation %v\n\n", s.Device, s.FramesInFlight, s.Validation)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	rows := []struct {
		k string
		v any
	}{
		{"frames", s.Frames},
		{"scene switches", s.SceneSwitches},
		{"assets loaded", s.AssetsLoaded},
		{"assets released", s.AssetsReleased},
		{"remote loads", s.RemoteLoads},
		{"forced releases refused (locked)", s.LockedRefusals},
		{"GPU objects retired", s.Retired},
		{"retirement latency, max (frames)", s.MaxRetireLatencyFrames},
		{"peak device memory", bytesIEC(s.PeakDeviceBytes)},
		{"final device memory", bytesIEC(s.FinalDeviceBytes)},
		{"vkAllocateMemory calls", s.AllocateCalls},
		{"peak blocks", s.PeakBlocks},
		{"validation errors", s.ValidationErrors},
		{"leaks", s.Leaks},
	}
	for _, r := range rows {
		fmt.Fprintf(tw, "  %s\t%v\n", r.k, r.v)
	}
	tw.Flush()
	fmt.Fprintln(w, "\nwritten:")
	for _, p := range s.Outputs {
		fmt.Fprintln(w, "  "+p)
	}
}

// progress shows a bar on a terminal, plain lines otherwise, nothing with --json.
type progress struct {
	w        io.Writer
	unit     string // what is counted: "frames" unless set
	total    int
	terminal bool
	quiet    bool
	last     int
}

func newProgress(w io.Writer, total int, quiet bool) *progress {
	p := &progress{w: w, unit: "frames", total: total, quiet: quiet}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.terminal = true
		}
	}
	return p
}

func (p *progress) step(n int) {
	switch {
	case p.quiet:
	case p.terminal:
		const width = 40
		filled := width * n / p.total
		bar := make([]byte, width)
		for i := range bar {
			bar[i] = ' '
			if i < filled {
				bar[i] = '='
			}
		}
		fmt.Fprintf(p.w, "\r[%s] %d/%d %s", bar, n, p.total, p.unit)
	default:
		if pct := 100 * n / p.total; pct >= p.last+10 || n == p.total {
			p.last = pct - pct%10
			fmt.Fprintf(p.w, "%d/%d %s (%d%%)\n", n, p.total, p.unit, pct)
		}
	}
}

func (p *progress) done() {
	if p.terminal && !p.quiet {
		fmt.Fprintln(p.w)
	}
}
