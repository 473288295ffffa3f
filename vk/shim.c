#include "shim.h"

#include <dlfcn.h>
#include <string.h>

// Exported from Go (messenger.go).
extern void vkaGoDebugMessage(uintptr_t user, int32_t severity, int32_t types, char* id, char* msg);

static PFN_vkGetInstanceProcAddr gipa;

int vka_load_library(const char* name) {
	void* lib = dlopen(name, RTLD_NOW | RTLD_LOCAL);
	if (!lib) return 0;
	gipa = (PFN_vkGetInstanceProcAddr)dlsym(lib, "vkGetInstanceProcAddr");
	return gipa != NULL;
}

void vka_set_gipa(void* p) { gipa = (PFN_vkGetInstanceProcAddr)p; }

// vka_pin_library holds a reference to a library another component loaded
// (GLFW's Vulkan loader), so that it stays mapped after that component lets
// go of it (glfwTerminate).
int vka_pin_library(const char* name) { return dlopen(name, RTLD_NOW | RTLD_LOCAL) != NULL; }
void* vka_gipa(void) { return (void*)gipa; }

int32_t vka_instance_version(uint32_t* version) {
	PFN_vkEnumerateInstanceVersion f =
		(PFN_vkEnumerateInstanceVersion)gipa(NULL, "vkEnumerateInstanceVersion");
	if (!f) {
		*version = VK_API_VERSION_1_0;
		return VK_SUCCESS;
	}
	return f(version);
}

int32_t vka_layer_present(const char* name) {
	PFN_vkEnumerateInstanceLayerProperties f =
		(PFN_vkEnumerateInstanceLayerProperties)gipa(NULL, "vkEnumerateInstanceLayerProperties");
	uint32_t n = 0;
	if (!f || f(&n, NULL) != VK_SUCCESS || n == 0) return 0;
	VkLayerProperties* props = calloc(n, sizeof *props);
	int found = 0;
	if (props && f(&n, props) >= 0) {
		for (uint32_t i = 0; i < n; i++)
			if (strcmp(props[i].layerName, name) == 0) found = 1;
	}
	free(props);
	return found;
}

int32_t vka_instance_extension_present(const char* name) {
	PFN_vkEnumerateInstanceExtensionProperties f =
		(PFN_vkEnumerateInstanceExtensionProperties)gipa(NULL, "vkEnumerateInstanceExtensionProperties");
	uint32_t n = 0;
	if (!f || f(NULL, &n, NULL) != VK_SUCCESS || n == 0) return 0;
	VkExtensionProperties* props = calloc(n, sizeof *props);
	int found = 0;
	if (props && f(NULL, &n, props) >= 0) {
		for (uint32_t i = 0; i < n; i++)
			if (strcmp(props[i].extensionName, name) == 0) found = 1;
	}
	free(props);
	return found;
}

static VKAPI_ATTR VkBool32 VKAPI_CALL messenger_cb(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
	VkDebugUtilsMessageTypeFlagsEXT types, const VkDebugUtilsMessengerCallbackDataEXT* data, void* user) {
	vkaGoDebugMessage((uintptr_t)user, (int32_t)severity, (int32_t)types,
		(char*)(data->pMessageIdName ? data->pMessageIdName : ""),
		(char*)(data->pMessage ? data->pMessage : ""));
	return VK_FALSE;
}

static void messenger_info(VkDebugUtilsMessengerCreateInfoEXT* mi, uintptr_t userdata) {
	memset(mi, 0, sizeof *mi);
	mi->sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT;
	mi->messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
		VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT;
	mi->messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
		VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
		VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT;
	mi->pfnUserCallback = messenger_cb;
	mi->pUserData = (void*)userdata;
}

int32_t vka_create_instance(const char* app, uint32_t apiVersion,
	const char** layers, uint32_t nlayers, const char** exts, uint32_t nexts,
	int validation, int syncValidation, uintptr_t userdata, uintptr_t* out, uint64_t* messenger) {
	*out = 0;
	*messenger = 0;
	PFN_vkCreateInstance create = (PFN_vkCreateInstance)gipa(NULL, "vkCreateInstance");
	if (!create) return VK_ERROR_INITIALIZATION_FAILED;

	VkApplicationInfo ai = {VK_STRUCTURE_TYPE_APPLICATION_INFO};
	ai.pApplicationName = app;
	ai.pEngineName = "vkassets";
	ai.apiVersion = apiVersion;

	VkDebugUtilsMessengerCreateInfoEXT mi;
	messenger_info(&mi, userdata);
	VkValidationFeatureEnableEXT enables[] = {VK_VALIDATION_FEATURE_ENABLE_SYNCHRONIZATION_VALIDATION_EXT};
	VkValidationFeaturesEXT vf = {VK_STRUCTURE_TYPE_VALIDATION_FEATURES_EXT};
	vf.enabledValidationFeatureCount = 1;
	vf.pEnabledValidationFeatures = enables;

	VkInstanceCreateInfo ci = {VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO};
	ci.pApplicationInfo = &ai;
	ci.enabledLayerCount = nlayers;
	ci.ppEnabledLayerNames = layers;
	ci.enabledExtensionCount = nexts;
	ci.ppEnabledExtensionNames = exts;
	if (validation) {
		// The messenger in pNext also sees vkCreateInstance/vkDestroyInstance.
		ci.pNext = &mi;
		if (syncValidation) mi.pNext = &vf;
	}

	vka_instance* t = calloc(1, sizeof *t);
	if (!t) return VK_ERROR_OUT_OF_HOST_MEMORY;
	VkResult r = create(&ci, NULL, &t->handle);
	if (r != VK_SUCCESS) {
		free(t);
		return r;
	}
#define X(n) t->n = (PFN_##n)gipa(t->handle, #n);
	VKA_INSTANCE_FNS(X)
#undef X
	if (validation && t->vkCreateDebugUtilsMessengerEXT) {
		VkDebugUtilsMessengerEXT m = VK_NULL_HANDLE;
		mi.pNext = NULL;
		r = t->vkCreateDebugUtilsMessengerEXT(t->handle, &mi, NULL, &m);
		if (r != VK_SUCCESS) {
			t->vkDestroyInstance(t->handle, NULL);
			free(t);
			return r;
		}
		*messenger = (uint64_t)m;
	}
	*out = (uintptr_t)t;
	return VK_SUCCESS;
}

void vka_destroy_instance(uintptr_t inst, uint64_t messenger) {
	vka_instance* t = (vka_instance*)inst;
	if (messenger && t->vkDestroyDebugUtilsMessengerEXT)
		t->vkDestroyDebugUtilsMessengerEXT(t->handle, (VkDebugUtilsMessengerEXT)messenger, NULL);
	t->vkDestroyInstance(t->handle, NULL);
	free(t);
}

uintptr_t vka_instance_handle(uintptr_t inst) { return (uintptr_t)((vka_instance*)inst)->handle; }
void* vka_instance_ptr(uintptr_t inst) { return (void*)((vka_instance*)inst)->handle; }
void* vka_physical_ptr(uintptr_t phys) { return (void*)phys; }

void vka_destroy_surface(uintptr_t inst, uint64_t surface) {
	vka_instance* t = (vka_instance*)inst;
	if (surface && t->vkDestroySurfaceKHR) t->vkDestroySurfaceKHR(t->handle, (VkSurfaceKHR)surface, NULL);
}

int32_t vka_enumerate_physical_devices(uintptr_t inst, uint32_t* count, uintptr_t* out) {
	vka_instance* t = (vka_instance*)inst;
	return t->vkEnumeratePhysicalDevices(t->handle, count, (VkPhysicalDevice*)out);
}

void vka_memory_budget(uintptr_t inst, uintptr_t phys, vka_heap_budget* out) {
	vka_instance* t = (vka_instance*)inst;
	VkPhysicalDeviceMemoryBudgetPropertiesEXT b = {VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_BUDGET_PROPERTIES_EXT};
	VkPhysicalDeviceMemoryProperties2 p = {VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_PROPERTIES_2};
	p.pNext = &b;
	t->vkGetPhysicalDeviceMemoryProperties2((VkPhysicalDevice)phys, &p);
	memcpy(out->budget, b.heapBudget, sizeof out->budget);
	memcpy(out->usage, b.heapUsage, sizeof out->usage);
}

int vka_timeline_supported(uintptr_t inst, uintptr_t phys) {
	vka_instance* t = (vka_instance*)inst;
	VkPhysicalDeviceProperties props;
	t->vkGetPhysicalDeviceProperties((VkPhysicalDevice)phys, &props);
	if (props.apiVersion < VK_API_VERSION_1_2 || !t->vkGetPhysicalDeviceFeatures2) return 0;
	VkPhysicalDeviceTimelineSemaphoreFeatures ts = {VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_TIMELINE_SEMAPHORE_FEATURES};
	VkPhysicalDeviceFeatures2 f = {VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
	f.pNext = &ts;
	t->vkGetPhysicalDeviceFeatures2((VkPhysicalDevice)phys, &f);
	return ts.timelineSemaphore == VK_TRUE;
}

uint32_t vka_optional_features(uintptr_t inst, uintptr_t phys, int bda, int priority, int pageable) {
	vka_instance* t = (vka_instance*)inst;
	VkPhysicalDeviceProperties props;
	t->vkGetPhysicalDeviceProperties((VkPhysicalDevice)phys, &props);
	if (!t->vkGetPhysicalDeviceFeatures2) return 0;
	VkPhysicalDeviceBufferDeviceAddressFeatures b = {VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_BUFFER_DEVICE_ADDRESS_FEATURES};
	VkPhysicalDeviceMemoryPriorityFeaturesEXT mp = {VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_PRIORITY_FEATURES_EXT};
	VkPhysicalDevicePageableDeviceLocalMemoryFeaturesEXT pg = {VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PAGEABLE_DEVICE_LOCAL_MEMORY_FEATURES_EXT};
	VkPhysicalDeviceFeatures2 f = {VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
	void** next = &f.pNext;
	bda = bda && props.apiVersion >= VK_API_VERSION_1_2;
	if (bda) { *next = &b; next = &b.pNext; }
	if (priority) { *next = &mp; next = &mp.pNext; }
	if (pageable) { *next = &pg; next = &pg.pNext; }
	t->vkGetPhysicalDeviceFeatures2((VkPhysicalDevice)phys, &f);
	uint32_t out = 0;
	if (bda && b.bufferDeviceAddress) out |= VKA_FEATURE_BDA;
	if (priority && mp.memoryPriority) out |= VKA_FEATURE_MEMORY_PRIORITY;
	if (pageable && pg.pageableDeviceLocalMemory) out |= VKA_FEATURE_PAGEABLE;
	return out;
}

// load_device_table fills d's function pointers from its VkDevice; without
// timeline semaphores their commands stay NULL, so that asking for them
// reports VK_ERROR_FEATURE_NOT_PRESENT.
static void load_device_table(vka_instance* t, vka_device* d, int timeline, int debugUtils) {
#define X(n) d->n = (PFN_##n)t->vkGetDeviceProcAddr(d->handle, #n);
	VKA_DEVICE_FNS(X)
#undef X
	d->setName = debugUtils ? t->vkSetDebugUtilsObjectNameEXT : NULL;
	d->getBufferAddress = (PFN_vkGetBufferDeviceAddress)t->vkGetDeviceProcAddr(d->handle, "vkGetBufferDeviceAddress");
	d->setMemoryPriority = (PFN_vkSetDeviceMemoryPriorityEXT)t->vkGetDeviceProcAddr(d->handle, "vkSetDeviceMemoryPriorityEXT");
	if (!timeline) {
		d->vkGetSemaphoreCounterValue = NULL;
		d->vkWaitSemaphores = NULL;
		d->vkSignalSemaphore = NULL;
	}
}

int32_t vka_create_device(uintptr_t inst, uintptr_t phys, uint32_t family, int32_t transfer_family,
	const char** exts, uint32_t nexts, int timeline, int bc, uint32_t features, int debugUtils, uintptr_t* out) {
	vka_instance* t = (vka_instance*)inst;
	*out = 0;
	float prio = 1.0f;
	VkDeviceQueueCreateInfo qi[2] = {{VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO}, {VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO}};
	qi[0].queueFamilyIndex = family;
	qi[0].queueCount = 1;
	qi[0].pQueuePriorities = &prio;
	uint32_t nqi = 1;
	if (transfer_family >= 0 && (uint32_t)transfer_family != family) {
		qi[1].queueFamilyIndex = (uint32_t)transfer_family;
		qi[1].queueCount = 1;
		qi[1].pQueuePriorities = &prio;
		nqi = 2;
	}

	VkPhysicalDeviceTimelineSemaphoreFeatures ts = {VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_TIMELINE_SEMAPHORE_FEATURES};
	ts.timelineSemaphore = VK_TRUE;

	VkPhysicalDeviceFeatures feats = {0};
	feats.textureCompressionBC = bc ? VK_TRUE : VK_FALSE;
	VkPhysicalDeviceBufferDeviceAddressFeatures bda = {VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_BUFFER_DEVICE_ADDRESS_FEATURES};
	bda.bufferDeviceAddress = VK_TRUE;
	VkPhysicalDeviceMemoryPriorityFeaturesEXT mp = {VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_PRIORITY_FEATURES_EXT};
	mp.memoryPriority = VK_TRUE;
	VkPhysicalDevicePageableDeviceLocalMemoryFeaturesEXT pg = {VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PAGEABLE_DEVICE_LOCAL_MEMORY_FEATURES_EXT};
	pg.pageableDeviceLocalMemory = VK_TRUE;

	VkDeviceCreateInfo ci = {VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO};
	ci.pEnabledFeatures = &feats;
	ci.queueCreateInfoCount = nqi;
	ci.pQueueCreateInfos = qi;
	ci.enabledExtensionCount = nexts;
	ci.ppEnabledExtensionNames = exts;
	const void** next = &ci.pNext;
	if (timeline) { *next = &ts; next = (const void**)&ts.pNext; }
	if (features & VKA_FEATURE_BDA) { *next = &bda; next = (const void**)&bda.pNext; }
	if (features & VKA_FEATURE_MEMORY_PRIORITY) { *next = &mp; next = (const void**)&mp.pNext; }
	if (features & VKA_FEATURE_PAGEABLE) { *next = &pg; next = (const void**)&pg.pNext; }

	vka_device* d = calloc(1, sizeof *d);
	if (!d) return VK_ERROR_OUT_OF_HOST_MEMORY;
	VkResult r = t->vkCreateDevice((VkPhysicalDevice)phys, &ci, NULL, &d->handle);
	if (r != VK_SUCCESS) {
		free(d);
		return r;
	}
	load_device_table(t, d, timeline, debugUtils);
	*out = (uintptr_t)d;
	return VK_SUCCESS;
}

#define DEV vka_device* d = (vka_device*)dev

void vka_destroy_device(uintptr_t dev) {
	DEV;
	d->vkDestroyDevice(d->handle, NULL);
	free(d);
}

uintptr_t vka_device_handle(uintptr_t dev) { return (uintptr_t)((vka_device*)dev)->handle; }
void* vka_device_ptr(uintptr_t dev) { return (void*)((vka_device*)dev)->handle; }

uintptr_t vka_get_queue(uintptr_t dev, uint32_t family, uint32_t index) {
	DEV;
	VkQueue q = VK_NULL_HANDLE;
	d->vkGetDeviceQueue(d->handle, family, index, &q);
	return (uintptr_t)q;
}

int32_t vka_device_wait_idle(uintptr_t dev) {
	DEV;
	return d->vkDeviceWaitIdle(d->handle);
}

int32_t vka_queue_wait_idle(uintptr_t dev, uintptr_t queue) {
	DEV;
	return d->vkQueueWaitIdle((VkQueue)queue);
}

int32_t vka_set_name(uintptr_t dev, int32_t type, uint64_t handle, const char* name) {
	DEV;
	if (!d->setName) return VK_SUCCESS;
	VkDebugUtilsObjectNameInfoEXT ni = {VK_STRUCTURE_TYPE_DEBUG_UTILS_OBJECT_NAME_INFO_EXT};
	ni.objectType = (VkObjectType)type;
	ni.objectHandle = handle;
	ni.pObjectName = name;
	return d->setName(d->handle, &ni);
}

vka_result vka_allocate_memory(uintptr_t dev, uint64_t size, uint32_t type,
	uint64_t dedicatedBuffer, uint64_t dedicatedImage, uint32_t flags, int hasPriority, float priority) {
	DEV;
	VkMemoryDedicatedAllocateInfo di = {VK_STRUCTURE_TYPE_MEMORY_DEDICATED_ALLOCATE_INFO};
	di.buffer = (VkBuffer)dedicatedBuffer;
	di.image = (VkImage)dedicatedImage;
	VkMemoryAllocateFlagsInfo fi = {VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_FLAGS_INFO};
	fi.flags = flags;
	VkMemoryPriorityAllocateInfoEXT pi = {VK_STRUCTURE_TYPE_MEMORY_PRIORITY_ALLOCATE_INFO_EXT};
	pi.priority = priority;
	VkMemoryAllocateInfo ai = {VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO};
	ai.allocationSize = size;
	ai.memoryTypeIndex = type;
	const void** next = &ai.pNext;
	if (dedicatedBuffer || dedicatedImage) { *next = &di; next = &di.pNext; }
	if (flags) { *next = &fi; next = &fi.pNext; }
	if (hasPriority) { *next = &pi; next = &pi.pNext; }
	VkDeviceMemory m = VK_NULL_HANDLE;
	VkResult r = d->vkAllocateMemory(d->handle, &ai, NULL, &m);
	return (vka_result){(uint64_t)m, r, 0};
}

uint64_t vka_buffer_address(uintptr_t dev, uint64_t buffer) {
	DEV;
	if (!d->getBufferAddress) return 0;
	VkBufferDeviceAddressInfo bi = {VK_STRUCTURE_TYPE_BUFFER_DEVICE_ADDRESS_INFO};
	bi.buffer = (VkBuffer)buffer;
	return d->getBufferAddress(d->handle, &bi);
}

int32_t vka_set_memory_priority(uintptr_t dev, uint64_t mem, float priority) {
	DEV;
	if (!d->setMemoryPriority) return VK_ERROR_FEATURE_NOT_PRESENT;
	d->setMemoryPriority(d->handle, (VkDeviceMemory)mem, priority);
	return VK_SUCCESS;
}

void vka_free_memory(uintptr_t dev, uint64_t mem) {
	DEV;
	d->vkFreeMemory(d->handle, (VkDeviceMemory)mem, NULL);
}

int32_t vka_map_memory(uintptr_t dev, uint64_t mem, uint64_t offset, uint64_t size, void** out) {
	DEV;
	void* p = NULL;
	VkResult r = d->vkMapMemory(d->handle, (VkDeviceMemory)mem, offset, size, 0, &p);
	*out = p;
	return r;
}

void vka_unmap_memory(uintptr_t dev, uint64_t mem) {
	DEV;
	d->vkUnmapMemory(d->handle, (VkDeviceMemory)mem);
}

static void mapped_range(VkMappedMemoryRange* r, uint64_t mem, uint64_t offset, uint64_t size) {
	memset(r, 0, sizeof *r);
	r->sType = VK_STRUCTURE_TYPE_MAPPED_MEMORY_RANGE;
	r->memory = (VkDeviceMemory)mem;
	r->offset = offset;
	r->size = size;
}

int32_t vka_flush_memory(uintptr_t dev, uint64_t mem, uint64_t offset, uint64_t size) {
	DEV;
	VkMappedMemoryRange r;
	mapped_range(&r, mem, offset, size);
	return d->vkFlushMappedMemoryRanges(d->handle, 1, &r);
}

int32_t vka_invalidate_memory(uintptr_t dev, uint64_t mem, uint64_t offset, uint64_t size) {
	DEV;
	VkMappedMemoryRange r;
	mapped_range(&r, mem, offset, size);
	return d->vkInvalidateMappedMemoryRanges(d->handle, 1, &r);
}

static void requirements(const VkMemoryRequirements2* r, const VkMemoryDedicatedRequirements* dr,
	vka_memory_requirements* out) {
	out->size = r->memoryRequirements.size;
	out->alignment = r->memoryRequirements.alignment;
	out->typeBits = r->memoryRequirements.memoryTypeBits;
	out->prefersDedicated = dr->prefersDedicatedAllocation;
	out->requiresDedicated = dr->requiresDedicatedAllocation;
	out->pad = 0;
}

vka_memory_requirements vka_buffer_requirements(uintptr_t dev, uint64_t buf) {
	vka_memory_requirements out;
	DEV;
	VkBufferMemoryRequirementsInfo2 in = {VK_STRUCTURE_TYPE_BUFFER_MEMORY_REQUIREMENTS_INFO_2};
	in.buffer = (VkBuffer)buf;
	VkMemoryDedicatedRequirements dr = {VK_STRUCTURE_TYPE_MEMORY_DEDICATED_REQUIREMENTS};
	VkMemoryRequirements2 r = {VK_STRUCTURE_TYPE_MEMORY_REQUIREMENTS_2};
	r.pNext = &dr;
	d->vkGetBufferMemoryRequirements2(d->handle, &in, &r);
	requirements(&r, &dr, &out);
	return out;
}

vka_memory_requirements vka_image_requirements(uintptr_t dev, uint64_t img) {
	vka_memory_requirements out;
	DEV;
	VkImageMemoryRequirementsInfo2 in = {VK_STRUCTURE_TYPE_IMAGE_MEMORY_REQUIREMENTS_INFO_2};
	in.image = (VkImage)img;
	VkMemoryDedicatedRequirements dr = {VK_STRUCTURE_TYPE_MEMORY_DEDICATED_REQUIREMENTS};
	VkMemoryRequirements2 r = {VK_STRUCTURE_TYPE_MEMORY_REQUIREMENTS_2};
	r.pNext = &dr;
	d->vkGetImageMemoryRequirements2(d->handle, &in, &r);
	requirements(&r, &dr, &out);
	return out;
}

int32_t vka_bind_buffer(uintptr_t dev, uint64_t buf, uint64_t mem, uint64_t offset) {
	DEV;
	return d->vkBindBufferMemory(d->handle, (VkBuffer)buf, (VkDeviceMemory)mem, offset);
}

int32_t vka_bind_image(uintptr_t dev, uint64_t img, uint64_t mem, uint64_t offset) {
	DEV;
	return d->vkBindImageMemory(d->handle, (VkImage)img, (VkDeviceMemory)mem, offset);
}

vka_result vka_create_buffer(uintptr_t dev, uint64_t size, uint32_t usage, uint32_t flags, vka_families fam) {
	DEV;
	VkBufferCreateInfo ci = {VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
	ci.size = size;
	ci.usage = usage;
	ci.flags = flags;
	ci.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
	if (fam.count > 1) {
		ci.sharingMode = VK_SHARING_MODE_CONCURRENT;
		ci.queueFamilyIndexCount = fam.count;
		ci.pQueueFamilyIndices = fam.index;
	}
	VkBuffer b = VK_NULL_HANDLE;
	VkResult r = d->vkCreateBuffer(d->handle, &ci, NULL, &b);
	return (vka_result){(uint64_t)b, r, 0};
}

void vka_destroy_buffer(uintptr_t dev, uint64_t buf) {
	DEV;
	d->vkDestroyBuffer(d->handle, (VkBuffer)buf, NULL);
}

vka_result vka_create_image(uintptr_t dev, vka_image_info in) {
	DEV;
	VkImageCreateInfo ci = {VK_STRUCTURE_TYPE_IMAGE_CREATE_INFO};
	ci.flags = in.flags;
	ci.imageType = (VkImageType)in.imageType;
	ci.format = (VkFormat)in.format;
	ci.extent.width = in.width;
	ci.extent.height = in.height;
	ci.extent.depth = in.depth;
	ci.mipLevels = in.mipLevels;
	ci.arrayLayers = in.arrayLayers;
	ci.samples = (VkSampleCountFlagBits)in.samples;
	ci.tiling = (VkImageTiling)in.tiling;
	ci.usage = in.usage;
	ci.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
	if (in.families.count > 1) {
		ci.sharingMode = VK_SHARING_MODE_CONCURRENT;
		ci.queueFamilyIndexCount = in.families.count;
		ci.pQueueFamilyIndices = in.families.index;
	}
	ci.initialLayout = (VkImageLayout)in.initialLayout;
	VkImage img = VK_NULL_HANDLE;
	VkResult r = d->vkCreateImage(d->handle, &ci, NULL, &img);
	return (vka_result){(uint64_t)img, r, 0};
}

void vka_destroy_image(uintptr_t dev, uint64_t img) {
	DEV;
	d->vkDestroyImage(d->handle, (VkImage)img, NULL);
}

vka_result vka_create_image_view(uintptr_t dev, uint64_t img, uint32_t viewType, uint32_t format,
	uint32_t aspect, uint32_t baseMip, uint32_t mips, uint32_t baseLayer, uint32_t layers) {
	DEV;
	VkImageViewCreateInfo ci = {VK_STRUCTURE_TYPE_IMAGE_VIEW_CREATE_INFO};
	ci.image = (VkImage)img;
	ci.viewType = (VkImageViewType)viewType;
	ci.format = (VkFormat)format;
	ci.subresourceRange.aspectMask = aspect;
	ci.subresourceRange.baseMipLevel = baseMip;
	ci.subresourceRange.levelCount = mips;
	ci.subresourceRange.baseArrayLayer = baseLayer;
	ci.subresourceRange.layerCount = layers;
	VkImageView v = VK_NULL_HANDLE;
	VkResult r = d->vkCreateImageView(d->handle, &ci, NULL, &v);
	return (vka_result){(uint64_t)v, r, 0};
}

void vka_destroy_image_view(uintptr_t dev, uint64_t view) {
	DEV;
	d->vkDestroyImageView(d->handle, (VkImageView)view, NULL);
}

vka_result vka_create_sampler(uintptr_t dev, uint32_t magFilter, uint32_t minFilter, uint32_t mipmapMode,
                               uint32_t addressU, uint32_t addressV, uint32_t addressW, float maxLod) {
	DEV;
	VkSamplerCreateInfo ci = {VK_STRUCTURE_TYPE_SAMPLER_CREATE_INFO};
	ci.magFilter = (VkFilter)magFilter;
	ci.minFilter = (VkFilter)minFilter;
	ci.mipmapMode = (VkSamplerMipmapMode)mipmapMode;
	ci.addressModeU = (VkSamplerAddressMode)addressU;
	ci.addressModeV = (VkSamplerAddressMode)addressV;
	ci.addressModeW = (VkSamplerAddressMode)addressW;
	ci.maxLod = maxLod < 0 ? VK_LOD_CLAMP_NONE : maxLod;
	VkSampler s = VK_NULL_HANDLE;
	VkResult r = d->vkCreateSampler(d->handle, &ci, NULL, &s);
	return (vka_result){(uint64_t)s, r, 0};
}

void vka_destroy_sampler(uintptr_t dev, uint64_t s) {
	DEV;
	d->vkDestroySampler(d->handle, (VkSampler)s, NULL);
}

vka_result vka_create_fence(uintptr_t dev, int signaled) {
	DEV;
	VkFenceCreateInfo ci = {VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
	if (signaled) ci.flags = VK_FENCE_CREATE_SIGNALED_BIT;
	VkFence f = VK_NULL_HANDLE;
	VkResult r = d->vkCreateFence(d->handle, &ci, NULL, &f);
	return (vka_result){(uint64_t)f, r, 0};
}

void vka_destroy_fence(uintptr_t dev, uint64_t f) {
	DEV;
	d->vkDestroyFence(d->handle, (VkFence)f, NULL);
}

int32_t vka_reset_fence(uintptr_t dev, uint64_t f) {
	DEV;
	VkFence fence = (VkFence)f;
	return d->vkResetFences(d->handle, 1, &fence);
}

int32_t vka_fence_status(uintptr_t dev, uint64_t f) {
	DEV;
	return d->vkGetFenceStatus(d->handle, (VkFence)f);
}

int32_t vka_wait_fence(uintptr_t dev, uint64_t f, uint64_t timeout) {
	DEV;
	VkFence fence = (VkFence)f;
	return d->vkWaitForFences(d->handle, 1, &fence, VK_TRUE, timeout);
}

vka_result vka_create_semaphore(uintptr_t dev, int timeline, uint64_t initial) {
	DEV;
	VkSemaphoreTypeCreateInfo ti = {VK_STRUCTURE_TYPE_SEMAPHORE_TYPE_CREATE_INFO};
	ti.semaphoreType = VK_SEMAPHORE_TYPE_TIMELINE;
	ti.initialValue = initial;
	VkSemaphoreCreateInfo ci = {VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO};
	if (timeline) {
		if (!d->vkWaitSemaphores) return (vka_result){0, VK_ERROR_FEATURE_NOT_PRESENT, 0};
		ci.pNext = &ti;
	}
	VkSemaphore s = VK_NULL_HANDLE;
	VkResult r = d->vkCreateSemaphore(d->handle, &ci, NULL, &s);
	return (vka_result){(uint64_t)s, r, 0};
}

void vka_destroy_semaphore(uintptr_t dev, uint64_t s) {
	DEV;
	d->vkDestroySemaphore(d->handle, (VkSemaphore)s, NULL);
}

vka_result vka_semaphore_value(uintptr_t dev, uint64_t s) {
	DEV;
	vka_result res = {0, VK_ERROR_FEATURE_NOT_PRESENT, 0};
	if (d->vkGetSemaphoreCounterValue)
		res.result = d->vkGetSemaphoreCounterValue(d->handle, (VkSemaphore)s, &res.value);
	return res;
}

int32_t vka_wait_semaphore(uintptr_t dev, uint64_t s, uint64_t value, uint64_t timeout) {
	DEV;
	if (!d->vkWaitSemaphores) return VK_ERROR_FEATURE_NOT_PRESENT;
	VkSemaphore sem = (VkSemaphore)s;
	VkSemaphoreWaitInfo wi = {VK_STRUCTURE_TYPE_SEMAPHORE_WAIT_INFO};
	wi.semaphoreCount = 1;
	wi.pSemaphores = &sem;
	wi.pValues = &value;
	return d->vkWaitSemaphores(d->handle, &wi, timeout);
}

int32_t vka_signal_semaphore(uintptr_t dev, uint64_t s, uint64_t value) {
	DEV;
	if (!d->vkSignalSemaphore) return VK_ERROR_FEATURE_NOT_PRESENT;
	VkSemaphoreSignalInfo si = {VK_STRUCTURE_TYPE_SEMAPHORE_SIGNAL_INFO};
	si.semaphore = (VkSemaphore)s;
	si.value = value;
	return d->vkSignalSemaphore(d->handle, &si);
}

vka_result vka_create_command_pool(uintptr_t dev, uint32_t family, uint32_t flags) {
	DEV;
	VkCommandPoolCreateInfo ci = {VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO};
	ci.flags = flags;
	ci.queueFamilyIndex = family;
	VkCommandPool p = VK_NULL_HANDLE;
	VkResult r = d->vkCreateCommandPool(d->handle, &ci, NULL, &p);
	return (vka_result){(uint64_t)p, r, 0};
}

void vka_destroy_command_pool(uintptr_t dev, uint64_t pool) {
	DEV;
	d->vkDestroyCommandPool(d->handle, (VkCommandPool)pool, NULL);
}

int32_t vka_reset_command_pool(uintptr_t dev, uint64_t pool) {
	DEV;
	return d->vkResetCommandPool(d->handle, (VkCommandPool)pool, 0);
}

vka_result vka_allocate_command_buffer(uintptr_t dev, uint64_t pool) {
	DEV;
	VkCommandBufferAllocateInfo ai = {VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
	ai.commandPool = (VkCommandPool)pool;
	ai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
	ai.commandBufferCount = 1;
	VkCommandBuffer c = VK_NULL_HANDLE;
	VkResult r = d->vkAllocateCommandBuffers(d->handle, &ai, &c);
	return (vka_result){(uint64_t)(uintptr_t)c, r, 0};
}

void vka_free_command_buffer(uintptr_t dev, uint64_t pool, uintptr_t cmd) {
	DEV;
	VkCommandBuffer c = (VkCommandBuffer)cmd;
	d->vkFreeCommandBuffers(d->handle, (VkCommandPool)pool, 1, &c);
}

int32_t vka_begin_command_buffer(uintptr_t dev, uintptr_t cmd, uint32_t flags) {
	DEV;
	VkCommandBufferBeginInfo bi = {VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
	bi.flags = flags;
	return d->vkBeginCommandBuffer((VkCommandBuffer)cmd, &bi);
}

int32_t vka_end_command_buffer(uintptr_t dev, uintptr_t cmd) {
	DEV;
	return d->vkEndCommandBuffer((VkCommandBuffer)cmd);
}

#define VKA_MAX_SUBMIT_SEMAPHORES 8

int32_t vka_queue_submit(uintptr_t dev, uintptr_t queue, const uintptr_t* cmds, uint32_t ncmds,
	const vka_semaphore_submit* waits, uint32_t nwaits,
	const vka_semaphore_submit* signals, uint32_t nsignals, int timeline, uint64_t fence) {
	DEV;
	if (nwaits > VKA_MAX_SUBMIT_SEMAPHORES || nsignals > VKA_MAX_SUBMIT_SEMAPHORES)
		return VK_ERROR_TOO_MANY_OBJECTS;
	VkSemaphore ws[VKA_MAX_SUBMIT_SEMAPHORES], ss[VKA_MAX_SUBMIT_SEMAPHORES];
	VkPipelineStageFlags stages[VKA_MAX_SUBMIT_SEMAPHORES];
	uint64_t wv[VKA_MAX_SUBMIT_SEMAPHORES], sv[VKA_MAX_SUBMIT_SEMAPHORES];
	for (uint32_t i = 0; i < nwaits; i++) {
		ws[i] = (VkSemaphore)waits[i].semaphore;
		wv[i] = waits[i].value;
		stages[i] = waits[i].stage;
	}
	for (uint32_t i = 0; i < nsignals; i++) {
		ss[i] = (VkSemaphore)signals[i].semaphore;
		sv[i] = signals[i].value;
	}
	VkTimelineSemaphoreSubmitInfo ti = {VK_STRUCTURE_TYPE_TIMELINE_SEMAPHORE_SUBMIT_INFO};
	ti.waitSemaphoreValueCount = nwaits;
	ti.pWaitSemaphoreValues = wv;
	ti.signalSemaphoreValueCount = nsignals;
	ti.pSignalSemaphoreValues = sv;
	VkSubmitInfo si = {VK_STRUCTURE_TYPE_SUBMIT_INFO};
	if (timeline) si.pNext = &ti;
	si.waitSemaphoreCount = nwaits;
	si.pWaitSemaphores = ws;
	si.pWaitDstStageMask = stages;
	si.commandBufferCount = ncmds;
	si.pCommandBuffers = (const VkCommandBuffer*)cmds;
	si.signalSemaphoreCount = nsignals;
	si.pSignalSemaphores = ss;
	return d->vkQueueSubmit((VkQueue)queue, 1, &si, (VkFence)fence);
}

void vka_cmd_copy_buffer(uintptr_t dev, uintptr_t cmd, uint64_t src, uint64_t dst,
	uint64_t srcOffset, uint64_t dstOffset, uint64_t size) {
	DEV;
	VkBufferCopy r = {srcOffset, dstOffset, size};
	d->vkCmdCopyBuffer((VkCommandBuffer)cmd, (VkBuffer)src, (VkBuffer)dst, 1, &r);
}

void vka_cmd_fill_buffer(uintptr_t dev, uintptr_t cmd, uint64_t buf, uint64_t offset, uint64_t size, uint32_t data) {
	DEV;
	d->vkCmdFillBuffer((VkCommandBuffer)cmd, (VkBuffer)buf, offset, size, data);
}

static void image_copy(const vka_buffer_image_copy* in, VkBufferImageCopy* r) {
	memset(r, 0, sizeof *r);
	r->bufferOffset = in->bufferOffset;
	r->bufferRowLength = in->bufferRowLength;
	r->bufferImageHeight = in->bufferImageHeight;
	r->imageSubresource.aspectMask = in->aspect;
	r->imageSubresource.mipLevel = in->mipLevel;
	r->imageSubresource.baseArrayLayer = in->baseLayer;
	r->imageSubresource.layerCount = in->layers;
	r->imageOffset.x = in->x;
	r->imageOffset.y = in->y;
	r->imageOffset.z = in->z;
	r->imageExtent.width = in->width;
	r->imageExtent.height = in->height;
	r->imageExtent.depth = in->depth;
}

void vka_cmd_copy_buffer_to_image(uintptr_t dev, uintptr_t cmd, uint64_t buf, uint64_t img,
	uint32_t layout, vka_buffer_image_copy region) {
	DEV;
	VkBufferImageCopy r;
	image_copy(&region, &r);
	d->vkCmdCopyBufferToImage((VkCommandBuffer)cmd, (VkBuffer)buf, (VkImage)img, (VkImageLayout)layout, 1, &r);
}

void vka_cmd_copy_image_to_buffer(uintptr_t dev, uintptr_t cmd, uint64_t img, uint32_t layout,
	uint64_t buf, vka_buffer_image_copy region) {
	DEV;
	VkBufferImageCopy r;
	image_copy(&region, &r);
	d->vkCmdCopyImageToBuffer((VkCommandBuffer)cmd, (VkImage)img, (VkImageLayout)layout, (VkBuffer)buf, 1, &r);
}

void vka_cmd_barrier(uintptr_t dev, uintptr_t cmd, vka_barrier bv) {
	DEV;
	const vka_barrier* b = &bv;
	VkMemoryBarrier mb = {VK_STRUCTURE_TYPE_MEMORY_BARRIER};
	VkBufferMemoryBarrier bb = {VK_STRUCTURE_TYPE_BUFFER_MEMORY_BARRIER};
	VkImageMemoryBarrier ib = {VK_STRUCTURE_TYPE_IMAGE_MEMORY_BARRIER};
	uint32_t nm = 0, nb = 0, ni = 0;
	if (b->image) {
		ib.srcAccessMask = b->srcAccess;
		ib.dstAccessMask = b->dstAccess;
		ib.oldLayout = (VkImageLayout)b->oldLayout;
		ib.newLayout = (VkImageLayout)b->newLayout;
		ib.srcQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED;
		ib.dstQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED;
		ib.image = (VkImage)b->image;
		ib.subresourceRange.aspectMask = b->aspect;
		ib.subresourceRange.baseMipLevel = b->baseMip;
		ib.subresourceRange.levelCount = b->mips;
		ib.subresourceRange.baseArrayLayer = b->baseLayer;
		ib.subresourceRange.layerCount = b->layers;
		ni = 1;
	} else if (b->buffer) {
		bb.srcAccessMask = b->srcAccess;
		bb.dstAccessMask = b->dstAccess;
		bb.srcQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED;
		bb.dstQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED;
		bb.buffer = (VkBuffer)b->buffer;
		bb.offset = b->offset;
		bb.size = b->size;
		nb = 1;
	} else {
		mb.srcAccessMask = b->srcAccess;
		mb.dstAccessMask = b->dstAccess;
		nm = 1;
	}
	d->vkCmdPipelineBarrier((VkCommandBuffer)cmd, b->srcStage, b->dstStage, 0,
		nm, &mb, nb, &bb, ni, &ib);
}

void vka_cmd_barriers(uintptr_t dev, uintptr_t cmd, vka_barriers bs) {
	DEV;
	VkMemoryBarrier mb[VKA_BARRIER_BATCH];
	VkBufferMemoryBarrier bb[VKA_BARRIER_BATCH];
	VkImageMemoryBarrier ib[VKA_BARRIER_BATCH];
	uint32_t nm = 0, nb = 0, ni = 0;
	uint32_t n = bs.count < VKA_BARRIER_BATCH ? bs.count : VKA_BARRIER_BATCH;
	for (uint32_t i = 0; i < n; i++) {
		const vka_barrier* b = &bs.b[i];
		if (b->image) {
			VkImageMemoryBarrier* x = &ib[ni++];
			memset(x, 0, sizeof *x);
			x->sType = VK_STRUCTURE_TYPE_IMAGE_MEMORY_BARRIER;
			x->srcAccessMask = b->srcAccess;
			x->dstAccessMask = b->dstAccess;
			x->oldLayout = (VkImageLayout)b->oldLayout;
			x->newLayout = (VkImageLayout)b->newLayout;
			x->srcQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED;
			x->dstQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED;
			x->image = (VkImage)b->image;
			x->subresourceRange.aspectMask = b->aspect;
			x->subresourceRange.baseMipLevel = b->baseMip;
			x->subresourceRange.levelCount = b->mips;
			x->subresourceRange.baseArrayLayer = b->baseLayer;
			x->subresourceRange.layerCount = b->layers;
		} else if (b->buffer) {
			VkBufferMemoryBarrier* x = &bb[nb++];
			memset(x, 0, sizeof *x);
			x->sType = VK_STRUCTURE_TYPE_BUFFER_MEMORY_BARRIER;
			x->srcAccessMask = b->srcAccess;
			x->dstAccessMask = b->dstAccess;
			x->srcQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED;
			x->dstQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED;
			x->buffer = (VkBuffer)b->buffer;
			x->offset = b->offset;
			x->size = b->size;
		} else {
			VkMemoryBarrier* x = &mb[nm++];
			memset(x, 0, sizeof *x);
			x->sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER;
			x->srcAccessMask = b->srcAccess;
			x->dstAccessMask = b->dstAccess;
		}
	}
	d->vkCmdPipelineBarrier((VkCommandBuffer)cmd, bs.srcStage, bs.dstStage, 0,
		nm, mb, nb, bb, ni, ib);
}

void vka_cmd_copy_image(uintptr_t dev, uintptr_t cmd, uint64_t src, uint32_t srcLayout, uint64_t dst, uint32_t dstLayout,
	int32_t sx, int32_t sy, int32_t dx, int32_t dy, uint32_t w, uint32_t h) {
	DEV;
	VkImageCopy r;
	memset(&r, 0, sizeof r);
	r.srcSubresource.aspectMask = VK_IMAGE_ASPECT_COLOR_BIT;
	r.srcSubresource.layerCount = 1;
	r.dstSubresource = r.srcSubresource;
	r.srcOffset.x = sx;
	r.srcOffset.y = sy;
	r.dstOffset.x = dx;
	r.dstOffset.y = dy;
	r.extent.width = w;
	r.extent.height = h;
	r.extent.depth = 1;
	d->vkCmdCopyImage((VkCommandBuffer)cmd, (VkImage)src, (VkImageLayout)srcLayout, (VkImage)dst, (VkImageLayout)dstLayout, 1, &r);
}

void vka_cmd_copy_image_levels(uintptr_t dev, uintptr_t cmd, uint64_t src, uint32_t srcLayout, uint64_t dst, uint32_t dstLayout,
	uint32_t w, uint32_t h, uint32_t levels) {
	DEV;
	VkImageCopy r[32];
	if (levels > 32) levels = 32;
	memset(r, 0, sizeof r);
	for (uint32_t i = 0; i < levels; i++) {
		r[i].srcSubresource.aspectMask = VK_IMAGE_ASPECT_COLOR_BIT;
		r[i].srcSubresource.mipLevel = i;
		r[i].srcSubresource.layerCount = 1;
		r[i].dstSubresource = r[i].srcSubresource;
		r[i].extent.width = w;
		r[i].extent.height = h;
		r[i].extent.depth = 1;
		w = w > 1 ? w / 2 : 1;
		h = h > 1 ? h / 2 : 1;
	}
	d->vkCmdCopyImage((VkCommandBuffer)cmd, (VkImage)src, (VkImageLayout)srcLayout, (VkImage)dst, (VkImageLayout)dstLayout, levels, r);
}

int32_t vka_wrap_instance(void* instance, uintptr_t* out) {
	*out = 0;
	if (!gipa || !instance) return VK_ERROR_INITIALIZATION_FAILED;
	vka_instance* t = calloc(1, sizeof *t);
	if (!t) return VK_ERROR_OUT_OF_HOST_MEMORY;
	t->handle = (VkInstance)instance;
#define X(n) t->n = (PFN_##n)gipa(t->handle, #n);
	VKA_INSTANCE_FNS(X)
#undef X
	*out = (uintptr_t)t;
	return VK_SUCCESS;
}

int32_t vka_wrap_device(uintptr_t inst, void* device, int timeline, int debugUtils, uintptr_t* out) {
	vka_instance* t = (vka_instance*)inst;
	*out = 0;
	if (!device || !t->vkGetDeviceProcAddr) return VK_ERROR_INITIALIZATION_FAILED;
	vka_device* d = calloc(1, sizeof *d);
	if (!d) return VK_ERROR_OUT_OF_HOST_MEMORY;
	d->handle = (VkDevice)device;
	load_device_table(t, d, timeline, debugUtils);
	*out = (uintptr_t)d;
	return VK_SUCCESS;
}

// Device commands a device may lack: the swapchain's (VK_KHR_swapchain, for
// windows only) and, without timeline semaphores, theirs.
static int optional_device_fn(const char* name, int timeline) {
	static const char* swapchain[] = {"vkCreateSwapchainKHR", "vkDestroySwapchainKHR", "vkGetSwapchainImagesKHR",
		"vkAcquireNextImageKHR", "vkQueuePresentKHR"};
	static const char* timelineFns[] = {"vkGetSemaphoreCounterValue", "vkWaitSemaphores", "vkSignalSemaphore"};
	for (size_t i = 0; i < sizeof swapchain / sizeof *swapchain; i++)
		if (strcmp(name, swapchain[i]) == 0) return 1;
	for (size_t i = 0; i < sizeof timelineFns / sizeof *timelineFns; i++)
		if (!timeline && strcmp(name, timelineFns[i]) == 0) return 1;
	return 0;
}

int32_t vka_missing_device_fns(uintptr_t dev, int timeline, const char** out, int32_t max) {
	DEV;
	int32_t n = 0;
#define X(f)                                                    \
	if (!d->f && !optional_device_fn(#f, timeline)) {           \
		if (n < max) out[n] = #f;                               \
		n++;                                                    \
	}
	VKA_DEVICE_FNS(X)
#undef X
	return n;
}

void vka_free_table(uintptr_t table) { free((void*)table); }
uintptr_t vka_ptr_value(void* p) { return (uintptr_t)p; }
void* vka_value_ptr(uintptr_t v) { return (void*)v; }

vka_result vka_create_render_pass(uintptr_t dev, const vka_render_pass_info* info) {
	DEV;
	VkAttachmentDescription att[VKA_MAX_ATTACHMENTS];
	memset(att, 0, sizeof att);
	uint32_t n = info->colorCount + (info->hasDepth ? 1 : 0);
	for (uint32_t i = 0; i < n; i++) {
		const vka_attachment* a = &info->attachments[i];
		att[i].format = (VkFormat)a->format;
		att[i].samples = VK_SAMPLE_COUNT_1_BIT;
		att[i].loadOp = (VkAttachmentLoadOp)a->loadOp;
		att[i].storeOp = (VkAttachmentStoreOp)a->storeOp;
		att[i].stencilLoadOp = VK_ATTACHMENT_LOAD_OP_DONT_CARE;
		att[i].stencilStoreOp = VK_ATTACHMENT_STORE_OP_DONT_CARE;
		att[i].initialLayout = (VkImageLayout)a->initialLayout;
		att[i].finalLayout = (VkImageLayout)a->finalLayout;
	}
	VkAttachmentReference colorRefs[VKA_MAX_ATTACHMENTS];
	for (uint32_t i = 0; i < info->colorCount; i++) {
		colorRefs[i].attachment = i;
		colorRefs[i].layout = VK_IMAGE_LAYOUT_COLOR_ATTACHMENT_OPTIMAL;
	}
	VkAttachmentReference depthRef = {info->colorCount, VK_IMAGE_LAYOUT_DEPTH_STENCIL_ATTACHMENT_OPTIMAL};
	VkSubpassDescription sub = {0};
	sub.pipelineBindPoint = VK_PIPELINE_BIND_POINT_GRAPHICS;
	sub.colorAttachmentCount = info->colorCount;
	sub.pColorAttachments = colorRefs;
	sub.pDepthStencilAttachment = info->hasDepth ? &depthRef : NULL;
	VkSubpassDependency deps[VKA_MAX_DEPENDENCIES];
	memset(deps, 0, sizeof deps);
	for (uint32_t i = 0; i < info->dependencyCount; i++) {
		const vka_dependency* s = &info->dependencies[i];
		deps[i].srcSubpass = s->srcSubpass;
		deps[i].dstSubpass = s->dstSubpass;
		deps[i].srcStageMask = s->srcStage;
		deps[i].dstStageMask = s->dstStage;
		deps[i].srcAccessMask = s->srcAccess;
		deps[i].dstAccessMask = s->dstAccess;
	}
	VkRenderPassCreateInfo ci = {VK_STRUCTURE_TYPE_RENDER_PASS_CREATE_INFO};
	ci.attachmentCount = n;
	ci.pAttachments = att;
	ci.subpassCount = 1;
	ci.pSubpasses = &sub;
	ci.dependencyCount = info->dependencyCount;
	ci.pDependencies = deps;
	VkRenderPass rp = VK_NULL_HANDLE;
	VkResult r = d->vkCreateRenderPass(d->handle, &ci, NULL, &rp);
	return (vka_result){(uint64_t)rp, r, 0};
}

void vka_destroy_render_pass(uintptr_t dev, uint64_t rp) {
	DEV;
	d->vkDestroyRenderPass(d->handle, (VkRenderPass)rp, NULL);
}

vka_result vka_create_framebuffer(uintptr_t dev, uint64_t renderPass, const uint64_t* views, uint32_t count, uint32_t w, uint32_t h) {
	DEV;
	VkImageView v[VKA_MAX_ATTACHMENTS];
	for (uint32_t i = 0; i < count && i < VKA_MAX_ATTACHMENTS; i++) v[i] = (VkImageView)views[i];
	VkFramebufferCreateInfo ci = {VK_STRUCTURE_TYPE_FRAMEBUFFER_CREATE_INFO};
	ci.renderPass = (VkRenderPass)renderPass;
	ci.attachmentCount = count;
	ci.pAttachments = v;
	ci.width = w;
	ci.height = h;
	ci.layers = 1;
	VkFramebuffer fb = VK_NULL_HANDLE;
	VkResult r = d->vkCreateFramebuffer(d->handle, &ci, NULL, &fb);
	return (vka_result){(uint64_t)fb, r, 0};
}

void vka_destroy_framebuffer(uintptr_t dev, uint64_t fb) {
	DEV;
	d->vkDestroyFramebuffer(d->handle, (VkFramebuffer)fb, NULL);
}

vka_result vka_create_shader_module(uintptr_t dev, const uint32_t* code, size_t size) {
	DEV;
	VkShaderModuleCreateInfo ci = {VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO};
	ci.codeSize = size;
	ci.pCode = code;
	VkShaderModule m = VK_NULL_HANDLE;
	VkResult r = d->vkCreateShaderModule(d->handle, &ci, NULL, &m);
	return (vka_result){(uint64_t)m, r, 0};
}

void vka_destroy_shader_module(uintptr_t dev, uint64_t m) {
	DEV;
	d->vkDestroyShaderModule(d->handle, (VkShaderModule)m, NULL);
}

vka_result vka_create_descriptor_set_layout(uintptr_t dev, const vka_binding* bindings, uint32_t count) {
	DEV;
	VkDescriptorSetLayoutBinding b[VKA_MAX_BINDINGS];
	memset(b, 0, sizeof b);
	for (uint32_t i = 0; i < count && i < VKA_MAX_BINDINGS; i++) {
		b[i].binding = bindings[i].binding;
		b[i].descriptorType = (VkDescriptorType)bindings[i].type;
		b[i].descriptorCount = bindings[i].count;
		b[i].stageFlags = bindings[i].stages;
	}
	VkDescriptorSetLayoutCreateInfo ci = {VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO};
	ci.bindingCount = count;
	ci.pBindings = b;
	VkDescriptorSetLayout l = VK_NULL_HANDLE;
	VkResult r = d->vkCreateDescriptorSetLayout(d->handle, &ci, NULL, &l);
	return (vka_result){(uint64_t)l, r, 0};
}

void vka_destroy_descriptor_set_layout(uintptr_t dev, uint64_t l) {
	DEV;
	d->vkDestroyDescriptorSetLayout(d->handle, (VkDescriptorSetLayout)l, NULL);
}

vka_result vka_create_pipeline_layout(uintptr_t dev, const uint64_t* sets, uint32_t nsets, const vka_push_range* push, uint32_t npush) {
	DEV;
	VkDescriptorSetLayout s[VKA_MAX_BINDINGS];
	VkPushConstantRange p[VKA_MAX_BINDINGS];
	for (uint32_t i = 0; i < nsets && i < VKA_MAX_BINDINGS; i++) s[i] = (VkDescriptorSetLayout)sets[i];
	for (uint32_t i = 0; i < npush && i < VKA_MAX_BINDINGS; i++) {
		p[i].stageFlags = push[i].stages;
		p[i].offset = push[i].offset;
		p[i].size = push[i].size;
	}
	VkPipelineLayoutCreateInfo ci = {VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO};
	ci.setLayoutCount = nsets;
	ci.pSetLayouts = s;
	ci.pushConstantRangeCount = npush;
	ci.pPushConstantRanges = p;
	VkPipelineLayout l = VK_NULL_HANDLE;
	VkResult r = d->vkCreatePipelineLayout(d->handle, &ci, NULL, &l);
	return (vka_result){(uint64_t)l, r, 0};
}

void vka_destroy_pipeline_layout(uintptr_t dev, uint64_t l) {
	DEV;
	d->vkDestroyPipelineLayout(d->handle, (VkPipelineLayout)l, NULL);
}

vka_result vka_create_graphics_pipeline(uintptr_t dev, const vka_graphics_pipeline_info* info) {
	DEV;
	VkPipelineShaderStageCreateInfo stages[2] = {{VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO}, {VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO}};
	stages[0].stage = VK_SHADER_STAGE_VERTEX_BIT;
	stages[0].module = (VkShaderModule)info->vertex;
	stages[0].pName = "main";
	stages[1].stage = VK_SHADER_STAGE_FRAGMENT_BIT;
	stages[1].module = (VkShaderModule)info->fragment;
	stages[1].pName = "main";
	VkVertexInputBindingDescription vb = {0, info->stride, VK_VERTEX_INPUT_RATE_VERTEX};
	VkVertexInputAttributeDescription va[VKA_MAX_VERTEX_ATTRIBUTES];
	uint32_t na = info->attributeCount < VKA_MAX_VERTEX_ATTRIBUTES ? info->attributeCount : VKA_MAX_VERTEX_ATTRIBUTES;
	for (uint32_t i = 0; i < na; i++) {
		va[i].location = info->attributes[i].location;
		va[i].binding = 0;
		va[i].format = (VkFormat)info->attributes[i].format;
		va[i].offset = info->attributes[i].offset;
	}
	VkPipelineVertexInputStateCreateInfo vi = {VK_STRUCTURE_TYPE_PIPELINE_VERTEX_INPUT_STATE_CREATE_INFO};
	vi.vertexBindingDescriptionCount = info->stride ? 1 : 0;
	vi.pVertexBindingDescriptions = &vb;
	vi.vertexAttributeDescriptionCount = na;
	vi.pVertexAttributeDescriptions = va;
	VkPipelineInputAssemblyStateCreateInfo ia = {VK_STRUCTURE_TYPE_PIPELINE_INPUT_ASSEMBLY_STATE_CREATE_INFO};
	ia.topology = (VkPrimitiveTopology)info->topology;
	VkViewport viewport = {0, 0, (float)info->viewportWidth, (float)info->viewportHeight, 0, 1};
	VkRect2D scissor = {{0, 0}, {info->viewportWidth, info->viewportHeight}};
	VkPipelineViewportStateCreateInfo vp = {VK_STRUCTURE_TYPE_PIPELINE_VIEWPORT_STATE_CREATE_INFO};
	vp.viewportCount = 1;
	vp.scissorCount = 1;
	if (!info->dynamicViewport) {
		vp.pViewports = &viewport;
		vp.pScissors = &scissor;
	}
	VkPipelineRasterizationStateCreateInfo rs = {VK_STRUCTURE_TYPE_PIPELINE_RASTERIZATION_STATE_CREATE_INFO};
	rs.polygonMode = VK_POLYGON_MODE_FILL;
	rs.cullMode = info->cullMode;
	rs.frontFace = (VkFrontFace)info->frontFace;
	rs.lineWidth = 1.0f;
	VkPipelineMultisampleStateCreateInfo ms = {VK_STRUCTURE_TYPE_PIPELINE_MULTISAMPLE_STATE_CREATE_INFO};
	ms.rasterizationSamples = VK_SAMPLE_COUNT_1_BIT;
	VkPipelineDepthStencilStateCreateInfo ds = {VK_STRUCTURE_TYPE_PIPELINE_DEPTH_STENCIL_STATE_CREATE_INFO};
	ds.depthTestEnable = info->depthTest ? VK_TRUE : VK_FALSE;
	ds.depthWriteEnable = info->depthWrite ? VK_TRUE : VK_FALSE;
	ds.depthCompareOp = (VkCompareOp)info->depthCompare;
	VkPipelineColorBlendAttachmentState cba[VKA_MAX_ATTACHMENTS];
	memset(cba, 0, sizeof cba);
	for (uint32_t i = 0; i < info->colorAttachments && i < VKA_MAX_ATTACHMENTS; i++) {
		// Straight alpha: colour over what is there, alpha accumulated.
		cba[i].blendEnable = info->blend ? VK_TRUE : VK_FALSE;
		cba[i].srcColorBlendFactor = VK_BLEND_FACTOR_SRC_ALPHA;
		cba[i].dstColorBlendFactor = VK_BLEND_FACTOR_ONE_MINUS_SRC_ALPHA;
		cba[i].colorBlendOp = VK_BLEND_OP_ADD;
		cba[i].srcAlphaBlendFactor = VK_BLEND_FACTOR_ONE;
		cba[i].dstAlphaBlendFactor = VK_BLEND_FACTOR_ONE_MINUS_SRC_ALPHA;
		cba[i].alphaBlendOp = VK_BLEND_OP_ADD;
		cba[i].colorWriteMask = 0xf;
	}
	VkPipelineColorBlendStateCreateInfo cb = {VK_STRUCTURE_TYPE_PIPELINE_COLOR_BLEND_STATE_CREATE_INFO};
	cb.attachmentCount = info->colorAttachments;
	cb.pAttachments = cba;
	VkDynamicState dyn[2] = {VK_DYNAMIC_STATE_VIEWPORT, VK_DYNAMIC_STATE_SCISSOR};
	VkPipelineDynamicStateCreateInfo dy = {VK_STRUCTURE_TYPE_PIPELINE_DYNAMIC_STATE_CREATE_INFO};
	dy.dynamicStateCount = 2;
	dy.pDynamicStates = dyn;
	VkGraphicsPipelineCreateInfo gp = {VK_STRUCTURE_TYPE_GRAPHICS_PIPELINE_CREATE_INFO};
	gp.stageCount = 2;
	gp.pStages = stages;
	gp.pVertexInputState = &vi;
	gp.pInputAssemblyState = &ia;
	gp.pViewportState = &vp;
	gp.pRasterizationState = &rs;
	gp.pMultisampleState = &ms;
	gp.pDepthStencilState = &ds;
	gp.pColorBlendState = &cb;
	gp.pDynamicState = info->dynamicViewport ? &dy : NULL;
	gp.layout = (VkPipelineLayout)info->layout;
	gp.renderPass = (VkRenderPass)info->renderPass;
	gp.subpass = info->subpass;
	VkPipeline p = VK_NULL_HANDLE;
	VkResult r = d->vkCreateGraphicsPipelines(d->handle, VK_NULL_HANDLE, 1, &gp, NULL, &p);
	return (vka_result){(uint64_t)p, r, 0};
}

void vka_destroy_pipeline(uintptr_t dev, uint64_t p) {
	DEV;
	d->vkDestroyPipeline(d->handle, (VkPipeline)p, NULL);
}

vka_result vka_create_descriptor_pool(uintptr_t dev, uint32_t maxSets, const vka_pool_size* sizes, uint32_t count) {
	DEV;
	VkDescriptorPoolSize s[VKA_MAX_BINDINGS];
	for (uint32_t i = 0; i < count && i < VKA_MAX_BINDINGS; i++) {
		s[i].type = (VkDescriptorType)sizes[i].type;
		s[i].descriptorCount = sizes[i].count;
	}
	VkDescriptorPoolCreateInfo ci = {VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO};
	ci.maxSets = maxSets;
	ci.poolSizeCount = count;
	ci.pPoolSizes = s;
	VkDescriptorPool p = VK_NULL_HANDLE;
	VkResult r = d->vkCreateDescriptorPool(d->handle, &ci, NULL, &p);
	return (vka_result){(uint64_t)p, r, 0};
}

void vka_destroy_descriptor_pool(uintptr_t dev, uint64_t pool) {
	DEV;
	d->vkDestroyDescriptorPool(d->handle, (VkDescriptorPool)pool, NULL);
}

int32_t vka_reset_descriptor_pool(uintptr_t dev, uint64_t pool) {
	DEV;
	return d->vkResetDescriptorPool(d->handle, (VkDescriptorPool)pool, 0);
}

vka_result vka_allocate_descriptor_set(uintptr_t dev, uint64_t pool, uint64_t layout) {
	DEV;
	VkDescriptorSetLayout l = (VkDescriptorSetLayout)layout;
	VkDescriptorSetAllocateInfo ai = {VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO};
	ai.descriptorPool = (VkDescriptorPool)pool;
	ai.descriptorSetCount = 1;
	ai.pSetLayouts = &l;
	VkDescriptorSet set = VK_NULL_HANDLE;
	VkResult r = d->vkAllocateDescriptorSets(d->handle, &ai, &set);
	return (vka_result){(uint64_t)set, r, 0};
}

void vka_update_descriptor_sets(uintptr_t dev, vka_image_writes ws) {
	DEV;
	const vka_image_write* writes = ws.w;
	uint32_t count = ws.count;
	VkDescriptorImageInfo ii[VKA_MAX_WRITES];
	VkWriteDescriptorSet w[VKA_MAX_WRITES];
	memset(w, 0, sizeof w);
	if (count > VKA_MAX_WRITES) count = VKA_MAX_WRITES;
	for (uint32_t i = 0; i < count; i++) {
		ii[i].sampler = (VkSampler)writes[i].sampler;
		ii[i].imageView = (VkImageView)writes[i].view;
		ii[i].imageLayout = (VkImageLayout)writes[i].layout;
		w[i].sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET;
		w[i].dstSet = (VkDescriptorSet)writes[i].set;
		w[i].dstBinding = writes[i].binding;
		w[i].dstArrayElement = writes[i].element;
		w[i].descriptorCount = 1;
		w[i].descriptorType = VK_DESCRIPTOR_TYPE_COMBINED_IMAGE_SAMPLER;
		w[i].pImageInfo = &ii[i];
	}
	d->vkUpdateDescriptorSets(d->handle, count, w, 0, NULL);
}

void vka_cmd_begin_render_pass(uintptr_t dev, uintptr_t cmd, uint64_t renderPass, uint64_t fb,
	int32_t x, int32_t y, uint32_t w, uint32_t h, vka_clear_values clears) {
	DEV;
	VkClearValue c[VKA_MAX_ATTACHMENTS];
	uint32_t count = clears.count;
	if (count > VKA_MAX_ATTACHMENTS) count = VKA_MAX_ATTACHMENTS;
	memcpy(c, clears.v, count * sizeof c[0]);
	VkRenderPassBeginInfo bi = {VK_STRUCTURE_TYPE_RENDER_PASS_BEGIN_INFO};
	bi.renderPass = (VkRenderPass)renderPass;
	bi.framebuffer = (VkFramebuffer)fb;
	bi.renderArea.offset.x = x;
	bi.renderArea.offset.y = y;
	bi.renderArea.extent.width = w;
	bi.renderArea.extent.height = h;
	bi.clearValueCount = count;
	bi.pClearValues = c;
	d->vkCmdBeginRenderPass((VkCommandBuffer)cmd, &bi, VK_SUBPASS_CONTENTS_INLINE);
}

void vka_cmd_end_render_pass(uintptr_t dev, uintptr_t cmd) {
	DEV;
	d->vkCmdEndRenderPass((VkCommandBuffer)cmd);
}

void vka_cmd_set_viewport(uintptr_t dev, uintptr_t cmd, float x, float y, float w, float h, float minDepth, float maxDepth) {
	DEV;
	VkViewport vp = {x, y, w, h, minDepth, maxDepth};
	d->vkCmdSetViewport((VkCommandBuffer)cmd, 0, 1, &vp);
}

void vka_cmd_set_scissor(uintptr_t dev, uintptr_t cmd, int32_t x, int32_t y, uint32_t w, uint32_t h) {
	DEV;
	VkRect2D sc = {{x, y}, {w, h}};
	d->vkCmdSetScissor((VkCommandBuffer)cmd, 0, 1, &sc);
}

void vka_cmd_bind_pipeline(uintptr_t dev, uintptr_t cmd, uint64_t p) {
	DEV;
	d->vkCmdBindPipeline((VkCommandBuffer)cmd, VK_PIPELINE_BIND_POINT_GRAPHICS, (VkPipeline)p);
}

void vka_cmd_bind_descriptor_sets(uintptr_t dev, uintptr_t cmd, uint64_t layout, uint32_t first, vka_handles sets) {
	DEV;
	VkDescriptorSet s[VKA_MAX_BOUND];
	uint32_t count = sets.count;
	if (count > VKA_MAX_BOUND) count = VKA_MAX_BOUND;
	for (uint32_t i = 0; i < count; i++) s[i] = (VkDescriptorSet)sets.v[i];
	d->vkCmdBindDescriptorSets((VkCommandBuffer)cmd, VK_PIPELINE_BIND_POINT_GRAPHICS, (VkPipelineLayout)layout, first, count, s, 0, NULL);
}

void vka_cmd_push_constants(uintptr_t dev, uintptr_t cmd, uint64_t layout, uint32_t stages, uint32_t offset, uint32_t size, vka_push_data data) {
	DEV;
	if (size > sizeof data.bytes) size = sizeof data.bytes;
	d->vkCmdPushConstants((VkCommandBuffer)cmd, (VkPipelineLayout)layout, stages, offset, size, data.bytes);
}

void vka_cmd_bind_vertex_buffers(uintptr_t dev, uintptr_t cmd, uint32_t first, vka_handles buffers) {
	DEV;
	VkBuffer b[VKA_MAX_BOUND];
	VkDeviceSize o[VKA_MAX_BOUND];
	uint32_t count = buffers.count;
	if (count > VKA_MAX_BOUND) count = VKA_MAX_BOUND;
	for (uint32_t i = 0; i < count; i++) {
		b[i] = (VkBuffer)buffers.v[i];
		o[i] = buffers.offsets[i];
	}
	d->vkCmdBindVertexBuffers((VkCommandBuffer)cmd, first, count, b, o);
}

void vka_cmd_bind_index_buffer(uintptr_t dev, uintptr_t cmd, uint64_t buffer, uint64_t offset, uint32_t type) {
	DEV;
	d->vkCmdBindIndexBuffer((VkCommandBuffer)cmd, (VkBuffer)buffer, offset, (VkIndexType)type);
}

void vka_cmd_draw(uintptr_t dev, uintptr_t cmd, uint32_t vertices, uint32_t instances, uint32_t firstVertex, uint32_t firstInstance) {
	DEV;
	d->vkCmdDraw((VkCommandBuffer)cmd, vertices, instances, firstVertex, firstInstance);
}

void vka_cmd_draw_indexed(uintptr_t dev, uintptr_t cmd, uint32_t indices, uint32_t instances, uint32_t firstIndex, int32_t vertexOffset, uint32_t firstInstance) {
	DEV;
	d->vkCmdDrawIndexed((VkCommandBuffer)cmd, indices, instances, firstIndex, vertexOffset, firstInstance);
}

int32_t vka_surface_info_get(uintptr_t inst, uintptr_t phys, uint32_t family, uint64_t surface, vka_surface_info* out) {
	vka_instance* t = (vka_instance*)inst;
	memset(out, 0, sizeof *out);
	VkPhysicalDevice pd = (VkPhysicalDevice)phys;
	VkSurfaceKHR s = (VkSurfaceKHR)surface;
	if (!t->vkGetPhysicalDeviceSurfaceSupportKHR) return VK_ERROR_EXTENSION_NOT_PRESENT;
	VkBool32 ok = VK_FALSE;
	VkResult r = t->vkGetPhysicalDeviceSurfaceSupportKHR(pd, family, s, &ok);
	if (r != VK_SUCCESS) return r;
	out->supported = ok;
	VkSurfaceCapabilitiesKHR caps;
	if ((r = t->vkGetPhysicalDeviceSurfaceCapabilitiesKHR(pd, s, &caps)) != VK_SUCCESS) return r;
	out->minImages = caps.minImageCount;
	out->maxImages = caps.maxImageCount;
	out->curWidth = caps.currentExtent.width;
	out->curHeight = caps.currentExtent.height;
	out->minWidth = caps.minImageExtent.width;
	out->minHeight = caps.minImageExtent.height;
	out->maxWidth = caps.maxImageExtent.width;
	out->maxHeight = caps.maxImageExtent.height;
	out->transform = caps.currentTransform;
	uint32_t n = 0;
	if ((r = t->vkGetPhysicalDeviceSurfaceFormatsKHR(pd, s, &n, NULL)) != VK_SUCCESS || n == 0) return r ? r : VK_ERROR_FORMAT_NOT_SUPPORTED;
	VkSurfaceFormatKHR* f = calloc(n, sizeof *f);
	if (!f) return VK_ERROR_OUT_OF_HOST_MEMORY;
	r = t->vkGetPhysicalDeviceSurfaceFormatsKHR(pd, s, &n, f);
	out->format = f[0].format;
	out->colorSpace = f[0].colorSpace;
	// An sRGB format first, so that a blit from an sRGB picture keeps its
	// bytes; else UNORM.
	int best = 0;
	for (uint32_t i = 0; i < n; i++) {
		int rank = 0;
		if (f[i].format == VK_FORMAT_B8G8R8A8_SRGB || f[i].format == VK_FORMAT_R8G8B8A8_SRGB) rank = 2;
		else if (f[i].format == VK_FORMAT_B8G8R8A8_UNORM || f[i].format == VK_FORMAT_R8G8B8A8_UNORM) rank = 1;
		if (rank > best) {
			best = rank;
			out->format = f[i].format;
			out->colorSpace = f[i].colorSpace;
		}
	}
	free(f);
	return r < 0 ? r : VK_SUCCESS;
}

vka_result vka_create_swapchain(uintptr_t dev, uint64_t surface, uint32_t images, uint32_t format, uint32_t colorSpace,
	uint32_t w, uint32_t h, uint32_t transform, uint64_t old) {
	DEV;
	VkSwapchainCreateInfoKHR ci = {VK_STRUCTURE_TYPE_SWAPCHAIN_CREATE_INFO_KHR};
	ci.surface = (VkSurfaceKHR)surface;
	ci.minImageCount = images;
	ci.imageFormat = (VkFormat)format;
	ci.imageColorSpace = (VkColorSpaceKHR)colorSpace;
	ci.imageExtent.width = w;
	ci.imageExtent.height = h;
	ci.imageArrayLayers = 1;
	ci.imageUsage = VK_IMAGE_USAGE_TRANSFER_DST_BIT | VK_IMAGE_USAGE_COLOR_ATTACHMENT_BIT;
	ci.imageSharingMode = VK_SHARING_MODE_EXCLUSIVE;
	ci.preTransform = (VkSurfaceTransformFlagBitsKHR)transform;
	ci.compositeAlpha = VK_COMPOSITE_ALPHA_OPAQUE_BIT_KHR;
	ci.presentMode = VK_PRESENT_MODE_FIFO_KHR;
	ci.clipped = VK_TRUE;
	ci.oldSwapchain = (VkSwapchainKHR)old;
	VkSwapchainKHR sc = VK_NULL_HANDLE;
	VkResult r = d->vkCreateSwapchainKHR ? d->vkCreateSwapchainKHR(d->handle, &ci, NULL, &sc) : VK_ERROR_EXTENSION_NOT_PRESENT;
	return (vka_result){(uint64_t)sc, r, 0};
}

void vka_destroy_swapchain(uintptr_t dev, uint64_t sc) {
	DEV;
	if (sc && d->vkDestroySwapchainKHR) d->vkDestroySwapchainKHR(d->handle, (VkSwapchainKHR)sc, NULL);
}

int32_t vka_swapchain_images(uintptr_t dev, uint64_t sc, uint32_t* count, uint64_t* out) {
	DEV;
	return d->vkGetSwapchainImagesKHR(d->handle, (VkSwapchainKHR)sc, count, (VkImage*)out);
}

vka_result vka_acquire_image(uintptr_t dev, uint64_t sc, uint64_t semaphore, uint64_t timeout) {
	DEV;
	uint32_t index = 0;
	VkResult r = d->vkAcquireNextImageKHR(d->handle, (VkSwapchainKHR)sc, timeout, (VkSemaphore)semaphore, VK_NULL_HANDLE, &index);
	return (vka_result){index, r, 0};
}

int32_t vka_present(uintptr_t dev, uintptr_t queue, uint64_t sc, uint32_t index, uint64_t wait) {
	DEV;
	VkSwapchainKHR s = (VkSwapchainKHR)sc;
	VkSemaphore w = (VkSemaphore)wait;
	VkPresentInfoKHR pi = {VK_STRUCTURE_TYPE_PRESENT_INFO_KHR};
	pi.waitSemaphoreCount = wait ? 1 : 0;
	pi.pWaitSemaphores = &w;
	pi.swapchainCount = 1;
	pi.pSwapchains = &s;
	pi.pImageIndices = &index;
	return d->vkQueuePresentKHR((VkQueue)queue, &pi);
}

void vka_cmd_blit(uintptr_t dev, uintptr_t cmd, uint64_t src, uint32_t sw, uint32_t sh, uint64_t dst, uint32_t dw, uint32_t dh) {
	DEV;
	VkImageBlit b;
	memset(&b, 0, sizeof b);
	b.srcSubresource.aspectMask = VK_IMAGE_ASPECT_COLOR_BIT;
	b.srcSubresource.layerCount = 1;
	b.dstSubresource = b.srcSubresource;
	b.srcOffsets[1].x = (int32_t)sw;
	b.srcOffsets[1].y = (int32_t)sh;
	b.srcOffsets[1].z = 1;
	b.dstOffsets[1].x = (int32_t)dw;
	b.dstOffsets[1].y = (int32_t)dh;
	b.dstOffsets[1].z = 1;
	d->vkCmdBlitImage((VkCommandBuffer)cmd, (VkImage)src, VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL,
		(VkImage)dst, VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL, 1, &b, VK_FILTER_LINEAR);
}

void vka_cmd_blit_image(uintptr_t dev, uintptr_t cmd, uint64_t src, uint32_t srcLayout, uint64_t dst, uint32_t dstLayout,
	vka_image_blit region, uint32_t filter) {
	DEV;
	VkImageBlit b;
	memset(&b, 0, sizeof b);
	b.srcSubresource.aspectMask = VK_IMAGE_ASPECT_COLOR_BIT;
	b.srcSubresource.mipLevel = region.srcMip;
	b.srcSubresource.layerCount = 1;
	b.dstSubresource = b.srcSubresource;
	b.dstSubresource.mipLevel = region.dstMip;
	b.srcOffsets[0].x = region.src[0];
	b.srcOffsets[0].y = region.src[1];
	b.srcOffsets[1].x = region.src[2];
	b.srcOffsets[1].y = region.src[3];
	b.srcOffsets[1].z = 1;
	b.dstOffsets[0].x = region.dst[0];
	b.dstOffsets[0].y = region.dst[1];
	b.dstOffsets[1].x = region.dst[2];
	b.dstOffsets[1].y = region.dst[3];
	b.dstOffsets[1].z = 1;
	d->vkCmdBlitImage((VkCommandBuffer)cmd, (VkImage)src, (VkImageLayout)srcLayout,
		(VkImage)dst, (VkImageLayout)dstLayout, 1, &b, (VkFilter)filter);
}

vka_format_properties vka_format_properties_get(uintptr_t inst, uintptr_t phys, uint32_t format) {
	vka_instance* t = (vka_instance*)inst;
	VkFormatProperties p;
	memset(&p, 0, sizeof p);
	if (t->vkGetPhysicalDeviceFormatProperties) t->vkGetPhysicalDeviceFormatProperties((VkPhysicalDevice)phys, (VkFormat)format, &p);
	return (vka_format_properties){p.linearTilingFeatures, p.optimalTilingFeatures, p.bufferFeatures};
}
