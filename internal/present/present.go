// Package present shows the renderer's frames in a GLFW window through a
// swapchain, for the demo and the window example: it recreates the
// swapchain when the window is resized and reports when it is minimised.
package present

import (
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/vkassets/vkassets/framesync"
	"github.com/vkassets/vkassets/internal/render"
	"github.com/vkassets/vkassets/vk"
	"github.com/vkassets/vkassets/vk/window"
)

// Presenter shows the demo's frames in a GLFW window through a swapchain,
// recreating it when the window is resized and skipping frames while it is
// minimised.
type Presenter struct {
	win      *window.Window
	d        *vk.Device
	surface  uint64
	sc       *vk.Swapchain
	finished []vk.Semaphore // one per swapchain image: signalled by the frame, waited on by present
	stale    bool
	created  int // swapchains made: 1, plus one per resize
}

// Open opens a window and the device that presents to it. GLFW wants one
// OS thread: the caller's goroutine stays locked to it until Close.
func Open(title string, width, height int, opts vk.Options) (*Presenter, *vk.Device, error) {
	runtime.LockOSThread()
	win, err := window.Open(window.Options{Title: title, Width: width, Height: height, Resizable: true})
	if err != nil {
		return nil, nil, err
	}
	opts.InstanceOptions = win.InstanceOptions(opts.InstanceOptions)
	opts.DeviceExtensions = append(opts.DeviceExtensions, "VK_KHR_swapchain")
	d, err := vk.Open(opts)
	if err != nil {
		win.Close()
		return nil, nil, err
	}
	p := &Presenter{win: win, d: d}
	if p.surface, err = win.CreateSurface(d.Instance()); err != nil {
		d.Close()
		win.Close()
		return nil, nil, err
	}
	if err := p.recreate(); err != nil {
		p.Close()
		d.Close()
		return nil, nil, err
	}
	return p, d, nil
}

// recreate makes the swapchain anew for the window's current size.
func (p *Presenter) recreate() error {
	w, h := p.win.FramebufferSize()
	if w == 0 || h == 0 {
		p.stale = true // minimised: try again when restored
		return nil
	}
	if err := p.d.WaitIdle(); err != nil {
		return err
	}
	sc, err := p.d.CreateSwapchain(p.surface, uint32(w), uint32(h), p.sc)
	if err != nil {
		return fmt.Errorf("swapchain: %w", err)
	}
	p.destroySwapchain()
	p.sc = sc
	p.created++
	for range sc.Images {
		s, err := p.d.CreateSemaphore()
		if err != nil {
			return err
		}
		p.finished = append(p.finished, s)
	}
	p.stale = false
	return nil
}

func (p *Presenter) destroySwapchain() {
	for _, s := range p.finished {
		p.d.DestroySemaphore(s)
	}
	p.finished = nil
	if p.sc != nil {
		p.sc.Destroy()
		p.sc = nil
	}
}

// Ready polls events and reports whether a frame can be presented now;
// false while minimised (the caller keeps retiring without frames).
func (p *Presenter) Ready() (bool, error) {
	p.win.PollEvents()
	w, h := p.win.FramebufferSize()
	if w == 0 || h == 0 {
		return false, nil
	}
	if p.stale || p.sc == nil || uint32(w) != p.sc.Width || uint32(h) != p.sc.Height {
		if err := p.recreate(); err != nil {
			return false, err
		}
	}
	return p.sc != nil && !p.stale, nil
}

// End finishes a frame begun on s: it acquires an image, blits the
// picture onto it, submits and presents.
func (p *Presenter) End(s *framesync.Sync, r *render.Renderer, f *framesync.Frame) error {
	idx, err := p.sc.Acquire(f.ImageAvailable, 5*time.Second)
	if errors.Is(err, vk.ErrOutOfDate) {
		p.stale = true
		return s.EndFrame(f) // nothing to present this time
	}
	if err != nil {
		return err
	}
	r.Present(f, p.sc.Images[idx], p.sc.Width, p.sc.Height)
	waits := []vk.SemaphoreSubmit{{Semaphore: f.ImageAvailable, Stage: vk.StageTransfer}}
	signals := []vk.SemaphoreSubmit{{Semaphore: p.finished[idx]}}
	if err := s.EndFrameWith(f, waits, signals); err != nil {
		return err
	}
	if err := p.sc.Present(idx, p.finished[idx]); errors.Is(err, vk.ErrOutOfDate) {
		p.stale = true
	} else if err != nil {
		return err
	}
	return nil
}

// Window is the window.
func (p *Presenter) Window() *window.Window { return p.win }

// Swapchains is how many swapchains were made: 1, plus one per resize.
func (p *Presenter) Swapchains() int { return p.created }

// Close destroys the swapchain, the surface and the window, and unlocks the
// OS thread. Close the frame sync first; close the device after.
func (p *Presenter) Close() {
	_ = p.d.WaitIdle()
	p.destroySwapchain()
	p.d.Instance().DestroySurface(p.surface)
	p.win.Close()
	runtime.UnlockOSThread()
}
