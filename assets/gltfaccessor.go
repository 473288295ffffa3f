package assets

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/qmuntal/gltf"
)

// Accessors are read here rather than by the library's modeler, which
// refuses what KHR_mesh_quantization allows and has no normalized reads
// for every type: each attribute's component types are checked against
// the core specification (and the extension's table when the file uses
// it), then read, normalized where the accessor says so, with its sparse
// substitutions applied. checkAccessor has bounded every read before.

// attrRule is what glTF allows for one vertex attribute.
type attrRule struct {
	types []gltf.AccessorType
	core  func(c gltf.ComponentType, normalized bool) bool
	quant func(c gltf.ComponentType, normalized bool) bool // KHR_mesh_quantization's additions; nil: none
}

func floatOnly(c gltf.ComponentType, normalized bool) bool { return c == gltf.ComponentFloat }

func floatOrUnorm(c gltf.ComponentType, normalized bool) bool {
	return c == gltf.ComponentFloat || normalized && (c == gltf.ComponentUbyte || c == gltf.ComponentUshort)
}

func snorm8or16(c gltf.ComponentType, normalized bool) bool {
	return normalized && (c == gltf.ComponentByte || c == gltf.ComponentShort)
}

func anyInt8or16(c gltf.ComponentType, normalized bool) bool {
	return c == gltf.ComponentByte || c == gltf.ComponentUbyte || c == gltf.ComponentShort || c == gltf.ComponentUshort
}

var attrRules = map[string]attrRule{
	gltf.POSITION:   {types: []gltf.AccessorType{gltf.AccessorVec3}, core: floatOnly, quant: anyInt8or16},
	gltf.NORMAL:     {types: []gltf.AccessorType{gltf.AccessorVec3}, core: floatOnly, quant: snorm8or16},
	gltf.TANGENT:    {types: []gltf.AccessorType{gltf.AccessorVec4}, core: floatOnly, quant: snorm8or16},
	gltf.TEXCOORD_0: {types: []gltf.AccessorType{gltf.AccessorVec2}, core: floatOrUnorm, quant: anyInt8or16},
	gltf.TEXCOORD_1: {types: []gltf.AccessorType{gltf.AccessorVec2}, core: floatOrUnorm, quant: anyInt8or16},
	gltf.COLOR_0:    {types: []gltf.AccessorType{gltf.AccessorVec3, gltf.AccessorVec4}, core: floatOrUnorm},
	gltf.WEIGHTS_0:  {types: []gltf.AccessorType{gltf.AccessorVec4}, core: floatOrUnorm},
	gltf.JOINTS_0: {types: []gltf.AccessorType{gltf.AccessorVec4}, core: func(c gltf.ComponentType, normalized bool) bool {
		return !normalized && (c == gltf.ComponentUbyte || c == gltf.ComponentUshort)
	}},
}

// usesQuantization: the document declares KHR_mesh_quantization.
func usesQuantization(doc *gltf.Document) bool {
	for _, e := range doc.ExtensionsUsed {
		if e == "KHR_mesh_quantization" {
			return true
		}
	}
	return false
}

// checkAttribute checks accessor i's type against attribute name's rule.
func checkAttribute(doc *gltf.Document, name string, i int, where string) error {
	r := attrRules[name]
	a := doc.Accessors[i]
	at := fmt.Sprintf("%s: accessors[%d]", where, i)
	okType := false
	for _, t := range r.types {
		okType = okType || a.Type == t
	}
	if !okType {
		return fmt.Errorf("%w: %s: type %v is not allowed for %s", ErrDecode, at, a.Type, name)
	}
	norm := ""
	if a.Normalized {
		norm = "normalized "
	}
	switch {
	case r.core(a.ComponentType, a.Normalized):
		return nil
	case r.quant != nil && r.quant(a.ComponentType, a.Normalized):
		if usesQuantization(doc) {
			return nil
		}
		return fmt.Errorf("%w: %s: %s%v for %s needs KHR_mesh_quantization in extensionsUsed", ErrDecode, at, norm, a.ComponentType, name)
	}
	return fmt.Errorf("%w: %s: %s%v is not allowed for %s", ErrDecode, at, norm, a.ComponentType, name)
}

// readFloats reads accessor i (checked) as count × components floats.
func readFloats(doc *gltf.Document, i int, where string) ([]float32, int, error) {
	a := doc.Accessors[i]
	comps, ct, norm := a.Type.Components(), a.ComponentType, a.Normalized
	out := make([]float32, a.Count*comps)
	err := readAccessor(doc, i, where, func(k int, elem []byte) {
		for c := range comps {
			out[k*comps+c] = component(elem, ct, norm, c)
		}
	})
	return out, comps, err
}

// readUints reads accessor i (checked) of integer components as count ×
// components uint32s.
func readUints(doc *gltf.Document, i int, where string) ([]uint32, int, error) {
	a := doc.Accessors[i]
	comps := a.Type.Components()
	out := make([]uint32, a.Count*comps)
	err := readAccessor(doc, i, where, func(k int, elem []byte) {
		for c := range comps {
			out[k*comps+c] = uintComponent(elem, a.ComponentType, c)
		}
	})
	return out, comps, err
}

// readAccessor calls set for each element of accessor i that has stored
// data (elements without are zeros), then for each sparse substitution.
func readAccessor(doc *gltf.Document, i int, where string, set func(k int, elem []byte)) error {
	a := doc.Accessors[i]
	elem := elementSize(a.ComponentType, a.Type)
	if a.BufferView != nil {
		bv := doc.BufferViews[*a.BufferView]
		stride := bv.ByteStride
		if stride == 0 {
			stride = elem
		}
		data := doc.Buffers[bv.Buffer].Data[bv.ByteOffset+a.ByteOffset:]
		for k := range a.Count {
			set(k, data[k*stride:k*stride+elem])
		}
	}
	if s := a.Sparse; s != nil {
		iv, vv := doc.BufferViews[s.Indices.BufferView], doc.BufferViews[s.Values.BufferView]
		idx := doc.Buffers[iv.Buffer].Data[iv.ByteOffset+s.Indices.ByteOffset:]
		vals := doc.Buffers[vv.Buffer].Data[vv.ByteOffset+s.Values.ByteOffset:]
		isz := s.Indices.ComponentType.ByteSize()
		prev := -1
		for j := range s.Count {
			k := int(uintComponent(idx[j*isz:], s.Indices.ComponentType, 0))
			if k >= a.Count || k <= prev {
				return fmt.Errorf("%w: %s: accessors[%d].sparse.indices[%d]: %d (indices increase, below count %d)", ErrDecode, where, i, j, k, a.Count)
			}
			prev = k
			set(k, vals[j*elem:(j+1)*elem])
		}
	}
	return nil
}

// elementSize is the size of one element as glTF lays it out: vectors and
// scalars tightly packed (the library pads VEC3 of shorts to 8 bytes, which
// the specification does not: a sparse accessor's values are packed), the
// columns of matrices aligned to 4 bytes.
func elementSize(c gltf.ComponentType, t gltf.AccessorType) int {
	switch t {
	case gltf.AccessorMat2, gltf.AccessorMat3, gltf.AccessorMat4:
		return gltf.SizeOfElement(c, t)
	}
	return componentOffset(c, t.Components())
}

// componentOffset is where component c of a vector lies in an element.
// (The library's ComponentType.ByteSize builds a map at each call.)
func componentOffset(t gltf.ComponentType, c int) int {
	switch t {
	case gltf.ComponentByte, gltf.ComponentUbyte:
		return c
	case gltf.ComponentShort, gltf.ComponentUshort:
		return 2 * c
	}
	return 4 * c
}

// component reads component c of an element as a float, normalized to
// [0, 1] or [-1, 1] when the accessor says so.
func component(e []byte, t gltf.ComponentType, normalized bool, c int) float32 {
	o := componentOffset(t, c)
	switch t {
	case gltf.ComponentFloat:
		return math.Float32frombits(binary.LittleEndian.Uint32(e[o:]))
	case gltf.ComponentByte:
		v := float32(int8(e[o]))
		if normalized {
			return max(v/127, -1)
		}
		return v
	case gltf.ComponentUbyte:
		v := float32(e[o])
		if normalized {
			return v / 255
		}
		return v
	case gltf.ComponentShort:
		v := float32(int16(binary.LittleEndian.Uint16(e[o:])))
		if normalized {
			return max(v/32767, -1)
		}
		return v
	case gltf.ComponentUshort:
		v := float32(binary.LittleEndian.Uint16(e[o:]))
		if normalized {
			return v / 65535
		}
		return v
	}
	return float32(binary.LittleEndian.Uint32(e[o:])) // UNSIGNED_INT
}

// uintComponent reads component c of an element of unsigned integers.
func uintComponent(e []byte, t gltf.ComponentType, c int) uint32 {
	o := componentOffset(t, c)
	switch t {
	case gltf.ComponentUbyte, gltf.ComponentByte:
		return uint32(e[o])
	case gltf.ComponentUshort, gltf.ComponentShort:
		return uint32(binary.LittleEndian.Uint16(e[o:]))
	}
	return binary.LittleEndian.Uint32(e[o:])
}
