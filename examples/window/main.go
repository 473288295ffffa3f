// Command window shows sprites and a textured mesh in a GLFW window,
// switching scenes about every two seconds, until the window is closed (or for
// -frames frames).
//
//	go run ./examples/window [-frames N]
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"time"

	"github.com/vkassets/vkassets/alloc"
	"github.com/vkassets/vkassets/assets"
	"github.com/vkassets/vkassets/finalizer"
	"github.com/vkassets/vkassets/framesync"
	"github.com/vkassets/vkassets/internal/present"
	"github.com/vkassets/vkassets/internal/render"
	"github.com/vkassets/vkassets/vk"
)

func main() {
	frames := flag.Int("frames", 0, "stop after this many frames (0: when the window closes)")
	flag.Parse()
	if err := run(*frames); err != nil {
		log.Fatal(err)
	}
}

func run(frames int) error {
	ctx := context.Background()
	p, d, err := present.Open("vkassets window example", 640, 480, vk.Options{InstanceOptions: vk.InstanceOptions{AppName: "vkassets window example"}})
	if err != nil {
		return err
	}
	defer d.Close()
	a, err := alloc.New(alloc.Options{Device: d})
	if err != nil {
		return err
	}
	s, err := framesync.New(framesync.Options{Device: d, Allocator: a, Present: true})
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
	r, err := render.New(m, d, a, s, 320, 240)
	if err != nil {
		return err
	}
	hero, err := b.LoadSpriteFrame(ctx, "hero.png")
	if err != nil {
		return err
	}
	scenes := []string{"scenes/quad.gltf", "scenes/cube.glb"}
	var current *assets.Scene
	switchTo := func(k int) error {
		sc, err := b.LoadScene(ctx, scenes[k%len(scenes)])
		if err != nil {
			return err
		}
		current = sc
		return fin.SwitchScene(sc, hero)
	}
	if err := switchTo(0); err != nil {
		return err
	}
	switchEvery := 120 // about two seconds at 60 Hz
	if frames > 0 {
		switchEvery = max(frames/3, 1)
	}
	for n := 0; frames == 0 || n < frames; n++ {
		if p.Window().ShouldClose() {
			break
		}
		if n > 0 && n%switchEvery == 0 {
			if err := switchTo(n); err != nil {
				return err
			}
		}
		ok, err := p.Ready()
		if err != nil {
			return err
		}
		if !ok {
			_, _ = s.Poll()
			fin.Collect()
			time.Sleep(10 * time.Millisecond)
			continue
		}
		f, err := s.BeginFrame(ctx)
		if err != nil {
			return err
		}
		if err := r.Begin(f, [4]float32{0.05, 0.06, 0.09, 1}); err != nil {
			return err
		}
		for i, mesh := range current.Meshes {
			mvp := render.Orthographic(2, 1.5, 4).Mul(render.Translate(float32(i)-0.5*float32(len(current.Meshes)-1), 0, 0)).
				Mul(render.RotateY(float32(n) * 0.03)).Mul(render.Scale(0.5))
			if err := r.DrawMesh(f, mesh, mvp, [4]float32{1, 1, 1, 1}); err != nil {
				return err
			}
		}
		if err := r.DrawSprite(f, hero, 8, 8, 32, 32, [4]float32{1, 1, 1, 1}); err != nil {
			return err
		}
		r.End(f, false)
		if err := p.End(s, r, f); err != nil {
			return err
		}
		fin.Collect()
	}
	fin.ReleaseAll()
	if err := s.WaitIdle(); err != nil {
		return err
	}
	r.Close()
	if err := m.Close(); err != nil {
		return err
	}
	if err := s.Close(); err != nil {
		return err
	}
	p.Close()
	if err := a.Close(); err != nil {
		return err
	}
	d.Close()
	if n := d.Validator().Errors(); n > 0 {
		return fmt.Errorf("%d validation errors", n)
	}
	return nil
}
