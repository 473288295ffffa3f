package framesync_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vkassets/vkassets/framesync"
	"github.com/vkassets/vkassets/vk"
	"github.com/vkassets/vkassets/vk/vktest"
)

// TestBreakCloseBeforeAppSubmits: the app records a fill of a buffer it
// defers at its own timeline's next point, the defer-before-submit order
// of a frame; another goroutine closes the Sync before the app submits.
// Close may not destroy the buffer (the app's submission still uses it):
// it leaves it alive and names it, the app's submission then runs clean
// (validation on), and the app frees it itself.
func TestBreakCloseBeforeAppSubmits(t *testing.T) {
	e := open(t, 2, false, vktest.Options{SyncValidation: true})
	d, s := e.dev.Device, e.sync
	sem, err := d.CreateTimelineSemaphore(0)
	require.NoError(t, err)
	defer d.DestroySemaphore(sem)
	tl, err := s.AddTimeline("compute", sem)
	require.NoError(t, err)
	pool, err := d.CreateCommandPool(vk.CommandPoolTransient)
	require.NoError(t, err)
	defer d.DestroyCommandPool(pool)
	cmd, err := d.AllocateCommandBuffer(pool)
	require.NoError(t, err)
	buf, mem := e.buffer(t, 256)
	require.NoError(t, d.BeginCommandBuffer(cmd))
	d.CmdFillBuffer(cmd, buf, 0, 256, 1)
	require.NoError(t, d.EndCommandBuffer(cmd))
	require.NoError(t, s.DeferAt(framesync.Buffer(buf, mem).Named("app-fill"), tl.At(1)))
	done := make(chan error)
	go func() { done <- s.Close() }() // another goroutine closes
	err = <-done
	require.ErrorIs(t, err, framesync.ErrUnsubmitted)
	require.True(t, strings.Contains(err.Error(), `left alive as its later submissions may use them: buffer "app-fill" (timeline "compute" at 1)`), err.Error())
	require.NoError(t, d.Submit([]vk.CommandBuffer{cmd}, nil, []vk.SemaphoreSubmit{{Semaphore: sem, Value: 1, Stage: vk.StageAllCommands}}, 0))
	require.NoError(t, d.WaitSemaphore(sem, 1, 5*time.Second))
	require.NoError(t, e.alloc.DestroyBuffer(buf, mem), "the buffer Close left alive is the app's to free")
}
