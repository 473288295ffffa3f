package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"text/tabwriter"

	"github.com/vkassets/vkassets/vk"
)

// Info is what `vkassets info --json` prints.
type Info struct {
	DeviceName               string       `json:"device_name"`
	DeviceType               string       `json:"device_type"`
	DeviceIndex              int          `json:"device_index"`
	APIVersion               string       `json:"api_version"`
	DriverVersion            string       `json:"driver_version"`
	VendorID                 uint32       `json:"vendor_id"`
	DeviceID                 uint32       `json:"device_id"`
	Loader                   string       `json:"loader"`
	MemoryHeaps              []HeapInfo   `json:"memory_heaps"`
	MemoryTypes              []TypeInfo   `json:"memory_types"`
	MaxMemoryAllocationCount uint32       `json:"max_memory_allocation_count"`
	BufferImageGranularity   uint64       `json:"buffer_image_granularity"`
	NonCoherentAtomSize      uint64       `json:"non_coherent_atom_size"`
	TimelineSemaphores       bool         `json:"timeline_semaphores"`
	MemoryBudgetExtension    bool         `json:"memory_budget_extension"`
	Devices                  []DeviceInfo `json:"devices"`
}

// HeapInfo is one memory heap with its budget.
type HeapInfo struct {
	Size      uint64   `json:"size"`
	Flags     uint32   `json:"flags"`
	FlagNames []string `json:"flag_names"`
	Budget    uint64   `json:"budget"`
	Usage     uint64   `json:"usage"`
}

// TypeInfo is one memory type.
type TypeInfo struct {
	HeapIndex uint32   `json:"heap_index"`
	Flags     uint32   `json:"flags"`
	FlagNames []string `json:"flag_names"`
}

// DeviceInfo is one device the loader found.
type DeviceInfo struct {
	Index      int    `json:"index"`
	Name       string `json:"name"`
	Type       string `json:"type"`
	APIVersion string `json:"api_version"`
}

func collectInfo(d *vk.Device, all []*vk.PhysicalDevice) Info {
	p := d.Physical()
	info := Info{
		DeviceName: p.Name, DeviceType: p.Type.String(), DeviceIndex: p.Index,
		APIVersion: p.APIVersion.String(), DriverVersion: driverVersion(p.VendorID, p.DriverVersion),
		VendorID: p.VendorID, DeviceID: p.DeviceID, Loader: d.Instance().Loader(),
		MaxMemoryAllocationCount: p.Limits.MaxMemoryAllocationCount,
		BufferImageGranularity:   p.Limits.BufferImageGranularity,
		NonCoherentAtomSize:      p.Limits.NonCoherentAtomSize,
		TimelineSemaphores:       d.TimelineSemaphores(),
		MemoryBudgetExtension:    d.HasMemoryBudget(),
	}
	budgets := d.MemoryBudget()
	for i, h := range p.Memory.Heaps {
		info.MemoryHeaps = append(info.MemoryHeaps, HeapInfo{Size: h.Size, Flags: uint32(h.Flags), FlagNames: h.Flags.Names(),
			Budget: budgets[i].Budget, Usage: budgets[i].Usage})
	}
	for _, t := range p.Memory.Types {
		info.MemoryTypes = append(info.MemoryTypes, TypeInfo{HeapIndex: t.HeapIndex, Flags: uint32(t.Flags), FlagNames: t.Flags.Names()})
	}
	for _, q := range all {
		info.Devices = append(info.Devices, DeviceInfo{Index: q.Index, Name: q.Name, Type: q.Type.String(), APIVersion: q.APIVersion.String()})
	}
	return info
}

// driverVersion decodes the vendor-specific packing of driverVersion.
func driverVersion(vendor, v uint32) string {
	if vendor == 0x10de { // NVIDIA: 10.8.8.6 bits
		return fmt.Sprintf("%d.%d.%d.%d", v>>22, v>>14&0xff, v>>6&0xff, v&0x3f)
	}
	return vk.Version(v).String()
}

func runInfo(w io.Writer, logger *slog.Logger, asJSON bool) error {
	d, err := vk.Open(vk.Options{InstanceOptions: vk.InstanceOptions{AppName: "vkassets info", Logger: logger}})
	if err != nil {
		return err
	}
	defer d.Close()
	all, err := d.Instance().PhysicalDevices()
	if err != nil {
		return err
	}
	info := collectInfo(d, all)
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		err = enc.Encode(info)
	} else {
		printInfo(w, info)
	}
	d.Close()
	if n := d.Validator().Errors(); n > 0 {
		return fmt.Errorf("%w: %d (%v)", errValidation, n, d.Validator().ErrorCounts())
	}
	return err
}

func printInfo(w io.Writer, info Info) {
	fmt.Fprintf(w, "device       %s (%s, index %d of %d)\n", info.DeviceName, info.DeviceType, info.DeviceIndex, len(info.Devices))
	fmt.Fprintf(w, "vulkan       %s, driver %s, loader %s\n", info.APIVersion, info.DriverVersion, info.Loader)
	fmt.Fprintf(w, "limits       maxMemoryAllocationCount %d, bufferImageGranularity %d, nonCoherentAtomSize %d\n",
		info.MaxMemoryAllocationCount, info.BufferImageGranularity, info.NonCoherentAtomSize)
	fmt.Fprintf(w, "features     timeline semaphores %v, VK_EXT_memory_budget %v\n", info.TimelineSemaphores, info.MemoryBudgetExtension)
	budgetSrc := "80% of heap: no VK_EXT_memory_budget"
	if info.MemoryBudgetExtension {
		budgetSrc = "VK_EXT_memory_budget"
	}
	fmt.Fprintf(w, "\nmemory heaps (budget: %s)\n", budgetSrc)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  heap\tsize\tbudget\tusage\tflags")
	for i, h := range info.MemoryHeaps {
		fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\t%v\n", i, bytesIEC(h.Size), bytesIEC(h.Budget), bytesIEC(h.Usage), h.FlagNames)
	}
	tw.Flush()
	fmt.Fprintln(w, "\nmemory types")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  type\theap\tflags")
	for i, t := range info.MemoryTypes {
		fmt.Fprintf(tw, "  %d\t%d\t%v\n", i, t.HeapIndex, t.FlagNames)
	}
	tw.Flush()
	if len(info.Devices) > 1 {
		fmt.Fprintln(w, "\nall devices (VKASSETS_DEVICE=<index|name> chooses)")
		for _, d := range info.Devices {
			fmt.Fprintf(w, "  %d: %s [%s, Vulkan %s]\n", d.Index, d.Name, d.Type, d.APIVersion)
		}
	}
}

// bytesIEC prints a byte count with a binary unit.
func bytesIEC(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
