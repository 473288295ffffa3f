package vk_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkassets/vkassets/vk"
	"github.com/vkassets/vkassets/vk/vktest"
)

// TestWrap: a device made elsewhere (here by vk.Open, standing for the
// application) is wrapped, used, and closed without destroying it.
func TestWrap(t *testing.T) {
	app := vktest.Open(t)
	d, err := vk.Wrap(vk.External{
		Instance: app.Instance().Handle(), PhysicalDevice: app.Physical().Handle(),
		Device: app.Handle(), Queue: app.QueueHandle(), QueueFamily: app.QueueFamily(),
		TimelineSemaphores: app.TimelineSemaphores(), DebugUtils: true,
	})
	require.NoError(t, err)
	require.Equal(t, app.Physical().Name, d.Physical().Name)
	b, m := boundBuffer(t, d, 256, vk.BufferUsageTransferDst)
	oneShot(t, d, func(cmd vk.CommandBuffer) { d.CmdFillBuffer(cmd, b, 0, 256, 5) })
	waitFilled(t, d, m, 5)
	d.DestroyBuffer(b)
	d.FreeMemory(m)
	d.Close() // frees vkassets' table only: the application's device lives on
	buf, err := app.CreateBuffer(64, vk.BufferUsageVertex)
	require.NoError(t, err, "the application's device is intact")
	app.DestroyBuffer(buf)

	_, err = vk.Wrap(vk.External{})
	require.Error(t, err)
}

func TestFaultInjector(t *testing.T) {
	d := vktest.Open(t)
	d.SetFaultInjector(func(op string) vk.Result {
		if op == "vkAllocateMemory" {
			return vk.ErrorOutOfDeviceMemory
		}
		return vk.Success
	})
	_, err := d.AllocateMemory(vk.MemoryAllocateInfo{Size: 256, TypeIndex: 0})
	require.ErrorIs(t, err, vk.ErrOutOfDeviceMemory)
	var ve *vk.Error
	require.ErrorAs(t, err, &ve)
	require.Equal(t, "vkAllocateMemory", ve.Op)
	d.SetFaultInjector(nil)
	m, err := d.AllocateMemory(vk.MemoryAllocateInfo{Size: 256, TypeIndex: 0})
	require.NoError(t, err)
	d.FreeMemory(m)
}
