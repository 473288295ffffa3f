package framesync_test

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vkassets/vkassets/vk"
	"github.com/vkassets/vkassets/vk/vktest"
)

// TestNoFenceResetUnderAWait: in fence mode, goroutines wait (Wait) for the
// frames and one-shots another goroutine submits, and a second goroutine
// begins frames too. A fence must never be reset (a frame's begin, a
// one-shot's reuse) while another goroutine is still inside
// vkWaitForFences on it: the validation layer's threading check reports
// UNASSIGNED-Threading-MultipleThreads, which fails the test.
func TestNoFenceResetUnderAWait(t *testing.T) {
	e := open(t, 1, true, vktest.Options{})
	ctx := context.Background()
	const rounds = 150
	var wg sync.WaitGroup
	frame := func() {
		f, err := e.sync.BeginFrame(ctx)
		if err != nil {
			return // the other goroutine is recording (ErrFrameRecording)
		}
		require.NoError(t, e.sync.EndFrame(f))
	}
	for range 2 {
		wg.Go(func() {
			for range rounds {
				frame()
				_, err := e.sync.OneShot(func(cmd vk.CommandBuffer) error { return nil })
				require.NoError(t, err)
			}
		})
	}
	for range 2 {
		wg.Go(func() {
			for range rounds {
				require.NoError(t, e.sync.Wait(ctx, e.sync.Submitted()))
			}
		})
	}
	wg.Wait()
}
