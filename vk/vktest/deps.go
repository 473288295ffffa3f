package vktest

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/vkassets/vkassets/vk"
)

// VertexReads follows what a device records and submits to its queue
// (vk.Device.SetCommandObserver) and checks one rule of the memory model
// that validation layer 1.3.239 checks only within a command buffer: a
// buffer written by a transfer command (a copy or a fill) and then read as
// vertex or index data by a draw, in the same command buffer or one
// submitted after it, needs between the two a barrier (global, or on
// that buffer) that makes the write available (a source stage
// TRANSFER, ALL_COMMANDS or BOTTOM_OF_PIPE and a source access
// TRANSFER_WRITE or MEMORY_WRITE) and visible to the read (a destination
// stage VERTEX_INPUT, ALL_GRAPHICS or ALL_COMMANDS and a destination
// access VERTEX_ATTRIBUTE_READ or INDEX_READ, or MEMORY_READ), possibly in
// two barriers chained by their stages.
//
// It follows the graphics queue in the order of its submissions. A
// submission that waits for a semaphore makes every earlier write
// available and visible to the stages it waits at (the checker does not
// match the semaphore to the submission that signals it). Host waits do
// not count: a fence wait makes the writes available, not visible to later
// reads on the device.
type VertexReads struct {
	mu       sync.Mutex
	recorded map[vk.CommandBuffer][]vk.Command // since each buffer's last vkBeginCommandBuffer
	writes   map[vk.Buffer]*transferWrite      // the last transfer write of each buffer
	checked  int
	hazards  []string
}

// transferWrite is a buffer's last transfer write, and the scopes the
// barriers after it have made it available and visible to.
type transferWrite struct {
	op        string
	cmd       vk.CommandBuffer
	available bool
	chain     vk.PipelineStage // the stages the availability's execution dependency reaches
	visible   []scope
}

type scope struct {
	stages vk.PipelineStage
	access vk.Access
}

// WatchVertexReads starts following d; at the end of the test it stops,
// and fails the test for every read it found unordered after its write.
func WatchVertexReads(t testing.TB, d *vk.Device) *VertexReads {
	t.Helper()
	w := &VertexReads{recorded: map[vk.CommandBuffer][]vk.Command{}, writes: map[vk.Buffer]*transferWrite{}}
	d.SetCommandObserver(w.observe)
	t.Cleanup(func() {
		d.SetCommandObserver(nil)
		if h := w.Hazards(); len(h) > 0 {
			t.Errorf("vktest: %d vertex or index read(s) not ordered after a transfer write:\n  %s", len(h), strings.Join(h, "\n  "))
		}
	})
	return w
}

// Checked is how many draws' reads of buffers a transfer wrote were
// checked so far.
func (w *VertexReads) Checked() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.checked
}

// Hazards describes each read found unordered after its write so far.
func (w *VertexReads) Hazards() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.hazards...)
}

func (w *VertexReads) observe(c vk.Command) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch c.Op {
	case "vkBeginCommandBuffer":
		w.recorded[c.Cmd] = w.recorded[c.Cmd][:0]
	case "vkQueueSubmit":
		if c.Transfer {
			break
		}
		if c.Index == 0 && c.WaitStages != 0 {
			w.semaphoreWait(c.WaitStages)
		}
		w.execute(c.Cmd, w.recorded[c.Cmd])
	default:
		w.recorded[c.Cmd] = append(w.recorded[c.Cmd], c)
	}
}

// execute runs one submitted command buffer's commands against the
// queue's state; w.mu is held.
func (w *VertexReads) execute(cmd vk.CommandBuffer, cmds []vk.Command) {
	var vertices []vk.Buffer // bound, by binding (bindings do not outlive a command buffer)
	var indices vk.Buffer
	for _, c := range cmds {
		switch c.Op {
		case "vkCmdCopyBuffer", "vkCmdFillBuffer", "vkCmdCopyImageToBuffer":
			w.writes[c.Dst] = &transferWrite{op: c.Op, cmd: cmd}
		case "vkCmdPipelineBarrier":
			w.barrier(c.Barrier)
		case "vkCmdBindVertexBuffers":
			for len(vertices) <= int(c.Binding) {
				vertices = append(vertices, 0)
			}
			vertices[c.Binding] = c.Src
		case "vkCmdBindIndexBuffer":
			indices = c.Src
		case "vkCmdDraw", "vkCmdDrawIndexed":
			for _, b := range vertices {
				w.read(c, b, vk.AccessVertexAttributeRead, "vertex")
			}
			if c.Op == "vkCmdDrawIndexed" {
				w.read(c, indices, vk.AccessIndexRead, "index")
			}
		}
	}
}

// barrier applies b to the writes it covers; w.mu is held.
func (w *VertexReads) barrier(b vk.Barrier) {
	if b.Image != 0 {
		return // an image's memory only
	}
	src := b.SrcStage
	if src&(vk.StageBottomOfPipe|vk.StageAllCommands) != 0 {
		src = ^vk.PipelineStage(0) // every earlier stage
	}
	for buf, wr := range w.writes {
		if b.Buffer != 0 && b.Buffer != buf {
			continue
		}
		switch {
		case !wr.available && src&vk.StageTransfer != 0 && b.SrcAccess&(vk.AccessTransferWrite|vk.AccessMemoryWrite) != 0:
			wr.available = true
			wr.chain = b.DstStage
		case wr.available && src&wr.chain != 0: // a chain: b waits for what waited for the write
			wr.chain |= b.DstStage
		default:
			continue
		}
		wr.visible = append(wr.visible, scope{stages: b.DstStage, access: b.DstAccess})
	}
}

// semaphoreWait applies a submission's semaphore wait at stages to the
// earlier writes: its second scope is every access at those stages (and,
// through chains, after them); w.mu is held.
func (w *VertexReads) semaphoreWait(stages vk.PipelineStage) {
	for _, wr := range w.writes {
		wr.available = true
		wr.chain |= stages
		wr.visible = append(wr.visible, scope{stages: stages, access: ^vk.Access(0)})
	}
}

// read checks a draw's read of buf as access at the vertex input stage;
// w.mu is held.
func (w *VertexReads) read(c vk.Command, buf vk.Buffer, access vk.Access, what string) {
	wr := w.writes[buf]
	if buf == 0 || wr == nil {
		return
	}
	w.checked++
	for _, s := range wr.visible {
		if s.stages&(vk.StageVertexInput|vk.StageAllGraphics|vk.StageAllCommands) != 0 &&
			s.access&(access|vk.AccessMemoryRead) != 0 {
			return
		}
	}
	w.hazards = append(w.hazards, fmt.Sprintf("%s in command buffer %#x reads buffer %#x as %s data, written by %s in command buffer %#x: no barrier makes the write visible to the vertex input stage",
		c.Op, uint64(c.Cmd), uint64(buf), what, wr.op, uint64(wr.cmd)))
}
