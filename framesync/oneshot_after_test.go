package framesync_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vkassets/vkassets/framesync"
	"github.com/vkassets/vkassets/vk"
	"github.com/vkassets/vkassets/vk/vktest"
)

// TestOneShotAfter: a one-shot made with waits runs only once the GPU has
// seen them (here the host signals them, as another queue's submission
// would): submitted at once, it waits itself; batched with the frame being
// recorded, the frame's submission waits for them as well as for the
// frame's own waits. The host blocks on nothing but the final Waits.
func TestOneShotAfter(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			e := open(t, 2, m.useFences, vktest.Options{SyncValidation: true})
			d := e.dev.Device
			ctx := context.Background()
			up, err := d.CreateTimelineSemaphore(0)
			require.NoError(t, err)
			own, err := d.CreateTimelineSemaphore(0)
			require.NoError(t, err)
			defer d.DestroySemaphore(own)
			defer d.DestroySemaphore(up)
			b, al := e.buffer(t, 256)
			fill := func(cmd vk.CommandBuffer) error {
				d.CmdFillBuffer(cmd, b, 0, 256, 7)
				d.CmdBarrier(cmd, vk.Barrier{SrcStage: vk.StageTransfer, DstStage: vk.StageTransfer,
					SrcAccess: vk.AccessTransferWrite, DstAccess: vk.AccessTransferWrite})
				return nil
			}
			blocked := func(serial framesync.Serial, why string) {
				t.Helper()
				c, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
				defer cancel()
				require.ErrorIs(t, e.sync.Wait(c, serial), context.DeadlineExceeded, why)
			}

			serial, err := e.sync.OneShotAfter([]vk.SemaphoreSubmit{{Semaphore: up, Value: 1, Stage: vk.StageTransfer}}, fill)
			require.NoError(t, err)
			blocked(serial, "the one-shot waits for its semaphore")
			require.NoError(t, d.SignalSemaphore(up, 1))
			require.NoError(t, e.sync.Wait(ctx, serial))

			f, err := e.sync.BeginFrame(ctx)
			require.NoError(t, err)
			serial, err = e.sync.OneShotAfter([]vk.SemaphoreSubmit{{Semaphore: up, Value: 2, Stage: vk.StageTransfer}}, fill)
			require.NoError(t, err)
			require.Equal(t, f.Serial(), serial, "batched with the frame")
			require.NoError(t, e.sync.EndFrameWith(f, []vk.SemaphoreSubmit{{Semaphore: own, Value: 1, Stage: vk.StageTransfer}}, nil))
			blocked(serial, "the frame waits for the batched one-shot's semaphore and its own")
			require.NoError(t, d.SignalSemaphore(up, 2))
			blocked(serial, "the frame still waits for its own semaphore")
			require.NoError(t, d.SignalSemaphore(own, 1))
			require.NoError(t, e.sync.Wait(ctx, serial))

			f, err = e.sync.BeginFrame(ctx)
			require.NoError(t, err)
			serial, err = e.sync.OneShotAfter([]vk.SemaphoreSubmit{{Semaphore: up, Value: 3, Stage: vk.StageTransfer}}, fill)
			require.NoError(t, err)
			require.NoError(t, e.sync.EndFrame(f))
			blocked(serial, "the frame waits for the batched one-shot's semaphore")
			require.NoError(t, d.SignalSemaphore(up, 3))
			require.NoError(t, e.sync.Wait(ctx, serial))
			require.NoError(t, e.sync.Defer(serial, framesync.Buffer(b, al)))
			require.NoError(t, e.sync.WaitIdle())
		})
	}
}
