package window_test

import (
	"os"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkassets/vkassets/vk"
	"github.com/vkassets/vkassets/vk/vktest"
	"github.com/vkassets/vkassets/vk/window"
)

// needDisplay skips a test where no display exists (DISPLAY and
// WAYLAND_DISPLAY unset, as in a plain headless go test); with one set, the
// test runs, and a display that cannot be opened fails it.
func needDisplay(t *testing.T) {
	t.Helper()
	if os.Getenv("DISPLAY") == "" && os.Getenv("WAYLAND_DISPLAY") == "" {
		t.Skip("no display (DISPLAY and WAYLAND_DISPLAY are unset): run under xvfb-run, as make test does")
	}
}

// TestWindowSurface opens a window (under Xvfb in make test), creates a
// validated instance through GLFW's loader and a surface on it.
func TestWindowSurface(t *testing.T) {
	needDisplay(t)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	w, err := window.Open(window.Options{Title: "vkassets test", Width: 320, Height: 240})
	require.NoError(t, err, "the window tests need an X display: run them under xvfb-run, as make test does")
	defer w.Close()

	opts := w.InstanceOptions(vk.InstanceOptions{AppName: t.Name(), Validation: true, Logger: vktest.Logger(t)})
	require.NotNil(t, opts.GetInstanceProcAddr)
	require.Contains(t, opts.Extensions, "VK_KHR_surface")
	in, err := vk.NewInstance(opts)
	require.NoError(t, err)
	require.Equal(t, "external", in.Loader())
	d, err := in.NewDevice(vk.Options{DeviceExtensions: []string{"VK_KHR_swapchain"}})
	require.NoError(t, err)
	surface, err := w.CreateSurface(in)
	require.NoError(t, err)
	require.NotZero(t, surface)

	fw, fh := w.FramebufferSize()
	require.Equal(t, 320, fw)
	require.Equal(t, 240, fh)
	w.PollEvents()
	require.False(t, w.ShouldClose())

	in.DestroySurface(surface)
	d.Close()
	in.Close()
	vktest.Check(t, in.Validator())

	// After the window, GLFW is terminated and its loader entry point is
	// dead: a later device goes back to the system loader.
	w.Close()
	again, err := vk.Open(vk.Options{})
	require.NoError(t, err)
	require.Equal(t, "libvulkan.so.1", again.Instance().Loader())
	again.Close()
}

func TestNoDisplay(t *testing.T) {
	t.Setenv("DISPLAY", "")
	t.Setenv("WAYLAND_DISPLAY", "")
	_, err := window.Open(window.Options{})
	require.ErrorIs(t, err, window.ErrNoDisplay)
}
