package vk

/*
#include "shim.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"strings"
	"unsafe"

	vkg "github.com/vulkan-go/vulkan"
)

// External names Vulkan objects an application made itself, for Wrap, as
// raw handles. An application written against vulkan-go passes its
// handles as they are to WrapVulkanGo instead.
type External struct {
	Instance       unsafe.Pointer // VkInstance
	PhysicalDevice unsafe.Pointer // VkPhysicalDevice the device was made on
	Device         unsafe.Pointer // VkDevice
	Queue          unsafe.Pointer // VkQueue of QueueFamily that vkassets may submit to
	QueueFamily    uint32
	// APIVersion is the apiVersion the application created the instance
	// with (VkApplicationInfo.apiVersion; Vulkan reads 0 there as 1.0).
	// Wrap needs the effective version — the lower of this and the
	// physical device's — to be 1.1 or newer, 1.2 with TimelineSemaphores.
	// Zero here means not stated: Wrap then judges by the commands the
	// device resolves, which a device of effective version 1.0 lacks.
	APIVersion Version
	// TimelineSemaphores says the device was created with the
	// timelineSemaphore feature enabled.
	TimelineSemaphores bool
	// TextureCompressionBC says the device was created with the
	// textureCompressionBC feature enabled (BC textures are refused
	// without it).
	TextureCompressionBC bool
	// DebugUtils says the instance has VK_EXT_debug_utils enabled.
	DebugUtils bool
	// GetInstanceProcAddr is the loader entry point the application uses;
	// nil opens libvulkan.so.1.
	GetInstanceProcAddr unsafe.Pointer
}

// ErrUnsupported: the instance or device given to Wrap lacks a Vulkan
// version, feature or command vkassets needs; the message names it.
var ErrUnsupported = errors.New("vk: wrap: unsupported instance or device")

// Wrap makes a Device over an instance, device and queue the application
// created: the allocator, frame synchronisation and assets then work with
// them. Close frees only vkassets' own bookkeeping: the application destroys
// its objects. The application must not submit to the queue concurrently
// with vkassets (Vulkan requires the queue to be externally synchronized).
//
// Wrap checks what vkassets relies on before it hands the device out, and
// returns an error wrapping ErrUnsupported that names what is missing: an
// effective Vulkan version of at least 1.1 (vkGetBufferMemoryRequirements2,
// vkGetImageMemoryRequirements2, dedicated allocations); every device
// command vkassets loads, resolved by vkGetDeviceProcAddr; with
// TimelineSemaphores, Vulkan 1.2 and the timelineSemaphore feature. The
// swapchain commands are needed only by CreateSwapchain (VK_KHR_swapchain).
// docs/integrating.md lists the requirements.
func Wrap(ext External) (*Device, error) {
	if ext.Instance == nil || ext.PhysicalDevice == nil || ext.Device == nil || ext.Queue == nil {
		return nil, errors.New("vk: wrap: Instance, PhysicalDevice, Device and Queue are required")
	}
	if ext.APIVersion != 0 && ext.APIVersion < minAPIVersion {
		return nil, fmt.Errorf("%w: the instance's apiVersion is %s; vkassets needs Vulkan %s "+
			"(vkGetBufferMemoryRequirements2 and dedicated allocations): create the instance with "+
			"VkApplicationInfo.apiVersion >= VK_API_VERSION_1_1", ErrUnsupported, ext.APIVersion, minAPIVersion)
	}
	name, err := useLoader(ext.GetInstanceProcAddr)
	if err != nil {
		return nil, err
	}
	in := &Instance{foreign: true, loader: name, apiVersion: ext.APIVersion}
	if err := check("wrap instance", int32(C.vka_wrap_instance(ext.Instance, &in.table))); err != nil {
		return nil, err
	}
	in.handle = C.vka_ptr_value(ext.Instance)
	if err := vkg.InitInstance(vkg.Instance(ext.Instance)); err != nil {
		C.vka_free_table(in.table)
		return nil, fmt.Errorf("vk: wrap: vulkan-go instance init: %w", err)
	}
	// Until the version is known, describe asks nothing beyond Vulkan 1.0
	// (with APIVersion 0 in.apiVersion is 0, and it skips the features query).
	p, err := in.wrappedPhysical(C.vka_ptr_value(ext.PhysicalDevice))
	if err != nil {
		C.vka_free_table(in.table)
		return nil, err
	}
	d := &Device{inst: in, ownsInst: true, phys: p, family: ext.QueueFamily, foreign: true,
		timeline: ext.TimelineSemaphores, bc: ext.TextureCompressionBC, queue: C.vka_ptr_value(ext.Queue), handle: C.vka_ptr_value(ext.Device)}
	if err := check("wrap device", int32(C.vka_wrap_device(in.table, ext.Device, cbool(ext.TimelineSemaphores), cbool(ext.DebugUtils), &d.table))); err != nil {
		C.vka_free_table(in.table)
		return nil, err
	}
	if err := checkWrapped(ext, d); err != nil {
		C.vka_free_table(d.table)
		C.vka_free_table(in.table)
		return nil, err
	}
	if ext.APIVersion == 0 {
		// The device resolved the Vulkan 1.1 commands: its instance is 1.1
		// at least (or enables their KHR extensions; a features query is
		// still not made).
		in.apiVersion = minAPIVersion
		p.TimelineSemaphore = ext.TimelineSemaphores
	}
	in.adopt(d)
	return d, nil
}

// wrappedPhysical describes the physical device h of a wrapped instance.
func (in *Instance) wrappedPhysical(h C.uintptr_t) (*PhysicalDevice, error) {
	handles, err := in.physicalHandles()
	if err != nil {
		return nil, err
	}
	var devs []*PhysicalDevice
	for i, x := range handles {
		p := in.describe(i, x)
		if x == h {
			return p, nil
		}
		devs = append(devs, p)
	}
	return nil, fmt.Errorf("%w: the physical device given is not one of the instance's: %s", ErrNoDevice, listDevices(devs))
}

// checkWrapped returns an error wrapping ErrUnsupported that names what the
// wrapped device lacks, or nil.
func checkWrapped(ext External, d *Device) error {
	p := d.phys
	if int(ext.QueueFamily) >= len(p.QueueFamilies) {
		return fmt.Errorf("vk: wrap: queue family %d does not exist on %s (it has %d)", ext.QueueFamily, p.Name, len(p.QueueFamilies))
	}
	stated := ext.APIVersion != 0
	effective := p.APIVersion
	if stated {
		effective = min(ext.APIVersion, p.APIVersion)
	}
	if effective < minAPIVersion {
		return fmt.Errorf("%w: effective Vulkan version %s (the lower of the instance's apiVersion %s and %s's %s); "+
			"vkassets needs %s (vkGetBufferMemoryRequirements2 and dedicated allocations)",
			ErrUnsupported, effective, versionOrUnstated(ext.APIVersion), p.Name, p.APIVersion, minAPIVersion)
	}
	if ext.TimelineSemaphores && stated {
		if effective < MakeVersion(1, 2, 0) {
			return fmt.Errorf("%w: TimelineSemaphores is set, but the effective Vulkan version is %s "+
				"(the lower of the instance's apiVersion %s and %s's %s); timeline semaphores need 1.2",
				ErrUnsupported, effective, ext.APIVersion, p.Name, p.APIVersion)
		}
		if !p.TimelineSemaphore {
			return fmt.Errorf("%w: TimelineSemaphores is set, but %s lacks the timelineSemaphore feature",
				ErrUnsupported, p.Name)
		}
	}
	var names [16]*C.char
	n := int(C.vka_missing_device_fns(d.table, cbool(ext.TimelineSemaphores), &names[0], C.int32_t(len(names))))
	if n == 0 {
		return nil
	}
	missing := make([]string, 0, n)
	for _, s := range names[:min(n, len(names))] {
		missing = append(missing, C.GoString(s))
	}
	if n > len(names) {
		missing = append(missing, fmt.Sprintf("and %d more", n-len(names)))
	}
	hint := "create the instance with VkApplicationInfo.apiVersion >= VK_API_VERSION_1_1 (vulkan-go's default is 1.0), and set External.APIVersion"
	if ext.TimelineSemaphores {
		hint += "; with TimelineSemaphores, 1.2 and the timelineSemaphore feature enabled"
	}
	return fmt.Errorf("%w: vkGetDeviceProcAddr does not resolve %s on %s (Vulkan %s, instance apiVersion %s): %s",
		ErrUnsupported, strings.Join(missing, ", "), p.Name, p.APIVersion, versionOrUnstated(ext.APIVersion), hint)
}

func versionOrUnstated(v Version) string {
	if v == 0 {
		return "not stated"
	}
	return v.String()
}
