package assets

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
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
		w, h, pix, err := decodeRGBA(context.Background(), data, 512, 512*512*4)
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
	addSeeds(f, "testdata/khronos/*/glTF-*/*.gl*") // self-contained: data URIs and GLBs
	f.Add([]byte(`{"asset":{"version":"2.0"},"meshes":[{"primitives":[{"attributes":{"POSITION":0}}]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, bin, err := decodeGLTF(data)
		if err != nil {
			return
		}
		// The buffers a load would read: a GLB's BIN chunk and data URIs.
		if len(doc.Buffers) > 0 && doc.Buffers[0] != nil && doc.Buffers[0].URI == "" && bin != nil && doc.Buffers[0].ByteLength > 0 && doc.Buffers[0].ByteLength <= len(bin) {
			doc.Buffers[0].Data = bin[:doc.Buffers[0].ByteLength]
		}
		for _, b := range doc.Buffers {
			if b != nil && strings.HasPrefix(b.URI, "data:") {
				if _, d, err := dataURI(b.URI, 1<<20); err == nil && b.ByteLength > 0 && len(d) >= b.ByteLength {
					b.Data = d[:b.ByteLength]
				}
			}
		}
		// A small limit, so that a huge count is refused as a load would
		// refuse it, and the fuzzer keeps its pace.
		l := &sceneLoader{doc: doc, m: &Manager{opts: Options{MaxImageBytes: 4 << 20}}}
		for mi, m := range doc.Meshes {
			if m == nil {
				continue
			}
			for pi, prim := range m.Primitives {
				g, err := l.geometry(mi, pi, prim)
				if err != nil {
					continue
				}
				if len(g.vertices) != int(g.count)*VertexStride {
					t.Fatalf("%d vertex bytes for %d vertices", len(g.vertices), g.count)
				}
				if g.skin != nil && len(g.skin) != int(g.count)*SkinVertexStride {
					t.Fatalf("%d skin bytes for %d vertices", len(g.skin), g.count)
				}
				for _, i := range g.indices {
					if i >= g.count {
						t.Fatalf("index %d of %d vertices", i, g.count)
					}
				}
			}
		}
	})
}

// FuzzManifest: any bytes are either refused with an error wrapping
// ErrManifest, or give a manifest that keeps every promise ParseManifest
// makes — valid unique paths, kinds fit for their files, dependencies and
// preload entries listed, an order with dependencies first — and that
// reads back the same after encoding; never a panic.
func FuzzManifest(f *testing.F) {
	f.Add([]byte(`{"version":1,"assets":[{"path":"hero.png","kind":"sprite"},{"path":"scenes/quad.gltf","kind":"scene","deps":["hero.png"]}],"preload":["scenes/quad.gltf"]}`))
	f.Add([]byte(`{"version":1,"assets":[{"path":"a.png","kind":"image","deps":["b.jpg"]},{"path":"b.jpg","kind":"texture","deps":["a.png"]}]}`))
	f.Add([]byte(`{"version":1,"assets":[{"path":"a/../b.png","kind":"sprite"}]}`))
	f.Add([]byte(`{"version":1,"assets":[]}`))
	if data, err := os.ReadFile("testdata/content/" + ManifestName); err == nil {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		mf, err := ParseManifest(data)
		if err != nil {
			if !errors.Is(err, ErrManifest) {
				t.Fatalf("error does not wrap ErrManifest: %v", err)
			}
			return
		}
		paths := make([]string, len(mf.Assets))
		for i, e := range mf.Assets {
			if !fs.ValidPath(e.Path) || e.Path == "." || e.Path == ManifestName {
				t.Fatalf("accepted path %q", e.Path)
			}
			if got, ok := mf.Entry(e.Path); !ok || got.Path != e.Path || got.Kind != e.Kind {
				t.Fatalf("entry %q listed twice or not found", e.Path)
			}
			if kindFits(e.Kind, e.Path) != nil {
				t.Fatalf("accepted kind %q for %q", e.Kind, e.Path)
			}
			for _, d := range e.Deps {
				if _, ok := mf.Entry(d); !ok || d == e.Path {
					t.Fatalf("%q: accepted dependency %q", e.Path, d)
				}
			}
			paths[i] = e.Path
		}
		for _, p := range mf.Preload {
			if _, ok := mf.Entry(p); !ok {
				t.Fatalf("accepted preload %q", p)
			}
		}
		order := mf.Order(paths)
		if len(order) != len(paths) {
			t.Fatalf("order has %d of %d entries", len(order), len(paths))
		}
		at := make(map[string]int, len(order))
		for i, p := range order {
			at[p] = i
		}
		for _, e := range mf.Assets {
			for _, d := range e.Deps {
				if at[d] >= at[e.Path] {
					t.Fatalf("order puts %q after %q, which depends on it", d, e.Path)
				}
			}
		}
		again, err := json.Marshal(mf)
		if err != nil {
			t.Fatal(err)
		}
		mf2, err := ParseManifest(again)
		if err != nil {
			t.Fatalf("encoded manifest refused: %v\n%s", err, again)
		}
		if !reflect.DeepEqual(mf.Assets, mf2.Assets) || !reflect.DeepEqual(mf.Preload, mf2.Preload) {
			t.Fatalf("round trip changed the manifest:\n%s", again)
		}
	})
}
