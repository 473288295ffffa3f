package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/vkassets/vkassets/assets"
	"github.com/vkassets/vkassets/vk"
)

const loadAbout = `Load each --file (a glTF scene: .gltf or .glb; an image: .png or
.jpg as a texture, with and without its mip chain) in a fresh process, and
report the wall time from the start of the load to the GPU having finished
its uploads, and the process's peak RSS. A process that only opens the
device is measured first: "over base" is the peak RSS above it. Without
--file, a 4096² PNG written to a temporary folder is measured, and the
glTF files under assets/testdata/khronos when that folder exists.`

// loadResult is one row of `vkassets bench load --json`.
type loadResult struct {
	File     string  `json:"file"`
	Mode     string  `json:"mode"` // "scene", "mips", "no-mips" or "device only"
	LoadMS   float64 `json:"load_ms"`
	MaxRSSMB float64 `json:"max_rss_mb"`
	OverBase float64 `json:"over_base_mb"`
	Err      string  `json:"error,omitempty"`
}

// loadChildEnv makes a vkassets process run one load and print its result.
const loadChildEnv = "VKASSETS_BENCH_LOAD_CHILD"

func benchLoad(files []string, asJSON bool, stdout, stderr io.Writer) int {
	if spec := os.Getenv(loadChildEnv); spec != "" {
		return loadChild(spec, stdout)
	}
	if len(files) == 0 {
		dir, err := os.MkdirTemp("", "vkassets-bench-load")
		if err != nil {
			fmt.Fprintln(stderr, "vkassets bench load:", err)
			return 1
		}
		defer os.RemoveAll(dir)
		big := filepath.Join(dir, "gradient4096.png")
		if err := writeGradientPNG(big, 4096); err != nil {
			fmt.Fprintln(stderr, "vkassets bench load:", err)
			return 1
		}
		files = append(files, big)
		_ = filepath.WalkDir(filepath.Join("assets", "testdata", "khronos"), func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && (strings.HasSuffix(p, ".gltf") || strings.HasSuffix(p, ".glb")) {
				files = append(files, p)
			}
			return nil
		})
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(stderr, "vkassets bench load:", err)
		return 1
	}
	var rows []loadResult
	base := runLoadChild(self, "", "device only")
	rows = append(rows, base)
	for _, f := range files {
		modes := []string{"scene"}
		if ext := strings.ToLower(filepath.Ext(f)); ext != ".gltf" && ext != ".glb" {
			modes = []string{"no-mips", "mips"}
		}
		for _, mode := range modes {
			r := runLoadChild(self, f, mode)
			if r.Err == "" {
				r.OverBase = r.MaxRSSMB - base.MaxRSSMB
			}
			rows = append(rows, r)
			fmt.Fprintf(stderr, "%s (%s): %.1f ms\n", filepath.Base(f), mode, r.LoadMS)
		}
	}
	failed := false
	for _, r := range rows {
		failed = failed || r.Err != ""
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rows)
	} else {
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "file\tmode\tload ms\tmax RSS MB\tover base MB\t")
		for _, r := range rows {
			name := "-"
			if r.File != "" { // the folder too: glTF/ and glTF-Embedded/ hold the same names
				name = filepath.Join(filepath.Base(filepath.Dir(r.File)), filepath.Base(r.File))
			}
			if r.Err != "" {
				fmt.Fprintf(tw, "%s\t%s\terror: %s\t\t\t\n", name, r.Mode, r.Err)
				continue
			}
			fmt.Fprintf(tw, "%s\t%s\t%.1f\t%.1f\t%.1f\t\n", name, r.Mode, r.LoadMS, r.MaxRSSMB, r.OverBase)
		}
		_ = tw.Flush()
	}
	if failed {
		return 1
	}
	return 0
}

// runLoadChild measures one load in a fresh process: its result line, and
// its peak RSS as the kernel counted it.
func runLoadChild(self, file, mode string) loadResult {
	r := loadResult{File: file, Mode: mode}
	cmd := exec.Command(self, "bench", "load")
	cmd.Env = append(os.Environ(), loadChildEnv+"="+mode+":"+file)
	var out strings.Builder
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	if cmd.ProcessState == nil {
		r.Err = err.Error()
		return r
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		r.MaxRSSMB = float64(ru.Maxrss) / 1024 // kilobytes on Linux
	}
	var child loadResult
	last := strings.TrimSpace(out.String())
	if i := strings.LastIndexByte(last, '\n'); i >= 0 {
		last = last[i+1:]
	}
	if jerr := json.Unmarshal([]byte(last), &child); jerr != nil || err != nil {
		r.Err = strings.TrimSpace(firstLine(out.String()))
		if r.Err == "" && err != nil {
			r.Err = err.Error()
		}
		return r
	}
	r.LoadMS, r.Err = child.LoadMS, child.Err
	return r
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// loadChild is the child's side: open the device, load, wait for the GPU,
// print one JSON line.
func loadChild(spec string, stdout io.Writer) int {
	mode, file, _ := strings.Cut(spec, ":")
	res := loadResult{File: file, Mode: mode}
	ms, err := loadOnce(mode, file)
	res.LoadMS = ms
	if err != nil {
		res.Err = err.Error()
	}
	line, _ := json.Marshal(res)
	fmt.Fprintln(stdout, string(line))
	if err != nil {
		return 1
	}
	return 0
}

func loadOnce(mode, file string) (float64, error) {
	logger := slog.New(slog.DiscardHandler)
	d, err := vk.Open(vk.Options{InstanceOptions: vk.InstanceOptions{AppName: "vkassets bench load", Logger: logger}})
	if err != nil {
		return 0, err
	}
	defer d.Close()
	if file == "" {
		return 0, nil
	}
	st, err := newResidencyStack(d, logger, nil)
	if err != nil {
		return 0, err
	}
	defer st.close()
	b, err := st.m.AddBundle("load", os.DirFS(filepath.Dir(file)))
	if err != nil {
		return 0, err
	}
	ctx := context.Background()
	name := filepath.Base(file)
	start := time.Now()
	switch mode {
	case "scene":
		_, err = b.LoadScene(ctx, name)
	case "mips":
		_, err = b.LoadTexture(ctx, name)
	case "no-mips":
		_, err = b.LoadTexture(ctx, name, assets.TextureOptions{NoMips: true})
	default:
		err = fmt.Errorf("unknown mode %q", mode)
	}
	if err == nil {
		err = st.s.WaitIdle()
	}
	elapsed := time.Since(start)
	if err != nil {
		return 0, err
	}
	if errs := d.Validator().Errors(); errs > 0 {
		return 0, errors.New("validation errors during the load")
	}
	return float64(elapsed.Microseconds()) / 1000, nil
}

// writeGradientPNG writes a side×side RGBA PNG whose every pixel differs
// from its neighbours, so that the encoder cannot shrink it to nothing.
func writeGradientPNG(path string, side int) error {
	im := image.NewNRGBA(image.Rect(0, 0, side, side))
	for i := range im.Pix {
		im.Pix[i] = byte(i*7 + i/(side*4)*13)
	}
	return writePNG(path, im)
}
