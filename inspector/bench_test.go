package inspector

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/vkassets/vkassets/assets"
	"github.com/vkassets/vkassets/vk/vktest"
)

// BenchmarkPageSecond is the CPU an open page costs the application in
// one second: four state events (the header) and one refresh of the
// assets tab with a selected asset's detail and graph, and the chart —
// over the demo's content (two scenes, sprites, a remote-sized set).
// Divided by a second, it bounds the share of frame time a page can take.
func BenchmarkPageSecond(b *testing.B) {
	e := open(b, vktest.Options{})
	ctx := context.Background()
	var held []assets.Asset
	for _, p := range []string{"hero.png", "checker.png", "logo.jpg", "icons/star.png", "icons/coin.png", "icons/heart.png", "scenes/quad.gltf", "scenes/cube.glb"} {
		a, err := e.b.Acquire(ctx, p)
		if err != nil {
			b.Fatal(err)
		}
		held = append(held, a)
	}
	e.frame(b, held...)
	b.Cleanup(func() {
		for _, a := range held {
			_ = e.m.DecRef(a)
		}
	})
	h := New(Options{Manager: e.m, Finalizer: e.fin})
	id := id(held[0])
	paths := []string{"/api/state", "/api/state", "/api/state", "/api/state",
		"/api/assets", "/api/assets/" + id, "/graph/" + id + ".svg", "/api/chart"}
	b.ResetTimer()
	for range b.N {
		for _, p := range paths {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", p, nil))
			if rec.Code != http.StatusOK {
				b.Fatal(p, rec.Code)
			}
		}
	}
}
