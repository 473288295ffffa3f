package assets

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/qmuntal/gltf"
)

func addSeeds(f *testing.F, pattern string) {
	files, _ := filepath.Glob(pattern)
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
		f.Add(data[:len(data)/2])
	}
}

// FuzzDecodeImage: any bytes either decode to width×height×4 bytes of
// pixels within the limit, or fail with an error; never a panic.
func FuzzDecodeImage(f *testing.F) {
	addSeeds(f, "testdata/content/*.png")
	addSeeds(f, "testdata/content/*.jpg")
	f.Fuzz(func(t *testing.T, data []byte) {
		w, h, pix, err := decodeRGBA(data, 512)
		if err != nil {
			return
		}
		if w <= 0 || h <= 0 || w > 512 || h > 512 || len(pix) != w*h*4 {
			t.Fatalf("%dx%d with %d bytes of pixels", w, h, len(pix))
		}
	})
}

// FuzzGLTF: any glTF document either fails to decode or yields meshes whose
// vertices and indices are consistent (every index below the vertex count);
// never a panic.
func FuzzGLTF(f *testing.F) {
	addSeeds(f, "testdata/content/scenes/*.gl*")
	f.Add([]byte(`{"asset":{"version":"2.0"},"meshes":[{"primitives":[{"attributes":{"POSITION":0}}]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var doc gltf.Document
		if err := gltf.NewDecoder(bytes.NewReader(data)).Decode(&doc); err != nil {
			return
		}
		l := &sceneLoader{doc: &doc}
		for _, m := range doc.Meshes {
			for _, prim := range m.Primitives {
				if prim == nil {
					continue
				}
				verts, n, err := l.vertices(prim)
				if err != nil {
					continue
				}
				if len(verts) != int(n)*VertexStride {
					t.Fatalf("%d vertex bytes for %d vertices", len(verts), n)
				}
				idx, err := l.indices(prim, n)
				if err != nil {
					continue
				}
				for _, i := range idx {
					if i >= n {
						t.Fatalf("index %d of %d vertices", i, n)
					}
				}
			}
		}
	})
}
