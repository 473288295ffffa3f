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
