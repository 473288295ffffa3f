package vk_test

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vkassets/vkassets/vk"
	"github.com/vkassets/vkassets/vk/vktest"
)

// TestSubmitValidation: a fill of a buffer in one command buffer and
// another fill of it in the next one, in one submission or in two, with no
// barrier between them, is a write-after-write hazard that only
// SubmitValidation reports (plain synchronization validation looks within
// a command buffer); a barrier at the end of the first, or a fence wait
// between two submissions, makes it clean. VK_LAYER_ENABLES is left as it
// was.
func TestSubmitValidation(t *testing.T) {
	const hazard = "SYNC-HAZARD-WRITE-AFTER-WRITE"
	cases := []struct {
		name           string
		submit         bool // SubmitValidation (else SyncValidation only)
		barrier        bool // a barrier ends the first command buffer
		twoSubmissions bool // each command buffer in its own submission
		hostWait       bool // the host waits for the first submission's fence
		hazard         bool
	}{
		{name: "sync-only", hazard: false},
		{name: "one-submission", submit: true, hazard: true},
		{name: "two-submissions", submit: true, twoSubmissions: true, hazard: true},
		{name: "barrier", submit: true, barrier: true},
		{name: "barrier-two-submissions", submit: true, barrier: true, twoSubmissions: true},
		{name: "fence-wait", submit: true, twoSubmissions: true, hostWait: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var expect []string
			if c.hazard {
				expect = []string{hazard}
			}
			old, had := os.LookupEnv("VK_LAYER_ENABLES")
			d := vktest.OpenWith(t, vktest.Options{SyncValidation: true, SubmitValidation: c.submit, Expect: expect})
			now, has := os.LookupEnv("VK_LAYER_ENABLES")
			require.Equal(t, had, has, "VK_LAYER_ENABLES restored")
			require.Equal(t, old, now, "VK_LAYER_ENABLES restored")

			b, m := boundBuffer(t, d, 4096, vk.BufferUsageTransferDst)
			pool, err := d.CreateCommandPool(vk.CommandPoolTransient)
			require.NoError(t, err)
			var cmds [2]vk.CommandBuffer
			for i := range cmds {
				cmds[i], err = d.AllocateCommandBuffer(pool)
				require.NoError(t, err)
				require.NoError(t, d.BeginCommandBuffer(cmds[i]))
				d.CmdFillBuffer(cmds[i], b, 0, 4096, uint32(i+1))
				if i == 0 && c.barrier {
					d.CmdBarrier(cmds[i], vk.Barrier{SrcStage: vk.StageTransfer, DstStage: vk.StageTransfer,
						SrcAccess: vk.AccessTransferWrite, DstAccess: vk.AccessTransferWrite})
				}
				require.NoError(t, d.EndCommandBuffer(cmds[i]))
			}
			fence, err := d.CreateFence(false)
			require.NoError(t, err)
			if c.twoSubmissions {
				first := vk.Fence(0)
				if c.hostWait {
					first, err = d.CreateFence(false)
					require.NoError(t, err)
				}
				require.NoError(t, d.Submit(cmds[:1], nil, nil, first))
				if first != 0 {
					require.NoError(t, d.WaitFence(first, 30*time.Second))
					d.DestroyFence(first)
				}
				require.NoError(t, d.Submit(cmds[1:], nil, nil, fence))
			} else {
				require.NoError(t, d.Submit(cmds[:], nil, nil, fence))
			}
			require.NoError(t, d.WaitFence(fence, 30*time.Second))
			d.DestroyFence(fence)
			d.DestroyCommandPool(pool)
			d.DestroyBuffer(b)
			d.FreeMemory(m)
		})
	}
}
