package assets

// SetCPUMips makes every mip chain of m on the CPU, as on a device whose
// format cannot be blitted with a linear filter.
func SetCPUMips(m *Manager, on bool) { m.upload.cpuMips = on }

// ForceTransferUploads makes m upload through its transfer-queue path even
// on a device without a transfer queue (the main queue then stands in:
// the copies are submitted apart, signal the transfer timeline, and the
// graphics side waits for it). Call it before any upload.
func ForceTransferUploads(m *Manager) error {
	if m.upload.xfer != nil {
		return nil
	}
	return m.upload.useTransfer()
}

// SetBeforeSwap sets a hook that runs after a defragmentation pass's
// copies are submitted and before the moved assets' handles are swapped
// (nil: none). Set it while no defragmentation runs.
func SetBeforeSwap(f func([]Asset)) { beforeSwap = f }

// SetPlanHook sets a hook that runs on the defragmentation's planner
// goroutine once a pass is planned and its new objects made, before the
// pass is handed over (nil: none). Set it while no defragmentation runs.
func SetPlanHook(f func()) { planHook = f }

// SetBeforeFinish sets a hook that runs when a defragmentation pass,
// planned and recorded, begins the rest of its work without the
// defragger's lock (nil: none). Set it while no defragmentation runs.
func SetBeforeFinish(f func()) { beforeFinish = f }

// SetRetireHook sets a hook that runs when a recorded defragmentation
// pass begins handing its objects to framesync (nil: none). Set it while
// no defragmentation runs.
func SetRetireHook(f func()) { retireHook = f }
