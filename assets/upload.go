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
	return &uploader{m: m, ring: ring}, nil
}

// close closes the ring once every upload issued so far has retired (its
// staging buffers are in framesync until then); at once when the Sync is
// closed, since it waited for the device when it closed.
func (u *uploader) close() error {
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

// image uploads tightly packed RGBA8 pixels to img (undefined layout) and
// leaves it in the shader-read layout. It returns the copy's serial; the
// staging buffer retires with it.
func (u *uploader) image(img vk.Image, width, height uint32, pixels []byte, name string) (framesync.Serial, error) {
	src, mem, err := u.staging(pixels, name)
	if err != nil {
		return 0, err
	}
	d := u.m.dev
	serial, err := u.m.sync.OneShot(func(cmd vk.CommandBuffer) error {
		d.CmdBarrier(cmd, vk.Barrier{SrcStage: vk.StageTopOfPipe, DstStage: vk.StageTransfer, DstAccess: vk.AccessTransferWrite,
			Image: img, OldLayout: vk.LayoutUndefined, NewLayout: vk.LayoutTransferDstOptimal})
		d.CmdCopyBufferToImage(cmd, src, img, vk.LayoutTransferDstOptimal, vk.BufferImageCopy{Width: width, Height: height})
		d.CmdBarrier(cmd, vk.Barrier{SrcStage: vk.StageTransfer, DstStage: vk.StageFragmentShader,
			SrcAccess: vk.AccessTransferWrite, DstAccess: vk.AccessShaderRead,
			Image: img, OldLayout: vk.LayoutTransferDstOptimal, NewLayout: vk.LayoutShaderReadOnlyOptimal})
		return nil
	})
	return u.retire(serial, err, src, mem)
}

// buffer uploads data to dst from offset 0.
func (u *uploader) buffer(dst vk.Buffer, data []byte, name string) (framesync.Serial, error) {
	src, mem, err := u.staging(data, name)
	if err != nil {
		return 0, err
	}
	d := u.m.dev
	serial, err := u.m.sync.OneShot(func(cmd vk.CommandBuffer) error {
		d.CmdCopyBuffer(cmd, src, dst, 0, 0, uint64(len(data)))
		d.CmdBarrier(cmd, vk.Barrier{SrcStage: vk.StageTransfer, DstStage: vk.StageVertexInput,
			SrcAccess: vk.AccessTransferWrite, DstAccess: vk.AccessMemoryRead})
		return nil
	})
	return u.retire(serial, err, src, mem)
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
