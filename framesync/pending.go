package framesync

import "github.com/vkassets/vkassets/vk"

// PendingSerial is what the retirement queue holds for one serial: the
// objects that wait for it to complete, and the bytes of memory they hold.
type PendingSerial struct {
	Serial  Serial
	Objects int
	Bytes   uint64
	Items   []PendingObject // in destruction order
}

// PendingObject is one object waiting in the retirement queue.
type PendingObject struct {
	Kind string // "image view", "sampler", "image", "buffer", "memory" or "func"
	Name string // its debug name (Object.Named); "" when it has none
	// Memory, Offset and Bytes are the memory a "memory" object frees (an
	// image's or a buffer's is a "memory" object of its own, after it);
	// zero for the other kinds.
	Memory vk.DeviceMemory
	Offset uint64
	Bytes  uint64
}

// PendingBySerial lists what waits in the retirement queue, by serial,
// oldest first. It reads the queue under the lock, destroys and waits for
// nothing, and costs O(pending): a tool for inspection, not for each frame.
// Objects a Poll (or Wait, BeginFrame, Flush) has already taken off the
// queue to destroy them are not listed, though Stats may still count them
// until that call returns.
func (s *Sync) PendingBySerial() []PendingSerial {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.retire.pendingBySerial()
}

func (q *RetireQueue) pendingBySerial() []PendingSerial {
	r := &q.rings[0]
	out := make([]PendingSerial, 0, r.n)
	for i := range r.n {
		b := r.at(i)
		p := PendingSerial{Serial: b.serial, Items: make([]PendingObject, 0, b.len())}
		for k, items := range b.items {
			for _, it := range items {
				o := PendingObject{Kind: kindNames[k], Name: it.name}
				if kind(k) == kindMemory {
					o.Memory, o.Offset, o.Bytes = it.mem.Memory, it.mem.Offset, it.mem.Size
				}
				p.Items = append(p.Items, o)
				p.Bytes += o.Bytes
			}
		}
		p.Objects = len(p.Items)
		if p.Objects > 0 {
			out = append(out, p)
		}
	}
	return out
}
