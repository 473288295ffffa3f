package vk

import (
	"errors"
	"fmt"
)

// Result is a VkResult code.
type Result int32

// VkResult codes that callers of this package meet.
const (
	Success                  Result = 0
	NotReady                 Result = 1
	Timeout                  Result = 2
	Incomplete               Result = 5
	ErrorOutOfHostMemory     Result = -1
	ErrorOutOfDeviceMemory   Result = -2
	ErrorInitializationFail  Result = -3
	ErrorDeviceLostCode      Result = -4
	ErrorMemoryMapFailed     Result = -5
	ErrorLayerNotPresent     Result = -6
	ErrorExtensionNotPresent Result = -7
	ErrorFeatureNotPresent   Result = -8
	ErrorIncompatibleDriver  Result = -9
	ErrorTooManyObjects      Result = -10
	ErrorFormatNotSupported  Result = -11
	ErrorFragmentedPool      Result = -12
	ErrorUnknown             Result = -13
	ErrorOutOfPoolMemory     Result = -1000069000
	ErrorSurfaceLost         Result = -1000000000
	ErrorOutOfDate           Result = -1000001004
	Suboptimal               Result = 1000001003
)

var resultNames = map[Result]string{
	Success:                  "VK_SUCCESS",
	NotReady:                 "VK_NOT_READY",
	Timeout:                  "VK_TIMEOUT",
	Incomplete:               "VK_INCOMPLETE",
	ErrorOutOfHostMemory:     "VK_ERROR_OUT_OF_HOST_MEMORY",
	ErrorOutOfDeviceMemory:   "VK_ERROR_OUT_OF_DEVICE_MEMORY",
	ErrorInitializationFail:  "VK_ERROR_INITIALIZATION_FAILED",
	ErrorDeviceLostCode:      "VK_ERROR_DEVICE_LOST",
	ErrorMemoryMapFailed:     "VK_ERROR_MEMORY_MAP_FAILED",
	ErrorLayerNotPresent:     "VK_ERROR_LAYER_NOT_PRESENT",
	ErrorExtensionNotPresent: "VK_ERROR_EXTENSION_NOT_PRESENT",
	ErrorFeatureNotPresent:   "VK_ERROR_FEATURE_NOT_PRESENT",
	ErrorIncompatibleDriver:  "VK_ERROR_INCOMPATIBLE_DRIVER",
	ErrorTooManyObjects:      "VK_ERROR_TOO_MANY_OBJECTS",
	ErrorFormatNotSupported:  "VK_ERROR_FORMAT_NOT_SUPPORTED",
	ErrorFragmentedPool:      "VK_ERROR_FRAGMENTED_POOL",
	ErrorUnknown:             "VK_ERROR_UNKNOWN",
	ErrorOutOfPoolMemory:     "VK_ERROR_OUT_OF_POOL_MEMORY",
	ErrorSurfaceLost:         "VK_ERROR_SURFACE_LOST_KHR",
	ErrorOutOfDate:           "VK_ERROR_OUT_OF_DATE_KHR",
	Suboptimal:               "VK_SUBOPTIMAL_KHR",
}

func (r Result) String() string {
	if s, ok := resultNames[r]; ok {
		return s
	}
	return fmt.Sprintf("VkResult(%d)", int32(r))
}

// Error is a failed Vulkan call: the operation and the VkResult it returned.
// Match it with errors.Is against the sentinels below, or take it apart with
// errors.As.
type Error struct {
	Op     string // the Vulkan command or the step that failed, e.g. "vkAllocateMemory"
	Result Result
}

func (e *Error) Error() string {
	if e.Op == "" {
		return "vk: " + e.Result.String()
	}
	return "vk: " + e.Op + ": " + e.Result.String()
}

// Is reports whether target is an *Error with the same Result and either no
// Op (a sentinel) or the same Op.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Result == e.Result && (t.Op == "" || t.Op == e.Op)
}

// Sentinels for the results callers branch on.
var (
	ErrOutOfHostMemory     = &Error{Result: ErrorOutOfHostMemory}
	ErrOutOfDeviceMemory   = &Error{Result: ErrorOutOfDeviceMemory}
	ErrDeviceLost          = &Error{Result: ErrorDeviceLostCode}
	ErrInitializationFail  = &Error{Result: ErrorInitializationFail}
	ErrMemoryMapFailed     = &Error{Result: ErrorMemoryMapFailed}
	ErrTooManyObjects      = &Error{Result: ErrorTooManyObjects}
	ErrFeatureNotPresent   = &Error{Result: ErrorFeatureNotPresent}
	ErrExtensionNotPresent = &Error{Result: ErrorExtensionNotPresent}
	ErrTimeout             = &Error{Result: Timeout}
)

// Errors of the bootstrap that are not VkResults. Each is wrapped with a
// message that names what to install or set.
var (
	// ErrNoLoader: no Vulkan loader (libvulkan.so.1) could be opened.
	ErrNoLoader = errors.New("vk: no Vulkan loader")
	// ErrNoDevice: the loader found no usable physical device, or none matched VKASSETS_DEVICE.
	ErrNoDevice = errors.New("vk: no Vulkan device")
	// ErrNoValidationLayer: validation was asked for and VK_LAYER_KHRONOS_validation is missing.
	ErrNoValidationLayer = errors.New("vk: validation layer VK_LAYER_KHRONOS_validation not found")
)

// check turns a VkResult into nil or an *Error. Positive non-success codes
// (NOT_READY, TIMEOUT) are errors too; callers that expect them test first.
func check(op string, r int32) error {
	if r == 0 {
		return nil
	}
	return &Error{Op: op, Result: Result(r)}
}
