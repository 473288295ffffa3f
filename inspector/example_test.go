package inspector_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/vkassets/vkassets/alloc"
	"github.com/vkassets/vkassets/assets"
	"github.com/vkassets/vkassets/finalizer"
	"github.com/vkassets/vkassets/framesync"
	"github.com/vkassets/vkassets/inspector"
	"github.com/vkassets/vkassets/vk"
)

// Mount the inspector under a prefix of the application's own mux, and
// read its assets table as JSON.
func Example() {
	dev, err := vk.Open(vk.Options{InstanceOptions: vk.InstanceOptions{Validation: true}})
	if err != nil {
		log.Fatal(err)
	}
	a, _ := alloc.New(alloc.Options{Device: dev})
	s, _ := framesync.New(framesync.Options{Device: dev, Allocator: a, FramesInFlight: 2})
	m, _ := assets.New(assets.Options{Device: dev, Allocator: a, Sync: s})
	fin := finalizer.New(m)
	content, _ := m.AddBundle("content", assets.SampleContent())
	hero, _ := content.Acquire(context.Background(), "hero.png")

	mux := http.NewServeMux()
	h := inspector.New(inspector.Options{Manager: m, Finalizer: fin})
	mux.Handle("/debug/vkassets/", http.StripPrefix("/debug/vkassets", h))
	srv := httptest.NewServer(mux)

	resp, err := http.Get(srv.URL + "/debug/vkassets/api/assets?sort=id")
	if err != nil {
		log.Fatal(err)
	}
	var table struct {
		Assets []inspector.Asset `json:"assets"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&table)
	resp.Body.Close()
	for _, row := range table.Assets {
		fmt.Printf("%s: count %d, held by %d asset(s)\n", row.Key, row.Count, len(row.Holders))
	}
	srv.Close()

	_ = m.DecRef(hero)
	_ = m.Close()
	_ = s.Close()
	fmt.Println("allocator:", a.Close())
	dev.Close()
	fmt.Println("validation errors:", dev.Validator().Errors())
	// Output:
	// content:hero.png#image: count 1, held by 1 asset(s)
	// content:hero.png#texture: count 1, held by 1 asset(s)
	// content:hero.png#sprite: count 1, held by 0 asset(s)
	// allocator: <nil>
	// validation errors: 0
}
