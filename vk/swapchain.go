package vk

/*
#include "shim.h"
*/
import "C"

import (
	"fmt"
	"time"
)

// Swapchain is a VkSwapchainKHR (FIFO presentation) with its images.
type Swapchain struct {
	d             *Device
	handle        C.uint64_t
	Format        Format
	Width, Height uint32
	Images        []Image
}

// ErrOutOfDate: the surface changed (a resize); recreate the swapchain.
var ErrOutOfDate = &Error{Result: ErrorOutOfDate}

// CreateSwapchain makes a swapchain for surface at the surface's current
// size (or width×height where the surface lets the application choose),
// replacing old (nil for none). The device needs VK_KHR_swapchain.
func (d *Device) CreateSwapchain(surface uint64, width, height uint32, old *Swapchain) (*Swapchain, error) {
	if !d.gate.enter() {
		return nil, ErrClosed
	}
	defer d.gate.exit()
	if !d.inst.gate.enter() {
		return nil, ErrClosed
	}
	var info C.vka_surface_info
	r0 := C.vka_surface_info_get(d.inst.table, d.phys.handle, C.uint32_t(d.family), C.uint64_t(surface), &info)
	d.inst.gate.exit()
	if err := check("vkGetPhysicalDeviceSurfaceCapabilitiesKHR", int32(r0)); err != nil {
		return nil, err
	}
	if info.supported == 0 {
		return nil, fmt.Errorf("vk: queue family %d of %s cannot present to this surface", d.family, d.phys.Name)
	}
	w, h := uint32(info.curWidth), uint32(info.curHeight)
	if w == ^uint32(0) { // the application chooses
		w = min(max(width, uint32(info.minWidth)), uint32(info.maxWidth))
		h = min(max(height, uint32(info.minHeight)), uint32(info.maxHeight))
	}
	if w == 0 || h == 0 {
		return nil, fmt.Errorf("vk: surface is %dx%d (minimised)", w, h)
	}
	images := uint32(info.minImages) + 1
	if info.maxImages != 0 {
		images = min(images, uint32(info.maxImages))
	}
	var oldHandle C.uint64_t
	if old != nil {
		oldHandle = old.handle
	}
	r := C.vka_create_swapchain(d.table, C.uint64_t(surface), C.uint32_t(images), info.format, info.colorSpace,
		C.uint32_t(w), C.uint32_t(h), info.transform, oldHandle)
	if err := check("vkCreateSwapchainKHR", int32(r.result)); err != nil {
		return nil, err
	}
	sc := &Swapchain{d: d, handle: C.uint64_t(r.value), Format: Format(info.format), Width: w, Height: h}
	var n C.uint32_t
	if err := check("vkGetSwapchainImagesKHR", int32(C.vka_swapchain_images(d.table, sc.handle, &n, nil))); err != nil {
		sc.destroy()
		return nil, err
	}
	imgs := make([]C.uint64_t, n)
	if err := check("vkGetSwapchainImagesKHR", int32(C.vka_swapchain_images(d.table, sc.handle, &n, &imgs[0]))); err != nil {
		sc.destroy()
		return nil, err
	}
	for _, img := range imgs[:n] {
		sc.Images = append(sc.Images, Image(img))
	}
	return sc, nil
}

// Destroy destroys the swapchain (its images go with it). After the
// device's Close it does nothing: destroy swapchains before.
func (sc *Swapchain) Destroy() {
	if !sc.d.gate.enter() {
		return
	}
	defer sc.d.gate.exit()
	sc.destroy()
}

// destroy is Destroy for a caller inside the device's gate.
func (sc *Swapchain) destroy() {
	C.vka_destroy_swapchain(sc.d.table, sc.handle)
	sc.handle = 0
}

// Acquire takes the next image, signalling semaphore when it is ready.
// ErrOutOfDate means the swapchain must be recreated; a suboptimal
// swapchain is reported as ok and may be recreated at leisure.
func (sc *Swapchain) Acquire(semaphore Semaphore, timeout time.Duration) (uint32, error) {
	if !sc.d.gate.enter() {
		return 0, ErrClosed
	}
	defer sc.d.gate.exit()
	r := C.vka_acquire_image(sc.d.table, sc.handle, C.uint64_t(semaphore), nanos(timeout))
	if Result(r.result) == Suboptimal {
		return uint32(r.value), nil
	}
	return uint32(r.value), check("vkAcquireNextImageKHR", int32(r.result))
}

// Present queues image index for presentation after wait is signalled.
func (sc *Swapchain) Present(index uint32, wait Semaphore) error {
	if !sc.d.gate.enter() {
		return ErrClosed
	}
	defer sc.d.gate.exit()
	d := sc.d
	d.queueMu.Lock()
	r := C.vka_present(d.table, d.queue, sc.handle, C.uint32_t(index), C.uint64_t(wait))
	d.queueMu.Unlock()
	if Result(r) == Suboptimal {
		return nil
	}
	return check("vkQueuePresentKHR", int32(r))
}

// CmdBlit records a linear-filtered blit of the whole src (in the
// transfer-src layout) onto the whole dst (in the transfer-dst layout),
// converting formats.
func (d *Device) CmdBlit(c CommandBuffer, src Image, sw, sh uint32, dst Image, dw, dh uint32) {
	if !d.gate.enter() {
		return
	}
	defer d.gate.exit()
	C.vka_cmd_blit(d.table, C.uintptr_t(c), C.uint64_t(src), C.uint32_t(sw), C.uint32_t(sh), C.uint64_t(dst), C.uint32_t(dw), C.uint32_t(dh))
}
