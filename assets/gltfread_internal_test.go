package assets

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// binBuilder lays out a glTF buffer: each view 4-byte aligned.
type binBuilder struct{ data []byte }

// add appends little-endian values as a view and returns its offset and
// length.
func (b *binBuilder) add(vals ...any) (off, n int) {
	for len(b.data)%4 != 0 {
		b.data = append(b.data, 0)
	}
	off = len(b.data)
	var w bytes.Buffer
	for _, v := range vals {
		if err := binary.Write(&w, binary.LittleEndian, v); err != nil {
			panic(err)
		}
	}
	b.data = append(b.data, w.Bytes()...)
	return off, w.Len()
}

func (b *binBuilder) dataURI() string {
	return "data:application/octet-stream;base64," + base64.StdEncoding.EncodeToString(b.data)
}

// vertices decodes a vertex buffer.
func vertices(t *testing.T, data []byte) []Vertex {
	t.Helper()
	vs := make([]Vertex, len(data)/VertexStride)
	require.NoError(t, binary.Read(bytes.NewReader(data), binary.LittleEndian, vs))
	return vs
}

func loadGeometry(t *testing.T, doc string) (*geometry, error) {
	t.Helper()
	d, _, err := decodeGLTF([]byte(doc))
	require.NoError(t, err)
	for _, b := range d.Buffers {
		_, data, err := dataURI(b.URI, 1<<20)
		require.NoError(t, err)
		b.Data = data[:b.ByteLength]
	}
	l := &sceneLoader{doc: d, m: &Manager{opts: Options{MaxImageBytes: 1 << 20}}}
	return l.geometry(0, 0, d.Meshes[0].Primitives[0])
}

// TestGLTFAttributeValues: quantized (KHR_mesh_quantization) and normalized
// attributes decode to the values glTF defines (c/127 and c/32767 clamped
// at -1 for signed, c/255 and c/65535 for unsigned, integers as they are
// when not normalized), an RGB colour gets alpha 1, missing attributes
// their defaults, sparse substitutions land on their indices (with and
// without a base view), and JOINTS_0/WEIGHTS_0 fill the skin stream.
func TestGLTFAttributeValues(t *testing.T) {
	var b binBuilder
	posOff, posLen := b.add([]int16{-32768, 0, 32767, 0, 0, 16384, 0, 0, 100, -200, 300, 0}) // 3 VEC3 SHORT, padded to 8 bytes
	nrmOff, nrmLen := b.add([]int8{-128, 0, 127, 0, 0, 127, 0, 0, 64, 0, -64, 0})            // 3 VEC3 BYTE, padded to 4
	uvOff, uvLen := b.add([]uint16{0, 65535, 32768, 0, 65535, 65535})
	colOff, colLen := b.add([]uint8{255, 0, 51, 0, 0, 255, 0, 0, 102, 102, 102, 0}) // 3 VEC3 UBYTE normalized, padded to 4
	jOff, jLen := b.add([]uint8{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})
	wOff, wLen := b.add([]float32{1, 0, 0, 0, 0.5, 0.5, 0, 0, 0.25, 0.25, 0.25, 0.25})
	sIdxOff, sIdxLen := b.add([]uint16{0, 2})
	sValOff, sValLen := b.add([]float32{7, 8, 9, 4, 5, 6})
	doc := fmt.Sprintf(`{"asset":{"version":"2.0"},"extensionsUsed":["KHR_mesh_quantization"],"extensionsRequired":["KHR_mesh_quantization"],
"buffers":[{"uri":%q,"byteLength":%d}],
"bufferViews":[{"buffer":0,"byteOffset":%d,"byteLength":%d,"byteStride":8},{"buffer":0,"byteOffset":%d,"byteLength":%d,"byteStride":4},
 {"buffer":0,"byteOffset":%d,"byteLength":%d},{"buffer":0,"byteOffset":%d,"byteLength":%d,"byteStride":4},
 {"buffer":0,"byteOffset":%d,"byteLength":%d},{"buffer":0,"byteOffset":%d,"byteLength":%d},
 {"buffer":0,"byteOffset":%d,"byteLength":%d},{"buffer":0,"byteOffset":%d,"byteLength":%d}],
"accessors":[
 {"bufferView":0,"componentType":5122,"normalized":true,"count":3,"type":"VEC3"},
 {"bufferView":1,"componentType":5120,"normalized":true,"count":3,"type":"VEC3"},
 {"bufferView":2,"componentType":5123,"normalized":true,"count":3,"type":"VEC2"},
 {"bufferView":3,"componentType":5121,"normalized":true,"count":3,"type":"VEC3"},
 {"bufferView":4,"componentType":5121,"count":3,"type":"VEC4"},
 {"bufferView":5,"componentType":5126,"count":3,"type":"VEC4"},
 {"componentType":5126,"count":3,"type":"VEC2","sparse":{"count":2,"indices":{"bufferView":6,"componentType":5123},"values":{"bufferView":7}}},
 {"bufferView":0,"componentType":5122,"count":3,"type":"VEC3"}],
"meshes":[{"primitives":[{"attributes":{"POSITION":0,"NORMAL":1,"TEXCOORD_0":2,"COLOR_0":3,"JOINTS_0":4,"WEIGHTS_0":5,"TEXCOORD_1":6}},
 {"attributes":{"POSITION":7}}]}]}`,
		b.dataURI(), len(b.data), posOff, posLen, nrmOff, nrmLen, uvOff, uvLen, colOff, colLen, jOff, jLen, wOff, wLen, sIdxOff, sIdxLen, sValOff, sValLen)
	g, err := loadGeometry(t, doc)
	require.NoError(t, err)
	require.Equal(t, uint32(3), g.count)
	require.Equal(t, []string{"COLOR_0", "JOINTS_0", "NORMAL", "POSITION", "TEXCOORD_0", "TEXCOORD_1", "WEIGHTS_0"}, g.attributes)
	vs := vertices(t, g.vertices)
	require.Equal(t, [3]float32{-1, 0, 1}, vs[0].Position, "SHORT normalized: -32768 clamps to -1")
	require.Equal(t, [3]float32{0, float32(16384) / 32767, 0}, vs[1].Position)
	require.Equal(t, [3]float32{-1, 0, 1}, vs[0].Normal, "BYTE normalized: -128 clamps to -1")
	require.Equal(t, [3]float32{64.0 / 127, 0, -64.0 / 127}, vs[2].Normal)
	require.Equal(t, [2]float32{0, 1}, vs[0].UV0)
	require.Equal(t, [2]float32{32768.0 / 65535, 0}, vs[1].UV0)
	require.Equal(t, [4]float32{1, 0, 0.2, 1}, vs[0].Color, "RGB gets alpha 1")
	require.Equal(t, [4]float32{0.4, 0.4, 0.4, 1}, vs[2].Color)
	require.Equal(t, [4]float32{}, vs[1].Tangent, "no TANGENT: zeros")
	require.Equal(t, [2]float32{7, 8}, vs[0].UV1, "sparse over zeros")
	require.Equal(t, [2]float32{}, vs[1].UV1, "not substituted: zero")
	require.Equal(t, [2]float32{9, 4}, vs[2].UV1)
	skin := make([]SkinVertex, 3)
	require.NoError(t, binary.Read(bytes.NewReader(g.skin), binary.LittleEndian, skin))
	require.Equal(t, SkinVertex{Joints: [4]uint16{5, 6, 7, 8}, Weights: [4]float32{0.5, 0.5, 0, 0}}, skin[1])

	// The same positions not normalized: the integers as they are.
	d, _, err := decodeGLTF([]byte(doc))
	require.NoError(t, err)
	_, data, err := dataURI(d.Buffers[0].URI, 1<<20)
	require.NoError(t, err)
	d.Buffers[0].Data = data
	l := &sceneLoader{doc: d, m: &Manager{opts: Options{MaxImageBytes: 1 << 20}}}
	g, err = l.geometry(0, 1, d.Meshes[0].Primitives[1])
	require.NoError(t, err)
	require.Equal(t, [3]float32{100, -200, 300}, vertices(t, g.vertices)[2].Position)
	require.Nil(t, g.skin)
	require.Equal(t, [4]float32{1, 1, 1, 1}, vertices(t, g.vertices)[0].Color, "no COLOR_0: white")
}

// TestGLTFSparseOverView: sparse values replace elements of a stored
// accessor, and indices that do not increase are refused.
func TestGLTFSparseOverView(t *testing.T) {
	var b binBuilder
	pOff, pLen := b.add([]float32{0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3})
	iOff, iLen := b.add([]uint8{1, 3, 0, 0})
	vOff, vLen := b.add([]float32{-1, -1, -1, -3, -3, -3})
	doc := func(indices string) string {
		return fmt.Sprintf(`{"asset":{"version":"2.0"},"buffers":[{"uri":%q,"byteLength":%d}],
"bufferViews":[{"buffer":0,"byteOffset":%d,"byteLength":%d},{"buffer":0,"byteOffset":%d,"byteLength":%d},{"buffer":0,"byteOffset":%d,"byteLength":%d}],
"accessors":[{"bufferView":0,"componentType":5126,"count":4,"type":"VEC3","sparse":{"count":2,"indices":{"bufferView":1,"byteOffset":%s,"componentType":5121},"values":{"bufferView":2}}}],
"meshes":[{"primitives":[{"attributes":{"POSITION":0}}]}]}`, b.dataURI(), len(b.data), pOff, pLen, iOff, iLen, vOff, vLen, indices)
	}
	g, err := loadGeometry(t, doc("0"))
	require.NoError(t, err)
	var got [][3]float32
	for _, v := range vertices(t, g.vertices) {
		got = append(got, v.Position)
	}
	require.Equal(t, [][3]float32{{0, 0, 0}, {-1, -1, -1}, {2, 2, 2}, {-3, -3, -3}}, got)
	_, err = loadGeometry(t, doc("1")) // indices 3, 0: decreasing
	require.ErrorIs(t, err, ErrDecode)
	require.EqualError(t, err, "assets: cannot decode: meshes[0].primitives[0].attributes.POSITION: accessors[0].sparse.indices[1]: 0 (indices increase, below count 4)")
}
