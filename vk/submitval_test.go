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
		// VKASSETS_SUBMIT_VALIDATION=1 turns the check on for every instance.
		{name: "sync-only", hazard: os.Getenv(vk.EnvSubmitValidation) == "1"},
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

// TestVertexReads: vktest.VertexReads, fed by the Device's command
// observer, finds a draw's vertex and index reads of buffers filled in an
// earlier command buffer without a barrier that makes the fill visible to
// the vertex input stage, across command buffers and submissions, where
// the layer (1.3.239, even with SubmitValidation) reports nothing. A
// semaphore wait at the vertex input stage between the two submissions
// orders them.
func TestVertexReads(t *testing.T) {
	global := func(src, dst vk.PipelineStage, sa, da vk.Access) []vk.Barrier {
		return []vk.Barrier{{SrcStage: src, DstStage: dst, SrcAccess: sa, DstAccess: da}}
	}
	vertexRead := vk.AccessVertexAttributeRead | vk.AccessIndexRead
	cases := []struct {
		name     string
		barriers func(vertices, indices vk.Buffer) []vk.Barrier // ending the fills' command buffer
		host     bool                                           // a fence wait between two submissions
		wait     vk.PipelineStage                               // the draw's submission waits for the fills' at this stage
		hazards  int                                            // reads reported
	}{
		{name: "none", hazards: 2},
		{name: "none-host-wait", host: true, hazards: 2},
		{name: "semaphore-wait", wait: vk.StageVertexInput},
		{name: "semaphore-wait-fragment", wait: vk.StageFragmentShader, hazards: 2},
		{name: "vertex-input", barriers: func(_, _ vk.Buffer) []vk.Barrier {
			return global(vk.StageTransfer, vk.StageVertexInput, vk.AccessTransferWrite, vertexRead)
		}},
		{name: "all-commands", barriers: func(_, _ vk.Buffer) []vk.Barrier {
			return global(vk.StageTransfer, vk.StageAllCommands, vk.AccessTransferWrite, vk.AccessMemoryRead)
		}},
		{name: "all-commands-host-wait", host: true, barriers: func(_, _ vk.Buffer) []vk.Barrier {
			return global(vk.StageTransfer, vk.StageAllCommands, vk.AccessTransferWrite, vk.AccessMemoryRead)
		}},
		{name: "chain", barriers: func(_, _ vk.Buffer) []vk.Barrier {
			return append(global(vk.StageTransfer, vk.StageTransfer, vk.AccessTransferWrite, 0),
				global(vk.StageTransfer, vk.StageVertexInput, 0, vertexRead)...)
		}},
		{name: "per-buffer", barriers: func(v, i vk.Buffer) []vk.Barrier {
			return []vk.Barrier{
				{SrcStage: vk.StageTransfer, DstStage: vk.StageVertexInput, SrcAccess: vk.AccessTransferWrite, DstAccess: vertexRead, Buffer: v},
				{SrcStage: vk.StageTransfer, DstStage: vk.StageVertexInput, SrcAccess: vk.AccessTransferWrite, DstAccess: vertexRead, Buffer: i},
			}
		}},
		{name: "vertices-only", hazards: 1, barriers: func(v, _ vk.Buffer) []vk.Barrier {
			return []vk.Barrier{{SrcStage: vk.StageTransfer, DstStage: vk.StageVertexInput, SrcAccess: vk.AccessTransferWrite, DstAccess: vertexRead, Buffer: v}}
		}},
		{name: "fragment-stage", hazards: 2, barriers: func(_, _ vk.Buffer) []vk.Barrier {
			return global(vk.StageTransfer, vk.StageFragmentShader, vk.AccessTransferWrite, vk.AccessMemoryRead)
		}},
		{name: "no-source-access", hazards: 2, barriers: func(_, _ vk.Buffer) []vk.Barrier {
			return global(vk.StageTransfer, vk.StageVertexInput, 0, vertexRead)
		}},
		{name: "wrong-access", hazards: 2, barriers: func(_, _ vk.Buffer) []vk.Barrier {
			return global(vk.StageTransfer, vk.StageVertexInput|vk.StageVertexShader, vk.AccessTransferWrite, vk.AccessShaderRead)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := vktest.OpenWith(t, vktest.Options{SubmitValidation: true})
			const w, h = 8, 8
			k := newDrawKit(t, d, w, h, [4]byte{255, 255, 255, 255})
			tris := k.pipeline(t, vk.TopologyTriangleList)
			white := vertex{r: 1, g: 1, b: 1, a: 1}
			quad := k.buffer(t, vk.BufferUsageVertex|vk.BufferUsageTransferDst, vertexBytes(white, white, white, white))
			idx := k.buffer(t, vk.BufferUsageIndex|vk.BufferUsageTransferDst, make([]byte, 24))
			set, err := d.AllocateDescriptorSet(k.pool, k.setLayout)
			require.NoError(t, err)
			require.NoError(t, d.UpdateDescriptorSets([]vk.ImageSamplerWrite{{Set: set, Sampler: k.sampler, View: k.texView, Layout: vk.LayoutShaderReadOnlyOptimal}}))

			rec := &recorder{TB: t}
			reads := vktest.WatchVertexReads(rec, d)
			pool, err := d.CreateCommandPool(vk.CommandPoolTransient)
			require.NoError(t, err)
			defer d.DestroyCommandPool(pool)
			fills, err := d.AllocateCommandBuffer(pool)
			require.NoError(t, err)
			draw, err := d.AllocateCommandBuffer(pool)
			require.NoError(t, err)
			require.NoError(t, d.BeginCommandBuffer(fills))
			d.CmdFillBuffer(fills, quad, 0, 8, 0) // the first vertex's position: (0, 0)
			d.CmdFillBuffer(fills, idx, 0, 24, 0)
			if c.barriers != nil {
				for _, b := range c.barriers(quad, idx) {
					d.CmdBarrier(fills, b)
				}
			}
			require.NoError(t, d.EndCommandBuffer(fills))
			require.NoError(t, d.BeginCommandBuffer(draw))
			d.CmdBeginRenderPass(draw, &vk.RenderPassBegin{RenderPass: k.pass, Framebuffer: k.fb, Width: w, Height: h,
				Clear: []vk.ClearValue{vk.ClearColor([4]float32{0, 0, 0, 1})}})
			d.CmdSetViewport(draw, 0, 0, w, h, 0, 1)
			d.CmdSetScissor(draw, 0, 0, w, h)
			d.CmdBindPipeline(draw, tris)
			d.CmdBindDescriptorSets(draw, k.layout, 0, []vk.DescriptorSet{set})
			d.CmdPushConstants(draw, k.layout, vk.ShaderStageVertex, 0, floatBytes(1, 1, 1, 1))
			d.CmdBindVertexBuffers(draw, 0, []vk.Buffer{quad}, nil)
			d.CmdBindIndexBuffer(draw, idx, 0, vk.IndexUint32)
			d.CmdDrawIndexed(draw, 6, 1, 0, 0, 0)
			d.CmdEndRenderPass(draw)
			require.NoError(t, d.EndCommandBuffer(draw))
			fence, err := d.CreateFence(false)
			require.NoError(t, err)
			defer d.DestroyFence(fence)
			if c.wait != 0 {
				sem, err := d.CreateTimelineSemaphore(0)
				require.NoError(t, err)
				defer func() {
					// lavapipe 22.3 crashed (1 run in 4) destroying it right after the fence
					require.NoError(t, d.QueueWaitIdle())
					d.DestroySemaphore(sem)
				}()
				require.NoError(t, d.Submit([]vk.CommandBuffer{fills}, nil, []vk.SemaphoreSubmit{{Semaphore: sem, Value: 1}}, 0))
				require.NoError(t, d.Submit([]vk.CommandBuffer{draw}, []vk.SemaphoreSubmit{{Semaphore: sem, Value: 1, Stage: c.wait}}, nil, fence))
			} else if c.host {
				require.NoError(t, d.Submit([]vk.CommandBuffer{fills}, nil, nil, fence))
				require.NoError(t, d.WaitFence(fence, 30*time.Second))
				require.NoError(t, d.ResetFence(fence))
				require.NoError(t, d.Submit([]vk.CommandBuffer{draw}, nil, nil, fence))
			} else {
				require.NoError(t, d.Submit([]vk.CommandBuffer{fills, draw}, nil, nil, fence))
			}
			require.NoError(t, d.WaitFence(fence, 30*time.Second))
			require.Equal(t, 2, reads.Checked(), "the draw's vertex and index reads")
			require.Len(t, reads.Hazards(), c.hazards, "%q", reads.Hazards())
			rec.runCleanups()
			require.Equal(t, c.hazards > 0, rec.failed, "the test failed: %s", rec.messages)
		})
	}
}
