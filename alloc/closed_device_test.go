package alloc_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkassets/vkassets/alloc"
	"github.com/vkassets/vkassets/vk"
	"github.com/vkassets/vkassets/vk/vktest"
)

// closingDevice is a device closed on another goroutine between the
// creation of a buffer or image and the query of its requirements: a
// closed vk.Device answers that query with zeros.
type closingDevice struct {
	alloc.Device
	closed    bool
	destroyed int
}

func (c *closingDevice) Closed() bool { return c.closed }

func (c *closingDevice) BufferRequirements(vk.Buffer) vk.MemoryRequirements {
	c.closed = true
	return vk.MemoryRequirements{}
}

func (c *closingDevice) ImageRequirements(vk.Image) vk.MemoryRequirements {
	c.closed = true
	return vk.MemoryRequirements{}
}

func (c *closingDevice) DestroyBuffer(b vk.Buffer) { c.destroyed++; c.Device.DestroyBuffer(b) }
func (c *closingDevice) DestroyImage(i vk.Image)   { c.destroyed++; c.Device.DestroyImage(i) }

// TestDeviceClosedDuringCreate: the allocator answers the device's
// ErrClosed (not "size is zero") and destroys what it had made.
func TestDeviceClosedDuringCreate(t *testing.T) {
	d := vktest.Open(t)
	dev := &closingDevice{Device: d}
	a, err := alloc.New(alloc.Options{Device: dev})
	require.NoError(t, err)
	_, _, err = a.CreateBuffer(256, vk.BufferUsageTransferSrc, alloc.AllocationOptions{Name: "b"})
	require.ErrorIs(t, err, vk.ErrClosed)
	dev.closed = false
	_, _, err = a.CreateImage(vk.ImageInfo{Format: vk.FormatR8G8B8A8Unorm, Width: 4, Height: 4, Usage: vk.ImageUsageSampled},
		alloc.AllocationOptions{Name: "i"})
	require.ErrorIs(t, err, vk.ErrClosed)
	require.Equal(t, 2, dev.destroyed, "the buffer and the image made before are destroyed")
	require.NoError(t, a.Close())
}
