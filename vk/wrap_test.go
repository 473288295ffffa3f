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

	// With the instance's apiVersion stated, Wrap checks it and the
	// timeline semaphore feature from it.
	d, err = vk.Wrap(vk.External{
		Instance: app.Instance().Handle(), PhysicalDevice: app.Physical().Handle(),
		Device: app.Handle(), Queue: app.QueueHandle(), QueueFamily: app.QueueFamily(),
		TimelineSemaphores: app.TimelineSemaphores(), APIVersion: app.Instance().APIVersion(),
	})
	require.NoError(t, err)
	require.Equal(t, app.Instance().APIVersion(), d.Instance().APIVersion())
	require.Equal(t, app.Physical().TimelineSemaphore, d.Physical().TimelineSemaphore)
	d.Close()

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

// appDevice makes an application's instance (validated, created for api)
// and device, as an engine would, for Wrap.
func appDevice(t *testing.T, api vk.Version) (*vk.Instance, *vk.Device) {
	t.Helper()
	in, err := vk.NewInstanceForAPI(vk.InstanceOptions{AppName: t.Name(), Validation: true, Logger: vktest.Logger(t)}, api)
	require.NoError(t, err)
	d, err := in.NewDevice(vk.Options{})
	require.NoError(t, err)
	t.Cleanup(func() {
		d.Close()
		in.Close()
		vktest.Check(t, in.Validator())
	})
	return in, d
}

func external(in *vk.Instance, d *vk.Device) vk.External {
	return vk.External{Instance: in.Handle(), PhysicalDevice: d.Physical().Handle(),
		Device: d.Handle(), Queue: d.QueueHandle(), QueueFamily: d.QueueFamily(), DebugUtils: true}
}

// TestWrapAPI10: a device whose effective Vulkan version is 1.0 (an instance
// created with apiVersion 1.0, vulkan-go's default) lacks the 1.1 commands
// vkassets calls on every texture: Wrap refuses it with an error naming
// what is missing, and makes no call the layer objects to. Before the check,
// Wrap accepted it (after a vkGetPhysicalDeviceFeatures2 the layer reported
// as UNASSIGNED-API-Version-Violation) and BufferRequirements then called a
// NULL pointer: SIGSEGV.
func TestWrapAPI10(t *testing.T) {
	in, app := appDevice(t, vk.MakeVersion(1, 0, 0))
	t.Run("not-stated", func(t *testing.T) {
		d, err := vk.Wrap(external(in, app))
		require.ErrorIs(t, err, vk.ErrUnsupported)
		require.Nil(t, d)
		require.Contains(t, err.Error(), "vkGetBufferMemoryRequirements2")
		require.Contains(t, err.Error(), "vkGetImageMemoryRequirements2")
		require.Contains(t, err.Error(), "apiVersion >= VK_API_VERSION_1_1")
		t.Log(err)
	})
	t.Run("stated", func(t *testing.T) {
		ext := external(in, app)
		ext.APIVersion = vk.MakeVersion(1, 0, 0)
		_, err := vk.Wrap(ext)
		require.ErrorIs(t, err, vk.ErrUnsupported)
		require.Contains(t, err.Error(), "apiVersion is 1.0.0")
		t.Log(err)
	})
	// The application's device is untouched and still works.
	b, err := app.CreateBuffer(64, vk.BufferUsageVertex)
	require.NoError(t, err)
	app.DestroyBuffer(b)
}

// TestWrapTimelineNeeds12: TimelineSemaphores on a device of effective
// version 1.1 is refused, stated or found out from the missing commands.
func TestWrapTimelineNeeds12(t *testing.T) {
	in, app := appDevice(t, vk.MakeVersion(1, 1, 0))
	require.False(t, app.TimelineSemaphores(), "no timeline semaphores at 1.1")
	ext := external(in, app)
	ext.TimelineSemaphores = true
	_, err := vk.Wrap(ext)
	require.ErrorIs(t, err, vk.ErrUnsupported)
	require.Contains(t, err.Error(), "vkGetSemaphoreCounterValue")
	ext.APIVersion = vk.MakeVersion(1, 1, 0)
	_, err = vk.Wrap(ext)
	require.ErrorIs(t, err, vk.ErrUnsupported)
	require.Contains(t, err.Error(), "timeline semaphores need 1.2")

	// Without timeline semaphores, 1.1 is enough.
	ext.TimelineSemaphores = false
	d, err := vk.Wrap(ext)
	require.NoError(t, err)
	b, m := boundBuffer(t, d, 256, vk.BufferUsageTransferDst)
	oneShot(t, d, func(cmd vk.CommandBuffer) { d.CmdFillBuffer(cmd, b, 0, 256, 9) })
	waitFilled(t, d, m, 9)
	d.DestroyBuffer(b)
	d.FreeMemory(m)
	d.Close()
}
