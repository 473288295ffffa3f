// Package ktx2write writes KTX2 files for vkassets' tests and fuzz seeds:
// well-formed ones, and through its fields malformed ones. It is no
// general-purpose encoder: levels go in as they are stored.
package ktx2write

import (
	"encoding/binary"
	"slices"
)

// Identifier opens every KTX2 file.
var Identifier = []byte{0xAB, 'K', 'T', 'X', ' ', '2', '0', 0xBB, '\r', '\n', 0x1A, '\n'}

// Level is one mip level as stored, with its size inflated.
type Level struct {
	Data               []byte
	UncompressedLength uint64
}

// File is a KTX2 file to write.
type File struct {
	VkFormat, TypeSize                 uint32
	Width, Height, Depth, Layers, Face uint32 // Face 0 writes faceCount 1
	// LevelCount is written as given when LevelCountSet, else len(Levels).
	LevelCount    uint32
	LevelCountSet bool
	Scheme        uint32
	Levels        []Level // level 0 first; written smallest first
	DFD           []byte  // the whole descriptor, dfdTotalSize included
	KV            [][2]string
	SGD           []byte
}

// Offsets of the header fields, for tests that corrupt them.
const (
	OffVkFormat   = 12
	OffWidth      = 20
	OffHeight     = 24
	OffLevelCount = 40
	OffScheme     = 44
	OffDFD        = 48
	OffLevelIndex = 80
)

// BasicDFD is a Khronos basic descriptor block (version 2) with one
// sample per channel of bitsPerChannel bits (uncompressed, block 1), or
// one sample of the whole block (block 4, blockBytes).
func BasicDFD(model, transfer uint8, block, blockBytes uint8, channels int, float bool) []byte {
	samples := channels
	if block > 1 {
		samples = 1
	}
	size := 24 + 16*samples
	le := binary.LittleEndian
	d := make([]byte, 4+size)
	le.PutUint32(d, uint32(len(d)))
	b := d[4:]
	le.PutUint32(b, 0)                // vendor 0, type 0
	le.PutUint16(b[4:], 2)            // version 2
	le.PutUint16(b[6:], uint16(size)) // descriptorBlockSize
	b[8], b[9], b[10], b[11] = model, 1, transfer, 0
	b[12], b[13] = block-1, block-1
	b[16] = blockBytes
	for i := range samples {
		s := b[24+16*i:]
		bits := int(blockBytes) * 8 / max(samples, 1)
		le.PutUint16(s, uint16(i*bits))
		s[2] = byte(bits - 1)
		ch := byte(i)
		if i == 3 {
			ch = 15 // alpha
		}
		if float {
			ch |= 0x80 | 0x40
		}
		s[3] = ch
		if float {
			le.PutUint32(s[8:], 0xBF800000)  // -1.0
			le.PutUint32(s[12:], 0x3F800000) // 1.0
		} else {
			le.PutUint32(s[12:], 1<<bits-1)
		}
	}
	return d
}

// Bytes writes the file: header, level index, DFD, key/value data, global
// data, then the levels, smallest first, each 16-byte aligned.
func (f File) Bytes() []byte {
	le := binary.LittleEndian
	n := len(f.Levels)
	out := slices.Clone(Identifier)
	levelCount := uint32(n)
	if f.LevelCountSet {
		levelCount = f.LevelCount
	}
	faces := max(f.Face, 1)
	for _, v := range []uint32{f.VkFormat, f.TypeSize, f.Width, f.Height, f.Depth, f.Layers, faces, levelCount, f.Scheme} {
		out = le.AppendUint32(out, v)
	}
	var kvd []byte
	for _, kv := range f.KV {
		e := append([]byte(kv[0]), 0)
		e = append(e, kv[1]...)
		kvd = le.AppendUint32(kvd, uint32(len(e)))
		kvd = append(kvd, e...)
		for len(kvd)%4 != 0 {
			kvd = append(kvd, 0)
		}
	}
	dfdOff := uint32(OffLevelIndex + 24*n)
	kvdOff := dfdOff + uint32(len(f.DFD))
	sgdOff := uint64(kvdOff) + uint64(len(kvd))
	for sgdOff%8 != 0 && len(f.SGD) > 0 {
		sgdOff++
	}
	out = le.AppendUint32(out, dfdOff)
	out = le.AppendUint32(out, uint32(len(f.DFD)))
	out = le.AppendUint32(out, kvdOff*min(uint32(len(kvd)), 1))
	out = le.AppendUint32(out, uint32(len(kvd)))
	out = le.AppendUint64(out, sgdOff*min(uint64(len(f.SGD)), 1))
	out = le.AppendUint64(out, uint64(len(f.SGD)))
	index := len(out)
	out = append(out, make([]byte, 24*n)...)
	out = append(out, f.DFD...)
	out = append(out, kvd...)
	for uint64(len(out)) < sgdOff {
		out = append(out, 0)
	}
	out = append(out, f.SGD...)
	for i := n - 1; i >= 0; i-- {
		for len(out)%16 != 0 {
			out = append(out, 0)
		}
		l := f.Levels[i]
		e := out[index+24*i:]
		le.PutUint64(e, uint64(len(out)))
		le.PutUint64(e[8:], uint64(len(l.Data)))
		le.PutUint64(e[16:], l.UncompressedLength)
		out = append(out, l.Data...)
	}
	return out
}
