// Package vktest hands tests a real Vulkan device with the Khronos validation
// layer on, and fails the test if the layer reported any error while the test
// ran (or if an error the test expected did not come).
//
//	func TestUpload(t *testing.T) {
//		d := vktest.Open(t)
//		buf, err := d.CreateBuffer(1024, vk.BufferUsageTransferDst)
//		...
//	}
//
// The device is closed in t.Cleanup, before the check, so objects a test
// forgot to destroy are reported by the layer as errors too.
package vktest

import (
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vkassets/vkassets/vk"
)

// Options adjust Open.
type Options struct {
	// SyncValidation turns on synchronization validation as well.
	SyncValidation bool
	// SubmitValidation turns on synchronization validation at submission
	// as well (vk.InstanceOptions.SubmitValidation): hazards between
	// submissions. Track completion with fences under it
	// (framesync.Options.UseFences).
	SubmitValidation bool
	// DisableTimeline creates the device without timeline semaphores.
	DisableTimeline bool
	// DisableTextureCompressionBC creates the device without textureCompressionBC.
	DisableTextureCompressionBC bool
	// Features are passed through to vk.Open.
	Features vk.Features
	// Expect lists validation message IDs the test provokes on purpose: they
	// do not fail the test, and each must be reported at least once.
	Expect []string
	// TransferQueue asks vk.Open for a dedicated transfer queue.
	TransferQueue bool
	// DeviceExtensions and InstanceExtensions are passed through to vk.Open.
	DeviceExtensions   []string
	InstanceExtensions []string
}

// Open returns a validated device on the machine's chosen Vulkan device
// (lavapipe without a GPU; VKASSETS_DEVICE chooses another).
func Open(t testing.TB) *vk.Device { return OpenWith(t, Options{}) }

// OpenWith is Open with options.
func OpenWith(t testing.TB, opts Options) *vk.Device {
	t.Helper()
	d, err := vk.Open(vk.Options{
		InstanceOptions: vk.InstanceOptions{
			AppName:          t.Name(),
			Logger:           Logger(t),
			Validation:       true,
			SyncValidation:   opts.SyncValidation,
			SubmitValidation: opts.SubmitValidation,
			Extensions:       opts.InstanceExtensions,
		},
		DeviceExtensions:            opts.DeviceExtensions,
		DisableTimeline:             opts.DisableTimeline,
		DisableTextureCompressionBC: opts.DisableTextureCompressionBC,
		Features:                    opts.Features,
		TransferQueue:               opts.TransferQueue,
	})
	if err != nil {
		t.Fatalf("vktest: open device: %v", err)
	}
	t.Cleanup(func() {
		d.Close()
		Check(t, d.Validator(), opts.Expect...)
	})
	return d
}

// Check fails t for every validation error not in expect, and for every
// expected ID that was not reported.
func Check(t testing.TB, v *vk.Validator, expect ...string) {
	t.Helper()
	counts := v.ErrorCounts()
	var unexpected []string
	for id, n := range counts {
		if !slices.Contains(expect, id) {
			unexpected = append(unexpected, fmt.Sprintf("%s ×%d", id, n))
		}
	}
	if len(unexpected) > 0 {
		slices.Sort(unexpected)
		var msgs strings.Builder
		for _, m := range v.Recent() {
			if !slices.Contains(expect, m.ID) {
				fmt.Fprintf(&msgs, "\n  %s: %s", m.ID, m.Text)
			}
		}
		t.Errorf("vktest: %d validation error(s): %s%s", v.Errors(), strings.Join(unexpected, ", "), msgs.String())
	}
	for _, id := range expect {
		if counts[id] == 0 {
			t.Errorf("vktest: expected validation error %s was not reported", id)
		}
	}
}

// Logger is a *slog.Logger that writes to the test's log.
func Logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// RSS is the process's resident set size in bytes (Linux /proc/self/statm).
func RSS(t testing.TB) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Fatalf("vktest: read RSS: %v", err)
	}
	f := strings.Fields(string(b))
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		t.Fatalf("vktest: parse %q: %v", b, err)
	}
	return pages * int64(os.Getpagesize())
}

// Submit records commands with rec into a fresh command buffer, submits it
// with a fence and waits for it (a test's one-off GPU work).
func Submit(t testing.TB, d *vk.Device, rec func(vk.CommandBuffer)) {
	t.Helper()
	pool, err := d.CreateCommandPool(vk.CommandPoolTransient)
	if err != nil {
		t.Fatalf("vktest: command pool: %v", err)
	}
	defer d.DestroyCommandPool(pool)
	cmd, err := d.AllocateCommandBuffer(pool)
	if err != nil {
		t.Fatalf("vktest: command buffer: %v", err)
	}
	fence, err := d.CreateFence(false)
	if err != nil {
		t.Fatalf("vktest: fence: %v", err)
	}
	defer d.DestroyFence(fence)
	if err := d.BeginCommandBuffer(cmd); err != nil {
		t.Fatalf("vktest: begin: %v", err)
	}
	rec(cmd)
	if err := d.EndCommandBuffer(cmd); err != nil {
		t.Fatalf("vktest: end: %v", err)
	}
	if err := d.Submit([]vk.CommandBuffer{cmd}, nil, nil, fence); err != nil {
		t.Fatalf("vktest: submit: %v", err)
	}
	if err := d.WaitFence(fence, 30*time.Second); err != nil {
		t.Fatalf("vktest: wait: %v", err)
	}
}
