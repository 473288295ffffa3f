package main

import (
	"bytes"
	"encoding/json"
	"image"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkassets/vkassets/vk/vktest"
)

func TestInfoJSON(t *testing.T) {
	var out, errOut bytes.Buffer
	require.Equal(t, 0, run([]string{"info", "--json"}, &out, &errOut), errOut.String())
	var got map[string]any
	require.NoError(t, json.Unmarshal(out.Bytes(), &got))
	for _, k := range []string{"device_name", "device_type", "api_version", "memory_heaps", "memory_types",
		"max_memory_allocation_count", "buffer_image_granularity"} {
		require.Contains(t, got, k)
	}
	var info Info
	require.NoError(t, json.Unmarshal(out.Bytes(), &info))
	require.NotEmpty(t, info.MemoryHeaps)
	require.NotEmpty(t, info.MemoryTypes)
	for _, ty := range info.MemoryTypes {
		require.Less(t, int(ty.HeapIndex), len(info.MemoryHeaps))
	}
	require.NotZero(t, info.MemoryHeaps[0].Size)
	require.NotZero(t, info.MemoryHeaps[0].Budget)
}

func TestInfoText(t *testing.T) {
	var out, errOut bytes.Buffer
	require.Equal(t, 0, run([]string{"info"}, &out, &errOut), errOut.String())
	for _, want := range []string{"device", "memory heaps", "memory types", "bufferImageGranularity"} {
		require.Contains(t, out.String(), want)
	}
}

func TestSmokeValidated(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, runSmoke(&out, vktest.Logger(t), true))
	s := out.String()
	require.Contains(t, s, "identical")
	require.Contains(t, s, "0 validation errors")
	require.Contains(t, s, "destroyed image")
}

func TestUsageErrors(t *testing.T) {
	var out, errOut bytes.Buffer
	require.Equal(t, 2, run(nil, &out, &errOut))
	require.Contains(t, errOut.String(), "usage: vkassets <command>")
	errOut.Reset()
	require.Equal(t, 2, run([]string{"frobnicate"}, &out, &errOut))
	require.Contains(t, errOut.String(), `unknown command "frobnicate"`)
	require.Contains(t, errOut.String(), "demo, stress, info, smoke, bench", "the error lists the commands")
	require.Empty(t, out.String())
}

// helpCases are the subcommands, each with a line only its own usage has
// and one of its flags as the usage prints it.
var helpCases = []struct {
	args       []string
	about      string
	flag       string
	notAFlagOf string // a flag the subcommand does not take
}{
	{[]string{"demo"}, "Render sprite and mesh scenes", "--frames int\n        frames to render (default 240)", "--faults"},
	{[]string{"stress"}, "Random asset traffic for N frames", "--faults float", "--window"},
	{[]string{"info"}, "Describe the Vulkan device vkassets chooses", "--json\n", "--frames"},
	{[]string{"smoke"}, "Smoke-test the Vulkan layer", "flags: none", "--json"},
	{[]string{"bench"}, "Run the three benchmarks", "--peer string", "--frames"},
	{[]string{"bench", "alloc"}, "Replay the allocator traces", "--runs int", "--frames"},
	{[]string{"bench", "retire"}, "Poll with 1,000,000 pending", "--json\n", "--ops"},
	{[]string{"bench", "release"}, "ReleaseUnused over 1,000,000 assets", "--json\n", "--ops"},
}

// TestSubcommandHelp: `vkassets SUB --help` and `-h` print SUB's own usage
// (what it does, its flags with their defaults) on stdout and exit 0.
func TestSubcommandHelp(t *testing.T) {
	for _, c := range helpCases {
		for _, h := range []string{"--help", "-h", "-help"} {
			args := append(append([]string{}, c.args...), h)
			var out, errOut bytes.Buffer
			require.Equal(t, 0, run(args, &out, &errOut), "%v: %s", args, errOut.String())
			require.Empty(t, errOut.String(), args)
			got := out.String()
			name := strings.Join(c.args, " ")
			first, _, _ := strings.Cut(got, "\n")
			require.Contains(t, []string{"usage: vkassets " + name, "usage: vkassets " + name + " [flags]"}, first, args)
			require.Contains(t, got, c.about, args)
			require.Contains(t, got, c.flag, args)
			require.NotContains(t, got, c.notAFlagOf, args)
			require.NotContains(t, got, "commands:", "%v printed the top-level usage", args)
		}
	}
}

// TestHelpCommand: `vkassets help SUB` prints what `vkassets SUB --help`
// does; `vkassets help`, `--help` and `-h` print the top-level usage; both
// exit 0.
func TestHelpCommand(t *testing.T) {
	for _, c := range helpCases {
		var want, got, errOut bytes.Buffer
		require.Equal(t, 0, run(append(append([]string{}, c.args...), "--help"), &want, &errOut))
		require.Equal(t, 0, run(append([]string{"help"}, c.args...), &got, &errOut), errOut.String())
		require.Equal(t, want.String(), got.String(), c.args)
		require.Contains(t, got.String(), c.about)
	}
	for _, h := range []string{"help", "--help", "-h"} {
		var out, errOut bytes.Buffer
		require.Equal(t, 0, run([]string{h}, &out, &errOut), h)
		require.Equal(t, usage, out.String(), h)
		require.Empty(t, errOut.String(), h)
	}
	var out, errOut bytes.Buffer
	require.Equal(t, 2, run([]string{"help", "frobnicate"}, &out, &errOut))
	require.Contains(t, errOut.String(), `unknown command "frobnicate"`)
}

// TestUnexpectedArgs: arguments that are not flags are an error naming
// them, with the subcommand's usage, exit 2 — nothing runs. (The cheap
// commands come first: were the arguments ignored, the demos would run.)
func TestUnexpectedArgs(t *testing.T) {
	out := t.TempDir()
	for _, c := range []struct {
		args  []string
		named string
	}{
		{[]string{"info", "now"}, `["now"]`},
		{[]string{"smoke", "--", "x"}, `["x"]`},
		{[]string{"bench", "retire", "--json", "x"}, `["x"]`},
		{[]string{"bench", "--json", "alloc"}, `["alloc"]`},
		{[]string{"bench", "alloc", "--ops", "10", "--peer", "", "again"}, `["again"]`},
		{[]string{"stress", "--frames", "1", "10"}, `["10"]`},
		{[]string{"demo", "--out", out, "--", "--frames", "1"}, `["--frames" "1"]`},
		{[]string{"demo", "--out", out, "--frames", "1", "extra"}, `["extra"]`},
	} {
		var out, errOut bytes.Buffer
		require.Equal(t, 2, run(c.args, &out, &errOut), "%v: %s", c.args, errOut.String())
		require.Empty(t, out.String(), c.args)
		require.Contains(t, errOut.String(), "unexpected arguments "+c.named, c.args)
		require.Contains(t, errOut.String(), "usage: vkassets "+c.args[0], c.args)
	}
}

// TestBadFlag: an unknown or malformed flag is an error, followed by the
// subcommand's usage, on stderr; exit 2.
func TestBadFlag(t *testing.T) {
	for _, c := range helpCases {
		for _, bad := range [][]string{{"--bogus"}, {"--json=maybe"}} {
			if c.notAFlagOf == "--json" && bad[0] != "--bogus" {
				continue // smoke has no --json to misuse
			}
			args := append(append([]string{}, c.args...), bad...)
			var out, errOut bytes.Buffer
			require.Equal(t, 2, run(args, &out, &errOut), args)
			require.Empty(t, out.String(), args)
			require.True(t, strings.HasPrefix(errOut.String(), "vkassets "+strings.Join(c.args, " ")+": "), "%v: %s", args, errOut.String())
			require.Contains(t, errOut.String(), "usage: vkassets "+strings.Join(c.args, " "), args)
			require.Contains(t, errOut.String(), c.about, args)
		}
	}
	var out, errOut bytes.Buffer
	require.Equal(t, 2, run([]string{"stress", "--frames", "many"}, &out, &errOut))
	require.Contains(t, errOut.String(), `invalid value "many" for flag -frames`)
	require.Contains(t, errOut.String(), "usage: vkassets stress")
}

func TestBadDeviceSelector(t *testing.T) {
	t.Setenv("VKASSETS_DEVICE", "no-such-device")
	var out, errOut bytes.Buffer
	require.Equal(t, 1, run([]string{"info"}, &out, &errOut))
	require.True(t, strings.Contains(errOut.String(), "matches none of the devices found"), errOut.String())
}

func TestBytesIEC(t *testing.T) {
	require.Equal(t, "512 B", bytesIEC(512))
	require.Equal(t, "2.0 GiB", bytesIEC(2<<30))
	require.Equal(t, "1.5 KiB", bytesIEC(1536))
}

func TestBenchAllocJSON(t *testing.T) {
	var out, errOut bytes.Buffer
	require.Equal(t, 0, run([]string{"bench", "alloc", "--json", "--ops", "20000", "--peer", ""}, &out, &errOut), errOut.String())
	var res struct {
		Results []map[string]any `json:"results"`
		Peer    string           `json:"peer"`
	}
	require.NoError(t, json.Unmarshal(out.Bytes(), &res))
	require.Len(t, res.Results, 3)
	for _, r := range res.Results {
		for _, k := range []string{"trace", "impl", "ns_per_op", "p999_ns", "allocs_per_op", "failed", "utilization"} {
			require.Contains(t, r, k)
		}
		require.Equal(t, "vkassets", r["impl"])
		require.Greater(t, r["ns_per_op"].(float64), 0.0)
	}
	require.Equal(t, 2, run([]string{"bench", "nonsense"}, &out, &errOut))
	require.Equal(t, 2, run([]string{"bench", "alloc", "--runs", "0"}, &out, &errOut))
	require.Contains(t, errOut.String(), "--runs must be at least 1")
}

func TestBenchAllocRuns(t *testing.T) {
	var out, errOut bytes.Buffer
	require.Equal(t, 0, run([]string{"bench", "alloc", "--json", "--ops", "5000", "--runs", "3", "--peer", ""}, &out, &errOut), errOut.String())
	var res benchResults
	require.NoError(t, json.Unmarshal(out.Bytes(), &res))
	require.Len(t, res.Results, 3)
	for _, r := range res.Results {
		require.Equal(t, 3, r.Runs, r.Trace)
	}
	require.Contains(t, res.Peer, "skipped")
}

func TestBenchRetireJSON(t *testing.T) {
	var out, errOut bytes.Buffer
	require.Equal(t, 0, run([]string{"bench", "retire", "--json"}, &out, &errOut), errOut.String())
	var res map[string]any
	require.NoError(t, json.Unmarshal(out.Bytes(), &res))
	for _, k := range []string{"poll_idle_ns", "retire_10k_ms", "pending"} {
		require.Contains(t, res, k)
	}
	require.EqualValues(t, 1_000_000, res["pending"])
	require.Greater(t, res["retire_10k_ms"].(float64), 0.0)
}

func TestBenchReleaseJSON(t *testing.T) {
	var out, errOut bytes.Buffer
	require.Equal(t, 0, run([]string{"bench", "release", "--json"}, &out, &errOut), errOut.String())
	var res map[string]float64
	require.NoError(t, json.Unmarshal(out.Bytes(), &res))
	for _, k := range []string{"release_unused_1m_ms", "cycle_check_100k_ms", "release_leaf_ns"} {
		require.Greater(t, res[k], 0.0, k)
	}
}

func TestDemo(t *testing.T) {
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	code := run([]string{"demo", "--frames", "36", "--frames-in-flight", "3", "--out", out, "--json"}, &stdout, &stderr)
	require.Equal(t, 0, code, stderr.String())
	var sum map[string]any
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &sum), stdout.String())
	require.EqualValues(t, 36, sum["frames"])
	require.EqualValues(t, 0, sum["validation_errors"])
	require.EqualValues(t, 0, sum["leaks"])
	require.Greater(t, sum["peak_device_bytes"].(float64), 0.0)
	require.EqualValues(t, 0, sum["final_device_bytes"], "every byte given back")
	require.Greater(t, sum["assets_loaded"].(float64), 5.0)
	require.Equal(t, sum["assets_loaded"], sum["assets_released"])
	require.Greater(t, sum["retired"].(float64), 0.0)
	require.EqualValues(t, 1, sum["remote_loads"])
	for _, name := range []string{"frame-first.png", "frame-middle.png", "frame-last.png", "vma-stats.json", "blocks.png", "memory.png"} {
		_, err := os.Stat(filepath.Join(out, name))
		require.NoError(t, err, name)
	}
	compareGolden(t, filepath.Join(out, "frame-first.png"), "testdata/demo-first.png")
}

// compareGolden compares a rendered PNG with a golden one: at most 0.1% of
// the pixels may differ by more than 2 in a channel. UPDATE_GOLDEN=1
// rewrites the golden image.
func compareGolden(t *testing.T, got, golden string) {
	t.Helper()
	if os.Getenv("UPDATE_GOLDEN") == "1" {
		data, err := os.ReadFile(got)
		require.NoError(t, err)
		require.NoError(t, os.MkdirAll(filepath.Dir(golden), 0o755))
		require.NoError(t, os.WriteFile(golden, data, 0o644))
	}
	load := func(p string) image.Image {
		f, err := os.Open(p)
		require.NoError(t, err)
		defer f.Close()
		img, err := png.Decode(f)
		require.NoError(t, err)
		return img
	}
	a, b := load(got), load(golden)
	require.Equal(t, b.Bounds(), a.Bounds())
	diff := 0
	for y := range a.Bounds().Dy() {
		for x := range a.Bounds().Dx() {
			r1, g1, b1, _ := a.At(x, y).RGBA()
			r2, g2, b2, _ := b.At(x, y).RGBA()
			if far(r1, r2) || far(g1, g2) || far(b1, b2) {
				diff++
			}
		}
	}
	require.LessOrEqual(t, diff, a.Bounds().Dx()*a.Bounds().Dy()/1000, "%d pixels differ from %s", diff, golden)
}

func far(a, b uint32) bool {
	a, b = a>>8, b>>8
	if a > b {
		return a-b > 2
	}
	return b-a > 2
}

func TestStress(t *testing.T) {
	res := stressJSON(t, "--frames", "150", "--seed", "7")
	require.Contains(t, res, "max_pending")
	require.EqualValues(t, 150, res.num(t, "frames"))
	require.Greater(t, res.num(t, "pending_bound_frames"), 100.0, "most frames had their pending retirements checked against the bound")
	require.Greater(t, res.num(t, "operations"), 150.0)
	res.clean(t)
}

// TestStressConcurrency: the concurrent lifetime traffic for a short run,
// every operation kind done, every frame checked, clean.
func TestStressConcurrency(t *testing.T) {
	res := stressJSON(t, "--concurrency", "4", "--seconds", "2", "--seed", "3")
	require.Positive(t, res.num(t, "checks"))
	require.Equal(t, res.num(t, "frames"), res.num(t, "checks"), "every frame checked")
	ops, ok := res["operations"].(map[string]any)
	require.True(t, ok)
	for _, kind := range []string{"acquire", "acquire-scene", "acquire-remote", "decref", "force-release", "lock", "switch-scene", "pack", "why"} {
		require.Positive(t, ops[kind], kind)
	}
	require.Empty(t, res["failure"])
	res.clean(t)

	var stderr bytes.Buffer
	require.Equal(t, 2, run([]string{"stress", "--concurrency", "2", "--faults", "0.1"}, io.Discard, &stderr), "faults are the other mode's")
}

// stressOut is what `vkassets stress --json` printed, by key: the tests
// read the keys the issue names, not the program's own struct.
type stressOut map[string]any

// stressJSON runs `vkassets stress --json` with args and requires exit 0.
func stressJSON(t *testing.T, args ...string) stressOut {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(append([]string{"stress", "--json"}, args...), &stdout, &stderr)
	require.Equal(t, 0, code, stderr.String())
	var res stressOut
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &res))
	return res
}

func (r stressOut) num(t *testing.T, key string) float64 {
	t.Helper()
	v, ok := r[key].(float64)
	require.True(t, ok, "no number %q in %v", key, r)
	return v
}

// clean: no validation error, no leak.
func (r stressOut) clean(t *testing.T) {
	t.Helper()
	require.Zero(t, r.num(t, "validation_errors"))
	require.Zero(t, r.num(t, "leaks"))
}

// TestStressDeviceLost: a device loss simulated at frame 100 (after the GPU
// is idle, waits, status queries and submissions report
// VK_ERROR_DEVICE_LOST) is survived: teardown finishes, a new device opens,
// the assets load again, and the run completes, once lost, clean.
func TestStressDeviceLost(t *testing.T) {
	for _, seed := range []string{"4", "7"} {
		res := stressJSON(t, "--frames", "200", "--seed", seed, "--lose-at", "100")
		require.EqualValues(t, 200, res.num(t, "frames"))
		require.EqualValues(t, 1, res.num(t, "device_losses"), "lost once: the new device is not")
		res.clean(t)
	}
}

// TestDemoWindow runs the demo in a GLFW window (under Xvfb in make test):
// swapchain, a resize, presentation, validation clean.
func TestDemoWindow(t *testing.T) {
	if os.Getenv("DISPLAY") == "" && os.Getenv("WAYLAND_DISPLAY") == "" {
		t.Skip("no display (DISPLAY and WAYLAND_DISPLAY are unset): run under xvfb-run, as make test does")
	}
	var stdout, stderr bytes.Buffer
	code := run([]string{"demo", "--window", "--frames", "30", "--out", t.TempDir(), "--json"}, &stdout, &stderr)
	require.Equal(t, 0, code, stderr.String())
	var sum map[string]any
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &sum))
	require.EqualValues(t, 0, sum["validation_errors"])
	require.EqualValues(t, 0, sum["leaks"])
	require.GreaterOrEqual(t, sum["swapchains"].(float64), 2.0, "the resize made a new swapchain")
}

// TestStressFaultsSurvived: a fault counts as survived once a frame
// completed after it with the checks passed. With no faults there is
// nothing to survive; with a few, every one is followed by a completed
// frame; and a run that a fault ends has survived the faults before the
// last completed frame, not the one that ended it.
func TestStressFaultsSurvived(t *testing.T) {
	res := stressJSON(t, "--frames", "60", "--seed", "5")
	require.Zero(t, res.num(t, "faults_injected"))
	require.Zero(t, res.num(t, "faults_survived"))

	res = stressJSON(t, "--frames", "60", "--seed", "5", "--faults", "0.1")
	require.Positive(t, res.num(t, "faults_injected"))
	require.Equal(t, res.num(t, "faults_injected"), res.num(t, "faults_survived"))

	// At this rate submissions fail every one of their tries now and then
	// (with this seed, within the first 300 frames): framesync returns the
	// failure and stays usable, the frame is skipped, the run goes on, and
	// every fault is followed by a completed, checked frame.
	r, err := stress(stressOptions{frames: 300, seed: 3, faults: 0.3}, vktest.Logger(t), io.Discard)
	require.NoError(t, err)
	require.Positive(t, r.FaultsSurfaced, "some faults were returned as errors, not absorbed by retries")
	require.Equal(t, r.FaultsInjected, r.FaultsSurvived)
	require.Zero(t, r.ValidationErrors)
	require.Zero(t, r.Leaks)
}

func TestStressFaults(t *testing.T) {
	res := stressJSON(t, "--frames", "150", "--seed", "3", "--faults", "0.05")
	require.Positive(t, res.num(t, "faults_injected"))
	require.Equal(t, res.num(t, "faults_injected"), res.num(t, "faults_survived"))
	require.Positive(t, res.num(t, "faults_surfaced"), "some faults came back as errors")
	require.Contains(t, res, "rss_slope_bytes_per_1k_frames")
	res.clean(t)
}
