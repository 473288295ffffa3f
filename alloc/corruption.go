package alloc

import (
	"errors"
	"fmt"

	"github.com/vkassets/vkassets/alloc/virtual"
)

// corruptionMagic is VMA's VMA_CORRUPTION_DETECTION_MAGIC_VALUE; the
// margins repeat it, little-endian, from 4-byte-aligned offsets of the
// block.
const corruptionMagic = 0x7F84E666

var (
	// ErrCorruption: a margin around an allocation (Options.DebugMargin,
	// DetectCorruption) no longer holds the magic pattern: something wrote
	// outside the allocation's bytes.
	ErrCorruption = errors.New("alloc: memory corruption: a margin around an allocation was overwritten")
	// ErrCorruptionDetectionOff: CheckCorruption was asked of memory types
	// none of which has corruption detection (DetectCorruption off, or no
	// type among them host-visible and host-coherent).
	ErrCorruptionDetectionOff = errors.New("alloc: corruption detection is not enabled for these memory types")
)

func magicByte(off uint64) byte { return byte(uint32(corruptionMagic) >> (8 * (off % 4))) }

// fillMargins writes the pattern around an allocation of size bytes front
// bytes into sub; list.mu is held and the block is mapped.
func (b *block) fillMargins(sub virtual.Allocation, front, size uint64) {
	m := b.mapped
	for i := sub.Offset; i < sub.Offset+front; i++ {
		m[i] = magicByte(i)
	}
	for i := sub.Offset + front + size; i < sub.Offset+sub.Size; i++ {
		m[i] = magicByte(i)
	}
}

// checkMargins checks the margins of the allocation whose range is
// [off, off+n); list.mu is held and the block is mapped. The error names
// the allocation, the block and the first overwritten byte.
func (b *block) checkMargins(off, n uint64) error {
	tag := b.tags[off]
	start, end := off+tag.front, off+tag.front+tag.size
	bad := func(from, to uint64) (uint64, bool) {
		for i := from; i < to; i++ {
			if b.mapped[i] != magicByte(i) {
				return i, true
			}
		}
		return 0, false
	}
	where := ""
	i, found := bad(end, off+n)
	if found {
		where = fmt.Sprintf("%d bytes past its end", i-end+1)
	} else if i, found = bad(off, start); found {
		where = fmt.Sprintf("%d bytes before its start", start-i)
	}
	if !found {
		return nil
	}
	return fmt.Errorf("%w: allocation %q (%d bytes at offset %d) in block %d of memory type %d: byte at offset %d, %s",
		ErrCorruption, nameOr(tag.name), tag.size, start, b.id, b.list.typeIndex, i, where)
}

// CheckCorruption checks the margins of every live sub-allocation in the
// memory types of memoryTypeBits that have corruption detection
// (Options.DetectCorruption; host-visible, host-coherent types), as
// vmaCheckCorruption does. It returns nil when none is damaged, an error
// wrapping ErrCorruption for each one that is (naming the allocation, its
// block, memory type and the first overwritten byte), or
// ErrCorruptionDetectionOff when no type of memoryTypeBits is checked.
// After Close it returns ErrClosed. Free checks an allocation's margins
// too.
func (a *Allocator) CheckCorruption(memoryTypeBits uint32) error {
	if a.closed.Load() {
		return ErrClosed
	}
	var errs []error
	checked := false
	for _, l := range a.lists() {
		if memoryTypeBits&(1<<l.typeIndex) == 0 || !l.detect {
			continue
		}
		checked = true
		errs = append(errs, l.checkCorruption()...)
	}
	if !checked {
		return fmt.Errorf("%w: memory type bits %#b", ErrCorruptionDetectionOff, memoryTypeBits)
	}
	return errors.Join(errs...)
}

func (l *blockList) checkCorruption() []error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var errs []error
	for _, b := range l.blocks {
		if !b.checked {
			continue
		}
		b.vb.Walk(func(r virtual.Range) {
			if !r.Free {
				if err := b.checkMargins(r.Offset, r.Size); err != nil {
					errs = append(errs, err)
				}
			}
		})
	}
	return errs
}
