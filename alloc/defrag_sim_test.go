package alloc_test

import (
	"bytes"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkassets/vkassets/alloc"
	"github.com/vkassets/vkassets/alloc/simdev"
	"github.com/vkassets/vkassets/vk"
)

// simBuffer is a buffer the sim tests own, with the bytes it must hold.
type simBuffer struct {
	buf  vk.Buffer
	al   alloc.Allocation
	want []byte
}

// fragmentSim makes n persistently mapped buffers with known contents on
// d and destroys a random half.
func fragmentSim(t *testing.T, a *alloc.Allocator, n int, seed uint64) []*simBuffer {
	r := rand.New(rand.NewPCG(seed, 3))
	var bufs []*simBuffer
	for i := range n {
		size := uint64(256 + r.IntN(96<<10))
		x := &simBuffer{want: make([]byte, size)}
		var err error
		x.buf, x.al, err = a.CreateBuffer(size, vk.BufferUsageTransferSrc|vk.BufferUsageTransferDst,
			alloc.AllocationOptions{Usage: alloc.UsageUpload, Mapped: true, UserData: x})
		require.NoError(t, err)
		for k := range x.want {
			x.want[k] = byte(k*5 + i*17 + k>>9)
		}
		copy(x.al.Mapped, x.want)
		bufs = append(bufs, x)
	}
	r.Shuffle(len(bufs), func(i, j int) { bufs[i], bufs[j] = bufs[j], bufs[i] })
	for _, x := range bufs[n/2:] {
		require.NoError(t, a.DestroyBuffer(x.buf, x.al))
	}
	return bufs[:n/2]
}

// simPass carries out one pass as an application would on host-visible
// memory: a new buffer bound at each destination (the simulated driver
// refuses a bind that overlaps a live resource), the bytes copied, the old
// buffer destroyed. It returns the moves.
func simPass(t *testing.T, d *simdev.Device, a *alloc.Allocator, dfr *alloc.Defragmentation, mine func(any) bool) []alloc.DefragMove {
	moves, err := dfr.BeginPass()
	require.NoError(t, err)
	if len(moves) == 0 {
		return nil
	}
	type pending struct {
		x    *simBuffer
		data []byte
	}
	ps := make([]pending, len(moves))
	for i := range moves {
		m := &moves[i]
		ud, ok := a.UserData(m.Src)
		if !ok || !mine(ud) {
			m.Op = alloc.MoveIgnore
			continue
		}
		x := ud.(*simBuffer)
		nb, err := d.CreateBuffer(uint64(len(x.want)), vk.BufferUsageTransferSrc|vk.BufferUsageTransferDst)
		require.NoError(t, err)
		require.NoError(t, d.BindBufferMemory(nb, m.DstMemory, m.DstOffset))
		ps[i] = pending{x, bytes.Clone(m.Src.Mapped[:len(x.want)])}
		d.DestroyBuffer(x.buf) // the old buffer goes before EndPass frees its memory
		x.buf = nb
	}
	require.NoError(t, dfr.EndPass())
	for i, m := range moves {
		p := ps[i]
		if p.x == nil {
			continue
		}
		require.False(t, m.Dst.IsZero())
		copy(m.Dst.Mapped, p.data)
		m.Dst.Size = p.x.al.Size
		p.x.al = m.Dst
	}
	return moves
}

func checkSimContents(t *testing.T, bufs []*simBuffer) {
	t.Helper()
	for _, x := range bufs {
		if len(x.al.Mapped) < len(x.want) || !bytes.Equal(x.al.Mapped[:len(x.want)], x.want) {
			i := 0
			for i < len(x.want) && i < len(x.al.Mapped) && x.al.Mapped[i] == x.want[i] {
				i++
			}
			t.Fatalf("contents at %v+%d (%d bytes, mapped %d) differ from byte %d", x.al.Memory, x.al.Offset, len(x.want), len(x.al.Mapped), i)
		}
	}
}

// TestSimDefragmentationAtScale: 6,000 buffers on the simulated GTX 1080
// Ti (every bind checked against overlap and bufferImageGranularity), half
// destroyed, then defragmented with each algorithm in limited passes:
// contents intact, blocks freed, every pass within its limits, no driver
// violation.
func TestSimDefragmentationAtScale(t *testing.T) {
	for _, algo := range []alloc.DefragAlgorithm{alloc.DefragFast, alloc.DefragFull} {
		t.Run(algo.String(), func(t *testing.T) {
			d, err := simdev.Load("1080 Ti")
			require.NoError(t, err)
			a, err := alloc.New(alloc.Options{Device: d, PreferredBlockSize: 16 << 20})
			require.NoError(t, err)
			bufs := fragmentSim(t, a, 6000, 5)
			before := a.Stats().Total
			dfr, err := a.BeginDefragmentation(alloc.DefragOptions{Algorithm: algo, MaxMovesPerPass: 200, MaxBytesPerPass: 8 << 20})
			require.NoError(t, err)
			for {
				moves := simPass(t, d, a, dfr, func(any) bool { return true })
				if len(moves) == 0 {
					break
				}
				var n uint64
				for _, m := range moves {
					n += m.Src.Size
				}
				require.LessOrEqual(t, len(moves), 200)
				require.LessOrEqual(t, n, uint64(8<<20))
			}
			st := dfr.End()
			after := a.Stats().Total
			t.Logf("%v: %+v; blocks %d -> %d, live/reserved %.3f -> %.3f", algo, st, before.BlockCount, after.BlockCount,
				float64(before.AllocationBytes)/float64(before.BlockBytes), float64(after.AllocationBytes)/float64(after.BlockBytes))
			require.Positive(t, st.BlocksFreed)
			require.Equal(t, before.BlockCount-st.BlocksFreed, after.BlockCount)
			require.Equal(t, before.AllocationBytes, after.AllocationBytes)
			checkSimContents(t, bufs)
			for _, x := range bufs {
				require.NoError(t, a.DestroyBuffer(x.buf, x.al))
			}
			require.NoError(t, a.Close())
			require.Empty(t, d.Violations())
			require.Empty(t, d.Leaks())
		})
	}
}

// TestDefragmentationConcurrent runs passes while other goroutines allocate
// and free buffers of their own (their moves are ignored, as an application
// that does not own them would) and one of the test's own sources is freed
// during a pass: no race, the freed source is not moved, and the rest is
// intact. Run it with -race.
func TestDefragmentationConcurrent(t *testing.T) {
	d, err := simdev.Load("1080 Ti")
	require.NoError(t, err)
	a, err := alloc.New(alloc.Options{Device: d, PreferredBlockSize: 4 << 20})
	require.NoError(t, err)
	bufs := fragmentSim(t, a, 600, 9)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 1))
			var own []alloc.Allocation
			for {
				select {
				case <-stop:
					for _, al := range own {
						if err := a.Free(al); err != nil {
							t.Error(err)
						}
					}
					return
				default:
				}
				if len(own) < 20 || r.IntN(2) == 0 {
					al, err := a.Allocate(vk.MemoryRequirements{Size: uint64(256 + r.IntN(32<<10)), Alignment: 256, TypeBits: ^uint32(0)},
						alloc.AllocationOptions{Usage: alloc.UsageUpload, Kind: alloc.KindLinear, UserData: "churn"})
					if err != nil {
						t.Error(err)
						return
					}
					own = append(own, al)
					continue
				}
				k := r.IntN(len(own))
				if err := a.Free(own[k]); err != nil {
					t.Error(err)
					return
				}
				own = append(own[:k], own[k+1:]...)
			}
		}()
	}

	dfr, err := a.BeginDefragmentation(alloc.DefragOptions{MaxMovesPerPass: 40})
	require.NoError(t, err)
	freedDuringPass := false
	var gone *simBuffer
	for range 1000 {
		var moves []alloc.DefragMove
		if !freedDuringPass {
			// Free the first source of the test's own during the pass.
			moves, err = dfr.BeginPass()
			require.NoError(t, err)
			for i := range moves {
				m := &moves[i]
				if ud, ok := a.UserData(m.Src); ok && ud != "churn" && gone == nil {
					gone = ud.(*simBuffer)
					require.NoError(t, a.DestroyBuffer(gone.buf, gone.al))
				} else {
					m.Op = alloc.MoveIgnore
				}
			}
			require.NoError(t, dfr.EndPass())
			if gone != nil {
				freedDuringPass = true
				for _, m := range moves {
					require.True(t, m.Dst.IsZero(), "a source freed during its pass is not moved")
				}
			}
			continue
		}
		moves = simPass(t, d, a, dfr, func(ud any) bool { return ud != "churn" })
		if len(moves) == 0 {
			break
		}
	}
	st := dfr.End()
	close(stop)
	wg.Wait()
	require.True(t, freedDuringPass)
	t.Logf("%+v", st)
	var rest []*simBuffer
	for _, x := range bufs {
		if x != gone {
			rest = append(rest, x)
		}
	}
	checkSimContents(t, rest)
	for _, x := range rest {
		require.NoError(t, a.DestroyBuffer(x.buf, x.al))
	}
	require.NoError(t, a.Close())
	require.Empty(t, d.Violations())
	require.Zero(t, a.DeviceAllocations())
}

// TestDefragmentationClose: Close with a pass open is safe; the pass still
// commits, the next BeginPass says ErrClosed, End ends it, and what is
// freed afterwards frees its blocks.
func TestDefragmentationClose(t *testing.T) {
	d, err := simdev.Load("1080 Ti")
	require.NoError(t, err)
	a, err := alloc.New(alloc.Options{Device: d, PreferredBlockSize: 4 << 20})
	require.NoError(t, err)
	bufs := fragmentSim(t, a, 400, 11)
	dfr, err := a.BeginDefragmentation(alloc.DefragOptions{})
	require.NoError(t, err)
	moves, err := dfr.BeginPass()
	require.NoError(t, err)
	require.NotEmpty(t, moves)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		require.ErrorIs(t, a.Close(), alloc.ErrLeaks)
	}()
	wg.Wait()
	_, err = a.BeginDefragmentation(alloc.DefragOptions{})
	require.ErrorIs(t, err, alloc.ErrClosed)
	// Carry the pass out: it commits after Close.
	type pending struct {
		x    *simBuffer
		data []byte
	}
	ps := make([]pending, len(moves))
	for i, m := range moves {
		ud, _ := a.UserData(m.Src)
		x := ud.(*simBuffer)
		nb, err := d.CreateBuffer(uint64(len(x.want)), vk.BufferUsageTransferSrc)
		require.NoError(t, err)
		require.NoError(t, d.BindBufferMemory(nb, m.DstMemory, m.DstOffset))
		ps[i] = pending{x, bytes.Clone(m.Src.Mapped[:len(x.want)])}
		d.DestroyBuffer(x.buf)
		x.buf = nb
	}
	require.NoError(t, dfr.EndPass())
	for i, m := range moves {
		require.False(t, m.Dst.IsZero())
		copy(m.Dst.Mapped, ps[i].data)
		m.Dst.Size = ps[i].x.al.Size
		ps[i].x.al = m.Dst
	}
	_, err = dfr.BeginPass()
	require.ErrorIs(t, err, alloc.ErrClosed)
	st := dfr.End()
	require.Positive(t, st.AllocationsMoved)
	checkSimContents(t, bufs)
	for _, x := range bufs {
		require.NoError(t, a.DestroyBuffer(x.buf, x.al))
	}
	require.Zero(t, a.DeviceAllocations(), "after Close, the last free of each block freed it")
	require.Empty(t, d.Violations())
}

// TestDefragmentationMisuse: bad options, passes out of order and an
// edited move are refused or ignored, changing nothing.
func TestDefragmentationMisuse(t *testing.T) {
	d, err := simdev.Load("1080 Ti")
	require.NoError(t, err)
	a, err := alloc.New(alloc.Options{Device: d, PreferredBlockSize: 4 << 20})
	require.NoError(t, err)
	other, err := alloc.New(alloc.Options{Device: d})
	require.NoError(t, err)
	defer other.Close()
	foreign, err := other.NewPool(alloc.PoolOptions{Name: "p", MemoryType: 7, BlockSize: 1 << 20})
	require.NoError(t, err)
	_, err = a.BeginDefragmentation(alloc.DefragOptions{Pool: foreign})
	require.ErrorIs(t, err, alloc.ErrForeignPool)
	_, err = a.BeginDefragmentation(alloc.DefragOptions{MaxMovesPerPass: -1})
	require.ErrorContains(t, err, "MaxMovesPerPass")
	_, err = a.BeginDefragmentation(alloc.DefragOptions{Algorithm: 9})
	require.ErrorContains(t, err, "unknown algorithm")

	bufs := fragmentSim(t, a, 300, 13)
	dfr, err := a.BeginDefragmentation(alloc.DefragOptions{})
	require.NoError(t, err)
	require.ErrorIs(t, dfr.EndPass(), alloc.ErrPassState)
	moves, err := dfr.BeginPass()
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(moves), 2)
	_, err = dfr.BeginPass()
	require.ErrorIs(t, err, alloc.ErrPassState)
	// An application that edits a move's Src (here: to another live
	// allocation) does not make EndPass free that one.
	planned := moves[0].Src
	victim := moves[1].Src
	moves[0].Src = victim
	for i := range moves[1:] {
		moves[1+i].Op = alloc.MoveIgnore
	}
	require.NoError(t, dfr.EndPass())
	require.Equal(t, planned, moves[0].Src, "EndPass acted on the move as planned")
	_, ok := a.UserData(victim)
	require.True(t, ok, "the other allocation is still live")
	_, ok = a.UserData(planned)
	require.False(t, ok, "the planned source moved")
	x, _ := a.UserData(moves[0].Dst)
	moved := x.(*simBuffer)
	d.DestroyBuffer(moved.buf) // (its contents are not checked here)
	moved.buf, moved.want = 0, nil
	moved.al = moves[0].Dst
	dfr.End()
	require.ErrorIs(t, dfr.EndPass(), alloc.ErrDefragEnded)
	for _, b := range bufs {
		if b.buf != 0 {
			require.NoError(t, a.DestroyBuffer(b.buf, b.al))
		} else {
			require.NoError(t, a.Free(b.al))
		}
	}
	require.NoError(t, a.Close())
	require.Zero(t, a.DeviceAllocations())
}
