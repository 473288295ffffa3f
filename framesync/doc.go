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
// OneShotAfter adds semaphores its submission waits for on the GPU (an
// upload made on a transfer queue, say): batched, the frame waits.
//
// # The app's own submissions
//
// An app that owns its frame loop, command buffers and queues need not use
// BeginFrame and EndFrame at all. It registers the timelines it signals —
// a timeline semaphore per queue, or a series of fences where the device
// has no timeline semaphores — and defers each object at the points of its
// last use; framesync's own frames are one timeline among them
// (FrameTimeline), and Defer(serial, o) is DeferAt(o, FrameTimeline().At(serial)).
//
//	gfx, _ := s.AddTimeline("graphics", gfxSem)   // the app signals gfxSem
//	comp, _ := s.AddTimeline("compute", compSem)
//	// ... the app submits: graphics signals gfxSem = n, compute compSem = m
//	s.DeferAt(framesync.Buffer(buf, mem), gfx.At(n), comp.At(m))
//	s.Poll() // reads both semaphores without blocking; buf goes once both passed
//
// An object's last use is a Use: one value per timeline, a fixed array of
// MaxTimelines (8) values, so keeping one (assets keep one per asset, see
// assets.Manager.UseAt) allocates nothing. It retires in the first Poll after
// every timeline has reached its value, never earlier. The retirement
// queue keeps one ring of buckets per timeline: an object waits in the ring
// of one timeline it has not passed, and when that bucket comes due it moves
// to the next timeline it still waits on, so a Poll costs what comes due,
// not what is pending. A point on a timeline this Sync did not register is
// refused with ErrUnknownTimeline, one on a removed timeline with
// ErrTimelineRemoved.
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
