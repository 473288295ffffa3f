package framesync_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/vkassets/vkassets/alloc"
	"github.com/vkassets/vkassets/framesync"
	"github.com/vkassets/vkassets/vk"
	"github.com/vkassets/vkassets/vk/vktest"
)

// heldIdle is a device whose WaitIdle waits until release is closed.
type heldIdle struct {
	*device
	entered chan struct{}
	once    sync.Once
	release chan struct{}
}

func (d *heldIdle) WaitIdle() error {
	d.once.Do(func() { close(d.entered) })
	<-d.release
	return d.device.WaitIdle()
}

// TestSecondCloseWaitsForTheFirst: while one goroutine's Close waits for
// the device, another runs the documented teardown (the Sync's Close, then
// the allocator's). Its Close must return only once the first has retired
// what was deferred, so that the allocator finds no allocation alive.
// Before, a second Close returned nil at once, and the allocator's Close
// failed naming the buffer the Sync was about to free.
func TestSecondCloseWaitsForTheFirst(t *testing.T) {
	vd := vktest.Open(t)
	d := &heldIdle{device: &device{Device: vd}, entered: make(chan struct{}), release: make(chan struct{})}
	a, err := alloc.New(alloc.Options{Device: vd, Logger: vktest.Logger(t)})
	require.NoError(t, err)
	s, err := framesync.New(framesync.Options{Device: d, Allocator: freer{a, d.device}})
	require.NoError(t, err)
	f, err := s.BeginFrame(context.Background())
	require.NoError(t, err)
	b, al, err := a.CreateBuffer(4096, vk.BufferUsageTransferDst, alloc.AllocationOptions{})
	require.NoError(t, err)
	vd.CmdFillBuffer(f.Cmd, b, 0, 4096, 1)
	require.NoError(t, s.Defer(f.Serial(), framesync.Buffer(b, al)))
	require.NoError(t, s.EndFrame(f))

	first := make(chan error, 1)
	go func() { first <- s.Close() }()
	<-d.entered
	second := make(chan error, 2)
	go func() {
		second <- s.Close()
		second <- a.Close()
	}()
	time.Sleep(20 * time.Millisecond) // room for a Close that does not wait to run on
	close(d.release)
	require.NoError(t, <-first)
	require.NoError(t, <-second, "the second Close")
	require.NoError(t, <-second, "the allocator's Close after the second Sync Close")
}
