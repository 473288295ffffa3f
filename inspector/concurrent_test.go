package inspector

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vkassets/vkassets/assets"
	"github.com/vkassets/vkassets/finalizer"
	"github.com/vkassets/vkassets/internal/render"
	"github.com/vkassets/vkassets/internal/traffic"
	"github.com/vkassets/vkassets/vk/vktest"
)

// TestConcurrentPolling polls every endpoint at 10 Hz from two goroutines,
// with an event stream open, while the concurrent model traffic (eight
// workers loading, holding, releasing, forcing, locking, packing, switching
// scenes; a render goroutine drawing) runs with synchronization validation:
// no race (under -race), no validation error, no broken invariant, and
// every request answered (a 404 only for an asset released meanwhile).
func TestConcurrentPolling(t *testing.T) {
	d := 4 * time.Second
	if testing.Short() {
		d = time.Second
	}
	remote := httptest.NewServer(http.FileServerFS(assets.SampleContent()))
	defer remote.Close()
	e := open(t, vktest.Options{SyncValidation: true})
	dev := e.m.Device()
	r, err := render.New(e.m, dev, e.a, e.s, 64, 64)
	require.NoError(t, err)
	srv := httptest.NewServer(New(Options{Manager: e.m, Finalizer: e.fin}))
	defer srv.Close()

	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	polls := make([]int, 2)
	errs := make(chan error, 4)
	for g := range polls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			for ctx.Err() == nil {
				n, err := pollAll(srv.URL)
				if err != nil {
					errs <- err
					return
				}
				polls[g] += n
				<-tick.C
			}
		}()
	}
	events := 0
	wg.Add(1)
	go func() {
		defer wg.Done()
		req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/api/events?every=100", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			errs <- err
			return
		}
		defer resp.Body.Close()
		buf := make([]byte, 4096)
		for {
			n, err := resp.Body.Read(buf)
			if n > 0 {
				events++
			}
			if err != nil {
				return
			}
		}
	}()

	rep, err := traffic.Run(context.Background(), traffic.Config{
		Sync: e.s, Manager: e.m, Finalizer: e.fin, Renderer: r, Bundle: e.b, RemoteBase: remote.URL + "/",
		Atlas:   e.fin.NewAtlas(e.m, dev, finalizer.AtlasOptions{PageSize: 128, MaxFrame: 32}),
		Workers: 8, Duration: d, Seed: 7,
	})
	stop()
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.NoError(t, err)
	t.Logf("%d frames, %d checks; requests answered: %v; event reads: %d", rep.Frames, rep.Checks, polls, events)
	require.Positive(t, rep.Checks)
	require.Positive(t, polls[0])
	require.Positive(t, polls[1])
	require.Positive(t, events)
	e.fin.ReleaseAll()
	require.NoError(t, e.s.WaitIdle())
	r.Close()
}

// pollAll does what an open page does in one refresh of every tab: the
// lists, then Why and the graph of each of a few assets.
func pollAll(base string) (int, error) {
	n := 0
	get := func(p string, v any, missingOK bool) error {
		resp, err := http.Get(base + p)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		n++
		switch {
		case resp.StatusCode == http.StatusNotFound && missingOK: // released since the table was read
			return nil
		case resp.StatusCode != http.StatusOK:
			return fmt.Errorf("%s: %s: %s", p, resp.Status, body)
		case v != nil:
			return json.Unmarshal(body, v)
		}
		return nil
	}
	var tab struct{ Assets []Asset }
	for _, p := range []string{"/api/state", "/api/memory", "/api/memory/vma.json", "/api/retire", "/api/chart", "/api/leaks", "/"} {
		if err := get(p, nil, false); err != nil {
			return n, err
		}
	}
	if err := get("/api/assets?sort=bytes&desc=1", &tab, false); err != nil {
		return n, err
	}
	for i, a := range tab.Assets {
		if i == 8 {
			break
		}
		for _, p := range []string{"/api/assets/%d", "/api/assets/%d/why", "/api/graph/%d", "/graph/%d.svg"} {
			if err := get(fmt.Sprintf(p, a.ID), nil, true); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}
