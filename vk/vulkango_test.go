package vk_test

import (
	"os"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"
	vkg "github.com/vulkan-go/vulkan"

	"github.com/vkassets/vkassets/vk"
)

// goApp is an application's Vulkan objects made with vulkan-go alone, as an
// engine written against it makes them: a validated instance (errors
// counted through VK_EXT_debug_report, which vulkan-go binds), a device and
// its queue.
type goApp struct {
	inst     vkg.Instance
	phys     vkg.PhysicalDevice
	dev      vkg.Device
	queue    vkg.Queue
	family   uint32
	api      vk.Version
	timeline bool
}

// goErrors collects the validation errors of every goApp: vulkan-go keeps
// one debug-report callback for the process.
var goErrors struct {
	mu   sync.Mutex // guards list
	list []string
}

// newGoApp creates the objects for api (the instance's apiVersion); with
// timeline, the device enables the timelineSemaphore feature. Cleanup
// destroys them and fails the test on any validation error.
func newGoApp(t *testing.T, api vk.Version, timeline bool) *goApp {
	t.Helper()
	require.NoError(t, vk.InitVulkanGo())
	app := &goApp{api: api, timeline: timeline}
	r := vkg.CreateInstance(&vkg.InstanceCreateInfo{
		SType: vkg.StructureTypeInstanceCreateInfo,
		PApplicationInfo: &vkg.ApplicationInfo{SType: vkg.StructureTypeApplicationInfo,
			PApplicationName: t.Name() + "\x00", ApiVersion: uint32(api)},
		EnabledLayerCount:       1,
		PpEnabledLayerNames:     []string{"VK_LAYER_KHRONOS_validation\x00"},
		EnabledExtensionCount:   2,
		PpEnabledExtensionNames: []string{"VK_EXT_debug_report\x00", "VK_EXT_debug_utils\x00"},
	}, nil, &app.inst)
	require.NoError(t, vkg.Error(r), "vkCreateInstance (is the validation layer installed?)")
	require.NoError(t, vkg.InitInstance(app.inst))
	var cb vkg.DebugReportCallback
	r = vkg.CreateDebugReportCallback(app.inst, &vkg.DebugReportCallbackCreateInfo{
		SType: vkg.StructureTypeDebugReportCallbackCreateInfo,
		Flags: vkg.DebugReportFlags(vkg.DebugReportErrorBit),
		PfnCallback: func(_ vkg.DebugReportFlags, _ vkg.DebugReportObjectType, _ uint64, _ uint, _ int32, _, msg string, _ unsafe.Pointer) vkg.Bool32 {
			msg = strings.Clone(msg) // vulkan-go's string is the layer's C memory, valid during the call
			goErrors.mu.Lock()
			goErrors.list = append(goErrors.list, msg)
			goErrors.mu.Unlock()
			return vkg.False
		},
	}, nil, &cb)
	require.NoError(t, vkg.Error(r))

	app.phys = choosePhysical(t, app.inst)
	app.family = graphicsFamily(t, app.phys)
	info := &vkg.DeviceCreateInfo{
		SType:                vkg.StructureTypeDeviceCreateInfo,
		QueueCreateInfoCount: 1,
		PQueueCreateInfos: []vkg.DeviceQueueCreateInfo{{SType: vkg.StructureTypeDeviceQueueCreateInfo,
			QueueFamilyIndex: app.family, QueueCount: 1, PQueuePriorities: []float32{1}}},
	}
	if timeline {
		feat := vk.TimelineSemaphoreFeatures()
		defer feat.Free()
		info.PNext = feat.Pointer()
	}
	require.NoError(t, vkg.Error(vkg.CreateDevice(app.phys, info, nil, &app.dev)))
	vkg.GetDeviceQueue(app.dev, app.family, 0, &app.queue)
	t.Cleanup(func() {
		vkg.DeviceWaitIdle(app.dev)
		vkg.DestroyDevice(app.dev, nil)
		vkg.DestroyDebugReportCallback(app.inst, cb, nil)
		vkg.DestroyInstance(app.inst, nil)
		goErrors.mu.Lock()
		defer goErrors.mu.Unlock()
		require.Empty(t, goErrors.list, "validation errors")
	})
	return app
}

// wrapInfo is what the application knows about its objects.
func (app *goApp) wrapInfo() vk.VulkanGo {
	return vk.VulkanGo{Instance: app.inst, PhysicalDevice: app.phys, Device: app.dev, Queue: app.queue,
		QueueFamily: app.family, APIVersion: app.api, TimelineSemaphores: app.timeline, DebugUtils: true}
}

// choosePhysical takes the device VKASSETS_DEVICE names, else a GPU, else
// the first.
func choosePhysical(t *testing.T, inst vkg.Instance) vkg.PhysicalDevice {
	t.Helper()
	var n uint32
	require.NoError(t, vkg.Error(vkg.EnumeratePhysicalDevices(inst, &n, nil)))
	require.NotZero(t, n, "no Vulkan device")
	devs := make([]vkg.PhysicalDevice, n)
	require.NoError(t, vkg.Error(vkg.EnumeratePhysicalDevices(inst, &n, devs)))
	want := strings.ToLower(os.Getenv(vk.EnvDevice))
	best, rank := devs[0], 0
	for _, p := range devs {
		var props vkg.PhysicalDeviceProperties
		vkg.GetPhysicalDeviceProperties(p, &props)
		props.Deref()
		name := strings.ToLower(vkg.ToString(props.DeviceName[:]))
		r := map[vkg.PhysicalDeviceType]int{vkg.PhysicalDeviceTypeDiscreteGpu: 3, vkg.PhysicalDeviceTypeIntegratedGpu: 2}[props.DeviceType]
		if want != "" && strings.Contains(name, want) {
			r = 10
		}
		if r > rank {
			best, rank = p, r
		}
	}
	return best
}

func graphicsFamily(t *testing.T, p vkg.PhysicalDevice) uint32 {
	t.Helper()
	var n uint32
	vkg.GetPhysicalDeviceQueueFamilyProperties(p, &n, nil)
	fams := make([]vkg.QueueFamilyProperties, n)
	vkg.GetPhysicalDeviceQueueFamilyProperties(p, &n, fams)
	for i := range fams {
		fams[i].Deref()
		if vkg.QueueFlagBits(fams[i].QueueFlags)&vkg.QueueGraphicsBit != 0 {
			return uint32(i)
		}
	}
	t.Fatal("no graphics queue family")
	return 0
}

// TestWrapVulkanGo: a device made with vulkan-go is wrapped from its
// vulkan-go handles; vk's objects pass to vulkan-go calls and vulkan-go's
// to vk's without unsafe, both ways: vk records into a command buffer the
// application allocated and begun, the application submits it with
// vulkan-go, signalling its own timeline semaphore (made with vulkan-go),
// and vk reads that semaphore.
func TestWrapVulkanGo(t *testing.T) {
	app := newGoApp(t, vk.MakeVersion(1, 2, 0), true)
	d, err := vk.WrapVulkanGo(app.wrapInfo())
	require.NoError(t, err)
	defer d.Close()
	require.True(t, d.TimelineSemaphores())
	require.Equal(t, app.dev, d.VulkanGo())
	require.Equal(t, app.queue, d.VulkanGoQueue())
	require.Equal(t, app.phys, d.Physical().VulkanGo())
	require.Equal(t, app.inst, d.Instance().VulkanGo())

	// vk's buffer in vulkan-go's calls: the same memory requirements.
	b, m := boundBuffer(t, d, 256, vk.BufferUsageTransferDst)
	require.Equal(t, b, vk.BufferFromVulkanGo(b.VulkanGo()))
	var req vkg.MemoryRequirements
	vkg.GetBufferMemoryRequirements(app.dev, b.VulkanGo(), &req)
	req.Deref()
	require.Equal(t, d.BufferRequirements(b).Size, uint64(req.Size))

	// The application's timeline semaphore, command pool and buffer.
	tl := vk.TimelineSemaphoreType(0)
	var sem vkg.Semaphore
	require.NoError(t, vkg.Error(vkg.CreateSemaphore(app.dev, &vkg.SemaphoreCreateInfo{
		SType: vkg.StructureTypeSemaphoreCreateInfo, PNext: tl.Pointer()}, nil, &sem)))
	tl.Free()
	tl.Free() // idempotent
	require.Nil(t, tl.Pointer())
	defer vkg.DestroySemaphore(app.dev, sem, nil)
	var pool vkg.CommandPool
	require.NoError(t, vkg.Error(vkg.CreateCommandPool(app.dev, &vkg.CommandPoolCreateInfo{
		SType: vkg.StructureTypeCommandPoolCreateInfo, QueueFamilyIndex: app.family}, nil, &pool)))
	defer vkg.DestroyCommandPool(app.dev, pool, nil)
	cmds := make([]vkg.CommandBuffer, 1)
	require.NoError(t, vkg.Error(vkg.AllocateCommandBuffers(app.dev, &vkg.CommandBufferAllocateInfo{
		SType: vkg.StructureTypeCommandBufferAllocateInfo, CommandPool: pool,
		Level: vkg.CommandBufferLevelPrimary, CommandBufferCount: 1}, cmds)))
	require.NoError(t, vkg.Error(vkg.BeginCommandBuffer(cmds[0], &vkg.CommandBufferBeginInfo{
		SType: vkg.StructureTypeCommandBufferBeginInfo, Flags: vkg.CommandBufferUsageFlags(vkg.CommandBufferUsageOneTimeSubmitBit)})))
	cmd := vk.CommandBufferFromVulkanGo(cmds[0])
	require.Equal(t, cmds[0], cmd.VulkanGo())
	d.CmdFillBuffer(cmd, b, 0, 256, 7) // vk records into the application's command buffer
	require.NoError(t, vkg.Error(vkg.EndCommandBuffer(cmds[0])))

	values, err := vk.NewTimelineSubmitInfo(nil, []uint64{1})
	require.NoError(t, err)
	defer values.Free()
	d.QueueLocker().Lock()
	r := vkg.QueueSubmit(app.queue, 1, []vkg.SubmitInfo{{
		SType: vkg.StructureTypeSubmitInfo, PNext: values.Pointer(),
		CommandBufferCount: 1, PCommandBuffers: cmds,
		SignalSemaphoreCount: 1, PSignalSemaphores: []vkg.Semaphore{sem},
	}}, nil)
	d.QueueLocker().Unlock()
	require.NoError(t, vkg.Error(r))
	require.NoError(t, d.WaitSemaphore(vk.SemaphoreFromVulkanGo(sem), 1, 10*time.Second))
	v, err := d.SemaphoreValue(vk.SemaphoreFromVulkanGo(sem))
	require.NoError(t, err)
	require.Equal(t, uint64(1), v)
	waitFilled(t, d, m, 7)
	d.DestroyBuffer(b)
	d.FreeMemory(m)
}

// TestTimelineSubmitInfo: the values are set in place, bounded, and refused
// after Free.
func TestTimelineSubmitInfo(t *testing.T) {
	_, err := vk.NewTimelineSubmitInfo(nil, make([]uint64, vk.MaxSubmitSemaphores+1))
	require.ErrorContains(t, err, "at most 8")
	ts, err := vk.NewTimelineSubmitInfo([]uint64{1, 2}, []uint64{3})
	require.NoError(t, err)
	require.NotNil(t, ts.Pointer())
	require.NoError(t, ts.Set(nil, []uint64{4, 5}))
	ts.Free()
	ts.Free()
	require.Nil(t, ts.Pointer())
	require.ErrorIs(t, ts.Set(nil, []uint64{6}), vk.ErrFreed)
}

// TestVulkanGoConversionsAllocateNothing: the conversions and a frame's
// TimelineSubmitInfo.Set are on the per-frame path.
func TestVulkanGoConversionsAllocateNothing(t *testing.T) {
	ts, err := vk.NewTimelineSubmitInfo(nil, []uint64{1})
	require.NoError(t, err)
	defer ts.Free()
	signal := []uint64{2}
	b, c, s := vk.Buffer(0x1234), vk.CommandBuffer(0x5678), vk.Semaphore(0x9abc)
	var sink uint64
	allocs := testing.AllocsPerRun(100, func() {
		sink += uint64(vk.BufferFromVulkanGo(b.VulkanGo()))
		sink += uint64(vk.CommandBufferFromVulkanGo(c.VulkanGo()))
		sink += uint64(vk.SemaphoreFromVulkanGo(s.VulkanGo()))
		if err := ts.Set(nil, signal); err != nil {
			t.Fatal(err)
		}
	})
	require.Zero(t, allocs)
	require.Equal(t, uint64(100+1)*(0x1234+0x5678+0x9abc), sink, "the handles survive the round trip")
}

// TestWrapVulkanGoRefuses: Wrap's checks hold for vulkan-go handles: each
// bad input is refused with an error naming what is wrong, and the
// application's device still works afterwards.
func TestWrapVulkanGoRefuses(t *testing.T) {
	t.Run("api-1.0", func(t *testing.T) {
		// vulkan-go's examples ask for apiVersion 1.0.
		app := newGoApp(t, vk.MakeVersion(1, 0, 0), false)
		info := app.wrapInfo()
		info.APIVersion = 0 // not stated: found out from the missing commands
		d, err := vk.WrapVulkanGo(info)
		require.ErrorIs(t, err, vk.ErrUnsupported)
		require.Nil(t, d)
		require.Contains(t, err.Error(), "vkGetBufferMemoryRequirements2")
		_, err = vk.WrapVulkanGo(app.wrapInfo())
		require.ErrorIs(t, err, vk.ErrUnsupported)
		require.Contains(t, err.Error(), "apiVersion is 1.0.0")
		t.Log(err)
	})
	t.Run("timeline-at-1.1", func(t *testing.T) {
		app := newGoApp(t, vk.MakeVersion(1, 1, 0), false)
		info := app.wrapInfo()
		info.TimelineSemaphores = true
		_, err := vk.WrapVulkanGo(info)
		require.ErrorIs(t, err, vk.ErrUnsupported)
		require.Contains(t, err.Error(), "timeline semaphores need 1.2")
	})
	app := newGoApp(t, vk.MakeVersion(1, 2, 0), true)
	t.Run("missing-handles", func(t *testing.T) {
		for _, blank := range []func(*vk.VulkanGo){
			func(g *vk.VulkanGo) { g.Instance = nil },
			func(g *vk.VulkanGo) { g.PhysicalDevice = nil },
			func(g *vk.VulkanGo) { g.Device = nil },
			func(g *vk.VulkanGo) { g.Queue = nil },
		} {
			info := app.wrapInfo()
			blank(&info)
			_, err := vk.WrapVulkanGo(info)
			require.ErrorContains(t, err, "Instance, PhysicalDevice, Device and Queue are required")
		}
	})
	t.Run("queue-family", func(t *testing.T) {
		info := app.wrapInfo()
		info.QueueFamily = 99
		_, err := vk.WrapVulkanGo(info)
		require.ErrorContains(t, err, "queue family 99 does not exist")
	})
	t.Run("foreign-physical-device", func(t *testing.T) {
		// A physical device of another instance is not the instance's.
		other := newGoApp(t, vk.MakeVersion(1, 2, 0), false)
		info := app.wrapInfo()
		info.PhysicalDevice = other.phys
		_, err := vk.WrapVulkanGo(info)
		require.ErrorIs(t, err, vk.ErrNoDevice)
		require.ErrorContains(t, err, "not one of the instance's")
	})
	// The application's device is intact.
	d, err := vk.WrapVulkanGo(app.wrapInfo())
	require.NoError(t, err)
	b, m := boundBuffer(t, d, 256, vk.BufferUsageTransferDst)
	oneShot(t, d, func(cmd vk.CommandBuffer) { d.CmdFillBuffer(cmd, b, 0, 256, 3) })
	waitFilled(t, d, m, 3)
	d.DestroyBuffer(b)
	d.FreeMemory(m)
	d.Close()
}
