package assets

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/vkassets/vkassets/alloc"
	"github.com/vkassets/vkassets/framesync"
	"github.com/vkassets/vkassets/vk"
)

// DefragPolicy turns on automatic defragmentation (Manager.SetDefrag):
// each DefragFrame moves at most MaxMovesPerFrame textures and buffers of
// at most MaxBytesPerFrame in all. The zero value is off.
type DefragPolicy struct {
	// MaxBytesPerFrame bounds the bytes one frame's pass copies (0: no
	// bound, if MaxMovesPerFrame is set); an asset larger than it never
	// moves.
	MaxBytesPerFrame uint64
	// MaxMovesPerFrame bounds the moves of one frame's pass (0: no bound,
	// if MaxBytesPerFrame is set).
	MaxMovesPerFrame int
	// Algorithm: alloc.DefragFast (empty the emptiest blocks) or
	// alloc.DefragFull (then compact within blocks).
	Algorithm alloc.DefragAlgorithm
	// ReleaseUnreferenced releases, through the normal rule (Release,
	// not forced), a cached asset with no reference that a pass would
	// move, instead of moving it: its memory goes when the GPU is done
	// with it. Leave it off where roots are drawn without a reference
	// (a freshly loaded asset has none).
	ReleaseUnreferenced bool
	// RestartAfterFrames is how many DefragFrame calls to let pass after a
	// defragmentation found nothing more to move, before planning again
	// (0: 60).
	RestartAfterFrames int
}

func (p DefragPolicy) on() bool { return p.MaxBytesPerFrame > 0 || p.MaxMovesPerFrame > 0 }

// DefragStats are the totals of the manager's defragmentations.
type DefragStats struct {
	// Passes is the number of passes that planned moves; Frames the
	// DefragFrame calls that recorded one (or ended the defragmentation).
	Passes, Frames int
	// Moved and BytesMoved count the assets moved (their copies recorded
	// and their handles swapped).
	Moved      int
	BytesMoved uint64
	// Released counts the unreferenced assets released instead of moved
	// (DefragPolicy.ReleaseUnreferenced).
	Released int
	// Skipped counts planned moves not made: memory no asset of this
	// manager owns, an upload in flight, a pinned, released or fixed
	// texture (an atlas page).
	Skipped int
	// BlocksFreed and BytesFreed are the device-memory blocks the
	// allocator freed because passes emptied them, counted when a
	// defragmentation ends (it ends when it finds nothing more to move).
	BlocksFreed int
	BytesFreed  uint64
	// Completed counts the defragmentations that ended.
	Completed int
	// CPU is the time spent planning, creating the new objects (both on
	// the planner's goroutine), recording the copies and ending passes;
	// EndPass is the part of it spent in the allocator's EndPass (freeing
	// the sources, and the emptied blocks: vkFreeMemory).
	CPU, EndPass time.Duration
	// EndPassMax is the longest EndPass.
	EndPassMax time.Duration
}

// DefragPass is what one DefragFrame did.
type DefragPass struct {
	Moved int
	Bytes uint64
	// Serial is the copies' submission (0 when none was recorded): the
	// objects moved from retire once it and their last use complete.
	Serial framesync.Serial
	// Complete: the defragmentation found nothing more to move and ended.
	Complete bool
}

// defragger is a manager's automatic defragmentation. A pass goes
// through three stages, one pass at a time: planned (the allocator's
// BeginPass and the new objects, on a planner goroutine: the frame does
// not pay for them), ready (planned, waiting for a DefragFrame), open (its
// copies recorded, in flight until its end).
type defragger struct {
	mu     sync.Mutex // guards the fields below
	policy DefragPolicy
	d      *alloc.Defragmentation
	// planning is closed when the planner running ends; nil: none runs.
	planning chan struct{}
	ready    *passWork // the pass planned and not yet recorded; nil: none
	open     *passWork // the pass whose copies are in flight; nil: none
	idle     int       // DefragFrame calls to let pass before beginning again
	stats    DefragStats
	closed   bool
	now      int                 // DefragmentNow calls running: the defragmentation stays begun with the policy off
	dOpts    alloc.DefragOptions // what d was begun with
	// running counts the passes being recorded whose old objects and end
	// are not yet handed to framesync (record to finish); close waits for
	// them, so that a Close of the Sync and the allocator after the
	// manager's finds the pass in framesync's hands.
	running sync.WaitGroup
	// ending counts the planners and the ends of passes running on their
	// own goroutines (so that the allocator's EndPass, which frees
	// emptied blocks, is not paid by the goroutine that polls framesync);
	// Close waits for them.
	ending sync.WaitGroup
}

// ErrDefragPolicy: SetDefrag with a policy that is out of range.
var ErrDefragPolicy = errors.New("assets: bad defragmentation policy")

// SetDefrag sets the automatic defragmentation policy; the zero policy
// turns it off (a pass in flight still ends). See DefragFrame.
func (m *Manager) SetDefrag(p DefragPolicy) error {
	if p.MaxMovesPerFrame < 0 || p.RestartAfterFrames < 0 || p.Algorithm > alloc.DefragFull {
		return fmt.Errorf("%w: moves %d, restart after %d frames, algorithm %d", ErrDefragPolicy,
			p.MaxMovesPerFrame, p.RestartAfterFrames, p.Algorithm)
	}
	g := &m.defrag
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return fmt.Errorf("set defrag: %w", ErrClosed)
	}
	g.policy, g.idle = p, 0
	switch {
	case !p.on() && g.now == 0:
		g.stop(m)
	case g.stale():
		g.restart(m) // a pass planned under the old budget is not recorded
	}
	return nil
}

// DefragStats returns the totals so far.
func (m *Manager) DefragStats() DefragStats {
	g := &m.defrag
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.stats
}

// DefragFrame runs one incremental step of the automatic defragmentation
// (SetDefrag); call it once a frame, from any goroutine, best before the
// frame's draws are recorded. It never waits, neither for the GPU nor for
// the planner. Passes are planned on a goroutine of their own, within the
// policy's budget: for each planned move of a texture's or a buffer's
// memory, the planner creates the new VkImage (and view) or VkBuffer bound
// at the destination. The first DefragFrame starts the planner, and the
// end of each pass starts it again. While a pass's copies are in flight,
// or its successor is being planned, DefragFrame does nothing; once one is
// planned, it records the copies (vkCmdCopyImage of every mip level
// between transfer layouts, vkCmdCopyBuffer) in a one-shot submission —
// submitted with the frame being recorded, ahead of it, or at once — then
// swaps the assets' handles: a use claim from then on sees the new ones
// (TextureHandles.Generation counts the moves). An asset released or
// changed since the planning is left out (its new objects destroyed). The
// old objects retire through framesync once the copy and their last
// claimed use complete, and the pass ends then, freeing the source ranges
// and the blocks it emptied. A planned pass holds its destinations
// reserved in the allocator until a DefragFrame records it (or the policy
// is turned off, or the manager closed).
//
// Textures and buffers move, locked ones included; an upload in flight, a
// pinned asset (Pin), a texture whose contents change after upload
// (NewEmptyTexture's) and memory no asset of this manager owns (another
// manager's on a shared allocator included) are left in place.
// A submission that fails after the copies were recorded leaves the moved
// assets with undefined contents (as it would leave any upload).
func (m *Manager) DefragFrame() (DefragPass, error) {
	g := &m.defrag
	// What the GPU has completed, fresh (an upload that completed may
	// move); it may retire what is due, so before the lock.
	_, _ = m.sync.Poll()
	start := time.Now()
	g.mu.Lock()
	switch {
	case g.closed:
		g.mu.Unlock()
		return DefragPass{}, fmt.Errorf("defrag: %w", ErrClosed)
	case !g.policy.on() || g.open != nil || g.planning != nil:
		g.mu.Unlock()
		return DefragPass{}, nil
	case g.ready == nil && g.d == nil && g.idle > 0:
		g.idle--
		g.mu.Unlock()
		return DefragPass{}, nil
	case g.ready == nil:
		err := m.startPlan()
		g.stats.CPU += time.Since(start)
		g.mu.Unlock()
		if errors.Is(err, alloc.ErrDefragmenting) {
			return DefragPass{}, nil // the application is defragmenting the allocator itself
		}
		if err != nil {
			return DefragPass{}, fmt.Errorf("defrag: %w", err)
		}
		return DefragPass{}, nil
	}
	g.stats.Frames++
	pass := g.ready
	g.ready = nil
	err := m.record(pass)
	g.stats.CPU += time.Since(start)
	g.mu.Unlock()
	r, after := pass.finish(m, true)
	g.mu.Lock()
	g.stats.CPU += after
	g.mu.Unlock()
	if errors.Is(err, alloc.ErrDefragmenting) {
		return DefragPass{}, nil // the application is defragmenting the allocator itself
	}
	return r, err
}

// DefragmentNow defragments until nothing more moves, for a loading
// screen: it waits for what was submitted, then runs passes of the
// policy's budget (of 64 MiB when the policy is off), waiting for each
// pass's planner and copies (ctx bounds the waits). Call it between
// frames: a frame being recorded by the caller would hold the copies back
// until ctx ends (one recorded by another goroutine, until it is
// submitted).
// It returns what it did; while the application (or another manager on
// the same allocator) defragments the allocator itself, an error wrapping
// alloc.ErrDefragmenting.
func (m *Manager) DefragmentNow(ctx context.Context) (DefragStats, error) {
	// What was submitted completes first: uploads done may move, and the
	// memory of assets released meanwhile comes back before planning.
	if err := m.sync.Wait(ctx, m.sync.Submitted()); err != nil && !errors.Is(err, framesync.ErrClosed) {
		return DefragStats{}, fmt.Errorf("defragment: %w", err)
	}
	g := &m.defrag
	g.mu.Lock()
	before := g.stats
	g.now++
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		if g.now--; g.now == 0 && !g.policy.on() {
			g.stop(m)
		}
		g.mu.Unlock()
	}()
	for {
		start := time.Now()
		_, _ = m.sync.Poll() // as in DefragFrame
		g.mu.Lock()
		if g.closed {
			g.mu.Unlock()
			return DefragStats{}, fmt.Errorf("defragment: %w", ErrClosed)
		}
		if open := g.open; open != nil {
			g.mu.Unlock()
			if err := open.wait(ctx, m); err != nil {
				return DefragStats{}, fmt.Errorf("defragment: %w", err)
			}
			continue
		}
		if planning := g.planning; planning != nil {
			g.mu.Unlock()
			select {
			case <-planning:
			case <-ctx.Done():
				return DefragStats{}, fmt.Errorf("defragment: %w", ctx.Err())
			}
			continue
		}
		if g.ready == nil {
			err := m.startPlan()
			g.stats.CPU += time.Since(start)
			g.mu.Unlock()
			if err != nil {
				return DefragStats{}, fmt.Errorf("defragment: %w", err)
			}
			continue
		}
		pass := g.ready
		g.ready = nil
		err := m.record(pass)
		g.stats.CPU += time.Since(start)
		g.mu.Unlock()
		r, after := pass.finish(m, false)
		g.mu.Lock()
		g.stats.CPU += after
		g.mu.Unlock()
		if err != nil {
			return DefragStats{}, fmt.Errorf("defragment: %w", err)
		}
		if r.Complete {
			break
		}
		if err := pass.wait(ctx, m); err != nil {
			return DefragStats{}, fmt.Errorf("defragment: %w", err)
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.stats.since(before), nil
}

func (s DefragStats) since(b DefragStats) DefragStats {
	return DefragStats{Passes: s.Passes - b.Passes, Frames: s.Frames - b.Frames, Moved: s.Moved - b.Moved,
		BytesMoved: s.BytesMoved - b.BytesMoved, Released: s.Released - b.Released, Skipped: s.Skipped - b.Skipped,
		BlocksFreed: s.BlocksFreed - b.BlocksFreed, BytesFreed: s.BytesFreed - b.BytesFreed,
		Completed: s.Completed - b.Completed, CPU: s.CPU - b.CPU, EndPass: s.EndPass - b.EndPass, EndPassMax: s.EndPassMax}
}

// stop ends the defragmentation now if no pass is open or being planned
// (else the pass's end or the planner will): a planned pass is given back
// and its new objects destroyed. g.mu is held.
func (g *defragger) stop(m *Manager) {
	if g.open != nil || g.planning != nil {
		return
	}
	if w := g.ready; w != nil {
		g.ready = nil
		for _, j := range w.jobs {
			j.new.destroyUnused(m.dev)
		}
	}
	g.end() // gives the planned pass's destinations back
}

// want is the allocator's defragmentation the policy asks for: its
// budget per pass (64 MiB for DefragmentNow with the policy off) and its
// algorithm. g.mu is held.
func (g *defragger) want() alloc.DefragOptions {
	bytes, moves := g.policy.MaxBytesPerFrame, g.policy.MaxMovesPerFrame
	if !g.policy.on() {
		bytes = 64 << 20
	}
	return alloc.DefragOptions{Algorithm: g.policy.Algorithm, MaxBytesPerPass: bytes, MaxMovesPerPass: moves}
}

// stale reports whether the running defragmentation was begun under
// another budget or algorithm than the policy's now; g.mu is held.
func (g *defragger) stale() bool { return g.d != nil && g.dOpts != g.want() }

// restart ends a stale defragmentation so that the next pass is planned
// under the policy now, giving a planned pass back (its new objects
// destroyed); unlike end, it counts no completed defragmentation and
// keeps no idle frames. It does nothing while a pass is open or being
// planned (their ends come here again). g.mu is held.
func (g *defragger) restart(m *Manager) {
	if g.open != nil || g.planning != nil || g.d == nil {
		return
	}
	if w := g.ready; w != nil {
		g.ready = nil
		for _, j := range w.jobs {
			j.new.destroyUnused(m.dev)
		}
	}
	st := g.d.End()
	g.d = nil
	g.stats.BlocksFreed += st.BlocksFreed
	g.stats.BytesFreed += st.BytesFreed
}

// end ends the allocator's defragmentation, if one runs; g.mu is held and
// no pass is open, planned or being planned.
func (g *defragger) end() {
	if g.d == nil {
		return
	}
	st := g.d.End()
	g.d = nil
	g.stats.BlocksFreed += st.BlocksFreed
	g.stats.BytesFreed += st.BytesFreed
	g.stats.Completed++
	g.idle = g.policy.RestartAfterFrames
	if g.idle == 0 {
		g.idle = 60
	}
}

// close ends the defragmentation (at the end of the open pass, or of the
// planner, if any) and waits for the planner and the ends of passes
// running; later calls return ErrClosed.
func (g *defragger) close(m *Manager) {
	g.mu.Lock()
	g.closed = true
	g.stop(m)
	g.mu.Unlock()
	g.running.Wait()
	g.ending.Wait()
}

// moveJob is one asset's move in a pass.
type moveJob struct {
	move    int // index in the pass's moves
	a       movable
	old     *gpuState
	new     *gpuState
	swapped bool
	// retire is when the old objects go (swapped: the copy and their last
	// use on every timeline), or the new ones (not: the copy).
	retire framesync.Use
}

// passWork is what a pass leaves to do once the defragger's lock is
// released: the releases instead of moves, and the objects to retire.
type passWork struct {
	g        *defragger
	moves    []alloc.DefragMove
	jobs     []moveJob
	release  []Asset
	skipped  int              // planned moves the planner left out
	err      error            // the allocator's BeginPass's
	serial   framesync.Serial // the copies' submission; 0: none
	last     framesync.Serial // the latest of the jobs' retire on the frame timeline
	lastUse  framesync.Use    // when the pass ends: the latest of the jobs' retire on every timeline
	complete bool
	done     chan struct{} // closed once the pass has ended
}

// wait waits until the pass has ended: its copies and its old objects'
// uses completed, and the allocator's EndPass run.
func (w *passWork) wait(ctx context.Context, m *Manager) error {
	if w.serial == 0 {
		return nil
	}
	var tick *time.Ticker
	defer func() {
		if tick != nil {
			tick.Stop()
		}
	}()
	// pause waits a little (or for the end, or ctx).
	pause := func() (bool, error) {
		if tick == nil {
			tick = time.NewTicker(time.Millisecond)
		}
		select {
		case <-w.done:
			return true, nil
		case <-ctx.Done():
			return false, ctx.Err()
		case <-tick.C:
			return false, nil
		}
	}
	// The wait retires what is due: the end's Func, which starts the end.
	for {
		err := m.sync.Wait(ctx, w.last)
		if !errors.Is(err, framesync.ErrNotSubmitted) {
			if err != nil {
				return err
			}
			break
		}
		// The copies went with a frame another goroutine is recording:
		// wait for its submission.
		if done, err := pause(); done || err != nil {
			return err
		}
	}
	// A use on another timeline (UseAt) holds the end until a Poll sees
	// that timeline pass it.
	for {
		select {
		case <-w.done:
			return nil
		default:
		}
		if done, err := pause(); done || err != nil {
			return err
		}
		_, _ = m.sync.Poll()
	}
}

// planHook, set by tests, runs on the planner's goroutine once a pass is
// planned and its new objects made, before it is handed over.
var planHook func()

// startPlan starts planning the next pass on a goroutine of its own,
// beginning the allocator's defragmentation first if none runs (of the
// policy's budget, or of 64 MiB for DefragmentNow with the policy off).
// A defragmentation begun under another budget or algorithm is ended and
// begun again, so that a policy change takes effect at the next pass.
// g.mu is held; no pass is open, planned or being planned, and the
// manager is not closed.
func (m *Manager) startPlan() error {
	g := &m.defrag
	if g.stale() {
		g.restart(m)
	}
	if g.d == nil {
		want := g.want()
		d, err := m.alloc.BeginDefragmentation(want)
		if err != nil {
			return err
		}
		g.d, g.dOpts = d, want
	}
	done := make(chan struct{})
	g.planning = done
	g.ending.Add(1)
	d, release := g.d, g.policy.ReleaseUnreferenced
	go func() {
		defer g.ending.Done()
		start := time.Now()
		w := m.plan(d, release)
		if planHook != nil {
			planHook()
		}
		took := time.Since(start)
		g.mu.Lock()
		defer g.mu.Unlock()
		g.stats.CPU += took
		g.planning = nil
		close(done)
		g.ready = w
		switch {
		case g.closed || !g.policy.on() && g.now == 0:
			g.stop(m)
		case g.stale():
			g.restart(m) // the policy changed while it planned
		}
	}()
	return nil
}

// plan plans a pass of d and makes the new objects of its moves, without
// g.mu: while it runs nothing else begins a pass or ends d. Everything it
// decides is checked again when the pass is recorded.
func (m *Manager) plan(d *alloc.Defragmentation, releaseUnreferenced bool) *passWork {
	w := &passWork{g: &m.defrag, done: make(chan struct{})}
	planned, err := d.BeginPass()
	if err != nil || len(planned) == 0 {
		w.err, w.complete = err, err == nil
		return w
	}
	w.moves = planned
	for i := range planned {
		planned[i].Op = alloc.MoveIgnore
		a, why := m.movableAt(planned[i].Src, releaseUnreferenced)
		switch why {
		case moveOK:
			if j, err := m.newObjects(a, &planned[i]); err == nil {
				j.move = i
				w.jobs = append(w.jobs, j)
				continue
			}
		case moveRelease:
			w.release = append(w.release, a)
			continue
		}
		w.skipped++
	}
	return w
}

// record records the planned pass w: its copies and the swaps; g.mu is
// held. A pass that planned nothing ends the defragmentation; one that
// recorded nothing ends now, and the next is planned. What is left to do
// goes to finish, without g.mu.
func (m *Manager) record(w *passWork) error {
	g := &m.defrag
	g.running.Add(1) // Done in finish, which the caller calls
	if w.err != nil || w.complete {
		g.end()
		return w.err
	}
	g.stats.Passes++
	g.stats.Skipped += w.skipped
	if len(w.jobs) > 0 {
		m.recordMoves(w)
	}
	if w.serial == 0 {
		_ = g.d.EndPass() // nothing recorded: the pass ends now
		return m.startPlan()
	}
	for _, j := range w.jobs {
		for i, v := range j.retire {
			w.lastUse[i] = max(w.lastUse[i], v)
		}
	}
	w.last = framesync.Serial(w.lastUse[0])
	g.open = w
	return nil
}

// unreferenced: a cached asset that nothing references, neither locked
// nor ignored (DefragPolicy.ReleaseUnreferenced releases it).
func unreferenced(b *Base) bool {
	return b.key != "" && b.RefCount() == 0 && !b.locked.Load() && !b.ignored.Load()
}

type moveVerdict int

const (
	moveSkip moveVerdict = iota
	moveOK
	moveRelease
)

// movableAt finds the asset whose memory src is and says whether to move
// it (or to release it, with releaseUnreferenced).
func (m *Manager) movableAt(src alloc.Allocation, releaseUnreferenced bool) (movable, moveVerdict) {
	ud, _ := m.alloc.UserData(src)
	a, ok := ud.(movable)
	if !ok {
		return nil, moveSkip
	}
	b, c := a.base(), a.cell()
	// Another manager's asset (managers may share an allocator) is not
	// this one's to move, nor to release: its IDs are its own.
	m.mu.Lock()
	own := m.byID[b.id] == Asset(a)
	m.mu.Unlock()
	if !own {
		return nil, moveSkip
	}
	s := c.state()
	switch {
	case b.State() != Ready || b.life.Load()&releasedBit != 0 || c.fixed || s == nil || s.move != nil,
		s.mem.Memory != src.Memory || s.mem.Offset != src.Offset,
		s.ready > m.sync.Completed():
		return nil, moveSkip
	}
	if releaseUnreferenced && unreferenced(b) {
		return a, moveRelease
	}
	return a, moveOK
}

// newObjects makes a's new objects bound at mv's destination.
func (m *Manager) newObjects(a movable, mv *alloc.DefragMove) (moveJob, error) {
	old := a.cell().state()
	at := alloc.Allocation{Memory: mv.DstMemory, Offset: mv.DstOffset, Size: old.mem.Size, MemoryType: old.mem.MemoryType}
	n := &gpuState{size: old.size, gen: old.gen + 1, move: &pendingMove{freer: m.alloc, at: at}}
	d := m.dev
	switch x := a.(type) {
	case *Texture2D:
		img, err := d.CreateImage(x.info())
		if err != nil {
			return moveJob{}, err
		}
		if err := d.BindImageMemory(img, mv.DstMemory, mv.DstOffset); err != nil {
			d.DestroyImage(img)
			return moveJob{}, err
		}
		view, err := d.CreateImageView(img, x.Format, vk.AspectColor, x.MipLevels)
		if err != nil {
			d.DestroyImage(img)
			return moveJob{}, err
		}
		_ = d.SetName(vk.ObjectImage, uint64(img), x.name)
		n.image, n.view = img, view
	case *Buffer:
		buf, err := d.CreateBuffer(x.Size, x.createUsage())
		if err != nil {
			return moveJob{}, err
		}
		if err := d.BindBufferMemory(buf, mv.DstMemory, mv.DstOffset); err != nil {
			d.DestroyBuffer(buf)
			return moveJob{}, err
		}
		n.buffer = buf
	default:
		return moveJob{}, errors.New("not a kind that moves")
	}
	return moveJob{a: a, old: old, new: n}, nil
}

// destroyUnused destroys objects no submission used.
func (s *gpuState) destroyUnused(d *vk.Device) {
	if s.view != 0 {
		d.DestroyImageView(s.view)
	}
	if s.image != 0 {
		d.DestroyImage(s.image)
	}
	if s.buffer != 0 {
		d.DestroyBuffer(s.buffer)
	}
}

// beforeFinish, set by tests, runs when a pass planned under the
// defragger's lock begins its finish, without the lock.
var beforeFinish func()

// retireHook, set by tests, runs when a recorded pass begins handing its
// objects to framesync (on its own goroutine, for DefragFrame's).
var retireHook func()

// beforeSwap, set by tests, runs after a pass's copies are submitted and
// before the handles are swapped.
var beforeSwap func([]Asset)

// recordMoves records the pass's copies in one one-shot submission and
// swaps each asset's objects. Each asset's cell is write-locked from
// before its release check until the swap, so that a release racing the
// move retires the objects it reads no earlier than the copy (the cell's
// floor). g.mu is held.
func (m *Manager) recordMoves(w *passWork) {
	jobs := w.jobs[:0]
	for _, j := range w.jobs {
		c := j.a.cell()
		c.mu.Lock()
		if j.a.base().life.Load()&releasedBit != 0 || c.state() != j.old {
			c.mu.Unlock()
			j.new.destroyUnused(m.dev)
			w.g.stats.Skipped++
			continue
		}
		jobs = append(jobs, j)
	}
	w.jobs = jobs
	if len(jobs) == 0 {
		return
	}
	d := m.dev
	serial, err := m.sync.OneShot(func(cmd vk.CommandBuffer) error {
		recordCopies(d, cmd, jobs)
		return nil
	})
	if err != nil {
		for _, j := range jobs {
			j.a.cell().mu.Unlock()
			j.new.destroyUnused(m.dev)
		}
		w.g.stats.Skipped += len(jobs)
		w.jobs = nil
		m.logger.Warn("assets: defragmentation copies not submitted", "err", err)
		return
	}
	w.serial = serial
	if beforeSwap != nil {
		as := make([]Asset, len(jobs))
		for i, j := range jobs {
			as[i] = j.a
		}
		beforeSwap(as)
	}
	// The swap: under m.mu for the pins (an atlas pack reads a texture's
	// image before its copy's serial is known, and claims after).
	m.mu.Lock()
	for i := range jobs {
		j := &jobs[i]
		b, c := j.a.base(), j.a.cell()
		c.floor = max(c.floor, serial)
		j.new.ready = serial
		j.retire[0] = uint64(serial)
		if b.life.Load()&releasedBit != 0 || b.pins > 0 || m.byID[b.id] != Asset(j.a) {
			continue // the new objects retire after the copy; the old stay
		}
		c.cur.Store(j.new)
		// Read after the store: every claim that may have read the old
		// objects is at or below it, on every timeline (UseAt); every
		// later one reads the new.
		j.retire = b.LastUses()
		j.retire[0] = max(j.retire[0], uint64(serial))
		j.swapped = true
		w.moves[j.move].Op = alloc.MoveCopy
	}
	m.mu.Unlock()
	// Read after the last uses (a serial is issued before it is claimed):
	// a use claimed with a serial not handed out is a caller's bug,
	// logged, and retired after everything issued so far, the nearest
	// safe point, as a release does.
	issued := m.sync.Issued()
	for i := range jobs {
		if j := &jobs[i]; j.swapped && framesync.Serial(j.retire[0]) > issued {
			m.logger.Error("assets: use claimed with a serial not handed out", "asset", j.a.base().String(), "serial", j.retire[0], "issued", issued)
			j.retire[0] = uint64(issued)
		}
	}
	for _, j := range jobs {
		j.a.cell().mu.Unlock()
	}
}

// recordCopies records the copies of jobs: every texture's old image to
// the transfer-source layout and its new one to the transfer-destination
// layout, the copies, then both to the shader-read layout; the buffers'
// copies between two memory barriers. The barriers before the copies go
// in one CmdBarriers, those after in another (one cgo call per
// vk.MaxBarriersPerCall barriers instead of one per barrier).
func recordCopies(d *vk.Device, cmd vk.CommandBuffer, jobs []moveJob) {
	bufs := false
	bs := make([]vk.Barrier, 0, 2*len(jobs)+1)
	for _, j := range jobs {
		if t, ok := j.a.(*Texture2D); ok {
			bs = append(bs, vk.Barrier{SrcStage: vk.StageFragmentShader, DstStage: vk.StageTransfer, DstAccess: vk.AccessTransferRead,
				Image: j.old.image, OldLayout: vk.LayoutShaderReadOnlyOptimal, NewLayout: vk.LayoutTransferSrcOptimal, MipLevels: t.MipLevels},
				vk.Barrier{SrcStage: vk.StageTopOfPipe, DstStage: vk.StageTransfer, DstAccess: vk.AccessTransferWrite,
					Image: j.new.image, OldLayout: vk.LayoutUndefined, NewLayout: vk.LayoutTransferDstOptimal, MipLevels: t.MipLevels})
		} else {
			bufs = true
		}
	}
	if bufs { // the uploads' writes, for the copies' reads
		bs = append(bs, vk.Barrier{SrcStage: vk.StageTransfer, DstStage: vk.StageTransfer,
			SrcAccess: vk.AccessTransferWrite, DstAccess: vk.AccessTransferRead})
	}
	d.CmdBarriers(cmd, bs)
	for _, j := range jobs {
		switch x := j.a.(type) {
		case *Texture2D:
			d.CmdCopyImageLevels(cmd, j.old.image, vk.LayoutTransferSrcOptimal, j.new.image, vk.LayoutTransferDstOptimal, x.Width, x.Height, x.MipLevels)
		case *Buffer:
			d.CmdCopyBuffer(cmd, j.old.buffer, j.new.buffer, 0, 0, x.Size)
		}
	}
	bs = bs[:0]
	for _, j := range jobs {
		if t, ok := j.a.(*Texture2D); ok {
			bs = append(bs, vk.Barrier{SrcStage: vk.StageTransfer, DstStage: vk.StageFragmentShader, SrcAccess: vk.AccessTransferWrite, DstAccess: vk.AccessShaderRead,
				Image: j.new.image, OldLayout: vk.LayoutTransferDstOptimal, NewLayout: vk.LayoutShaderReadOnlyOptimal, MipLevels: t.MipLevels},
				vk.Barrier{SrcStage: vk.StageTransfer, DstStage: vk.StageFragmentShader, DstAccess: vk.AccessShaderRead,
					Image: j.old.image, OldLayout: vk.LayoutTransferSrcOptimal, NewLayout: vk.LayoutShaderReadOnlyOptimal, MipLevels: t.MipLevels})
		}
	}
	if bufs {
		bs = append(bs, vk.Barrier{SrcStage: vk.StageTransfer, DstStage: vk.StageAllCommands,
			SrcAccess: vk.AccessTransferWrite, DstAccess: vk.AccessMemoryRead})
	}
	d.CmdBarriers(cmd, bs)
}

// finish does what a pass left to do without the defragger's lock: the
// releases instead of moves, and the retirement through framesync of the
// old objects (of the new ones, for an asset released before its swap),
// then the end of the pass once they are gone. It returns the pass's
// result and the CPU time it took on the caller's goroutine. With async
// (DefragFrame), the retirement runs on a goroutine of its own: handing a
// pass's hundreds of objects to framesync costs the frame that recorded
// it 0.1 – 0.5 ms on lavapipe otherwise; deferring them later only keeps
// them longer, and Close waits for it (running).
func (w *passWork) finish(m *Manager, async bool) (DefragPass, time.Duration) {
	if beforeFinish != nil {
		beforeFinish()
	}
	start := time.Now()
	r := DefragPass{Serial: w.serial, Complete: w.complete}
	for _, j := range w.jobs {
		if w.serial != 0 && j.swapped {
			r.Moved++
			r.Bytes += w.moves[j.move].Src.Size
		}
	}
	if w.serial == 0 {
		w.g.running.Done()
	} else if async {
		go func() {
			t := time.Now()
			w.retire(m)
			took := time.Since(t)
			w.g.mu.Lock()
			w.g.stats.CPU += took
			w.g.mu.Unlock()
		}()
	} else {
		w.retire(m)
	}
	released := 0
	for _, a := range w.release {
		if !unreferenced(a.base()) {
			continue // referenced since the planning
		}
		if n, err := m.Release(a, false); err == nil && n > 0 {
			released++
		}
	}
	w.g.mu.Lock()
	w.g.stats.Moved += r.Moved
	w.g.stats.BytesMoved += r.Bytes
	w.g.stats.Released += released
	w.g.mu.Unlock()
	return r, time.Since(start)
}

// retire hands the pass's old objects (and the new ones of the moves not
// made) to framesync, then its end; the pass is then in framesync's
// hands, and a Close may go on (running). w.serial is not 0.
func (w *passWork) retire(m *Manager) {
	defer w.g.running.Done()
	if retireHook != nil {
		retireHook()
	}
	for _, j := range w.jobs {
		s := j.new
		if j.swapped {
			s = j.old
		}
		// The allocations stay: the pass's end frees the sources and
		// gives back the destinations of the moves it did not make.
		s.retireAt(m, j.retire)
	}
	// After the objects: at the same serial, a Func runs after them.
	// The end runs on its own goroutine: EndPass frees the emptied
	// blocks (vkFreeMemory of up to a block's size), which the frame
	// that polls should not pay; once the manager is closed, on the
	// caller's.
	m.retireFunc(w.lastUse, func() {
		g := w.g
		g.mu.Lock()
		if g.closed {
			g.mu.Unlock()
			w.end(m)
			return
		}
		g.ending.Add(1)
		g.mu.Unlock()
		go func() {
			defer g.ending.Done()
			w.end(m)
		}()
	})
}

// retireAt hands s's view, image or buffer (not its memory) to framesync
// at u, or destroys them now when the Sync is closed.
func (s *gpuState) retireAt(m *Manager, u framesync.Use) {
	if s.view != 0 && m.deferOr(u, framesync.ImageView(s.view)) {
		m.dev.DestroyImageView(s.view)
	}
	if s.image != 0 && m.deferOr(u, framesync.Image(s.image, alloc.Allocation{})) {
		m.dev.DestroyImage(s.image)
	}
	if s.buffer != 0 && m.deferOr(u, framesync.Buffer(s.buffer, alloc.Allocation{})) {
		m.dev.DestroyBuffer(s.buffer)
	}
}

// deferOr defers o until u and reports whether the caller must destroy
// it now instead: the Sync is closed (it waited for the device).
func (m *Manager) deferOr(u framesync.Use, o framesync.Object) bool {
	err := m.sync.DeferUse(o, u)
	if err != nil && !errors.Is(err, framesync.ErrClosed) {
		m.logger.Error("assets: defragmentation: retire", "err", err)
	}
	return errors.Is(err, framesync.ErrClosed)
}

// retireFunc runs f once u completes (now, when the Sync is closed).
func (m *Manager) retireFunc(u framesync.Use, f func()) {
	if m.deferOr(u, framesync.Func(f)) {
		f()
	}
}

// end ends the pass once its copies and the old objects' uses are done:
// the allocator frees the moved sources (and the blocks emptied) and
// gives back the destinations of moves not made; each moved asset's state
// gets its allocation.
func (w *passWork) end(m *Manager) {
	start := time.Now()
	g := w.g
	// Without g.mu: while the pass is open nothing else begins a pass or
	// ends the defragmentation, and DefragFrame does not wait for the
	// driver's frees.
	g.mu.Lock()
	d := g.d
	g.mu.Unlock()
	_ = d.EndPass()
	took := time.Since(start)
	g.mu.Lock()
	defer g.mu.Unlock()
	g.stats.EndPass += took
	g.stats.EndPassMax = max(g.stats.EndPassMax, took)
	for _, j := range w.jobs {
		if !j.swapped {
			continue
		}
		dst := w.moves[j.move].Dst
		if dst.IsZero() {
			// Cannot happen: the source is the asset's, and nothing
			// else frees it.
			m.logger.Error("assets: defragmentation: a move was not committed", "asset", j.a.base().String())
		}
		c := j.a.cell()
		c.mu.Lock()
		if s := c.state(); s == j.new {
			done := *s
			done.mem, done.move = dst, nil
			c.cur.Store(&done)
		}
		c.mu.Unlock()
		j.new.move.committed(dst)
	}
	g.open = nil
	if g.closed || !g.policy.on() && g.now == 0 {
		g.end()
	} else {
		_ = m.startPlan() // d runs: only the planner's goroutine starts
	}
	g.stats.CPU += time.Since(start)
	close(w.done)
}
