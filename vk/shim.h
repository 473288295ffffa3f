// The C side of package vk: a loader, per-instance and per-device dispatch
// tables filled through vkGetInstanceProcAddr/vkGetDeviceProcAddr, and small
// wrappers that build every Vulkan struct on the C stack. Go passes handles as
// integers and arrays of plain values only, so no call leaves C memory behind
// and no Go pointer is retained by C.
#ifndef VKA_SHIM_H
#define VKA_SHIM_H

#include <stdint.h>
#include <stdlib.h>
#include <vulkan/vulkan.h>

#define VKA_INSTANCE_FNS(X)                         \
	X(vkDestroyInstance)                            \
	X(vkEnumeratePhysicalDevices)                   \
	X(vkGetPhysicalDeviceProperties)                \
	X(vkGetPhysicalDeviceMemoryProperties)          \
	X(vkGetPhysicalDeviceMemoryProperties2)         \
	X(vkGetPhysicalDeviceFeatures2)                 \
	X(vkGetPhysicalDeviceFormatProperties)          \
	X(vkGetPhysicalDeviceQueueFamilyProperties)     \
	X(vkEnumerateDeviceExtensionProperties)         \
	X(vkCreateDevice)                               \
	X(vkGetDeviceProcAddr)                          \
	X(vkCreateDebugUtilsMessengerEXT)               \
	X(vkDestroyDebugUtilsMessengerEXT)              \
	X(vkSetDebugUtilsObjectNameEXT)                 \
	X(vkDestroySurfaceKHR)                          \
	X(vkGetPhysicalDeviceSurfaceSupportKHR)         \
	X(vkGetPhysicalDeviceSurfaceCapabilitiesKHR)    \
	X(vkGetPhysicalDeviceSurfaceFormatsKHR)

#define VKA_DEVICE_FNS(X)                  \
	X(vkDestroyDevice)                     \
	X(vkGetDeviceQueue)                    \
	X(vkQueueSubmit)                       \
	X(vkQueueWaitIdle)                     \
	X(vkDeviceWaitIdle)                    \
	X(vkAllocateMemory)                    \
	X(vkFreeMemory)                        \
	X(vkMapMemory)                         \
	X(vkUnmapMemory)                       \
	X(vkFlushMappedMemoryRanges)           \
	X(vkInvalidateMappedMemoryRanges)      \
	X(vkBindBufferMemory)                  \
	X(vkBindImageMemory)                   \
	X(vkGetBufferMemoryRequirements2)      \
	X(vkGetImageMemoryRequirements2)       \
	X(vkCreateBuffer)                      \
	X(vkDestroyBuffer)                     \
	X(vkCreateImage)                       \
	X(vkDestroyImage)                      \
	X(vkCreateImageView)                   \
	X(vkDestroyImageView)                  \
	X(vkCreateSampler)                     \
	X(vkDestroySampler)                    \
	X(vkCreateFence)                       \
	X(vkDestroyFence)                      \
	X(vkResetFences)                       \
	X(vkGetFenceStatus)                    \
	X(vkWaitForFences)                     \
	X(vkCreateSemaphore)                   \
	X(vkDestroySemaphore)                  \
	X(vkGetSemaphoreCounterValue)          \
	X(vkWaitSemaphores)                    \
	X(vkSignalSemaphore)                   \
	X(vkCreateCommandPool)                 \
	X(vkDestroyCommandPool)                \
	X(vkResetCommandPool)                  \
	X(vkAllocateCommandBuffers)            \
	X(vkFreeCommandBuffers)                \
	X(vkBeginCommandBuffer)                \
	X(vkEndCommandBuffer)                  \
	X(vkCmdCopyBuffer)                     \
	X(vkCmdCopyBufferToImage)              \
	X(vkCmdCopyImageToBuffer)              \
	X(vkCmdCopyImage)                      \
	X(vkCmdFillBuffer)                     \
	X(vkCmdPipelineBarrier)                \
	X(vkCreateRenderPass)                  \
	X(vkDestroyRenderPass)                 \
	X(vkCreateFramebuffer)                 \
	X(vkDestroyFramebuffer)                \
	X(vkCreateShaderModule)                \
	X(vkDestroyShaderModule)               \
	X(vkCreateDescriptorSetLayout)         \
	X(vkDestroyDescriptorSetLayout)        \
	X(vkCreatePipelineLayout)              \
	X(vkDestroyPipelineLayout)             \
	X(vkCreateGraphicsPipelines)           \
	X(vkDestroyPipeline)                   \
	X(vkCreateDescriptorPool)              \
	X(vkDestroyDescriptorPool)             \
	X(vkResetDescriptorPool)               \
	X(vkAllocateDescriptorSets)            \
	X(vkUpdateDescriptorSets)              \
	X(vkCmdBeginRenderPass)                \
	X(vkCmdEndRenderPass)                  \
	X(vkCmdBindPipeline)                   \
	X(vkCmdBindVertexBuffers)              \
	X(vkCmdBindIndexBuffer)                \
	X(vkCmdBindDescriptorSets)             \
	X(vkCmdPushConstants)                  \
	X(vkCmdDraw)                           \
	X(vkCmdDrawIndexed)                    \
	X(vkCmdSetViewport)                    \
	X(vkCmdSetScissor)                     \
	X(vkCmdBlitImage)                      \
	X(vkCreateSwapchainKHR)                \
	X(vkDestroySwapchainKHR)               \
	X(vkGetSwapchainImagesKHR)             \
	X(vkAcquireNextImageKHR)               \
	X(vkQueuePresentKHR)

typedef struct vka_instance {
	VkInstance handle;
#define X(n) PFN_##n n;
	VKA_INSTANCE_FNS(X)
#undef X
} vka_instance;

typedef struct vka_device {
	VkDevice handle;
	PFN_vkSetDebugUtilsObjectNameEXT setName;
	// Optional commands, NULL unless their feature or extension is enabled.
	PFN_vkGetBufferDeviceAddress getBufferAddress;
	PFN_vkSetDeviceMemoryPriorityEXT setMemoryPriority;
#define X(n) PFN_##n n;
	VKA_DEVICE_FNS(X)
#undef X
} vka_device;

// Loader.
int vka_load_library(const char* name);
int vka_pin_library(const char* name);
void vka_set_gipa(void* gipa);
void* vka_gipa(void);
int32_t vka_instance_version(uint32_t* version);
int32_t vka_layer_present(const char* name);
int32_t vka_instance_extension_present(const char* name);

// Instance.
int32_t vka_create_instance(const char* app, uint32_t apiVersion,
	const char** layers, uint32_t nlayers, const char** exts, uint32_t nexts,
	int validation, int syncValidation, uintptr_t userdata, uintptr_t* out,
	uint64_t* messenger);
void vka_destroy_instance(uintptr_t inst, uint64_t messenger);
uintptr_t vka_instance_handle(uintptr_t inst);
void* vka_instance_ptr(uintptr_t inst);
void vka_destroy_surface(uintptr_t inst, uint64_t surface);

// Physical device queries the vulkan-go bindings do not cover.
typedef struct vka_heap_budget {
	uint64_t budget[VK_MAX_MEMORY_HEAPS];
	uint64_t usage[VK_MAX_MEMORY_HEAPS];
} vka_heap_budget;
void vka_memory_budget(uintptr_t inst, uintptr_t phys, vka_heap_budget* out);
int vka_timeline_supported(uintptr_t inst, uintptr_t phys);
// Optional device features, as bits: 1 bufferDeviceAddress, 2 memoryPriority
// (VK_EXT_memory_priority), 4 pageableDeviceLocalMemory.
enum { VKA_FEATURE_BDA = 1, VKA_FEATURE_MEMORY_PRIORITY = 2, VKA_FEATURE_PAGEABLE = 4 };
uint32_t vka_optional_features(uintptr_t inst, uintptr_t phys, int bda, int priority, int pageable);
int32_t vka_enumerate_physical_devices(uintptr_t inst, uint32_t* count, uintptr_t* out);

// Tables for an instance and a device the application made itself.
int32_t vka_wrap_instance(void* instance, uintptr_t* out);
int32_t vka_wrap_device(uintptr_t inst, void* device, int timeline, int debugUtils, uintptr_t* out);
void vka_free_table(uintptr_t table);
// vka_missing_device_fns lists (up to max, as static strings) the device
// commands vkassets needs that the device's vkGetDeviceProcAddr did not
// resolve, and returns how many there are.
int32_t vka_missing_device_fns(uintptr_t dev, int timeline, const char** out, int32_t max);
uintptr_t vka_ptr_value(void* p);
void* vka_value_ptr(uintptr_t v);

// Device.
int32_t vka_create_device(uintptr_t inst, uintptr_t phys, uint32_t family, int32_t transfer_family,
	const char** exts, uint32_t nexts, int timeline, int bc, uint32_t features, int debugUtils, uintptr_t* out);
void vka_destroy_device(uintptr_t dev);
uintptr_t vka_device_handle(uintptr_t dev);
void* vka_device_ptr(uintptr_t dev);
void* vka_physical_ptr(uintptr_t phys);
uintptr_t vka_get_queue(uintptr_t dev, uint32_t family, uint32_t index);
int32_t vka_device_wait_idle(uintptr_t dev);
int32_t vka_queue_wait_idle(uintptr_t dev, uintptr_t queue);
int32_t vka_set_name(uintptr_t dev, int32_t type, uint64_t handle, const char* name);

// A handle (or value) and the VkResult of the call that made it, returned by
// value so that no Go pointer crosses into C on the hot path.
typedef struct vka_result {
	uint64_t value;
	int32_t result;
	int32_t pad;
} vka_result;

// Memory.
vka_result vka_allocate_memory(uintptr_t dev, uint64_t size, uint32_t type,
	uint64_t dedicatedBuffer, uint64_t dedicatedImage, uint32_t flags, int hasPriority, float priority);
uint64_t vka_buffer_address(uintptr_t dev, uint64_t buffer);
int32_t vka_set_memory_priority(uintptr_t dev, uint64_t mem, float priority);
void vka_free_memory(uintptr_t dev, uint64_t mem);
int32_t vka_map_memory(uintptr_t dev, uint64_t mem, uint64_t offset, uint64_t size, void** out);
void vka_unmap_memory(uintptr_t dev, uint64_t mem);
int32_t vka_flush_memory(uintptr_t dev, uint64_t mem, uint64_t offset, uint64_t size);
int32_t vka_invalidate_memory(uintptr_t dev, uint64_t mem, uint64_t offset, uint64_t size);

typedef struct vka_memory_requirements {
	uint64_t size;
	uint64_t alignment;
	uint32_t typeBits;
	uint32_t prefersDedicated;
	uint32_t requiresDedicated;
	uint32_t pad;
} vka_memory_requirements;
vka_memory_requirements vka_buffer_requirements(uintptr_t dev, uint64_t buf);
vka_memory_requirements vka_image_requirements(uintptr_t dev, uint64_t img);
int32_t vka_bind_buffer(uintptr_t dev, uint64_t buf, uint64_t mem, uint64_t offset);
int32_t vka_bind_image(uintptr_t dev, uint64_t img, uint64_t mem, uint64_t offset);

// Buffers, images, views, samplers.
// vka_families: the queue families a resource is shared by; with two or
// more, VK_SHARING_MODE_CONCURRENT, else exclusive.
typedef struct vka_families {
	uint32_t count;
	uint32_t index[4];
} vka_families;
vka_result vka_create_buffer(uintptr_t dev, uint64_t size, uint32_t usage, uint32_t flags, vka_families fam);
void vka_destroy_buffer(uintptr_t dev, uint64_t buf);
typedef struct vka_image_info {
	uint32_t imageType, format, width, height, depth, mipLevels, arrayLayers,
		samples, tiling, usage, flags, initialLayout;
	vka_families families;
} vka_image_info;
vka_result vka_create_image(uintptr_t dev, vka_image_info in);
void vka_destroy_image(uintptr_t dev, uint64_t img);
vka_result vka_create_image_view(uintptr_t dev, uint64_t img, uint32_t viewType, uint32_t format,
	uint32_t aspect, uint32_t baseMip, uint32_t mips, uint32_t baseLayer, uint32_t layers);
void vka_destroy_image_view(uintptr_t dev, uint64_t view);
vka_result vka_create_sampler(uintptr_t dev, uint32_t magFilter, uint32_t minFilter, uint32_t mipmapMode,
                               uint32_t addressU, uint32_t addressV, uint32_t addressW, float maxLod);
void vka_destroy_sampler(uintptr_t dev, uint64_t s);

// Synchronization.
vka_result vka_create_fence(uintptr_t dev, int signaled);
void vka_destroy_fence(uintptr_t dev, uint64_t f);
int32_t vka_reset_fence(uintptr_t dev, uint64_t f);
int32_t vka_fence_status(uintptr_t dev, uint64_t f);
int32_t vka_wait_fence(uintptr_t dev, uint64_t f, uint64_t timeout);
vka_result vka_create_semaphore(uintptr_t dev, int timeline, uint64_t initial);
void vka_destroy_semaphore(uintptr_t dev, uint64_t s);
vka_result vka_semaphore_value(uintptr_t dev, uint64_t s);
int32_t vka_wait_semaphore(uintptr_t dev, uint64_t s, uint64_t value, uint64_t timeout);
int32_t vka_signal_semaphore(uintptr_t dev, uint64_t s, uint64_t value);

// Commands.
vka_result vka_create_command_pool(uintptr_t dev, uint32_t family, uint32_t flags);
void vka_destroy_command_pool(uintptr_t dev, uint64_t pool);
int32_t vka_reset_command_pool(uintptr_t dev, uint64_t pool);
vka_result vka_allocate_command_buffer(uintptr_t dev, uint64_t pool);
void vka_free_command_buffer(uintptr_t dev, uint64_t pool, uintptr_t cmd);
int32_t vka_begin_command_buffer(uintptr_t dev, uintptr_t cmd, uint32_t flags);
int32_t vka_end_command_buffer(uintptr_t dev, uintptr_t cmd);

typedef struct vka_semaphore_submit {
	uint64_t semaphore;
	uint64_t value;
	uint32_t stage;
	uint32_t pad;
} vka_semaphore_submit;
int32_t vka_queue_submit(uintptr_t dev, uintptr_t queue, const uintptr_t* cmds, uint32_t ncmds,
	const vka_semaphore_submit* waits, uint32_t nwaits,
	const vka_semaphore_submit* signals, uint32_t nsignals, int timeline, uint64_t fence);

void vka_cmd_copy_buffer(uintptr_t dev, uintptr_t cmd, uint64_t src, uint64_t dst,
	uint64_t srcOffset, uint64_t dstOffset, uint64_t size);
void vka_cmd_fill_buffer(uintptr_t dev, uintptr_t cmd, uint64_t buf, uint64_t offset, uint64_t size, uint32_t data);

typedef struct vka_buffer_image_copy {
	uint64_t bufferOffset;
	uint32_t bufferRowLength, bufferImageHeight;
	uint32_t aspect, mipLevel, baseLayer, layers;
	int32_t x, y, z;
	uint32_t width, height, depth;
} vka_buffer_image_copy;
void vka_cmd_copy_buffer_to_image(uintptr_t dev, uintptr_t cmd, uint64_t buf, uint64_t img,
	uint32_t layout, vka_buffer_image_copy region);
void vka_cmd_copy_image_to_buffer(uintptr_t dev, uintptr_t cmd, uint64_t img, uint32_t layout,
	uint64_t buf, vka_buffer_image_copy region);

void vka_cmd_copy_image(uintptr_t dev, uintptr_t cmd, uint64_t src, uint32_t srcLayout, uint64_t dst, uint32_t dstLayout,
	int32_t sx, int32_t sy, int32_t dx, int32_t dy, uint32_t w, uint32_t h);

void vka_cmd_copy_image_levels(uintptr_t dev, uintptr_t cmd, uint64_t src, uint32_t srcLayout, uint64_t dst, uint32_t dstLayout,
	uint32_t w, uint32_t h, uint32_t levels);

typedef struct vka_barrier {
	uint32_t srcStage, dstStage, srcAccess, dstAccess;
	// image barrier when image != 0, buffer barrier when buffer != 0, else a memory barrier
	uint64_t image;
	uint32_t oldLayout, newLayout, aspect, baseMip, mips, baseLayer, layers, pad;
	uint64_t buffer, offset, size;
} vka_barrier;
void vka_cmd_barrier(uintptr_t dev, uintptr_t cmd, vka_barrier bv);
// A batch of barriers for one vkCmdPipelineBarrier with the stage masks
// given (those of the barriers are ignored), taken by value so that Go
// passes no pointer (a pointer handed to cgo escapes to the heap).
#define VKA_BARRIER_BATCH 32
typedef struct vka_barriers {
	uint32_t count, srcStage, dstStage, _pad;
	vka_barrier b[VKA_BARRIER_BATCH];
} vka_barriers;
void vka_cmd_barriers(uintptr_t dev, uintptr_t cmd, vka_barriers bs);
typedef struct vka_image_blit {
	uint32_t srcMip, dstMip;
	int32_t src[4], dst[4]; // x0, y0, x1, y1
} vka_image_blit;
void vka_cmd_blit_image(uintptr_t dev, uintptr_t cmd, uint64_t src, uint32_t srcLayout, uint64_t dst, uint32_t dstLayout,
	vka_image_blit region, uint32_t filter);
typedef struct vka_format_properties {
	uint32_t linear, optimal, buffer;
} vka_format_properties;
vka_format_properties vka_format_properties_get(uintptr_t inst, uintptr_t phys, uint32_t format);

// Graphics objects: every description is a plain struct of values (fixed
// arrays with counts), built by Go and read by C before the call returns.
#define VKA_MAX_ATTACHMENTS 8
#define VKA_MAX_DEPENDENCIES 4
typedef struct vka_attachment {
	uint32_t format, loadOp, storeOp, initialLayout, finalLayout;
} vka_attachment;
typedef struct vka_dependency {
	uint32_t srcSubpass, dstSubpass, srcStage, dstStage, srcAccess, dstAccess;
} vka_dependency;
typedef struct vka_render_pass_info {
	uint32_t colorCount, hasDepth, dependencyCount;
	vka_attachment attachments[VKA_MAX_ATTACHMENTS]; // colours, then the depth attachment
	vka_dependency dependencies[VKA_MAX_DEPENDENCIES];
} vka_render_pass_info;
vka_result vka_create_render_pass(uintptr_t dev, const vka_render_pass_info* info);
void vka_destroy_render_pass(uintptr_t dev, uint64_t rp);
vka_result vka_create_framebuffer(uintptr_t dev, uint64_t renderPass, const uint64_t* views, uint32_t count, uint32_t w, uint32_t h);
void vka_destroy_framebuffer(uintptr_t dev, uint64_t fb);
vka_result vka_create_shader_module(uintptr_t dev, const uint32_t* code, size_t size);
void vka_destroy_shader_module(uintptr_t dev, uint64_t m);

#define VKA_MAX_BINDINGS 16
#define VKA_MAX_WRITES 8
typedef struct vka_binding {
	uint32_t binding, type, count, stages;
} vka_binding;
vka_result vka_create_descriptor_set_layout(uintptr_t dev, const vka_binding* bindings, uint32_t count);
void vka_destroy_descriptor_set_layout(uintptr_t dev, uint64_t l);
typedef struct vka_push_range {
	uint32_t stages, offset, size;
} vka_push_range;
vka_result vka_create_pipeline_layout(uintptr_t dev, const uint64_t* sets, uint32_t nsets, const vka_push_range* push, uint32_t npush);
void vka_destroy_pipeline_layout(uintptr_t dev, uint64_t l);

#define VKA_MAX_VERTEX_ATTRIBUTES 16
typedef struct vka_vertex_attribute {
	uint32_t location, format, offset;
} vka_vertex_attribute;
typedef struct vka_graphics_pipeline_info {
	uint64_t vertex, fragment, layout, renderPass;
	uint32_t subpass;
	uint32_t stride, attributeCount;
	vka_vertex_attribute attributes[VKA_MAX_VERTEX_ATTRIBUTES];
	uint32_t topology, cullMode, frontFace;
	uint32_t depthTest, depthWrite, depthCompare;
	uint32_t blend, colorAttachments;
	uint32_t dynamicViewport;
	uint32_t viewportWidth, viewportHeight; // when the viewport is static
} vka_graphics_pipeline_info;
vka_result vka_create_graphics_pipeline(uintptr_t dev, const vka_graphics_pipeline_info* info);
void vka_destroy_pipeline(uintptr_t dev, uint64_t p);

typedef struct vka_pool_size {
	uint32_t type, count;
} vka_pool_size;
vka_result vka_create_descriptor_pool(uintptr_t dev, uint32_t maxSets, const vka_pool_size* sizes, uint32_t count);
void vka_destroy_descriptor_pool(uintptr_t dev, uint64_t pool);
int32_t vka_reset_descriptor_pool(uintptr_t dev, uint64_t pool);
vka_result vka_allocate_descriptor_set(uintptr_t dev, uint64_t pool, uint64_t layout);
typedef struct vka_image_write {
	uint64_t set;
	uint32_t binding, element;
	uint64_t sampler, view;
	uint32_t layout, _pad;
} vka_image_write;
// The per-draw calls take their arrays by value, so that Go passes no
// pointer (a pointer handed to cgo escapes to the heap).
typedef struct vka_image_writes {
	uint32_t count;
	vka_image_write w[VKA_MAX_WRITES];
} vka_image_writes;
void vka_update_descriptor_sets(uintptr_t dev, vka_image_writes writes);

typedef struct vka_clear_value {
	uint32_t v[4]; // VkClearValue's bytes: a colour's four floats, or depth and stencil
} vka_clear_value;
typedef struct vka_clear_values {
	uint32_t count;
	vka_clear_value v[VKA_MAX_ATTACHMENTS];
} vka_clear_values;
void vka_cmd_begin_render_pass(uintptr_t dev, uintptr_t cmd, uint64_t renderPass, uint64_t fb,
	int32_t x, int32_t y, uint32_t w, uint32_t h, vka_clear_values clears);
void vka_cmd_end_render_pass(uintptr_t dev, uintptr_t cmd);
void vka_cmd_set_viewport(uintptr_t dev, uintptr_t cmd, float x, float y, float w, float h, float minDepth, float maxDepth);
void vka_cmd_set_scissor(uintptr_t dev, uintptr_t cmd, int32_t x, int32_t y, uint32_t w, uint32_t h);
void vka_cmd_bind_pipeline(uintptr_t dev, uintptr_t cmd, uint64_t p);
#define VKA_MAX_BOUND 8
typedef struct vka_handles {
	uint32_t count;
	uint64_t v[VKA_MAX_BOUND];
	uint64_t offsets[VKA_MAX_BOUND];
} vka_handles;
void vka_cmd_bind_descriptor_sets(uintptr_t dev, uintptr_t cmd, uint64_t layout, uint32_t first, vka_handles sets);
typedef struct vka_push_data {
	uint8_t bytes[128];
} vka_push_data;
void vka_cmd_push_constants(uintptr_t dev, uintptr_t cmd, uint64_t layout, uint32_t stages, uint32_t offset, uint32_t size, vka_push_data data);
void vka_cmd_bind_vertex_buffers(uintptr_t dev, uintptr_t cmd, uint32_t first, vka_handles buffers);
void vka_cmd_bind_index_buffer(uintptr_t dev, uintptr_t cmd, uint64_t buffer, uint64_t offset, uint32_t type);
void vka_cmd_draw(uintptr_t dev, uintptr_t cmd, uint32_t vertices, uint32_t instances, uint32_t firstVertex, uint32_t firstInstance);
void vka_cmd_draw_indexed(uintptr_t dev, uintptr_t cmd, uint32_t indices, uint32_t instances, uint32_t firstIndex, int32_t vertexOffset, uint32_t firstInstance);

// Swapchains.
typedef struct vka_surface_info {
	int32_t supported;
	uint32_t minImages, maxImages;
	uint32_t curWidth, curHeight, minWidth, minHeight, maxWidth, maxHeight;
	uint32_t transform;
	uint32_t format, colorSpace; // a B8G8R8A8 or R8G8B8A8 UNORM format when offered, else the first
} vka_surface_info;
int32_t vka_surface_info_get(uintptr_t inst, uintptr_t phys, uint32_t family, uint64_t surface, vka_surface_info* out);
vka_result vka_create_swapchain(uintptr_t dev, uint64_t surface, uint32_t images, uint32_t format, uint32_t colorSpace,
	uint32_t w, uint32_t h, uint32_t transform, uint64_t old);
void vka_destroy_swapchain(uintptr_t dev, uint64_t sc);
int32_t vka_swapchain_images(uintptr_t dev, uint64_t sc, uint32_t* count, uint64_t* out);
vka_result vka_acquire_image(uintptr_t dev, uint64_t sc, uint64_t semaphore, uint64_t timeout);
int32_t vka_present(uintptr_t dev, uintptr_t queue, uint64_t sc, uint32_t index, uint64_t wait);
void vka_cmd_blit(uintptr_t dev, uintptr_t cmd, uint64_t src, uint32_t sw, uint32_t sh, uint64_t dst, uint32_t dw, uint32_t dh);

#endif
