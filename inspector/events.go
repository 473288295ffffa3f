package inspector

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// serveEvents streams server-sent events: a "state" event (State as JSON,
// with the frame number) whenever the state has changed, checked every
// ?every= milliseconds (default 250, at least 50), while the client stays. The chart's sampler runs as long as
// one is connected.
func (h *Handler) serveEvents(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	every := 250 * time.Millisecond
	if s := r.FormValue("every"); s != "" {
		var ms int
		if _, err := fmt.Sscan(s, &ms); err != nil || ms < 50 {
			http.Error(w, "every: milliseconds, at least 50", http.StatusBadRequest)
			return
		}
		every = time.Duration(ms) * time.Millisecond
	}
	h.chart.subscribe(true)
	defer h.chart.subscribe(false)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	t := time.NewTicker(every)
	defer t.Stop()
	var last State
	for first := true; ; first = false {
		// Only what changed is sent: an idle application costs the client
		// nothing, and a release or a retirement without a new frame (an
		// idle app polling) still shows.
		st := h.state()
		if first || st != last {
			last = st
			data, _ := json.Marshal(st)
			if _, err := fmt.Fprintf(w, "event: state\nid: %d\ndata: %s\n\n", st.Frame, data); err != nil {
				return
			}
			fl.Flush()
		}
		select {
		case <-r.Context().Done():
			return
		case <-t.C:
		}
	}
}
