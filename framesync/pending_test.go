package framesync_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkassets/vkassets/alloc"
	"github.com/vkassets/vkassets/framesync"
	"github.com/vkassets/vkassets/vk"
	"github.com/vkassets/vkassets/vk/vktest"
)

// TestPendingBySerial: while a frame is held back by a semaphore, the
// objects deferred to it and to the frame after it are listed by serial,
// oldest first, with their names, kinds and bytes, in destruction order;
// once the GPU has finished and Poll has run, nothing is listed.
func TestPendingBySerial(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			e := open(t, 2, m.useFences, vktest.Options{})
			d, s := e.dev.Device, e.sync
			require.Empty(t, s.PendingBySerial())

			gate := blocked(t, e)
			defer d.DestroySemaphore(gate)
			defer release(t, d, gate) // a failed check must not leave Close waiting for the frame
			first := s.Submitted()
			staging, err := e.alloc.Allocate(vk.MemoryRequirements{Size: 2048, Alignment: 256, TypeBits: ^uint32(0)},
				alloc.AllocationOptions{Usage: alloc.UsageUpload, Name: "staging"})
			require.NoError(t, err)
			require.NoError(t, s.Defer(first, framesync.Memory(staging).Named("staging")))

			f, err := s.BeginFrame(context.Background())
			require.NoError(t, err)
			b, al := e.buffer(t, 4096)
			d.CmdFillBuffer(f.Cmd, b, 0, 4096, 3)
			require.NoError(t, s.Defer(f.Serial(), framesync.Buffer(b, al).Named("vertices")))
			second := f.Serial()
			require.NoError(t, s.EndFrame(f))

			want := []framesync.PendingSerial{
				{Serial: first, Objects: 1, Bytes: 2048, Items: []framesync.PendingObject{
					{Kind: "memory", Name: "staging", Memory: staging.Memory, Offset: staging.Offset, Bytes: 2048},
				}},
				{Serial: second, Objects: 2, Bytes: 4096, Items: []framesync.PendingObject{
					{Kind: "buffer", Name: "vertices"},
					{Kind: "memory", Name: "vertices", Memory: al.Memory, Offset: al.Offset, Bytes: 4096},
				}},
			}
			for range 3 {
				_, err := s.Poll()
				require.NoError(t, err)
				require.Equal(t, want, s.PendingBySerial(), "held back: everything waits, by serial")
			}
			st := s.Stats()
			require.Equal(t, 3, st.Pending)
			require.Equal(t, uint64(2048+4096), st.PendingBytes)

			require.NoError(t, d.SignalSemaphore(gate, 1))
			require.NoError(t, d.QueueWaitIdle())
			n, err := s.Poll()
			require.NoError(t, err)
			require.Equal(t, 3, n)
			require.Empty(t, s.PendingBySerial(), "retired: nothing listed")
		})
	}
}

// release signals gate unless it was signalled, so that the frame it holds
// back can complete.
func release(t *testing.T, d *vk.Device, gate vk.Semaphore) {
	if v, err := d.SemaphoreValue(gate); err == nil && v == 0 {
		require.NoError(t, d.SignalSemaphore(gate, 1))
		require.NoError(t, d.QueueWaitIdle())
	}
}
