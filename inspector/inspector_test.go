package inspector

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vkassets/vkassets/alloc"
	"github.com/vkassets/vkassets/assets"
	"github.com/vkassets/vkassets/finalizer"
	"github.com/vkassets/vkassets/framesync"
	"github.com/vkassets/vkassets/vk/vktest"
)

type env struct {
	a   *alloc.Allocator
	s   *framesync.Sync
	m   *assets.Manager
	fin *finalizer.Finalizer
	b   *assets.Bundle
}

// open opens a validated device and the stack over it; the cleanup closes
// it all and requires that nothing is left alive.
func open(t testing.TB, opts vktest.Options) *env {
	t.Helper()
	d := vktest.OpenWith(t, opts)
	a, err := alloc.New(alloc.Options{Device: d})
	require.NoError(t, err)
	s, err := framesync.New(framesync.Options{Device: d, Allocator: a, FramesInFlight: 2})
	require.NoError(t, err)
	m, err := assets.New(assets.Options{Device: d, Allocator: a, Sync: s})
	require.NoError(t, err)
	b, err := m.AddBundle("content", assets.SampleContent())
	require.NoError(t, err)
	t.Cleanup(func() {
		require.NoError(t, m.Close())
		require.NoError(t, s.Close())
		require.NoError(t, a.Close(), "shutdown: nothing alive")
	})
	return &env{a: a, s: s, m: m, fin: finalizer.New(m), b: b}
}

// frame records an empty frame that claims each asset.
func (e *env) frame(t testing.TB, use ...assets.Asset) {
	t.Helper()
	f, err := e.s.BeginFrame(context.Background())
	require.NoError(t, err)
	for _, a := range use {
		require.NoError(t, assets.Use(f.Serial(), a))
	}
	require.NoError(t, e.s.EndFrame(f))
	e.fin.Collect()
}

type node struct{ assets.Base }

// scene sets up: a held sprite (locked), a scene switched to, an unused
// sprite, and a cycle of two run-time nodes held by a third.
type scene struct {
	hero, star *assets.SpriteFrame
	quad       *assets.Scene
	x, y, top  *node
}

func setup(t *testing.T, e *env) scene {
	t.Helper()
	ctx := context.Background()
	var sc scene
	a, err := e.b.Acquire(ctx, "hero.png")
	require.NoError(t, err)
	sc.hero = a.(*assets.SpriteFrame)
	require.NoError(t, e.fin.Lock(sc.hero))
	sc.star, err = e.b.LoadSpriteFrame(ctx, "icons/star.png") // count 0: unused
	require.NoError(t, err)
	sc.quad, err = e.b.LoadScene(ctx, "scenes/quad.gltf")
	require.NoError(t, err)
	require.NoError(t, e.fin.SwitchScene(sc.quad, sc.hero))
	sc.x, sc.y, sc.top = &node{}, &node{}, &node{}
	require.NoError(t, e.m.Register(sc.x, "node", "x", sc.hero))
	require.NoError(t, e.m.Register(sc.y, "node", "y", sc.x))
	require.NoError(t, e.m.AddDependency(sc.x, sc.y)) // x → y → x
	require.NoError(t, e.m.Register(sc.top, "node", "top", sc.y))
	for range 4 {
		e.frame(t, sc.hero, sc.quad)
	}
	t.Cleanup(func() {
		e.fin.Unlock(sc.hero)
		for _, n := range []*node{sc.top, sc.y, sc.x} {
			_ = e.m.DecRef(n)
		}
		_ = e.m.DecRef(sc.hero)
	})
	return sc
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s: %s", url, body)
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"), url)
	require.NoError(t, json.Unmarshal(body, v), url)
}

func status(t *testing.T, method, url string) int {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode
}

func id(a assets.Asset) string { return strconv.FormatUint(uint64(assets.BaseOf(a).ID()), 10) }

// TestEndpoints reads every JSON endpoint and compares it with the live
// state of the manager, finalizer, allocator and frame sync.
func TestEndpoints(t *testing.T) {
	e := open(t, vktest.Options{})
	sc := setup(t, e)
	h := New(Options{Manager: e.m, Finalizer: e.fin})
	srv := httptest.NewServer(h)
	defer srv.Close()

	t.Run("state", func(t *testing.T) {
		var st State
		getJSON(t, srv.URL+"/api/state", &st)
		fs := e.s.Stats()
		require.Equal(t, fs.Frames, st.Frame)
		require.Equal(t, uint64(fs.Completed), st.Completed)
		require.Equal(t, len(e.m.Assets()), st.Assets)
		require.Equal(t, e.a.AllocatedBytes(0), st.LiveBytes)
		require.Equal(t, sc.quad.Name(), st.Scene)
	})

	t.Run("assets", func(t *testing.T) {
		var tab struct {
			Frame  uint64
			Assets []Asset
		}
		getJSON(t, srv.URL+"/api/assets", &tab)
		require.Equal(t, e.s.Stats().Frames, tab.Frame)
		live := e.m.Assets()
		require.Len(t, tab.Assets, len(live))
		rows := map[assets.ID]Asset{}
		for _, r := range tab.Assets {
			rows[r.ID] = r
		}
		for _, a := range live {
			b := assets.BaseOf(a)
			r, ok := rows[b.ID()]
			require.True(t, ok, "%v missing", b)
			require.Equal(t, b.Kind(), r.Kind)
			require.Equal(t, b.Name(), r.Name)
			require.Equal(t, b.State().String(), r.State)
			require.Equal(t, b.RefCount(), r.Count, "%v", b)
			require.Equal(t, b.Held(), len(r.Holders), "%v: one holder per dependent edge", b)
			require.Equal(t, e.m.IsLocked(a), r.Locked)
			require.Equal(t, assets.Bytes(a), r.Bytes)
			require.Equal(t, uint64(b.LastUse()), r.LastUse)
			require.Len(t, r.Deps, len(b.Deps()))
		}
		hero := rows[sc.hero.ID()]
		require.Equal(t, "locked", hero.Residency)
		require.Equal(t, 2, hero.Dynamic, "Acquire's and the scene switch's (a persistent root)")
		require.Contains(t, rows[sc.star.ID()].Residency, "unused since serial")
		require.Contains(t, rows[sc.star.ID()].Residency, "evictable")
		require.Equal(t, []Ref{refOf(sc.x)}, rows[sc.hero.ID()].Holders)

		getJSON(t, srv.URL+"/api/assets?sort=bytes&desc=1&kind=texture", &tab)
		require.NotEmpty(t, tab.Assets)
		for i, r := range tab.Assets {
			require.Equal(t, "texture", r.Kind)
			if i > 0 {
				require.GreaterOrEqual(t, tab.Assets[i-1].Bytes, r.Bytes)
			}
		}
		getJSON(t, srv.URL+"/api/assets?q=star.png", &tab)
		require.Len(t, tab.Assets, 3, "the star's sprite, texture and image")
		require.Equal(t, http.StatusBadRequest, status(t, "GET", srv.URL+"/api/assets?sort=colour"))
	})

	t.Run("asset and why", func(t *testing.T) {
		var d AssetDetail
		getJSON(t, srv.URL+"/api/assets/"+id(sc.hero.Texture()), &d)
		require.Equal(t, e.fin.Why(sc.hero.Texture()), d.Why)
		require.Equal(t, []Ref{refOf(sc.hero)}, d.Holders)
		var w struct {
			Ref
			Why string
		}
		getJSON(t, srv.URL+"/api/assets/"+id(sc.x)+"/why", &w)
		require.Equal(t, e.fin.Why(sc.x), w.Why)
		require.Equal(t, http.StatusNotFound, status(t, "GET", srv.URL+"/api/assets/999999"))
		require.Equal(t, http.StatusBadRequest, status(t, "GET", srv.URL+"/api/assets/hero"))
	})

	t.Run("graph", func(t *testing.T) {
		var g Graph
		getJSON(t, srv.URL+"/api/graph/"+id(sc.x), &g)
		require.Equal(t, sc.x.ID(), g.Root)
		at := map[assets.ID]GraphNode{}
		for _, n := range g.Nodes {
			at[n.ID] = n
		}
		require.Equal(t, 0, at[sc.x.ID()].Layer)
		require.Equal(t, 1, at[sc.hero.ID()].Layer, "a dependency below")
		require.Equal(t, 2, at[sc.hero.Texture().ID()].Layer, "at depth 2")
		require.NotContains(t, at, sc.hero.Texture().Deps()[0].(*assets.ImageAsset).ID(), "depth 3 is left out")
		require.Equal(t, -2, at[sc.top.ID()].Layer, "top holds y, which holds x")
		require.Len(t, g.Cycles, 1)
		require.ElementsMatch(t, []assets.ID{sc.x.ID(), sc.y.ID()}, g.Cycles[0])
		require.Positive(t, at[sc.x.ID()].Cycle)
		require.Equal(t, at[sc.x.ID()].Cycle, at[sc.y.ID()].Cycle)
		require.Zero(t, at[sc.hero.ID()].Cycle)
		cyc := 0
		for _, ed := range g.Edges {
			if ed.Cycle {
				cyc++
			}
		}
		require.Equal(t, 2, cyc, "x → y and y → x")

		getJSON(t, srv.URL+"/api/graph/"+id(sc.quad)+"?depth=1", &g)
		require.Len(t, g.Nodes, 1+len(sc.quad.Deps()), "the scene and its meshes; nothing holds it")
		require.Equal(t, http.StatusBadRequest, status(t, "GET", srv.URL+"/api/graph/"+id(sc.quad)+"?depth=9"))

		resp, err := http.Get(srv.URL + "/graph/" + id(sc.x) + ".svg")
		require.NoError(t, err)
		svg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, "image/svg+xml", resp.Header.Get("Content-Type"))
		require.True(t, bytes.HasPrefix(svg, []byte("<svg")))
		require.Contains(t, string(svg), `stroke="#d00"`, "the cycle is marked")
		require.Contains(t, string(svg), `data-id="`+id(sc.top)+`"`)
	})

	t.Run("memory", func(t *testing.T) {
		var mem Memory
		getJSON(t, srv.URL+"/api/memory", &mem)
		st := e.a.Stats()
		require.Equal(t, st.Total.AllocationCount, mem.Total.AllocationCount)
		require.Equal(t, st.Total.BlockBytes, mem.Total.BlockBytes)
		require.Len(t, mem.Heaps, len(st.Heaps))
		require.Len(t, mem.Blocks, len(e.a.Blocks()))
		owned := map[assets.ID]bool{}
		n := 0
		for _, b := range mem.Blocks {
			end := uint64(0)
			for _, r := range b.Ranges {
				require.Equal(t, end, r.Offset, "ranges tile the block")
				end += r.Size
				if !r.Free {
					n++
				}
				if r.Asset != nil {
					owned[r.Asset.ID] = true
					require.Equal(t, r.Asset.Kind, r.Class)
					require.Equal(t, r.Name, r.Asset.Name)
				}
			}
			if !b.Dedicated {
				require.Equal(t, b.Size, end)
			}
		}
		require.Equal(t, st.Total.AllocationCount, n)
		require.True(t, owned[sc.hero.Texture().ID()], "the hero's texture is found in its block")
		for _, m := range sc.quad.Meshes {
			require.True(t, owned[m.Vertices.ID()], "%v's vertices", m)
		}

		resp, err := http.Get(srv.URL + "/api/memory/vma.json")
		require.NoError(t, err)
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Contains(t, resp.Header.Get("Content-Disposition"), "vma-stats.json")
		var want bytes.Buffer
		require.NoError(t, e.a.WriteStatsJSON(&want))
		require.JSONEq(t, want.String(), string(got))
	})

	t.Run("retire", func(t *testing.T) {
		// Release the unused star while a frame that used it may be in flight.
		f, err := e.s.BeginFrame(context.Background())
		require.NoError(t, err)
		require.NoError(t, assets.Use(f.Serial(), sc.star))
		require.NoError(t, e.s.EndFrame(f))
		_, err = e.m.Release(sc.star, false)
		require.NoError(t, err)
		var rt Retire
		getJSON(t, srv.URL+"/api/retire", &rt)
		st := e.s.Stats()
		require.Equal(t, uint64(st.Completed), rt.Completed)
		require.Equal(t, st.Pending, rt.Pending)
		require.Equal(t, st.PendingBytes, rt.PendingBytes)
		require.Equal(t, st.LatencyFrames[:], rt.LatencyFrames)
		sum, sumBytes, names := 0, uint64(0), []string{}
		for _, b := range rt.BySerial {
			sum += b.Objects
			sumBytes += b.Bytes
			names = append(names, b.Names...)
		}
		require.Equal(t, rt.Pending, sum)
		require.Equal(t, rt.PendingBytes, sumBytes)
		if rt.Pending > 0 {
			require.Contains(t, names, sc.star.Name(), "the star's objects wait, by name")
		}
		require.NoError(t, e.s.Flush(context.Background()))
		getJSON(t, srv.URL+"/api/retire", &rt)
		require.Zero(t, rt.Pending)
		require.Equal(t, e.s.Stats().Retired, rt.Retired)
	})

	t.Run("leaks", func(t *testing.T) {
		var lk Leaks
		getJSON(t, srv.URL+"/api/leaks", &lk)
		require.Len(t, lk.Report, len(e.m.Assets()))
		require.Contains(t, lk.Report, e.fin.Why(sc.hero))
		require.Len(t, lk.Unused, len(e.m.Unused()))
		require.Equal(t, len(e.a.Leaks()), lk.LiveAllocations)
		for _, u := range lk.Unowned {
			_, cached := owner(owners(e.m.Assets()), u.Name, u.Size)
			require.False(t, cached, u.Name)
		}
	})

	t.Run("chart", func(t *testing.T) {
		var ch struct {
			Frame   uint64
			Samples []Sample
		}
		getJSON(t, srv.URL+"/api/chart", &ch)
		require.NotEmpty(t, ch.Samples)
		first := ch.Samples[len(ch.Samples)-1]
		require.Equal(t, e.s.Stats().Frames, first.Frame)
		cube, err := e.b.LoadScene(context.Background(), "scenes/cube.glb")
		require.NoError(t, err)
		require.NoError(t, e.fin.SwitchScene(cube, sc.hero))
		e.frame(t, sc.hero, cube)
		getJSON(t, srv.URL+"/api/chart", &ch)
		last := ch.Samples[len(ch.Samples)-1]
		require.Equal(t, first.Frame+1, last.Frame)
		require.True(t, last.Switch, "the scene switch is marked")
		require.Equal(t, cube.Name(), last.Scene)
		require.Equal(t, e.a.AllocatedBytes(0), last.Live)
		for i := 1; i < len(ch.Samples); i++ {
			require.Less(t, ch.Samples[i-1].Frame, ch.Samples[i].Frame, "one sample per frame, in order")
		}
	})

	t.Run("read only", func(t *testing.T) {
		for _, m := range []string{"POST", "PUT", "DELETE"} {
			require.Equal(t, http.StatusMethodNotAllowed, status(t, m, srv.URL+"/api/assets"))
		}
	})
}

// TestAuthorize: a refusing hook answers 403 to every path and serves
// nothing; an allowing one serves.
func TestAuthorize(t *testing.T) {
	e := open(t, vktest.Options{})
	asked := 0
	h := New(Options{Manager: e.m, Authorize: func(r *http.Request) error {
		asked++
		if r.Header.Get("X-Token") != "secret" {
			return errors.New("inspector: a token is wanted")
		}
		return nil
	}})
	srv := httptest.NewServer(h)
	defer srv.Close()
	for _, p := range []string{"/", "/app.js", "/api/assets", "/api/events", "/api/memory/vma.json", "/graph/1.svg"} {
		resp, err := http.Get(srv.URL + p)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, http.StatusForbidden, resp.StatusCode, p)
		require.Contains(t, string(body), "a token is wanted")
	}
	require.False(t, h.chart.running(), "a refused request starts no sampler")
	req, _ := http.NewRequest("GET", srv.URL+"/api/assets", nil)
	req.Header.Set("X-Token", "secret")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, 7, asked)
}

// TestStripPrefix: mounted under a prefix of the application's mux, the
// page, its script and the API answer there, and nothing is registered on
// http.DefaultServeMux.
func TestStripPrefix(t *testing.T) {
	e := open(t, vktest.Options{})
	mux := http.NewServeMux()
	mux.Handle("/debug/vkassets/", http.StripPrefix("/debug/vkassets", New(Options{Manager: e.m})))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	for p, want := range map[string]string{
		"/debug/vkassets/":           "vkassets inspector",
		"/debug/vkassets/app.js":     "EventSource",
		"/debug/vkassets/style.css":  "font",
		"/debug/vkassets/api/assets": `"assets"`,
		"/debug/vkassets/api/state":  `"frame"`,
	} {
		resp, err := http.Get(srv.URL + p)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, p)
		require.Contains(t, string(body), want, p)
	}
	require.Equal(t, http.StatusNotFound, status(t, "GET", srv.URL+"/debug/vkassets/nothing"))
	_, pattern := http.DefaultServeMux.Handler(httptest.NewRequest("GET", "/api/assets", nil))
	require.Empty(t, pattern, "nothing on DefaultServeMux")
	page, _ := web.ReadFile("web/index.html")
	script, _ := web.ReadFile("web/app.js")
	for _, s := range [][]byte{page, script} {
		require.NotContains(t, string(s), "http://", "no CDN, no absolute URL")
		require.NotContains(t, string(s), "https://")
		require.NotContains(t, string(s), `"/api`, "relative URLs only")
	}
}

// TestEvents: the stream delivers a state event carrying the frame number,
// and a new one when a frame is drawn.
func TestEvents(t *testing.T) {
	e := open(t, vktest.Options{})
	e.frame(t)
	srv := httptest.NewServer(New(Options{Manager: e.m, Finalizer: e.fin}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/api/events?every=50", nil)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	events := bufio.NewScanner(resp.Body)
	next := func() State {
		t.Helper()
		var st State
		for events.Scan() {
			if data, ok := strings.CutPrefix(events.Text(), "data: "); ok {
				require.NoError(t, json.Unmarshal([]byte(data), &st))
				return st
			}
		}
		t.Fatalf("stream ended: %v", events.Err())
		return st
	}
	require.Equal(t, uint64(1), next().Frame)
	e.frame(t)
	require.Equal(t, uint64(2), next().Frame, "the next event is the next frame's")
}

// TestNothingPerFrame: no goroutine before a request; the sampler starts
// with one and stops once clients are idle.
func TestNothingPerFrame(t *testing.T) {
	e := open(t, vktest.Options{})
	h := New(Options{Manager: e.m, SampleEvery: 5 * time.Millisecond, Idle: 50 * time.Millisecond})
	for range 3 {
		e.frame(t)
	}
	require.False(t, h.chart.running(), "no client: no sampler")
	require.Empty(t, h.chart.samples(), "no client: no samples")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/api/state", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	require.True(t, h.chart.running())
	require.Eventually(t, func() bool { return !h.chart.running() }, 5*time.Second, 10*time.Millisecond, "the sampler stops once idle")
	require.NotEmpty(t, h.chart.samples())
}

// TestEventsWithoutFrames: a release with no new frame (an idle
// application) is still sent.
func TestEventsWithoutFrames(t *testing.T) {
	e := open(t, vktest.Options{})
	star, err := e.b.LoadSpriteFrame(context.Background(), "icons/star.png")
	require.NoError(t, err)
	e.frame(t, star)
	srv := httptest.NewServer(New(Options{Manager: e.m}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/api/events?every=50", nil)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	events := bufio.NewScanner(resp.Body)
	next := func() State {
		t.Helper()
		var st State
		for events.Scan() {
			if data, ok := strings.CutPrefix(events.Text(), "data: "); ok {
				require.NoError(t, json.Unmarshal([]byte(data), &st))
				return st
			}
		}
		t.Fatalf("stream ended: %v", events.Err())
		return st
	}
	before := next()
	require.Equal(t, 3, before.Assets)
	_, err = e.m.Release(star, false)
	require.NoError(t, err)
	e.fin.Collect()
	after := next()
	require.Equal(t, before.Frame, after.Frame, "no frame was drawn")
	require.Less(t, after.Assets, before.Assets, "the release is sent")
	require.NoError(t, e.s.Flush(context.Background()))
}
