package assets

// SetCPUMips makes every mip chain of m on the CPU, as on a device whose
// format cannot be blitted with a linear filter.
func SetCPUMips(m *Manager, on bool) { m.upload.cpuMips = on }
