package inspector

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/vkassets/vkassets/vk/vktest"
)

// BenchmarkJSON100k: the size and time of the assets table's JSON (whole,
// and the first 2,000 rows the page asks for) and of a snapshot's with
// 100,000 cached assets (run-time nodes, each depending on
// the one before, so holders and dependencies are filled).
//
//	go test -run '^$' -bench JSON100k -benchtime 3x ./inspector
func BenchmarkJSON100k(b *testing.B) {
	e := open(b, vktest.Options{})
	var prev *node
	nodes := make([]*node, 0, 100_000)
	for range 100_000 {
		n := &node{}
		var err error
		if prev != nil {
			err = e.m.Register(n, "node", "n", prev)
		} else {
			err = e.m.Register(n, "node", "n")
		}
		if err != nil {
			b.Fatal(err)
		}
		nodes, prev = append(nodes, n), n
	}
	b.Cleanup(func() {
		for i := len(nodes) - 1; i >= 0; i-- {
			_ = e.m.DecRef(nodes[i])
		}
		e.fin.ReleaseUnused()
	})
	srv := httptest.NewServer(New(Options{Manager: e.m, Finalizer: e.fin}))
	defer srv.Close()
	var assetsBytes, pageBytes, snapBytes int64
	get := func(path string) int64 {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			b.Fatal(err)
		}
		defer resp.Body.Close()
		n, _ := io.Copy(io.Discard, resp.Body)
		return n
	}
	for b.Loop() {
		assetsBytes = get("/api/assets")
		pageBytes = get("/api/assets?limit=2000") // what the page asks for
		s := Take(e.m, e.a, e.s)
		cw := &countWriter{}
		if err := s.WriteJSON(cw); err != nil {
			b.Fatal(err)
		}
		snapBytes = cw.n
	}
	b.ReportMetric(float64(assetsBytes), "assets-json-bytes")
	b.ReportMetric(float64(pageBytes), "page-json-bytes")
	b.ReportMetric(float64(snapBytes), "snapshot-json-bytes")
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }
