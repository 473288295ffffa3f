package vk

/*
#cgo LDFLAGS: -ldl
#include "shim.h"
*/
import "C"

import (
	"fmt"
	"sync"
	"unsafe"

	vkg "github.com/vulkan-go/vulkan"
)

// The loader is process-wide: one vkGetInstanceProcAddr serves every
// instance. It is chosen by the first NewInstance and may be replaced by a
// window system's (GLFW's) before an instance is created with it.
var loader struct {
	mu   sync.Mutex // protects the fields below and the C-side pointer
	name string     // what was opened: a library name, or "external"
	ptr  unsafe.Pointer
}

// loaderLibraries are tried in order. vulkan-go's own default opens only
// "libvulkan.so", which exists only with the -dev package installed.
var loaderLibraries = []string{"libvulkan.so.1", "libvulkan.so"}

// useLoader makes getProcAddr (a PFN_vkGetInstanceProcAddr, such as GLFW's
// glfw.GetVulkanGetInstanceProcAddress()) the loader; nil opens the system's.
func useLoader(getProcAddr unsafe.Pointer) (string, error) {
	loader.mu.Lock()
	defer loader.mu.Unlock()
	switch {
	case getProcAddr != nil:
		if loader.ptr == getProcAddr {
			return loader.name, nil
		}
		// Keep the system loader mapped for as long as the process runs: a
		// window system may unload its own copy (GLFW does in
		// glfwTerminate) while devices made through it still live.
		for _, lib := range loaderLibraries {
			cs := C.CString(lib)
			pinned := C.vka_pin_library(cs) != 0
			C.free(unsafe.Pointer(cs))
			if pinned {
				break
			}
		}
		C.vka_set_gipa(getProcAddr)
		loader.name, loader.ptr = "external", getProcAddr
	case loader.ptr == nil || loader.name == "external":
		// The system loader, also after a window system's: that one may
		// be gone by now (glfwTerminate).
		loader.ptr = nil
		for _, lib := range loaderLibraries {
			cs := C.CString(lib)
			ok := C.vka_load_library(cs) != 0
			C.free(unsafe.Pointer(cs))
			if ok {
				loader.name, loader.ptr = lib, C.vka_gipa()
				break
			}
		}
		if loader.ptr == nil {
			return "", fmt.Errorf("%w: could not open %v; install the loader "+
				"(Debian/Ubuntu: apt-get install libvulkan1 mesa-vulkan-drivers)", ErrNoLoader, loaderLibraries)
		}
	default:
		return loader.name, nil
	}
	// vulkan-go serves the cold-path physical-device queries; it loads its
	// own function pointers through the same vkGetInstanceProcAddr.
	vkg.SetGetInstanceProcAddr(loader.ptr)
	if err := vkg.Init(); err != nil {
		return "", fmt.Errorf("%w: vulkan-go init: %v", ErrNoLoader, err)
	}
	return loader.name, nil
}

// InstanceVersion is the Vulkan version the loader supports
// (vkEnumerateInstanceVersion), opening the system loader if needed.
func InstanceVersion() (Version, error) {
	if _, err := useLoader(nil); err != nil {
		return 0, err
	}
	var v C.uint32_t
	if err := check("vkEnumerateInstanceVersion", int32(C.vka_instance_version(&v))); err != nil {
		return 0, err
	}
	return Version(v), nil
}

// Version is a packed Vulkan version number (VK_MAKE_API_VERSION).
type Version uint32

// MakeVersion packs major.minor.patch.
func MakeVersion(major, minor, patch uint32) Version {
	return Version(major<<22 | minor<<12 | patch)
}

// Major, Minor and Patch unpack the version.
func (v Version) Major() uint32 { return uint32(v) >> 22 & 0x7f }
func (v Version) Minor() uint32 { return uint32(v) >> 12 & 0x3ff }
func (v Version) Patch() uint32 { return uint32(v) & 0xfff }

func (v Version) String() string {
	return fmt.Sprintf("%d.%d.%d", v.Major(), v.Minor(), v.Patch())
}

// cstrings copies Go strings to one C array of C strings; free releases both.
func cstrings(ss []string) (arr **C.char, free func()) {
	if len(ss) == 0 {
		return nil, func() {}
	}
	ptrSize := unsafe.Sizeof(uintptr(0))
	mem := C.malloc(C.size_t(uintptr(len(ss)) * ptrSize))
	list := unsafe.Slice((**C.char)(mem), len(ss))
	for i, s := range ss {
		list[i] = C.CString(s)
	}
	return (**C.char)(mem), func() {
		for _, p := range list {
			C.free(unsafe.Pointer(p))
		}
		C.free(mem)
	}
}
