package vk_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vkassets/vkassets/vk"
	"github.com/vkassets/vkassets/vk/vktest"
)

// hostMemoryType is the first host-visible, coherent type the requirements allow.
func hostMemoryType(t testing.TB, d *vk.Device, bits uint32) uint32 {
	t.Helper()
	want := vk.MemoryHostVisible | vk.MemoryHostCoherent
	for i, mt := range d.Physical().Memory.Types {
		if bits&(1<<i) != 0 && mt.Flags&want == want {
			return uint32(i)
		}
	}
	t.Fatalf("no host-visible coherent memory type in %b", bits)
	return 0
}

// boundBuffer creates a host-visible buffer with its own memory.
func boundBuffer(t testing.TB, d *vk.Device, size uint64, usage vk.BufferUsage) (vk.Buffer, vk.DeviceMemory) {
	t.Helper()
	b, err := d.CreateBuffer(size, usage)
	require.NoError(t, err)
	req := d.BufferRequirements(b)
	require.GreaterOrEqual(t, req.Size, size)
	m, err := d.AllocateMemory(vk.MemoryAllocateInfo{Size: req.Size, TypeIndex: hostMemoryType(t, d, req.TypeBits)})
	require.NoError(t, err)
	require.NoError(t, d.BindBufferMemory(b, m, 0))
	return b, m
}

// oneShot records with rec into a fresh command buffer, submits it with a
// fence and waits.
func oneShot(t testing.TB, d *vk.Device, rec func(vk.CommandBuffer)) {
	t.Helper()
	vktest.Submit(t, d, rec)
}

// waitFilled spins until the first word of m holds v: the GPU's write has landed.
func waitFilled(t testing.TB, d *vk.Device, m vk.DeviceMemory, v uint32) {
	t.Helper()
	b, err := d.MapMemory(m, 0, 4)
	require.NoError(t, err)
	defer d.UnmapMemory(m)
	deadline := time.Now().Add(10 * time.Second)
	for binary.LittleEndian.Uint32(b) != v {
		if time.Now().After(deadline) {
			t.Fatalf("the GPU did not write %#x within 10s", v)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestOpenDescribesDevice(t *testing.T) {
	d := vktest.Open(t)
	p := d.Physical()
	require.NotEmpty(t, p.Name)
	require.GreaterOrEqual(t, p.APIVersion, vk.MakeVersion(1, 1, 0))
	require.NotEmpty(t, p.Memory.Types)
	require.NotEmpty(t, p.Memory.Heaps)
	for _, mt := range p.Memory.Types {
		require.Less(t, int(mt.HeapIndex), len(p.Memory.Heaps))
	}
	require.NotZero(t, p.Limits.MaxMemoryAllocationCount)
	require.NotZero(t, p.Limits.BufferImageGranularity)
	require.NotZero(t, p.Limits.NonCoherentAtomSize)
	fam := p.QueueFamilies[d.QueueFamily()]
	require.NotZero(t, fam.Flags&vk.QueueGraphics, "queue family %d lacks graphics", d.QueueFamily())
	require.NotNil(t, d.Handle())
	require.NotNil(t, d.Instance().Handle())
	require.Equal(t, "libvulkan.so.1", d.Instance().Loader())
}

// TestBufferImageRoundTrip uploads bytes to an image through a staging buffer,
// reads them back through another, and compares.
func TestBufferImageRoundTrip(t *testing.T) {
	d := vktest.Open(t)
	const w, h = 16, 8
	const size = w * h * 4
	src, srcMem := boundBuffer(t, d, size, vk.BufferUsageTransferSrc)
	dst, dstMem := boundBuffer(t, d, size, vk.BufferUsageTransferDst)
	defer func() {
		d.DestroyBuffer(src)
		d.DestroyBuffer(dst)
		d.FreeMemory(srcMem)
		d.FreeMemory(dstMem)
	}()
	img, err := d.CreateImage(vk.ImageInfo{Format: vk.FormatR8G8B8A8Unorm, Width: w, Height: h,
		Usage: vk.ImageUsageTransferDst | vk.ImageUsageTransferSrc | vk.ImageUsageSampled})
	require.NoError(t, err)
	defer d.DestroyImage(img)
	req := d.ImageRequirements(img)
	require.NotZero(t, req.Alignment)
	require.Zero(t, req.Alignment&(req.Alignment-1), "alignment %d is not a power of two", req.Alignment)
	imgMem, err := d.AllocateMemory(vk.MemoryAllocateInfo{Size: req.Size, TypeIndex: hostMemoryType(t, d, req.TypeBits), DedicatedImage: img})
	require.NoError(t, err)
	defer d.FreeMemory(imgMem)
	require.NoError(t, d.BindImageMemory(img, imgMem, 0))
	view, err := d.CreateImageView(img, vk.FormatR8G8B8A8Unorm, vk.AspectColor, 1)
	require.NoError(t, err)
	defer d.DestroyImageView(view)

	want := make([]byte, size)
	for i := range want {
		want[i] = byte(i*7 + 3)
	}
	m, err := d.MapMemory(srcMem, 0, size)
	require.NoError(t, err)
	copy(m, want)
	d.UnmapMemory(srcMem)

	region := vk.BufferImageCopy{Width: w, Height: h}
	oneShot(t, d, func(cmd vk.CommandBuffer) {
		d.CmdBarrier(cmd, vk.Barrier{SrcStage: vk.StageTopOfPipe, DstStage: vk.StageTransfer,
			DstAccess: vk.AccessTransferWrite, Image: img, OldLayout: vk.LayoutUndefined, NewLayout: vk.LayoutTransferDstOptimal})
		d.CmdCopyBufferToImage(cmd, src, img, vk.LayoutTransferDstOptimal, region)
		d.CmdBarrier(cmd, vk.Barrier{SrcStage: vk.StageTransfer, DstStage: vk.StageTransfer,
			SrcAccess: vk.AccessTransferWrite, DstAccess: vk.AccessTransferRead,
			Image: img, OldLayout: vk.LayoutTransferDstOptimal, NewLayout: vk.LayoutTransferSrcOptimal})
		d.CmdCopyImageToBuffer(cmd, img, vk.LayoutTransferSrcOptimal, dst, region)
		d.CmdBarrier(cmd, vk.Barrier{SrcStage: vk.StageTransfer, DstStage: vk.StageHost,
			SrcAccess: vk.AccessTransferWrite, DstAccess: vk.AccessHostRead})
	})
	got, err := d.MapMemory(dstMem, 0, size)
	require.NoError(t, err)
	require.True(t, bytes.Equal(want, got), "image round trip changed the bytes")
	d.UnmapMemory(dstMem)
}

// TestValidationOracle is the proof that the oracle every Vulkan test relies
// on works: destroying a buffer that a pending submission uses must be
// reported as VUID-vkDestroyBuffer-buffer-00922, naming the buffer.
func TestValidationOracle(t *testing.T) {
	const vuid = "VUID-vkDestroyBuffer-buffer-00922"
	d := vktest.OpenWith(t, vktest.Options{Expect: []string{vuid}})
	b, m := boundBuffer(t, d, 4096, vk.BufferUsageTransferDst)
	require.NoError(t, d.SetName(vk.ObjectBuffer, uint64(b), "oracle-buffer"))
	pool, err := d.CreateCommandPool(0)
	require.NoError(t, err)
	cmd, err := d.AllocateCommandBuffer(pool)
	require.NoError(t, err)
	fence, err := d.CreateFence(false)
	require.NoError(t, err)
	require.NoError(t, d.BeginCommandBuffer(cmd))
	d.CmdFillBuffer(cmd, b, 0, 4096, 0xdeadbeef)
	require.NoError(t, d.EndCommandBuffer(cmd))
	require.NoError(t, d.Submit([]vk.CommandBuffer{cmd}, nil, nil, fence))

	// Let the GPU finish the fill without telling Vulkan (no fence wait), so
	// the layer still counts the submission as pending while the driver no
	// longer touches the buffer: the destroy below is a bug to the layer and
	// harmless to lavapipe.
	waitFilled(t, d, m, 0xdeadbeef)
	d.DestroyBuffer(b) // the bug: the fence has not been waited on

	require.Equal(t, 1, d.Validator().ErrorCounts()[vuid])
	recent := d.Validator().Recent()
	require.NotEmpty(t, recent)
	require.Contains(t, recent[len(recent)-1].Text, "oracle-buffer", "the message names the object")
	require.NoError(t, d.WaitFence(fence, 10*time.Second))
	d.DestroyFence(fence)
	d.DestroyCommandPool(pool)
	d.FreeMemory(m)
}

// TestValidationClean runs the same commands correctly: no error may come.
func TestValidationClean(t *testing.T) {
	d := vktest.Open(t)
	b, m := boundBuffer(t, d, 4096, vk.BufferUsageTransferDst)
	oneShot(t, d, func(cmd vk.CommandBuffer) { d.CmdFillBuffer(cmd, b, 0, 4096, 1) })
	d.DestroyBuffer(b)
	d.FreeMemory(m)
	require.Zero(t, d.Validator().Errors())
}

// TestSyncValidation: two unsynchronised fills of one buffer are a
// write-after-write hazard that synchronization validation must report; the
// same fills with a barrier between them are clean.
func TestSyncValidation(t *testing.T) {
	const hazard = "SYNC-HAZARD-WRITE-AFTER-WRITE"
	for _, barrier := range []bool{false, true} {
		name := "without-barrier"
		var expect []string
		if barrier {
			name = "with-barrier"
		} else {
			expect = []string{hazard}
		}
		t.Run(name, func(t *testing.T) {
			d := vktest.OpenWith(t, vktest.Options{SyncValidation: true, Expect: expect})
			b, m := boundBuffer(t, d, 4096, vk.BufferUsageTransferDst)
			oneShot(t, d, func(cmd vk.CommandBuffer) {
				d.CmdFillBuffer(cmd, b, 0, 4096, 1)
				if barrier {
					d.CmdBarrier(cmd, vk.Barrier{SrcStage: vk.StageTransfer, DstStage: vk.StageTransfer,
						SrcAccess: vk.AccessTransferWrite, DstAccess: vk.AccessTransferWrite})
				}
				d.CmdFillBuffer(cmd, b, 0, 4096, 2)
			})
			d.DestroyBuffer(b)
			d.FreeMemory(m)
		})
	}
}

// TestLeakReported: an object left alive when the device closes is reported
// by the layer, so every vktest test also checks for leaks.
func TestLeakReported(t *testing.T) {
	rec := &recorder{TB: t}
	d := vktest.Open(rec)
	b, err := d.CreateBuffer(256, vk.BufferUsageTransferSrc)
	require.NoError(t, err)
	require.NotZero(t, b)
	rec.runCleanups()
	require.True(t, rec.failed, "vktest did not fail a test that leaked a buffer")
	require.Contains(t, rec.messages, "VUID-vkDestroyDevice-device-00378")
}

// TestHelperFailsOnError: vktest fails a test on an unexpected error, and on
// an expected one that never came.
func TestHelperFailsOnError(t *testing.T) {
	t.Run("unexpected", func(t *testing.T) {
		rec := &recorder{TB: t}
		d := vktest.Open(rec)
		b, m := boundBuffer(t, d, 64, vk.BufferUsageTransferSrc)
		// A flush of memory that is not mapped: VUID-VkMappedMemoryRange-memory-00684.
		// Harmless to the driver (coherent memory), an error to the layer.
		_ = d.FlushMemory(m, 0, 64)
		d.DestroyBuffer(b)
		d.FreeMemory(m)
		rec.runCleanups()
		require.True(t, rec.failed, "a validation error did not fail the test")
	})
	t.Run("missing-expected", func(t *testing.T) {
		rec := &recorder{TB: t}
		vktest.OpenWith(rec, vktest.Options{Expect: []string{"VUID-vkDestroyBuffer-buffer-00922"}})
		rec.runCleanups()
		require.True(t, rec.failed)
		require.Contains(t, rec.messages, "was not reported")
	})
}

// recorder is a testing.TB that records failures instead of failing.
type recorder struct {
	testing.TB
	failed   bool
	messages string
	cleanups []func()
}

func (r *recorder) Helper()             {}
func (r *recorder) Cleanup(f func())    { r.cleanups = append(r.cleanups, f) }
func (r *recorder) Log(args ...any)     {}
func (r *recorder) Logf(string, ...any) {}
func (r *recorder) Errorf(format string, args ...any) {
	r.failed = true
	r.messages += strings.TrimSpace(fmt.Sprintf(format, args...)) + "\n"
}
func (r *recorder) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	r.TB.FailNow()
}
func (r *recorder) runCleanups() {
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
	r.cleanups = nil
}

func TestTimelineSemaphore(t *testing.T) {
	d := vktest.Open(t)
	require.True(t, d.TimelineSemaphores(), "lavapipe has timeline semaphores")
	s, err := d.CreateTimelineSemaphore(0)
	require.NoError(t, err)
	defer d.DestroySemaphore(s)
	pool, err := d.CreateCommandPool(0)
	require.NoError(t, err)
	defer d.DestroyCommandPool(pool)
	cmd, err := d.AllocateCommandBuffer(pool)
	require.NoError(t, err)
	require.NoError(t, d.BeginCommandBuffer(cmd))
	require.NoError(t, d.EndCommandBuffer(cmd))
	require.NoError(t, d.Submit([]vk.CommandBuffer{cmd}, nil, []vk.SemaphoreSubmit{{Semaphore: s, Value: 5}}, 0))
	require.NoError(t, d.WaitSemaphore(s, 5, 10*time.Second))
	v, err := d.SemaphoreValue(s)
	require.NoError(t, err)
	require.Equal(t, uint64(5), v)
	require.NoError(t, d.SignalSemaphore(s, 9))
	v, err = d.SemaphoreValue(s)
	require.NoError(t, err)
	require.Equal(t, uint64(9), v)
	err = d.WaitSemaphore(s, 10, time.Millisecond)
	require.ErrorIs(t, err, vk.ErrTimeout)
}

func TestTimelineDisabled(t *testing.T) {
	d := vktest.OpenWith(t, vktest.Options{DisableTimeline: true})
	require.False(t, d.TimelineSemaphores())
	_, err := d.CreateTimelineSemaphore(0)
	require.ErrorIs(t, err, vk.ErrFeatureNotPresent)
	var ve *vk.Error
	require.ErrorAs(t, err, &ve)
	require.Equal(t, "vkCreateSemaphore", ve.Op)
	f, err := d.CreateFence(true)
	require.NoError(t, err)
	ok, err := d.FenceSignaled(f)
	require.NoError(t, err)
	require.True(t, ok)
	require.NoError(t, d.ResetFence(f))
	ok, err = d.FenceSignaled(f)
	require.NoError(t, err)
	require.False(t, ok)
	require.ErrorIs(t, d.WaitFence(f, time.Millisecond), vk.ErrTimeout)
	d.DestroyFence(f)
}

func TestMemoryBudgetFallback(t *testing.T) {
	d := vktest.Open(t)
	budgets := d.MemoryBudget()
	heaps := d.Physical().Memory.Heaps
	require.Len(t, budgets, len(heaps))
	for i, b := range budgets {
		if d.HasMemoryBudget() {
			require.True(t, b.FromExtension)
			require.LessOrEqual(t, b.Budget, heaps[i].Size)
			continue
		}
		require.False(t, b.FromExtension)
		require.Equal(t, heaps[i].Size/10*8, b.Budget)
	}
}

func TestDeviceSelector(t *testing.T) {
	t.Run("no-match", func(t *testing.T) {
		_, err := vk.Open(vk.Options{Device: "no-such-gpu-xyz"})
		require.ErrorIs(t, err, vk.ErrNoDevice)
		require.Contains(t, err.Error(), "no-such-gpu-xyz")
		require.Contains(t, err.Error(), "0: ", "the error lists the devices found")
	})
	t.Run("env-index", func(t *testing.T) {
		t.Setenv(vk.EnvDevice, "0")
		d, err := vk.Open(vk.Options{})
		require.NoError(t, err)
		require.Equal(t, 0, d.Physical().Index)
		d.Close()
		d.Close() // idempotent
	})
	t.Run("name", func(t *testing.T) {
		in, err := vk.NewInstance(vk.InstanceOptions{})
		require.NoError(t, err)
		defer in.Close()
		devs, err := in.PhysicalDevices()
		require.NoError(t, err)
		require.NotEmpty(t, devs)
		name := devs[len(devs)-1].Name
		d, err := in.NewDevice(vk.Options{Device: strings.ToUpper(name[:4])})
		require.NoError(t, err)
		require.True(t, strings.EqualFold(d.Physical().Name[:4], name[:4]))
		d.Close()
	})
}

func TestMissingValidationLayer(t *testing.T) {
	empty := t.TempDir()
	t.Setenv("VK_LAYER_PATH", empty)
	t.Setenv("VK_ADD_LAYER_PATH", "")
	t.Setenv("XDG_DATA_DIRS", empty)
	t.Setenv("XDG_DATA_HOME", empty)
	_, err := vk.Open(vk.Options{InstanceOptions: vk.InstanceOptions{Validation: true}})
	require.ErrorIs(t, err, vk.ErrNoValidationLayer)
	require.Contains(t, err.Error(), "vulkan-validationlayers")
}

func TestErrorMatching(t *testing.T) {
	var err error = &vk.Error{Op: "vkAllocateMemory", Result: vk.ErrorOutOfDeviceMemory}
	wrapped := errors.Join(errors.New("upload texture"), err)
	require.ErrorIs(t, wrapped, vk.ErrOutOfDeviceMemory)
	require.NotErrorIs(t, wrapped, vk.ErrOutOfHostMemory)
	require.NotErrorIs(t, wrapped, vk.ErrDeviceLost)
	require.ErrorIs(t, &vk.Error{Op: "vkQueueSubmit", Result: vk.ErrorDeviceLostCode}, vk.ErrDeviceLost)
	var ve *vk.Error
	require.ErrorAs(t, wrapped, &ve)
	require.Equal(t, "vkAllocateMemory", ve.Op)
	require.Equal(t, "vk: vkAllocateMemory: VK_ERROR_OUT_OF_DEVICE_MEMORY", ve.Error())
	require.Equal(t, "VkResult(-77)", vk.Result(-77).String())
}
