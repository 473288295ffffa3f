package vk_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vkassets/vkassets/vk"
	"github.com/vkassets/vkassets/vk/vktest"
)

// TestTransferFamilyChoice: the dedicated transfer queue comes from a family
// with transfer and neither graphics nor compute (a GPU's copy engine), and
// from none where there is no such family or it has no queue.
func TestTransferFamilyChoice(t *testing.T) {
	const g, c, x = vk.QueueGraphics, vk.QueueCompute, vk.QueueTransfer
	for _, tc := range []struct {
		families []vk.QueueFamily
		want     int
	}{
		{[]vk.QueueFamily{{Flags: g | c | x, Count: 1}}, -1},                                                  // lavapipe
		{[]vk.QueueFamily{{Flags: g | c | x, Count: 16}, {Flags: c | x, Count: 8}, {Flags: x, Count: 2}}, 2},  // a discrete GPU
		{[]vk.QueueFamily{{Flags: g | c | x, Count: 1}, {Flags: c | x, Count: 2}}, -1},                        // async compute only
		{[]vk.QueueFamily{{Flags: g | c | x, Count: 1}, {Flags: x, Count: 0}, {Flags: x | 0x8, Count: 1}}, 2}, // sparse binding is fine
	} {
		require.Equal(t, tc.want, vk.TransferFamily(&vk.PhysicalDevice{QueueFamilies: tc.families}), "%+v", tc.families)
	}
}

// TestTransferQueue: with Options.TransferQueue the device has a dedicated
// transfer queue exactly when it has a transfer-only family (lavapipe: none,
// so the main queue stands in). A fill submitted there signals a timeline
// semaphore that a submission to the main queue waits for on the GPU; the
// host waits only for the last. Validation (and synchronization
// validation) clean; on a GPU with a copy engine this runs the two queues.
func TestTransferQueue(t *testing.T) {
	d := vktest.OpenWith(t, vktest.Options{TransferQueue: true, SyncValidation: true})
	fam, ok := d.TransferQueueFamily()
	require.Equal(t, vk.TransferFamily(d.Physical()) >= 0, ok)
	if ok {
		require.NotEqual(t, d.QueueFamily(), fam)
	}
	t.Logf("transfer queue: %v (family %d); main family %d", ok, fam, d.QueueFamily())

	buf, mem := boundBuffer(t, d, 4096, vk.BufferUsageTransferDst)
	defer d.FreeMemory(mem)
	defer d.DestroyBuffer(buf)

	pool, err := d.CreateTransferCommandPool(vk.CommandPoolTransient)
	require.NoError(t, err)
	defer d.DestroyCommandPool(pool)
	cmd, err := d.AllocateCommandBuffer(pool)
	require.NoError(t, err)
	require.NoError(t, d.BeginCommandBuffer(cmd))
	d.CmdFillBuffer(cmd, buf, 0, 4096, 9)
	require.NoError(t, d.EndCommandBuffer(cmd))

	upload, err := d.CreateTimelineSemaphore(0)
	require.NoError(t, err)
	defer d.DestroySemaphore(upload)
	frame, err := d.CreateTimelineSemaphore(0)
	require.NoError(t, err)
	defer d.DestroySemaphore(frame)
	require.NoError(t, d.SubmitTransfer([]vk.CommandBuffer{cmd}, nil,
		[]vk.SemaphoreSubmit{{Semaphore: upload, Value: 1, Stage: vk.StageAllCommands}}, 0))
	require.NoError(t, d.Submit(nil, []vk.SemaphoreSubmit{{Semaphore: upload, Value: 1, Stage: vk.StageAllCommands}},
		[]vk.SemaphoreSubmit{{Semaphore: frame, Value: 1, Stage: vk.StageAllCommands}}, 0))
	require.NoError(t, d.WaitSemaphore(frame, 1, 5*time.Second))
	v, err := d.SemaphoreValue(upload)
	require.NoError(t, err)
	require.EqualValues(t, 1, v, "the main queue's submission ran after the upload it waited for")
	require.NoError(t, d.WaitIdle())
}

// TestSharedResources: images and buffers shared by the graphics and the
// transfer family (concurrent sharing where those are two families,
// exclusive where they are one, as on lavapipe: repeated indices count
// once) are made validation-clean; a family the device does not have is
// refused, naming it, and nothing is made.
func TestSharedResources(t *testing.T) {
	d := vktest.OpenWith(t, vktest.Options{TransferQueue: true})
	fams := []uint32{d.QueueFamily()}
	if f, ok := d.TransferQueueFamily(); ok {
		fams = append(fams, f)
	}
	fams = append(fams, d.QueueFamily())
	img, err := d.CreateImage(vk.ImageInfo{Format: vk.FormatR8G8B8A8Unorm, Width: 16, Height: 16,
		Usage: vk.ImageUsageSampled | vk.ImageUsageTransferDst, QueueFamilies: fams})
	require.NoError(t, err)
	d.DestroyImage(img)
	buf, err := d.CreateSharedBuffer(256, vk.BufferUsageTransferDst, fams)
	require.NoError(t, err)
	d.DestroyBuffer(buf)

	n := uint32(len(d.Physical().QueueFamilies))
	_, err = d.CreateSharedBuffer(256, vk.BufferUsageTransferDst, []uint32{d.QueueFamily(), n})
	require.ErrorContains(t, err, fmt.Sprintf("queue family %d", n))
	_, err = d.CreateImage(vk.ImageInfo{Format: vk.FormatR8G8B8A8Unorm, Width: 16, Height: 16,
		Usage: vk.ImageUsageSampled, QueueFamilies: []uint32{n + 7}})
	require.ErrorContains(t, err, fmt.Sprintf("queue family %d", n+7))
}
