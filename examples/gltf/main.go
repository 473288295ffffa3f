// Command gltf loads a glTF 2.0 scene, prints its dependency graph with the
// reference counts, releases it, and shows the device memory come back once
// the GPU is done.
//
//	go run ./examples/gltf [-dir assets/testdata/content] [-scene scenes/cube.glb]
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"strings"

	"github.com/vkassets/vkassets/alloc"
	"github.com/vkassets/vkassets/assets"
	"github.com/vkassets/vkassets/finalizer"
	"github.com/vkassets/vkassets/framesync"
	"github.com/vkassets/vkassets/vk"
)

func main() {
	dir := flag.String("dir", "assets/testdata/content", "the bundle's directory")
	scene := flag.String("scene", "scenes/cube.glb", "the glTF file in it")
	flag.Parse()
	if err := run(*dir, *scene); err != nil {
		log.Fatal(err)
	}
}

func run(dir, scenePath string) error {
	d, err := vk.Open(vk.Options{InstanceOptions: vk.InstanceOptions{AppName: "vkassets gltf example"}})
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
	b, err := m.AddBundle("content", os.DirFS(dir))
	if err != nil {
		return err
	}
	ctx := context.Background()
	sc, err := b.LoadScene(ctx, scenePath)
	if err != nil {
		return err
	}
	fmt.Printf("loaded %s on %s\n\n", sc.Key(), d.Physical().Name)
	printGraph(sc, "", map[assets.ID]bool{})
	fmt.Printf("\ndevice memory in use: %d bytes in %d allocations\n", used(a), a.DeviceAllocations())

	if err := fin.Release(sc); err != nil {
		return err
	}
	fmt.Printf("released %d assets\n", fin.Collect())
	if err := s.Flush(ctx); err != nil {
		return err
	}
	fmt.Printf("after the GPU finished: %d bytes in use\n", used(a))
	if err := m.Close(); err != nil {
		return err
	}
	if err := s.Close(); err != nil {
		return err
	}
	if err := a.Close(); err != nil {
		return err
	}
	d.Close()
	if n := d.Validator().Errors(); n > 0 { // with VKASSETS_VALIDATION=1
		return fmt.Errorf("%d validation errors: %v", n, d.Validator().ErrorCounts())
	}
	return nil
}

// printGraph prints an asset and, indented, what it depends on.
func printGraph(x assets.Asset, indent string, seen map[assets.ID]bool) {
	b := assets.BaseOf(x)
	note := ""
	if bytes := assets.Bytes(x); bytes > 0 {
		note = fmt.Sprintf(", %d bytes of device memory", bytes)
	}
	if seen[b.ID()] {
		fmt.Printf("%s%s #%d (shown above)\n", indent, b.Kind(), b.ID())
		return
	}
	seen[b.ID()] = true
	fmt.Printf("%s%s #%d %s: count %d%s\n", indent, b.Kind(), b.ID(), label(b), b.RefCount(), note)
	for _, d := range b.Deps() {
		printGraph(d, indent+"  ", seen)
	}
}

func label(b *assets.Base) string {
	if k := b.Key(); k != "" {
		return k[strings.LastIndex(k, "#")+1:]
	}
	return fmt.Sprintf("%q", b.Name())
}

func used(a *alloc.Allocator) uint64 { return a.Stats().Total.AllocationBytes }
