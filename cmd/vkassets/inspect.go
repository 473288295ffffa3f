package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/vkassets/vkassets/alloc"
	"github.com/vkassets/vkassets/inspector"
)

// inspectServer serves the inspector (--inspect ADDR) over the stack a
// command runs now: the demo sets it once, stress once per round. Between
// rounds it answers 503. A nil *inspectServer does nothing, so the commands
// call it without asking whether --inspect was given.
type inspectServer struct {
	srv *http.Server
	cur atomic.Pointer[inspector.Handler]
}

// startInspect listens on addr and prints the page's URL to w.
func startInspect(addr string, w io.Writer) (*inspectServer, error) {
	if addr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--inspect: %w", err)
	}
	s := &inspectServer{}
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 5 * time.Second}
	go s.srv.Serve(ln)
	fmt.Fprintf(w, "inspector: http://%s/\n", ln.Addr())
	return s, nil
}

func (s *inspectServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := s.cur.Load()
	if h == nil {
		http.Error(w, "vkassets: between rounds, nothing to inspect", http.StatusServiceUnavailable)
		return
	}
	h.ServeHTTP(w, r)
}

// set points the server at a handler (nil: nothing to inspect).
func (s *inspectServer) set(opts *inspector.Options) {
	if s == nil {
		return
	}
	if opts == nil {
		s.cur.Store(nil)
		return
	}
	// Live GPU allocations go to the process's pprof profile from now on,
	// with their stacks: /api/profile (go tool pprof) finds what made them.
	a := opts.Allocator
	if a == nil && opts.Manager != nil {
		a = opts.Manager.Allocator()
	}
	if a != nil {
		a.SetProfile(alloc.Profile())
	}
	s.cur.Store(inspector.New(*opts))
}

// close closes the listener and every connection (event streams too).
func (s *inspectServer) close() {
	if s != nil {
		_ = s.srv.Close()
	}
}
