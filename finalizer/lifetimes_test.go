package finalizer_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vkassets/vkassets/alloc"
	"github.com/vkassets/vkassets/assets"
	"github.com/vkassets/vkassets/finalizer"
	"github.com/vkassets/vkassets/framesync"
	"github.com/vkassets/vkassets/internal/render"
	"github.com/vkassets/vkassets/internal/traffic"
	"github.com/vkassets/vkassets/vk/vktest"
)

// TestConcurrentLifetimes is the concurrent model test of the lifetime
// rules (DESIGN.md invariants 5, 6, 11-13): eight goroutines load sprites,
// glTF scenes and remote sprites, take and drop references, release, force,
// lock, unlock, collect, switch scenes, pack into an atlas and ask Why,
// while a render goroutine draws everything handed to it each frame, with
// 1, 2 and 3 frames in flight, synchronization validation on. After every
// frame the graph is checked against the model (package traffic); the
// validation layer reports any destroy the GPU could still see, and the
// shutdown any leak.
func TestConcurrentLifetimes(t *testing.T) {
	d := 6 * time.Second
	if testing.Short() {
		d = time.Second
	}
	if s := os.Getenv("LIFETIMES_SECONDS"); s != "" {
		var n int
		_, _ = fmt.Sscan(s, &n)
		d = time.Duration(n) * time.Second
	}
	srv := httptest.NewServer(http.FileServerFS(assets.SampleContent()))
	defer srv.Close()
	for frames := 1; frames <= 3; frames++ {
		t.Run(fmt.Sprintf("%d-in-flight", frames), func(t *testing.T) {
			dev := vktest.OpenWith(t, vktest.Options{SyncValidation: true})
			a, err := alloc.New(alloc.Options{Device: dev})
			require.NoError(t, err)
			s, err := framesync.New(framesync.Options{Device: dev, Allocator: a, FramesInFlight: frames})
			require.NoError(t, err)
			m, err := assets.New(assets.Options{Device: dev, Allocator: a, Sync: s})
			require.NoError(t, err)
			b, err := m.AddBundle("content", assets.SampleContent())
			require.NoError(t, err)
			fin := finalizer.New(m)
			r, err := render.New(m, dev, a, s, 64, 64)
			require.NoError(t, err)
			rep, err := traffic.Run(context.Background(), traffic.Config{
				Sync: s, Manager: m, Finalizer: fin, Renderer: r, Bundle: b, RemoteBase: srv.URL + "/",
				Atlas:   fin.NewAtlas(m, dev, finalizer.AtlasOptions{PageSize: 128, MaxFrame: 32}),
				Workers: 8, Duration: d, Seed: uint64(frames),
			})
			require.NoError(t, err)
			t.Logf("%d frames, %d checks, %d draws (%d claims refused), operations %v", rep.Frames, rep.Checks, rep.Draws, rep.DrawsRefused, rep.Ops)
			require.Positive(t, rep.Checks)
			fin.ReleaseAll()
			require.NoError(t, s.WaitIdle())
			r.Close()
			require.NoError(t, m.Close())
			require.NoError(t, s.Close())
			require.NoError(t, a.Close(), "nothing leaked")
		})
	}
}
