package vk_test

import (
	"errors"
	"fmt"
	"log"

	vulkan "github.com/vulkan-go/vulkan"

	"github.com/vkassets/vkassets/vk"
)

// Open a device, create a buffer, ask what memory it needs.
func Example() {
	d, err := vk.Open(vk.Options{InstanceOptions: vk.InstanceOptions{AppName: "example", Validation: true}})
	if err != nil {
		log.Fatal(err)
	}
	defer d.Close()

	buf, err := d.CreateBuffer(1000, vk.BufferUsageVertex|vk.BufferUsageTransferDst)
	if err != nil {
		log.Fatal(err)
	}
	req := d.BufferRequirements(buf)
	fmt.Println("needs at least 1000 bytes:", req.Size >= 1000)
	fmt.Println("alignment is a power of two:", req.Alignment&(req.Alignment-1) == 0)
	d.DestroyBuffer(buf)
	d.Close()
	fmt.Println("validation errors:", d.Validator().Errors())
	// Output:
	// needs at least 1000 bytes: true
	// alignment is a power of two: true
	// validation errors: 0
}

// Errors from Vulkan calls match the sentinels with errors.Is.
func ExampleError() {
	err := fmt.Errorf("upload texture: %w", &vk.Error{Op: "vkAllocateMemory", Result: vk.ErrorOutOfDeviceMemory})
	fmt.Println(errors.Is(err, vk.ErrOutOfDeviceMemory))
	var ve *vk.Error
	if errors.As(err, &ve) {
		fmt.Println(ve.Op, ve.Result)
	}
	// Output:
	// true
	// vkAllocateMemory VK_ERROR_OUT_OF_DEVICE_MEMORY
}

// vkassets' objects go into vulkan-go's calls, and come back, with no
// unsafe in the application: here a buffer made by vk is queried with
// vulkan-go.
func ExampleBuffer_VulkanGo() {
	d, err := vk.Open(vk.Options{InstanceOptions: vk.InstanceOptions{AppName: "example", Validation: true}})
	if err != nil {
		log.Fatal(err)
	}
	defer d.Close()
	buf, err := d.CreateBuffer(1000, vk.BufferUsageVertex)
	if err != nil {
		log.Fatal(err)
	}
	var req vulkan.MemoryRequirements
	vulkan.GetBufferMemoryRequirements(d.VulkanGo(), buf.VulkanGo(), &req)
	req.Deref()
	fmt.Println("vulkan-go sees the same buffer:", uint64(req.Size) == d.BufferRequirements(buf).Size)
	fmt.Println("and hands it back:", vk.BufferFromVulkanGo(buf.VulkanGo()) == buf)
	d.DestroyBuffer(buf)
	d.Close()
	fmt.Println("validation errors:", d.Validator().Errors())
	// Output:
	// vulkan-go sees the same buffer: true
	// and hands it back: true
	// validation errors: 0
}

// An engine written against vulkan-go hands its objects to vkassets as
// they are; examples/vulkango is a complete program.
func ExampleWrapVulkanGo() {
	// Your engine made these with vulkan-go (instance apiVersion 1.2, the
	// timelineSemaphore feature enabled with vk.TimelineSemaphoreFeatures).
	var (
		instance vulkan.Instance
		physical vulkan.PhysicalDevice
		device   vulkan.Device
		queue    vulkan.Queue
		family   uint32
	)
	d, err := vk.WrapVulkanGo(vk.VulkanGo{
		Instance: instance, PhysicalDevice: physical, Device: device, Queue: queue, QueueFamily: family,
		APIVersion:         vk.Version(vulkan.MakeVersion(1, 2, 0)), // as in your vulkan.ApplicationInfo
		TimelineSemaphores: true,
	})
	if err != nil {
		log.Fatal(err) // names what the instance or device lacks
	}
	defer d.Close() // vkassets' tables only: the device stays yours

	// vkassets' images go into your vulkan-go calls; your command buffers
	// and semaphores into vkassets'.
	img, err := d.CreateImage(vk.ImageInfo{Width: 64, Height: 64, Format: vk.FormatR8G8B8A8Srgb, Usage: vk.ImageUsageSampled})
	if err != nil {
		log.Fatal(err)
	}
	var req vulkan.MemoryRequirements
	vulkan.GetImageMemoryRequirements(device, img.VulkanGo(), &req)
}
