package assets

// SetCPUMips makes every mip chain of m on the CPU, as on a device whose
// format cannot be blitted with a linear filter.
func SetCPUMips(m *Manager, on bool) { m.upload.cpuMips = on }

// SetBeforeSwap sets a hook that runs after a defragmentation pass's
// copies are submitted and before the moved assets' handles are swapped
// (nil: none). Set it while no defragmentation runs.
func SetBeforeSwap(f func([]Asset)) { beforeSwap = f }
