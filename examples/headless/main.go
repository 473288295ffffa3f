// Command headless loads assets, renders a frame offscreen to a PNG,
// releases the assets, and shows the device memory come back once the GPU
// has finished with them.
//
//	go run ./examples/headless [-out frame.png]
package main

import (
	"context"
	"flag"
	"fmt"
	"image/png"
	"log"
	"os"

	"github.com/vkassets/vkassets/alloc"
	"github.com/vkassets/vkassets/assets"
	"github.com/vkassets/vkassets/finalizer"
	"github.com/vkassets/vkassets/framesync"
	"github.com/vkassets/vkassets/internal/render"
	"github.com/vkassets/vkassets/vk"
)

func main() {
	out := flag.String("out", "frame.png", "where to write the picture")
	flag.Parse()
	if err := run(*out); err != nil {
		log.Fatal(err)
	}
}

func run(out string) error {
	ctx := context.Background()
	d, err := vk.Open(vk.Options{InstanceOptions: vk.InstanceOptions{AppName: "vkassets headless example"}})
	if err != nil {
		return err
	}
	defer d.Close()
	a, err := alloc.New(alloc.Options{Device: d})
	if err != nil {
		return err
	}
	s, err := framesync.New(framesync.Options{Device: d, Allocator: a})
	if err != nil {
		return err
	}
	m, err := assets.New(assets.Options{Device: d, Allocator: a, Sync: s})
	if err != nil {
		return err
	}
	fin := finalizer.New(m)
	b, err := m.AddBundle("content", assets.SampleContent())
	if err != nil {
		return err
	}
	r, err := render.New(m, d, a, s, 160, 120)
	if err != nil {
		return err
	}

	hero, err := b.LoadSpriteFrame(ctx, "hero.png")
	if err != nil {
		return err
	}
	quad, err := b.LoadScene(ctx, "scenes/quad.gltf")
	if err != nil {
		return err
	}
	fmt.Printf("loaded: %d bytes of device memory in use\n", a.Stats().Total.AllocationBytes)

	f, err := s.BeginFrame(ctx)
	if err != nil {
		return err
	}
	if err := r.Begin(f, [4]float32{0.1, 0.1, 0.12, 1}); err != nil {
		return err
	}
	if err := r.DrawMesh(f, quad.Meshes[0], render.Scale(0.5), [4]float32{1, 1, 1, 1}); err != nil {
		return err
	}
	if err := r.DrawSprite(f, hero, 8, 8, 32, 32, [4]float32{1, 1, 1, 1}); err != nil {
		return err
	}
	r.End(f, true)
	if err := s.EndFrame(f); err != nil {
		return err
	}
	// Release at once: the frame may still be on the GPU; the textures and
	// buffers wait for it.
	_ = fin.Release(hero)
	_ = fin.Release(quad)
	fmt.Printf("released %d assets while the frame may still run\n", fin.Collect())
	if err := s.Wait(ctx, f.Serial()); err != nil {
		return err
	}
	img, err := r.Image(f)
	if err != nil {
		return err
	}
	file, err := os.Create(out)
	if err != nil {
		return err
	}
	if err := png.Encode(file, img); err != nil {
		file.Close()
		return err
	}
	if err := file.Close(); err != nil {
		return err
	}
	fmt.Printf("wrote %s\n", out)
	if _, err := s.Poll(); err != nil {
		return err
	}
	r.Close()
	if err := m.Close(); err != nil {
		return err
	}
	fmt.Printf("after the GPU finished: %d bytes in use\n", a.Stats().Total.AllocationBytes)
	if err := s.Close(); err != nil {
		return err
	}
	if err := a.Close(); err != nil {
		return err
	}
	d.Close()
	if n := d.Validator().Errors(); n > 0 {
		return fmt.Errorf("%d validation errors", n)
	}
	return nil
}
