package vk

/*
#include "shim.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/cgo"
	"sync"
	"unsafe"

	vkg "github.com/vulkan-go/vulkan"
)

// ValidationLayer is the Khronos validation layer's name.
const ValidationLayer = "VK_LAYER_KHRONOS_validation"

// Environment variables read by NewInstance and Open.
const (
	EnvValidation     = "VKASSETS_VALIDATION"      // "1": turn validation on
	EnvSyncValidation = "VKASSETS_SYNC_VALIDATION" // "1": also turn synchronization validation on
	// "1": synchronization validation at submission as well (SubmitValidation)
	EnvSubmitValidation = "VKASSETS_SUBMIT_VALIDATION"
	EnvDevice           = "VKASSETS_DEVICE" // index or name substring of the device to use
)

// InstanceOptions configure NewInstance. The zero value is a headless,
// unvalidated instance on the system loader (unless VKASSETS_VALIDATION=1).
type InstanceOptions struct {
	// AppName goes into VkApplicationInfo.
	AppName string
	// Logger receives validation messages; nil discards them (they are still counted).
	Logger *slog.Logger
	// Validation turns on VK_LAYER_KHRONOS_validation with a messenger.
	// VKASSETS_VALIDATION=1 turns it on too.
	Validation bool
	// SyncValidation also turns on synchronization validation
	// (VK_VALIDATION_FEATURE_ENABLE_SYNCHRONIZATION_VALIDATION_EXT).
	// VKASSETS_SYNC_VALIDATION=1 turns it on too. It implies Validation.
	// On its own it checks hazards within each command buffer.
	SyncValidation bool
	// SubmitValidation also checks, at each vkQueueSubmit, the hazards
	// between command buffers and between submissions on a queue: a copy
	// in one submission and a read of its result in a later one, say
	// (the layer's VALIDATION_CHECK_ENABLE_SYNCHRONIZATION_VALIDATION_QUEUE_SUBMIT,
	// "alpha" in layer 1.3.239). VKASSETS_SUBMIT_VALIDATION=1 turns it on
	// too. It implies SyncValidation.
	//
	// The layer learns that the host waited for a submission only from
	// fences (vkWaitForFences, vkGetFenceStatus), vkQueueWaitIdle and
	// vkDeviceWaitIdle, not from timeline semaphores (vkWaitSemaphores,
	// vkGetSemaphoreCounterValue; layer 1.3.239): a program that tracks
	// completion with a timeline then sees every reuse of memory across
	// submissions reported (framesync.Options.UseFences avoids that).
	//
	// The layer takes this check only from the environment variable
	// VK_LAYER_ENABLES (there is no VkValidationFeatureEnableEXT value for
	// it), read in vkCreateInstance: NewInstance sets it for the call and
	// restores it after, with every NewInstance of the process serialized.
	// Changing the environment races with C code reading it on other
	// threads (getenv): a debugging and testing aid, as the layer is.
	SubmitValidation bool
	// Extensions are extra instance extensions, such as those a window system requires.
	Extensions []string
	// GetInstanceProcAddr, when set, is the loader entry point to use
	// (for example glfw.GetVulkanGetInstanceProcAddress()); nil opens libvulkan.so.1.
	GetInstanceProcAddr unsafe.Pointer

	// apiVersion, when set, is the apiVersion the instance is created
	// for, below minAPIVersion too: tests make an application's Vulkan 1.0
	// instance with it, to wrap.
	apiVersion Version
}

// Instance is a VkInstance with its dispatch table and, when validation is on,
// its messenger.
type Instance struct {
	table      C.uintptr_t // *vka_instance
	messenger  C.uint64_t
	user       cgo.Handle
	validator  *Validator
	logger     *slog.Logger
	apiVersion Version
	loader     string
	foreign    bool        // made by the application (Wrap): Close frees only the table
	handle     C.uintptr_t // VkInstance

	gate      gate // every call that reaches C passes it; Close shuts it
	mu        sync.Mutex
	devices   map[*Device]struct{} // made on this instance and not yet closed
	closeOnce sync.Once
}

// minAPIVersion is what vk needs from the loader and the device:
// vkGetBufferMemoryRequirements2 and dedicated allocations are core in 1.1.
var minAPIVersion = MakeVersion(1, 1, 0)

// maxAPIVersion is the newest version vk asks for.
var maxAPIVersion = MakeVersion(1, 3, 0)

func envOn(name string) bool { return os.Getenv(name) == "1" }

// NewInstance opens the loader and creates an instance.
func NewInstance(opts InstanceOptions) (*Instance, error) {
	name, err := useLoader(opts.GetInstanceProcAddr)
	if err != nil {
		return nil, err
	}
	ver, err := InstanceVersion()
	if err != nil {
		return nil, err
	}
	if ver < minAPIVersion {
		return nil, fmt.Errorf("%w: loader %s supports Vulkan %s, vkassets needs %s; update libvulkan1",
			ErrNoLoader, name, ver, minAPIVersion)
	}
	api := min(ver, maxAPIVersion)
	if opts.apiVersion != 0 {
		api = opts.apiVersion
	}

	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	submitVal := opts.SubmitValidation || envOn(EnvSubmitValidation)
	syncVal := opts.SyncValidation || submitVal || envOn(EnvSyncValidation)
	validation := opts.Validation || syncVal || envOn(EnvValidation)

	exts := append([]string(nil), opts.Extensions...)
	var layers []string
	if validation {
		if !layerPresent(ValidationLayer) {
			return nil, fmt.Errorf("%w: install it (Debian/Ubuntu: apt-get install vulkan-validationlayers), "+
				"or run without %s=1", ErrNoValidationLayer, EnvValidation)
		}
		layers = append(layers, ValidationLayer)
		exts = append(exts, "VK_EXT_debug_utils")
	}
	for _, e := range opts.Extensions {
		if !instanceExtensionPresent(e) {
			return nil, fmt.Errorf("vk: instance extension %s: %w", e, ErrExtensionNotPresent)
		}
	}

	in := &Instance{logger: logger, apiVersion: api, loader: name}
	if validation {
		in.validator = newValidator(logger)
		in.user = cgo.NewHandle(in.validator)
	}
	app := C.CString(opts.AppName)
	defer C.free(unsafe.Pointer(app))
	cl, freeLayers := cstrings(layers)
	defer freeLayers()
	ce, freeExts := cstrings(exts)
	defer freeExts()

	var r C.int32_t
	withLayerEnables(submitVal, func() {
		r = C.vka_create_instance(app, C.uint32_t(api), cl, C.uint32_t(len(layers)), ce, C.uint32_t(len(exts)),
			cbool(validation), cbool(syncVal), C.uintptr_t(in.user), &in.table, &in.messenger)
	})
	if err := check("vkCreateInstance", int32(r)); err != nil {
		if in.user != 0 {
			in.user.Delete()
		}
		if errors.Is(err, ErrIncompatibleDriver) {
			return nil, fmt.Errorf("%w: %v; install a Vulkan driver (Debian/Ubuntu: apt-get install mesa-vulkan-drivers)",
				ErrNoDevice, err)
		}
		return nil, err
	}
	in.handle = C.vka_instance_handle(in.table)
	if err := vkg.InitInstance(vkg.Instance(in.Handle())); err != nil {
		in.Close()
		return nil, fmt.Errorf("vk: vulkan-go instance init: %w", err)
	}
	return in, nil
}

// The validation layer's setting for SubmitValidation, and the
// environment variable it reads it from.
const (
	envLayerEnables   = "VK_LAYER_ENABLES"
	submitCheckEnable = "VALIDATION_CHECK_ENABLE_SYNCHRONIZATION_VALIDATION_QUEUE_SUBMIT"
)

// layerEnvMu serializes instance creation, so that the VK_LAYER_ENABLES a
// SubmitValidation instance sets for its vkCreateInstance reaches no other.
var layerEnvMu sync.Mutex

// withLayerEnables runs create, with the layer's submission check added to
// VK_LAYER_ENABLES (list items are separated as paths are: ':' on Linux)
// when submit is set, and the variable restored after.
func withLayerEnables(submit bool, create func()) {
	layerEnvMu.Lock()
	defer layerEnvMu.Unlock()
	if !submit {
		create()
		return
	}
	old, had := os.LookupEnv(envLayerEnables)
	v := submitCheckEnable
	if old != "" {
		v = old + string(os.PathListSeparator) + v
	}
	_ = os.Setenv(envLayerEnables, v) // a valid name and value: it cannot fail
	defer func() {
		if had {
			_ = os.Setenv(envLayerEnables, old)
		} else {
			_ = os.Unsetenv(envLayerEnables)
		}
	}()
	create()
}

// ErrIncompatibleDriver is returned when the loader finds no driver.
var ErrIncompatibleDriver = &Error{Result: ErrorIncompatibleDriver}

func cbool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

func layerPresent(name string) bool {
	cs := C.CString(name)
	defer C.free(unsafe.Pointer(cs))
	return C.vka_layer_present(cs) != 0
}

func instanceExtensionPresent(name string) bool {
	cs := C.CString(name)
	defer C.free(unsafe.Pointer(cs))
	return C.vka_instance_extension_present(cs) != 0
}

// Handle is the raw VkInstance, for interoperation (GLFW surface creation, or
// vulkan-go's vk.Instance(handle)); nil after Close.
func (in *Instance) Handle() unsafe.Pointer {
	if in.gate.closed() {
		return nil
	}
	return C.vka_value_ptr(in.handle)
}

// Validator is the instance's validation message counter; nil when
// validation is off (its methods then report zero).
func (in *Instance) Validator() *Validator { return in.validator }

// APIVersion is the Vulkan version the instance was created for. For a
// wrapped instance it is External.APIVersion, or 1.1 when that was not
// given and the device resolved the Vulkan 1.1 commands vkassets needs.
func (in *Instance) APIVersion() Version { return in.apiVersion }

// Loader names the loader in use: a library name or "external".
func (in *Instance) Loader() string { return in.loader }

// Close destroys the instance and its messenger. It first closes every
// Device made on it that is still open (Device.Close: each waits for its
// calls in flight and for the GPU), so the order of Close calls does not
// matter. It is idempotent and safe from any goroutine; afterwards the
// instance's methods return ErrClosed or do nothing.
func (in *Instance) Close() {
	in.closeOnce.Do(func() {
		in.gate.shut()
		in.mu.Lock()
		devs := make([]*Device, 0, len(in.devices))
		for d := range in.devices {
			devs = append(devs, d)
		}
		in.mu.Unlock()
		for _, d := range devs {
			d.close(false)
		}
		if in.foreign {
			C.vka_free_table(in.table)
			return
		}
		C.vka_destroy_instance(in.table, in.messenger)
		if in.user != 0 {
			in.user.Delete()
		}
	})
}

// adopt records a device made on the instance, for Close.
func (in *Instance) adopt(d *Device) {
	in.mu.Lock()
	if in.devices == nil {
		in.devices = make(map[*Device]struct{})
	}
	in.devices[d] = struct{}{}
	in.mu.Unlock()
}

// forget drops a closed device.
func (in *Instance) forget(d *Device) {
	in.mu.Lock()
	delete(in.devices, d)
	in.mu.Unlock()
}

// DestroySurface destroys a VkSurfaceKHR created for this instance (by
// GLFW, say); after Close it does nothing.
func (in *Instance) DestroySurface(surface uint64) {
	if !in.gate.enter() {
		return
	}
	defer in.gate.exit()
	C.vka_destroy_surface(in.table, C.uint64_t(surface))
}
