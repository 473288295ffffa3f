package vk

/*
#include "shim.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"unsafe"

	vkg "github.com/vulkan-go/vulkan"
)

// External names Vulkan objects an application made itself, for Wrap.
type External struct {
	Instance       unsafe.Pointer // VkInstance
	PhysicalDevice unsafe.Pointer // VkPhysicalDevice the device was made on
	Device         unsafe.Pointer // VkDevice
	Queue          unsafe.Pointer // VkQueue of QueueFamily that vkassets may submit to
	QueueFamily    uint32
	// TimelineSemaphores says the device was created with the
	// timelineSemaphore feature enabled.
	TimelineSemaphores bool
	// DebugUtils says the instance has VK_EXT_debug_utils enabled.
	DebugUtils bool
	// GetInstanceProcAddr is the loader entry point the application uses;
	// nil opens libvulkan.so.1.
	GetInstanceProcAddr unsafe.Pointer
}

// Wrap makes a Device over an instance, device and queue the application
// created: the allocator, frame synchronisation and assets then work with
// them. Close frees only vkassets' own bookkeeping: the application destroys
// its objects. The application must not submit to the queue concurrently
// with vkassets (Vulkan requires the queue to be externally synchronized).
func Wrap(ext External) (*Device, error) {
	if ext.Instance == nil || ext.PhysicalDevice == nil || ext.Device == nil || ext.Queue == nil {
		return nil, errors.New("vk: wrap: Instance, PhysicalDevice, Device and Queue are required")
	}
	if _, err := useLoader(ext.GetInstanceProcAddr); err != nil {
		return nil, err
	}
	in := &Instance{foreign: true}
	if err := check("wrap instance", int32(C.vka_wrap_instance(ext.Instance, &in.table))); err != nil {
		return nil, err
	}
	in.handle = C.vka_ptr_value(ext.Instance)
	in.apiVersion, _ = InstanceVersion()
	if err := vkg.InitInstance(vkg.Instance(ext.Instance)); err != nil {
		C.vka_free_table(in.table)
		return nil, fmt.Errorf("vk: wrap: vulkan-go instance init: %w", err)
	}
	phys := C.vka_ptr_value(ext.PhysicalDevice)
	devs, err := in.physicalDevices()
	if err != nil {
		C.vka_free_table(in.table)
		return nil, err
	}
	var p *PhysicalDevice
	for _, d := range devs {
		if d.handle == phys {
			p = d
		}
	}
	if p == nil {
		C.vka_free_table(in.table)
		return nil, fmt.Errorf("%w: the physical device given is not one of the instance's: %s", ErrNoDevice, listDevices(devs))
	}
	d := &Device{inst: in, ownsInst: true, phys: p, family: ext.QueueFamily, foreign: true,
		timeline: ext.TimelineSemaphores, queue: C.vka_ptr_value(ext.Queue), handle: C.vka_ptr_value(ext.Device)}
	if err := check("wrap device", int32(C.vka_wrap_device(in.table, ext.Device, cbool(ext.TimelineSemaphores), cbool(ext.DebugUtils), &d.table))); err != nil {
		C.vka_free_table(in.table)
		return nil, err
	}
	in.adopt(d)
	return d, nil
}
