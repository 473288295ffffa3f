// Command vulkango is an application written against
// github.com/vulkan-go/vulkan — its own instance, device, queue, command
// buffers, render pass and pipeline, its own submissions and its own
// timeline semaphore — that takes its textures and meshes from vkassets:
// the allocator, assets loaded through assets.Manager, and their GPU
// objects retired when the application's timeline has passed their last
// use. Assets are released from another goroutine while frames are in
// flight; they are destroyed only once the GPU is done with them.
//
//	VKASSETS_VALIDATION=1 go run ./examples/vulkango [-frames 30] [-out frame.png]
//
// The conversions are vk's: vk.WrapVulkanGo takes vulkan-go's handles,
// and vkassets' buffers, images, views and samplers turn into vulkan-go's
// with their VulkanGo methods — no unsafe in this program's own code.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/png"
	"log"
	"os"
	"slices"
	"sync"
	"time"

	vulkan "github.com/vulkan-go/vulkan"

	"github.com/vkassets/vkassets/alloc"
	"github.com/vkassets/vkassets/assets"
	"github.com/vkassets/vkassets/finalizer"
	"github.com/vkassets/vkassets/framesync"
	"github.com/vkassets/vkassets/vk"
)

const (
	width, height  = 128, 128
	framesInFlight = 2
	spriteSize     = 32 // the hero's size; a sprite is copied up to this square
)

// clearColor is exact in an sRGB target: 0 and 1 encode to 0 and 255.
var clearColor = [4]float32{0, 0, 1, 1}

func main() {
	frames := flag.Int("frames", 30, "frames to render; the assets are released after half of them")
	out := flag.String("out", "", "write the first frame to this PNG")
	flag.Parse()
	if err := run(*frames, *out); err != nil {
		log.Fatal(err)
	}
}

// run renders frames; halfway, another goroutine releases the assets while
// their last frame may still be on the GPU.
func run(frames int, out string) error {
	if frames < 1 {
		return fmt.Errorf("-frames %d: at least one", frames)
	}
	a, err := newApp(os.Getenv(vk.EnvValidation) == "1")
	if err != nil {
		return err
	}
	defer a.close()
	released := make(chan error, 1)
	for i := range frames {
		point, err := a.frame()
		if err != nil {
			return err
		}
		if i == frames/2 {
			go func() { released <- a.release() }()
		}
		if out != "" && i == 0 {
			img, err := a.image(point)
			if err != nil {
				return err
			}
			if err := writePNG(out, img); err != nil {
				return err
			}
		}
	}
	if err := <-released; err != nil {
		return err
	}
	if err := a.close(); err != nil {
		return err
	}
	st := a.stats
	fmt.Printf("%d frames on %s; %d drew the assets; Poll retired %d objects\n",
		frames, a.gpu.name(), st.drew, st.retired)
	for _, d := range a.destroyed {
		fmt.Printf("  %-32s last used at point %d; destroyed, and the timeline at %d\n", d.name, d.lastUse, d.timeline)
	}
	if n, first := validation.Errors(); n > 0 {
		return fmt.Errorf("%d validation errors: %q", n, first)
	}
	return nil
}

// app is the application's renderer with vkassets on its device.
type app struct {
	gpu   *gpu
	dev   *vk.Device // vkassets' view of the application's device
	alloc *alloc.Allocator
	sync  *framesync.Sync
	tl    framesync.Timeline // the application's timeline semaphore, registered
	m     *assets.Manager
	fin   *finalizer.Finalizer

	sampler vk.Sampler
	set     vulkan.DescriptorSet // the quad's texture
	hero    *assets.Texture2D    // copied into every frame's corner
	scene   *assets.Scene        // its mesh drawn in every frame's middle
	sprite  *assets.Texture2D    // when set, copied into the bottom-left corner while it lives

	mu      sync.Mutex // guards watched and told: release runs on any goroutine
	watched []watched  // what release let go, until its GPU objects are gone

	slots  [framesInFlight]slot
	next   uint64 // the next frame's point on the timeline
	values *vk.TimelineSubmitInfo
	stats  struct{ drew, retired int }

	destroyed []destroyed
	// told is the highest point waitSlot told vkassets was reached (its
	// fence signalled): on lavapipe a fence can be seen signalled a moment
	// before the semaphore its submission also signals reads that value.
	told   uint64
	closed bool
}

// watched is a GPU-owning asset the release let go, watched until its GPU
// objects are destroyed.
type watched struct {
	name  string
	asset assets.Asset
}

// destroyed says when an asset's GPU objects went: after the Poll that
// destroyed them, the timeline was at timeline (at or above what Poll read).
type destroyed struct {
	name              string
	lastUse, timeline uint64
}

// slot is one frame in flight: its command buffer and fence, its render
// target and the buffer its pixels are read back into (both from vkassets'
// allocator).
type slot struct {
	cmd         vulkan.CommandBuffer
	fence       vulkan.Fence
	point       uint64 // the timeline value its last submission signals; 0: none yet
	pending     bool   // submitted, and the fence not yet waited for
	target      vk.Image
	targetMem   alloc.Allocation
	view        vk.ImageView
	framebuffer vulkan.Framebuffer
	readback    vk.Buffer
	readMem     alloc.Allocation // mapped
}

// newApp creates the application's Vulkan objects with vulkan-go, wraps
// them for vkassets and loads the sample content.
func newApp(validate bool) (a *app, err error) {
	g, err := newGPU(validate)
	if err != nil {
		return nil, err
	}
	a = &app{gpu: g, next: 1}
	defer func() {
		if err != nil {
			a.close()
			a = nil
		}
	}()
	a.dev, err = vk.WrapVulkanGo(vk.VulkanGo{
		Instance: g.inst, PhysicalDevice: g.phys, Device: g.dev, Queue: g.queue, QueueFamily: g.family,
		APIVersion: vk.Version(apiVersion), TimelineSemaphores: true, DebugUtils: g.utils,
	})
	if err != nil {
		return a, err
	}
	if a.alloc, err = alloc.New(alloc.Options{Device: a.dev}); err != nil {
		return a, err
	}
	// framesync's own queue of one-shot submissions carries the assets'
	// uploads; the application's frames retire through its own timeline.
	if a.sync, err = framesync.New(framesync.Options{Device: a.dev, Allocator: a.alloc, FramesInFlight: 1}); err != nil {
		return a, err
	}
	if a.tl, err = a.sync.AddTimeline("app frames", vk.SemaphoreFromVulkanGo(g.timeline)); err != nil {
		return a, err
	}
	if a.m, err = assets.New(assets.Options{Device: a.dev, Allocator: a.alloc, Sync: a.sync}); err != nil {
		return a, err
	}
	a.fin = finalizer.New(a.m)
	if a.values, err = vk.NewTimelineSubmitInfo(nil, []uint64{0}); err != nil {
		return a, err
	}
	if err := a.load(); err != nil {
		return a, err
	}
	for i := range a.slots {
		if err := a.newSlot(&a.slots[i]); err != nil {
			return a, err
		}
	}
	return a, nil
}

// load loads the hero texture and the quad scene from vkassets' sample
// content and points the descriptor set at the quad's texture.
func (a *app) load() error {
	ctx := context.Background()
	b, err := a.m.AddBundle("content", assets.SampleContent())
	if err != nil {
		return err
	}
	if a.hero, err = b.LoadTexture(ctx, "hero.png"); err != nil {
		return err
	}
	if a.scene, err = b.LoadScene(ctx, "scenes/quad.gltf"); err != nil {
		return err
	}
	mesh := a.scene.Meshes[0]
	if mesh.Material == nil || mesh.Material.BaseTexture == nil {
		return errors.New("scenes/quad.gltf: the mesh has no texture")
	}
	if a.sampler, err = a.dev.CreateSampler(false, false); err != nil {
		return err
	}
	// vulkan-go's out parameters must not point into a struct holding Go
	// pointers (cgo checks the whole object): the handles come back in
	// locals.
	var set vulkan.DescriptorSet
	r := vulkan.AllocateDescriptorSets(a.gpu.dev, &vulkan.DescriptorSetAllocateInfo{
		SType: vulkan.StructureTypeDescriptorSetAllocateInfo, DescriptorPool: a.gpu.descPool,
		DescriptorSetCount: 1, PSetLayouts: []vulkan.DescriptorSetLayout{a.gpu.setLayout},
	}, &set)
	if err := check("vkAllocateDescriptorSets", r); err != nil {
		return err
	}
	a.set = set
	vulkan.UpdateDescriptorSets(a.gpu.dev, 1, []vulkan.WriteDescriptorSet{{
		SType: vulkan.StructureTypeWriteDescriptorSet, DstSet: a.set, DescriptorCount: 1,
		DescriptorType: vulkan.DescriptorTypeCombinedImageSampler,
		PImageInfo: []vulkan.DescriptorImageInfo{{Sampler: a.sampler.VulkanGo(),
			ImageView: mesh.Material.BaseTexture.Handles().View.VulkanGo(), ImageLayout: vulkan.ImageLayoutShaderReadOnlyOptimal}},
	}}, 0, nil)
	return nil
}

// vertexInput reads position (location 0) and the first texture
// coordinates (location 3) of assets.Vertex.
func vertexInput() *vulkan.PipelineVertexInputStateCreateInfo {
	var attrs []vulkan.VertexInputAttributeDescription
	for _, at := range assets.VertexAttributes {
		if at.Location == 0 || at.Location == 3 {
			attrs = append(attrs, vulkan.VertexInputAttributeDescription{Location: at.Location, Format: vulkan.Format(at.Format), Offset: at.Offset})
		}
	}
	return &vulkan.PipelineVertexInputStateCreateInfo{
		SType:                         vulkan.StructureTypePipelineVertexInputStateCreateInfo,
		VertexBindingDescriptionCount: 1,
		PVertexBindingDescriptions: []vulkan.VertexInputBindingDescription{{Stride: uint32(assets.VertexStride),
			InputRate: vulkan.VertexInputRateVertex}},
		VertexAttributeDescriptionCount: uint32(len(attrs)),
		PVertexAttributeDescriptions:    attrs,
	}
}

// newSlot makes a frame's command buffer and fence (vulkan-go), and its
// render target and readback buffer (vkassets' allocator).
func (a *app) newSlot(s *slot) error {
	g := a.gpu
	cmds := make([]vulkan.CommandBuffer, 1)
	r := vulkan.AllocateCommandBuffers(g.dev, &vulkan.CommandBufferAllocateInfo{SType: vulkan.StructureTypeCommandBufferAllocateInfo,
		CommandPool: g.pool, Level: vulkan.CommandBufferLevelPrimary, CommandBufferCount: 1}, cmds)
	if err := check("vkAllocateCommandBuffers", r); err != nil {
		return err
	}
	s.cmd = cmds[0]
	var fence vulkan.Fence // a local: see load
	r = vulkan.CreateFence(g.dev, &vulkan.FenceCreateInfo{SType: vulkan.StructureTypeFenceCreateInfo}, nil, &fence)
	if err := check("vkCreateFence", r); err != nil {
		return err
	}
	s.fence = fence
	var err error
	s.target, s.targetMem, err = a.alloc.CreateImage(vk.ImageInfo{Width: width, Height: height, Format: vk.Format(colorFormat),
		Usage: vk.ImageUsageColorAttachment | vk.ImageUsageTransferSrc | vk.ImageUsageTransferDst},
		alloc.AllocationOptions{Usage: alloc.UsageGPUOnly, Name: "render target"})
	if err != nil {
		return err
	}
	if s.view, err = a.dev.CreateImageView(s.target, vk.Format(colorFormat), vk.AspectColor, 1); err != nil {
		return err
	}
	var fb vulkan.Framebuffer
	r = vulkan.CreateFramebuffer(g.dev, &vulkan.FramebufferCreateInfo{SType: vulkan.StructureTypeFramebufferCreateInfo,
		RenderPass: g.renderPass, AttachmentCount: 1, PAttachments: []vulkan.ImageView{s.view.VulkanGo()},
		Width: width, Height: height, Layers: 1}, nil, &fb)
	if err := check("vkCreateFramebuffer", r); err != nil {
		return err
	}
	s.framebuffer = fb
	s.readback, s.readMem, err = a.alloc.CreateBuffer(width*height*4, vk.BufferUsageTransferDst,
		alloc.AllocationOptions{Usage: alloc.UsageReadback, Mapped: true, Name: "readback"})
	return err
}

// wait is a semaphore a frame's submission waits for (a swapchain image,
// another queue's work; the test holds the GPU back with one).
type wait struct {
	sem   vulkan.Semaphore
	value uint64 // for a timeline semaphore
}

// frame renders one frame into the next slot and returns the point its
// submission signals on the application's timeline. The slot's previous
// frame is waited for first (its fence), as in any frames-in-flight loop.
func (a *app) frame(waits ...wait) (uint64, error) {
	g := a.gpu
	s := &a.slots[int(a.next)%framesInFlight]
	if err := a.waitSlot(s); err != nil {
		return 0, err
	}
	point := a.next
	at := a.tl.At(point)
	// Claim the assets for this submission: each claim either marks the
	// asset used at point (it then outlives it) or fails because another
	// goroutine released it.
	drawQuad := a.m.UseAt(at, a.scene) == nil
	copyHero := a.m.UseAt(at, a.hero) == nil

	cmd := s.cmd
	if err := check("vkBeginCommandBuffer", vulkan.BeginCommandBuffer(cmd, &vulkan.CommandBufferBeginInfo{
		SType: vulkan.StructureTypeCommandBufferBeginInfo, Flags: vulkan.CommandBufferUsageFlags(vulkan.CommandBufferUsageOneTimeSubmitBit)})); err != nil {
		return 0, err
	}
	vulkan.CmdBeginRenderPass(cmd, &vulkan.RenderPassBeginInfo{
		SType: vulkan.StructureTypeRenderPassBeginInfo, RenderPass: g.renderPass, Framebuffer: s.framebuffer,
		RenderArea:      vulkan.Rect2D{Extent: vulkan.Extent2D{Width: width, Height: height}},
		ClearValueCount: 1, PClearValues: []vulkan.ClearValue{vulkan.NewClearValue(clearColor[:])},
	}, vulkan.SubpassContentsInline)
	if drawQuad {
		mesh := a.scene.Meshes[0]
		vulkan.CmdBindPipeline(cmd, vulkan.PipelineBindPointGraphics, g.pipeline)
		vulkan.CmdBindDescriptorSets(cmd, vulkan.PipelineBindPointGraphics, g.pipelineLayout, 0, 1, []vulkan.DescriptorSet{a.set}, 0, nil)
		vulkan.CmdBindVertexBuffers(cmd, 0, 1, []vulkan.Buffer{mesh.Vertices.Handles().Buffer.VulkanGo()}, []vulkan.DeviceSize{0})
		vulkan.CmdBindIndexBuffer(cmd, mesh.Indices.Handles().Buffer.VulkanGo(), 0, vulkan.IndexTypeUint32)
		vulkan.CmdDrawIndexed(cmd, mesh.IndexCount, 1, 0, 0, 0)
	}
	vulkan.CmdEndRenderPass(cmd) // the target is now TRANSFER_DST_OPTIMAL
	if copyHero {
		copyTexture(cmd, a.hero, s.target, 0, 0)
	}
	if a.sprite != nil && a.m.UseAt(at, a.sprite) == nil {
		copyTexture(cmd, a.sprite, s.target, 0, height-spriteSize)
	}
	imageBarrier(cmd, s.target.VulkanGo(), vulkan.ImageLayoutTransferDstOptimal, vulkan.ImageLayoutTransferSrcOptimal,
		vulkan.PipelineStageTransferBit, vulkan.AccessTransferWriteBit, vulkan.PipelineStageTransferBit, vulkan.AccessTransferReadBit)
	vulkan.CmdCopyImageToBuffer(cmd, s.target.VulkanGo(), vulkan.ImageLayoutTransferSrcOptimal, s.readback.VulkanGo(), 1,
		[]vulkan.BufferImageCopy{{ImageSubresource: colorLayers(), ImageExtent: vulkan.Extent3D{Width: width, Height: height, Depth: 1}}})
	vulkan.CmdPipelineBarrier(cmd, vulkan.PipelineStageFlags(vulkan.PipelineStageTransferBit), vulkan.PipelineStageFlags(vulkan.PipelineStageHostBit), 0,
		0, nil, 1, []vulkan.BufferMemoryBarrier{{SType: vulkan.StructureTypeBufferMemoryBarrier,
			SrcAccessMask: vulkan.AccessFlags(vulkan.AccessTransferWriteBit), DstAccessMask: vulkan.AccessFlags(vulkan.AccessHostReadBit),
			SrcQueueFamilyIndex: vulkan.QueueFamilyIgnored, DstQueueFamilyIndex: vulkan.QueueFamilyIgnored,
			Buffer: s.readback.VulkanGo(), Size: vulkan.DeviceSize(vulkan.WholeSize)}}, 0, nil)
	if err := check("vkEndCommandBuffer", vulkan.EndCommandBuffer(cmd)); err != nil {
		return 0, err
	}
	if err := a.submit(s, point, waits); err != nil {
		return 0, err
	}
	if drawQuad && copyHero {
		a.stats.drew++
	}
	return point, a.poll()
}

// submit submits the slot's command buffer signalling point on the
// application's timeline and the slot's fence.
func (a *app) submit(s *slot, point uint64, waits []wait) error {
	info := vulkan.SubmitInfo{SType: vulkan.StructureTypeSubmitInfo,
		CommandBufferCount: 1, PCommandBuffers: []vulkan.CommandBuffer{s.cmd},
		SignalSemaphoreCount: 1, PSignalSemaphores: []vulkan.Semaphore{a.gpu.timeline}}
	waitValues := make([]uint64, 0, len(waits))
	for _, w := range waits {
		info.PWaitSemaphores = append(info.PWaitSemaphores, w.sem)
		info.PWaitDstStageMask = append(info.PWaitDstStageMask, vulkan.PipelineStageFlags(vulkan.PipelineStageAllCommandsBit))
		waitValues = append(waitValues, w.value)
	}
	info.WaitSemaphoreCount = uint32(len(waits))
	// vulkan-go's header predates timeline semaphores: their values travel
	// in a VkTimelineSemaphoreSubmitInfo that vk keeps in C memory.
	if err := a.values.Set(waitValues, []uint64{point}); err != nil {
		return err
	}
	info.PNext = a.values.Pointer()
	// vkassets submits uploads to the same queue from whichever goroutine
	// loads: Vulkan wants the queue externally synchronized.
	q := a.dev.QueueLocker()
	q.Lock()
	r := vulkan.QueueSubmit(a.gpu.queue, 1, []vulkan.SubmitInfo{info}, s.fence)
	q.Unlock()
	if err := check("vkQueueSubmit", r); err != nil {
		return err
	}
	s.point, s.pending = point, true
	a.next++
	return nil
}

// waitSlot waits for the slot's last submission (its fence) and tells
// vkassets that the timeline got there.
func (a *app) waitSlot(s *slot) error {
	if !s.pending {
		return nil
	}
	fences := []vulkan.Fence{s.fence}
	if err := check("vkWaitForFences", vulkan.WaitForFences(a.gpu.dev, 1, fences, vulkan.True, uint64(10*time.Second))); err != nil {
		return err
	}
	if err := a.sync.Reached(a.tl, s.point); err != nil { // optional: Poll would read the semaphore
		return err
	}
	a.mu.Lock()
	a.told = max(a.told, s.point)
	a.mu.Unlock()
	s.pending = false
	return check("vkResetFences", vulkan.ResetFences(a.gpu.dev, 1, fences))
}

// image waits for the frame that signals point and returns its pixels,
// read back through the slot's buffer; the slot must not have been reused.
func (a *app) image(point uint64) (*image.RGBA, error) {
	s := &a.slots[int(point)%framesInFlight]
	if s.point != point {
		return nil, fmt.Errorf("frame %d: its slot holds frame %d now", point, s.point)
	}
	if err := a.waitSlot(s); err != nil {
		return nil, err
	}
	if err := a.alloc.Invalidate(s.readMem, 0, width*height*4); err != nil {
		return nil, err
	}
	img := image.NewRGBA(image.Rect(0, 0, width, height))
	copy(img.Pix, s.readMem.Mapped)
	return img, nil
}

// poll retires what the timelines have passed, and notes when each watched
// asset's GPU objects went.
func (a *app) poll() error {
	n, err := a.sync.Poll()
	a.stats.retired += n
	if err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.watched) == 0 {
		return nil
	}
	v, err := a.dev.SemaphoreValue(vk.SemaphoreFromVulkanGo(a.gpu.timeline))
	if err != nil {
		return err
	}
	// What the GPU is known to have finished: the semaphore, or a point
	// whose fence was waited for (the semaphore may read one less then).
	v = max(v, a.told)
	a.watched = slices.DeleteFunc(a.watched, func(w watched) bool {
		b := assets.BaseOf(w.asset)
		if b.State() != assets.Destroyed {
			return false
		}
		a.destroyed = append(a.destroyed, destroyed{name: w.name, lastUse: b.LastUses()[a.tl.Index()], timeline: v})
		return true
	})
	return nil
}

// release lets go of the hero and the scene, from any goroutine: the
// finalizer decides them, and what they alone kept (the mesh's buffers,
// its material and texture, the images) goes with them. Their GPU objects
// wait for the application's timeline to pass their last use.
func (a *app) release() error {
	var gpuOwned []assets.Asset
	for _, r := range []assets.Asset{a.hero, a.scene} {
		gpuOwned = append(gpuOwned, gpuOwning(r)...)
		if err := a.fin.Release(r); err != nil {
			return err
		}
	}
	a.fin.Collect()
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, x := range gpuOwned {
		b := assets.BaseOf(x)
		if b.State() == assets.Ready {
			return fmt.Errorf("release: %v is still loaded", b)
		}
		a.watched = append(a.watched, watched{name: b.String(), asset: x})
	}
	return nil
}

// gpuOwning lists a and what it depends on that owns GPU objects.
func gpuOwning(a assets.Asset) []assets.Asset {
	var out []assets.Asset
	switch a.(type) {
	case *assets.Texture2D, *assets.Buffer:
		out = append(out, a)
	}
	for _, d := range assets.BaseOf(a).Deps() {
		out = append(out, gpuOwning(d)...)
	}
	return out
}

// copyTexture copies the top-left corner of the texture's first level, up
// to spriteSize square, to (x, y) in the target (in TRANSFER_DST_OPTIMAL).
func copyTexture(cmd vulkan.CommandBuffer, t *assets.Texture2D, target vk.Image, x, y int32) {
	src := t.Handles().Image.VulkanGo()
	imageBarrier(cmd, src, vulkan.ImageLayoutShaderReadOnlyOptimal, vulkan.ImageLayoutTransferSrcOptimal,
		vulkan.PipelineStageFragmentShaderBit|vulkan.PipelineStageTransferBit, 0,
		vulkan.PipelineStageTransferBit, vulkan.AccessTransferReadBit)
	vulkan.CmdCopyImage(cmd, src, vulkan.ImageLayoutTransferSrcOptimal, target.VulkanGo(), vulkan.ImageLayoutTransferDstOptimal, 1,
		[]vulkan.ImageCopy{{SrcSubresource: colorLayers(), DstSubresource: colorLayers(),
			DstOffset: vulkan.Offset3D{X: x, Y: y},
			Extent:    vulkan.Extent3D{Width: min(t.Width, spriteSize), Height: min(t.Height, spriteSize), Depth: 1}}})
	imageBarrier(cmd, src, vulkan.ImageLayoutTransferSrcOptimal, vulkan.ImageLayoutShaderReadOnlyOptimal,
		vulkan.PipelineStageTransferBit, 0,
		vulkan.PipelineStageFragmentShaderBit|vulkan.PipelineStageTransferBit, vulkan.AccessShaderReadBit)
}

func colorLayers() vulkan.ImageSubresourceLayers {
	return vulkan.ImageSubresourceLayers{AspectMask: vulkan.ImageAspectFlags(vulkan.ImageAspectColorBit), LayerCount: 1}
}

func imageBarrier(cmd vulkan.CommandBuffer, img vulkan.Image, from, to vulkan.ImageLayout,
	srcStage vulkan.PipelineStageFlagBits, srcAccess vulkan.AccessFlagBits, dstStage vulkan.PipelineStageFlagBits, dstAccess vulkan.AccessFlagBits) {
	vulkan.CmdPipelineBarrier(cmd, vulkan.PipelineStageFlags(srcStage), vulkan.PipelineStageFlags(dstStage), 0, 0, nil, 0, nil,
		1, []vulkan.ImageMemoryBarrier{{SType: vulkan.StructureTypeImageMemoryBarrier,
			SrcAccessMask: vulkan.AccessFlags(srcAccess), DstAccessMask: vulkan.AccessFlags(dstAccess),
			OldLayout: from, NewLayout: to,
			SrcQueueFamilyIndex: vulkan.QueueFamilyIgnored, DstQueueFamilyIndex: vulkan.QueueFamilyIgnored,
			Image: img, SubresourceRange: vulkan.ImageSubresourceRange{
				AspectMask: vulkan.ImageAspectFlags(vulkan.ImageAspectColorBit), LevelCount: 1, LayerCount: 1}}})
}

func writePNG(path string, img image.Image) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// close waits for the GPU, hands vkassets what the application made from
// its allocator (at the last point that used it, on the application's
// timeline), closes vkassets, and destroys the application's objects. It
// is idempotent.
func (a *app) close() error {
	if a.closed {
		return nil
	}
	a.closed = true
	g := a.gpu
	var errs []error
	if a.dev != nil {
		q := a.dev.QueueLocker() // vkDeviceWaitIdle wants every queue externally synchronized
		q.Lock()
		errs = append(errs, check("vkDeviceWaitIdle", vulkan.DeviceWaitIdle(g.dev)))
		q.Unlock()
	}
	if a.m != nil {
		errs = append(errs, a.m.Close())
	}
	for i := range a.slots {
		s := &a.slots[i]
		if s.framebuffer != nil {
			vulkan.DestroyFramebuffer(g.dev, s.framebuffer, nil)
		}
		if s.fence != nil {
			vulkan.DestroyFence(g.dev, s.fence, nil)
		}
		if a.sync == nil {
			continue
		}
		last := a.tl.At(s.point)
		if s.view != 0 {
			errs = append(errs, a.sync.DeferAt(framesync.ImageView(s.view), last))
		}
		if s.target != 0 {
			errs = append(errs, a.sync.DeferAt(framesync.Image(s.target, s.targetMem), last))
		}
		if s.readback != 0 {
			errs = append(errs, a.sync.DeferAt(framesync.Buffer(s.readback, s.readMem), last))
		}
	}
	if a.sync != nil {
		if a.sampler != 0 {
			errs = append(errs, a.sync.DeferAt(framesync.Sampler(a.sampler), a.tl.At(a.next-1)))
		}
		if err := a.poll(); err != nil {
			errs = append(errs, err)
		}
		errs = append(errs, a.sync.Close())
	}
	if a.alloc != nil {
		errs = append(errs, a.alloc.Close())
	}
	if a.dev != nil {
		a.dev.Close() // vkassets' tables only: the device is the application's
	}
	if a.values != nil {
		a.values.Free()
	}
	g.close()
	return errors.Join(errs...)
}
