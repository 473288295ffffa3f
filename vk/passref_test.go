package vk_test

import (
	"testing"

	vkg "github.com/vulkan-go/vulkan"

	"github.com/vkassets/vkassets/vk"
	"github.com/vkassets/vkassets/vk/vktest"
)

// TestRSSCheckCatchesPassRefLeak proves that the RSS measurement of
// TestNoCMemoryGrowth can fail: the naive vulkan-go pattern (PassRef without
// Free) on a cold-path query grows RSS well past that test's 2 MiB bound.
func TestRSSCheckCatchesPassRefLeak(t *testing.T) {
	const iterations = 2_000
	in, err := vk.NewInstance(vk.InstanceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	devs, err := in.PhysicalDevices()
	if err != nil || len(devs) == 0 {
		t.Fatalf("no device: %v", err)
	}
	pd := vkg.PhysicalDevice(devs[0].Handle())
	before := vktest.RSS(t)
	for range iterations {
		var mem vkg.PhysicalDeviceMemoryProperties
		vkg.GetPhysicalDeviceMemoryProperties(pd, &mem) // PassRef: a C copy, never freed
		mem.Deref()
	}
	growth := vktest.RSS(t) - before
	t.Logf("naive vulkan-go: RSS +%d bytes over %d calls (%.0f bytes per call)", growth, iterations, float64(growth)/iterations)
	if growth < 2<<20 {
		t.Fatalf("the leak grew RSS by only %d bytes: the RSS check could not catch it", growth)
	}
}
