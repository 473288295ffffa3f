package inspector_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vkassets/vkassets/alloc"
	"github.com/vkassets/vkassets/assets"
	"github.com/vkassets/vkassets/finalizer"
	"github.com/vkassets/vkassets/framesync"
	"github.com/vkassets/vkassets/inspector"
	"github.com/vkassets/vkassets/vk"
	"github.com/vkassets/vkassets/vk/vktest"
)

// TestBrowser opens the inspector of a running stack in a real browser —
// Debian's chromium, driven by playwright-core (browser/inspect.js), both
// installed by `make deps` — and checks what the page shows against the
// stack itself. It fails, not skips, when either is missing.
//
// INSPECTOR_SCREENSHOTS=docs copies the screenshots worth keeping to
// docs/inspector-*.png (a path relative to the repository root); without
// it they stay in the test's temporary directory.
func TestBrowser(t *testing.T) {
	page := startBrowser(t)
	st := openBrowserStack(t)
	ctx := context.Background()
	hero := st.acquire(t, ctx, "hero.png")
	star := st.acquire(t, ctx, "icons/star.png")
	quad := st.acquire(t, ctx, "scenes/quad.gltf")
	loop := st.render(t, hero, star, quad)

	srv := httptest.NewServer(inspector.New(inspector.Options{Manager: st.m, Finalizer: st.fin}))
	t.Cleanup(func() {
		srv.CloseClientConnections() // the page's event stream, if a failure left it open
		srv.Close()
	})

	// Live updates: the header's frame number moves while the page is open.
	opened := page.do(t, "open", "url", srv.URL+"/")
	require.Greater(t, opened.Then, opened.First, "the header's frame number moves")

	// The assets table, row by row, against the manager.
	want := map[assets.ID]browserRow{}
	for _, a := range st.m.Assets() {
		b := assets.BaseOf(a)
		want[b.ID()] = browserRow{ID: b.ID(), Kind: b.Kind(), Name: b.Name(), State: b.State().String(), Count: b.RefCount()}
	}
	cached := st.m.Stats().Cached
	require.Len(t, want, cached)
	table := page.do(t, "table")
	got := map[assets.ID]browserRow{}
	for _, r := range table.Rows {
		got[r.ID] = browserRow{ID: r.ID, Kind: r.Kind, Name: r.Name, State: r.State, Count: r.Count}
	}
	require.Len(t, table.Rows, cached, "one row per cached asset")
	require.Equal(t, want, got, "each row's id, kind, name, state and count")
	require.Equal(t, fmt.Sprintf("%d of %d", cached, cached), table.Count)
	require.True(t, strings.HasPrefix(table.Header, fmt.Sprint(cached)), "the header counts %d assets: %q", cached, table.Header)
	page.screenshot(t, "assets.png", "")

	// An asset's detail: why it is alive, and its graph, which names what
	// it depends on.
	heroID := assets.BaseOf(hero).ID()
	d := page.do(t, "detail", "id", heroID)
	require.Contains(t, d.Title, fmt.Sprintf("#%d", heroID))
	require.Equal(t, []assets.ID{heroID}, d.Selected, "the clicked row is selected")
	require.NotEmpty(t, strings.TrimSpace(d.Why))
	require.Contains(t, d.Why, firstLine(st.fin.Why(hero)), "the page's Why is the finalizer's")
	require.Positive(t, d.SVG.Nodes, "the graph is drawn")
	for _, dep := range assets.BaseOf(hero).Deps() {
		require.Contains(t, d.SVG.Text, assets.BaseOf(dep).Name(), "the graph shows the sprite's dependency %v", dep)
	}
	page.screenshot(t, "detail.png", "inspector-detail.png")

	// A release while a frame that used the asset is in flight: star goes
	// by force, and its texture and image with it, in a frame that waits
	// for a semaphore only the test signals, so their GPU objects wait for
	// that frame's serial.
	var starIDs []assets.ID
	starBytes := uint64(0)
	for _, a := range withDeps(star) {
		starIDs = append(starIDs, assets.BaseOf(a).ID())
		starBytes += assets.Bytes(a)
	}
	require.Positive(t, starBytes)
	// A snapshot before the release, taken in the page's Snapshots tab.
	page.do(t, "click", "selector", `nav button[data-tab="snapshots"]`)
	page.do(t, "click", "selector", "#snap-take")
	page.do(t, "text", "selector", "#snap-list", "match", "#1")
	page.do(t, "click", "selector", `nav button[data-tab="assets"]`)
	held := loop.holdFrame(t, func(*framesync.Frame) {
		require.NoError(t, st.fin.ForceRelease(star))
		st.fin.Collect() // its texture and image, left with no holder
	})
	page.do(t, "text", "selector", "#pending", "match", `^[1-9]`)
	// The frames stand still now (the loop waits for the held one): the
	// page refreshes its table after the release's event by itself, within
	// a second (a trailing refresh; without it the table kept star's rows).
	page.do(t, "text", "selector", "#count", "match", fmt.Sprintf("^%d of", cached-len(starIDs)))
	for _, r := range page.do(t, "table").Rows {
		require.NotContains(t, starIDs, r.ID, "a released asset left the table")
	}
	var retire inspector.Retire
	require.NoError(t, json.Unmarshal(page.do(t, "fetch", "path", "api/retire").JSON, &retire))
	require.Less(t, retire.Completed, uint64(held.serial), "the held frame has not completed")
	require.GreaterOrEqual(t, retire.PendingBytes, starBytes, "star's memory waits for the GPU")
	i := slices.IndexFunc(retire.BySerial, func(b inspector.SerialBucket) bool { return b.Serial == uint64(held.serial) })
	require.GreaterOrEqual(t, i, 0, "the held frame's serial %d has a bucket: %+v", held.serial, retire.BySerial)
	require.GreaterOrEqual(t, retire.BySerial[i].Bytes, starBytes, "star's memory waits for the held frame's serial")
	page.do(t, "click", "selector", `nav button[data-tab="retire"]`)
	page.do(t, "text", "selector", "#retire-body", "match", "pending by serial")
	page.screenshot(t, "retire.png", "inspector-retire.png")

	// A snapshot after it, the frame still held: the page's diff lists star
	// as freed and its memory as still waiting for the GPU.
	page.do(t, "click", "selector", `nav button[data-tab="snapshots"]`)
	page.do(t, "click", "selector", "#snap-take")
	page.do(t, "text", "selector", "#diff-waiting", "match", `^still waiting for the GPU: [1-9]`)
	page.do(t, "text", "selector", "#diff-freed", "match", fmt.Sprintf(`^freed from the cache: %d,`, len(starIDs)))
	var diff inspector.DiffResult
	require.NoError(t, json.Unmarshal(page.do(t, "fetch", "path", "api/diff?before=1&after=2").JSON, &diff))
	for _, e := range diff.Freed {
		require.Contains(t, starIDs, e.ID, "only star and what it held were freed")
	}
	require.NotEmpty(t, diff.StillWaiting)
	for _, e := range diff.StillWaiting {
		require.Contains(t, starIDs, e.ID)
		require.Equal(t, uint64(held.serial), uint64(e.Serial), "it waits for the held frame")
	}
	require.Equal(t, starBytes, diff.StillWaitingBytes, "all of star's bytes wait for the GPU")
	page.screenshot(t, "diff.png", "inspector-diff.png")

	// The GPU finishes the frame: what waited for it is freed.
	held.release(t)
	page.do(t, "text", "selector", "#pending", "match", `^0 B \(0\)$`)
	page.do(t, "close")
}

// firstLine is s up to its first newline.
func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// withDeps lists a and what it depends on, transitively.
func withDeps(a assets.Asset) []assets.Asset {
	list := []assets.Asset{a}
	for i := 0; i < len(list); i++ {
		for _, d := range assets.BaseOf(list[i]).Deps() {
			if !slices.Contains(list, d) {
				list = append(list, d)
			}
		}
	}
	return list
}

// browserStack is the module's stack over a validated device.
type browserStack struct {
	dev *vk.Device
	a   *alloc.Allocator
	s   *framesync.Sync
	m   *assets.Manager
	b   *assets.Bundle
	fin *finalizer.Finalizer
	// gate is a timeline semaphore that only the test signals, for a frame
	// the GPU cannot finish meanwhile (browserLoop.holdFrame).
	gate     vk.Semaphore
	openGate func(t *testing.T)
}

func openBrowserStack(t *testing.T) *browserStack {
	t.Helper()
	d := vktest.Open(t)
	gate, err := d.CreateTimelineSemaphore(0)
	require.NoError(t, err)
	t.Cleanup(func() { d.DestroySemaphore(gate) }) // after the stack closes: nothing waits for it
	var once sync.Once
	openGate := func(t *testing.T) { once.Do(func() { require.NoError(t, d.SignalSemaphore(gate, 1)) }) }
	a, err := alloc.New(alloc.Options{Device: d})
	require.NoError(t, err)
	s, err := framesync.New(framesync.Options{Device: d, Allocator: a, FramesInFlight: 2})
	require.NoError(t, err)
	m, err := assets.New(assets.Options{Device: d, Allocator: a, Sync: s})
	require.NoError(t, err)
	b, err := m.AddBundle("content", os.DirFS("../assets/testdata/content"))
	require.NoError(t, err)
	t.Cleanup(func() {
		openGate(t) // a frame that waits for it would keep the Sync from closing
		require.NoError(t, m.Close())
		require.NoError(t, s.Close())
		require.NoError(t, a.Close(), "shutdown: nothing alive")
	})
	return &browserStack{dev: d, a: a, s: s, m: m, b: b, fin: finalizer.New(m), gate: gate, openGate: openGate}
}

func (st *browserStack) acquire(t *testing.T, ctx context.Context, p string) assets.Asset {
	t.Helper()
	a, err := st.b.Acquire(ctx, p)
	require.NoError(t, err)
	return a
}

// browserLoop renders empty frames that use its assets, on a goroutine,
// until the test ends.
type browserLoop struct {
	st   *browserStack
	use  []assets.Asset
	hold chan *heldFrame // a frame to hold in flight
}

// heldFrame is a frame the GPU cannot finish until the test says: it
// waits for the stack's gate, which only release signals.
type heldFrame struct {
	during  func(*framesync.Frame)
	gate    vk.Semaphore
	serial  framesync.Serial
	in      chan struct{} // closed once the frame is submitted
	release func(t *testing.T)
}

func (st *browserStack) render(t *testing.T, use ...assets.Asset) *browserLoop {
	l := &browserLoop{st: st, use: use, hold: make(chan *heldFrame)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("render loop: %v", err)
		}
	})
	return l
}

func (l *browserLoop) run(ctx context.Context) error {
	s, fin := l.st.s, l.st.fin
	tick := time.NewTicker(15 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		f, err := s.BeginFrame(ctx)
		if err != nil {
			return err
		}
		l.use = slices.DeleteFunc(l.use, func(a assets.Asset) bool {
			return errors.Is(assets.Use(f.Serial(), a), assets.ErrReleased)
		})
		var waits []vk.SemaphoreSubmit
		var held *heldFrame
		select {
		case held = <-l.hold:
			held.during(f)
			held.serial = f.Serial()
			waits = []vk.SemaphoreSubmit{{Semaphore: held.gate, Value: 1, Stage: vk.StageAllCommands}}
		default:
		}
		if err := s.EndFrameWith(f, waits, nil); err != nil {
			return err
		}
		if held != nil {
			close(held.in)
		}
		fin.Collect()
	}
}

// holdFrame has the loop's next frame call during, and submits it to wait
// for the returned frame's release.
func (l *browserLoop) holdFrame(t *testing.T, during func(*framesync.Frame)) *heldFrame {
	t.Helper()
	h := &heldFrame{during: during, gate: l.st.gate, in: make(chan struct{}), release: l.st.openGate}
	t.Cleanup(func() { h.release(t) }) // before the loop stops: its BeginFrame may wait for this frame
	select {
	case l.hold <- h:
	case <-time.After(5 * time.Second):
		t.Fatal("the render loop took no frame to hold")
	}
	<-h.in
	return h
}

// browserRow is what the test compares of a table row.
type browserRow struct {
	ID    assets.ID
	Kind  string
	Name  string
	State string
	Count int
}

// browserPage is browser/inspect.js, running: one JSON command a line in,
// one JSON answer a line out.
type browserPage struct {
	in     io.WriteCloser
	out    *bufio.Scanner
	stderr *bytes.Buffer
	shots  string // where screenshots go
	keep   string // where the ones worth keeping are copied; "" for nowhere
}

// browserAnswer is every field an answer of inspect.js may carry.
type browserAnswer struct {
	OK       bool     `json:"ok"`
	Error    string   `json:"error"`
	Problems []string `json:"problems"`
	Version  string   `json:"version"`
	// open
	First, Then uint64
	// table
	Count  string `json:"count"`
	Header string `json:"header"`
	Rows   []struct {
		ID        assets.ID `json:"id"`
		Kind      string    `json:"kind"`
		Name      string    `json:"name"`
		State     string    `json:"state"`
		Count     int       `json:"count"`
		Residency string    `json:"residency"`
	} `json:"rows"`
	// detail
	Title    string      `json:"title"`
	Why      string      `json:"why"`
	Selected []assets.ID `json:"selected"`
	SVG      struct {
		Nodes int    `json:"nodes"`
		Text  string `json:"text"`
	} `json:"svg"`
	// text
	Text string `json:"text"`
	// fetch
	JSON json.RawMessage `json:"json"`
	// screenshot
	File string `json:"file"`
}

const browserTimeout = 40 * time.Second

// startBrowser starts inspect.js and its chromium, or fails the test
// saying what `make deps` would have installed.
func startBrowser(t *testing.T) *browserPage {
	t.Helper()
	chromium := os.Getenv("CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("no chromium (%v): `make deps` installs Debian's chromium package", err)
	}
	if _, err := os.Stat("browser/node_modules/playwright-core/package.json"); err != nil {
		t.Fatalf("no playwright-core (%v): `make deps` runs npm ci in inspector/browser", err)
	}
	node, err := exec.LookPath("node")
	require.NoError(t, err, "the browser test needs Node.js")

	p := &browserPage{shots: t.TempDir(), stderr: &bytes.Buffer{}}
	if dir := os.Getenv("INSPECTOR_SCREENSHOTS"); dir != "" {
		p.keep = dir
		if !filepath.IsAbs(dir) {
			p.keep = filepath.Join("..", dir) // the test runs in inspector/
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), browserTimeout)
	cmd := exec.CommandContext(ctx, node, "browser/inspect.js", p.shots)
	cmd.Env = append(os.Environ(), "CHROMIUM="+chromium)
	cmd.Stderr = p.stderr
	cmd.WaitDelay = 5 * time.Second
	p.in, err = cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	p.out = bufio.NewScanner(stdout)
	p.out.Buffer(nil, 16<<20)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		p.in.Close() // inspect.js closes the browser when its input ends
		if err := cmd.Wait(); err != nil {
			t.Errorf("inspect.js: %v\n%s", err, p.stderr)
		}
		cancel()
	})
	hello := p.read(t)
	t.Logf("chromium %s, screenshots in %s", hello.Version, p.shots)
	return p
}

// do sends a command (op and key, value pairs) and returns its answer,
// failing the test on an error or a problem the page reported.
func (p *browserPage) do(t *testing.T, op string, kv ...any) browserAnswer {
	t.Helper()
	cmd := map[string]any{"op": op}
	for i := 0; i+1 < len(kv); i += 2 {
		cmd[kv[i].(string)] = kv[i+1]
	}
	line, err := json.Marshal(cmd)
	require.NoError(t, err)
	_, err = p.in.Write(append(line, '\n'))
	require.NoError(t, err, "inspect.js: %s", p.stderr)
	return p.read(t)
}

func (p *browserPage) read(t *testing.T) browserAnswer {
	t.Helper()
	if !p.out.Scan() {
		t.Fatalf("inspect.js answered nothing (%v); its stderr:\n%s", p.out.Err(), p.stderr)
	}
	var a browserAnswer
	require.NoError(t, json.Unmarshal(p.out.Bytes(), &a), "inspect.js: %s", p.out.Bytes())
	require.True(t, a.OK, "inspect.js: %s", a.Error)
	require.Empty(t, a.Problems, "the page reported problems")
	return a
}

// screenshot saves the page as name, and copies it to keep as
// keepAs where INSPECTOR_SCREENSHOTS says so.
func (p *browserPage) screenshot(t *testing.T, name, keepAs string) {
	t.Helper()
	a := p.do(t, "screenshot", "name", name)
	if p.keep == "" || keepAs == "" {
		return
	}
	data, err := os.ReadFile(a.File)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(p.keep, keepAs), data, 0o644))
}
