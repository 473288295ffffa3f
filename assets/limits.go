package assets

import (
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/vkassets/vkassets/vk"
)

// The limits a load works within: an image's decoded size (from its header,
// before decoding), the memory all loads in flight may take together
// (admission), and the caller's context through decode and upload.

// DeviceLocalBudget is the device-local heaps' budget in bytes:
// VK_EXT_memory_budget's where the device has it (it moves as other
// processes use memory), else 80% of the heaps (vk.Device.MemoryBudget).
func DeviceLocalBudget(d *vk.Device) int64 {
	var sum uint64
	budgets := d.MemoryBudget()
	for i, h := range d.Physical().Memory.Heaps {
		if h.Flags&vk.HeapDeviceLocal != 0 && i < len(budgets) {
			sum += budgets[i].Budget
		}
	}
	return int64(min(sum, 1<<62))
}

// Evicter is implemented by a release policy that keeps unused assets
// resident (package finalizer's, with residency on): Evict releases unused
// assets for about bytes of device memory and returns what it freed. A load
// refused admission asks it once before failing.
type Evicter interface {
	Evict(bytes uint64) uint64
}

// admit reserves bytes of device memory for a load of name, or refuses it
// with ErrOverBudget when the memory in use, what the loads in flight
// reserved and bytes would exceed Options.LoadBudget (after asking the
// release policy, if it is an Evicter, to evict for it once). The returned
// func gives the reservation back, once the load's memory is allocated or
// it failed; it is idempotent.
func (m *Manager) admit(name string, bytes int64) (done func(), err error) {
	for asked := false; ; asked = true {
		m.mu.Lock()
		// Read under the lock: a load admitted before is either still in
		// m.admitted or, once its done has taken the lock, in the memory in
		// use (done runs after its allocations). Read before the lock, the
		// figure could miss a load that finished meanwhile (five loads were
		// admitted into room for four).
		used := int64(min(m.alloc.AllocatedBytes(vk.HeapDeviceLocal), 1<<62))
		over := used + m.admitted + bytes - m.opts.LoadBudget
		if over <= 0 {
			m.admitted += bytes
			m.mu.Unlock()
			var once sync.Once
			return func() {
				once.Do(func() {
					m.mu.Lock()
					m.admitted -= bytes
					m.mu.Unlock()
				})
			}, nil
		}
		admitted, ev := m.admitted, m.rel
		m.mu.Unlock()
		e, ok := ev.(Evicter)
		if !asked && ok && e.Evict(uint64(over)) > 0 {
			continue
		}
		return nil, fmt.Errorf("%w: %q needs %d bytes; %d in use and %d admitted to loads in flight, budget %d",
			ErrOverBudget, name, bytes, used, admitted, m.opts.LoadBudget)
	}
}

// ctxReader fails a Read once ctx is done, so that a decoder reading from
// it stops within one read of a cancellation. It has no ReadByte: the image
// decoders then read it through a buffer, a Read per few KiB of input.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
