package vk_test

import (
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"

	"github.com/vkassets/vkassets/vk"
	"github.com/vkassets/vkassets/vk/vktest"
)

// frameLoop holds what one iteration of the per-frame calls needs.
type frameLoop struct {
	d     *vk.Device
	pool  vk.CommandPool
	cmd   vk.CommandBuffer
	cmds  []vk.CommandBuffer
	fence vk.Fence
}

func newFrameLoop(t testing.TB, d *vk.Device) *frameLoop {
	pool, err := d.CreateCommandPool(vk.CommandPoolResetCommandBuffer)
	require.NoError(t, err)
	cmd, err := d.AllocateCommandBuffer(pool)
	require.NoError(t, err)
	fence, err := d.CreateFence(false)
	require.NoError(t, err)
	t.Cleanup(func() {
		d.DestroyFence(fence)
		d.DestroyCommandPool(pool)
	})
	return &frameLoop{d: d, pool: pool, cmd: cmd, cmds: []vk.CommandBuffer{cmd}, fence: fence}
}

// step is one iteration: command buffer begin/end, submit, fence wait and
// reset, and a buffer created and destroyed.
func (f *frameLoop) step() error {
	d := f.d
	if err := d.BeginCommandBuffer(f.cmd); err != nil {
		return err
	}
	if err := d.EndCommandBuffer(f.cmd); err != nil {
		return err
	}
	if err := d.Submit(f.cmds, nil, nil, f.fence); err != nil {
		return err
	}
	if err := d.WaitFence(f.fence, 10*time.Second); err != nil {
		return err
	}
	if err := d.ResetFence(f.fence); err != nil {
		return err
	}
	b, err := d.CreateBuffer(4096, vk.BufferUsageVertex)
	if err != nil {
		return err
	}
	d.DestroyBuffer(b)
	return nil
}

// TestNoCMemoryGrowth runs the per-frame calls 100,000 times and checks that
// the process RSS stays flat after warm-up. vulkan-go's PassRef, used
// naively, grows it by about 21 MB over the same loop.
func TestNoCMemoryGrowth(t *testing.T) {
	const warmup, iterations = 10_000, 100_000
	const bound = 2 << 20 // bytes of growth allowed over the 90,000 measured iterations
	d := vktest.Open(t)
	loop := newFrameLoop(t, d)
	var before int64
	for i := range iterations {
		if i == warmup {
			before = vktest.RSS(t)
		}
		if err := loop.step(); err != nil {
			t.Fatalf("iteration %d: %v", i, err)
		}
	}
	after := vktest.RSS(t)
	growth := after - before
	t.Logf("RSS %d → %d bytes over %d iterations: %+.1f bytes per iteration",
		before, after, iterations-warmup, float64(growth)/float64(iterations-warmup))
	require.Less(t, growth, int64(bound), "RSS grew by %d bytes", growth)
}

// TestHotPathAllocatesNothing: the per-frame calls make no Go allocation.
func TestHotPathAllocatesNothing(t *testing.T) {
	d := vktest.Open(t)
	loop := newFrameLoop(t, d)
	var err error
	allocs := testing.AllocsPerRun(200, func() {
		if e := loop.step(); e != nil {
			err = e
		}
	})
	require.NoError(t, err)
	require.Zero(t, allocs, "per-frame calls allocate")
}

func BenchmarkFrameLoop(b *testing.B) {
	for _, validation := range []bool{false, true} {
		name := "validation=off"
		if validation {
			name = "validation=on"
		}
		b.Run(name, func(b *testing.B) {
			var d *vk.Device
			if validation {
				d = vktest.Open(b)
			} else {
				var err error
				d, err = vk.Open(vk.Options{})
				require.NoError(b, err)
				b.Cleanup(d.Close)
			}
			loop := newFrameLoop(b, d)
			b.ReportAllocs()
			for b.Loop() {
				if err := loop.step(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// openBench opens a device without validation for the per-call benchmarks:
// what they measure is vkassets' own overhead around one cgo call.
func openBench(b *testing.B) *vk.Device {
	d, err := vk.Open(vk.Options{})
	require.NoError(b, err)
	b.Cleanup(d.Close)
	return d
}

// BenchmarkFenceStatus is one cheap call that returns an error
// (vkGetFenceStatus on a signaled fence): the cgo call plus the closed gate.
func BenchmarkFenceStatus(b *testing.B) {
	d := openBench(b)
	f, err := d.CreateFence(true)
	require.NoError(b, err)
	b.Cleanup(func() { d.DestroyFence(f) })
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if ok, err := d.FenceSignaled(f); !ok || err != nil {
				b.Fatal(ok, err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if ok, err := d.FenceSignaled(f); !ok || err != nil {
					b.Error(ok, err)
					return
				}
			}
		})
	})
}

// BenchmarkCmdBarrier records one global barrier per iteration (a Cmd*
// method: no result), restarting the command buffer every 4096 commands.
func BenchmarkCmdBarrier(b *testing.B) {
	d := openBench(b)
	pool, err := d.CreateCommandPool(vk.CommandPoolResetCommandBuffer)
	require.NoError(b, err)
	b.Cleanup(func() { d.DestroyCommandPool(pool) })
	cmd, err := d.AllocateCommandBuffer(pool)
	require.NoError(b, err)
	require.NoError(b, d.BeginCommandBuffer(cmd))
	bar := vk.Barrier{SrcStage: vk.StageTransfer, DstStage: vk.StageTransfer,
		SrcAccess: vk.AccessTransferWrite, DstAccess: vk.AccessTransferRead}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		d.CmdBarrier(cmd, bar)
		if n++; n == 4096 {
			n = 0
			if err := d.EndCommandBuffer(cmd); err != nil {
				b.Fatal(err)
			}
			if err := d.BeginCommandBuffer(cmd); err != nil {
				b.Fatal(err)
			}
		}
	}
	require.NoError(b, d.EndCommandBuffer(cmd))
}

// TestDrawCallsAllocateNothing: a frame's descriptor and draw calls — a
// set allocated and written, a pass begun with its clear values, the
// viewport, a pipeline, sets, push constants, vertex and index buffers
// bound, an indexed draw — make no Go allocation (their slices stay on the
// caller's stack: the C side does not keep them).
func TestDrawCallsAllocateNothing(t *testing.T) {
	d := vktest.Open(t)
	k := newDrawKit(t, d, 4, 4, [4]byte{255, 255, 255, 255})
	p := k.pipeline(t, vk.TopologyTriangleList)
	vb := k.buffer(t, vk.BufferUsageVertex, make([]byte, 3*vertexStride))
	ib := k.buffer(t, vk.BufferUsageIndex, make([]byte, 12))
	loop := newFrameLoop(t, d)
	var err error
	allocs := testing.AllocsPerRun(100, func() {
		if e := d.BeginCommandBuffer(loop.cmd); e != nil {
			err = e
		}
		if e := d.ResetDescriptorPool(k.pool); e != nil {
			err = e
		}
		set, e := d.AllocateDescriptorSet(k.pool, k.setLayout)
		if e != nil {
			err = e
		}
		writes := [1]vk.ImageSamplerWrite{{Set: set, Sampler: k.sampler, View: k.texView, Layout: vk.LayoutShaderReadOnlyOptimal}}
		if e := d.UpdateDescriptorSets(writes[:]); e != nil {
			err = e
		}
		clear := [1]vk.ClearValue{vk.ClearColor([4]float32{0, 0, 0, 1})}
		begin := vk.RenderPassBegin{RenderPass: k.pass, Framebuffer: k.fb, Width: 4, Height: 4, Clear: clear[:]}
		d.CmdBeginRenderPass(loop.cmd, &begin)
		d.CmdSetViewport(loop.cmd, 0, 0, 4, 4, 0, 1)
		d.CmdSetScissor(loop.cmd, 0, 0, 4, 4)
		d.CmdBindPipeline(loop.cmd, p)
		sets := [1]vk.DescriptorSet{set}
		d.CmdBindDescriptorSets(loop.cmd, k.layout, 0, sets[:])
		factor := [4]float32{1, 1, 1, 1}
		d.CmdPushConstants(loop.cmd, k.layout, vk.ShaderStageVertex, 0, unsafe.Slice((*byte)(unsafe.Pointer(&factor)), 16))
		bufs := [1]vk.Buffer{vb}
		d.CmdBindVertexBuffers(loop.cmd, 0, bufs[:], nil)
		d.CmdBindIndexBuffer(loop.cmd, ib, 0, vk.IndexUint32)
		d.CmdDrawIndexed(loop.cmd, 3, 1, 0, 0, 0)
		d.CmdEndRenderPass(loop.cmd)
		if e := d.EndCommandBuffer(loop.cmd); e != nil {
			err = e
		}
	})
	require.NoError(t, err)
	require.Zero(t, allocs, "draw calls allocate")
}
