package main

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/vkassets/vkassets/vk"
)

// smoke is one run of the Vulkan layer end to end: a staging buffer and an
// image are created and bound, a copy buffer → image → buffer is recorded,
// submitted and waited for, the bytes are compared, and everything is
// destroyed. Each step is printed.
type smoke struct {
	w      io.Writer
	d      *vk.Device
	undo   []func() // destructors, run in reverse
	starts time.Time
}

func (s *smoke) step(format string, args ...any) {
	fmt.Fprintf(s.w, "  %6.2f ms  %s\n", float64(time.Since(s.starts).Microseconds())/1000, fmt.Sprintf(format, args...))
}

func (s *smoke) defer_(f func()) { s.undo = append(s.undo, f) }

func (s *smoke) cleanup() {
	for i := len(s.undo) - 1; i >= 0; i-- {
		s.undo[i]()
	}
	s.undo = nil
}

// memoryType is the first type allowed by bits that has want.
func memoryType(d *vk.Device, bits uint32, want vk.MemoryPropertyFlags) (uint32, error) {
	for i, t := range d.Physical().Memory.Types {
		if bits&(1<<i) != 0 && t.Flags&want == want {
			return uint32(i), nil
		}
	}
	return 0, fmt.Errorf("no memory type with %v among %#b", want, bits)
}

func (s *smoke) buffer(name string, size uint64, usage vk.BufferUsage) (vk.Buffer, vk.DeviceMemory, error) {
	d := s.d
	b, err := d.CreateBuffer(size, usage)
	if err != nil {
		return 0, 0, err
	}
	_ = d.SetName(vk.ObjectBuffer, uint64(b), name)
	req := d.BufferRequirements(b)
	t, err := memoryType(d, req.TypeBits, vk.MemoryHostVisible|vk.MemoryHostCoherent)
	if err == nil {
		var m vk.DeviceMemory
		if m, err = d.AllocateMemory(vk.MemoryAllocateInfo{Size: req.Size, TypeIndex: t}); err == nil {
			// Cleanup runs in reverse: the buffer goes before its memory.
			s.defer_(func() { d.FreeMemory(m); s.step("freed %d bytes of memory type %d (%s)", req.Size, t, name) })
			s.defer_(func() { d.DestroyBuffer(b); s.step("destroyed buffer %s", name) })
			return b, m, s.bindBuffer(b, m, name, size, req.Size, t)
		}
	}
	d.DestroyBuffer(b)
	return 0, 0, err
}

func (s *smoke) bindBuffer(b vk.Buffer, m vk.DeviceMemory, name string, size, memSize uint64, t uint32) error {
	d := s.d
	if err := d.BindBufferMemory(b, m, 0); err != nil {
		return err
	}
	s.step("created buffer %s: %d bytes, bound to %d bytes of memory type %d [%v]",
		name, size, memSize, t, d.Physical().Memory.Types[t].Flags)
	return nil
}

func runSmoke(w io.Writer, logger *slog.Logger, validation bool) error {
	d, err := vk.Open(vk.Options{InstanceOptions: vk.InstanceOptions{AppName: "vkassets smoke", Logger: logger, Validation: validation}})
	if err != nil {
		return err
	}
	defer d.Close()
	fmt.Fprintf(w, "smoke run on %s (validation %v)\n", d.Physical().Name, d.Validator() != nil)
	s := &smoke{w: w, d: d, starts: time.Now()}
	err = s.run()
	s.cleanup()
	d.Close()
	if n := d.Validator().Errors(); n > 0 {
		return fmt.Errorf("%w: %d (%v)", errValidation, n, d.Validator().ErrorCounts())
	}
	if err != nil {
		return err
	}
	if d.Validator() != nil {
		fmt.Fprintln(w, "smoke run passed: 0 validation errors")
	} else {
		fmt.Fprintf(w, "smoke run passed (set %s=1 to check it against the validation layer)\n", vk.EnvValidation)
	}
	return nil
}

func (s *smoke) run() error {
	d := s.d
	const width, height = 64, 64
	const size = width * height * 4
	src, srcMem, err := s.buffer("staging-upload", size, vk.BufferUsageTransferSrc)
	if err != nil {
		return err
	}
	dst, dstMem, err := s.buffer("staging-readback", size, vk.BufferUsageTransferDst)
	if err != nil {
		return err
	}

	img, err := d.CreateImage(vk.ImageInfo{Format: vk.FormatR8G8B8A8Unorm, Width: width, Height: height,
		Usage: vk.ImageUsageTransferDst | vk.ImageUsageTransferSrc | vk.ImageUsageSampled})
	if err != nil {
		return err
	}
	req := d.ImageRequirements(img)
	t, err := memoryType(d, req.TypeBits, vk.MemoryDeviceLocal)
	if err != nil {
		d.DestroyImage(img)
		return err
	}
	info := vk.MemoryAllocateInfo{Size: req.Size, TypeIndex: t}
	if req.PrefersDedicated || req.RequiresDedicated {
		info.DedicatedImage = img
	}
	imgMem, err := d.AllocateMemory(info)
	if err != nil {
		d.DestroyImage(img)
		return err
	}
	s.defer_(func() { d.FreeMemory(imgMem); s.step("freed the image's %d bytes", req.Size) })
	s.defer_(func() { d.DestroyImage(img); s.step("destroyed image") })
	if err := d.BindImageMemory(img, imgMem, 0); err != nil {
		return err
	}
	s.step("created image %dx%d RGBA8, %d bytes (alignment %d, dedicated preferred %v) in memory type %d",
		width, height, req.Size, req.Alignment, req.PrefersDedicated, t)

	pattern := make([]byte, size)
	for i := range pattern {
		pattern[i] = byte(i * 31)
	}
	m, err := d.MapMemory(srcMem, 0, size)
	if err != nil {
		return err
	}
	copy(m, pattern)
	d.UnmapMemory(srcMem)
	s.step("wrote %d bytes into the upload buffer", size)

	pool, err := d.CreateCommandPool(vk.CommandPoolTransient)
	if err != nil {
		return err
	}
	s.defer_(func() { d.DestroyCommandPool(pool) })
	cmd, err := d.AllocateCommandBuffer(pool)
	if err != nil {
		return err
	}
	fence, err := d.CreateFence(false)
	if err != nil {
		return err
	}
	s.defer_(func() { d.DestroyFence(fence) })

	if err := d.BeginCommandBuffer(cmd); err != nil {
		return err
	}
	region := vk.BufferImageCopy{Width: width, Height: height}
	d.CmdBarrier(cmd, vk.Barrier{SrcStage: vk.StageTopOfPipe, DstStage: vk.StageTransfer, DstAccess: vk.AccessTransferWrite,
		Image: img, OldLayout: vk.LayoutUndefined, NewLayout: vk.LayoutTransferDstOptimal})
	d.CmdCopyBufferToImage(cmd, src, img, vk.LayoutTransferDstOptimal, region)
	d.CmdBarrier(cmd, vk.Barrier{SrcStage: vk.StageTransfer, DstStage: vk.StageTransfer,
		SrcAccess: vk.AccessTransferWrite, DstAccess: vk.AccessTransferRead,
		Image: img, OldLayout: vk.LayoutTransferDstOptimal, NewLayout: vk.LayoutTransferSrcOptimal})
	d.CmdCopyImageToBuffer(cmd, img, vk.LayoutTransferSrcOptimal, dst, region)
	d.CmdBarrier(cmd, vk.Barrier{SrcStage: vk.StageTransfer, DstStage: vk.StageHost,
		SrcAccess: vk.AccessTransferWrite, DstAccess: vk.AccessHostRead})
	if err := d.EndCommandBuffer(cmd); err != nil {
		return err
	}
	s.step("recorded: layout transition, copy buffer→image, transition, copy image→buffer")

	if err := d.Submit([]vk.CommandBuffer{cmd}, nil, nil, fence); err != nil {
		return err
	}
	s.step("submitted")
	if err := d.WaitFence(fence, 10*time.Second); err != nil {
		return err
	}
	s.step("fence signalled")

	got, err := d.MapMemory(dstMem, 0, size)
	if err != nil {
		return err
	}
	same := bytes.Equal(got, pattern)
	d.UnmapMemory(dstMem)
	if !same {
		return fmt.Errorf("the bytes read back differ from those uploaded")
	}
	s.step("read back %d bytes: identical", size)
	return nil
}
