package main

import (
	_ "embed"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"unsafe"

	vulkan "github.com/vulkan-go/vulkan"

	"github.com/vkassets/vkassets/vk"
)

// This file is the application's own Vulkan code, written against
// vulkan-go as an engine would write it: nothing here knows vkassets but
// vk.InitVulkanGo, vk.TimelineSemaphoreFeatures and vk.TimelineSemaphoreType
// (structures vulkan-go's 1.1 header lacks).

//go:generate glslangValidator -V -o shaders/quad.vert.spv shaders/quad.vert
//go:generate glslangValidator -V -o shaders/quad.frag.spv shaders/quad.frag

var (
	//go:embed shaders/quad.vert.spv
	vertSPV []byte
	//go:embed shaders/quad.frag.spv
	fragSPV []byte
)

// colorFormat is the render target's format: the textures vkassets loads
// are sRGB, and a copy between the two is exact.
const colorFormat = vulkan.FormatR8g8b8a8Srgb

func check(op string, r vulkan.Result) error {
	if err := vulkan.Error(r); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return nil
}

// validationLog counts the validation layer's errors, as an application's
// debug callback would. vulkan-go keeps one callback for the process.
type validationLog struct {
	mu     sync.Mutex // guards the fields below
	errors int
	first  []string // the first few messages
}

var validation validationLog

func (v *validationLog) report(flags vulkan.DebugReportFlags, _ vulkan.DebugReportObjectType, _ uint64, _ uint, _ int32, _, msg string, _ unsafe.Pointer) vulkan.Bool32 {
	if vulkan.DebugReportFlagBits(flags)&vulkan.DebugReportErrorBit == 0 {
		return vulkan.False
	}
	// vulkan-go hands over the layer's C string without copying it: it
	// is valid only during the call.
	msg = strings.Clone(msg)
	v.mu.Lock()
	v.errors++
	if len(v.first) < 8 {
		v.first = append(v.first, msg)
	}
	v.mu.Unlock()
	return vulkan.False
}

// Errors is how many validation errors were reported, with the first few.
func (v *validationLog) Errors() (int, []string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.errors, append([]string(nil), v.first...)
}

// gpu is the application's instance, device, queue and the objects of its
// renderer; close destroys what was made. It holds no Go pointers, so
// that vulkan-go's out parameters may point into it (cgo checks the whole
// object an argument points into).
type gpu struct {
	inst       vulkan.Instance
	debug      vulkan.DebugReportCallback
	phys       vulkan.PhysicalDevice
	deviceName [256]byte // a string would be a Go pointer
	dev        vulkan.Device
	queue      vulkan.Queue
	family     uint32
	utils      bool               // VK_EXT_debug_utils is enabled (vkassets names its objects)
	timeline   vulkan.Semaphore   // signalled by every frame with its point
	pool       vulkan.CommandPool // the frames' command buffers

	renderPass     vulkan.RenderPass
	setLayout      vulkan.DescriptorSetLayout
	pipelineLayout vulkan.PipelineLayout
	pipeline       vulkan.Pipeline
	descPool       vulkan.DescriptorPool
}

// apiVersion is what the instance asks for: vkassets needs 1.1, timeline
// semaphores 1.2 (vulkan-go's examples ask for 1.0).
var apiVersion = vulkan.MakeVersion(1, 2, 0)

// newGPU creates the instance (with the validation layer when validate),
// the device on the best physical device and its objects.
func newGPU(validate bool) (g *gpu, err error) {
	if err := vk.InitVulkanGo(); err != nil { // vulkan.SetDefaultGetInstanceProcAddr + vulkan.Init, with libvulkan.so.1
		return nil, err
	}
	g = &gpu{}
	defer func() {
		if err != nil {
			g.close()
			g = nil
		}
	}()
	var layers, exts []string
	if validate {
		layers = append(layers, "VK_LAYER_KHRONOS_validation\x00")
		exts = append(exts, "VK_EXT_debug_report\x00")
	}
	if instanceHas("VK_EXT_debug_utils", layers) {
		exts = append(exts, "VK_EXT_debug_utils\x00")
		g.utils = true
	}
	r := vulkan.CreateInstance(&vulkan.InstanceCreateInfo{
		SType: vulkan.StructureTypeInstanceCreateInfo,
		PApplicationInfo: &vulkan.ApplicationInfo{SType: vulkan.StructureTypeApplicationInfo,
			PApplicationName: "vulkan-go app\x00", PEngineName: "its own\x00", ApiVersion: apiVersion},
		EnabledLayerCount: uint32(len(layers)), PpEnabledLayerNames: layers,
		EnabledExtensionCount: uint32(len(exts)), PpEnabledExtensionNames: exts,
	}, nil, &g.inst)
	if err := check("vkCreateInstance", r); err != nil {
		if validate {
			err = fmt.Errorf("%w (is the validation layer installed? Debian: apt-get install vulkan-validationlayers)", err)
		}
		return g, err
	}
	if err := vulkan.InitInstance(g.inst); err != nil {
		return g, err
	}
	if validate {
		r = vulkan.CreateDebugReportCallback(g.inst, &vulkan.DebugReportCallbackCreateInfo{
			SType:       vulkan.StructureTypeDebugReportCallbackCreateInfo,
			Flags:       vulkan.DebugReportFlags(vulkan.DebugReportErrorBit | vulkan.DebugReportWarningBit),
			PfnCallback: validation.report,
		}, nil, &g.debug)
		if err := check("vkCreateDebugReportCallbackEXT", r); err != nil {
			return g, err
		}
	}
	if err := g.choosePhysical(); err != nil {
		return g, err
	}
	features := vk.TimelineSemaphoreFeatures() // VkPhysicalDeviceTimelineSemaphoreFeatures
	defer features.Free()
	r = vulkan.CreateDevice(g.phys, &vulkan.DeviceCreateInfo{
		SType:                vulkan.StructureTypeDeviceCreateInfo,
		PNext:                features.Pointer(),
		QueueCreateInfoCount: 1,
		PQueueCreateInfos: []vulkan.DeviceQueueCreateInfo{{SType: vulkan.StructureTypeDeviceQueueCreateInfo,
			QueueFamilyIndex: g.family, QueueCount: 1, PQueuePriorities: []float32{1}}},
	}, nil, &g.dev)
	if err := check("vkCreateDevice", r); err != nil {
		return g, err
	}
	vulkan.GetDeviceQueue(g.dev, g.family, 0, &g.queue)

	semType := vk.TimelineSemaphoreType(0) // VkSemaphoreTypeCreateInfo
	defer semType.Free()
	r = vulkan.CreateSemaphore(g.dev, &vulkan.SemaphoreCreateInfo{
		SType: vulkan.StructureTypeSemaphoreCreateInfo, PNext: semType.Pointer()}, nil, &g.timeline)
	if err := check("vkCreateSemaphore (timeline)", r); err != nil {
		return g, err
	}
	r = vulkan.CreateCommandPool(g.dev, &vulkan.CommandPoolCreateInfo{
		SType: vulkan.StructureTypeCommandPoolCreateInfo, QueueFamilyIndex: g.family,
		Flags: vulkan.CommandPoolCreateFlags(vulkan.CommandPoolCreateResetCommandBufferBit)}, nil, &g.pool)
	if err := check("vkCreateCommandPool", r); err != nil {
		return g, err
	}
	return g, g.createPipeline()
}

// name is the physical device's name.
func (g *gpu) name() string { return vulkan.ToString(g.deviceName[:]) }

// instanceHas reports whether the loader, or one of layers, offers ext.
func instanceHas(ext string, layers []string) bool {
	for _, layer := range append([]string{""}, layers...) {
		var name string
		if layer != "" {
			name = layer
		}
		var n uint32
		if vulkan.EnumerateInstanceExtensionProperties(name, &n, nil) != vulkan.Success {
			continue
		}
		props := make([]vulkan.ExtensionProperties, n)
		vulkan.EnumerateInstanceExtensionProperties(name, &n, props)
		for _, p := range props {
			p.Deref()
			if vulkan.ToString(p.ExtensionName[:]) == ext {
				return true
			}
		}
	}
	return false
}

// choosePhysical takes the device VKASSETS_DEVICE names (a substring of its
// name), else a discrete GPU, else an integrated one, else the first with
// Vulkan 1.2 and a graphics queue (lavapipe on a machine without a GPU).
func (g *gpu) choosePhysical() error {
	var n uint32
	if err := check("vkEnumeratePhysicalDevices", vulkan.EnumeratePhysicalDevices(g.inst, &n, nil)); err != nil {
		return err
	}
	devs := make([]vulkan.PhysicalDevice, n)
	if err := check("vkEnumeratePhysicalDevices", vulkan.EnumeratePhysicalDevices(g.inst, &n, devs)); err != nil {
		return err
	}
	want := strings.ToLower(os.Getenv(vk.EnvDevice))
	rank := -1
	var names []string
	for _, p := range devs {
		var props vulkan.PhysicalDeviceProperties
		vulkan.GetPhysicalDeviceProperties(p, &props)
		props.Deref()
		name := vulkan.ToString(props.DeviceName[:])
		names = append(names, name)
		family, ok := graphicsFamily(p)
		if !ok || props.ApiVersion < apiVersion {
			continue
		}
		r := map[vulkan.PhysicalDeviceType]int{vulkan.PhysicalDeviceTypeDiscreteGpu: 2, vulkan.PhysicalDeviceTypeIntegratedGpu: 1}[props.DeviceType]
		if want != "" {
			r = 0
			if strings.Contains(strings.ToLower(name), want) {
				r = 3
			}
		}
		if r > rank {
			g.phys, g.deviceName, g.family, rank = p, props.DeviceName, family, r
		}
	}
	if rank < 0 || want != "" && rank < 3 {
		return fmt.Errorf("no Vulkan 1.2 device with a graphics queue%s among %q",
			map[bool]string{true: " named " + want}[want != ""], names)
	}
	return nil
}

func graphicsFamily(p vulkan.PhysicalDevice) (uint32, bool) {
	var n uint32
	vulkan.GetPhysicalDeviceQueueFamilyProperties(p, &n, nil)
	fams := make([]vulkan.QueueFamilyProperties, n)
	vulkan.GetPhysicalDeviceQueueFamilyProperties(p, &n, fams)
	for i := range fams {
		fams[i].Deref()
		if vulkan.QueueFlagBits(fams[i].QueueFlags)&vulkan.QueueGraphicsBit != 0 {
			return uint32(i), true
		}
	}
	return 0, false
}

// createPipeline makes the render pass (clear, then hand the target to
// transfers), and a pipeline drawing assets.Vertex meshes with one texture.
func (g *gpu) createPipeline() error {
	r := vulkan.CreateRenderPass(g.dev, &vulkan.RenderPassCreateInfo{
		SType:           vulkan.StructureTypeRenderPassCreateInfo,
		AttachmentCount: 1,
		PAttachments: []vulkan.AttachmentDescription{{
			Format: colorFormat, Samples: vulkan.SampleCount1Bit,
			LoadOp: vulkan.AttachmentLoadOpClear, StoreOp: vulkan.AttachmentStoreOpStore,
			StencilLoadOp: vulkan.AttachmentLoadOpDontCare, StencilStoreOp: vulkan.AttachmentStoreOpDontCare,
			InitialLayout: vulkan.ImageLayoutUndefined, FinalLayout: vulkan.ImageLayoutTransferDstOptimal,
		}},
		SubpassCount: 1,
		PSubpasses: []vulkan.SubpassDescription{{
			PipelineBindPoint:    vulkan.PipelineBindPointGraphics,
			ColorAttachmentCount: 1,
			PColorAttachments:    []vulkan.AttachmentReference{{Attachment: 0, Layout: vulkan.ImageLayoutColorAttachmentOptimal}},
		}},
		DependencyCount: 2,
		PDependencies: []vulkan.SubpassDependency{{
			// The previous frame's copies out of this target.
			SrcSubpass: vulkan.SubpassExternal, DstSubpass: 0,
			SrcStageMask:  vulkan.PipelineStageFlags(vulkan.PipelineStageTransferBit),
			DstStageMask:  vulkan.PipelineStageFlags(vulkan.PipelineStageColorAttachmentOutputBit),
			DstAccessMask: vulkan.AccessFlags(vulkan.AccessColorAttachmentWriteBit),
		}, {
			// This frame's copies into and out of it.
			SrcSubpass: 0, DstSubpass: vulkan.SubpassExternal,
			SrcStageMask:  vulkan.PipelineStageFlags(vulkan.PipelineStageColorAttachmentOutputBit),
			SrcAccessMask: vulkan.AccessFlags(vulkan.AccessColorAttachmentWriteBit),
			DstStageMask:  vulkan.PipelineStageFlags(vulkan.PipelineStageTransferBit),
			DstAccessMask: vulkan.AccessFlags(vulkan.AccessTransferReadBit | vulkan.AccessTransferWriteBit),
		}},
	}, nil, &g.renderPass)
	if err := check("vkCreateRenderPass", r); err != nil {
		return err
	}
	r = vulkan.CreateDescriptorSetLayout(g.dev, &vulkan.DescriptorSetLayoutCreateInfo{
		SType:        vulkan.StructureTypeDescriptorSetLayoutCreateInfo,
		BindingCount: 1,
		PBindings: []vulkan.DescriptorSetLayoutBinding{{Binding: 0, DescriptorType: vulkan.DescriptorTypeCombinedImageSampler,
			DescriptorCount: 1, StageFlags: vulkan.ShaderStageFlags(vulkan.ShaderStageFragmentBit)}},
	}, nil, &g.setLayout)
	if err := check("vkCreateDescriptorSetLayout", r); err != nil {
		return err
	}
	r = vulkan.CreatePipelineLayout(g.dev, &vulkan.PipelineLayoutCreateInfo{
		SType: vulkan.StructureTypePipelineLayoutCreateInfo, SetLayoutCount: 1, PSetLayouts: []vulkan.DescriptorSetLayout{g.setLayout},
	}, nil, &g.pipelineLayout)
	if err := check("vkCreatePipelineLayout", r); err != nil {
		return err
	}
	r = vulkan.CreateDescriptorPool(g.dev, &vulkan.DescriptorPoolCreateInfo{
		SType: vulkan.StructureTypeDescriptorPoolCreateInfo, MaxSets: 4, PoolSizeCount: 1,
		PPoolSizes: []vulkan.DescriptorPoolSize{{Type: vulkan.DescriptorTypeCombinedImageSampler, DescriptorCount: 4}},
	}, nil, &g.descPool)
	if err := check("vkCreateDescriptorPool", r); err != nil {
		return err
	}
	vert, err := g.shader(vertSPV)
	if err != nil {
		return err
	}
	defer vulkan.DestroyShaderModule(g.dev, vert, nil)
	frag, err := g.shader(fragSPV)
	if err != nil {
		return err
	}
	defer vulkan.DestroyShaderModule(g.dev, frag, nil)
	pipelines := make([]vulkan.Pipeline, 1)
	r = vulkan.CreateGraphicsPipelines(g.dev, nil, 1, []vulkan.GraphicsPipelineCreateInfo{{
		SType:      vulkan.StructureTypeGraphicsPipelineCreateInfo,
		StageCount: 2,
		PStages: []vulkan.PipelineShaderStageCreateInfo{
			{SType: vulkan.StructureTypePipelineShaderStageCreateInfo, Stage: vulkan.ShaderStageVertexBit, Module: vert, PName: "main\x00"},
			{SType: vulkan.StructureTypePipelineShaderStageCreateInfo, Stage: vulkan.ShaderStageFragmentBit, Module: frag, PName: "main\x00"},
		},
		PVertexInputState: vertexInput(),
		PInputAssemblyState: &vulkan.PipelineInputAssemblyStateCreateInfo{SType: vulkan.StructureTypePipelineInputAssemblyStateCreateInfo,
			Topology: vulkan.PrimitiveTopologyTriangleList},
		PViewportState: &vulkan.PipelineViewportStateCreateInfo{SType: vulkan.StructureTypePipelineViewportStateCreateInfo,
			ViewportCount: 1, PViewports: []vulkan.Viewport{{Width: width, Height: height, MaxDepth: 1}},
			ScissorCount: 1, PScissors: []vulkan.Rect2D{{Extent: vulkan.Extent2D{Width: width, Height: height}}}},
		PRasterizationState: &vulkan.PipelineRasterizationStateCreateInfo{SType: vulkan.StructureTypePipelineRasterizationStateCreateInfo,
			PolygonMode: vulkan.PolygonModeFill, CullMode: vulkan.CullModeFlags(vulkan.CullModeNone), LineWidth: 1},
		PMultisampleState: &vulkan.PipelineMultisampleStateCreateInfo{SType: vulkan.StructureTypePipelineMultisampleStateCreateInfo,
			RasterizationSamples: vulkan.SampleCount1Bit},
		PColorBlendState: &vulkan.PipelineColorBlendStateCreateInfo{SType: vulkan.StructureTypePipelineColorBlendStateCreateInfo,
			AttachmentCount: 1, PAttachments: []vulkan.PipelineColorBlendAttachmentState{{ColorWriteMask: 0xf}}},
		Layout:     g.pipelineLayout,
		RenderPass: g.renderPass,
	}}, nil, pipelines)
	if err := check("vkCreateGraphicsPipelines", r); err != nil {
		return err
	}
	g.pipeline = pipelines[0]
	return nil
}

func (g *gpu) shader(spv []byte) (vulkan.ShaderModule, error) {
	if len(spv)%4 != 0 {
		return nil, errors.New("SPIR-V size is not a multiple of 4")
	}
	words := make([]uint32, len(spv)/4)
	for i := range words {
		words[i] = uint32(spv[4*i]) | uint32(spv[4*i+1])<<8 | uint32(spv[4*i+2])<<16 | uint32(spv[4*i+3])<<24
	}
	var m vulkan.ShaderModule
	r := vulkan.CreateShaderModule(g.dev, &vulkan.ShaderModuleCreateInfo{
		SType: vulkan.StructureTypeShaderModuleCreateInfo, CodeSize: uint(len(spv)), PCode: words}, nil, &m)
	return m, check("vkCreateShaderModule", r)
}

// close waits for the device and destroys what newGPU made.
func (g *gpu) close() {
	if g.dev != nil {
		vulkan.DeviceWaitIdle(g.dev)
		if g.pipeline != nil {
			vulkan.DestroyPipeline(g.dev, g.pipeline, nil)
		}
		if g.descPool != nil {
			vulkan.DestroyDescriptorPool(g.dev, g.descPool, nil)
		}
		if g.pipelineLayout != nil {
			vulkan.DestroyPipelineLayout(g.dev, g.pipelineLayout, nil)
		}
		if g.setLayout != nil {
			vulkan.DestroyDescriptorSetLayout(g.dev, g.setLayout, nil)
		}
		if g.renderPass != nil {
			vulkan.DestroyRenderPass(g.dev, g.renderPass, nil)
		}
		if g.pool != nil {
			vulkan.DestroyCommandPool(g.dev, g.pool, nil)
		}
		if g.timeline != nil {
			vulkan.DestroySemaphore(g.dev, g.timeline, nil)
		}
		vulkan.DestroyDevice(g.dev, nil)
		g.dev = nil
	}
	if g.inst != nil {
		if g.debug != nil {
			vulkan.DestroyDebugReportCallback(g.inst, g.debug, nil)
		}
		vulkan.DestroyInstance(g.inst, nil)
		g.inst = nil
	}
}
