package main

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

// presenter shows the demo's frames in a GLFW window through a swapchain,
// recreating it when the window is resized and skipping frames while it is
// minimised.
type presenter struct {
	win      *window.Window
	d        *vk.Device
	surface  uint64
	sc       *vk.Swapchain
	finished []vk.Semaphore // one per swapchain image: signalled by the frame, waited on by present
	stale    bool
	created  int // swapchains made: 1, plus one per resize
}

// openWindow opens the window and the device that presents to it. GLFW
// wants one OS thread: the caller's goroutine stays locked to it.
func openWindow(opts vk.Options) (*presenter, *vk.Device, error) {
	runtime.LockOSThread()
	win, err := window.Open(window.Options{Title: "vkassets demo", Width: 640, Height: 480, Resizable: true})
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
	p := &presenter{win: win, d: d}
	if p.surface, err = win.CreateSurface(d.Instance()); err != nil {
		d.Close()
		win.Close()
		return nil, nil, err
	}
	if err := p.recreate(); err != nil {
		p.close()
		d.Close()
		return nil, nil, err
	}
	return p, d, nil
}

// recreate makes the swapchain anew for the window's current size.
func (p *presenter) recreate() error {
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

func (p *presenter) destroySwapchain() {
	for _, s := range p.finished {
		p.d.DestroySemaphore(s)
	}
	p.finished = nil
	if p.sc != nil {
		p.sc.Destroy()
		p.sc = nil
	}
}

// ready polls events and reports whether a frame can be presented now;
// false while minimised (the caller keeps retiring without frames).
func (p *presenter) ready() (bool, error) {
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

// end finishes a frame begun on s: it acquires an image, blits the
// picture onto it, submits and presents.
func (p *presenter) end(s *framesync.Sync, r *render.Renderer, f *framesync.Frame) error {
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

func (p *presenter) close() {
	_ = p.d.WaitIdle()
	p.destroySwapchain()
	p.d.Instance().DestroySurface(p.surface)
	p.win.Close()
	runtime.UnlockOSThread()
}
