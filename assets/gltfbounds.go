package assets

import (
	"fmt"
	"math"

	"github.com/qmuntal/gltf"
)

// checkAccessor checks, before anything is read or allocated for it, that
// accessor i of doc lies within its buffer view and the view within its
// buffer's data, and that what it decodes to stays within maxBytes. where
// names what uses it (a JSON path) in the error.
func checkAccessor(doc *gltf.Document, i int, where string, maxBytes int64) error {
	if i < 0 || i >= len(doc.Accessors) || doc.Accessors[i] == nil {
		return fmt.Errorf("%w: %s: accessor %d out of range (%d accessors)", ErrDecode, where, i, len(doc.Accessors))
	}
	a := doc.Accessors[i]
	at := fmt.Sprintf("%s: accessors[%d]", where, i)
	elem := int64(elementSize(a.ComponentType, a.Type))
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
	per := max(elem, int64(a.Type.Components())*4)
	if int64(a.Count) > maxBytes/per { // compared before multiplying: a huge count would wrap the product
		decoded := fmt.Sprint(uint64(a.Count) * uint64(per))
		if uint64(a.Count) > math.MaxUint64/uint64(per) {
			decoded = "more than 2⁶⁴"
		}
		return fmt.Errorf("%w: %s: count %d decodes to %s bytes, the limit is %d (Options.MaxImageBytes)",
			ErrTooLarge, at, a.Count, decoded, maxBytes)
	}
	if a.Normalized && (a.ComponentType == gltf.ComponentFloat || a.ComponentType == gltf.ComponentUint) {
		return fmt.Errorf("%w: %s: normalized %v", ErrDecode, at, a.ComponentType)
	}
	if a.BufferView != nil {
		stride, defined := elem, false
		if v := *a.BufferView; v >= 0 && v < len(doc.BufferViews) && doc.BufferViews[v] != nil && doc.BufferViews[v].ByteStride != 0 {
			stride, defined = int64(doc.BufferViews[v].ByteStride), true
		}
		switch {
		case stride < elem:
			return fmt.Errorf("%w: %s: bufferViews[%d] byteStride %d is less than the element's %d bytes", ErrDecode, at, *a.BufferView, stride, elem)
		case defined && (stride > 252 || stride%4 != 0):
			return fmt.Errorf("%w: %s: bufferViews[%d] byteStride %d (a multiple of 4, at most 252)", ErrDecode, at, *a.BufferView, stride)
		}
		if err := checkView(doc, *a.BufferView, int64(a.ByteOffset), stride*int64(a.Count-1)+elem, at,
			fmt.Sprintf("count %d of %d bytes (stride %d)", a.Count, elem, stride)); err != nil {
			return err
		}
	}
	if s := a.Sparse; s != nil {
		switch {
		case s.Count <= 0 || s.Count > a.Count:
			return fmt.Errorf("%w: %s.sparse.count: %d of count %d", ErrDecode, at, s.Count, a.Count)
		case s.Indices.ComponentType != gltf.ComponentUbyte && s.Indices.ComponentType != gltf.ComponentUshort && s.Indices.ComponentType != gltf.ComponentUint:
			return fmt.Errorf("%w: %s.sparse.indices.componentType: %v", ErrDecode, at, s.Indices.ComponentType)
		}
		isz := int64(s.Indices.ComponentType.ByteSize())
		if err := checkView(doc, s.Indices.BufferView, int64(s.Indices.ByteOffset), isz*int64(s.Count), at+".sparse.indices",
			fmt.Sprintf("%d indices of %d bytes", s.Count, isz)); err != nil {
			return err
		}
		if err := checkView(doc, s.Values.BufferView, int64(s.Values.ByteOffset), elem*int64(s.Count), at+".sparse.values",
			fmt.Sprintf("%d values of %d bytes", s.Count, elem)); err != nil {
			return err
		}
	}
	return nil
}

// checkView checks that n bytes from offset lie within buffer view v, and
// the view within its buffer's data. what says what the n bytes are.
func checkView(doc *gltf.Document, v int, offset, n int64, at, what string) error {
	if v < 0 || v >= len(doc.BufferViews) {
		return fmt.Errorf("%w: %s: bufferView %d out of range (%d buffer views)", ErrDecode, at, v, len(doc.BufferViews))
	}
	bv := doc.BufferViews[v]
	switch {
	case bv == nil:
		return fmt.Errorf("%w: %s: bufferViews[%d] is null", ErrDecode, at, v)
	case bv.ByteOffset < 0 || bv.ByteLength < 0:
		return fmt.Errorf("%w: %s: bufferViews[%d] byteOffset %d, byteLength %d", ErrDecode, at, v, bv.ByteOffset, bv.ByteLength)
	case offset < 0:
		return fmt.Errorf("%w: %s: byteOffset %d", ErrDecode, at, offset)
	}
	// Both sums are of non-negative int64s, exact in uint64: a file's huge
	// offsets cannot wrap them around to small numbers.
	if need := uint64(offset) + uint64(n); need > uint64(bv.ByteLength) {
		return fmt.Errorf("%w: %s: %s from byteOffset %d needs %d bytes, bufferViews[%d] has %d",
			ErrDecode, at, what, offset, need, v, bv.ByteLength)
	}
	if bv.Buffer < 0 || bv.Buffer >= len(doc.Buffers) {
		return fmt.Errorf("%w: %s: bufferViews[%d].buffer %d out of range (%d buffers)", ErrDecode, at, v, bv.Buffer, len(doc.Buffers))
	}
	if end, have := uint64(bv.ByteOffset)+uint64(bv.ByteLength), uint64(len(doc.Buffers[bv.Buffer].Data)); end > have {
		return fmt.Errorf("%w: %s: bufferViews[%d] ends at byte %d, buffers[%d] holds %d", ErrDecode, at, v, end, bv.Buffer, have)
	}
	return nil
}
