package assets

import (
	"fmt"

	"github.com/qmuntal/gltf"
)

// checkAccessor checks, before anything is read or allocated for it, that
// accessor i of doc lies within its buffer view and the view within its
// buffer's data, and that what it decodes to stays within maxBytes. where
// names what uses it (a JSON path) in the error.
func checkAccessor(doc *gltf.Document, i int, where string, maxBytes int64) error {
	if i < 0 || i >= len(doc.Accessors) {
		return fmt.Errorf("%w: %s: accessor %d out of range (%d accessors)", ErrDecode, where, i, len(doc.Accessors))
	}
	a := doc.Accessors[i]
	at := fmt.Sprintf("%s: accessors[%d]", where, i)
	elem := int64(gltf.SizeOfElement(a.ComponentType, a.Type))
	switch {
	case elem <= 0:
		return fmt.Errorf("%w: %s: component type %v of type %v has no size", ErrDecode, at, a.ComponentType, a.Type)
	case a.Count <= 0:
		return fmt.Errorf("%w: %s: count %d", ErrDecode, at, a.Count)
	case a.ByteOffset < 0:
		return fmt.Errorf("%w: %s: byteOffset %d", ErrDecode, at, a.ByteOffset)
	}
	// What the reader allocates: count elements of at least 4 bytes a
	// component once decoded (floats or uint32s), and never less than the
	// stored size.
	decoded := int64(a.Count) * max(elem, int64(a.Type.Components())*4)
	if decoded > maxBytes || decoded/int64(a.Count) != max(elem, int64(a.Type.Components())*4) {
		return fmt.Errorf("%w: %s: count %d decodes to %d bytes, the limit is %d (Options.MaxImageBytes)",
			ErrTooLarge, at, a.Count, decoded, maxBytes)
	}
	if a.BufferView == nil {
		return nil // zeros (and sparse values): bounded by the size check above
	}
	v := *a.BufferView
	if v < 0 || v >= len(doc.BufferViews) {
		return fmt.Errorf("%w: %s: bufferView %d out of range (%d buffer views)", ErrDecode, at, v, len(doc.BufferViews))
	}
	bv := doc.BufferViews[v]
	stride := int64(bv.ByteStride)
	if stride == 0 {
		stride = elem
	}
	switch {
	case stride < elem:
		return fmt.Errorf("%w: %s: bufferViews[%d] byteStride %d is less than the element's %d bytes", ErrDecode, at, v, stride, elem)
	case bv.ByteOffset < 0 || bv.ByteLength < 0:
		return fmt.Errorf("%w: %s: bufferViews[%d] byteOffset %d, byteLength %d", ErrDecode, at, v, bv.ByteOffset, bv.ByteLength)
	}
	if need := int64(a.ByteOffset) + stride*int64(a.Count-1) + elem; need > int64(bv.ByteLength) {
		return fmt.Errorf("%w: %s: count %d of %d bytes (stride %d) from byteOffset %d needs %d bytes, bufferViews[%d] has %d",
			ErrDecode, at, a.Count, elem, stride, a.ByteOffset, need, v, bv.ByteLength)
	}
	if bv.Buffer < 0 || bv.Buffer >= len(doc.Buffers) {
		return fmt.Errorf("%w: %s: bufferViews[%d].buffer %d out of range (%d buffers)", ErrDecode, at, v, bv.Buffer, len(doc.Buffers))
	}
	if end, have := int64(bv.ByteOffset)+int64(bv.ByteLength), int64(len(doc.Buffers[bv.Buffer].Data)); end > have {
		return fmt.Errorf("%w: %s: bufferViews[%d] ends at byte %d, buffers[%d] holds %d", ErrDecode, at, v, end, bv.Buffer, have)
	}
	return nil
}
