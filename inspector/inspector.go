package inspector

import (
	"embed"
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/vkassets/vkassets/alloc"
	"github.com/vkassets/vkassets/assets"
	"github.com/vkassets/vkassets/finalizer"
	"github.com/vkassets/vkassets/framesync"
)

// Options say what a Handler reads. Manager is required; the others widen
// what it shows.
type Options struct {
	Manager *assets.Manager
	// Finalizer, when set, answers Why, residency and scene switches.
	Finalizer *finalizer.Finalizer
	// Sync is the retirement queue; nil: Manager.Sync().
	Sync *framesync.Sync
	// Allocator is the device memory; nil: Manager.Allocator().
	Allocator *alloc.Allocator
	// Authorize, when set, is asked before every request is served; an
	// error refuses it with 403 Forbidden and the error's text. nil
	// allows every request (mount the handler on a loopback address).
	Authorize func(*http.Request) error
	// Frame is the application's frame number; nil: the frames Sync
	// began.
	Frame func() uint64
	// History is how many chart samples are kept; 0 means 1024.
	History int
	// SampleEvery is the chart's sampling period while a client is
	// connected; 0 means 50 ms.
	SampleEvery time.Duration
	// Idle is how long after the last request the sampler keeps going;
	// 0 means 5 s.
	Idle time.Duration
}

// Handler serves the inspector's page and its JSON endpoints. It is an
// http.Handler that reads the objects Options names and changes nothing.
type Handler struct {
	opts  Options
	mux   *http.ServeMux
	chart *history
	snaps snapshotStore // taken through the page
}

//go:embed web
var web embed.FS

// New makes a Handler. It registers nothing anywhere and starts nothing:
// the chart's sampler runs only while clients ask (see the package doc).
func New(opts Options) *Handler {
	if opts.Sync == nil && opts.Manager != nil {
		opts.Sync = opts.Manager.Sync()
	}
	if opts.Allocator == nil && opts.Manager != nil {
		opts.Allocator = opts.Manager.Allocator()
	}
	if opts.History <= 0 {
		opts.History = 1024
	}
	if opts.SampleEvery <= 0 {
		opts.SampleEvery = 50 * time.Millisecond
	}
	if opts.Idle <= 0 {
		opts.Idle = 5 * time.Second
	}
	h := &Handler{opts: opts, mux: http.NewServeMux()}
	h.chart = newHistory(opts.History, opts.SampleEvery, opts.Idle, h.sample)
	static, _ := fs.Sub(web, "web")
	files := http.FileServerFS(static)
	h.mux.Handle("GET /{$}", files)
	h.mux.Handle("GET /app.js", files)
	h.mux.Handle("GET /style.css", files)
	h.api("/api/state", h.serveState)
	h.api("/api/assets", h.serveAssets)
	h.api("/api/assets/{id}", h.serveAsset)
	h.api("/api/assets/{id}/why", h.serveWhy)
	h.api("/api/graph/{id}", h.serveGraph)
	h.mux.HandleFunc("GET /graph/{id}", h.serveGraphSVG)
	h.api("/api/memory", h.serveMemory)
	h.mux.HandleFunc("GET /api/memory/vma.json", h.serveVMA)
	h.api("/api/retire", h.serveRetire)
	h.api("/api/chart", h.serveChart)
	h.api("/api/leaks", h.serveLeaks)
	h.mux.HandleFunc("GET /api/events", h.serveEvents)
	h.api("/api/snapshots", h.serveSnapshots)
	h.api("/api/snapshots/take", h.serveTake)
	h.mux.HandleFunc("GET /api/snapshots/{id}", h.serveSnapshotJSON)
	h.api("/api/diff", h.serveDiff)
	h.mux.HandleFunc("GET /api/profile", serveProfile)
	return h
}

// ServeHTTP serves a request: the page at "/", the JSON under "/api/".
// Mounted under a prefix, strip it (http.StripPrefix): the page's links
// are relative.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "the inspector only reads", http.StatusMethodNotAllowed)
		return
	}
	if h.opts.Authorize != nil {
		if err := h.opts.Authorize(r); err != nil {
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		}
	}
	if h.opts.Manager == nil {
		http.Error(w, "inspector: no manager", http.StatusServiceUnavailable)
		return
	}
	h.chart.touch()
	w.Header().Set("Cache-Control", "no-store")
	h.mux.ServeHTTP(w, r)
}

// api registers a JSON endpoint.
func (h *Handler) api(pattern string, f func(r *http.Request) (any, error)) {
	h.mux.HandleFunc("GET "+pattern, func(w http.ResponseWriter, r *http.Request) {
		v, err := f(r)
		if err != nil {
			status := http.StatusInternalServerError
			if errors.Is(err, errNotFound) {
				status = http.StatusNotFound
			} else if errors.Is(err, errBadRequest) {
				status = http.StatusBadRequest
			}
			http.Error(w, err.Error(), status)
			return
		}
		writeJSON(w, v)
	})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", " ")
	_ = enc.Encode(v)
}

var (
	errNotFound   = errors.New("not found")
	errBadRequest = errors.New("bad request")
)

// frame is the frame number the page shows.
func (h *Handler) frame() uint64 {
	if h.opts.Frame != nil {
		return h.opts.Frame()
	}
	if h.opts.Sync != nil {
		return h.opts.Sync.Stats().Frames
	}
	return 0
}

// assetOf looks up the {id} of a request among the cached assets.
func (h *Handler) assetOf(r *http.Request) (assets.Asset, error) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err != nil {
		return nil, errors.Join(errBadRequest, err)
	}
	a, ok := h.opts.Manager.Get(assets.ID(id))
	if !ok {
		return nil, errors.Join(errNotFound, errors.New("no cached asset #"+r.PathValue("id")))
	}
	return a, nil
}

// history is the live chart's ring of samples. It is filled by a sampler
// goroutine that runs only while requests come (touch), and stops after
// Options.Idle without one: with no client, no goroutine, no work.
type history struct {
	take func(prev *Sample) (Sample, bool)
	mu   sync.Mutex // protects the fields below
	ring []Sample
	next int  // where the next sample goes
	full bool // the ring has wrapped
	last time.Time
	run  bool // the sampler goroutine is running
	idle time.Duration
	tick time.Duration
	subs int // SSE clients connected
}

func newHistory(n int, tick, idle time.Duration, take func(prev *Sample) (Sample, bool)) *history {
	return &history{take: take, ring: make([]Sample, n), tick: tick, idle: idle}
}

// touch notes a request and starts the sampler if it is not running.
func (c *history) touch() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.last = time.Now()
	if !c.run {
		c.run = true
		go c.sampler()
	}
}

// subscribe keeps the sampler running while an SSE client is connected.
func (c *history) subscribe(on bool) {
	c.mu.Lock()
	if on {
		c.subs++
	} else {
		c.subs--
	}
	c.last = time.Now()
	c.mu.Unlock()
}

func (c *history) sampler() {
	t := time.NewTicker(c.tick)
	defer t.Stop()
	for {
		c.sampleOnce()
		<-t.C
		c.mu.Lock()
		if c.subs == 0 && time.Since(c.last) > c.idle {
			c.run = false
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
	}
}

// sampleOnce takes a sample unless the frame has not moved since the last.
func (c *history) sampleOnce() {
	c.mu.Lock()
	var prev *Sample
	if c.next > 0 || c.full {
		p := c.ring[(c.next+len(c.ring)-1)%len(c.ring)]
		prev = &p
	}
	c.mu.Unlock()
	s, ok := c.take(prev)
	if !ok {
		return
	}
	c.mu.Lock()
	c.ring[c.next] = s
	c.next = (c.next + 1) % len(c.ring)
	c.full = c.full || c.next == 0
	c.mu.Unlock()
}

// samples lists the ring oldest first.
func (c *history) samples() []Sample {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.full {
		return append([]Sample(nil), c.ring[:c.next]...)
	}
	return append(append([]Sample(nil), c.ring[c.next:]...), c.ring[:c.next]...)
}

// running reports whether the sampler goroutine is alive (for tests).
func (c *history) running() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.run
}
