// Command gencontent writes the project's sample content: small PNG and JPEG
// images and glTF 2.0 scenes that use them, for tests, examples and the
// demo. It is deterministic: the same bytes every run.
//
//	go run ./internal/gencontent testdata/content   (from assets/; go generate does it)
package main

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"

	"github.com/qmuntal/gltf"
	"github.com/qmuntal/gltf/modeler"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: gencontent DIR")
		os.Exit(2)
	}
	if err := generate(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "gencontent:", err)
		os.Exit(1)
	}
}

func generate(dir string) error {
	files := map[string][]byte{
		"checker.png":            encodePNG(checker(64, 8, color.RGBA{0xe8, 0x4a, 0x3c, 0xff}, color.RGBA{0xf4, 0xf1, 0xe8, 0xff})),
		"hero.png":               encodePNG(gradient(32, 32)),
		"icons/star.png":         encodePNG(star(16)),
		"icons/coin.png":         encodePNG(disc(16, color.RGBA{0xf2, 0xc1, 0x2e, 0xff})),
		"icons/heart.png":        encodePNG(disc(16, color.RGBA{0xd6, 0x33, 0x4f, 0xff})),
		"logo.jpg":               encodeJPEG(gradient(48, 24)),
		"scenes/quad_albedo.png": encodePNG(checker(32, 4, color.RGBA{0x2e, 0x86, 0xc1, 0xff}, color.RGBA{0xfd, 0xfe, 0xfe, 0xff})),
	}
	files["manifest.json"] = []byte(manifest)
	for name, data := range files {
		if err := write(filepath.Join(dir, name), data); err != nil {
			return err
		}
	}
	if err := quadScene(dir); err != nil {
		return err
	}
	return cubeScene(dir)
}

// manifest lists the content for assets.Bundle: what each file yields, the
// scene's texture as its dependency, and what to preload.
const manifest = `{
  "version": 1,
  "assets": [
    {"path": "checker.png", "kind": "sprite"},
    {"path": "hero.png", "kind": "sprite"},
    {"path": "logo.jpg", "kind": "sprite"},
    {"path": "icons/star.png", "kind": "sprite"},
    {"path": "icons/coin.png", "kind": "sprite"},
    {"path": "icons/heart.png", "kind": "sprite"},
    {"path": "scenes/quad_albedo.png", "kind": "texture"},
    {"path": "scenes/quad.gltf", "kind": "scene", "deps": ["scenes/quad_albedo.png"]},
    {"path": "scenes/cube.glb", "kind": "scene"}
  ],
  "preload": ["hero.png", "icons/star.png", "icons/coin.png", "icons/heart.png", "scenes/quad.gltf"]
}
`

func write(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}

func encodePNG(img image.Image) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		panic(err)
	}
	return b.Bytes()
}

func encodeJPEG(img image.Image) []byte {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 90}); err != nil {
		panic(err)
	}
	return b.Bytes()
}

func checker(size, cell int, a, b color.RGBA) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, size, size))
	for y := range size {
		for x := range size {
			c := a
			if (x/cell+y/cell)%2 == 1 {
				c = b
			}
			img.SetRGBA(x, y, c)
		}
	}
	return img
}

func gradient(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.SetRGBA(x, y, color.RGBA{uint8(255 * x / max(w-1, 1)), uint8(255 * y / max(h-1, 1)), 0x80, 0xff})
		}
	}
	return img
}

func disc(size int, c color.RGBA) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, size, size))
	r := float64(size) / 2
	for y := range size {
		for x := range size {
			dx, dy := float64(x)+0.5-r, float64(y)+0.5-r
			if dx*dx+dy*dy <= r*r {
				img.SetRGBA(x, y, c)
			}
		}
	}
	return img
}

func star(size int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, size, size))
	c := color.RGBA{0xf7, 0xdc, 0x6f, 0xff}
	mid := size / 2
	for i := range size {
		img.SetRGBA(mid, i, c)
		img.SetRGBA(i, mid, c)
		img.SetRGBA(i, i, c)
		img.SetRGBA(size-1-i, i, c)
	}
	return img
}

// quadScene is a textured quad with an external buffer and image.
func quadScene(dir string) error {
	doc := gltf.NewDocument()
	pos := modeler.WritePosition(doc, [][3]float32{{-1, -1, 0}, {1, -1, 0}, {1, 1, 0}, {-1, 1, 0}})
	uv := modeler.WriteTextureCoord(doc, [][2]float32{{0, 1}, {1, 1}, {1, 0}, {0, 0}})
	idx := modeler.WriteIndices(doc, []uint16{0, 1, 2, 0, 2, 3})
	doc.Buffers[0].URI = "quad.bin"
	doc.Images = []*gltf.Image{{Name: "albedo", URI: "quad_albedo.png"}}
	doc.Textures = []*gltf.Texture{{Source: gltf.Index(0)}}
	doc.Materials = []*gltf.Material{{Name: "checker", PBRMetallicRoughness: &gltf.PBRMetallicRoughness{
		BaseColorTexture: &gltf.TextureInfo{Index: 0}}}}
	doc.Meshes = []*gltf.Mesh{{Name: "quad", Primitives: []*gltf.Primitive{{
		Indices: gltf.Index(idx), Material: gltf.Index(0),
		Attributes: gltf.PrimitiveAttributes{gltf.POSITION: pos, gltf.TEXCOORD_0: uv}}}}}
	doc.Nodes = []*gltf.Node{{Name: "quad", Mesh: gltf.Index(0)}}
	doc.Scenes[0].Nodes = []int{0}
	if err := os.MkdirAll(filepath.Join(dir, "scenes"), 0o755); err != nil {
		return err
	}
	return gltf.Save(doc, filepath.Join(dir, "scenes", "quad.gltf"))
}

// cubeScene is a binary glTF with two meshes sharing a material whose
// texture is embedded in the binary chunk.
func cubeScene(dir string) error {
	doc := gltf.NewDocument()
	p := [][3]float32{{-1, -1, -1}, {1, -1, -1}, {1, 1, -1}, {-1, 1, -1}, {-1, -1, 1}, {1, -1, 1}, {1, 1, 1}, {-1, 1, 1}}
	uv := [][2]float32{{0, 0}, {1, 0}, {1, 1}, {0, 1}, {0, 0}, {1, 0}, {1, 1}, {0, 1}}
	idx := []uint16{0, 1, 2, 0, 2, 3, 4, 5, 6, 4, 6, 7, 0, 4, 7, 0, 7, 3, 1, 5, 6, 1, 6, 2, 3, 2, 6, 3, 6, 7, 0, 1, 5, 0, 5, 4}
	pos := modeler.WritePosition(doc, p)
	tc := modeler.WriteTextureCoord(doc, uv)
	ix := modeler.WriteIndices(doc, idx)
	img, err := modeler.WriteImage(doc, "crate", "image/png", bytes.NewReader(encodePNG(checker(16, 2,
		color.RGBA{0x8e, 0x5b, 0x2c, 0xff}, color.RGBA{0xc9, 0x9b, 0x62, 0xff}))))
	if err != nil {
		return err
	}
	doc.Textures = []*gltf.Texture{{Source: gltf.Index(img)}}
	doc.Materials = []*gltf.Material{{Name: "crate", PBRMetallicRoughness: &gltf.PBRMetallicRoughness{
		BaseColorTexture: &gltf.TextureInfo{Index: 0}}}}
	attrs := gltf.PrimitiveAttributes{gltf.POSITION: pos, gltf.TEXCOORD_0: tc}
	doc.Meshes = []*gltf.Mesh{
		{Name: "cube", Primitives: []*gltf.Primitive{{Indices: gltf.Index(ix), Material: gltf.Index(0), Attributes: attrs}}},
		{Name: "cube-copy", Primitives: []*gltf.Primitive{{Indices: gltf.Index(ix), Material: gltf.Index(0), Attributes: attrs}}},
	}
	doc.Nodes = []*gltf.Node{{Name: "root", Children: []int{1, 2}}, {Name: "a", Mesh: gltf.Index(0)}, {Name: "b", Mesh: gltf.Index(1)}}
	doc.Scenes[0].Nodes = []int{0}
	return gltf.SaveBinary(doc, filepath.Join(dir, "scenes", "cube.glb"))
}
