package vk

import "sync/atomic"

// Command is one call a Device made, as a CommandObserver sees it: the
// commands that write or read buffers, barriers, the start of a
// recording and each command buffer submitted, enough to follow the
// memory dependencies between buffer writes and the reads after them in
// the order a queue executes them. (Validation layer 1.3.239 checks
// vertex and index reads only within a command buffer: see
// InstanceOptions.SubmitValidation.)
type Command struct {
	// Op is the Vulkan command: "vkBeginCommandBuffer" (the recording
	// starts again: what Cmd held is gone), "vkCmdPipelineBarrier",
	// "vkCmdCopyBuffer" (Src to Dst), "vkCmdFillBuffer" (Dst),
	// "vkCmdCopyBufferToImage" (Src), "vkCmdCopyImageToBuffer" (Dst),
	// "vkCmdBindVertexBuffers" (Src bound at Binding: one Command per
	// buffer), "vkCmdBindIndexBuffer" (Src), "vkCmdDraw",
	// "vkCmdDrawIndexed", or "vkQueueSubmit" (Cmd, the Index-th command
	// buffer of the submission: one Command per command buffer, in order).
	Op string
	// Cmd is the command buffer recorded into, or submitted.
	Cmd CommandBuffer
	// Src and Dst are the buffers the command reads and writes.
	Src, Dst Buffer
	// Binding is the vertex binding of vkCmdBindVertexBuffers.
	Binding uint32
	// Barrier is the barrier of vkCmdPipelineBarrier.
	Barrier Barrier
	// Index is the command buffer's place in its vkQueueSubmit; Transfer
	// says the submission went to the dedicated transfer queue;
	// WaitStages are the stages at which it waits for semaphores (0: it
	// waits for none).
	Index      int
	Transfer   bool
	WaitStages PipelineStage
}

// CommandObserver is told of each Command, synchronously, on the calling
// goroutine (several at once when commands are recorded concurrently);
// it must not call the Device.
type CommandObserver func(Command)

// SetCommandObserver installs f (nil removes it), for tests that check
// what was recorded and submitted. It is safe to call at any time; with
// none installed a command costs one atomic load, and no allocation.
func (d *Device) SetCommandObserver(f CommandObserver) {
	if f == nil {
		d.observer.Store(nil)
		return
	}
	d.observer.Store(&f)
}

// observe tells the observer, if any, of c.
func (d *Device) observe(c Command) {
	if p := d.observer.Load(); p != nil {
		(*p)(c)
	}
}

// observing reports whether an observer is installed (to skip building
// Commands in loops).
func (d *Device) observing() bool { return d.observer.Load() != nil }

type observerSlot = atomic.Pointer[CommandObserver]
