package vk_test

import (
	"errors"
	"fmt"
	"log"

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
