package assets

import (
	"errors"
	"fmt"

	"github.com/vkassets/vkassets/alloc"
	"github.com/vkassets/vkassets/framesync"
	"github.com/vkassets/vkassets/vk"
)

// uploader copies pixels and vertices to device-local memory through a
// staging ring: a linear pool on host-visible memory, whose space comes back
// in submission order as framesync retires each copy's staging buffer.
type uploader struct {
	m    *Manager
	ring *alloc.Pool
	// blits holds, for each texture format, whether its mips are made by
	// linear-filtered blits (the format's optimal tiling has BLIT_SRC,
	// BLIT_DST and SAMPLED_IMAGE_FILTER_LINEAR); read-only once made.
	blits map[vk.Format]bool
	// cpuMips makes every mip chain on the CPU (tests and benchmarks).
	cpuMips bool
	// xfer, when set, runs the staging copies on the transfer queue;
	// set before the first upload, read-only afterwards.
	xfer *transferQueue
}

func newUploader(m *Manager) (*uploader, error) {
	t, err := m.alloc.FindMemoryType(^uint32(0), alloc.AllocationOptions{Usage: alloc.UsageUpload, Mapped: true})
	if err != nil {
		return nil, fmt.Errorf("assets: staging memory: %w", err)
	}
	ring, err := m.alloc.NewPool(alloc.PoolOptions{Name: "staging-ring", MemoryType: t,
		BlockSize: m.opts.StagingBlockSize, Algorithm: alloc.AlgorithmLinear})
	if err != nil {
		return nil, fmt.Errorf("assets: staging ring: %w", err)
	}
	blits := map[vk.Format]bool{}
	for _, f := range []vk.Format{vk.FormatR8G8B8A8Srgb, vk.FormatR8G8B8A8Unorm} {
		blits[f] = m.dev.FormatProperties(f).Optimal.Has(vk.FormatFeaturesMipBlit)
	}
	u := &uploader{m: m, ring: ring, blits: blits}
	_, hasQueue := m.dev.TransferQueueFamily()
	q := m.opts.UploadQueue
	switch {
	case q == UploadTransfer && !hasQueue:
		err = errors.New("assets: Options.UploadQueue is UploadTransfer, but the device has no transfer queue (vk.Options.TransferQueue on a device with a transfer-only family)")
	case q == UploadTransfer || (q == UploadAuto && hasQueue && m.dev.TimelineSemaphores()):
		err = u.useTransfer()
	case q != UploadAuto && q != UploadGraphics:
		err = fmt.Errorf("assets: Options.UploadQueue: unknown %v", q)
	}
	if err != nil {
		_ = ring.Close()
		return nil, err
	}
	return u, nil
}

// close closes the ring once every upload issued so far has retired (its
// staging buffers are in framesync until then); at once when the Sync is
// closed, since it waited for the device when it closed.
func (u *uploader) close() error {
	if u.xfer != nil {
		return u.xfer.close(u, func() {
			if err := u.ring.Close(); err != nil {
				u.m.logger.Error("assets: staging ring", "err", err)
			}
		})
	}
	// Retire what is due first: a Defer of a completed serial runs at once,
	// ahead of staging buffers of that serial still queued for the next Poll.
	_, _ = u.m.sync.Poll()
	err := u.m.sync.Defer(u.m.sync.Issued(), framesync.Func(func() {
		if err := u.ring.Close(); err != nil {
			u.m.logger.Error("assets: staging ring", "err", err)
		}
	}))
	if err == nil {
		return nil
	}
	return u.ring.Close()
}

// staging makes a mapped transfer-source buffer holding data: from the
// ring, or from its own allocation when the ring has no room.
func (u *uploader) staging(data []byte, name string) (vk.Buffer, alloc.Allocation, error) {
	a := u.m.alloc
	opts := alloc.AllocationOptions{Usage: alloc.UsageUpload, Mapped: true, Pool: u.ring, Name: name}
	b, mem, err := a.CreateBuffer(uint64(len(data)), vk.BufferUsageTransferSrc, opts)
	if errors.Is(err, alloc.ErrNoSpace) || errors.Is(err, alloc.ErrNoMemoryType) {
		opts.Pool = nil
		b, mem, err = a.CreateBuffer(uint64(len(data)), vk.BufferUsageTransferSrc, opts)
	}
	if err != nil {
		return 0, alloc.Allocation{}, fmt.Errorf("staging %d bytes: %w", len(data), err)
	}
	copy(mem.Mapped, data)
	if err := a.Flush(mem, 0, uint64(len(data))); err != nil {
		_ = a.DestroyBuffer(b, mem)
		return 0, alloc.Allocation{}, err
	}
	return b, mem, nil
}

// image uploads tightly packed RGBA8 pixels to level 0 of img (undefined
// layout, levels mip levels), makes the levels below (by linear blits where
// the format allows, else on the CPU) and leaves every level in the
// shader-read layout. It returns the copy's serial; the staging buffer
// retires with it.
func (u *uploader) image(img vk.Image, format vk.Format, width, height, levels uint32, pixels []byte, name string) (framesync.Serial, error) {
	gpu := levels == 1 || (u.blits[format] && !u.cpuMips)
	data, regions := pixels, []vk.BufferImageCopy{{Width: width, Height: height}}
	if !gpu {
		data, regions = mipChain(pixels, width, height, levels, format == vk.FormatR8G8B8A8Srgb)
	}
	return u.levels(img, width, height, levels, data, regions, gpu && levels > 1, name)
}

// imageCopies uploads the regions of src to img (undefined layout, levels
// mip levels), then, when blit, makes levels 1… from level 0 by linear
// blits (on the graphics queue), and leaves every level in the
// shader-read layout.
func (u *uploader) imageCopies(src vk.Buffer, mem alloc.Allocation, img vk.Image, width, height, levels uint32, regions []vk.BufferImageCopy, blit bool) (framesync.Serial, error) {
	d := u.m.dev
	copies := func(cmd vk.CommandBuffer, xfer bool) {
		d.CmdBarrier(cmd, vk.Barrier{SrcStage: vk.StageTopOfPipe, DstStage: vk.StageTransfer, DstAccess: vk.AccessTransferWrite,
			Image: img, OldLayout: vk.LayoutUndefined, NewLayout: vk.LayoutTransferDstOptimal, MipLevels: levels})
		for _, r := range regions {
			d.CmdCopyBufferToImage(cmd, src, img, vk.LayoutTransferDstOptimal, r)
		}
		if xfer && !blit {
			// The layout transition is legal on a transfer queue; the
			// graphics side's wait makes the texels visible to shaders.
			d.CmdBarrier(cmd, vk.Barrier{SrcStage: vk.StageTransfer, DstStage: vk.StageBottomOfPipe, SrcAccess: vk.AccessTransferWrite,
				Image: img, OldLayout: vk.LayoutTransferDstOptimal, NewLayout: vk.LayoutShaderReadOnlyOptimal, MipLevels: levels})
		}
	}
	stage := vk.StageFragmentShader
	if blit {
		stage = vk.StageTransfer
	}
	return u.upload(src, mem, copies, stage, func(cmd vk.CommandBuffer, xfer bool) {
		switch {
		case blit:
			recordMipBlits(d, cmd, img, width, height, levels)
		case xfer:
			// Orders every later submission after the wait for the copies.
			d.CmdBarrier(cmd, vk.Barrier{SrcStage: vk.StageFragmentShader, DstStage: vk.StageFragmentShader, DstAccess: vk.AccessShaderRead})
		default:
			d.CmdBarrier(cmd, vk.Barrier{SrcStage: vk.StageTransfer, DstStage: vk.StageFragmentShader,
				SrcAccess: vk.AccessTransferWrite, DstAccess: vk.AccessShaderRead,
				Image: img, OldLayout: vk.LayoutTransferDstOptimal, NewLayout: vk.LayoutShaderReadOnlyOptimal, MipLevels: levels})
		}
	})
}

// recordMipBlits makes levels 1… of img (every level in the transfer-dst
// layout, level 0 written) by blitting each level onto the next, linearly
// filtered, and leaves every level in the shader-read layout.
func recordMipBlits(d *vk.Device, cmd vk.CommandBuffer, img vk.Image, w, h, levels uint32) {
	for i := uint32(1); i < levels; i++ {
		d.CmdBarrier(cmd, vk.Barrier{SrcStage: vk.StageTransfer, DstStage: vk.StageTransfer,
			SrcAccess: vk.AccessTransferWrite, DstAccess: vk.AccessTransferRead,
			Image: img, OldLayout: vk.LayoutTransferDstOptimal, NewLayout: vk.LayoutTransferSrcOptimal, BaseMipLevel: i - 1})
		d.CmdBlitImage(cmd, img, vk.LayoutTransferSrcOptimal, img, vk.LayoutTransferDstOptimal, vk.MipBlit(i-1, w, h), vk.FilterLinear)
		w, h = max(w/2, 1), max(h/2, 1)
	}
	d.CmdBarrier(cmd, vk.Barrier{SrcStage: vk.StageTransfer, DstStage: vk.StageFragmentShader,
		SrcAccess: vk.AccessTransferRead, DstAccess: vk.AccessShaderRead,
		Image: img, OldLayout: vk.LayoutTransferSrcOptimal, NewLayout: vk.LayoutShaderReadOnlyOptimal, MipLevels: levels - 1})
	d.CmdBarrier(cmd, vk.Barrier{SrcStage: vk.StageTransfer, DstStage: vk.StageFragmentShader,
		SrcAccess: vk.AccessTransferWrite, DstAccess: vk.AccessShaderRead,
		Image: img, OldLayout: vk.LayoutTransferDstOptimal, NewLayout: vk.LayoutShaderReadOnlyOptimal, BaseMipLevel: levels - 1})
}

// buffer uploads data to dst from offset 0.
func (u *uploader) buffer(dst vk.Buffer, data []byte, name string) (framesync.Serial, error) {
	src, mem, err := u.staging(data, name)
	if err != nil {
		return 0, err
	}
	d := u.m.dev
	return u.upload(src, mem, func(cmd vk.CommandBuffer, _ bool) {
		d.CmdCopyBuffer(cmd, src, dst, 0, 0, uint64(len(data)))
	}, vk.StageVertexInput, func(cmd vk.CommandBuffer, xfer bool) {
		if xfer {
			// Orders every later submission after the wait for the copy.
			d.CmdBarrier(cmd, vk.Barrier{SrcStage: vk.StageVertexInput, DstStage: vk.StageVertexInput, DstAccess: vk.AccessMemoryRead})
			return
		}
		d.CmdBarrier(cmd, vk.Barrier{SrcStage: vk.StageTransfer, DstStage: vk.StageVertexInput,
			SrcAccess: vk.AccessTransferWrite, DstAccess: vk.AccessMemoryRead})
	})
}

// retire hands the staging buffer to framesync at the copy's serial, or
// destroys it at once when the copy was never submitted.
func (u *uploader) retire(serial framesync.Serial, err error, src vk.Buffer, mem alloc.Allocation) (framesync.Serial, error) {
	if err != nil {
		_ = u.m.alloc.DestroyBuffer(src, mem)
		return 0, fmt.Errorf("upload: %w", err)
	}
	if err := u.m.sync.Defer(serial, framesync.Buffer(src, mem).Named("staging")); err != nil {
		if errors.Is(err, framesync.ErrClosed) {
			// Closed meanwhile: it waited for the device, so the copy ran
			// or never will; the buffer is ours to destroy.
			_ = u.m.alloc.DestroyBuffer(src, mem)
		}
		return 0, err
	}
	return serial, nil
}
