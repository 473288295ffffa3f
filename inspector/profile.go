package inspector

import (
	"net/http"
	"strconv"

	"github.com/vkassets/vkassets/alloc"
)

// serveProfile writes the process's profile of live GPU allocations
// (alloc.Profile, filled by the allocators given it with SetProfile), in
// pprof's format: `go tool pprof http://ADDR/api/profile` shows the code
// that made what is alive; ?debug=1 is the text form.
func serveProfile(w http.ResponseWriter, r *http.Request) {
	debug, _ := strconv.Atoi(r.URL.Query().Get("debug"))
	if debug > 0 {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	} else {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Disposition", `attachment; filename="vkassets-gpu.pb.gz"`)
	}
	_ = alloc.Profile().WriteTo(w, debug)
}
