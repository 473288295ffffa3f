package framesync_test

import (
	"errors"
	"testing"

	"github.com/vkassets/vkassets/framesync"
)

// TestBreakDeferAtAfterClose: after Close every call answers ErrClosed,
// DeferAt with a bad point included (it used to check the point first and
// answer ErrUnknownTimeline or ErrTimelineRemoved, so a caller testing for
// ErrClosed kept waiting for a Sync that was gone).
func TestBreakDeferAtAfterClose(t *testing.T) {
	d := newFakeDev(true)
	s, err := framesync.New(framesync.Options{Device: d, Allocator: d})
	if err != nil {
		t.Fatal(err)
	}
	sem, _ := d.CreateTimelineSemaphore(0)
	tl, err := s.AddTimeline("compute", sem)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveTimeline(tl); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	nop := framesync.Func(func() { t.Error("a refused object was destroyed") })
	for _, p := range []framesync.Point{framesync.Timeline{}.At(1), tl.At(1)} {
		if err := s.DeferAt(nop, p); !errors.Is(err, framesync.ErrClosed) {
			t.Errorf("DeferAt(%v) after Close: %v, want ErrClosed", p, err)
		}
	}
}

// TestBreakSignalFenceBelowReached: a fence given to SignalFence at a
// value the timeline was already told it reached (Reached) is one the
// contract lets the app destroy at once (CompletedAt ≥ its value). It used
// to be kept all the same, and the next Poll that read the timeline asked
// the driver for the status of the destroyed fence.
func TestBreakSignalFenceBelowReached(t *testing.T) {
	d := newFakeDev(false)
	s, err := framesync.New(framesync.Options{Device: d, Allocator: d})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tl, err := s.AddFenceTimeline("transfer")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Reached(tl, 5); err != nil { // the app waited on the host
		t.Fatal(err)
	}
	old, _ := d.CreateFence(false)
	err = s.SignalFence(tl, 3, old)
	if err == nil {
		// Accepted: then the contract lets the app destroy it now.
		if v, _ := s.CompletedAt(tl); v < 3 {
			t.Fatalf("CompletedAt %d after Reached(5)", v)
		}
		d.DestroyFence(old)
	}
	f, _ := d.CreateFence(false)
	if err := s.DeferAt(framesync.Func(func() {}), tl.At(6)); err != nil {
		t.Fatal(err)
	}
	if err := s.SignalFence(tl, 6, f); err != nil {
		t.Fatal(err)
	}
	d.SignalFenceNow(f)
	if n, err := s.Poll(); err != nil || n != 1 {
		t.Fatalf("Poll: %d, %v", n, err)
	}
	if errs := d.Errors(); len(errs) > 0 {
		t.Fatal(errs)
	}
}

// TestBreakFenceTimelineIdle: the app signals a fence timeline every frame
// but defers nothing on it. Poll must still see its fences signalled
// (CompletedAt is how the contract lets the app reuse a fence), and the
// fences framesync keeps must not grow with every submission.
func TestBreakFenceTimelineIdle(t *testing.T) {
	d := newFakeDev(false)
	s, err := framesync.New(framesync.Options{Device: d, Allocator: d})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tl, err := s.AddFenceTimeline("transfer")
	if err != nil {
		t.Fatal(err)
	}
	for v := uint64(1); v <= 3; v++ {
		f, _ := d.CreateFence(false)
		if err := s.SignalFence(tl, v, f); err != nil {
			t.Fatal(err)
		}
		d.SignalFenceNow(f)
		if _, err := s.Poll(); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.CompletedAt(tl); got != v {
			t.Fatalf("after the fence of %d signalled and a Poll: CompletedAt %d", v, got)
		}
	}
}
