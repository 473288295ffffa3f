// Package window opens a GLFW window for Vulkan presentation: it hands vk
// GLFW's loader entry point and required instance extensions, and creates
// the VkSurfaceKHR.
//
// GLFW calls must come from one OS thread; lock it (runtime.LockOSThread)
// in the goroutine that opens the window, usually main.
package window

/*
#include <stdint.h>
#include <vulkan/vulkan.h>

// Defined by GLFW, which github.com/go-gl/glfw compiles into the binary. It
// is called directly because that package's CreateWindowSurface returns the
// address of a Go variable rather than the surface handle.
typedef struct GLFWwindow GLFWwindow;
extern VkResult glfwCreateWindowSurface(VkInstance, GLFWwindow*, const VkAllocationCallbacks*, VkSurfaceKHR*);

static int32_t vka_glfw_surface(void* instance, void* window, uint64_t* out) {
	VkSurfaceKHR s = VK_NULL_HANDLE;
	VkResult r = glfwCreateWindowSurface((VkInstance)instance, (GLFWwindow*)window, NULL, &s);
	*out = (uint64_t)s;
	return r;
}
*/
import "C"

import (
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/go-gl/glfw/v3.3/glfw"

	"github.com/vkassets/vkassets/vk"
)

// Options configure Open.
type Options struct {
	Title         string
	Width, Height int // default 800×600
	Resizable     bool
}

// Window is a GLFW window without a GL context (GLFW_NO_API).
type Window struct {
	w *glfw.Window
}

// ErrNoDisplay is returned when there is no display to open a window on.
var ErrNoDisplay = errors.New("window: no display (set DISPLAY, or run under xvfb-run)")

var glfwInit struct {
	mu    sync.Mutex // protects count and GLFW initialisation
	count int
}

// Open initialises GLFW (once per process) and opens a window.
func Open(opts Options) (*Window, error) {
	if os.Getenv("DISPLAY") == "" && os.Getenv("WAYLAND_DISPLAY") == "" {
		return nil, ErrNoDisplay
	}
	glfwInit.mu.Lock()
	defer glfwInit.mu.Unlock()
	if glfwInit.count == 0 {
		if err := glfw.Init(); err != nil {
			return nil, fmt.Errorf("window: glfw init: %w", err)
		}
	}
	if !glfw.VulkanSupported() {
		release()
		return nil, fmt.Errorf("window: GLFW found no Vulkan loader: %w", vk.ErrNoLoader)
	}
	w, h := opts.Width, opts.Height
	if w <= 0 || h <= 0 {
		w, h = 800, 600
	}
	glfw.WindowHint(glfw.ClientAPI, glfw.NoAPI)
	glfw.WindowHint(glfw.Resizable, hint(opts.Resizable))
	win, err := glfw.CreateWindow(w, h, opts.Title, nil, nil)
	if err != nil {
		if glfwInit.count == 0 {
			glfw.Terminate()
		}
		return nil, fmt.Errorf("window: create %dx%d: %w", w, h, err)
	}
	glfwInit.count++
	return &Window{w: win}, nil
}

func hint(b bool) int {
	if b {
		return glfw.True
	}
	return glfw.False
}

// release terminates GLFW when no window is left; the caller holds glfwInit.mu.
func release() {
	if glfwInit.count == 0 {
		glfw.Terminate()
	}
}

// InstanceOptions returns opts with GLFW's loader and the instance extensions
// a surface needs added.
func (w *Window) InstanceOptions(opts vk.InstanceOptions) vk.InstanceOptions {
	opts.GetInstanceProcAddr = glfw.GetVulkanGetInstanceProcAddress()
	opts.Extensions = append(opts.Extensions, w.w.GetRequiredInstanceExtensions()...)
	return opts
}

// CreateSurface creates the window's VkSurfaceKHR on in; destroy it with
// in.DestroySurface before the instance.
func (w *Window) CreateSurface(in *vk.Instance) (uint64, error) {
	var s C.uint64_t
	if r := C.vka_glfw_surface(in.Handle(), w.w.Handle(), &s); r != 0 {
		return 0, fmt.Errorf("window: create surface: %w", &vk.Error{Op: "glfwCreateWindowSurface", Result: vk.Result(r)})
	}
	return uint64(s), nil
}

// FramebufferSize is the drawable size in pixels; 0×0 while minimised.
func (w *Window) FramebufferSize() (int, int) { return w.w.GetFramebufferSize() }

// ShouldClose reports whether the user asked to close the window.
func (w *Window) ShouldClose() bool { return w.w.ShouldClose() }

// PollEvents processes pending window events.
func (w *Window) PollEvents() { glfw.PollEvents() }

// SetSize asks for a new window size.
func (w *Window) SetSize(width, height int) { w.w.SetSize(width, height) }

// Iconify minimises the window; Restore undoes it.
func (w *Window) Iconify() { w.w.Iconify() }

// Restore restores a minimised window.
func (w *Window) Restore() { w.w.Restore() }

// Close destroys the window, and terminates GLFW after the last one.
func (w *Window) Close() {
	glfwInit.mu.Lock()
	defer glfwInit.mu.Unlock()
	if w.w == nil {
		return
	}
	w.w.Destroy()
	w.w = nil
	glfwInit.count--
	release()
}
