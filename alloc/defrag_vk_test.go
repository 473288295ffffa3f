package alloc_test

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkassets/vkassets/alloc"
	"github.com/vkassets/vkassets/vk"
	"github.com/vkassets/vkassets/vk/vktest"
)

// oneShot records commands with rec, submits them and waits.
func oneShot(t *testing.T, d *vk.Device, rec func(vk.CommandBuffer)) {
	t.Helper()
	vktest.Submit(t, d, rec)
}

// movedResource is what the application keeps of one resource.
type movedResource struct {
	buf  vk.Buffer
	img  vk.Image
	w, h uint32
	al   alloc.Allocation
	want []byte
}

var testImageInfo = func(w, h uint32) vk.ImageInfo {
	return vk.ImageInfo{Format: vk.FormatR8G8B8A8Unorm, Width: w, Height: h,
		Usage: vk.ImageUsageTransferSrc | vk.ImageUsageTransferDst}
}

// TestLavapipeDefragmentation fragments blocks of buffers and images with
// known contents (allocate many, free a random half), defragments them in
// limited passes whose moves the test carries out as an application would
// (a new buffer or image bound at the destination, vkCmdCopyBuffer or
// vkCmdCopyImage in a one-shot submission), and checks that every
// resource's bytes are intact at its new place (images read back by the
// GPU), that blocks were freed, and that stale allocations are refused.
// Validation and synchronization validation are on.
func TestLavapipeDefragmentation(t *testing.T) {
	d := vktest.OpenWith(t, vktest.Options{SyncValidation: true})
	a, err := alloc.New(alloc.Options{Device: d, Logger: vktest.Logger(t), PreferredBlockSize: 2 << 20})
	require.NoError(t, err)
	r := rand.New(rand.NewPCG(16, 2))

	var res []*movedResource
	for i := range 240 {
		x := &movedResource{}
		if i%5 == 0 {
			x.w, x.h = uint32(8+r.IntN(56)), uint32(8+r.IntN(56))
			x.img, x.al, err = a.CreateImage(testImageInfo(x.w, x.h), alloc.AllocationOptions{Name: "image", UserData: x})
			require.NoError(t, err)
			x.want = make([]byte, x.w*x.h*4)
		} else {
			size := uint64(256 + r.IntN(24<<10))
			x.buf, x.al, err = a.CreateBuffer(size, vk.BufferUsageTransferSrc|vk.BufferUsageTransferDst,
				alloc.AllocationOptions{Usage: alloc.UsageUpload, Mapped: i%2 == 0, Name: "buffer", UserData: x})
			require.NoError(t, err)
			x.want = make([]byte, size)
		}
		for k := range x.want {
			x.want[k] = byte(k*7 + i*31 + k>>8)
		}
		res = append(res, x)
	}
	upload(t, d, a, res)

	// Free a random half.
	r.Shuffle(len(res), func(i, j int) { res[i], res[j] = res[j], res[i] })
	for _, x := range res[len(res)/2:] {
		destroyResource(t, a, x)
	}
	res = res[:len(res)/2]
	blocksBefore := a.DeviceAllocations()
	checkContents(t, d, a, res)

	dfr, err := a.BeginDefragmentation(alloc.DefragOptions{MaxMovesPerPass: 24, MaxBytesPerPass: 256 << 10})
	require.NoError(t, err)
	_, err = a.BeginDefragmentation(alloc.DefragOptions{})
	require.ErrorIs(t, err, alloc.ErrDefragmenting)
	var stale []alloc.Allocation
	imagesMoved, pass := 0, 0
	var ignored alloc.Allocation
	for ; ; pass++ {
		moves, err := dfr.BeginPass()
		require.NoError(t, err)
		if len(moves) == 0 {
			break
		}
		require.LessOrEqual(t, len(moves), 24)
		var bytesInPass uint64
		olds := make([]movedResource, len(moves))
		oneShot(t, d, func(cmd vk.CommandBuffer) {
			for i := range moves {
				m := &moves[i]
				bytesInPass += m.Src.Size
				ud, ok := a.UserData(m.Src)
				require.True(t, ok)
				x := ud.(*movedResource)
				require.Equal(t, x.al.Memory, m.Src.Memory)
				require.Equal(t, x.al.Offset, m.Src.Offset)
				olds[i] = *x
				require.False(t, m.Src.Memory == ignored.Memory && m.Src.Offset == ignored.Offset, "an ignored move is not planned again")
				if pass == 0 && i == 0 { // the application may leave one where it is
					m.Op = alloc.MoveIgnore
					ignored = m.Src
					continue
				}
				if x.buf != 0 {
					nb, err := d.CreateBuffer(uint64(len(x.want)), vk.BufferUsageTransferSrc|vk.BufferUsageTransferDst)
					require.NoError(t, err)
					require.NoError(t, d.BindBufferMemory(nb, m.DstMemory, m.DstOffset))
					d.CmdCopyBuffer(cmd, x.buf, nb, 0, 0, uint64(len(x.want)))
					x.buf = nb
					continue
				}
				ni, err := d.CreateImage(testImageInfo(x.w, x.h))
				require.NoError(t, err)
				require.LessOrEqual(t, d.ImageRequirements(ni).Size, m.Src.Size)
				require.NoError(t, d.BindImageMemory(ni, m.DstMemory, m.DstOffset))
				d.CmdBarrier(cmd, vk.Barrier{SrcStage: vk.StageTopOfPipe, DstStage: vk.StageTransfer, DstAccess: vk.AccessTransferWrite,
					Image: ni, OldLayout: vk.LayoutUndefined, NewLayout: vk.LayoutTransferDstOptimal})
				d.CmdCopyImage(cmd, x.img, vk.LayoutTransferSrcOptimal, 0, 0, ni, vk.LayoutTransferDstOptimal, 0, 0, x.w, x.h)
				d.CmdBarrier(cmd, vk.Barrier{SrcStage: vk.StageTransfer, DstStage: vk.StageTransfer,
					SrcAccess: vk.AccessTransferWrite, DstAccess: vk.AccessTransferRead,
					Image: ni, OldLayout: vk.LayoutTransferDstOptimal, NewLayout: vk.LayoutTransferSrcOptimal})
				x.img = ni
				imagesMoved++
			}
			d.CmdBarrier(cmd, vk.Barrier{SrcStage: vk.StageTransfer, DstStage: vk.StageHost | vk.StageTransfer,
				SrcAccess: vk.AccessTransferWrite, DstAccess: vk.AccessHostRead | vk.AccessTransferRead})
		})
		// The copies are done: the old resources go before EndPass frees
		// their memory.
		for i, m := range moves {
			if m.Op == alloc.MoveIgnore {
				continue
			}
			if olds[i].buf != 0 {
				d.DestroyBuffer(olds[i].buf)
			} else {
				d.DestroyImage(olds[i].img)
			}
		}
		require.LessOrEqual(t, bytesInPass, uint64(256<<10))
		require.NoError(t, dfr.EndPass())
		for i, m := range moves {
			x := olds[i]
			ud, _ := a.UserData(m.Src)
			if m.Op == alloc.MoveIgnore {
				require.True(t, m.Dst.IsZero())
				require.NotNil(t, ud, "an ignored move leaves the allocation live")
				continue
			}
			require.False(t, m.Dst.IsZero())
			require.Equal(t, m.DstMemory, m.Dst.Memory)
			require.Equal(t, m.DstOffset, m.Dst.Offset)
			nx, _ := a.UserData(m.Dst)
			cur := nx.(*movedResource)
			if x.al.Mapped != nil {
				require.Len(t, m.Dst.Mapped, len(m.Src.Mapped), "a persistently mapped allocation keeps its mapping")
			}
			m.Dst.Size = x.al.Size
			cur.al = m.Dst
			stale = append(stale, x.al)
		}
	}
	st := dfr.End()
	require.Equal(t, st, dfr.End(), "End is idempotent")
	_, err = dfr.BeginPass()
	require.ErrorIs(t, err, alloc.ErrDefragEnded)
	t.Logf("defragmentation: %+v; blocks %d -> %d", st, blocksBefore, a.DeviceAllocations())

	require.Greater(t, st.Passes, 1, "the limits split the work into passes")
	require.Positive(t, st.BlocksFreed)
	require.Equal(t, blocksBefore-st.BlocksFreed, a.DeviceAllocations())
	require.Positive(t, imagesMoved, "an image was moved")
	require.NotEmpty(t, stale)
	for _, al := range stale {
		require.ErrorIs(t, a.Free(al), alloc.ErrInvalidFree, "the allocation before its move is stale")
	}
	checkContents(t, d, a, res)
	for _, x := range res {
		destroyResource(t, a, x)
	}
	require.Empty(t, a.Leaks())
	require.NoError(t, a.Close())
	require.Zero(t, a.DeviceAllocations())
}

// upload writes every resource's contents: buffers through a mapping,
// images by a copy from a staging buffer; images end in
// TRANSFER_SRC_OPTIMAL.
func upload(t *testing.T, d *vk.Device, a *alloc.Allocator, res []*movedResource) {
	var staging []struct {
		buf vk.Buffer
		al  alloc.Allocation
	}
	oneShot(t, d, func(cmd vk.CommandBuffer) {
		for _, x := range res {
			if x.buf != 0 {
				m, err := a.Map(x.al)
				require.NoError(t, err)
				copy(m, x.want)
				require.NoError(t, a.Unmap(x.al))
				continue
			}
			sb, sal, err := a.CreateBuffer(uint64(len(x.want)), vk.BufferUsageTransferSrc, alloc.AllocationOptions{Usage: alloc.UsageUpload, Mapped: true})
			require.NoError(t, err)
			copy(sal.Mapped, x.want)
			staging = append(staging, struct {
				buf vk.Buffer
				al  alloc.Allocation
			}{sb, sal})
			d.CmdBarrier(cmd, vk.Barrier{SrcStage: vk.StageTopOfPipe, DstStage: vk.StageTransfer, DstAccess: vk.AccessTransferWrite,
				Image: x.img, OldLayout: vk.LayoutUndefined, NewLayout: vk.LayoutTransferDstOptimal})
			d.CmdCopyBufferToImage(cmd, sb, x.img, vk.LayoutTransferDstOptimal, vk.BufferImageCopy{Width: x.w, Height: x.h})
			d.CmdBarrier(cmd, vk.Barrier{SrcStage: vk.StageTransfer, DstStage: vk.StageTransfer,
				SrcAccess: vk.AccessTransferWrite, DstAccess: vk.AccessTransferRead,
				Image: x.img, OldLayout: vk.LayoutTransferDstOptimal, NewLayout: vk.LayoutTransferSrcOptimal})
		}
	})
	for _, s := range staging {
		require.NoError(t, a.DestroyBuffer(s.buf, s.al))
	}
}

// checkContents reads every resource back (buffers through a mapping,
// images by a GPU copy into a readback buffer) and compares.
func checkContents(t *testing.T, d *vk.Device, a *alloc.Allocator, res []*movedResource) {
	t.Helper()
	type readback struct {
		x   *movedResource
		buf vk.Buffer
		al  alloc.Allocation
	}
	var rbs []readback
	oneShot(t, d, func(cmd vk.CommandBuffer) {
		for _, x := range res {
			if x.img == 0 {
				continue
			}
			rb, ral, err := a.CreateBuffer(uint64(len(x.want)), vk.BufferUsageTransferDst, alloc.AllocationOptions{Usage: alloc.UsageReadback, Mapped: true})
			require.NoError(t, err)
			d.CmdCopyImageToBuffer(cmd, x.img, vk.LayoutTransferSrcOptimal, rb, vk.BufferImageCopy{Width: x.w, Height: x.h})
			rbs = append(rbs, readback{x, rb, ral})
		}
		d.CmdBarrier(cmd, vk.Barrier{SrcStage: vk.StageTransfer, DstStage: vk.StageHost, SrcAccess: vk.AccessTransferWrite, DstAccess: vk.AccessHostRead})
	})
	for _, x := range res {
		if x.buf == 0 {
			continue
		}
		require.NoError(t, a.Invalidate(x.al, 0, ^uint64(0)))
		m, err := a.Map(x.al)
		require.NoError(t, err)
		require.True(t, bytes.Equal(m, x.want), "buffer contents at %v+%d", x.al.Memory, x.al.Offset)
		require.NoError(t, a.Unmap(x.al))
		if x.al.Mapped != nil {
			require.True(t, bytes.Equal(x.al.Mapped, x.want), "persistent mapping at %v+%d", x.al.Memory, x.al.Offset)
		}
	}
	for _, rb := range rbs {
		require.NoError(t, a.Invalidate(rb.al, 0, ^uint64(0)))
		require.True(t, bytes.Equal(rb.al.Mapped, rb.x.want), "image contents at %v+%d", rb.x.al.Memory, rb.x.al.Offset)
		require.NoError(t, a.DestroyBuffer(rb.buf, rb.al))
	}
}

func destroyResource(t *testing.T, a *alloc.Allocator, x *movedResource) {
	t.Helper()
	var err error
	if x.buf != 0 {
		err = a.DestroyBuffer(x.buf, x.al)
	} else {
		err = a.DestroyImage(x.img, x.al)
	}
	if err != nil && !errors.Is(err, alloc.ErrClosed) {
		require.NoError(t, err)
	}
}
