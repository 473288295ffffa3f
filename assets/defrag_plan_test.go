package assets_test

import (
	"fmt"
	"image"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vkassets/vkassets/alloc"
	"github.com/vkassets/vkassets/assets"
	"github.com/vkassets/vkassets/vk"
)

// TestDefragFrameNeverWaitsForPlanner holds the planner of a pass (its
// hook blocks) while frames go on: every DefragFrame (and DefragStats)
// must return at once, moving nothing, and the planner must have been
// started once; released, the pass it planned is recorded by a later
// frame and assets move. The minute's bound only turns a hang into a
// failure.
func TestDefragFrameNeverWaitsForPlanner(t *testing.T) {
	e := openDefragEnv(t, 2)
	rng := rand.New(rand.NewPCG(6, 6))
	sc := fragment(t, e, rng, 160)
	l := &frameLoop{e: e, sc: sc}
	var plans atomic.Int32
	held, hold := make(chan struct{}), make(chan struct{})
	assets.SetPlanHook(func() {
		if plans.Add(1) == 1 {
			close(held)
			<-hold
		}
	})
	defer assets.SetPlanHook(nil)
	require.NoError(t, e.m.SetDefrag(assets.DefragPolicy{MaxMovesPerFrame: 8, RestartAfterFrames: 1, Algorithm: alloc.DefragFull}))

	returned := make(chan error, 1)
	go func() {
		if _, err := e.m.DefragFrame(); err != nil { // starts the planner
			returned <- err
			return
		}
		<-held
		for range 10 {
			p, err := e.m.DefragFrame()
			if err == nil && p.Moved > 0 {
				err = errRecorded
			}
			if err != nil {
				returned <- err
				return
			}
			_ = e.m.DefragStats()
		}
		returned <- nil
	}()
	select {
	case err := <-returned:
		require.NoError(t, err)
	case <-time.After(time.Minute):
		t.Fatal("DefragFrame waits for the planner")
	}
	require.EqualValues(t, 1, plans.Load(), "the planner started once, and is held")
	require.Zero(t, e.m.DefragStats().Moved)
	close(hold)

	for i := 0; i < 200 && e.m.DefragStats().Moved == 0; i++ {
		l.frame(t, func() {
			_, err := e.m.DefragFrame()
			require.NoError(t, err)
		}, func(*image.RGBA) {})
	}
	l.drain(t, func(*image.RGBA) {})
	st := e.m.DefragStats()
	t.Logf("%d plans; %+v", plans.Load(), st)
	require.Positive(t, st.Moved, "the planned pass was recorded")
	e.close(t)
}

var errRecorded = errorString("a pass was recorded while its planner was held")

type errorString string

func (e errorString) Error() string { return string(e) }

// TestDefragPlannedPassGivenBack: a pass planned and never recorded (its
// new objects made, its destinations reserved) is given back when the
// policy is turned off and when the manager closes, whichever order the
// planner and they come in: the allocator's Close finds no leak, the
// validation layer no object left, the allocator's defragmentation has
// ended, and nothing moved. A release of an
// asset the plan would move, meanwhile, is harmless.
func TestDefragPlannedPassGivenBack(t *testing.T) {
	for _, off := range []bool{true, false} {
		e := openDefragEnv(t, 2)
		rng := rand.New(rand.NewPCG(8, 8))
		sc := fragment(t, e, rng, 160)
		planned := make(chan struct{})
		var plans atomic.Int32
		assets.SetPlanHook(func() {
			if plans.Add(1) == 1 {
				close(planned)
			}
		})
		require.NoError(t, e.m.SetDefrag(assets.DefragPolicy{MaxMovesPerFrame: 16, RestartAfterFrames: 1}))
		_, err := e.m.DefragFrame() // starts the planner
		require.NoError(t, err)
		<-planned
		for _, a := range sc.junk {
			drop(e.m, a)
		}
		if off {
			require.NoError(t, e.m.SetDefrag(assets.DefragPolicy{}))
			p, err := e.m.DefragFrame()
			require.NoError(t, err)
			require.Zero(t, p.Moved)
		}
		// The defragmentation has ended (its planned pass given back):
		// the allocator begins another.
		require.NoError(t, e.s.WaitIdle())
		e.r.Close()
		require.NoError(t, e.m.Close())
		d, err := e.a.BeginDefragmentation(alloc.DefragOptions{})
		require.NoError(t, err, "the manager's defragmentation still runs")
		d.End()
		require.NoError(t, e.s.Close())
		require.NoError(t, e.a.Close())
		assets.SetPlanHook(nil)
		st := e.m.DefragStats()
		t.Logf("off %v: %d plans; %+v", off, plans.Load(), st)
		require.Zero(t, st.Moved)
		require.EqualValues(t, 1, plans.Load())
	}
}

// TestDefragStalePlan makes a planned pass stale before a frame records
// it: the planner is held once the pass is planned and its new objects
// made, every undrawn asset (most of what the pass would move) is
// released and retired, and new textures and buffers take the memory
// back. Let go, the pass is recorded without the released assets (they
// count as skipped; a copy from their destroyed objects would be a
// validation error), every frame stays identical to the reference, later
// passes move assets, and Close finds no leak.
func TestDefragStalePlan(t *testing.T) {
	e := openDefragEnv(t, 2)
	rng := rand.New(rand.NewPCG(7, 7))
	sc := fragment(t, e, rng, 200)
	l := &frameLoop{e: e, sc: sc}
	var want []byte
	l.frame(t, nil, func(img *image.RGBA) { want = img.Pix })
	l.drain(t, func(img *image.RGBA) { want = img.Pix })
	check := func(img *image.RGBA) { require.Equal(t, want, img.Pix) }

	var plans atomic.Int32
	held, hold := make(chan struct{}), make(chan struct{})
	assets.SetPlanHook(func() {
		if plans.Add(1) == 1 {
			close(held)
			<-hold
		}
	})
	defer assets.SetPlanHook(nil)
	require.NoError(t, e.m.SetDefrag(assets.DefragPolicy{MaxMovesPerFrame: 48, RestartAfterFrames: 1}))
	step := func() {
		_, err := e.m.DefragFrame()
		require.NoError(t, err)
	}
	l.frame(t, step, check) // starts the planner
	<-held
	for _, a := range sc.junk {
		drop(e.m, a)
	}
	for range 3 {
		l.frame(t, step, check)
	}
	l.drain(t, check)
	_, err := e.s.Poll()
	require.NoError(t, err)
	var fresh []assets.Asset
	for i := range 40 {
		var a assets.Asset
		if i%2 == 0 {
			a, err = newTexture(e.m, fmt.Sprintf("fresh-%d", i), uint64(1000+i), 16+rng.IntN(4)*16)
		} else {
			a, err = e.m.NewBuffer(fmt.Sprintf("fresh-buf-%d", i), vk.BufferUsageVertex, make([]byte, 1024+rng.IntN(32)*1024))
		}
		require.NoError(t, err)
		fresh = append(fresh, a)
	}
	require.Zero(t, e.m.DefragStats().Passes, "nothing recorded while the planner was held")
	close(hold)

	for i := 0; i < 300 && e.m.DefragStats().Completed == 0; i++ {
		l.frame(t, step, check)
	}
	l.drain(t, check)
	st := e.m.DefragStats()
	t.Logf("%d plans; %+v", plans.Load(), st)
	require.Positive(t, st.Skipped, "the released assets were left out")
	require.Positive(t, st.Moved)
	require.Positive(t, st.Completed)
	for _, a := range fresh {
		drop(e.m, a)
	}
	e.close(t)
}

// TestDefragFrameLeavesRetirementToAGoroutine holds the retirement of a
// recorded pass (its hook blocks): the DefragFrame that recorded it must
// have returned with the pass's moves all the same, frames go on, and
// Manager.Close must wait for the held retirement (then the Sync's and
// the allocator's Close find nothing of the pass left: no leak, no
// validation error). The minute's bounds only turn a hang into a failure.
func TestDefragFrameLeavesRetirementToAGoroutine(t *testing.T) {
	e := openDefragEnv(t, 2)
	rng := rand.New(rand.NewPCG(8, 8))
	sc := fragment(t, e, rng, 160)
	l := &frameLoop{e: e, sc: sc}
	var retires atomic.Int32
	held, hold := make(chan struct{}), make(chan struct{})
	assets.SetRetireHook(func() {
		if retires.Add(1) == 1 {
			close(held)
			<-hold
		}
	})
	defer assets.SetRetireHook(nil)
	require.NoError(t, e.m.SetDefrag(assets.DefragPolicy{MaxMovesPerFrame: 8, Algorithm: alloc.DefragFull}))

	recorded := make(chan assets.DefragPass, 1)
	go func() {
		for i := 0; i < 2000; i++ {
			p, err := e.m.DefragFrame()
			if err != nil || p.Moved > 0 {
				recorded <- p
				return
			}
			time.Sleep(time.Millisecond) // the planner's turn
		}
		recorded <- assets.DefragPass{}
	}()
	var p assets.DefragPass
	select {
	case p = <-recorded:
	case <-time.After(time.Minute):
		t.Fatal("DefragFrame waits for the pass's retirement")
	}
	require.Positive(t, p.Moved, "a pass was recorded")
	select {
	case <-held:
	case <-time.After(time.Minute):
		t.Fatal("the pass's retirement never began")
	}
	// Frames go on while it is held.
	for range 3 {
		l.frame(t, func() {
			_, err := e.m.DefragFrame()
			require.NoError(t, err)
		}, func(*image.RGBA) {})
	}
	l.drain(t, func(*image.RGBA) {})
	require.NoError(t, e.s.WaitIdle())
	e.r.Close()
	closed := make(chan error, 1)
	go func() { closed <- e.m.Close() }()
	select {
	case err := <-closed:
		t.Fatalf("Manager.Close returned (%v) while the pass's retirement was held", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(hold)
	select {
	case err := <-closed:
		require.NoError(t, err)
	case <-time.After(time.Minute):
		t.Fatal("Manager.Close never returned")
	}
	require.NoError(t, e.s.Close())
	require.NoError(t, e.a.Close(), "nothing of the pass is left")
}
