// Package framesync runs frames in flight, numbers every submission with a
// serial, and retires GPU objects exactly when the GPU has finished the
// last submission that used them.
//
// Engines used to ask "was this texture rendered this frame?" and guess.
// Here each object is deferred at the serial of its last use, and destroyed
// in the first Poll after that serial completes: never earlier (the
// validation layer checks), and no later than the GPU needs.
//
//	s, _ := framesync.New(framesync.Options{Device: dev, Allocator: a, FramesInFlight: 2})
//	for running {
//		f, _ := s.BeginFrame(ctx)        // waits only for the slot it reuses
//		dev.CmdCopyBuffer(f.Cmd, staging, vertices, 0, 0, n)
//		s.Defer(f.Serial(), framesync.Buffer(staging, stagingMem))
//		s.EndFrame(f)
//	}
//	s.Poll()  // an idle app still gets its memory back
//
// Completion comes from a timeline semaphore where the device has one
// (Vulkan 1.2), else from the fences of the submissions, read without
// blocking. The retirement queue keeps one bucket per serial, split by kind,
// so a Poll touches only what is due and destroys views before images,
// images and buffers before their memory. Submissions outside frames go
// through OneShot; while a frame is being recorded they travel with it.
//
// A lost device (ErrDeviceLost from any wait or status query) makes every
// pending object be destroyed at once, without waiting on fences, and stops
// every later submission before it reaches the queue. It is the only
// terminal fault: a submission that fails otherwise is returned, its serial
// completes with the ones before it, and the next frame goes on.
//
// Close is idempotent and safe from any goroutine while work is in flight:
// blocked waits return ErrClosed before their fence is destroyed, and a
// frame being recorded is torn down by its recorder's EndFrame. Func
// closures and Freer.Free run without the Sync's lock, and may call back
// into it.
package framesync
